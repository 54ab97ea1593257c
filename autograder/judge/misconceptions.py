"""The catalogue of mistakes the hidden tests recognise, in the student's terms.

Each entry has a stable key (used by the class report) and a message. Rubrics compute the wrong answer
each misconception would produce for the scenario's inputs; ``diagnose`` says which one the student's
answer matched. Messages describe the mistake and the fix, never the expected values.

Only the generic entries live here: those the judge itself, the shared table of torch errors and
``diagnose`` name, and those the rubrics of several assignments share. An assignment's own entries are
registered by its rubric module (``autograder.judge.rubrics.<assignment>``) when it is imported, so code
that needs their titles or messages outside judging loads the rubrics first (``rubrics.load_all()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from .compare import close


@dataclass(frozen=True)
class Misconception:
    key: str
    title: str        # a few words, for the class report
    message: str      # may contain {placeholders} filled by the rubric


_ENTRIES = [
    # --- named by the generic diagnosis of a wrong value (``diagnose`` below)
    Misconception("accumulated_twice", "gradient accumulated over two backward calls",
                  "your result is twice the expected one: `.grad` accumulated over two backward calls. "
                  "Zero it between calls (`x.grad = None` or `x.grad.zero_()`), or use `torch.autograd.grad`, "
                  "which returns a fresh gradient and never accumulates."),
    Misconception("accumulated_k", "gradient accumulated over several backward calls",
                  "your result is {k}× the expected one: `.grad` kept accumulating over {k} backward passes. "
                  "Zero it before each pass, or use `torch.autograd.grad`."),
    Misconception("scaled", "result scaled by a constant",
                  "your result is {c}× the expected one: the direction is right but a constant factor is off."),
    Misconception("negated", "sign flipped",
                  "your result has the opposite sign of the expected one."),
    Misconception("all_zeros", "all zeros",
                  "your result is all zeros: no gradient reached it (was `.grad` zeroed after the pass, or "
                  "the graph cut with `.detach()`/`torch.no_grad()`?)."),
    Misconception("transposed_jacobian", "transposed Jacobian",
                  "rows and columns are swapped: the Jacobian of f: ℝⁿ → ℝᵐ is m × n, with row i the "
                  "gradient of output fᵢ and column j the derivative along input xⱼ. You returned its "
                  "transpose."),
    # --- named by the shared table of torch errors (``torch_errors``)
    Misconception("upstream_missing", "backward() on a tensor output without an upstream vector",
                  "`backward()` without an argument works only when the output is a single number. For a "
                  "tensor output, pass an upstream gradient of the output's shape (e.g. "
                  "`y.backward(torch.ones_like(y))`), or reduce the output first (`y.sum().backward()`)."),
    Misconception("upstream_wrong_shape", "upstream vector of the wrong shape",
                  "the upstream gradient must have exactly the shape of the tensor you call `backward` on "
                  "(the output), not the shape of the input."),
    Misconception("not_connected", "differentiated a tensor outside the graph",
                  "you differentiated a tensor that is not connected to any leaf with `requires_grad=True`. "
                  "Create the input as a leaf (`x = x.detach().clone().requires_grad_(True)`) before computing "
                  "with it; for a second derivative the first must be computed with `create_graph=True`."),
    Misconception("mixed_dtypes", "float32 and float64 mixed",
                  "float32 and float64 tensors were mixed. Create new tensors with the input's dtype "
                  "(`torch.zeros(..., dtype=x.dtype)` or `torch.zeros_like(x)`)."),
    Misconception("missing_retain_graph", "graph freed after the first backward (retain_graph)",
                  "the graph was freed by the first backward pass, so the next one failed. Pass "
                  "`retain_graph=True` to every backward/`autograd.grad` call that is followed by another "
                  "pass through the same graph."),
    Misconception("missing_create_graph", "first derivative not differentiable (create_graph)",
                  "the first derivative was computed without `create_graph=True`, so it is a constant for "
                  "autograd and cannot be differentiated again."),
    Misconception("reverse_instead_of_forward", "reverse mode where forward was required",
                  "your function used reverse mode (backward / `autograd.grad` / `jacrev`) on a function that "
                  "supports only forward mode. Build the Jacobian column by column with JVPs: "
                  "`torch.func.jvp`, `torch.func.jacfwd` or `torch.autograd.forward_ad`. Note that "
                  "`torch.autograd.functional.jvp` is reverse mode underneath (the double-backward trick)."),
    Misconception("forward_instead_of_reverse", "forward mode where reverse was required",
                  "your function used forward mode (JVPs) on a function that supports only reverse mode: "
                  "build the Jacobian row by row with one-hot upstream vectors and backward passes."),
    Misconception("not_implemented", "not implemented",
                  "`{function}` still raises NotImplementedError: replace the stub with your solution."),
    Misconception("timeout", "did not finish in time",
                  "your function did not finish within the time limit (an endless loop, or a very slow method)."),
    Misconception("exited", "stopped the interpreter",
                  "your function called `sys.exit()`/`exit()`, which stops the kernel; return a value instead."),
    # --- named by the judge itself (``judgement``, ``verdict``)
    Misconception("wrong_values", "wrong values", "{message}"),
    Misconception("wrong_dtype", "wrong dtype",
                  "{message}"),
    Misconception("other_error", "raised an error", "{message}"),
    Misconception("modified_input", "modified the caller's tensor",
                  "your function changed the caller's tensor `{name}` ({change}). Work on a copy, e.g. "
                  "`x = x.detach().clone().requires_grad_(True)`."),
    Misconception("not_detached", "result still attached to the graph",
                  "your result is still attached to the autograd graph (it requires grad). Return "
                  "`.detach()`-ed values, as the contract asks."),
    Misconception("missing_function", "function missing",
                  "your notebook does not define `{function}` (was its cell deleted, renamed or not run?)."),
    Misconception("not_callable", "name is not a function",
                  "`{function}` is not a function in your notebook (it was overwritten by a value)."),
    Misconception("input_tampered", "check inputs altered",
                  "the inputs the grader built inside your kernel differ from the true ones: your notebook "
                  "changes how torch creates tensors (monkeypatching, changed random generators). No points "
                  "can be given for values computed from altered inputs."),
    Misconception("unreadable_submission", "notebook could not be read",
                  "your submitted notebook could not be graded: {reason}. Nothing in it earned points; "
                  "your instructor has the original file."),
    # --- shared by the rubrics of several assignments
    Misconception("cumulative_rows", "Jacobian rows accumulated into each other",
                  "each {part} of your result includes the {parts} computed before it: `.grad` accumulated "
                  "across the passes that built it. Clear `x.grad` before every pass (or use "
                  "`torch.autograd.grad`, which does not accumulate)."),
    Misconception("stale_grad_included", "stale .grad included",
                  "your result includes the gradient that was already stored in `.grad` before your function "
                  "ran. Discard it first (`t.grad = None` or `t.grad.zero_()`), or use `torch.autograd.grad`."),
    Misconception("alias_of_grad", "returned an alias of .grad",
                  "a tensor your function returned earlier changed when the function ran again: you returned "
                  "`.grad` itself, which autograd keeps writing into. Return a copy (`.grad.clone()`) or use "
                  "`torch.autograd.grad`."),
    Misconception("upstream_ignored", "upstream vector ignored",
                  "your result is what a vector of ones would give: the upstream vector `{v}` was ignored. "
                  "Pass it as the `gradient` of `backward` (or `grad_outputs` of `torch.autograd.grad`)."),
    Misconception("mean_instead_of_sum", "mean instead of sum",
                  "your result is the expected one divided by {n}: you took a mean where the gradient of a "
                  "sum is asked for (or passed an upstream vector of 1/{n} instead of ones)."),
    Misconception("no_autograd", "answer computed without autograd",
                  "your function never ran a backward pass: this exercise asks for the result *through "
                  "autograd* (build y = A x from a leaf x and call backward with v), not by a formula."),
    Misconception("finite_differences", "finite differences instead of automatic differentiation",
                  "your function computed the derivative from values of `f` (finite differences?): no backward "
                  "pass and no forward-mode tangent went through `f`. The exercise asks for automatic "
                  "differentiation: let autograd (or `torch.func`) differentiate `f`."),
    Misconception("graph_cut", "autograd graph cut (detach / .data / no_grad)",
                  "the autograd graph was cut: {cut}, so no backward pass could reach the input, and "
                  "{symptom}. A gradient flows only along the graph: keep every step from the input to the "
                  "output connected (no `.detach()`, `.data` or `torch.no_grad()` in between), and detach only "
                  "the final result you return."),
    Misconception("finite_difference_values", "finite-difference approximation instead of an exact derivative",
                  "your result is off by the error a {scheme} finite difference with a step of about "
                  "h = {h} makes (largest error {error}): it approximates the derivative from values of f. "
                  "Automatic differentiation gives the derivative exactly, up to rounding: let autograd (or "
                  "`torch.func`) differentiate f."),
    Misconception("extra_backward_pass", "an extra backward pass added another VJP",
                  "your result is the expected vᵀJ plus {other} of the same function: an extra backward pass "
                  "{with_what} left its gradient in `.grad`, and the pass with v added to it. Run only the pass "
                  "with v (zero `.grad` before it, or use `torch.autograd.grad`, which never accumulates)."),
    Misconception("returned_function_value", "returned f(x) instead of its derivative",
                  "you returned the function's values f(x), not its derivative."),
    Misconception("non_leaf_grad_none", "read .grad of a non-leaf",
                  "a gradient came back as None: only leaf tensors keep `.grad`. Call `y.retain_grad()` "
                  "before backward, or use `torch.autograd.grad(z, (x, y))`."),
    Misconception("hard_coded", "works only for one shape or example",
                  "your function gives the right answer for one example but not for others: it must work for "
                  "any input of the stated kind, not only the tutorial's."),
]

CATALOGUE: dict[str, Misconception] = {m.key: m for m in _ENTRIES}


def register(*entries: Misconception) -> None:
    """Add an assignment's own misconceptions (called by its rubric module at import)."""
    for entry in entries:
        if entry.key in CATALOGUE and CATALOGUE[entry.key] != entry:
            raise ValueError(f"misconception {entry.key!r} is already defined differently")
        CATALOGUE[entry.key] = entry


class _Fields(dict):
    """Placeholders a rubric did not fill get a sensible default derived from the ones it did."""

    _PLURAL = {"entry": "entries"}
    _DIRECTIONS = {"row": "outputs", "column": "inputs"}

    def __missing__(self, name: str) -> str:
        part = self.get("part", "row")
        if name == "part":
            return part
        if name == "parts":
            return self._PLURAL.get(part, part + "s")
        if name == "directions":
            return self._DIRECTIONS.get(part, "entries")
        return {"v": "v", "n": "N", "k": "k", "function": "the function"}.get(name, "…")


def message(key: str, **fields) -> str:
    entry = CATALOGUE.get(key)
    if entry is None:
        raise KeyError(f"unknown misconception {key!r} (an assignment's own misconceptions are registered "
                       "when its rubric module is imported: call autograder.judge.rubrics.load_all())")
    return entry.message.format_map(_Fields(fields))


def title(key: str) -> str:
    """The entry's title, or the key itself for a key not in the catalogue."""
    entry = CATALOGUE.get(key)
    return entry.title if entry else key


Candidate = tuple[str, "torch.Tensor | Callable[[], torch.Tensor | None]", dict]


def candidate(key: str, value, **fields) -> Candidate:
    """A wrong answer that misconception ``key`` would give: a tensor or a thunk computing it lazily."""
    return (key, value, fields)


def diagnose(actual: torch.Tensor, expected: torch.Tensor, candidates: Iterable[Candidate] = (),
             *, generic: bool = True) -> tuple[str, str] | None:
    """Which misconception explains ``actual``? Returns (key, message) or None.

    Candidates are tried in order (most specific first); then generic patterns: a constant factor,
    a flipped sign, all zeros, a transpose. A candidate may also be an object that examines the value
    itself (``diagnosis.FiniteDifferences``, ``diagnosis.ExtraPass``): called with (actual, expected), it
    returns (key, message) or None.
    """
    for entry in candidates:
        if not isinstance(entry, tuple):
            try:
                found = entry(actual, expected)
            except Exception:
                found = None
            if found is not None:
                return found
            continue
        key, value, fields = entry
        try:
            wrong = value() if callable(value) else value
        except Exception:
            continue
        if wrong is None or not isinstance(wrong, torch.Tensor):
            continue
        if wrong.shape == actual.shape and not close(wrong, expected) and close(actual, wrong):
            return key, message(key, **fields)
    if not generic or actual.shape != expected.shape or actual.numel() == 0:
        return None
    a = actual.detach().to(torch.float64).reshape(-1)
    e = expected.detach().to(torch.float64).reshape(-1)
    if not bool(torch.isfinite(a).all()):
        return None
    if float(e.abs().max()) > 0 and float(a.abs().max()) == 0:
        return "all_zeros", message("all_zeros")
    denom = float(e @ e)
    if denom > 0:
        c = float(a @ e) / denom
        if abs(c - 1) > 1e-3 and abs(c) > 1e-6 and close(a, c * e, dtype=actual.dtype):
            if abs(c + 1) < 1e-3:
                return "negated", message("negated")
            rounded = round(c)
            if rounded >= 2 and abs(c - rounded) < 1e-3:
                return ("accumulated_twice", message("accumulated_twice")) if rounded == 2 else (
                    "accumulated_k", message("accumulated_k", k=rounded))
            return "scaled", message("scaled", c=f"{c:.3g}")
    square = actual.dim() == 2 and actual.shape[0] == actual.shape[1]
    if square and close(actual, expected.t()) and not close(expected, expected.t()):
        return "transposed_jacobian", message("transposed_jacobian")
    return None
