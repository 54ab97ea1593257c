"""Rubrics for ps2_vjp: vector–Jacobian products and upstream vectors."""

from __future__ import annotations

import functools
from typing import Any

import torch

from autograder.probe import library as lib

from .. import method
from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import close, describe
from ..diagnosis import ExtraPass, FiniteDifferences
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, SequenceValue, TensorValue
from . import rubric

mc.register(
    Misconception("jv_instead_of_vjp", "computed J v instead of vᵀJ",
                  "you computed J v (a Jacobian–vector product, the forward direction) instead of vᵀJ. "
                  "`y.backward(v)` / `torch.autograd.grad(y, x, v)` give vᵀJ directly."),
    Misconception("upstream_input_shape", "upstream vector shaped like the input",
                  "the upstream vector must have the shape of the *output* you call `backward` on "
                  "({out_shape}), not of the input ({in_shape})."),
    Misconception("weight_on_column", "weighted a column instead of the row",
                  "you weighted the first *column* of `out` (`out[:, 0]`) instead of its first *row* "
                  "(`out[0, :]` or `out[0]`): the first index of a 2-D tensor selects the row."),
    Misconception("returned_jacobian", "formed the full Jacobian",
                  "you returned the full Jacobian instead of the product vᵀJ."),
    Misconception("helper_not_called", "built v without weighted_upstream",
                  "`weighted_sensitivity` never called `weighted_upstream`: it built v itself. Step 2 asks for "
                  "`v = weighted_upstream(out)` (the grader swapped in a known-good `weighted_upstream` for this "
                  "check, so your own version of it costs nothing here)."),
    Misconception("helper_wrong_argument", "called weighted_upstream with something other than out",
                  "`weighted_upstream` was called with {what} instead of `out`: it builds the upstream vector of "
                  "the tensor it is given, so it must be given `out`, the tensor you call `backward` on "
                  "(`v = weighted_upstream(out)`)."),
    Misconception("backward_not_once", "more than one backward pass",
                  "`weighted_sensitivity` ran several reverse passes; step 3 asks for `out.backward(v)` once."),
    Misconception("formed_jacobian", "formed the Jacobian to get a VJP",
                  "your function formed the Jacobian J (every row of it: one reverse pass per row, or one batched "
                  "pass such as `torch.func.jacrev`) to get vᵀJ. A vector–Jacobian product needs one pass with v "
                  "as the upstream vector, `y.backward(v)`, without ever forming J."),
)


def _vjp_candidates(f, x, v, expected, passes: int = 0):
    out = rm.value(f, x)
    J = functools.cache(lambda: rm.jacobian(f, x).reshape(out.numel(), x.numel()))   # two candidates use it
    found = [
        candidate("upstream_ignored", lambda: rm.vjp(f, x, torch.ones_like(out)), v="v"),
        candidate("mean_instead_of_sum", lambda: expected / out.numel(), n=out.numel()),
        ExtraPass(J, passes=passes),
        FiniteDifferences(lambda h, scheme: rm.difference_vjp(f, x, v, h, scheme)),
    ]
    if out.numel() == x.numel():
        found.insert(0, candidate("jv_instead_of_vjp", lambda: (J() @ v.reshape(-1)).reshape(x.shape)))
    return found, out


def _judge_vjp_value(j, call, label="values"):
    f, x, v = j.inputs["f"], j.inputs["x"], j.inputs["v"]
    expected = rm.vjp(f, x, v)
    candidates, out = _vjp_candidates(f, x, v, expected, call.reverse_passes)
    ok = j.tensor(call.value, expected, label=label, candidates=candidates,
                  shape_hint="vᵀJ has the shape of x",
                  shape_candidates=[("returned_jacobian", (out.numel(), x.numel()), {})],
                  dtype_hint="Keep the input's dtype.")
    return ok, expected


AUTOGRAD = "f differentiated by autograd"
_AUTOGRAD_HINT = "Differentiate f with one reverse pass: `y.backward(v)` or `torch.autograd.grad(y, x, v)`."


@rubric("vjp")
def judge_vjp(j):
    call = j.call()
    if call is None:
        return
    _judge_vjp_value(j, call)
    method.record(j, method.autograd_used(call.method, what="vᵀJ", hint=_AUTOGRAD_HINT), AUTOGRAD)
    j.untouched()


@rubric("vjp.one_pass")
def judge_vjp_one_pass(j):
    call = j.call()
    if call is None:
        return
    _judge_vjp_value(j, call)
    m = rm.value(j.inputs["f"], j.inputs["x"]).numel()
    method.record(j, method.vjp(call.method, m), "one reverse pass with v, J never formed")
    j.untouched()


@rubric("vjp.repeated")
def judge_vjp_repeated(j):
    call = j.call()
    if call is None:
        return
    ok, expected = _judge_vjp_value(j, call, label="first call")
    method.record(j, method.autograd_used(call.method, what="vᵀJ", hint=_AUTOGRAD_HINT), AUTOGRAD)
    f, x, v_again = j.inputs["f"], j.inputs["x"], j.inputs["v_again"]
    expected_again = rm.vjp(f, x, v_again)
    again = j.call("again", what="second call")
    if again is not None:
        j.tensor(again.value, expected_again, label="second call (another v)", what="the second call's result",
                 candidates=[candidate("stale_grad_included", expected + expected_again)])
    later = j.obs.observed.get("result_later")
    if ok and isinstance(later, TensorValue) and later.tensor is not None:
        unchanged = isinstance(call.value, TensorValue) and torch.equal(later.tensor, call.value.tensor)
        j.add("earlier result unchanged by the next call", unchanged, misconception="alias_of_grad",
              detail="the result of the first call changed when the function ran again: it is an alias of a "
                     "`.grad` that the second call wrote into. Return a copy (`.clone()`) or use "
                     "`torch.autograd.grad`.")
    j.untouched()


# ------------------------------------------------------------------ weighted_upstream

@rubric("weighted_upstream")
def judge_weighted_upstream(j):
    out = j.inputs["out"].detach()
    call = j.call()
    if call is None:
        return
    value = call.value
    if not isinstance(value, TensorValue) or value.tensor is None:
        j.fail("v is a tensor", "wrong_values", hard=True,
               message=f"`weighted_upstream` returned {describe(value)}; expected a tensor shaped like `out`.")
        return
    if tuple(value.shape) != tuple(out.shape):
        if tuple(value.shape) == tuple(out.t().shape):
            j.fail("v has the shape of out", "upstream_input_shape", hard=True,
                   out_shape=tuple(out.shape), in_shape=tuple(value.shape))
        else:
            j.fail("v has the shape of out", "wrong_values", hard=True,
                   message=f"v has shape {tuple(value.shape)}; `out.backward(v)` needs v shaped like out, "
                           f"{tuple(out.shape)}. Build it from `out` (e.g. `torch.zeros_like(out)`) rather than "
                           "with a hard-coded shape.")
        return
    v = value.tensor.to(torch.float64)
    if not bool(torch.isfinite(v).all()):
        j.fail("finite weights", "wrong_values", hard=True, message="v contains NaN or infinite entries.")
        return
    rows = v.shape[0]
    first_min = float(v[0].min())
    rest_max = float(v[1:].max()) if rows > 1 else float("-inf")
    if first_min > rest_max:
        j.add("first row weighted strictly higher than every other entry", True, weight=2.0)
    else:
        rest_cols = v[:, 1:]
        column_pattern = v.shape[1] > 1 and float(v[:, 0].min()) > float(rest_cols.max())
        if column_pattern:
            key, detail = "weight_on_column", None
        elif close(v, torch.full_like(v, float(v.reshape(-1)[0]))):
            key, detail = "wrong_values", ("every entry of v has the same weight, so the first row of out is not "
                                           "weighted higher than the rest.")
        else:
            key, detail = "wrong_values", ("some entry outside the first row has a weight at least as high as "
                                           "the lowest weight in the first row; the first row must be strictly "
                                           "higher than *every* other entry.")
        j.fail("first row weighted strictly higher than every other entry", key, detail, weight=2.0)
    j.add("no negative weight", bool((v >= 0).all()), misconception="wrong_values",
          detail=f"{int((v < 0).sum())} entr{'y is' if int((v < 0).sum()) == 1 else 'ies are'} negative; "
                 "every weight must be ≥ 0.")
    j.add("v has the dtype of out", value.dtype == str(out.dtype).replace("torch.", ""), weight=0.25,
          core=False, misconception="wrong_dtype",
          detail=f"v is {value.dtype} but out is {str(out.dtype).replace('torch.', '')}: build it with "
                 "`torch.zeros_like(out)` / `torch.ones_like(out)` so shape, dtype and device match.")
    j.add("v is a constant (no grad)", not value.requires_grad, weight=0.25, core=False,
          misconception="not_detached",
          detail="v requires grad: it was computed from `out` and is attached to the graph. An upstream vector "
                 "is a constant: build it with `torch.zeros_like(out)` and fill it.")
    j.untouched()


# ------------------------------------------------------------------ weighted_sensitivity

def _default_dtype(j) -> torch.dtype:
    name = j.obs.observed.get("default_dtype")
    if isinstance(name, OtherValue) and name.value in ("float32", "float64"):
        return getattr(torch, name.value)
    return torch.float32


def _helper_arguments(j) -> list:
    """The arguments the stand-in ``weighted_upstream`` received during the first call (the first few)."""
    recorded = j.obs.observed.get("stand_in_arguments")
    return list(recorded.items) if isinstance(recorded, SequenceValue) else []


def _helper_calls(j) -> int | None:
    calls = j.obs.observed.get("stand_in_calls")
    return calls.value if isinstance(calls, OtherValue) and calls.kind == "int" else None


def _describe_argument(arg, out: torch.Tensor, inp: torch.Tensor) -> str | None:
    """What a wrong argument of ``weighted_upstream`` was, in the student's terms; None if it was ``out``
    (the same values, whatever its dtype or graph)."""
    t = arg.tensor if isinstance(arg, TensorValue) else None
    if t is None:
        return describe(arg)
    if tuple(t.shape) == tuple(out.shape):
        if close(t, out):
            return None
        if bool((t == 0).all()):
            return "a (5, 4) tensor of zeros (`out * 0`?)"
        return "a (5, 4) tensor that is not `out` (its values differ)"
    if tuple(t.shape) == tuple(inp.shape):
        if close(t, inp):
            return "`inp` (shape (4, 5))"
        if close(t, out.t()):
            return "`out.t()` (shape (4, 5))"
        return "a (4, 5) tensor (the shape of `inp`)"
    return describe(arg)


def _wrong_arguments(j, out: torch.Tensor, inp: torch.Tensor) -> list[tuple[str, Any]]:
    """The recorded arguments of ``weighted_upstream`` that were not ``out``, each with its description."""
    found = []
    for arg in _helper_arguments(j):
        what = _describe_argument(arg, out, inp)
        if what is not None:
            found.append((what, arg))
    return found


def _helper_v(helper, arg, dtype: torch.dtype) -> torch.Tensor | None:
    """The v the helper gave for a recorded tensor argument (None for an argument it could not take)."""
    if not isinstance(arg, TensorValue) or arg.tensor is None or not arg.tensor.is_floating_point():
        return None
    try:
        return helper.upstream(arg.tensor.to(dtype))
    except (IndexError, RuntimeError):
        return None


@rubric("weighted_sensitivity")
def judge_weighted_sensitivity(j):
    dtype = _default_dtype(j)
    helper = j.inputs["stand_in"]                                  # the known-good weighted_upstream
    inp, graph = lib.tutorial_input(dtype), lib.CubeTransposed()    # the graph weighted_sensitivity builds
    out = rm.value(graph, inp)
    weights = helper.upstream(out)                                 # what weighted_upstream(out) gives
    expected_grad = rm.vjp(graph, inp, weights)
    wrong_arguments = _wrong_arguments(j, out, inp)
    call = j.call()
    if call is None:
        # e.g. weighted_upstream(inp): a v shaped like inp, so `out.backward(v)` fails on its shape
        shaped = [what for what, arg in wrong_arguments if getattr(arg, "shape", None) != tuple(out.shape)]
        if shaped:
            j.explain_last(mc.message("helper_wrong_argument", what=shaped[0]), when="upstream_wrong_shape",
                           misconception="helper_wrong_argument")
        return
    pair = j.unpack(call.value, 2, what="`weighted_sensitivity`")
    if pair is None:
        return
    v_ret, grad = pair
    used_stand_in = j.tensor(v_ret, weights, label="returns the v that weighted_upstream(out) gave",
                             what="the returned v", generic=False)
    own_v = v_ret.tensor if isinstance(v_ret, TensorValue) and v_ret.tensor is not None else None
    if not used_stand_in:
        # the argument behind the returned v: the helper's v for it (transposed to fit, perhaps), or the only
        # kind of argument the helper ever got
        behind = [what for what, arg in wrong_arguments
                  if own_v is not None and (v := _helper_v(helper, arg, dtype)) is not None
                  and any(c.shape == own_v.shape and close(own_v, c) for c in (v, v.mT if v.dim() == 2 else v))]
        never_out = len(wrong_arguments) == len(_helper_arguments(j))
        if behind or (wrong_arguments and never_out):
            behind = behind or [wrong_arguments[0][0]]
            j.explain_last(mc.message("helper_wrong_argument", what=behind[0]), misconception="helper_wrong_argument")
        elif _helper_calls(j) == 0:
            j.explain_last(mc.message("helper_not_called"), misconception="helper_not_called")
        else:
            j.explain_last("`weighted_sensitivity` must return the v that `weighted_upstream(out)` gave, "
                           "unchanged (the grader swapped in a known-good version for this check).")
    if (not used_stand_in and own_v is not None and tuple(own_v.shape) == (5, 4)
            and isinstance(grad, TensorValue) and grad.tensor is not None
            and close(grad.tensor.to(dtype), rm.vjp(graph, inp, own_v.to(dtype)))):
        j.add("inp.grad = vᵀJ for the returned v", True)
        expected_grad = rm.vjp(graph, inp, own_v.to(dtype))   # what a second call must repeat
    else:
        # the v used for backward may differ from the v returned: the helper's v for another argument
        other_v = [candidate("helper_wrong_argument", lambda v=v: rm.vjp(graph, inp, v), what=what)
                   for what, arg in wrong_arguments
                   if (v := _helper_v(helper, arg, dtype)) is not None and v.shape == out.shape]
        j.tensor(grad, expected_grad, label="inp.grad = vᵀJ for the returned v", what="the returned inp.grad",
                 shape_hint="inp.grad has the shape of inp, (4, 5)",
                 candidates=[candidate("upstream_ignored", lambda: rm.vjp(graph, inp, torch.ones_like(weights)), v="v"),
                             candidate("accumulated_twice", 2 * expected_grad), *other_v])
    again = j.call("again", what="second call")
    if again is not None:
        second = j.unpack(again.value, 2, what="the second call")
        if second is not None:
            j.tensor(second[1], expected_grad, label="a second call gives the same inp.grad",
                     what="the second call's inp.grad",
                     candidates=[candidate("accumulated_twice", 2 * expected_grad)])
    # Step 3 of the exercise: `out.backward(v)` once. How often `weighted_upstream` is called is no rule:
    # an extra call (to print v) costs nothing, and a v that differs from the one returned is caught above.
    passes = call.reverse_passes
    j.add("one backward pass", passes == 1, weight=0.25, core=False,
          misconception="no_autograd" if passes == 0 else "backward_not_once",
          detail=f"`weighted_sensitivity` ran {passes} reverse passes; step 3 asks for `out.backward(v)` once.")


# ------------------------------------------------------------------ linear_vjp

@rubric("linear_vjp")
def judge_linear_vjp(j):
    A, v = j.inputs["A"], j.inputs["v"]
    expected = A.t() @ v
    call = j.call()
    if call is None:
        return
    candidates = [candidate("upstream_ignored", A.t() @ torch.ones_like(v), v="v")]
    if A.shape[0] == A.shape[1]:
        candidates.insert(0, candidate("jv_instead_of_vjp", A @ v))
    j.tensor(call.value, expected, candidates=candidates, shape_hint="Aᵀv has the shape of x",
                  shape_candidates=[("wrong_values", (A.shape[0],),
                                     {"message": "That is the shape of y = A x: did you return y, or A v?"})])
    method.record(j, method.linear_vjp(call, A.shape[0]), "obtained through an autograd pass, J never formed")
    j.untouched()
