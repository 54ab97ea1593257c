"""Rubrics for ps5_higher_order: second derivatives, Hessians, Hessian–vector products, mixed partials."""

from __future__ import annotations

import torch

from .. import method
from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import close
from ..diagnosis import FiniteDifferences
from ..judgement import ErrorRule, register_errors
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, TensorValue
from ..torch_errors import first_line, sentence
from . import rubric

mc.register(
    Misconception("first_derivative_in_grad", "first derivative left in .grad",
                  "Your result still contains the first derivative: `backward(create_graph=True)` left it in "
                  "`{leaf}.grad`, and the next backward pass added the second-order result on top of it. Keep "
                  "the first derivative in a variable and set `{leaf}.grad = None` before the next pass, or use "
                  "`torch.autograd.grad`, which returns derivatives instead of accumulating them."),
    Misconception("disconnected_zeros", "second-order result all zeros",
                  "Your result is zero everywhere although the true {what} is not. Either the first derivative was "
                  "not connected to the input (computed without `create_graph=True`, or detached and marked with "
                  "`requires_grad_()` again) and `allow_unused=True` filled in zeros for the missing gradient, or "
                  "`.grad` was zeroed in place during the passes (after `backward(create_graph=True)`, `x.grad` *is* "
                  "the first derivative, so `x.grad.zero_()` wipes it). Compute the first derivative with "
                  "`create_graph=True`, keep it in a variable, and differentiate *it*."),
    Misconception("rows_share_grad", "every Hessian row is the same .grad",
                  "Every row of your result is the same vector, the sum of all rows of H: you stored `x.grad` "
                  "itself for each row, and the later passes kept adding into that one tensor. Store "
                  "`x.grad.clone()` and clear `x.grad` before each pass, or use `torch.autograd.grad`."),
    Misconception("directional_derivative", "returned vᵀ∇f instead of H v",
                  "Your result is a single number, the directional derivative vᵀ∇f. H v is the *gradient* of "
                  "that number with respect to x: differentiate it once more (the first derivative needs "
                  "`create_graph=True`)."),
    Misconception("returned_hessian", "returned H instead of H v",
                  "You returned an n × n matrix (the Hessian?) instead of the vector H v, which has the shape of "
                  "x. Compute H v directly, without forming H."),
    Misconception("formed_hessian", "formed H to get H v",
                  "Your function formed the Hessian H (every row of it: one pass per row, or a batched "
                  "`torch.func.hessian` / `torch.autograd.functional.hessian`) and then multiplied by v. A "
                  "Hessian–vector product needs one direction, v, whatever n is: the gradient of ∇f·v (∇f with "
                  "`create_graph=True`), or forward over reverse (`torch.func.jvp(torch.func.grad(f), (x,), "
                  "(v,))`)."),
    Misconception("unused_input", "separable f: unused input not turned into zeros",
                  "{message}"),
    Misconception("returned_first_derivative", "returned f′ instead of f″",
                  "your result is the first derivative f′, not the second derivative f″: differentiate the "
                  "first derivative once more (it needs `create_graph=True`)."),
    Misconception("returned_gradient", "returned the gradient instead of the second-order result",
                  "your result is the gradient ∇f, not the {what}."),
    Misconception("xx_instead_of_xy", "∂²f/∂x² instead of ∂²f/∂x∂y",
                  "you computed ∂²f/∂x² (differentiated twice with respect to x) instead of the mixed "
                  "partial ∂²f/∂x∂y: differentiate ∂f/∂x with respect to **y**."),
    Misconception("yy_instead_of_xy", "∂²f/∂y² instead of ∂²f/∂x∂y",
                  "you computed ∂²f/∂y² instead of the mixed partial ∂²f/∂x∂y: differentiate ∂f/∂y with "
                  "respect to **x** (or ∂f/∂x with respect to y)."),
    Misconception("returned_dx", "returned ∂f/∂x",
                  "your result is the first partial ∂f/∂x, not the second-order mixed partial."),
    Misconception("returned_dy", "returned ∂f/∂y",
                  "your result is the first partial ∂f/∂y, not the second-order mixed partial."),
    Misconception("hessian_times_ones", "H·1 instead of the Hessian",
                  "your result is H·1 (the Hessian's row sums): a second pass with an upstream vector of "
                  "ones sums the rows. Build H one row per pass (one-hot vectors), or use torch.func.hessian."),
    Misconception("hv_elementwise", "∇f ⊙ v instead of H v",
                  "your result is ∇f ⊙ v (gradient times v, entry by entry), not the Hessian–vector product."),
    Misconception("diagonal_only", "only the diagonal",
                  "your result holds only the diagonal ∂²f/∂xᵢ²; the off-diagonal mixed partials are missing."),
)

_NO_GRAD_FN = "does not require grad and does not have a grad_fn"
_UNUSED = r"appears to not have been used in the graph"
_INPUT_NO_GRAD = r"differentiated Tensors? does not require grad|of differentiated tensors does not require grad"

_CREATE_GRAPH_FIX = (" Pass `create_graph=True` to the first `torch.autograd.grad` (or `backward`) call, so that "
                     "the first derivative is itself part of a graph and can be differentiated again.")

_SEPARABLE_HINT = ("∂f/∂x does not depend on y here (f does not couple x and y), so autograd reports that y was "
                   "not used. The mixed partial is then zero: pass `allow_unused=True, materialize_grads=True` to "
                   "the second `torch.autograd.grad` call (or turn a `None` into `torch.zeros_like(y)`).")


def _raised(error, function: str, text: str) -> str:
    """This assignment's wording of an error: "`f` raised T (line n of `g`: `code`): message. ", then ``text``."""
    where = ""
    if error.frames:
        frame = error.frames[-1]
        if frame.get("line"):
            code = f" `{frame['code'].strip()}`" if frame.get("code") else ""
            where = f" (line {frame['line']} of `{frame.get('function') or function}`:{code})"
    return f"`{function}` raised {error.type}{where}: {first_line(error.message).rstrip('.')}. {text}"


# The autograd errors of second-order code, explained more precisely than by the shared table. A "does not
# have a grad_fn" error after the first reverse pass went through means the first derivative was a
# constant: ``create_graph=True`` was missing (the shared table's key is ``not_connected``).
register_errors(
    __name__,
    ErrorRule(_NO_GRAD_FN, "missing_create_graph", min_passes=2, explain=_raised,
              hint=sentence(mc.message("missing_create_graph")) + _CREATE_GRAPH_FIX),
    ErrorRule(_INPUT_NO_GRAD, "not_connected", explain=_raised,
              hint="You asked for a derivative with respect to a tensor that does not require grad (the caller's "
                   "tensor?). Make a leaf copy, `x = x.detach().clone().requires_grad_(True)`, compute with it "
                   "and differentiate with respect to that copy."),
    ErrorRule(_UNUSED, "unused_input", functions=("mixed_partial",), explain=_raised, hint=_SEPARABLE_HINT),
    ErrorRule(_UNUSED, "other_error", explain=_raised,
              hint="You asked for the derivative with respect to a tensor the output does not depend on (did you "
                   "compute the output from a copy of it?)."),
)


AUTOGRAD = "f differentiated by autograd"
_TWICE = "Differentiate twice with autograd, the first time with `create_graph=True`."


def _autograd(j, call, expected: torch.Tensor, what: str, hint: str = _TWICE) -> None:
    """Let autograd differentiate f, twice: finite differences of f fail, and so do differences of its first
    derivative, unless the second derivative is zero (then no second-order sweep can reach f: the first
    derivative does not depend on the input)."""
    order = 2 if bool((expected != 0).any()) else 1
    method.record(j, method.autograd_used(call.method, what=what, hint=hint, order=order), AUTOGRAD)


def _returned_none(j, call, hint: str, key: str = "wrong_values") -> bool:
    """Record a failure with ``hint`` if the function returned None (what `allow_unused=True` gives)."""
    if isinstance(call.value, OtherValue) and call.value.kind == "none":
        j.fail("values", key, message=f"Your function returned None. {hint}", hard=True, missing_gradient=True)
        return True
    return False


def _tensor_or_none(value):
    return value.tensor if isinstance(value, TensorValue) and value.tensor is not None else None


# ------------------------------------------------------------------ second_derivative_at_points

@rubric("second_derivative_at_points")
def judge_second_derivative(j):
    f, xs = j.inputs["f"], j.inputs["xs"]
    call = j.call()
    if call is None:
        return
    if _returned_none(j, call, "If it comes from `torch.autograd.grad(..., allow_unused=True)`: autograd returns None "
                      "when the tensor you differentiate does not depend on the input, which here means the first "
                      "derivative was cut off from the graph (compute it with `create_graph=True`)."):
        return
    expected = rm.elementwise_derivative(f, xs, order=2)
    first = lambda: rm.elementwise_derivative(f, xs, order=1)
    candidates = [
        candidate("returned_first_derivative", first),
        candidate("returned_function_value", lambda: rm.value(f, xs)),
        candidate("first_derivative_in_grad", lambda: first() + expected, leaf="x"),
        candidate("disconnected_zeros", torch.zeros_like(expected), what="second derivative"),
        FiniteDifferences(lambda h, scheme: rm.difference_derivative(f, xs, h, scheme, order=2)),
    ]
    j.tensor(call.value, expected, candidates=candidates,
             shape_hint="one second derivative per point: the shape of xs",
             dtype_hint="Keep the input's dtype.")
    _autograd(j, call, expected, "f″")
    j.detached(call.value)
    j.untouched()


# ------------------------------------------------------------------ hessian

_N1_FLAT = ("The value is right, but the Hessian of a function of n = 1 variable is still a (1, 1) matrix: build "
            "it as a stack of n rows of n entries each (`torch.stack(rows)`), whatever n is.")


@rubric("hessian")
def judge_hessian(j):
    f, x = j.inputs["f"], j.inputs["x"]
    call = j.call()
    if call is None:
        return
    expected = rm.hessian(f, x)
    n = x.numel()
    grad = lambda: rm.gradient(f, x)
    candidates = []
    if n > 1:
        ones = torch.ones(n, dtype=x.dtype)
        candidates = [
            candidate("returned_gradient", grad, what="Hessian"),
            candidate("hessian_times_ones", lambda: expected @ ones),
            candidate("diagonal_only", lambda: torch.diagonal(expected).clone()),
            candidate("diagonal_only", lambda: torch.diag(torch.diagonal(expected))),
            candidate("cumulative_rows", lambda: expected.cumsum(0), part="row"),
            candidate("rows_share_grad", lambda: (expected @ ones).expand(n, n).clone()),
            candidate("first_derivative_in_grad", lambda: expected + grad(), leaf="x"),
            candidate("first_derivative_in_grad", lambda: expected.cumsum(0) + grad(), leaf="x"),
            candidate("disconnected_zeros", torch.zeros_like(expected), what="Hessian"),
            FiniteDifferences(lambda h, scheme: rm.difference_hessian(f, x, h, scheme)),
        ]
    else:
        candidates = [
            candidate("wrong_values", lambda: expected.reshape(1), message=_N1_FLAT),
            candidate("wrong_values", lambda: expected.reshape(()), message=_N1_FLAT),
            candidate("returned_gradient", grad, what="Hessian"),
            candidate("returned_gradient", lambda: grad().reshape(1, 1), what="Hessian"),
            candidate("first_derivative_in_grad", lambda: expected + grad(), leaf="x"),
            candidate("disconnected_zeros", torch.zeros_like(expected), what="Hessian"),
        ]
    hint = "n × n for x with n entries" + (" — for n = 1 that is still a (1, 1) matrix" if n == 1 else "")
    j.tensor(call.value, expected, candidates=candidates, shape_hint=hint,
             dtype_hint="Keep the input's dtype.")
    _autograd(j, call, expected, "H", "Build ∇f with `create_graph=True`, then differentiate each of its entries.")
    j.untouched()


# ------------------------------------------------------------------ hvp

def _hvp_value(j, call, *, label: str = "values", what: str = "your result") -> tuple[bool, torch.Tensor]:
    f, x, v = j.inputs["f"], j.inputs["x"], j.inputs["v"]
    expected = rm.hvp(f, x, v)
    n = x.numel()
    grad = lambda: rm.gradient(f, x)
    candidates = [
        candidate("hv_elementwise", lambda: grad() * v),
        candidate("returned_gradient", grad, what="Hessian–vector product H v"),
        candidate("first_derivative_in_grad", lambda: grad() + expected, leaf="x"),
        candidate("hessian_times_ones", lambda: rm.hvp(f, x, torch.ones_like(v))),
        candidate("directional_derivative", lambda: grad() @ v),
        candidate("disconnected_zeros", torch.zeros_like(expected), what="H v"),
        FiniteDifferences(lambda h, scheme: rm.difference_hvp(f, x, v, h, scheme)),
    ]
    ok = j.tensor(call.value, expected, label=label, what=what, candidates=candidates,
                  shape_hint="H v has the shape of x", dtype_hint="Keep the input's dtype.",
                  shape_candidates=[("returned_hessian", (n, n), {})])
    return ok, expected


_HVP_HINT = "Compute ∇f with `create_graph=True`, then differentiate ∇f·v."


@rubric("hvp")
def judge_hvp(j):
    call = j.call()
    if call is None:
        return
    _, expected = _hvp_value(j, call)
    _autograd(j, call, expected, "H v", _HVP_HINT)
    j.untouched()


@rubric("hvp.passes")
def judge_hvp_passes(j):
    call = j.call()
    if call is None:
        return
    _hvp_value(j, call)
    method.record(j, method.hvp(call.method, j.inputs["x"].numel()), "second-order AD along v, H never formed")
    j.untouched()


@rubric("hvp.repeated")
def judge_hvp_repeated(j):
    call = j.call()
    if call is None:
        return
    ok, expected = _hvp_value(j, call, label="first call")
    _autograd(j, call, expected, "H v", _HVP_HINT)
    again = j.call("again", what="second call")
    first = _tensor_or_none(call.value)
    second = _tensor_or_none(again.value) if again is not None else None
    repeats_first = (first is not None and second is not None and first.shape == second.shape
                     and close(first, second))
    if again is not None and (ok or not repeats_first):   # a wrong first answer, repeated, is reported once
        grad = rm.gradient(j.inputs["f"], j.inputs["x"])
        j.tensor(again.value, expected, label="second call (same arguments)", what="the second call's result",
                 candidates=[candidate("accumulated_twice", 2 * expected),
                             candidate("first_derivative_in_grad", 2 * (grad + expected), leaf="x")])
    later = _tensor_or_none(j.obs.observed.get("result_later"))
    if ok and later is not None and first is not None:
        j.add("earlier result unchanged by the next call", torch.equal(later, first), misconception="alias_of_grad",
              detail="the result of the first call changed when the function ran again: it is an alias of a "
                     "`.grad` that the second call wrote into. Return a copy (`.clone()`) or use "
                     "`torch.autograd.grad`.")
    j.untouched()


# ------------------------------------------------------------------ mixed_partial


@rubric("mixed_partial")
def judge_mixed_partial(j):
    f, x, y = j.inputs["f"], j.inputs["x"], j.inputs["y"]
    call = j.call()
    if call is None:
        return
    if _returned_none(j, call, "`torch.autograd.grad(..., allow_unused=True)` returns None for an input the "
                      "differentiated tensor does not depend on; the derivative is then zero: pass "
                      "`materialize_grads=True` as well, or return `torch.zeros_like(y)` in that case.",
                      key="unused_input"):
        return
    p = rm.partials(f, x, y)
    expected = p["dxy"]
    candidates = [
        candidate("xx_instead_of_xy", p["dxx"]),
        candidate("yy_instead_of_xy", p["dyy"]),
        candidate("returned_dx", p["dx"]),
        candidate("returned_dy", p["dy"]),
        candidate("first_derivative_in_grad", p["dy"] + expected, leaf="y"),
        candidate("first_derivative_in_grad", p["dx"] + expected, leaf="x"),
        candidate("disconnected_zeros", torch.zeros_like(expected), what="mixed partial"),
    ]
    j.tensor(call.value, expected, candidates=candidates, shape_hint="one mixed partial per point: the shape of x",
             dtype_hint="Keep the input's dtype.")
    _autograd(j, call, expected, "∂²f/∂x∂y",
              "Differentiate ∂f/∂x (computed with `create_graph=True`) with respect to y.")
    j.detached(call.value)
    j.untouched()
