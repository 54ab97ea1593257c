"""The method rules of the notebooks ("use one reverse pass and never form J", "do not form H", "with
automatic differentiation", "not a loop over the samples"), decided from what the probe's method tap
counted while the student's function ran (``record.MethodRecord``).

Each rule returns a ``MethodFinding``: whether the method follows the rule, the misconception when it does
not, and a sentence saying exactly what was counted. A rule returns None when the record cannot decide: no
test function of ours was evaluated, the tap could not inspect everything (``incomplete``: a torch release
changed an API), or the scenario's sizes are too small to tell "a few directions" from "one per input /
output / sample". None means no finding at all, so a gap in the observation never costs points.

Only what breaks the stated rule counts: a method is judged by what it does to f (the directions its
sweeps carry, the samples one evaluation covers, whether any AD reached f at all), never by the bare number
of passes, so an extra pass for a printout, or a correct method through any API, costs nothing. The
scenarios that carry these checks make n (inputs), m (outputs) and N (samples) pairwise different and at
least ``MIN_SIZE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .record import Call, MethodRecord, Sweeps

MIN_SIZE = 4   # sizes below this are too close to the one or two directions an honest method (and a printout) uses


@dataclass(frozen=True)
class MethodFinding:
    passed: bool
    key: str | None = None    # the misconception, when it failed
    detail: str = ""          # what was counted, in the student's terms


def _times(k: int, noun: str, plural: str | None = None) -> str:
    return f"{k} {noun if k == 1 else plural or noun + 's'}"


def _readable(method: MethodRecord | None) -> bool:
    return method is not None and not method.incomplete and bool(method.evaluations or method.more_evaluations)


def _total(sweeps: dict[int, Sweeps], orders=None) -> Sweeps:
    chosen = [s for order, s in sweeps.items() if orders is None or order in orders]
    return Sweeps(sum(s.directions for s in chosen), sum(s.sweeps for s in chosen))


def _evaluations(method: MethodRecord) -> int:
    return sum(e.count for e in method.evaluations) + method.more_evaluations


def _finite_differences(method: MethodRecord, what: str, hint: str) -> MethodFinding | None:
    """Fails when no reverse sweep and no forward tangent ever reached f: only its values were used."""
    if method.reverse or method.forward:
        return None
    n = _evaluations(method)
    return MethodFinding(False, "finite_differences",
                         f"`f` was evaluated {_times(n, 'time')} during the call, and no reverse pass (backward, "
                         "`torch.autograd.grad`, `torch.func`) and no forward-mode tangent ever went through it: "
                         f"{what} came from values of f (finite differences?), not from automatic "
                         f"differentiation. {hint}")


def autograd_used(method: MethodRecord | None, *, what: str = "the result", hint: str = "",
                  order: int = 1) -> MethodFinding | None:
    """"Let autograd differentiate f": at least one reverse sweep or forward tangent went through f; for a
    second derivative (``order=2``) also a second-order one (see ``_differences_of_gradients``)."""
    if not _readable(method):
        return None
    failed = _finite_differences(method, what, hint)
    if failed is None and order >= 2:
        failed = _differences_of_gradients(method, what, hint)
    return failed or MethodFinding(True)


def _differences_of_gradients(method: MethodRecord, what: str, hint: str) -> MethodFinding | None:
    """Fails when gradients went through f but nothing of second order did: no reverse sweep through a
    backward (double backward) and no forward-mode tangent (forward over reverse, jacfwd)."""
    first = method.reverse.get(1, Sweeps(0, 0))
    if method.forward or any(order >= 2 for order in method.reverse) or not first.sweeps:
        return None
    return MethodFinding(False, "finite_differences",
                         "the first derivative went through `f` by "
                         f"{_times(first.sweeps, 'reverse pass', 'reverse passes')}, but no second-order pass (the "
                         "backward of a backward, or a forward-mode tangent through the gradient) ever did: "
                         f"{what} came from differences of first derivatives (finite "
                         f"differences?), not from differentiating them. {hint}")


# ---------------------------------------------------------------------- ps2: vjp

_ONE_PASS = ("A VJP is one reverse pass with v itself as the upstream vector, `y.backward(v)` or "
             "`torch.autograd.grad(y, x, v)`, and never forms J.")


def vjp(method: MethodRecord | None, m: int) -> MethodFinding | None:
    """One reverse pass that never forms J: no forward mode, and fewer than m reverse directions in all (J
    has m rows; a printout's extra pass adds one)."""
    if not _readable(method) or m < MIN_SIZE:
        return None
    failed = _finite_differences(method, "vᵀJ", _ONE_PASS)
    if failed:
        return failed
    forward = _total(method.forward)
    if forward.sweeps:
        return MethodFinding(False, "forward_instead_of_reverse",
                             f"forward-mode tangents went through `f` ({_times(forward.directions, 'direction')} "
                             f"in {_times(forward.sweeps, 'forward pass', 'forward passes')}: `torch.func.jvp`, "
                             f"`jacfwd` or dual numbers). {_ONE_PASS}")
    first = method.reverse.get(1, Sweeps(0, 0))
    if first.directions >= m:
        return MethodFinding(False, "formed_jacobian", _formed_jacobian(first, m, "f has"))
    return MethodFinding(True)


def _formed_jacobian(first: Sweeps, m: int, owner: str) -> str:
    if first.sweeps < first.directions:
        how = (f"the reverse {'pass' if first.sweeps == 1 else 'passes'} through `f` carried "
               f"{first.directions} upstream directions at once ({_times(first.sweeps, 'pass', 'passes')}): "
               f"{owner} m = {m} outputs, so that is every row of J, formed by a batched pass "
               "(`torch.func.jacrev`, `vmap` over a VJP, `is_grads_batched` or "
               "`torch.autograd.functional.jacobian`)")
    else:
        how = (f"{first.sweeps} reverse passes went through `f`, one upstream direction each: {owner} m = {m} "
               "outputs, so that is every row of J, one pass per row")
    return f"{how}. {_ONE_PASS}"


def linear_vjp(call: Call, m: int) -> MethodFinding:
    """Through autograd (at least one reverse pass), without forming J = A (m directions or more). The
    student builds y = A x, so the counts come from the reverse passes themselves, not from a tap."""
    if call.reverse_passes == 0:
        return MethodFinding(False, "no_autograd")
    directions = call.reverse_directions
    if directions is not None and m >= MIN_SIZE and directions >= m:
        return MethodFinding(False, "formed_jacobian",
                             f"your reverse passes carried {directions} upstream directions in all "
                             f"({_times(call.reverse_passes, 'pass', 'passes')}): A has m = {m} rows, so that is "
                             "every row of J = A, built by autograd before multiplying by v. One backward pass "
                             "with v as the upstream vector gives Aᵀv without forming J.")
    return MethodFinding(True)


# ---------------------------------------------------------------------- ps4: Jacobians

def jacobian_forward(method: MethodRecord | None) -> MethodFinding | None:
    """Forward mode only: tangents through f, no reverse sweep (``torch.autograd.functional.jvp`` is the
    double-backward trick, two reverse sweeps per column)."""
    if not _readable(method):
        return None
    failed = _finite_differences(method, "J", "Build its columns with forward-mode JVPs: `torch.func.jvp`, "
                                              "`torch.func.jacfwd` or `torch.autograd.forward_ad` dual numbers.")
    if failed:
        return failed
    reverse = _total(method.reverse)
    if reverse.sweeps:
        trick = (" (a sweep of second order too: `torch.autograd.functional.jvp` computes a JVP by the "
                 "double-backward trick, which is reverse mode)" if any(o >= 2 for o in method.reverse) else "")
        return MethodFinding(False, "reverse_instead_of_forward",
                             f"{_times(reverse.sweeps, 'reverse pass', 'reverse passes')} went through `f`{trick}. "
                             "Use forward mode only: `torch.func.jvp`, `torch.func.jacfwd` or "
                             "`torch.autograd.forward_ad` dual numbers.")
    return MethodFinding(True)


def jacobian_reverse(method: MethodRecord | None) -> MethodFinding | None:
    """Reverse mode: some reverse sweep through f, and no forward tangent."""
    if not _readable(method):
        return None
    failed = _finite_differences(method, "J", "Build its rows with reverse passes, one one-hot upstream vector "
                                              "per output.")
    if failed:
        return failed
    forward = _total(method.forward)
    if forward.sweeps:
        return MethodFinding(False, "forward_instead_of_reverse",
                             f"{_times(forward.sweeps, 'forward-mode pass', 'forward-mode passes')} went through "
                             "`f`: build J row by row with reverse passes (one-hot upstream vectors).")
    return MethodFinding(True)


def batched_jacobian(method: MethodRecord | None, N: int, n: int, m: int) -> MethodFinding | None:
    """Vectorised over the samples: one evaluation with AD covers all N samples (else a loop over samples or
    chunks), and the directions stay below one per output (input) of every sample (else the Jacobian of the
    whole batch was formed)."""
    if not _readable(method) or min(N, n, m) < MIN_SIZE:
        return None
    failed = _finite_differences(method, "the Jacobians",
                                 "Differentiate f: one reverse pass per output column gives that row of all N "
                                 "Jacobians at once.")
    if failed:
        return failed
    R1 = method.reverse.get(1, Sweeps(0, 0)).directions
    F0 = method.forward.get(0, Sweeps(0, 0)).directions
    differentiated = [e for e in method.evaluations if e.differentiated]
    if differentiated and not method.more_evaluations:
        covered = max(math.prod(e.shape[:-1]) * e.samples for e in differentiated)
        if covered < N:
            count = sum(e.count for e in differentiated)
            loop = (f"`f` was differentiated on at most {covered} of the N = {N} samples at a time "
                    f"({_times(count, 'evaluation')} with autograd): a loop over the samples"
                    f"{' (or chunks of them)' if covered > 1 else ''}")
            if R1 > m:
                return MethodFinding(False, "too_many_passes",
                                     f"{loop}, and the reverse passes through it carried {R1} directions in all, "
                                     f"where m = {m} suffice: one pass per output column k, with an upstream vector "
                                     "that is one in column k for every sample, gives row k of all N Jacobians "
                                     "at once.")
            return MethodFinding(False, "per_sample_loop",
                                 f"{loop}. Differentiate f on the whole batch at once: m reverse passes (one-hot "
                                 "column k for every sample), or `torch.func.vmap` over the samples.")
    if R1 >= N * m:
        return MethodFinding(False, "formed_batch_jacobian",
                             f"the reverse passes through `f` carried {R1} directions, one per output of every "
                             f"sample (N·m = {N * m}): that forms the Jacobian of the whole batch, (N·m) × (N·n) and "
                             "mostly zeros, to keep its diagonal blocks. Samples do not interact: m passes (one-hot "
                             "column k for every sample), or `torch.func.vmap` over the samples, give only the "
                             "blocks.")
    if F0 >= N * n:
        return MethodFinding(False, "formed_batch_jacobian",
                             f"the forward-mode tangents through `f` carried {F0} directions, one per input of every "
                             f"sample (N·n = {N * n}): every column of the whole batch's Jacobian, (N·m) × (N·n) and "
                             "mostly zeros. Samples do not interact: n tangents (one-hot input column j for every "
                             "sample), or `torch.func.vmap` over the samples, give all N Jacobians.")
    return MethodFinding(True)


# ---------------------------------------------------------------------- ps5: Hessian–vector products

_HVP_HINT = "Compute ∇f with `create_graph=True`, then differentiate ∇f·v."


def hvp(method: MethodRecord | None, n: int) -> MethodFinding | None:
    """Second-order AD without forming H: the second-order sweeps (reverse of order 2 or more, or forward
    tangents) carry some direction, but fewer than n (H has n rows)."""
    if not _readable(method) or n < MIN_SIZE:
        return None
    failed = _finite_differences(method, "H v", _HVP_HINT)
    if failed:
        return failed
    reverse = max((s.directions for order, s in method.reverse.items() if order >= 2), default=0)
    forward = max((s.directions for s in method.forward.values()), default=0)
    widest = max(reverse, forward)
    if widest >= n:
        if forward >= reverse:
            counted = f"forward-mode tangents carried {forward} directions through `f`"
        else:
            counted = (f"the second-order reverse passes (the backward of a backward) carried {reverse} directions "
                       "through `f`")
        return MethodFinding(False, "formed_hessian",
                             f"{counted}: x has n = {n} entries, so that is every row of H (`torch.func.hessian`, "
                             "`torch.autograd.functional.hessian`, or one pass per row). H v needs one direction, v: "
                             "the gradient of ∇f·v (double backward), or `torch.func.jvp(torch.func.grad(f), (x,), "
                             "(v,))`.")
    return _differences_of_gradients(method, "H v", _HVP_HINT) or MethodFinding(True)


def record(j, finding: MethodFinding | None, label: str, *, weight: float = 0.5) -> None:
    """Record ``finding`` on the judgement ``j`` as a core finding (nothing when it is None).

    "No AD reached f" is no evidence of finite differences when the call cut the graph: the cut kept the
    passes away from f, and the value finding names the cut."""
    if finding is None:
        return
    current = j.current_call
    if not finding.passed and finding.key == "finite_differences" and current is not None and current.cuts:
        return
    if finding.passed:
        j.add(label, True, weight=weight)
    else:
        j.fail(label, finding.key, finding.detail or None, weight=weight)
