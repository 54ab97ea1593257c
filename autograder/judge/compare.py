"""Compare what a student returned with what was expected, in the order a person would check:
type, then shape, then dtype, then values (how many entries differ, and the worst one).

Messages never print the expected tensor itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .record import OtherValue, SequenceValue, TensorValue

# Tolerances (relative, absolute) per dtype. Loose enough for any correct method (autograd, torch.func,
# analytic formulas) and tight enough that every misconception in the catalogue is far outside them.
TOLERANCES = {
    torch.float64: (1e-6, 1e-8),
    torch.float32: (1e-4, 1e-5),
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (5e-2, 1e-2),
}


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES.get(dtype, (1e-6, 1e-8))


def describe(value) -> str:
    """A short name for what the student returned: 'a tensor of shape (3, 4)', 'a tuple of 2', 'None'."""
    if isinstance(value, TensorValue):
        if value.type_name == "numpy.ndarray":
            return f"a NumPy array of shape {fmt_shape(value.shape)}"
        return f"a tensor of shape {fmt_shape(value.shape)}"
    if isinstance(value, SequenceValue):
        return f"a {value.kind} of {value.length} item{'s' if value.length != 1 else ''}"
    if isinstance(value, OtherValue):
        if value.kind == "none":
            return "None"
        if value.kind in ("int", "float", "bool"):
            return f"the Python {value.kind} {value.value!r}"
        if value.kind == "str":
            return f"the string {value.value[:40]!r}"
        return f"a {value.type_name or value.kind}"
    return type(value).__name__


def fmt_shape(shape) -> str:
    shape = tuple(shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt_index(index) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + ")" if len(index) != 1 else f"[{int(index[0])}]"


@dataclass
class Comparison:
    ok: bool
    stage: str               # "type", "shape", "dtype", "values", "unreadable" or "ok"
    message: str = ""
    mismatched: int = 0
    total: int = 0

    def __bool__(self) -> bool:
        return self.ok


def close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None) -> bool:
    """Whether two tensors agree within the tolerance of ``dtype`` (default: the coarser of the two)."""
    if a.shape != b.shape:
        return False
    if dtype is None:
        dtype = a.dtype if tolerance(a.dtype)[0] >= tolerance(b.dtype)[0] else b.dtype
    rtol, atol = tolerance(dtype)
    a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
    return bool(torch.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=False).all())


def compare_tensor(actual, expected: torch.Tensor, *, what: str = "your result", shape_hint: str = "",
                   check_dtype: bool = True, dtype_hint: str = "") -> Comparison:
    if not isinstance(actual, TensorValue):
        return Comparison(False, "type", f"{what} is {describe(actual)}; expected a tensor.")
    if actual.type_name == "numpy.ndarray":
        return Comparison(False, "type", f"{what} is a NumPy array; expected a torch tensor "
                                         "(a NumPy round trip also leaves autograd behind).")
    if tuple(actual.shape) != tuple(expected.shape):
        hint = f" ({shape_hint})" if shape_hint else ""
        return Comparison(False, "shape", f"{what} has shape {fmt_shape(actual.shape)}; expected "
                                          f"{fmt_shape(expected.shape)}{hint}.")
    if actual.tensor is None:
        return Comparison(False, "unreadable", f"{what} could not be read by the grader ({actual.unreadable}).")
    got = actual.tensor
    if check_dtype and got.dtype != expected.dtype:
        hint = f" {dtype_hint}" if dtype_hint else ""
        return Comparison(False, "dtype", f"{what} has dtype {str(got.dtype).replace('torch.', '')}; expected "
                                          f"{str(expected.dtype).replace('torch.', '')}.{hint}")
    if not (got.is_floating_point() or got.is_complex()) and expected.is_floating_point():
        return Comparison(False, "dtype", f"{what} has the integer dtype {got.dtype}; expected floating point.")
    rtol, atol = tolerance(expected.dtype)
    a64, e64 = got.to(torch.float64), expected.detach().to(torch.float64)
    good = torch.isclose(a64, e64, rtol=rtol, atol=atol)
    total = good.numel()
    bad = int(total - good.sum())
    if bad == 0:
        return Comparison(True, "ok", total=total)
    nan = int(torch.isnan(a64).sum())
    err = (a64 - e64).abs()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    flat = int(torch.argmax(err))
    index = torch.unravel_index(torch.tensor(flat), tuple(a64.shape)) if a64.dim() else ()
    where = f" at index {fmt_index([int(i) for i in index])}" if a64.dim() else ""
    worst = float(err.reshape(-1)[flat])
    parts = [f"{bad} of {total} entr{'y' if total == 1 else 'ies'} ({100.0 * bad / total:.0f}%) "
             f"{'is' if bad == 1 else 'are'} wrong"]
    if nan:
        parts.append(f"{nan} {'is' if nan == 1 else 'are'} NaN")
    parts.append(f"the largest error is {worst:.3g}{where}")
    message = f"{what}: " + "; ".join(parts) + f" (tolerance: rtol={rtol:g}, atol={atol:g})."
    return Comparison(False, "values", message, mismatched=bad, total=total)
