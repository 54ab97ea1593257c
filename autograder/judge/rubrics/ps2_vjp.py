"""Rubrics for ps2_vjp: vector–Jacobian products and upstream vectors."""

from __future__ import annotations

import torch

from autograder.probe import library as lib

from .. import method
from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import close, describe
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, TensorValue
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
    Misconception("formed_jacobian", "formed the Jacobian to get a VJP",
                  "your function formed the Jacobian J (every row of it: one reverse pass per row, or one batched "
                  "pass such as `torch.func.jacrev`) to get vᵀJ. A vector–Jacobian product needs one pass with v "
                  "as the upstream vector, `y.backward(v)`, without ever forming J."),
)


def _vjp_candidates(f, x, v, expected):
    out = rm.value(f, x)
    J = lambda: rm.jacobian(f, x).reshape(out.numel(), x.numel())
    found = [
        candidate("upstream_ignored", lambda: rm.vjp(f, x, torch.ones_like(out)), v="v"),
        candidate("mean_instead_of_sum", lambda: expected / out.numel(), n=out.numel()),
    ]
    if out.numel() == x.numel():
        found.insert(0, candidate("jv_instead_of_vjp", lambda: (J() @ v.reshape(-1)).reshape(x.shape)))
    return found, out


def _judge_vjp_value(j, call, label="values"):
    f, x, v = j.inputs["f"], j.inputs["x"], j.inputs["v"]
    expected = rm.vjp(f, x, v)
    candidates, out = _vjp_candidates(f, x, v, expected)
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


@rubric("weighted_sensitivity")
def judge_weighted_sensitivity(j):
    dtype = _default_dtype(j)
    weights = j.inputs["stand_in"].weights.to(dtype)
    inp, graph = lib.tutorial_input(dtype), lib.CubeTransposed()    # the graph weighted_sensitivity builds
    expected_grad = rm.vjp(graph, inp, weights)
    call = j.call()
    if call is None:
        return
    pair = j.unpack(call.value, 2, what="`weighted_sensitivity`")
    if pair is None:
        return
    v_ret, grad = pair
    used_stand_in = j.tensor(v_ret, weights, label="returns the v that weighted_upstream(out) gave",
                             what="the returned v", generic=False)
    if not used_stand_in:
        j.explain_last("`weighted_sensitivity` must build v by calling `weighted_upstream(out)` (the grader "
                       "swapped in a known-good version for this check).")
    own_v = v_ret.tensor if isinstance(v_ret, TensorValue) and v_ret.tensor is not None else None
    if (not used_stand_in and own_v is not None and tuple(own_v.shape) == (5, 4)
            and isinstance(grad, TensorValue) and grad.tensor is not None
            and close(grad.tensor.to(dtype), rm.vjp(graph, inp, own_v.to(dtype)))):
        j.add("inp.grad = vᵀJ for the returned v", True)
    else:
        j.tensor(grad, expected_grad, label="inp.grad = vᵀJ for the returned v", what="the returned inp.grad",
                 shape_hint="inp.grad has the shape of inp, (4, 5)",
                 candidates=[candidate("upstream_ignored", lambda: rm.vjp(graph, inp, torch.ones_like(weights)), v="v"),
                             candidate("accumulated_twice", 2 * expected_grad)])
    again = j.call("again", what="second call")
    if again is not None:
        second = j.unpack(again.value, 2, what="the second call")
        if second is not None:
            j.tensor(second[1], expected_grad, label="a second call gives the same inp.grad",
                     what="the second call's inp.grad",
                     candidates=[candidate("accumulated_twice", 2 * expected_grad)])
    calls = j.obs.observed.get("stand_in_calls")
    n = calls.value if isinstance(calls, OtherValue) and calls.kind == "int" else None
    j.add("calls weighted_upstream exactly once", n == 1, weight=0.25, core=False, misconception="wrong_values",
          detail=f"`weighted_upstream` was called {n} times during one `weighted_sensitivity()` call; once is "
                 "enough.")


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
