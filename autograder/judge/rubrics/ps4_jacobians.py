"""Rubrics for ps4_jacobians: full Jacobians in reverse and forward mode, their costs, batched Jacobians
and the derivative of a matrix-valued function."""

from __future__ import annotations

import re

import torch

from autograder.probe.contract import VMAP_OVER_REVERSE_ONLY
from autograder.probe.scenarios.ps4_jacobians import pair_label

from .. import method
from .. import misconceptions as mc
from .. import reference_math as rm
from ..compare import describe, fmt_shape
from ..diagnosis import FiniteDifferences
from ..judgement import ErrorRule, register_errors
from ..misconceptions import Misconception, candidate
from ..record import OtherValue, TensorValue
from ..torch_errors import first_line
from . import rubric

mc.register(
    Misconception("gradient_of_sum", "gradient of the summed outputs instead of the Jacobian",
                  "your result is the gradient of the *sum* of the outputs (one pass with an upstream vector of "
                  "ones), shaped like the input. The Jacobian needs one pass per output, each with a one-hot "
                  "upstream vector, and the resulting rows stacked into a result of shape {shape}."),
    Misconception("rows_alias_grad", "every row is the same .grad tensor",
                  "every {part} of your result equals the last {part} computed: you stored `x.grad` itself each "
                  "time, and every later pass overwrote that one tensor in place (`.zero_()`, then the new "
                  "gradient). Store a copy (`x.grad.clone()`), or set `x.grad = None` before each pass so that "
                  "autograd makes a fresh tensor, or use `torch.autograd.grad`."),
    Misconception("jvp_of_ones", "one JVP along all-ones instead of the Jacobian",
                  "your result is the single product J·1 (one JVP with an all-ones tangent), shaped like the "
                  "output. The Jacobian needs one JVP per input, each with a one-hot tangent eⱼ, and the "
                  "resulting columns stacked into a result of shape {shape}."),
    Misconception("primal_instead_of_tangent", "kept the primal instead of the tangent",
                  "every column of your result is f(x) itself: you kept the *primal* part of the forward-mode "
                  "result. The derivative is the tangent: `torch.func.jvp` returns `(f(x), J t)` (take the second "
                  "item), and `fwAD.unpack_dual(y)` has `.primal` and `.tangent`."),
    Misconception("full_batch_jacobian", "Jacobian of the whole batch",
                  "your result has shape {shape}: the Jacobian of the whole batch, every output of every sample "
                  "against every input of every sample. Samples do not interact, so that matrix is block "
                  "diagonal and only the (m, n) block of each sample is wanted, in an (N, m, n) tensor: one pass "
                  "with an upstream vector that is one in output column k for every sample gives row k of all "
                  "N Jacobians at once."),
    Misconception("matrix_derivative_shape", "derivative not shaped like the matrix",
                  "the derivative of a matrix-valued function of a scalar, f: ℝ → ℝ³ˣ², has the shape of f(x), "
                  "(3, 2): entry (i, j) is df_ij/dx. {extra}"),
    Misconception("summed_entries", "derivative of the sum of all entries",
                  "your result is the derivative of the *sum* of all entries of f(x): an upstream vector of ones "
                  "adds them up. Use one one-hot upstream vector per entry (or a single forward-mode JVP with "
                  "tangent 1, since x is a scalar) and keep the (3, 2) layout."),
    Misconception("mode_answer_format", "answer not the string 'forward' or 'reverse'",
                  "`cheaper_mode` must return exactly one of the lower-case strings \"forward\" or \"reverse\"; "
                  "it returned {got}.{hint}"),
    Misconception("constant_answer", "the same mode for every size",
                  "your function gave the same answer for every pair of sizes, but which mode is cheaper depends "
                  "on both n_inputs and n_outputs: count the passes each mode needs for the full Jacobian."),
    Misconception("wrong_mode", "the wrong mode for some sizes",
                  "this is not the mode with fewer passes for these sizes. Count them: a full m × n Jacobian "
                  "takes one forward-mode pass (JVP) per input column, or one reverse-mode pass (VJP) per output "
                  "row."),
    Misconception("summed_outputs", "one pass with all outputs at once",
                  "every {part} of your result is the same sum: each pass used a vector of ones instead of "
                  "a one-hot vector, so all {directions} were mixed together."),
    Misconception("too_many_passes", "more passes than needed",
                  "your function ran {passes} reverse passes where {limit} suffice{why}."),
    Misconception("per_sample_loop", "a loop over the samples",
                  "your function differentiated f one sample (or a few samples) at a time, in a Python loop over "
                  "the batch. Samples do not interact: differentiate f on the whole batch at once (m reverse "
                  "passes, one-hot column k for every sample), or `torch.func.vmap` over the samples."),
    Misconception("formed_batch_jacobian", "formed the Jacobian of the whole batch",
                  "your function formed the Jacobian of the whole batch, (N·m) × (N·n) and mostly zeros, and kept "
                  "its diagonal blocks. Samples do not interact: m passes (one-hot column k for every sample), or "
                  "`torch.func.vmap` over the samples, give only the blocks."),
    Misconception("swapped_modes", "forward and reverse costs swapped",
                  "forward and reverse are swapped: a full Jacobian needs one forward pass (JVP) per *input* "
                  "and one reverse pass (VJP) per *output*."),
)

DTYPE_HINT = ("Create new tensors with the input's dtype (`{zeros}`), or build the result with `torch.stack`, "
              "which keeps it.")
SUMMED_ROWS = ("every row of your result is the same vector, the sum of all rows of the Jacobian. Either you "
               "back-propagated all outputs at once (an upstream vector of ones) instead of one one-hot vector per "
               "output, or you stored `x.grad` itself for every row while the later passes kept adding into that "
               "one tensor (store `x.grad.clone()` and clear `x.grad` before each pass, or use "
               "`torch.autograd.grad`).")


def _forward_through_vmap(error, function: str, text: str) -> str:
    return f"`{function}` raised {error.type}: {first_line(error.message, 200)}. {text}"


# ``jacfwd`` on a reverse-only function reaches the function's missing vmap rule before its missing forward
# rule: forward mode all the same.
register_errors(
    __name__,
    ErrorRule(re.escape(VMAP_OVER_REVERSE_ONLY), "forward_instead_of_reverse",
              functions=("jacobian_reverse", "jacobian_forward", "batched_jacobian"),
              hint="The forward-mode tools (`torch.func.jacfwd` / `jvp` under `vmap`) could not push tangents "
                   "through this function. " + mc.message("forward_instead_of_reverse"),
              explain=_forward_through_vmap),
)


def _values(j, value, expected, *, label="values", weight=1.0, candidates=(), shape_candidates=(),
            shape_hint="", what="your result", zeros="torch.zeros(m, n, dtype=x.dtype)"):
    """Values (the primary finding) and, separately, the dtype (an extra, half weight: ``Judgement.tensor``),
    so a right answer in the wrong dtype keeps most of its points and is still named.

    ``shape_candidates`` (key, shape, fields) name a wrong shape only when no value candidate explained the
    answer (``Judgement.tensor`` would print both messages when they share a key)."""
    ok = j.tensor(value, expected, label=label, weight=weight, candidates=candidates, what=what,
                  shape_hint=shape_hint, dtype_hint=DTYPE_HINT.format(zeros=zeros))
    if not ok and isinstance(value, TensorValue):
        for key, shape, fields in shape_candidates:
            if tuple(value.shape) == tuple(shape):
                j.explain_last(mc.message(key, **fields), when="wrong_values", misconception=key)
                break
    return ok


# ------------------------------------------------------------------ jacobian_reverse / jacobian_forward

AUTOGRAD = "f differentiated by autograd"
_HINTS = {"reverse": "Build J row by row with reverse passes, one one-hot upstream vector per output.",
          "forward": "Build J column by column with forward-mode JVPs, one one-hot tangent per input.",
          "batched": "One reverse pass per output column k, with an upstream vector that is one in column k for "
                     "every sample, gives row k of all N Jacobians at once."}
_ONE_MODE = {"reverse": (method.jacobian_reverse, "reverse mode only"),
             "forward": (method.jacobian_forward, "forward mode only, no backward pass")}


def _judge_jacobian(j, mode, *, one_mode: bool = False):
    f, x = j.inputs["f"], j.inputs["x"]
    call = j.call()
    if call is None:
        return
    J = rm.jacobian(f, x)
    m, n = J.shape
    out = rm.value(f, x)
    square = m == n
    shape = f"m × n = {m} × {n}"
    candidates = [candidate("transposed_jacobian", J.t().contiguous())]
    if mode == "reverse":
        candidates += [
            candidate("cumulative_rows", lambda: J.cumsum(0), part="row"),
            candidate("summed_outputs", lambda: J.sum(0, keepdim=True).expand(m, n), part="row"),
            candidate("rows_alias_grad", lambda: J[-1:].expand(m, n), part="row"),
            candidate("gradient_of_sum", lambda: J.sum(0), shape=shape),
        ]
    else:
        candidates += [
            candidate("summed_outputs", lambda: J.sum(1, keepdim=True).expand(m, n), part="column"),
            candidate("jvp_of_ones", lambda: J.sum(1), shape=shape),
            candidate("primal_instead_of_tangent", lambda: out[:, None].expand(m, n)),
        ]
    candidates.append(candidate("returned_function_value", out))
    candidates.append(FiniteDifferences(lambda h, scheme: rm.difference_jacobian(rm.plain(f), x, h, scheme)))
    shape_candidates = [] if square else [("transposed_jacobian", (n, m), {})]
    _values(j, call.value, J, candidates=candidates, shape_candidates=shape_candidates,
            shape_hint=f"f maps ℝ{_sup(n)} → ℝ{_sup(m)}, so J is {shape}: one row per output, one column "
                       "per input")
    if mode == "reverse":
        j.rediagnose("summed_outputs", SUMMED_ROWS, part="row")
    if mode == "forward":
        j.rediagnose("summed_outputs",
                    "every column of your result is the same vector J·1: a JVP with an all-ones tangent adds up "
                    "all the columns. Use one one-hot tangent eⱼ per input (one JVP each) and stack the results "
                    "as columns.", part="column")
        j.rediagnose("transposed_jacobian",
                    "rows and columns are swapped: the Jacobian of f: ℝⁿ → ℝᵐ is m × n, and the JVP J eⱼ with "
                    "the one-hot tangent eⱼ is its column j, so it belongs in J[:, j] (`torch.stack(columns, "
                    "dim=1)`). You returned the transpose.")
    if one_mode:
        rule, label = _ONE_MODE[mode]
        method.record(j, rule(call.method), label)
    else:
        method.record(j, method.autograd_used(call.method, what="J", hint=_HINTS[mode]), AUTOGRAD)
    j.untouched()


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(k: int) -> str:
    return str(k).translate(_SUPERSCRIPTS)


@rubric("jacobian_reverse")
def judge_jacobian_reverse(j):
    _judge_jacobian(j, "reverse")


@rubric("jacobian_forward")
def judge_jacobian_forward(j):
    _judge_jacobian(j, "forward")


@rubric("jacobian_reverse.one_mode")
def judge_jacobian_reverse_one_mode(j):
    """On a reverse-only f: forward mode raises there; the method check sees what does not raise."""
    _judge_jacobian(j, "reverse", one_mode=True)


@rubric("jacobian_forward.one_mode")
def judge_jacobian_forward_one_mode(j):
    """On a forward-only f: reverse mode raises there; the method check sees what does not raise."""
    _judge_jacobian(j, "forward", one_mode=True)


# ------------------------------------------------------------------ cheaper_mode

_ALIASES = {"forward": "forward", "fwd": "forward", "jvp": "forward", "forward-mode": "forward",
            "forward mode": "forward", "jacfwd": "forward",
            "reverse": "reverse", "rev": "reverse", "vjp": "reverse", "reverse-mode": "reverse",
            "reverse mode": "reverse", "backward": "reverse", "backprop": "reverse", "jacrev": "reverse"}


def _normalised(value) -> str | None:
    if isinstance(value, OtherValue) and value.kind == "str":
        return _ALIASES.get(value.value.strip().lower().replace("_", " "))
    return None


def _cheaper(n_inputs: int, n_outputs: int) -> set[str]:
    if n_inputs < n_outputs:
        return {"forward"}
    if n_outputs < n_inputs:
        return {"reverse"}
    return {"forward", "reverse"}


@rubric("cheaper_mode")
def judge_cheaper_mode(j):
    pairs = [tuple(p) for p in j.inputs["pairs"]]
    answers = []
    for n_inputs, n_outputs in pairs:
        label = pair_label(n_inputs, n_outputs)
        call = j.call(label, what=label)
        if j.failed_hard:
            return
        answers.append(None if call is None else call.value)
    said = [_normalised(a) for a in answers]
    decided = [(p, s) for p, s in zip(pairs, said, strict=True) if s is not None and len(_cheaper(*p)) == 1]
    swapped = len(decided) > 1 and all(s not in _cheaper(*p) for p, s in decided)
    modes = {s for s in said if s is not None}
    needed = {mode for p in pairs if len(_cheaper(*p)) == 1 for mode in _cheaper(*p)}
    constant = len(modes) == 1 and None not in said and len(needed) == 2
    for (n_inputs, n_outputs), answer, mode in zip(pairs, answers, said, strict=True):
        if answer is None:          # the call raised: already recorded by j.call
            continue
        label = pair_label(n_inputs, n_outputs)
        right = _cheaper(n_inputs, n_outputs)
        is_str = isinstance(answer, OtherValue) and answer.kind == "str"
        exact = is_str and answer.value in ("forward", "reverse")
        if exact and answer.value in right:
            j.add(label, True)
            continue
        hint = (" Check the spelling and the case." if mode is not None
                else "" if is_str else " Return the name of the mode as a string.")
        format_problem = mc.message("mode_answer_format", got=describe(answer), hint=hint)
        if mode is None or mode in right:
            j.fail(label, "mode_answer_format", format_problem)
            continue
        key = "swapped_modes" if swapped else "constant_answer" if constant else "wrong_mode"
        detail = mc.message(key) + ("" if exact else f" Also: {format_problem}")
        j.fail(label, key, detail)


# ------------------------------------------------------------------ batched_jacobian


def _judge_batched(j, *, vectorised: bool = False):
    f, X = j.inputs["f"], j.inputs["X"]
    call = j.call()
    if call is None:
        return None
    J = rm.rowwise_jacobian(f, X)
    N, m, n = J.shape
    candidates = [
        candidate("transposed_jacobian", J.transpose(1, 2).contiguous()),
        candidate("cumulative_rows", lambda: J.cumsum(1), part="row"),
        candidate("summed_outputs", lambda: J.sum(1, keepdim=True).expand(N, m, n), part="row"),
        candidate("rows_alias_grad", lambda: J[:, -1:].expand(N, m, n), part="row"),
        candidate("gradient_of_sum", lambda: J.sum(1), shape=f"(N, m, n) = {fmt_shape((N, m, n))}"),
        candidate("returned_function_value", lambda: rm.value(f, X)),
        FiniteDifferences(lambda h, scheme: rm.difference_rowwise(f, X, h, scheme)),
    ]
    shape_candidates = [("full_batch_jacobian", (N, m, N, n), {"shape": fmt_shape((N, m, N, n))}),
                        ("full_batch_jacobian", (N * m, N * n), {"shape": fmt_shape((N * m, N * n))})]
    if m != n:
        shape_candidates.insert(0, ("transposed_jacobian", (N, n, m), {}))
    _values(j, call.value, J, candidates=candidates, shape_candidates=shape_candidates,
            shape_hint=f"one (m, n) = ({m}, {n}) Jacobian per sample, N = {N}",
            zeros="torch.zeros(N, m, n, dtype=X.dtype)")
    j.rediagnose("summed_outputs", SUMMED_ROWS.replace("rows of the Jacobian", "rows of each sample's Jacobian")
                .replace("`x.grad`", "`X.grad`"), part="row")
    j.rediagnose("rows_alias_grad", mc.message("rows_alias_grad", part="row").replace("`x.grad", "`X.grad"),
                part="row")
    if vectorised:
        method.record(j, method.batched_jacobian(call.method, N, n, m),
                      f"the whole batch at once: no loop over the samples, at most m = {m} reverse passes")
    else:
        method.record(j, method.autograd_used(call.method, what="the Jacobians", hint=_HINTS["batched"]),
                      AUTOGRAD)
    j.untouched()


@rubric("batched_jacobian")
def judge_batched_jacobian(j):
    _judge_batched(j)


@rubric("batched_jacobian.passes")
def judge_batched_passes(j):
    _judge_batched(j, vectorised=True)


# ------------------------------------------------------------------ matrix_function_derivative

def _matrix_f(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x**k for k in range(6)]).reshape(3, 2)


def _matrix_derivative(x: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros((), dtype=x.dtype)
    return torch.stack([zero, torch.ones((), dtype=x.dtype)] + [k * x ** (k - 1) for k in range(2, 6)]).reshape(3, 2)


@rubric("matrix_function_derivative")
def judge_matrix_function_derivative(j):
    x = j.inputs["x"]
    call = j.call()
    if call is None:
        return
    D = _matrix_derivative(x)
    at_one = _matrix_derivative(torch.ones((), dtype=x.dtype))
    candidates = [
        candidate("cumulative_rows", lambda: D.reshape(-1).cumsum(0).reshape(3, 2), part="entry"),
        candidate("returned_function_value", lambda: _matrix_f(x)),
        candidate("summed_entries", lambda: D.sum()),
        candidate("summed_entries", lambda: D.sum().reshape(1)),
        candidate("summed_entries", lambda: D.sum().expand(3, 2)),
        candidate("rows_alias_grad", lambda: D.reshape(-1)[-1].expand(3, 2), part="entry"),
        candidate("matrix_derivative_shape", lambda: D.t().contiguous(), extra="You returned its transpose."),
        candidate("matrix_derivative_shape", lambda: D.reshape(2, 3), extra="Keep the (3, 2) layout of f(x)."),
        candidate("matrix_derivative_shape", lambda: D.reshape(6), extra="Keep the (3, 2) layout of f(x)."),
        candidate("hard_coded", at_one),
    ]
    shape_candidates = [("matrix_derivative_shape", (2, 3), {"extra": "Keep the (3, 2) layout of f(x)."}),
                        ("matrix_derivative_shape", (6,), {"extra": "Keep the (3, 2) layout instead of flattening."}),
                        ("matrix_derivative_shape", (6, 1), {"extra": "Keep the (3, 2) layout instead of flattening."})]
    _values(j, call.value, D, candidates=candidates, shape_candidates=shape_candidates,
            shape_hint="df/dx has the shape of f(x)",
            zeros="torch.zeros_like(y)` or `torch.zeros(3, 2, dtype=x.dtype)")
    j.rediagnose("cumulative_rows",
                "each entry of your result includes the entries computed before it: `x.grad` accumulated across "
                "the passes. Clear it before every pass (`x.grad = None` or `x.grad.zero_()`), or use "
                "`torch.autograd.grad`, which does not accumulate.", part="entry")
    j.untouched()
