"""Rubrics for ps6_training: gradients of a model's parameters, training steps, large-batch accumulation and
gradient checkpointing.

The judge rebuilds each scenario's model and optimizer from its seed and trains them with its own code: the
right procedure and, for the wrong answers, each mistaken procedure (``_VARIANTS``), so a student's parameters
after every call are compared with what each order of ``zero_grad`` / ``backward`` / ``step`` would give.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import torch

from autograder.probe.monitors import SavedTensors
from autograder.probe.scenario import all_suites

from .. import misconceptions as mc
from ..compare import close, describe, fmt_shape
from ..judgement import ErrorRule, register_errors
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, SequenceValue, TensorValue
from . import rubric

mc.register(
    # ---------------------------------------------------------------- parameter_grads
    Misconception("grads_not_by_name", "gradients not keyed by parameter name",
                  "return a dict that maps each parameter's name, as `model.named_parameters()` gives it "
                  "(e.g. `'0.weight'`), to its gradient."),
    Misconception("frozen_param_listed", "frozen parameter listed",
                  "your dict has an entry for a frozen parameter (`requires_grad=False`): it gets no gradient "
                  "and must be left out. Keep only the parameters with `p.requires_grad`."),
    Misconception("grads_cleared_before_read", "gradients cleared before they were read",
                  "the gradients were cleared (`zero_grad()`) after the backward pass and before you read "
                  "them: clear `.grad` *before* `loss.backward()`, then read `p.grad`."),
    Misconception("returned_parameters", "returned the parameters instead of their gradients",
                  "you returned the parameters' values, not their gradients: read `p.grad` after the backward "
                  "pass."),
    Misconception("stale_grads_left", "stale .grad left on the parameters",
                  "the returned gradients are right, but afterwards some parameter's `.grad` still holds the "
                  "stale gradient from before the call. Clear it (`model.zero_grad()`) before your backward "
                  "pass, or set `p.grad = None` when you compute the gradients with `torch.autograd.grad`."),
    Misconception("several_backward_passes", "one backward pass per parameter",
                  "your function ran {k} reverse passes: one `loss.backward()` (or one `torch.autograd.grad` "
                  "over all the parameters) gives the gradient of every parameter at once. That is why reverse "
                  "mode suits networks: one scalar loss, one pass, however many parameters."),
    Misconception("grads_accumulated_across_calls", "gradient accumulated across calls",
                  "the second call's gradients include the first call's: `.grad` kept accumulating from one "
                  "call to the next. Clear the gradients at the start of every call."),
    # ---------------------------------------------------------------- train_step / accumulated_step
    Misconception("zero_grad_after_step", "zero_grad() after step() instead of before backward()",
                  "your step used the gradient that was in `.grad` before the call as well as this batch's: "
                  "`zero_grad()` ran after `step()`, so the first step of a loop (or any step after other "
                  "code left a gradient) adds a stale one. Clear first: `zero_grad()`, forward, `backward()`, "
                  "`step()`."),
    Misconception("never_zeroed", "gradients never zeroed",
                  "your step used the sum of this batch's gradient and every earlier one: `.grad` is never "
                  "cleared, so gradients accumulate from step to step (and a stale gradient from before the "
                  "first call is included). Call `optimizer.zero_grad()` before `loss.backward()`."),
    Misconception("stepped_twice", "optimizer.step() called twice",
                  "your function updated the parameters twice per call: call `optimizer.step()` once."),
    Misconception("manual_sgd_update", "plain SGD update instead of optimizer.step()",
                  "your update is plain gradient descent p ← p − lr·∇p: the optimizer's own rule (momentum, "
                  "Adam's moments, weight decay) was bypassed. Let `optimizer.step()` update the parameters."),
    Misconception("no_update", "parameters never updated",
                  "the parameters did not change: `optimizer.step()` found no gradient in `.grad` (it ran "
                  "before `backward()`, or `zero_grad()` ran between `backward()` and `step()`), or it was "
                  "never called."),
    Misconception("step_before_backward", "optimizer.step() before loss.backward()",
                  "`optimizer.step()` changed the parameters in place before `loss.backward()` ran, so the "
                  "backward pass found the values it had saved modified. The order is `zero_grad()`, forward, "
                  "`backward()`, `step()`."),
    Misconception("loss_after_step", "returned the loss after the update",
                  "the returned loss is the loss *after* the update: return the loss of the batch computed "
                  "by this step's forward pass, before `step()`."),
    Misconception("loss_kept_graph", "returned the loss tensor with its graph",
                  "you returned the loss tensor itself: it requires grad and keeps the whole graph of the "
                  "step (every saved activation) alive for as long as the caller holds it. Return "
                  "`loss.item()`, a Python float."),
    Misconception("summed_micro_losses", "micro-batch losses summed, not averaged",
                  "your update is that of the *sum* of the micro-batch losses: each `loss_fn` already averages "
                  "over its micro-batch, so summing k of them makes the gradient about k times too large. "
                  "Weight each micro-batch's loss by its share of the samples, len(X_i) / N."),
    Misconception("equal_weights", "micro-batches weighted equally despite unequal sizes",
                  "you divided every micro-batch loss by the number of micro-batches: that is the big-batch "
                  "mean only when all micro-batches have the same size. Weight each one by len(X_i) / N, "
                  "with N the total number of samples."),
    Misconception("zeroed_in_loop", "gradients zeroed inside the accumulation loop",
                  "only the last micro-batch's gradient reached the update: `zero_grad()` ran inside the loop "
                  "and erased what the earlier micro-batches had accumulated. Clear once, before the loop."),
    Misconception("merged_micro_batches", "all micro-batches in memory at once",
                  "your update is right, but your function ran {passes} backward pass{es} for {k} micro-batches: "
                  "the micro-batches were concatenated, or their losses summed into one before a single "
                  "backward, so the graphs (and saved activations) of all of them were in memory at once, which "
                  "is what accumulation avoids. Run `backward()` once per micro-batch and let `.grad` add up."),
    Misconception("stepped_in_loop", "a step per micro-batch",
                  "your function made one optimizer step per micro-batch: that is several small steps, not "
                  "the one big-batch step. Accumulate the gradients of all micro-batches, then call "
                  "`optimizer.step()` once."),
    # ---------------------------------------------------------------- checkpointed_forward
    Misconception("not_checkpointed", "activations stored as in a plain forward",
                  "your forward pass left as many saved activations for backward ({kept} bytes) as the plain "
                  "forward ({plain} bytes): nothing was recomputed. Run each block through "
                  "`torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)` and use its output."),
    Misconception("saved_hooks_tampered", "the measurement of saved activations bypassed",
                  "the grader could not measure the activations your forward pass saves for backward: the "
                  "saved-tensor hooks that count them were removed, replaced or bypassed while it ran. Leave "
                  "autograd's hooks alone and run each block through "
                  "`torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)`."),
    Misconception("partly_checkpointed", "not every block checkpointed",
                  "your forward pass saves fewer activations than the plain one, but more ({kept} bytes) than "
                  "checkpointing every block needs (the blocks' inputs: {budget} bytes): some block ran "
                  "without a checkpoint."),
    Misconception("reentrant_checkpoint", "reentrant checkpoint with an input that needs no gradient",
                  "your output does not require grad: the reentrant checkpoint (`use_reentrant=True`, the old "
                  "default) only propagates gradients when an *input* requires grad, and `x` (data) does not, "
                  "so the parameters inside the blocks get no gradient. Pass `use_reentrant=False`."),
    Misconception("output_not_differentiable", "output cut from the graph",
                  "your output does not require grad, so no backward pass can reach the parameters: it was "
                  "computed under `torch.no_grad()` or detached. Checkpointing saves memory by recomputing, "
                  "not by switching autograd off."),
    Misconception("detached_between_blocks", "graph cut between blocks",
                  "the gradients of the earlier blocks' parameters{x} did not arrive: the graph was cut "
                  "between blocks (`.detach()`, `.data`, `torch.no_grad()`). Checkpointing keeps the graph "
                  "connected; pass each block's output on as it is."),
    Misconception("blocks_out_of_order", "blocks applied in the wrong order",
                  "your output is the blocks applied in reverse order: apply `blocks[0]` first."),
)

_TRAINING = ("train_step", "accumulated_step")
register_errors(
    __name__,
    ErrorRule(r"modified by an inplace operation", "step_before_backward", functions=_TRAINING),
)

# ------------------------------------------------------------------ reading dicts of tensors


def _key(text: str) -> str:
    """A recorded dict key (the repr of the key) as the name it stands for."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, str) else text


def _named(value: Any) -> dict[str, Any] | None:
    if isinstance(value, SequenceValue) and value.kind == "dict":
        return {_key(k): v for k, v in value.items}
    return None


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors]) if tensors else torch.zeros(0)


def _flat_value(values: list[TensorValue]) -> TensorValue:
    """Several recorded tensors as one flat recorded tensor (in the first one's dtype), for one comparison."""
    dtype = values[0].tensor.dtype
    flat = torch.cat([v.tensor.reshape(-1).to(dtype) for v in values])
    return TensorValue(flat, tuple(flat.shape), values[0].dtype, any(v.requires_grad for v in values), True, None)


def _readable(value: Any) -> bool:
    return isinstance(value, TensorValue) and value.tensor is not None


def _fresh_inputs(j) -> dict:
    """Another copy of the scenario's inputs, rebuilt from its seed (each variant trains its own copy)."""
    for scenarios in all_suites().values():
        for scenario in scenarios:
            if scenario.id == j.obs.scenario:
                return scenario.inputs()
    raise LookupError(j.obs.scenario)


def _params_untouched(j, *, label: str = "leaves the parameters' values and requires_grad untouched") -> None:
    """Values and ``requires_grad`` of every parameter unchanged (their ``.grad`` may change)."""
    before, after = _named(j.obs.inputs_before.get("params")) or {}, _named(j.obs.inputs_after.get("params")) or {}
    for name, b in before.items():
        a = after.get(name)
        if not (_readable(b) and _readable(a)):
            continue
        change = None
        if a.requires_grad != b.requires_grad:
            change = "it " + ("now requires grad" if a.requires_grad else "no longer requires grad")
        elif a.tensor.shape != b.tensor.shape or not torch.equal(a.tensor, b.tensor):
            change = "its values changed"
        if change:
            j.add(label, False, weight=0.5, core=False, misconception="modified_input",
                  detail=mc.message("modified_input", name=f"parameter {name}", change=change))
            return
    j.add(label, True, weight=0.5, core=False)


# ------------------------------------------------------------------ parameter_grads


def _reference_grads(model, loss_fn, batch) -> dict[str, torch.Tensor]:
    """{name: ∂loss/∂p} for every trainable parameter, by ``torch.autograd.grad`` (no ``.grad`` touched)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    X, y = batch
    with torch.enable_grad():
        loss = loss_fn(model(X), y)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return {n: (torch.zeros_like(p) if g is None else g.detach()) for (n, p), g in zip(named, grads, strict=True)}


def _judge_grad_dict(j, value, expected: dict[str, torch.Tensor], *, frozen: set[str], label: str, what: str,
                     candidates: Callable[[], list]) -> tuple[bool, dict | None]:
    """The returned dict against ``expected``: its keys, then all its values as one comparison."""
    got = _named(value)
    if got is None:
        key = "grads_not_by_name" if isinstance(value, SequenceValue) else "wrong_values"
        j.fail(label, key, detail=f"{what} is {describe(value)}; expected a dict {{name: gradient}}. "
               + mc.message("grads_not_by_name"), primary=not j.has_primary)
        return False, None
    missing = [n for n in expected if n not in got]
    if missing:
        j.fail(label, "grads_not_by_name", primary=not j.has_primary,
               detail=f"{what} has no entry for the parameter {missing[0]!r}"
                      f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}. "
                      + mc.message("grads_not_by_name"))
        return False, got
    values = []
    for name, exp in expected.items():
        v = got[name]
        if isinstance(v, OtherValue) and v.kind == "none":
            j.fail(label, "grads_cleared_before_read", primary=not j.has_primary,
                   detail=f"the gradient of {name!r} is None. " + mc.message("grads_cleared_before_read"))
            return False, got
        if not _readable(v) or tuple(v.shape) != tuple(exp.shape):
            shown = describe(v)
            j.fail(label, "wrong_values", primary=not j.has_primary,
                   message=f"the entry {name!r} is {shown}; expected a tensor of shape {fmt_shape(exp.shape)}, "
                           "the shape of the parameter.")
            return False, got
        values.append(v)
    ok = j.tensor(_flat_value(values), _flat(list(expected.values())), label=label,
                  what=f"{what} (all gradients, flattened in parameter order)", candidates=candidates(),
                  dtype_hint="Each gradient has its parameter's dtype.")
    listed = sorted(set(got) & frozen)
    if listed:
        j.fail(f"{label}: no entry for frozen parameters", "frozen_param_listed", weight=0.5)
    return ok, got


def _detached_all(j, got: dict | None) -> None:
    if not got:
        return
    attached = [n for n, v in got.items() if isinstance(v, TensorValue) and v.requires_grad]
    if attached:
        j.add("gradients are detached", False, weight=0.5, core=False, misconception="not_detached",
              detail=f"the gradient of {attached[0]!r} requires grad. " + mc.message("not_detached"))
    else:
        j.add("gradients are detached", True, weight=0.5, core=False)


def _one_pass(j, call, n_params: int) -> None:
    passes = call.reverse_passes
    if passes == 1:
        j.add("one backward pass for all parameters", True, weight=0.5, core=False)
    elif passes == 0:
        j.add("one backward pass for all parameters", False, weight=0.5, core=False, misconception="no_autograd",
              detail="your function ran no backward pass: compute the gradients with autograd.")
    else:
        j.fail("one backward pass for all parameters", "several_backward_passes", weight=0.5, k=passes)
        j.explain_last(f"(This model has {n_params} trainable parameters.)")


def _grads_afterwards(j, expected: dict, stale: dict) -> None:
    """Afterwards each trainable parameter's .grad is None or this call's gradient, never a stale one."""
    after = _named(j.obs.inputs_after.get("params")) or {}
    label = "afterwards every .grad is None or holds this gradient"
    for name, exp in expected.items():
        grad = after.get(name).grad if isinstance(after.get(name), TensorValue) else None
        if grad is None or not _readable(grad) or tuple(grad.shape) != tuple(exp.shape) or close(grad.tensor, exp):
            continue
        s = stale.get(name)
        if s is not None and close(grad.tensor, s):
            j.fail(label, "stale_grads_left", weight=0.5)
        elif s is not None and close(grad.tensor, s + exp):
            j.fail(label, "stale_grad_included", weight=0.5,
                   detail=f"afterwards `.grad` of {name!r} holds the stale gradient plus this one. "
                          + mc.message("stale_grad_included"))
        else:
            j.fail(label, "stale_grads_left", weight=0.5,
                   detail=f"afterwards `.grad` of {name!r} is neither None nor the gradient of this call. "
                          + mc.message("stale_grads_left"))
        return
    j.add(label, True, weight=0.5)


@rubric("parameter_grads")
def judge_parameter_grads(j):
    model, loss_fn = j.inputs["model"], j.inputs["loss_fn"]
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    stale = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    expected = _reference_grads(model, loss_fn, j.inputs["batch"])
    names = list(expected)

    def wrong_answers(previous: dict | None = None):
        def flat(d):
            return _flat([d[n] for n in names])
        found = []
        if stale:
            found.append(candidate("stale_grad_included", flat({n: stale.get(n, 0) + expected[n] for n in names})))
        if previous is not None:
            found.append(candidate("grads_accumulated_across_calls",
                                   flat({n: previous[n] + expected[n] for n in names})))
        found += [candidate("grads_cleared_before_read", torch.zeros_like(flat(expected))),
                  candidate("returned_parameters", flat(params))]
        return found

    call = j.call()
    if call is None:
        return
    ok, got = _judge_grad_dict(j, call.value, expected, frozen=frozen, label="gradients", what="your dict",
                               candidates=wrong_answers)
    _detached_all(j, got)
    _one_pass(j, call, len(names))
    again = None
    if "batch_again" in j.inputs:
        first_expected = expected
        expected = _reference_grads(model, loss_fn, j.inputs["batch_again"])
        again = j.call("again", what="second call (another batch)")
        if again is not None:
            _judge_grad_dict(j, again.value, expected, frozen=frozen, label="second call (another batch)",
                             what="the second call's dict", candidates=lambda: wrong_answers(first_expected))
            later = _named(j.obs.observed.get("result_later"))
            if ok and later is not None and got is not None:
                same = all(_readable(later.get(n)) and _readable(got.get(n))
                           and torch.equal(later[n].tensor, got[n].tensor) for n in names)
                j.add("the first dict is unchanged by the second call", same, weight=0.5, core=False,
                      misconception="alias_of_grad",
                      detail="a gradient your first call returned changed during the second call: you returned "
                             "`p.grad` itself and the second call wrote into it (`zero_()` and backward work in "
                             "place). Return copies (`p.grad.clone()`) or set `p.grad = None` instead of zeroing.")
    if ok:
        _grads_afterwards(j, expected, stale if again is None else {})
    _params_untouched(j)
    j.untouched(["batch"], weight=0.25, label="leaves the batch untouched")


# ------------------------------------------------------------------ training: reference and mistaken procedures


def _batch_loss(model, loss_fn, batch):
    X, y = batch
    return loss_fn(model(X), y)


def _manual_sgd(optimizer) -> None:
    with torch.no_grad():
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p -= group["lr"] * p.grad


def _train_once(model, optimizer, loss_fn, batch, ops: str) -> float:
    """One call of a procedure: Z zero_grad, F forward, B backward, S step, M a plain SGD update."""
    loss = None
    for op in ops:
        if op == "Z":
            optimizer.zero_grad()
        elif op == "F":
            loss = _batch_loss(model, loss_fn, batch)
        elif op == "B":
            loss.backward()
        elif op == "S":
            optimizer.step()
        elif op == "M":
            _manual_sgd(optimizer)
    return float(loss.detach()) if loss is not None else float("nan")


def _cat(micro_batches):
    return tuple(torch.cat([mb[i] for mb in micro_batches]) for i in range(2))


def _accumulate_once(model, optimizer, loss_fn, micro_batches, how: str) -> float:
    """One call of an accumulation procedure (``how``): the reference is a single step on the concatenated batch."""
    sizes = [len(mb[0]) for mb in micro_batches]
    total, k = sum(sizes), len(micro_batches)
    if how == "big-batch":
        return _train_once(model, optimizer, loss_fn, _cat(micro_batches), "ZFBS")
    weights = {"weighted": [n / total for n in sizes], "sum": [1.0] * k, "equal": [1.0 / k] * k}
    scheme, _, mode = how.partition(":")
    w = weights[scheme]
    if mode in ("", "stale"):
        if mode == "":
            optimizer.zero_grad()
        for mb, wi in zip(micro_batches, w, strict=True):
            (wi * _batch_loss(model, loss_fn, mb)).backward()
        optimizer.step()
    elif mode == "zero-in-loop":
        for mb, wi in zip(micro_batches, w, strict=True):
            optimizer.zero_grad()
            (wi * _batch_loss(model, loss_fn, mb)).backward()
        optimizer.step()
    elif mode == "step-in-loop":
        for mb, wi in zip(micro_batches, w, strict=True):
            optimizer.zero_grad()
            (wi * _batch_loss(model, loss_fn, mb)).backward()
            optimizer.step()
    return float("nan")


# misconception -> how one call proceeds (``_train_once`` ops, or ``_accumulate_once`` schemes)
_TRAIN_VARIANTS = [("zero_grad_after_step", "FBSZ"), ("never_zeroed", "FBS"), ("stepped_twice", "ZFBSS"),
                   ("manual_sgd_update", "ZFBM")]
_ACCUMULATE_VARIANTS = [("summed_micro_losses", "sum"), ("equal_weights", "equal"),
                        ("stale_grad_included", "weighted:stale"), ("zeroed_in_loop", "weighted:zero-in-loop"),
                        ("zeroed_in_loop", "equal:zero-in-loop"), ("zeroed_in_loop", "sum:zero-in-loop"),
                        ("stepped_in_loop", "sum:step-in-loop"), ("stepped_in_loop", "equal:step-in-loop"),
                        ("stepped_in_loop", "weighted:step-in-loop"), ("summed_micro_losses", "sum:stale"),
                        ("equal_weights", "equal:stale")]


# (scenario id, group, procedure) -> its trajectory, or the error it raised. A trajectory depends on nothing a
# submission supplies: the scenario's inputs are rebuilt from its seed and the procedure is the judge's own (and
# only the test cell's own scenario ids reach a rubric: ``verdict._read``). So it is computed once per grading
# process, not once per student (≈ 0.17 s a notebook).
_TRAJECTORIES: dict[tuple[str, str, str], tuple[list[torch.Tensor], list[float], list[str]] | str] = {}


def _trajectory(j, group: str, procedure: Callable[[str], Callable], name: str
                ) -> tuple[list[torch.Tensor], list[float], list[str]]:
    """Parameters (flattened) after each call, and each call's loss, of the procedure ``name`` (one call of it:
    ``procedure(name)``) on a fresh copy of the scenario's inputs. Raises if the procedure does."""
    key = (j.obs.scenario, group, name)
    if key not in _TRAJECTORIES:
        try:
            _TRAJECTORIES[key] = _train_fresh(_fresh_inputs(j), group, procedure(name))
        except Exception as exc:  # noqa: BLE001 (kept: every later submission gets the same answer)
            _TRAJECTORIES[key] = f"{type(exc).__name__}: {exc}"
    found = _TRAJECTORIES[key]
    if isinstance(found, str):
        raise RuntimeError(f"the procedure {name!r} failed: {found}")
    params, losses, names = found
    return [p.clone() for p in params], list(losses), list(names)


def _train_fresh(inputs: dict, group: str, run: Callable) -> tuple[list[torch.Tensor], list[float], list[str]]:
    model, optimizer, loss_fn = inputs["model"], inputs["optimizer"], inputs["loss_fn"]
    names = [n for n, _ in model.named_parameters()]
    params, losses = [], []
    with torch.enable_grad():
        for batch in inputs[group]:
            losses.append(run(model, optimizer, loss_fn, batch))
            params.append(_flat([p for _, p in model.named_parameters()]).clone())
    return params, losses, names


def _returned_loss(j, value, expected: float, wrong: list[tuple[str, float]], *, dtype) -> None:
    """The returned loss: a Python number (or a 0-d tensor without a graph) equal to ``expected``."""
    label = "returns the loss of the batch as a float"
    if isinstance(value, TensorValue):
        if value.requires_grad:
            j.fail(label, "loss_kept_graph", weight=0.5)
            return
        number = float(value.tensor.reshape(-1)[0]) if _readable(value) and value.tensor.numel() == 1 else None
    elif isinstance(value, OtherValue) and value.kind in ("float", "int"):
        number = float(value.value)
    else:
        number = None
    if number is None:
        j.fail(label, "wrong_values", weight=0.5,
               message=f"your function returned {describe(value)}; expected the loss as a Python float "
                       "(`loss.item()`).")
        return
    as_tensor = torch.tensor([number], dtype=torch.float64)
    if close(as_tensor, torch.tensor([expected], dtype=torch.float64), dtype=dtype):
        j.add(label, True, weight=0.5)
        return
    for key, other in wrong:
        if close(as_tensor, torch.tensor([other], dtype=torch.float64), dtype=dtype):
            j.fail(label, key, weight=0.5)
            return
    j.fail(label, "wrong_values", weight=0.5, message="the returned loss is not the loss of the batch before "
                                                      "the update.")


def _flat_observed(j, name: str, names: list[str]) -> TensorValue | Any:
    got = _named(j.obs.observed.get(name))
    if got is None or any(not _readable(got.get(n)) for n in names):
        return j.obs.observed.get(name)
    return _flat_value([got[n] for n in names])


def _judge_training(j, group: str, procedure: Callable[[str], Callable], correct: str,
                    variants: list[tuple[str, str]], loss_wrong, passes_per_batch: bool = False) -> None:
    """``procedure(name)`` runs one call of the procedure ``name``: ``correct``'s, or a misconception's."""
    expected, losses, names = _trajectory(j, group, procedure, correct)
    initial = _flat([p for _, p in j.inputs["model"].named_parameters()])
    wrong = []
    for key, how in variants:
        try:
            wrong.append((key, _trajectory(j, group, procedure, how)))
        except Exception:    # a mistaken procedure that raises has no wrong answer to match (an error rule names it)
            continue
    dtype = initial.dtype
    for k in range(1, len(expected) + 1):
        label = "result" if k == 1 else f"step{k}"
        call = j.call(label, what=f"call {k}")
        if call is None:
            return
        candidates = [candidate(key, params[k - 1]) for key, (params, _, _) in wrong]
        candidates.append(candidate("no_update", initial))
        j.tensor(_flat_observed(j, f"params_{k}", names), expected[k - 1], label=f"parameters after call {k}",
                 what=f"the parameters after call {k} (flattened in named_parameters order)",
                 candidates=candidates)
        if k == 1:
            _returned_loss(j, call.value, losses[0], loss_wrong(j), dtype=dtype)
            if passes_per_batch:
                _pass_per_micro_batch(j, call, len(j.inputs[group][0]))
    j.untouched([group], weight=0.25, label="leaves the batches untouched")


def _pass_per_micro_batch(j, call, k: int) -> None:
    label = "one backward pass per micro-batch"
    if call.reverse_passes >= k:
        j.add(label, True, weight=0.5, core=False)
    else:
        passes = call.reverse_passes
        j.add(label, False, weight=0.5, core=False, misconception="merged_micro_batches",
              detail=mc.message("merged_micro_batches", passes=passes, es="" if passes == 1 else "es", k=k))


def _loss_after_step(j) -> list[tuple[str, float]]:
    inputs = _fresh_inputs(j)
    model, optimizer, loss_fn = inputs["model"], inputs["optimizer"], inputs["loss_fn"]
    batch = inputs["batches"][0]
    with torch.enable_grad():
        _train_once(model, optimizer, loss_fn, batch, "ZFBS")
    with torch.no_grad():
        return [("loss_after_step", float(_batch_loss(model, loss_fn, batch)))]


@rubric("train_step")
def judge_train_step(j):
    def procedure(ops):
        return lambda model, optimizer, loss_fn, batch: _train_once(model, optimizer, loss_fn, batch, ops)
    _judge_training(j, "batches", procedure, "ZFBS", _TRAIN_VARIANTS, _loss_after_step)


def _micro_losses(j) -> list[tuple[str, float]]:
    inputs = j.inputs
    model, loss_fn, micro = inputs["model"], inputs["loss_fn"], inputs["micro_batch_lists"][0]
    with torch.no_grad():
        losses = [float(_batch_loss(model, loss_fn, mb)) for mb in micro]
    return [("summed_micro_losses", sum(losses)), ("equal_weights", sum(losses) / len(losses))]


@rubric("accumulated_step")
def judge_accumulated_step(j):
    def procedure(how):
        return lambda model, optimizer, loss_fn, micro: _accumulate_once(model, optimizer, loss_fn, micro, how)
    _judge_training(j, "micro_batch_lists", procedure, "big-batch", _ACCUMULATE_VARIANTS, _micro_losses,
                    passes_per_batch=True)


# ------------------------------------------------------------------ checkpointed_forward


def _plain_forward(blocks, x):
    """The reference: the blocks applied in order, with the bytes autograd saves for it (the same monitor as
    the probe's)."""
    with torch.enable_grad(), SavedTensors() as saved:
        out = x
        for block in blocks:
            out = block(out)
    return out, saved.kept


def _boundary_bytes(blocks, x) -> int:
    """What checkpointing every block keeps: the input of each block (they have the shape of x)."""
    return len(list(blocks)) * x.numel() * x.element_size()


def _reference_gradients(blocks, x, v, params: dict) -> dict[str, torch.Tensor]:
    targets = {"x": x} if x.requires_grad else {}
    targets.update(params)
    with torch.enable_grad():
        out, _ = _plain_forward(blocks, x)
        grads = torch.autograd.grad(out, list(targets.values()), v, allow_unused=True)
    return {n: (torch.zeros_like(t) if g is None else g) for (n, t), g in zip(targets.items(), grads, strict=True)}


def _judge_checkpoint_grads(j, call, expected: dict[str, torch.Tensor]) -> None:
    label = "gradients of x and of every parameter through your output"
    observed = j.obs.observed.get("grads")
    got = _named(observed)
    if got is None:
        reentrant = any("None of the inputs have requires_grad" in w for w in call.warnings)
        if isinstance(observed, OtherValue) and observed.value == "no graph" and isinstance(call.value, TensorValue):
            if call.value.requires_grad:        # a graph, but of another shape: the value already failed
                j.fail(label, "wrong_values", message="no gradient could be taken through your output.")
            else:
                j.fail(label, "reentrant_checkpoint" if reentrant else "output_not_differentiable")
        else:
            j.fail(label, "wrong_values", message="the backward pass through your output failed "
                                                  f"({describe(observed)}).")
        return
    missing = [n for n in expected if not _readable(got.get(n))]
    if missing:
        j.fail(label, "detached_between_blocks", x=" (and of x)" if "x" in missing else "")
        return
    values = [got[n] for n in expected]
    if any(tuple(v.shape) != tuple(expected[n].shape) for v, n in zip(values, expected, strict=True)):
        j.fail(label, "wrong_values", message="a gradient has the wrong shape.")
        return
    j.tensor(_flat_value(values), _flat(list(expected.values())), label=label,
             what="the gradients (x first if it requires grad, then each parameter, flattened)")


def _judge_saved(j, call, plain: int, budget: int) -> None:
    saved = call.saved
    label = "saves fewer activations than the plain forward"
    if saved is None:
        j.fail(label, "saved_hooks_tampered")
        return
    if saved.kept >= plain:
        j.fail(label, "not_checkpointed", kept=saved.kept, plain=plain)
        return
    j.add(label, True)
    j.add("every block is checkpointed", saved.kept <= budget, weight=0.5, misconception="partly_checkpointed",
          detail=mc.message("partly_checkpointed", kept=saved.kept, budget=budget))


@rubric("checkpointed_forward")
def judge_checkpointed_forward(j):
    blocks, x, v, params = j.inputs["blocks"], j.inputs["x"], j.inputs["v"], j.inputs["params"]
    expected, plain = _plain_forward(blocks, x)
    budget = _boundary_bytes(blocks, x)

    def reversed_order():
        with torch.no_grad():
            out = x
            for block in reversed(list(blocks)):
                out = block(out)
        return out

    call = j.call()
    if call is None:
        return
    ok = j.tensor(call.value, expected.detach(), label="output", what="your output",
                  candidates=[candidate("blocks_out_of_order", reversed_order)],
                  shape_hint="the blocks keep the shape of x", dtype_hint="Keep x's dtype.")
    _judge_checkpoint_grads(j, call, _reference_gradients(blocks, x, v, params))
    if ok:
        _judge_saved(j, call, plain, budget)
    j.untouched(["x"], weight=0.5, label="leaves x untouched")
    _params_untouched(j, label="leaves the blocks' parameters untouched")
