"""Rubrics for ps3_accumulation: gradient accumulation, zeroing, and fresh gradients."""

from __future__ import annotations

import torch

from autograder.probe import library as lib

from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import close, fmt_shape
from ..diagnosis import ExtraPass
from ..judgement import ErrorRule, register_errors
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, SequenceValue, TensorValue
from ..torch_errors import explain_error
from . import rubric

mc.register(
    Misconception("out_shaped_result", "result shaped like out instead of inp",
                  "your result has the shape of `out`, (5, 4). The gradient is stored on the leaf: "
                  "`inp.grad` has the shape of `inp`, (4, 5). Return it as it is, without transposing."),
    Misconception("grad_kept_across_calls", "leaf reused across calls",
                  "your result includes the gradients of earlier calls of your function: `inp` lives outside "
                  "the function (a global), so its `.grad` kept accumulating from one call to the next. Build "
                  "`inp` inside the function, so that every call starts from a fresh leaf."),
    Misconception("accumulated_across_calls", "gradient accumulated across calls",
                  "your result includes the gradients of your function's earlier calls: `.grad` kept "
                  "accumulating from one call to the next. Clear it at the start of every call "
                  "(`inp.grad = None`), or use `torch.autograd.grad`, which never writes into `.grad`."),
    Misconception("grad_none_not_checked", ".grad None not handled",
                  "`.grad` is None until a backward pass has written into it (and again after `t.grad = None`), "
                  "so `t.grad.zero_()` fails there. Check `if t.grad is not None:` first, or simply set "
                  "`t.grad = None`."),
    Misconception("mean_over_batches", "averaged over the batches instead of summing",
                  "your result is the accumulated gradient divided by the number of batches ({n}): the exercise "
                  "asks for the gradient of the *sum* Σ_b loss_fn(w, b), which is what one backward pass per "
                  "batch accumulates. (Dividing each loss by the number of batches is common in training, but "
                  "it is not this function's contract.)"),
    Misconception("merged_batches", "merged the batches into one",
                  "you evaluated `loss_fn` once on all batches merged together. `loss_fn(w, batch)` need not be "
                  "additive over samples (this one averages over its batch), so the gradient of "
                  "Σ_b loss_fn(w, b) must be accumulated batch by batch."),
    Misconception("stale_grad_left", "stale .grad left in place",
                  "the returned gradient is right, but afterwards `w.grad` still holds the stale gradient from "
                  "before the call. Discard it: set `w.grad = None` before accumulating (or after computing "
                  "the gradient functionally)."),
    Misconception("only_first_cleared", "only the first tensor cleared",
                  "only the first tensor's `.grad` was cleared; the others still hold their gradients. Does "
                  "the loop `return` (or `break`) after the first tensor?"),
    Misconception("iterated_twice", "iterated a generator twice",
                  "with a list your function clears every gradient, with a generator it does not: a generator "
                  "(like `model.parameters()`) can be iterated only once, and your function went through it "
                  "more than once, so a later pass saw few or no tensors. Loop over it once, or make a list "
                  "first (`tensors = list(tensors)`)."),
    Misconception("multiplied_by_zero", "cleared by arithmetic (inf · 0 = NaN)",
                  "a gradient that held ±inf became NaN: `grad * 0` (or `grad - grad`) is not zero when a "
                  "gradient overflowed, because inf · 0 = NaN. Use `t.grad.zero_()` or `t.grad = None`, which "
                  "reset a gradient whatever it holds."),
    Misconception("zeroed_between_calls", "zeroed .grad where accumulation was asked for",
                  "your result is what a single backward pass gives: `.grad` was reset between the calls, "
                  "so the accumulation this exercise demonstrates never happened."),
    Misconception("wrong_pass_count", "wrong number of backward passes",
                  "your result is {k}× a single pass where {n}× was expected: the number of backward calls "
                  "is off."),
    Misconception("only_last_batch", "only the last batch kept",
                  "only the last batch's gradient is left: the gradient was reset (or overwritten) inside "
                  "the loop instead of accumulating over all batches."),
    Misconception("only_first_batch", "only the first batch used",
                  "your result is the gradient of the first batch only: every batch must add its gradient."),
    Misconception("local_rebinding", "rebound a local name instead of clearing .grad",
                  "the gradients were not cleared: assigning a new tensor to a local name does not change "
                  "`t.grad`. Use `t.grad.zero_()` or set `t.grad = None` on the tensor itself."),
    Misconception("zeroed_values", "zeroed the values instead of the gradients",
                  "the tensors' *values* changed: `zero_grads` must clear `.grad` and leave the data alone."),
    Misconception("grads_not_cleared", "gradients not cleared",
                  "after your function ran, {which} still had a non-zero `.grad`."),
)


def _after_the_error(error, function: str, text: str) -> str:
    """The shared explanation of the error, then this assignment's diagnosis."""
    return f"{explain_error(error, function)[1].rstrip('.')}. {text}"


# Errors this assignment's mistakes raise that the shared table in torch_errors does not name: the crash
# of ``t.grad.zero_()`` on a ``.grad`` that is None, and the assignment of a gradient of another dtype,
# in the functions that clear ``.grad`` themselves.
_CLEARING = ("accumulate_minibatches", "zero_grads", "fresh_vjp")
register_errors(
    __name__,
    ErrorRule(r"'NoneType' object has no attribute", "grad_none_not_checked", functions=_CLEARING,
              explain=_after_the_error),
    ErrorRule(r"assign(ed)? (a )?grad(ient)? .*(dtype|different type)", "mixed_dtypes", functions=_CLEARING,
              explain=_after_the_error),
)


def _tensor_of(value) -> torch.Tensor | None:
    return value.tensor if isinstance(value, TensorValue) and value.tensor is not None else None


def _values_untouched(j, names, *, weight: float = 0.5, label: str | None = None) -> bool:
    """Values and ``requires_grad`` of the named tensor inputs unchanged (their ``.grad`` may change)."""
    for name in names:
        before, after = j.obs.inputs_before.get(name), j.obs.inputs_after.get(name)
        if not isinstance(before, TensorValue) or not isinstance(after, TensorValue):
            continue
        change = None
        if before.requires_grad != after.requires_grad:
            change = "it " + ("now requires grad" if after.requires_grad else "no longer requires grad")
        elif before.shape != after.shape:
            change = "its shape changed"
        elif before.tensor is not None and after.tensor is not None and not torch.equal(before.tensor,
                                                                                        after.tensor):
            change = "its values changed in place"
        if change:
            return j.add(label or f"leaves the values of {', '.join(names)} untouched", False, weight=weight,
                         core=False, misconception="modified_input",
                         detail=mc.message("modified_input", name=name, change=change))
    return j.add(label or f"leaves the values of {', '.join(names)} untouched", True, weight=weight, core=False)


def _observed_tensor(j, name: str) -> TensorValue | None:
    value = j.obs.observed.get(name)
    return value if isinstance(value, TensorValue) and value.tensor is not None else None


def _unchanged_later(j, call, label: str, detail: str, *, weight: float = 1.0, core: bool = True) -> None:
    """The first call's result, observed again after the later calls, must be the same tensor values."""
    later = _observed_tensor(j, "result_later")
    first = _tensor_of(call.value)
    if later is None or first is None:
        return
    same = later.tensor.shape == first.shape and torch.equal(later.tensor, first)
    j.add(label, same, weight=weight, core=core, misconception="alias_of_grad", detail=detail)


# ------------------------------------------------------------------ backward_n_times

def _default_dtype(j) -> torch.dtype:
    name = j.obs.observed.get("default_dtype")
    if isinstance(name, OtherValue) and name.value in ("float32", "float64", "float16", "bfloat16"):
        return getattr(torch, name.value)
    return torch.float32


def _one_pass(dtype: torch.dtype) -> torch.Tensor:
    """inp.grad after one ``out.backward(torch.ones_like(out))`` through the tutorial's graph."""
    inp, graph = lib.tutorial_input(dtype), lib.SquareTransposed()
    return rm.vjp(graph, inp, torch.ones_like(rm.value(graph, inp)))


def _judge_n(j, call, n: int, *, label: str, what: str = "your result", extra_candidates=()) -> bool:
    dtype = _default_dtype(j)
    single = _one_pass(dtype)
    expected = n * single
    value = call.value
    if isinstance(value, OtherValue) and value.kind == "none":
        return j.fail(label, "non_leaf_grad_none",
                      "`backward_n_times` returned None. Return `inp.grad`, the gradient accumulated on the "
                      "leaf; `out.grad` is None because `out` is not a leaf.", primary=True)
    candidates = list(extra_candidates)
    miscounted = [candidate("wrong_pass_count", k * single, k=k, n=n) for k in (n - 1, n + 1) if k >= 1]
    if n > 1 and call.reverse_passes == n:      # n passes that left one pass's worth: reset in between
        candidates.append(candidate("zeroed_between_calls", single))
    candidates += miscounted
    name = str(dtype).replace("torch.", "")
    return j.tensor(value, expected, label=label, what=what, candidates=candidates,
                    shape_hint="inp.grad has the shape of inp, (4, 5)",
                    shape_candidates=[("out_shaped_result", (5, 4), {})],
                    dtype_hint=f"`torch.eye(4, 5, requires_grad=True)` has the default dtype ({name}): build "
                               "inp exactly like that and return its `.grad`.")


def _pass_count(j, call, n: int, *, label: str = "runs n backward passes") -> None:
    """At least n reverse passes (backward / autograd.grad calls) for the n-fold gradient: fewer means it was
    scaled by a formula. More only matter when they change the result, which the value check sees (a pass for
    a printout does not)."""
    passes = call.reverse_passes
    if passes >= n:
        j.add(label, True, weight=0.25, core=False)
    elif passes == 0:
        j.add(label, False, weight=0.25, core=False, misconception="no_autograd",
              detail=f"your function ran no backward pass for n = {n}: the result must be what n calls of "
                     "`out.backward(...)` leave in `inp.grad`, not a formula.")
    else:
        j.add(label, False, weight=0.25, core=False, misconception="wrong_pass_count",
              detail=f"your function ran {passes} reverse pass{'es' if passes != 1 else ''} (backward or "
                     f"`torch.autograd.grad` calls) for n = {n}; call "
                     "`out.backward(...)` exactly n times.")


@rubric("backward_n_times")
def judge_backward_n_times(j):
    n = j.inputs["n"]
    call = j.call()
    if call is None:
        return
    _judge_n(j, call, n, label=f"inp.grad after {n} backward call{'s' if n > 1 else ''}")
    _pass_count(j, call, n)


@rubric("backward_n_times.repeated")
def judge_backward_n_times_repeated(j):
    n, n_again = j.inputs["n"], j.inputs["n_again"]
    call = j.call()
    if call is None:
        return
    _judge_n(j, call, n, label=f"first call (n = {n})")
    again = j.call("again", what=f"second call (n = {n_again})")
    if again is not None:
        single = _one_pass(_default_dtype(j))
        kept = [candidate("grad_kept_across_calls", (n + n_again) * single)]
        first = _tensor_of(call.value)
        if first is not None and tuple(first.shape) == (4, 5):
            # whatever the first call returned, the second holding n_again more passes on top of it means
            # the leaf (and its .grad) survived from one call to the next
            kept.insert(0, candidate("grad_kept_across_calls", lambda: first.to(single.dtype) + n_again * single))
        _judge_n(j, again, n_again, label=f"second call (n = {n_again}) starts from a fresh inp",
                 what="the second call's result", extra_candidates=kept)
        _unchanged_later(j, call, "the first result is unchanged by the second call",
                         "the tensor returned by the first call changed when the function ran again: it is the "
                         "`.grad` of a leaf that the second call wrote into (a global `inp`?). Build `inp` "
                         "inside the function.", weight=0.5, core=False)


# ------------------------------------------------------------------ accumulate_minibatches

def _merged(batches):
    first = batches[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(list(batches))
    return tuple(torch.cat([b[i] for b in batches]) for i in range(len(first)))


def _minibatch_refs(j):
    loss_fn, w, batches = j.inputs["loss_fn"], j.inputs["w"], list(j.inputs["batches"])
    w0 = w.detach()
    total = rm.gradient(lambda p: sum(loss_fn(p, b) for b in batches), w0)
    per = [rm.gradient(lambda p, b=b: loss_fn(p, b), w0) for b in batches]
    stale = w.grad.detach() if w.grad is not None else None
    return loss_fn, w0, batches, total, per, stale


def _minibatch_candidates(loss_fn, w0, batches, total, per, stale):
    found = []
    if stale is not None:
        found.append(candidate("stale_grad_included", stale + total))
    n = len(batches)
    found += [
        candidate("only_last_batch", per[-1]),
        candidate("only_first_batch", per[0]),
        candidate("mean_over_batches", total / n, n=n),
        candidate("merged_batches", lambda: rm.gradient(lambda p: loss_fn(p, _merged(batches)), w0)),
    ]
    if stale is not None:
        found.append(candidate("stale_grad_included", stale + total / n))
    return found


def _grad_afterwards(j, total, stale, returned=None, *, weight: float = 0.5) -> None:
    """w.grad after the call: the accumulated gradient or None. When it merely repeats a wrong returned
    value, the mistake has been named already and is not counted twice."""
    label = "afterwards w.grad holds the accumulated gradient (or is None)"
    after = j.obs.inputs_after.get("w")
    grad = after.grad if isinstance(after, TensorValue) else None
    if grad is None:
        j.add(label, True, weight=weight)
        return
    g = grad.tensor
    if g is not None and tuple(g.shape) == tuple(total.shape) and close(g, total):
        j.add(label, True, weight=weight)
        return
    r = _tensor_of(returned)
    if (g is not None and r is not None and tuple(r.shape) == tuple(g.shape) and r.dtype == g.dtype
            and close(r, g) and not close(r, total)):
        return
    if g is not None and stale is not None and tuple(g.shape) == tuple(stale.shape) and close(g, stale):
        j.fail(label, "stale_grad_left", weight=weight)
    elif g is not None and stale is not None and tuple(g.shape) == tuple(stale.shape) and close(g, stale + total):
        j.fail(label, "stale_grad_included", weight=weight,
               detail="afterwards `w.grad` holds the stale gradient *plus* the accumulated one. "
                      + mc.message("stale_grad_included"))
    elif g is not None and bool((g == 0).all()):
        j.fail(label, "wrong_values", weight=weight,
               message="afterwards `w.grad` is all zeros. Leave the accumulated gradient in `w.grad` (as "
                       "backward per batch does, ready for `optimizer.step()`), or set it to None.")
    else:
        j.fail(label, "wrong_values", weight=weight,
               message=f"afterwards `w.grad` (shape {fmt_shape(grad.shape)}) is neither the accumulated gradient "
                       "nor None.")


@rubric("accumulate_minibatches")
def judge_accumulate_minibatches(j):
    loss_fn, w0, batches, total, per, stale = _minibatch_refs(j)
    call = j.call()
    if call is None:
        return
    j.tensor(call.value, total, label="accumulated gradient", what="the returned gradient",
             candidates=_minibatch_candidates(loss_fn, w0, batches, total, per, stale),
             shape_hint="the gradient has the shape of w", dtype_hint="Keep w's dtype.")
    _grad_afterwards(j, total, stale, call.value)
    _values_untouched(j, ["w"])
    j.untouched(["batches"], weight=0.25, label="leaves the batches untouched")


@rubric("accumulate_minibatches.repeated")
def judge_accumulate_minibatches_repeated(j):
    loss_fn, w0, batches, total, per, stale = _minibatch_refs(j)
    call = j.call()
    if call is None:
        return
    j.tensor(call.value, total, label="first call", what="the first call's gradient",
             candidates=_minibatch_candidates(loss_fn, w0, batches, total, per, stale),
             shape_hint="the gradient has the shape of w", dtype_hint="Keep w's dtype.")
    again = j.call("again", what="second call")
    if again is not None:
        j.tensor(again.value, total, label="second call: the first call's w.grad is discarded",
                 what="the second call's gradient",
                 candidates=[candidate("stale_grad_included", 2 * total),
                             *_minibatch_candidates(loss_fn, w0, batches, total, per, None)])
    _grad_afterwards(j, total, total, again.value if again is not None else None)
    _values_untouched(j, ["w"])


# ------------------------------------------------------------------ zero_grads

def _items(j, name: str, which: str = "inputs_before") -> list:
    value = getattr(j.obs, which).get(name)
    return list(value.items) if isinstance(value, SequenceValue) else []


def _cleared(t: TensorValue) -> bool:
    grad = t.grad
    if grad is None:
        return True
    return grad.tensor is not None and bool((grad.tensor == 0).all())


def _same_grad(before: TensorValue, after: TensorValue) -> bool:
    b, a = before.grad, after.grad
    if b is None or a is None or b.tensor is None or a.tensor is None:
        return False
    return b.tensor.shape == a.tensor.shape and torch.equal(b.tensor, a.tensor)


def _all_cleared(j, name: str) -> bool:
    after = _items(j, name, "inputs_after")
    return bool(after) and all(isinstance(t, TensorValue) and _cleared(t) for t in after)


@rubric("zero_grads")
def judge_zero_grads(j):
    call = j.call()
    if call is None:
        return
    before, after = _items(j, "tensors"), _items(j, "tensors", "inputs_after")
    pairs = [(i, b, a) for i, (b, a) in enumerate(zip(before, after, strict=False))
             if isinstance(b, TensorValue) and isinstance(a, TensorValue)]

    changed = []
    for i, b, a in pairs:
        if b.requires_grad != a.requires_grad:
            changed.append((i, "it " + ("now requires grad" if a.requires_grad else "no longer requires grad")))
        elif b.tensor is not None and a.tensor is not None and not torch.equal(b.tensor, a.tensor):
            changed.append((i, "its values changed in place"))
    zeroed = [i for i, b, a in pairs if a.tensor is not None and b.tensor is not None
              and bool((a.tensor == 0).all()) and not bool((b.tensor == 0).all())]

    # Destroying the tensors' data is never partly right: it fails the whole check. Untouched values earn
    # nothing by themselves (a function that does nothing leaves them untouched too).
    label_values = "values and requires_grad untouched"
    if not changed:
        j.add(label_values, True, weight=0.25, core=False)
    elif zeroed:
        j.fail(label_values, "zeroed_values", hard=True)
    else:
        i, change = changed[0]
        j.fail(label_values, "modified_input", hard=True, name=f"tensors[{i}]", change=change)

    label = "every .grad is None or all zeros afterwards"
    left = [i for i, b, a in pairs if not _cleared(a)]
    if not left:
        j.add(label, True)
        return
    with_grad = [i for i, b, a in pairs if b.grad is not None]
    unchanged = {i for i, b, a in pairs if _same_grad(b, a)}
    nan = any(a.grad is not None and a.grad.tensor is not None and bool(torch.isnan(a.grad.tensor).any())
              for i, b, a in pairs if i in left)
    which = ", ".join(f"the tensor at position {i}" for i in left[:3]) + (" and more" if len(left) > 3 else "")
    if nan:
        j.fail(label, "multiplied_by_zero")
    elif zeroed:
        j.fail(label, "zeroed_values")
    elif "as_list" in j.obs.calls and j.obs.calls["as_list"].ok and _all_cleared(j, "twin"):
        j.fail(label, "iterated_twice")
    elif (len(with_grad) >= 2 and with_grad[0] not in left
          and all(i in unchanged for i in with_grad[1:])):
        j.fail(label, "only_first_cleared")
    elif with_grad and all(i in unchanged for i in with_grad):
        j.fail(label, "local_rebinding")
    else:
        j.fail(label, "grads_not_cleared", which=which)


# ------------------------------------------------------------------ fresh_vjp

def _fresh_refs(j):
    f, inp, v, v_again = j.inputs["f"], j.inputs["inp"], j.inputs["v"], j.inputs["v_again"]
    x0 = inp.detach()
    e1, e2 = rm.vjp(f, x0, v), rm.vjp(f, x0, v_again)
    ones = rm.vjp(f, x0, torch.ones_like(v))
    stale = inp.grad.detach() if inp.grad is not None else None
    return e1, e2, ones, stale


def _judge_fresh(j, *, full: bool):
    """full: result (v), again (v), other_v (another v), then the graph check; otherwise result, other_v."""
    e1, e2, ones, stale = _fresh_refs(j)
    s = stale if stale is not None else torch.zeros_like(e1)
    hints = {"shape_hint": "vᵀJ has the shape of inp", "dtype_hint": "Keep inp's dtype."}
    call = j.call()
    if call is None:
        return
    f, inp, v = j.inputs["f"], j.inputs["inp"], j.inputs["v"]
    J = lambda: rm.jacobian(f, inp.detach()).reshape(v.numel(), inp.numel())
    first = [candidate("upstream_ignored", ones, v="v")]
    if stale is not None:
        first = [candidate("stale_grad_included", s + e1), *first,
                 candidate("upstream_ignored", s + ones, v="v")]
    first.append(ExtraPass(J, passes=call.reverse_passes))
    ok = j.tensor(call.value, e1, label="first call", what="the first call's result", candidates=first, **hints)
    again = None
    if full:
        again = j.call("again", what="second call with the same v")
        if again is not None:
            j.tensor(again.value, e1, label="second call with the same v: the same answer",
                     what="the second call's result",
                     candidates=[candidate("accumulated_across_calls", 2 * e1),
                                 candidate("accumulated_across_calls", s + 2 * e1),
                                 candidate("stale_grad_included", s + e1),
                                 candidate("upstream_ignored", ones, v="v")], **hints)
    other = j.call("other_v", what="a call with another v")
    if other is not None:
        earlier = 2 * e1 if full else e1
        j.tensor(other.value, e2, label="a call with another v", what="that call's result",
                 candidates=[candidate("accumulated_across_calls", earlier + e2),
                             candidate("accumulated_across_calls", s + earlier + e2),
                             candidate("accumulated_across_calls", e1 + e2),
                             candidate("stale_grad_included", s + e2),
                             candidate("upstream_ignored", ones, v="v")], **hints)
    if ok:
        _unchanged_later(j, call, "the first result is unchanged by later calls",
                         mc.message("alias_of_grad"))
    if full and again is not None and other is not None:
        usable = j.obs.observed.get("graph_usable")
        j.add("the graph is still usable after the calls", isinstance(usable, OtherValue) and usable.value is True,
              weight=0.5, misconception="missing_retain_graph",
              detail="after your function ran, a further pass through the caller's graph "
                     "(`torch.autograd.grad(out, inp, v)`) failed: your function freed it. Pass "
                     "`retain_graph=True`: the graph belongs to the caller.")
    _values_untouched(j, ["inp", "out"], label="leaves the values of out and inp untouched")
    j.untouched(["v", "v_again"], weight=0.25, label="leaves v untouched")


@rubric("fresh_vjp")
def judge_fresh_vjp(j):
    _judge_fresh(j, full=True)


@rubric("fresh_vjp.visible")
def judge_fresh_vjp_visible(j):
    _judge_fresh(j, full=False)
