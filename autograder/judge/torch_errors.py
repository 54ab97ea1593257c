"""Explain the errors torch raises when autograd is misused, as a hint rather than a traceback."""

from __future__ import annotations

import re

from autograder.probe.contract import ForwardModeOnly, ProbeTimeout, ReverseModeOnly

from . import misconceptions as mc
from .record import ErrorValue

# Errors the probe's single-mode test functions raise (recognised by their type, never by their text).
_ONE_MODE = {ForwardModeOnly.__name__: "reverse_instead_of_forward",
             ReverseModeOnly.__name__: "forward_instead_of_reverse"}

# (pattern in the error message, misconception key or None, hint)
_PATTERNS: list[tuple[str, str | None, str]] = [
    (r"grad can be implicitly created only for (real )?scalar outputs", "upstream_missing", ""),
    (r"Mismatch in shape: grad_output\[0\] has a shape of .* and output\[0\] has a shape of",
     "upstream_wrong_shape", ""),
    (r"Trying to backward through the graph a second time", "missing_retain_graph", ""),
    (r"does not require grad and does not have a grad_fn", "not_connected", ""),
    (r"appears to not have been used in the graph", None,
     "you asked for the gradient with respect to a tensor the output does not depend on (did you compute "
     "the output from a copy of it?). Pass `allow_unused=True` only if a zero derivative is really meant."),
    (r"a leaf Variable that requires grad is being used in an in-place operation", None,
     "you changed a leaf that requires grad in place. Wrap such updates in `with torch.no_grad():`, or "
     "compute on a new tensor."),
    (r"Can't call numpy\(\) on Tensor that requires grad", None,
     "`.numpy()` needs a tensor without grad: call `.detach()` first — but a NumPy round trip also cuts "
     "autograd out, so keep the computation in torch."),
    (r"differentiated Tensors? does not require grad|element \d+ of differentiated tensors does not require grad",
     "not_connected", ""),
    (r"One of the variables needed for gradient computation has been modified by an inplace operation",
     None, "a tensor autograd saved for the backward pass was changed in place afterwards. Use out-of-place "
     "operations (`x = x + 1` rather than `x += 1`) on tensors inside the graph."),
    (r"expected scalar type (\w+) but found (\w+)|expected .*dtype.* but got|must have the same dtype",
     "mixed_dtypes", ""),
    (r"size mismatch|shapes cannot be multiplied|must match the size of tensor|The size of tensor a", None,
     "the shapes of two tensors do not fit together. Check which tensor is (m, n) and which is (n,): the "
     "upstream vector has the output's shape, the gradient the input's."),
    (r"grad_outputs.*(shape|size)|Mismatch in shape", None,
     "`grad_outputs` / the upstream gradient must have the shape of the output."),
    (r"only Tensors of floating point dtype can require gradients", None,
     "only floating-point tensors can require gradients: convert with `.double()` or `.float()` first."),
    (r"can't convert .* to numpy|can't convert cuda", None,
     "a tensor on another device or with grad cannot go through NumPy; stay in torch."),
    (r"vmap: .*data-dependent control flow|vmap: It looks like you're calling \.item\(\)", None,
     "`torch.func.vmap` cannot trace Python control flow that depends on tensor values, or `.item()`."),
]


def sentence(text: str) -> str:
    """``text`` with a capital first letter."""
    return text[:1].upper() + text[1:] if text else text


def raised(error: ErrorValue, function: str, limit: int = 300) -> str:
    """How an explanation of an error starts: "`function` raised Type (line n of `f`: `code`): " and the
    first line of the message, without a final full stop added."""
    where = ""
    if error.frames:
        frame = error.frames[-1]
        if frame.get("line"):
            code = f": `{frame['code'].strip()}`" if (frame.get("code") or "").strip() else ""
            where = f" (line {frame['line']} of `{frame.get('function') or function}`{code})"
    return f"`{function}` raised {error.type}{where}: {first_line(error.message, limit)}"


def explain_error(error: ErrorValue, function: str, reverse_passes: int = 0) -> tuple[str, str]:
    """(misconception key, student-facing message) for an exception raised by the student's code.

    ``reverse_passes`` made before the error refine the diagnosis: differentiating a tensor without a
    ``grad_fn`` after a first pass means the first derivative was computed without ``create_graph``.
    """
    if error.type == "NotImplementedError":
        return "not_implemented", mc.message("not_implemented", function=function)
    if error.type == ProbeTimeout.__name__:
        return "timeout", mc.message("timeout")
    if error.type == "SystemExit":
        return "exited", mc.message("exited")
    if error.type in _ONE_MODE:
        key = _ONE_MODE[error.type]
        return key, f"{raised(error, function).rstrip('.')}. " + sentence(mc.message(key))
    for pattern, key, hint in _PATTERNS:
        if re.search(pattern, error.message):
            base = f"{raised(error, function).rstrip('.')}. "
            if key == "not_connected" and reverse_passes >= 2 and "grad_fn" in error.message:
                key = "missing_create_graph"
            if key is not None:
                return key, base + sentence(mc.message(key))
            return "other_error", base + sentence(hint)
    return "other_error", raised(error, function)


def first_line(message: str, limit: int = 300) -> str:
    """The first line of ``message``, cut to ``limit`` characters (an ellipsis marks the cut)."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[:limit] + "…"
