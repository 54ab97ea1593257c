"""Read a probe record back into Python values, defensively.

Records come from the student's kernel and may have been forged or damaged, so decoding validates
everything (types, dtypes, shapes against byte counts, nesting) and never executes or unpickles anything.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from autograder.probe import encode as probe_encode
from autograder.probe.contract import (
    AD_STATES,
    AUTOGRAD_KEYS,
    CALL_KEYS,
    CUT_KEYS,
    CUT_SYMPTOMS,
    CUT_VIA,
    CUT_WHERE,
    DTYPE_NAMES,
    ERROR_KEYS,
    EVALUATION_KEYS,
    FRAME_KEYS,
    MAX_CUTS,
    MAX_EVALUATION_KINDS,
    MAX_SWEEP_ORDER,
    METHOD_KEYS,
    PRINTED_KEYS,
    RECORD_KEYS,
    RECORD_VERSION,
    SAVED_KEYS,
    STATUSES,
    SWEEP_KEYS,
    TENSOR_KEYS,
    Status,
)

_DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}  # a record's dtype name -> torch dtype
# What the probe can write (``autograder.probe.encode``); anything beyond it is a forgery.
MAX_ELEMENTS = probe_encode.MAX_ELEMENTS      # elements of a copied tensor
MAX_ITEMS = probe_encode.MAX_ITEMS            # items kept of a tuple, list or dict
MAX_DEPTH = probe_encode.MAX_DEPTH + 2        # nesting of values
MAX_DIMS = 64                                 # torch's limit on dimensions
MAX_NUMEL = 2**62                             # elements of any tensor, copied or only described
MAX_STRING = 10_000                           # characters of any text field
MAX_ENTRIES = 100                             # inputs, calls or observations in one record
MAX_COUNT = 10**12                            # evaluations, passes, sweeps or directions in one call


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
class SequenceValue:
    kind: str            # tuple, list or dict
    items: list
    length: int


@dataclass
class ErrorValue:
    type: str
    message: str
    module: str = "builtins"
    frames: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """One kind of evaluation of a test function (``contract.EVALUATION_KEYS``)."""

    shape: tuple[int, ...]   # the logical shape of its (first) tensor argument
    samples: int             # samples a vmap pushed through it at once (1 without vmap)
    ad: str                  # contract.AD_STATES: "none", "reverse", "forward" or "both"
    count: int

    @property
    def differentiated(self) -> bool:
        return self.ad != "none"


@dataclass(frozen=True)
class Sweeps:
    """The sweeps of one order that reached a test function's argument."""

    directions: int          # cotangents (tangents) carried in all
    sweeps: int


@dataclass(frozen=True)
class MethodRecord:
    """What one call did with the test functions among its arguments (``call["method"]``)."""

    evaluations: tuple[Evaluation, ...] = ()
    more_evaluations: int = 0                                   # evaluations not itemised
    reverse: dict[int, Sweeps] = field(default_factory=dict)    # by order, 1 = through the function
    forward: dict[int, Sweeps] = field(default_factory=dict)    # by order, 0 = through the function
    legacy_batched: bool = False
    incomplete: bool = False                                    # the counts are not to be trusted


@dataclass(frozen=True)
class Cut:
    """A cut in the autograd graph that made a gradient go missing (``probe.graph_cuts``)."""

    via: str        # contract.CUT_VIA
    where: str      # contract.CUT_WHERE
    symptom: str    # contract.CUT_SYMPTOMS


@dataclass(frozen=True)
class SavedRecord:
    """The tensors autograd saved for backward while one call ran (``call["saved"]``, ``monitors.SavedTensors``)."""

    tensors: int     # packed in all
    bytes: int       # their bytes in all
    kept: int        # bytes still held when the call returned (by the graph of its result)
    peak: int        # the most bytes held at any moment of the call


@dataclass
class Call:
    value: Any = None
    error: ErrorValue | None = None
    reverse_passes: int = 0
    reverse_directions: int | None = None     # directions those passes carried (None: not known)
    autograd_names: dict = field(default_factory=dict)
    method: MethodRecord | None = None        # None: no test function of ours was evaluated
    cuts: tuple[Cut, ...] = ()                # graph cuts seen with the gradient they made go missing
    saved: SavedRecord | None = None          # None: the scenario did not measure saved tensors
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


def _text(value: Any, what: str, keep: int = MAX_STRING) -> str:
    """A text field: a string of bounded length (cut to ``keep`` characters for display)."""
    _require(isinstance(value, str) and len(value) <= MAX_STRING, f"bad {what}")
    return value[:keep]


def _optional_text(value: Any, what: str, keep: int = MAX_STRING) -> str | None:
    return None if value is None else _text(value, what, keep)


def _count(value: Any, what: str, top: int) -> int:
    """A whole number in [0, top] (JSON booleans are not numbers)."""
    _require(type(value) is int and 0 <= value <= top, f"bad {what}")
    return value


def _keys(info: dict, allowed: set[str], what: str) -> None:
    _require(len(info) <= len(allowed) and all(k in allowed for k in info), f"unexpected fields in {what}")


def _float(value: Any) -> float:
    if isinstance(value, str):
        _require(value in ("nan", "inf", "-inf"), "bad float")
        return float(value)
    _require(type(value) in (int, float), "bad float")
    try:
        number = float(value)
    except OverflowError:
        raise BadRecord("bad float") from None
    _require(math.isfinite(number), "bad float")  # the probe writes non-finite floats as text
    return number


def _shape(value: Any) -> tuple[tuple[int, ...], int]:
    _require(isinstance(value, list) and len(value) <= MAX_DIMS, "bad shape")
    numel = 1
    for size in value:
        numel *= _count(size, "shape", MAX_NUMEL)
        _require(numel <= MAX_NUMEL, "bad shape")
    return tuple(value), numel


def decode_tensor(info: dict, depth: int = 0) -> TensorValue:
    _require(isinstance(info, dict) and info.get("t") == "tensor", "bad tensor")
    _keys(info, TENSOR_KEYS, "a tensor")
    shape, numel = _shape(info.get("shape"))
    dtype_name = _text(info.get("dtype"), "dtype")
    _require(len(dtype_name) <= 40, "bad dtype")
    tensor = None
    unreadable = _optional_text(info.get("unreadable"), "tensor note", 300)
    if unreadable is None:
        dtype = _DTYPES.get(dtype_name)
        _require(dtype is not None, f"unknown dtype {dtype_name[:40]!r}")
        _require(numel <= MAX_ELEMENTS, "tensor too large")
        itemsize = torch.empty((), dtype=dtype).element_size()
        b64 = info.get("b64")
        _require(isinstance(b64, str) and len(b64) == 4 * -(-numel * itemsize // 3),
                 "tensor bytes do not match its shape")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRecord("tensor bytes are not base64") from exc
        _require(len(raw) == numel * itemsize, "tensor bytes do not match its shape")
        if numel == 0:
            tensor = torch.empty(shape, dtype=dtype)
        elif dtype == torch.bfloat16:
            tensor = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).reshape(shape)
        else:
            tensor = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    else:
        _require("b64" not in info, "a tensor both copied and not copied")
    for flag in ("requires_grad", "is_leaf"):
        _require(isinstance(info.get(flag, False), bool), f"bad {flag}")
    value = TensorValue(
        tensor=tensor,
        shape=shape,
        dtype=dtype_name,
        requires_grad=info.get("requires_grad", False),
        is_leaf=info.get("is_leaf", True),
        grad_fn=_optional_text(info.get("grad_fn"), "grad_fn", 200),
        type_name=_text(info.get("type", "torch.Tensor"), "type", 200),
        device=_text(info.get("device", "cpu"), "device", 50),
        unreadable=unreadable,
    )
    if "grad" in info:
        value.has_grad_field = True
        grad = info["grad"]
        if grad is not None:
            _require(isinstance(grad, dict) and depth < 1, "bad grad")
            value.grad = decode_tensor(grad, depth + 1)
        grad_id = info.get("grad_id")
        _require(grad_id is None or type(grad_id) is int, "bad grad_id")
        value.grad_id = grad_id
    else:
        _require("grad_id" not in info, "bad grad_id")
    return value


def _items(info: dict, depth: int) -> tuple[list, int]:
    items = info.get("items")
    _require(isinstance(items, list) and len(items) <= MAX_ITEMS, "bad items")
    length = info.get("length", len(items))
    _require(type(length) is int and len(items) <= length <= MAX_NUMEL, "bad length")
    _require(length == len(items) or len(items) == MAX_ITEMS, "the length does not match the items")
    return items, length


def decode_value(info: Any, depth: int = 0) -> Any:
    _require(isinstance(info, dict), "a value must be an object")
    _require(depth <= MAX_DEPTH, "nested too deeply")
    kind = info.get("t")
    if kind == "tensor":
        return decode_tensor(info)
    if kind == "ndarray":
        _keys(info, {"t", "of"}, "an array")
        inner = decode_value(info.get("of"), depth + 1)
        _require(isinstance(inner, TensorValue), "bad ndarray")
        inner.type_name = "numpy.ndarray"
        return inner
    if kind in ("tuple", "list"):
        _keys(info, {"t", "items", "length"}, f"a {kind}")
        items, length = _items(info, depth)
        return SequenceValue(kind, [decode_value(v, depth + 1) for v in items], length)
    if kind == "dict":
        _keys(info, {"t", "items", "length"}, "a dict")
        items, length = _items(info, depth)
        pairs = []
        for pair in items:
            _require(isinstance(pair, list) and len(pair) == 2, "bad pair")
            pairs.append((_text(pair[0], "key", 300), decode_value(pair[1], depth + 1)))
        return SequenceValue("dict", pairs, length)
    if kind == "none":
        _keys(info, {"t"}, "None")
        return OtherValue("none", None, "NoneType")
    _keys(info, {"t", "v", "name", "type", "repr"}, "a value")
    if kind == "bool":
        _require(isinstance(info.get("v"), bool), "bad bool")
        return OtherValue("bool", info["v"], "bool")
    if kind == "int":
        value = info.get("v")
        _require(type(value) is int and abs(value) < 2**53, "bad int")  # larger ints travel as floats
        return OtherValue("int", value, "int")
    if kind == "float":
        return OtherValue("float", _float(info.get("v")), "float")
    if kind == "str":
        return OtherValue("str", _text(info.get("v"), "str", 5000), "str")
    if kind == "callable":
        return OtherValue("callable", _text(info.get("name", ""), "name", 200), "function")
    if kind == "object":
        return OtherValue("object", _text(info.get("repr", ""), "repr", 300),
                          _text(info.get("type", "object"), "type", 200))
    raise BadRecord(f"unknown value kind {str(kind)[:40]!r}")


def decode_error(info: Any) -> ErrorValue:
    _require(isinstance(info, dict) and info.get("t") == "error", "bad error")
    _keys(info, ERROR_KEYS, "an error")
    frames = info.get("frames", [])
    _require(isinstance(frames, list) and len(frames) <= 10, "bad frames")
    clean = []
    for frame in frames:
        _require(isinstance(frame, dict), "bad frame")
        _keys(frame, FRAME_KEYS, "a frame")
        line = frame.get("line")
        _require(line is None or type(line) is int, "bad frame")
        clean.append({"line": line, "function": _text(frame.get("function", ""), "frame", 100),
                      "code": _text(frame.get("code", ""), "frame", 200)})
    return ErrorValue(type=_text(info.get("type", "Exception"), "error type", 100),
                      message=_text(info.get("message", ""), "error message", 4000),
                      module=_text(info.get("module", ""), "error module", 100), frames=clean[-5:])


def decode_call(info: Any) -> Call:
    _require(isinstance(info, dict), "bad call")
    _keys(info, CALL_KEYS, "a call")
    call = Call()
    _require(("error" in info) != ("value" in info), "a call needs either a value or an error")
    if "error" in info:
        call.error = decode_error(info["error"])
    else:
        call.value = decode_value(info["value"])
    autograd = info.get("autograd", {})
    _require(isinstance(autograd, dict), "bad autograd")
    _keys(autograd, AUTOGRAD_KEYS, "autograd")
    call.reverse_passes = _count(autograd.get("reverse", 0), "reverse passes", 10**9)
    if "directions" in autograd:
        call.reverse_directions = _count(autograd["directions"], "directions", MAX_COUNT)
    names = autograd.get("names", {})
    _require(isinstance(names, dict) and len(names) <= MAX_ENTRIES, "bad autograd names")
    call.autograd_names = {_text(k, "name", 50): _count(v, "autograd count", 10**9) for k, v in names.items()}
    call.cuts = _cuts(autograd.get("cuts", []))
    printed = info.get("printed", {})
    _require(isinstance(printed, dict), "bad printed")
    _keys(printed, PRINTED_KEYS, "printed")
    call.stdout = _text(printed.get("stdout", ""), "stdout", 2000)
    call.stderr = _text(printed.get("stderr", ""), "stderr", 2000)
    warnings = printed.get("warnings", [])
    _require(isinstance(warnings, list) and len(warnings) <= 5, "bad warnings")
    call.warnings = [_text(w, "warning", 300) for w in warnings]
    _count(printed.get("n_warnings", len(warnings)), "warning count", 10**9)
    seconds = _float(info.get("seconds", 0.0))
    _require(seconds >= 0.0, "bad seconds")
    call.seconds = seconds
    if "method" in info:
        call.method = decode_method(info["method"])
    if "saved" in info:
        call.saved = decode_saved(info["saved"])
    return call


def decode_saved(info: Any) -> SavedRecord:
    """``call["saved"]`` (``contract.SAVED_KEYS``): what the probe's saved-tensor monitor counted."""
    _require(isinstance(info, dict) and set(info) == SAVED_KEYS, "bad saved tensors")
    saved = SavedRecord(**{key: _count(info[key], f"saved {key}", MAX_COUNT) for key in SAVED_KEYS})
    _require(saved.kept <= saved.peak <= saved.bytes, "bad saved tensors")
    return saved


def _cuts(value: Any) -> tuple[Cut, ...]:
    _require(isinstance(value, list) and len(value) <= MAX_CUTS, "bad cuts")
    found = []
    for entry in value:
        _require(isinstance(entry, dict), "bad cut")
        _keys(entry, CUT_KEYS, "a cut")
        cut = Cut(entry.get("via"), entry.get("where"), entry.get("symptom"))
        _require(cut.via in CUT_VIA and cut.where in CUT_WHERE and cut.symptom in CUT_SYMPTOMS, "bad cut")
        found.append(cut)
    return tuple(found)


def _flag(value: Any, what: str) -> bool:
    _require(isinstance(value, bool), f"bad {what}")
    return value


def _sweeps(value: Any, what: str, lowest: int) -> dict[int, Sweeps]:
    _require(isinstance(value, list) and len(value) <= MAX_SWEEP_ORDER + 1, f"bad {what} sweeps")
    found: dict[int, Sweeps] = {}
    for entry in value:
        _require(isinstance(entry, dict), f"bad {what} sweep")
        _keys(entry, SWEEP_KEYS, f"a {what} sweep")
        order = _count(entry.get("order"), f"{what} order", MAX_SWEEP_ORDER)
        _require(order >= lowest and order not in found, f"bad {what} order")
        found[order] = Sweeps(directions=_count(entry.get("directions"), "directions", MAX_COUNT),
                              sweeps=_count(entry.get("sweeps"), "sweeps", MAX_COUNT))
    return found


def decode_method(info: Any) -> MethodRecord:
    """``call["method"]`` (``contract.METHOD_KEYS``): what the probe's method tap counted."""
    _require(isinstance(info, dict), "bad method")
    _keys(info, METHOD_KEYS, "method")
    raw = info.get("evaluations", [])
    _require(isinstance(raw, list) and len(raw) <= MAX_EVALUATION_KINDS, "bad evaluations")
    evaluations = []
    for entry in raw:
        _require(isinstance(entry, dict), "bad evaluation")
        _keys(entry, EVALUATION_KEYS, "an evaluation")
        shape, _ = _shape(entry.get("shape"))
        ad = entry.get("ad")
        _require(ad in AD_STATES, "bad AD state")
        evaluations.append(Evaluation(shape=shape, samples=_count(entry.get("samples"), "samples", MAX_NUMEL),
                                      ad=ad, count=_count(entry.get("count"), "evaluations", MAX_COUNT)))
    return MethodRecord(
        evaluations=tuple(evaluations),
        more_evaluations=_count(info.get("more_evaluations", 0), "evaluations", MAX_COUNT),
        reverse=_sweeps(info.get("reverse", []), "reverse", 1),
        forward=_sweeps(info.get("forward", []), "forward", 0),
        legacy_batched=_flag(info.get("legacy_batched", False), "legacy flag"),
        incomplete=_flag(info.get("incomplete", False), "incomplete flag"),
    )


def decode_record(record: Any) -> Observation:
    _require(isinstance(record, dict), "a record must be an object")
    _keys(record, RECORD_KEYS, "a record")
    _require(type(record.get("v")) is int and record["v"] == RECORD_VERSION, "unknown record version")
    scenario = _text(record.get("scenario"), "scenario id", 200)
    status = record.get("status", Status.DONE)
    _require(status in STATUSES, "unknown status")
    _require((status == Status.PROBE_ERROR) == bool(record.get("probe_error")), "bad probe error")

    def named(key: str, decode) -> dict:
        raw = record.get(key, {})
        _require(isinstance(raw, dict) and len(raw) <= MAX_ENTRIES, f"bad {key}")
        return {_text(k, "name", 200): decode(v) for k, v in raw.items()}

    return Observation(
        scenario=scenario,
        function=_text(record.get("function", ""), "function", 200),
        status=status,
        inputs_before=named("inputs_before", decode_value),
        inputs_after=named("inputs_after", decode_value),
        calls=named("calls", decode_call),
        observed=named("observed", lambda v: decode_value(v, 0)),
        probe_error=decode_error(record["probe_error"]) if record.get("probe_error") else None,
    )
