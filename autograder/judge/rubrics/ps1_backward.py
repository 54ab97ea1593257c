"""Rubrics for ps1_backward: backward() and its gradient argument, batches, leaves and the chain rule."""

from __future__ import annotations

import torch

from autograder.probe import library as lib

from .. import method
from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import close
from ..diagnosis import FiniteDifferences
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, SequenceValue, TensorValue
from . import rubric

mc.register(
    Misconception("returned_none", "returned None",
                  "{what} returned None. `backward()` itself returns nothing: it stores the gradient in the "
                  "`.grad` of the leaf you differentiate with respect to. Return that tensor, or use "
                  "`torch.autograd.grad`, which returns the gradient directly."),
    Misconception("gradient_is_points", "passed the points as the gradient argument",
                  "your result is xs ⊙ f′(xs): the points themselves were passed as the `gradient` argument "
                  "(`y.backward(xs)`). `gradient` weights the outputs; for plain derivatives at many points it "
                  "is a tensor of ones, `torch.ones_like(y)`."),
    Misconception("batch_transposed", "batch gradients transposed",
                  "rows and columns are swapped: the result must have one row per sample, shape (N, n) like "
                  "X, and row i must be the gradient of f at sample i. You returned the transpose."),
    Misconception("chain_factor_missing", "chain-rule factor dy/dx missing",
                  "your dz/dx equals dz/dy: the chain rule's inner factor is missing. z depends on x through "
                  "y = 2x, so dz/dx = dz/dy · dy/dx, and dy/dx = 2."),
    Misconception("outer_at_x", "dz/dy evaluated at x instead of y",
                  "your dz/dy equals 2x: the outer derivative d(y²)/dy = 2y was evaluated at x instead of at "
                  "y = 2x."),
    Misconception("dzdx_as_dzdy", "returned dz/dx as dz/dy",
                  "your dz/dy equals dz/dx: you returned the gradient with respect to x in both places. The "
                  "gradient with respect to the intermediate y is in `y.grad` only if you call `y.retain_grad()` "
                  "before backward, or you can get it from `torch.autograd.grad(z, (x, y))`."),
    Misconception("swapped_pair", "pair in the wrong order",
                  "the two results are in the wrong order: return `(dz/dx, dz/dy)`."),
)


def _is_none(value) -> bool:
    return isinstance(value, OtherValue) and value.kind == "none"


def _tensor_of(value) -> torch.Tensor | None:
    return value.tensor if isinstance(value, TensorValue) and value.tensor is not None else None


def _same(a, b) -> bool:
    if isinstance(a, TensorValue) and isinstance(b, TensorValue):
        return a.tensor is not None and b.tensor is not None and a.tensor.shape == b.tensor.shape and bool(
            torch.equal(a.tensor, b.tensor))
    if isinstance(a, SequenceValue) and isinstance(b, SequenceValue):
        return len(a.items) == len(b.items) and all(_same(x, y) for x, y in zip(a.items, b.items, strict=True))
    return False


def _earlier_unchanged(j, call, ok: bool) -> None:
    """After later calls, the first call's result must still hold what it returned."""
    later = j.obs.observed.get("result_later")
    if not ok or later is None:
        return
    j.add("earlier result unchanged by the next calls", _same(later, call.value), misconception="alias_of_grad",
          detail=mc.message("alias_of_grad"))


AUTOGRAD = "f differentiated by autograd"
_POINTS_HINT = "One backward pass with an upstream vector of ones gives f′ at every point."
_BATCH_HINT = "One backward pass with an upstream vector of ones gives the gradient of every sample."


def _autograd(j, call, what: str, hint: str) -> None:
    method.record(j, method.autograd_used(call.method, what=what, hint=hint), AUTOGRAD)


# ------------------------------------------------------------------ derivative_at_points

def _judge_derivative(j, value, *, xs=None, label="values", what="your result",
                      extra=()) -> tuple[bool, torch.Tensor]:
    f = j.inputs["f"]
    xs = j.inputs["xs"] if xs is None else xs
    expected = rm.elementwise_derivative(f, xs)
    if _is_none(value):
        j.fail(label, "returned_none", what="`derivative_at_points`", primary=True)
        return False, expected
    n = xs.numel()
    candidates = [
        *extra,
        candidate("returned_function_value", lambda: rm.value(f, xs)),
        candidate("gradient_is_points", lambda: xs * expected),
    ]
    if n > 1:
        candidates.append(candidate("mean_instead_of_sum", lambda: expected / n, n=n))
    candidates.append(FiniteDifferences(lambda h, scheme: rm.difference_derivative(f, xs, h, scheme)))
    ok = j.tensor(value, expected, label=label, what=what, candidates=candidates,
                  shape_hint="f′ at each point has the shape of xs", dtype_hint="Keep the dtype of xs.")
    return ok, expected


def _detached(j, value) -> None:
    """The contract asks for a detached result (checked only when a tensor came back at all)."""
    if isinstance(value, TensorValue):
        j.detached(value)


@rubric("derivative_at_points")
def judge_derivative_at_points(j):
    call = j.call()
    if call is None:
        return
    _judge_derivative(j, call.value)
    _autograd(j, call, "f′", _POINTS_HINT)
    _detached(j, call.value)
    j.untouched()


def _three_calls(j, judge_one, reference, point_name: str, *, same: str, another: str):
    """The first call; a second on the same input (accumulating ``.grad`` doubles it); a third on another
    input (a stale ``.grad`` adds twice the first answer). Returns the first call, or None."""
    call = j.call()
    if call is None:
        return None
    ok, expected = judge_one(j, call.value, label="first call")
    again = j.call("again", what="second call")
    if again is not None:
        judge_one(j, again.value, label=f"second call, {same}", what="the second call's result",
                  extra=[candidate("accumulated_twice", 2 * expected)])
    other = j.call("other", what="third call")
    if other is not None:
        point = j.inputs["other"]
        stale = lambda: reference(j.inputs["f"], point) + 2 * expected
        judge_one(j, other.value, **{point_name: point}, label=f"third call, {another}",
                  what="the third call's result", extra=[candidate("stale_grad_included", stale)])
    _earlier_unchanged(j, call, ok)
    return call


@rubric("derivative_at_points.repeated")
def judge_derivative_at_points_repeated(j):
    call = _three_calls(j, _judge_derivative, rm.elementwise_derivative, "xs", same="same xs", another="other points")
    if call is not None:
        _autograd(j, call, "f′", _POINTS_HINT)
        _detached(j, call.value)
        j.untouched()


# ------------------------------------------------------------------ batch_gradient

def _seed_formula(X: torch.Tensor) -> torch.Tensor | None:
    """The tutorial's hand-derived gradient of x₁x₂ + sin(x₁x₂²): right only for that one function."""
    if X.dim() != 2 or X.shape[1] < 2:
        return None
    x1, x2 = X[:, 0], X[:, 1]
    c = torch.cos(x1 * x2**2)
    return torch.stack((x2 + x2**2 * c, x1 + 2 * x1 * x2 * c), dim=1)


def _judge_batch(j, value, *, X=None, label="values", what="your result", extra=()) -> tuple[bool, torch.Tensor]:
    f = j.inputs["f"]
    X = j.inputs["X"] if X is None else X
    expected = rm.rowwise_gradient(f, X)
    if _is_none(value):
        j.fail(label, "returned_none", what="`batch_gradient`", primary=True)
        return False, expected
    N, n = X.shape
    candidates = list(extra)
    if N > 1:
        candidates.append(candidate("mean_instead_of_sum", lambda: expected / N, n=N))
    if N == n:  # same shape as the answer: recognisable by its values only
        candidates.append(candidate("batch_transposed", lambda: expected.t()))
    candidates.append(candidate("returned_function_value", lambda: rm.value(f, X)))
    if not isinstance(f, lib.RowwiseSeed):
        candidates.append(candidate("hard_coded", lambda: _seed_formula(X)))
    candidates.append(FiniteDifferences(lambda h, scheme: rm.difference_rowwise(f, X, h, scheme)))
    shape_candidates = [("batch_transposed", (n, N), {})] if N != n else []
    ok = j.tensor(value, expected, label=label, what=what, candidates=candidates, shape_candidates=shape_candidates,
                  shape_hint="one gradient row per sample: the shape of X", dtype_hint="Keep the dtype of X.")
    return ok, expected


@rubric("batch_gradient")
def judge_batch_gradient(j):
    call = j.call()
    if call is None:
        return
    _judge_batch(j, call.value)
    _autograd(j, call, "the gradients", _BATCH_HINT)
    j.untouched()


@rubric("batch_gradient.repeated")
def judge_batch_gradient_repeated(j):
    call = _three_calls(j, _judge_batch, rm.rowwise_gradient, "X", same="same X", another="another X")
    if call is not None:
        _autograd(j, call, "the gradients", _BATCH_HINT)
        j.untouched()


# ------------------------------------------------------------------ chain_rule_grads

def _judge_pair(j, value, *, x=None, label="", what="`chain_rule_grads`", accumulated=False) -> bool:
    """Check the returned (dz/dx, dz/dy) for y = 2x, z = Σ y²: dz/dx = 8x, dz/dy = 4x."""
    x = j.inputs["x"] if x is None else x
    dzdx, dzdy = 8 * x, 4 * x
    suffix = f" ({label})" if label else ""
    if _is_none(value):
        j.fail(f"returns (dz/dx, dz/dy){suffix}", "returned_none", weight=2.0, what=what, primary=True)
        return False
    pair = j.unpack(value, 2, what=what, weight=2.0, label=f"returns a pair{suffix}")
    if pair is None:
        return False
    first, second = pair
    a, b = _tensor_of(first), _tensor_of(second)
    if (a is not None and b is not None and a.shape == x.shape and b.shape == x.shape
            and close(a, dzdy) and close(b, dzdx)):
        j.fail(f"(dz/dx, dz/dy) in this order{suffix}", "swapped_pair", weight=2.0, primary=True)
        return False
    ok = True
    for item, expected, name, candidates in (
        (first, dzdx, "dz/dx", [candidate("chain_factor_missing", dzdy)]),
        (second, dzdy, "dz/dy", [candidate("dzdx_as_dzdy", dzdx), candidate("outer_at_x", 2 * x)]),
    ):
        if accumulated:
            candidates = [*candidates, candidate("accumulated_twice", 2 * expected)]
        if _is_none(item):
            ok = j.fail(f"{name}{suffix}", "non_leaf_grad_none", primary=True) and ok
            continue
        position = "first" if name == "dz/dx" else "second"
        ok = j.tensor(item, expected, label=f"{name}{suffix}", what=f"{name} (the {position} item)",
                      candidates=candidates, shape_hint="a gradient has the shape of the tensor it is taken "
                                                        "with respect to, here the shape of x",
                      dtype_hint="Keep the dtype of x.") and ok
    return ok


@rubric("chain_rule_grads")
def judge_chain_rule_grads(j):
    call = j.call()
    if call is None:
        return
    _judge_pair(j, call.value)
    j.untouched()


@rubric("chain_rule_grads.repeated")
def judge_chain_rule_grads_repeated(j):
    call = j.call()
    if call is None:
        return
    ok = _judge_pair(j, call.value, label="first call")
    again = j.call("again", what="second call")
    if again is not None:
        _judge_pair(j, again.value, label="second call, same x", what="the second call", accumulated=True)
    other = j.call("other", what="third call")
    if other is not None:
        _judge_pair(j, other.value, x=j.inputs["other"], label="third call, another x", what="the third call")
    _earlier_unchanged(j, call, ok)
    j.untouched()
