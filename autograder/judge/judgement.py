"""What a rubric writes: findings about one scenario, and the scenario's share of the points.

A rubric receives a ``Judgement`` holding the decoded observation and the inputs rebuilt in the trusted
process. It records *core* findings (is the answer right, in each respect the scenario tests) and
*extra* findings (contract hygiene: result in the input's dtype, caller's tensors untouched, result
detached). Extras only earn credit when every core finding passed, so a wrong answer never collects
points for being tidy.

The scoring order is explicit, not a matter of which finding a rubric records first: one finding is the
scenario's *primary* result (``Finding.primary``; ``Judgement.tensor`` marks the first value comparison
as primary by itself) and nothing is earned unless it passed. The value is primary; the dtype, side
effects and the method are secondary, so a right value in the wrong dtype keeps most of its points.

Rubrics record and amend findings only through the ``Judgement`` methods; the findings they read back
(``Judgement.findings``) are frozen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from autograder.probe.contract import RESULT_LABEL, Status

from . import misconceptions as mc
from .compare import compare_tensor, describe, tolerance
from .record import Call, Cut, ErrorValue, Observation, OtherValue, SequenceValue, TensorValue
from .torch_errors import explain_error, first_line, raised, sentence


@dataclass(frozen=True)
class Finding:
    label: str                 # what was checked, e.g. "values (float64)"
    passed: bool
    weight: float = 1.0
    detail: str = ""           # why it failed, in the student's terms
    misconception: str | None = None
    core: bool = True
    primary: bool = False      # the scenario's primary result: nothing is earned unless it passed


@dataclass
class ScenarioResult:
    scenario: str
    title: str
    weight: float
    findings: list[Finding] = field(default_factory=list)
    fraction: float = 0.0

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0 - 1e-9

    @property
    def misconceptions(self) -> list[str]:
        return [f.misconception for f in self.findings if not f.passed and f.misconception]


def primary_finding(findings: Sequence[Finding]) -> Finding | None:
    """The scenario's primary result: the first finding marked ``primary``, or, in a rubric that marks
    none (it compares no value, e.g. a returned string), its first core finding."""
    return next((f for f in findings if f.primary), None) or next((f for f in findings if f.core), None)


def score_findings(findings: Sequence[Finding], hard_fail: bool) -> float:
    """The scenario's share of its points.

    1. Nothing is earned unless the primary finding (``primary_finding``: the value) is right, wherever
       the rubric recorded it: a function that does nothing must not collect points for the properties
       doing nothing satisfies (an unused graph stays usable, an untouched ``.grad`` stays None).
    2. Then every core finding that passed earns its weight.
    3. Extras (``core=False``: dtype, side effects, a detached result) earn theirs only when every core
       finding passed, so a right value in the wrong dtype keeps its core points and loses the extra.
    """
    if hard_fail or not findings:
        return 0.0
    total = sum(f.weight for f in findings)
    if total <= 0:
        return 0.0
    primary = primary_finding(findings)
    if primary is not None and not primary.passed:
        return 0.0
    core = [f for f in findings if f.core]
    earned = sum(f.weight for f in core if f.passed)
    if all(f.passed for f in core):
        earned += sum(f.weight for f in findings if not f.core and f.passed)
    return earned / total


# ---------------------------------------------------------------------------------------------- errors

@dataclass(frozen=True)
class ErrorRule:
    """An assignment's own reading of an error its functions raise, tried by ``Judgement.call`` before
    the shared table of ``torch_errors``.

    ``hint`` replaces the misconception's message in the explanation; ``explain(error, function, text)``
    replaces the standard wording ("`f` raised T (line n …): message. Text").
    """

    pattern: str                           # regular expression searched in the error message
    key: str                               # the misconception it names
    hint: str | None = None
    min_passes: int = 0                    # only if this many reverse passes ran before the error
    functions: tuple[str, ...] = ()        # only for these graded functions (default: all)
    explain: Callable[[ErrorValue, str, str], str] | None = None

    def applies(self, error: ErrorValue, function: str, reverse_passes: int) -> bool:
        return ((not self.functions or function in self.functions) and reverse_passes >= self.min_passes
                and re.search(self.pattern, error.message) is not None)

    def explanation(self, error: ErrorValue, function: str) -> str:
        text = self.hint if self.hint is not None else mc.message(self.key)
        if self.explain is not None:
            return self.explain(error, function, text)
        return f"{raised(error, function).rstrip('.')}. {sentence(text)}"


_ERROR_RULES: dict[str, tuple[ErrorRule, ...]] = {}


def register_errors(module: str, *rules: ErrorRule) -> None:
    """Add ``rules`` for the errors raised by the functions that the rubrics of ``module`` (a rubric
    module's ``__name__``) judge; tried in order, before the shared table."""
    _ERROR_RULES[module] = _ERROR_RULES.get(module, ()) + rules


def error_rules(module: str) -> tuple[ErrorRule, ...]:
    return _ERROR_RULES.get(module, ())


# ------------------------------------------------------------------------------------------ graph cuts

# Failures that are the symptom of a gradient that never arrived. When the probe saw the graph cut in the
# same call (``record.Cut``), the cut is named as their cause instead.
MISSING_GRADIENT = frozenset({"returned_none", "non_leaf_grad_none", "all_zeros", "not_connected",
                              "missing_create_graph", "disconnected_zeros"})

_CUT = {
    ("detach", "intermediate"): "`.detach()` was called on an intermediate result (or the output) that the "
                                "gradient has to flow through",
    ("detach", "leaf"): "`.detach()` was called on the input, and the result was computed from the detached copy",
    ("data", "intermediate"): "`.data` was taken of an intermediate result (or the output) that the gradient "
                              "has to flow through",
    ("data", "leaf"): "`.data` was taken of the input, and the result was computed from it",
}
_NO_GRAD = "a step the gradient has to flow through was computed under `torch.no_grad()`"
_SYMPTOM = {
    "grad_none": "the input's `.grad` stayed None (it is a leaf, so `retain_grad()` would not help: no pass "
                 "ever reached it)",
    "unreached_input": "`torch.autograd.grad(..., allow_unused=True)` returned None for it",
    "detached_root": "the backward pass started from a tensor that no longer requires grad",
}


def cut_explanation(cut: Cut) -> str:
    """The catalogue's ``graph_cut`` message for one recorded cut."""
    how = _NO_GRAD if cut.via == "no_grad" else _CUT[(cut.via, cut.where)]
    return mc.message("graph_cut", cut=how, symptom=_SYMPTOM[cut.symptom])


# ------------------------------------------------------------------------------------------ judgement

class Judgement:
    """What one rubric records about one scenario; ``verdict`` scores it with ``score_findings``."""

    def __init__(self, obs: Observation, inputs: dict[str, Any], function: str,
                 errors: Iterable[ErrorRule] = ()) -> None:
        self.obs = obs
        self.inputs = inputs
        self.function = function
        self.errors = tuple(errors)
        self._findings: list[Finding] = []
        self._failed_hard = False
        self._call: Call | None = None        # the call judged now (the last one ``call`` returned or explained)

    # ------------------------------------------------------------------ state (read-only)
    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self._findings)

    @property
    def failed_hard(self) -> bool:
        """A failure recorded with ``hard=True`` (or an error in the first call): the scenario earns nothing."""
        return self._failed_hard

    @property
    def first_check(self) -> bool:
        """No core finding yet (an error in the call judged now fails the whole scenario)."""
        return not any(f.core for f in self._findings)

    @property
    def current_call(self) -> Call | None:
        """The call judged now: the last one ``call`` returned or explained."""
        return self._call

    @property
    def has_primary(self) -> bool:
        """A finding marked as the scenario's primary result was recorded."""
        return any(f.primary for f in self._findings)

    # ------------------------------------------------------------------ recording
    def add(self, label: str, passed: bool, *, weight: float = 1.0, detail: str = "",
            misconception: str | None = None, core: bool = True, hard: bool = False,
            primary: bool = False, missing_gradient: bool = False) -> bool:
        """Record a finding; a failed one recorded with ``hard=True`` fails the whole scenario.
        ``primary=True`` marks the scenario's primary result (only the first such finding counts as it;
        a primary finding is always core). A failure that means a gradient never arrived (its key is in
        ``MISSING_GRADIENT``, or ``missing_gradient=True``) is diagnosed as ``graph_cut`` when the probe saw
        the current call cut the graph."""
        if not passed and (missing_gradient or misconception in MISSING_GRADIENT):
            detail, misconception = self._cut_diagnosis(detail, misconception)
        self._findings.append(Finding(label, bool(passed), weight, "" if passed else detail,
                                      None if passed else misconception, core or primary, primary))
        if hard and not passed:
            self._failed_hard = True
        return bool(passed)

    def fail(self, label: str, key: str, detail: str | None = None, *, weight: float = 1.0,
             hard: bool = False, primary: bool = False, missing_gradient: bool = False, **fields) -> bool:
        """Record a failure diagnosed as ``key``; ``detail`` defaults to its message filled with ``fields``."""
        return self.add(label, False, weight=weight, detail=detail or mc.message(key, **fields),
                        misconception=key, hard=hard, primary=primary, missing_gradient=missing_gradient)

    def explain_last(self, extra: str, *, when: str | None = None, misconception: str | None = None) -> bool:
        """Append ``extra`` to the explanation of the last finding if it failed (with ``when``: only if it
        was diagnosed as that misconception); ``misconception`` renames its diagnosis. Returns whether it
        applied."""
        last = self._last_failure(when)
        if last is None:
            return False
        self._findings[-1] = replace(last, detail=f"{last.detail} {extra}",
                                     misconception=misconception or last.misconception)
        return True

    def rediagnose(self, key: str, text: str, **fields) -> bool:
        """Reword the last finding if it was diagnosed as ``key``: the catalogue message of ``key`` (filled
        with ``fields``) in its explanation is replaced by ``text``, wording written for this exercise.
        Returns whether it applied."""
        last = self._last_failure(key)
        if last is None:
            return False
        self._findings[-1] = replace(last, detail=last.detail.replace(mc.message(key, **fields), text))
        return True

    def _cut_diagnosis(self, detail: str, key: str | None) -> tuple[str, str | None]:
        cuts = self._call.cuts if self._call is not None else ()
        if not cuts:
            return detail, key
        why = cut_explanation(cuts[0])
        error = self._call.error
        if error is not None:
            said = f"`{self.function}` raised {error.type}: {first_line(error.message).rstrip('.')}."
            return f"{said} Diagnosis: {why}", "graph_cut"
        if " Diagnosis: " in detail:
            return f"{detail.split(' Diagnosis: ')[0]} Diagnosis: {why}", "graph_cut"
        return why[0].upper() + why[1:], "graph_cut"

    def _last_failure(self, key: str | None) -> Finding | None:
        last = self._findings[-1] if self._findings else None
        if last is None or last.passed or (key is not None and last.misconception != key):
            return None
        return last

    # ------------------------------------------------------------------ calls
    def call(self, label: str = RESULT_LABEL, *, weight: float = 1.0, what: str | None = None) -> Call | None:
        """The recorded call ``label``; if it is missing or raised, record why and return None.

        An error in the scenario's first call fails the whole scenario. The error is explained by the
        rubric module's ``ErrorRule``s first, then by the shared table of ``torch_errors``.
        """
        call = self.obs.calls.get(label)
        self._call = call
        first = self.first_check
        if call is None:
            if self.obs.status == Status.TIMEOUT:
                self.fail(what or label, "timeout", weight=weight, hard=first)
            else:
                self.fail(what or label, "other_error", weight=weight, hard=first,
                          message="this call did not happen (an earlier call in the same check failed).")
            return None
        if call.error is not None:
            key, text = self._explain(call)
            self.add(what or label, False, weight=weight, detail=text, misconception=key, hard=first)
            return None
        return call

    def _explain(self, call: Call) -> tuple[str, str]:
        for rule in self.errors:
            if rule.applies(call.error, self.function, call.reverse_passes):
                return rule.key, rule.explanation(call.error, self.function)
        return explain_error(call.error, self.function, call.reverse_passes)

    # ------------------------------------------------------------------ values
    def tensor(self, actual: Any, expected: torch.Tensor, *, label: str = "values", weight: float = 1.0,
               candidates: Iterable = (), what: str = "your result", shape_hint: str = "",
               dtype_hint: str = "", check_dtype: bool = True, generic: bool = True,
               shape_candidates: Iterable = (), hard: bool = False, primary: bool | None = None,
               dtype_weight: float | None = None) -> bool:
        """Compare a returned value with ``expected``; on a mismatch, name the misconception it matches.

        ``candidates`` are ``misconceptions.candidate(...)`` entries: the wrong answers each mistake
        would produce. ``shape_candidates`` are (key, shape, fields) for mistakes recognisable by shape.

        The value finding is the scenario's primary result unless one was recorded already (``primary``
        decides explicitly). A floating-point result in another floating dtype than ``expected`` is judged
        twice: its values (core, in the coarser of the two dtypes' tolerance) and, separately, its dtype
        (an extra named ``wrong_dtype``, ``dtype_weight``, by default half of ``weight``). Returns whether
        the values matched.
        """
        if primary is None:
            primary = not self.has_primary
        comparison = compare_tensor(actual, expected, what=what, shape_hint=shape_hint,
                                    check_dtype=check_dtype, dtype_hint=dtype_hint)
        if comparison.stage == "dtype" and _floating_pair(actual, expected):
            self.add("keeps the input's dtype" if label == "values" else f"keeps the input's dtype ({label})", False,
                     weight=0.5 * weight if dtype_weight is None else dtype_weight,
                     detail=comparison.message, misconception="wrong_dtype", core=False)
            coarse = _coarser(actual.tensor.dtype, expected.dtype)
            return self.tensor(actual, expected.to(coarse), label=label, weight=weight, what=what,
                               candidates=candidates, shape_hint=shape_hint,
                               check_dtype=False, generic=generic, shape_candidates=shape_candidates,
                               hard=hard, primary=primary)
        if comparison.ok:
            return self.add(label, True, weight=weight, primary=primary)
        key = {"type": "wrong_values", "shape": "wrong_values", "dtype": "wrong_dtype"}.get(
            comparison.stage, "wrong_values")
        detail = comparison.message
        shape_diagnosed = False
        if comparison.stage == "shape":
            for cand_key, shape, fields in shape_candidates:
                if tuple(actual.shape) == tuple(shape):
                    key, shape_diagnosed = cand_key, True
                    detail = f"{comparison.message} Diagnosis: {mc.message(cand_key, **fields)}"
                    break
        readable = isinstance(actual, TensorValue) and actual.tensor is not None
        if comparison.stage in ("values", "shape") and readable and not shape_diagnosed:
            found = mc.diagnose(actual.tensor, expected, candidates, generic=generic and comparison.stage == "values")
            if found is not None:
                key, why = found
                detail = f"{detail} Diagnosis: {why}"
        missing = isinstance(actual, OtherValue) and actual.kind == "none"   # a gradient that never arrived?
        return self.add(label, False, weight=weight, detail=detail, misconception=key, hard=hard, primary=primary,
                        missing_gradient=missing)

    def unpack(self, value: Any, n: int, *, what: str = "your function", weight: float = 1.0,
               label: str = "returns a pair", hard: bool = True) -> list | None:
        """``value`` must be a tuple/list of ``n`` items; returns the items or records a failure (by
        default a hard one: nothing else can be judged)."""
        if isinstance(value, SequenceValue) and value.kind in ("tuple", "list") and value.length == n:
            return list(value.items)
        self.fail(label, "wrong_values", weight=weight, hard=hard,
                  message=f"{what} must return a tuple of {n} items; it returned {describe(value)}.")
        return None

    def detached(self, actual: Any, *, weight: float = 0.5, label: str = "result is detached") -> bool | None:
        """An extra finding: the returned tensor does not require grad (nothing recorded for non-tensors,
        whose type the value comparison already reports)."""
        if not isinstance(actual, TensorValue):
            return None
        if actual.requires_grad:
            return self.add(label, False, weight=weight, detail=mc.message("not_detached"),
                            misconception="not_detached", core=False)
        return self.add(label, True, weight=weight, core=False)

    # ------------------------------------------------------------------ side effects
    def untouched(self, names: Iterable[str] | None = None, *, weight: float = 0.5,
                  label: str = "leaves the caller's tensors untouched") -> bool:
        """The scenario's tensor inputs have the same values, ``requires_grad`` and ``.grad`` afterwards."""
        changes = []
        for name in names if names is not None else self.obs.inputs_before:
            before, after = self.obs.inputs_before.get(name), self.obs.inputs_after.get(name)
            changes.extend(_changes(name, before, after))
        if not changes:
            return self.add(label, True, weight=weight, core=False)
        name, change = changes[0]
        return self.add(label, False, weight=weight, core=False, misconception="modified_input",
                        detail=mc.message("modified_input", name=name, change=change))


def _floating_pair(actual: Any, expected: torch.Tensor) -> bool:
    """A readable floating-point result compared with a floating-point reference (their dtypes differ):
    its values can be judged apart from its dtype."""
    return (isinstance(actual, TensorValue) and actual.tensor is not None and actual.tensor.is_floating_point()
            and expected.is_floating_point())


def _coarser(a: torch.dtype, b: torch.dtype) -> torch.dtype:
    """The dtype with the looser tolerance: values are compared at the precision the result can hold."""
    return a if tolerance(a)[0] >= tolerance(b)[0] else b


def _changes(name: str, before: Any, after: Any) -> list[tuple[str, str]]:
    if isinstance(before, SequenceValue) and isinstance(after, SequenceValue):
        out = []
        for i, (b, a) in enumerate(zip(before.items, after.items, strict=False)):
            out.extend(_changes(f"{name}[{i}]", b, a))
        return out
    if not isinstance(before, TensorValue) or not isinstance(after, TensorValue):
        return []
    if before.requires_grad != after.requires_grad:
        verb = "now requires grad" if after.requires_grad else "no longer requires grad"
        return [(name, f"it {verb}: `requires_grad_()` was called on the caller's tensor")]
    if before.tensor is not None and after.tensor is not None and before.tensor.shape == after.tensor.shape:
        if not torch.equal(before.tensor, after.tensor):
            return [(name, "its values changed in place")]
    elif before.shape != after.shape:
        return [(name, "its shape changed")]
    b_grad, a_grad = before.grad, after.grad
    if (b_grad is None) != (a_grad is None):
        return [(name, "its `.grad` was " + ("filled" if a_grad is not None else "cleared"))]
    if b_grad is not None and a_grad is not None and b_grad.tensor is not None and a_grad.tensor is not None:
        if b_grad.tensor.shape != a_grad.tensor.shape or not torch.equal(b_grad.tensor, a_grad.tensor):
            return [(name, "its `.grad` changed")]
    return []


def altered_inputs(obs: Observation, inputs: dict[str, Any]) -> list[str]:
    """Names of inputs whose recorded 'before' state differs from the trusted rebuild (tampering)."""
    from autograder.probe.encode import encode

    from .record import decode_value

    bad = []
    for name, value in inputs.items():
        recorded = obs.inputs_before.get(name)
        try:
            trusted = decode_value(encode(value, with_grad=True))
        except Exception:
            continue
        if not _equal(recorded, trusted):
            bad.append(name)
    return bad


def _equal(a: Any, b: Any) -> bool:
    if isinstance(b, TensorValue):
        if not isinstance(a, TensorValue) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.requires_grad != b.requires_grad:
            return False
        if (a.tensor is None) != (b.tensor is None):
            return False
        if a.tensor is not None and not torch.equal(a.tensor, b.tensor):
            return False
        if (a.grad is None) != (b.grad is None):
            return False
        return a.grad is None or _equal(a.grad, b.grad)
    if isinstance(b, SequenceValue):
        return (isinstance(a, SequenceValue) and a.kind == b.kind and len(a.items) == len(b.items)
                and all(_equal(x, y) for x, y in zip(a.items, b.items, strict=True)))
    if isinstance(b, OtherValue):
        return isinstance(a, OtherValue) and a.kind == b.kind and (b.kind == "callable" or a.value == b.value)
    return True
