"""Read a probe record back into Python values, defensively.

Records come from the student's kernel and may have been forged or damaged, so decoding validates
everything (types, dtypes, shapes against byte counts, nesting) and never executes or unpickles anything.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import torch

_DTYPES = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
    "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64,
    "complex128": torch.complex128,
}
MAX_ELEMENTS = 2_000_000


class BadRecord(ValueError):
    """The record is not something the probe could have written."""


@dataclass
class TensorValue:
    """A tensor as the student's code left it: values plus the autograd facts about it."""

    tensor: torch.Tensor | None          # None when it could not be copied (too large, odd layout)
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    type_name: str = "torch.Tensor"
    device: str = "cpu"
    unreadable: str | None = None
    grad: TensorValue | None = None
    has_grad_field: bool = False          # whether .grad was recorded at all (inputs only)
    grad_id: int | None = None


@dataclass
class OtherValue:
    kind: str            # none, bool, int, float, str, callable, object
    value: Any = None
    type_name: str = ""


@dataclass
class Sequence:
    kind: str            # tuple, list or dict
    items: list
    length: int


@dataclass
class ErrorValue:
    type: str
    message: str
    module: str = "builtins"
    frames: list[dict] = field(default_factory=list)


@dataclass
class Call:
    value: Any = None
    error: ErrorValue | None = None
    reverse_passes: int = 0
    autograd_names: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Observation:
    scenario: str
    function: str
    status: str
    inputs_before: dict[str, Any]
    inputs_after: dict[str, Any]
    calls: dict[str, Call]
    observed: dict[str, Any]
    probe_error: ErrorValue | None = None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRecord(message)


def _float(value: Any) -> float:
    if isinstance(value, str):
        _require(value in ("nan", "inf", "-inf"), "bad float")
        return float(value)
    _require(isinstance(value, (int, float)) and not isinstance(value, bool), "bad float")
    return float(value)


def decode_tensor(info: dict, depth: int = 0) -> TensorValue:
    shape = info.get("shape")
    _require(isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape), "bad shape")
    _require(len(shape) <= 8, "too many dimensions")
    numel = 1
    for s in shape:
        numel *= s
    dtype_name = info.get("dtype")
    _require(isinstance(dtype_name, str), "bad dtype")
    tensor = None
    unreadable = info.get("unreadable")
    if unreadable is None:
        dtype = _DTYPES.get(dtype_name)
        _require(dtype is not None, f"unknown dtype {dtype_name!r}")
        _require(numel <= MAX_ELEMENTS, "tensor too large")
        try:
            raw = base64.b64decode(info.get("b64", ""), validate=True)
        except (binascii.Error, TypeError) as exc:
            raise BadRecord("tensor bytes are not base64") from exc
        itemsize = torch.empty((), dtype=dtype).element_size()
        _require(len(raw) == numel * itemsize, "tensor bytes do not match its shape")
        if numel == 0:
            tensor = torch.empty(shape, dtype=dtype)
        elif dtype == torch.bfloat16:
            tensor = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).reshape(shape)
        else:
            tensor = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    value = TensorValue(
        tensor=tensor,
        shape=tuple(shape),
        dtype=dtype_name,
        requires_grad=bool(info.get("requires_grad")),
        is_leaf=bool(info.get("is_leaf", True)),
        grad_fn=info.get("grad_fn") if isinstance(info.get("grad_fn"), str) else None,
        type_name=str(info.get("type", "torch.Tensor"))[:200],
        device=str(info.get("device", "cpu"))[:50],
        unreadable=str(unreadable)[:300] if unreadable is not None else None,
    )
    if "grad" in info:
        value.has_grad_field = True
        grad = info["grad"]
        if grad is not None:
            _require(isinstance(grad, dict) and grad.get("t") == "tensor" and depth < 2, "bad grad")
            value.grad = decode_tensor(grad, depth + 1)
        grad_id = info.get("grad_id")
        value.grad_id = grad_id if isinstance(grad_id, int) else None
    return value


def decode_value(info: Any, depth: int = 0) -> Any:
    _require(isinstance(info, dict), "a value must be an object")
    _require(depth <= 8, "nested too deeply")
    kind = info.get("t")
    if kind == "tensor":
        return decode_tensor(info)
    if kind == "ndarray":
        inner = decode_value(info.get("of"), depth + 1)
        _require(isinstance(inner, TensorValue), "bad ndarray")
        inner.type_name = "numpy.ndarray"
        return inner
    if kind in ("tuple", "list"):
        items = info.get("items")
        _require(isinstance(items, list) and len(items) <= 1000, "bad items")
        length = info.get("length", len(items))
        return Sequence(kind, [decode_value(v, depth + 1) for v in items], int(length))
    if kind == "dict":
        items = info.get("items")
        _require(isinstance(items, list) and len(items) <= 1000, "bad items")
        pairs = []
        for pair in items:
            _require(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str), "bad pair")
            pairs.append((pair[0], decode_value(pair[1], depth + 1)))
        return Sequence("dict", pairs, int(info.get("length", len(pairs))))
    if kind == "none":
        return OtherValue("none", None, "NoneType")
    if kind == "bool":
        _require(isinstance(info.get("v"), bool), "bad bool")
        return OtherValue("bool", info["v"], "bool")
    if kind == "int":
        _require(isinstance(info.get("v"), int) and not isinstance(info.get("v"), bool), "bad int")
        return OtherValue("int", info["v"], "int")
    if kind == "float":
        return OtherValue("float", _float(info.get("v")), "float")
    if kind == "str":
        _require(isinstance(info.get("v"), str), "bad str")
        return OtherValue("str", info["v"][:5000], "str")
    if kind == "callable":
        return OtherValue("callable", str(info.get("name", ""))[:200], "function")
    if kind == "object":
        return OtherValue("object", str(info.get("repr", ""))[:300], str(info.get("type", "object"))[:200])
    raise BadRecord(f"unknown value kind {kind!r}")


def decode_error(info: Any) -> ErrorValue:
    _require(isinstance(info, dict) and info.get("t") == "error", "bad error")
    frames = info.get("frames") or []
    _require(isinstance(frames, list), "bad frames")
    clean = []
    for frame in frames[:5]:
        if isinstance(frame, dict):
            clean.append({"line": frame.get("line") if isinstance(frame.get("line"), int) else None,
                          "function": str(frame.get("function", ""))[:100],
                          "code": str(frame.get("code", ""))[:200]})
    return ErrorValue(type=str(info.get("type", "Exception"))[:100], message=str(info.get("message", ""))[:4000],
                      module=str(info.get("module", ""))[:100], frames=clean)


def decode_call(info: Any) -> Call:
    _require(isinstance(info, dict), "bad call")
    call = Call()
    if "error" in info:
        call.error = decode_error(info["error"])
    else:
        _require("value" in info, "a call has neither a value nor an error")
        call.value = decode_value(info["value"])
    autograd = info.get("autograd") or {}
    if isinstance(autograd, dict):
        call.reverse_passes = int(autograd.get("reverse", 0)) if isinstance(autograd.get("reverse"), int) else 0
        names = autograd.get("names")
        call.autograd_names = {str(k)[:50]: v for k, v in names.items() if isinstance(v, int)} if isinstance(
            names, dict) else {}
    printed = info.get("printed") or {}
    if isinstance(printed, dict):
        call.stdout = str(printed.get("stdout", ""))[:2000]
        call.stderr = str(printed.get("stderr", ""))[:2000]
        warnings = printed.get("warnings") or []
        call.warnings = [str(w)[:300] for w in warnings[:5]] if isinstance(warnings, list) else []
    seconds = info.get("seconds", 0.0)
    call.seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return call


def decode_record(record: Any) -> Observation:
    _require(isinstance(record, dict), "a record must be an object")
    _require(record.get("v") == 1, "unknown record version")
    scenario = record.get("scenario")
    _require(isinstance(scenario, str), "record without scenario id")

    def named(key: str, decode) -> dict:
        raw = record.get(key) or {}
        _require(isinstance(raw, dict) and len(raw) <= 100, f"bad {key}")
        return {str(k): decode(v) for k, v in raw.items()}

    return Observation(
        scenario=scenario,
        function=str(record.get("function", "")),
        status=str(record.get("status", "done")),
        inputs_before=named("inputs_before", decode_value),
        inputs_after=named("inputs_after", decode_value),
        calls=named("calls", decode_call),
        observed=named("observed", decode_value),
        probe_error=decode_error(record["probe_error"]) if record.get("probe_error") else None,
    )
