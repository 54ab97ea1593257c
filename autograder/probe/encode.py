"""Turn whatever a student's function returned into plain JSON.

The record leaves the student's kernel as a notebook output, so it may only contain JSON types. Tensors
travel as raw little-endian bytes in base64 together with their dtype, shape and autograd flags; the
trusted judge rebuilds them without ever unpickling anything the kernel produced.
"""

from __future__ import annotations

import base64
import math
import types

import torch

from .contract import DTYPE_NAMES

MAX_ELEMENTS = 200_000  # a returned tensor larger than this is described, not copied
MAX_TEXT = 2_000
MAX_ITEMS = 64
MAX_DEPTH = 6
MAX_NAME = 150  # names of types, functions and modules (a student may give a function any __name__)

# torch dtype -> its name in a record, for the dtypes whose values travel (``contract.DTYPE_NAMES``)
_DTYPES = {getattr(torch, name): name for name in DTYPE_NAMES}


def _text(value: str, limit: int = MAX_TEXT) -> str:
    return value if len(value) <= limit else value[:limit] + f"... [{len(value) - limit} more characters]"


def _safe_repr(value: object) -> str:
    try:
        return _text(repr(value), 300)
    except Exception as exc:  # a student's __repr__ may raise
        return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"


def _type_name(value: object) -> str:
    kind = type(value)
    module = str(getattr(kind, "__module__", "") or "")
    name = f"{module}.{kind.__qualname__}" if module not in ("builtins", "") else kind.__qualname__
    return _text(name, MAX_NAME)


def encode_float(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def encode_tensor(t: torch.Tensor, *, with_grad: bool = False, depth: int = 0) -> dict:
    info: dict = {
        "t": "tensor",
        "type": _type_name(t),
        "shape": [int(s) for s in t.shape],
        "dtype": _DTYPES.get(t.dtype, str(t.dtype)),
        "device": str(t.device),
        "requires_grad": bool(t.requires_grad),
        "is_leaf": bool(t.is_leaf),
        "grad_fn": _text(type(t.grad_fn).__name__, MAX_NAME) if t.grad_fn is not None else None,
    }
    layout_ok = t.layout == torch.strided and not t.is_meta
    if t.dtype not in _DTYPES or not layout_ok:
        info["unreadable"] = f"layout {t.layout}, dtype {t.dtype}"
    elif t.numel() > MAX_ELEMENTS:
        info["unreadable"] = f"{t.numel()} elements (more than the {MAX_ELEMENTS} the grader copies)"
    else:
        data = t.detach()
        if data.is_conj():
            data = data.resolve_conj()
        if data.is_neg():
            data = data.resolve_neg()
        data = data.to("cpu").contiguous()
        if data.dtype == torch.bfloat16:  # numpy has no bfloat16: ship the bits as int16
            raw = data.view(torch.int16).numpy().tobytes()
        else:
            raw = data.numpy().tobytes()
        info["b64"] = base64.b64encode(raw).decode("ascii")
    if with_grad:
        grad = t.grad if t.is_leaf or t.retains_grad else None
        info["grad"] = None if grad is None else encode_tensor(grad, depth=depth + 1)
        info["grad_id"] = id(grad) if grad is not None else None
    return info


def encode(value: object, *, with_grad: bool = False, depth: int = 0) -> dict:
    """Describe ``value`` as JSON. ``with_grad`` also records the ``.grad`` of tensors (for inputs)."""
    if depth > MAX_DEPTH:
        return {"t": "object", "type": _type_name(value), "repr": "<nested too deeply>"}
    if isinstance(value, torch.Tensor):
        return encode_tensor(value, with_grad=with_grad, depth=depth)
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": value} if abs(value) < 2**53 else {"t": "float", "v": float(value)}
    if isinstance(value, float):
        return {"t": "float", "v": encode_float(value)}
    if isinstance(value, str):
        return {"t": "str", "v": _text(value)}
    if isinstance(value, (tuple, list)):
        items = [encode(v, with_grad=with_grad, depth=depth + 1) for v in list(value)[:MAX_ITEMS]]
        return {"t": "tuple" if isinstance(value, tuple) else "list", "items": items, "length": len(value)}
    if isinstance(value, dict):
        items = [[_safe_repr(k), encode(v, with_grad=with_grad, depth=depth + 1)]
                 for k, v in list(value.items())[:MAX_ITEMS]]
        return {"t": "dict", "items": items, "length": len(value)}
    if type(value).__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
        try:
            return {"t": "ndarray", "of": encode(torch.as_tensor(value), depth=depth + 1)}
        except Exception:
            pass
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)) or callable(value):
        name = getattr(value, "__name__", None)
        return {"t": "callable", "name": _text(name, MAX_NAME) if isinstance(name, str) else _type_name(value)}
    return {"t": "object", "type": _type_name(value), "repr": _safe_repr(value)}


def encode_error(exc: BaseException, frames: list[dict]) -> dict:
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be printed>"
    return {
        "t": "error",
        "type": _text(str(type(exc).__name__), MAX_NAME),
        "module": _text(str(type(exc).__module__), MAX_NAME),
        "message": _text(message),
        "frames": frames,
    }
