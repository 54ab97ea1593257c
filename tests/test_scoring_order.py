"""The scoring order is explicit: the value is the primary finding, wherever a rubric records it; the dtype,
side effects and the method are secondary. A right value in the wrong dtype keeps most of its points."""

from __future__ import annotations

import pytest
import torch
from support import explain, grade, student_namespace

from autograder.judge.judgement import Finding, Judgement, primary_finding, score_findings
from autograder.judge.record import Call, Observation, decode_value
from autograder.probe.encode import encode

# ------------------------------------------------------------------ score_findings


def test_the_primary_finding_decides_wherever_it_was_recorded():
    method = Finding("one reverse pass", False, 0.5)              # a core method finding, recorded first
    value = Finding("values", True, primary=True)
    assert primary_finding([method, value]) is value
    assert score_findings([method, value], hard_fail=False) == pytest.approx(1 / 1.5)
    wrong = Finding("values", False, primary=True)
    assert score_findings([Finding("one reverse pass", True, 0.5), wrong], hard_fail=False) == 0.0


def test_without_a_primary_mark_the_first_core_finding_is_primary():
    extra = Finding("untouched", True, 0.5, core=False)
    assert score_findings([extra, Finding("a", False), Finding("b", True)], hard_fail=False) == 0.0
    assert score_findings([extra, Finding("a", True), Finding("b", False)], hard_fail=False) == pytest.approx(1 / 2.5)


def test_secondary_findings_lose_their_own_weight_only():
    findings = [Finding("values", True, primary=True), Finding("dtype", False, 0.5, "", "wrong_dtype", core=False),
                Finding("untouched", True, 0.5, core=False)]
    assert score_findings(findings, hard_fail=False) == pytest.approx(1.5 / 2)


# ------------------------------------------------------------------ Judgement.tensor


def _judgement() -> Judgement:
    return Judgement(Observation("s", "f", "done", {}, {}, {"result": Call()}, {}), {}, "f")


def _value(t: torch.Tensor):
    return decode_value(encode(t))


def test_a_right_value_in_the_wrong_dtype_is_a_passed_value_and_a_failed_extra():
    expected = torch.tensor([1.0, -2.5, 3.25], dtype=torch.float64)
    j = _judgement()
    assert j.tensor(_value(expected.float()), expected)
    value = next(f for f in j.findings if f.primary)
    dtype = next(f for f in j.findings if f.misconception == "wrong_dtype")
    assert value.passed and value.core and not dtype.passed and not dtype.core
    assert score_findings(j.findings, j.failed_hard) >= 0.5


def test_a_wrong_value_in_the_wrong_dtype_is_named_for_both():
    expected = torch.tensor([1.0, -2.5, 3.25], dtype=torch.float64)
    j = _judgement()
    assert not j.tensor(_value(2 * expected.float()), expected)
    assert {f.misconception for f in j.findings} == {"wrong_dtype", "accumulated_twice"}
    assert score_findings(j.findings, j.failed_hard) == 0.0


def test_the_first_value_comparison_is_primary_even_after_a_method_finding():
    expected = torch.ones(2, dtype=torch.float64)
    j = _judgement()
    j.fail("one reverse pass", "wrong_values", weight=0.5, message="too many passes.")
    j.tensor(_value(expected), expected)
    j.tensor(_value(expected), expected, label="second call")
    assert [f.primary for f in j.findings] == [False, True, False]
    assert score_findings(j.findings, j.failed_hard) == pytest.approx(2 / 2.5)


def test_an_integer_result_is_not_a_dtype_slip():
    expected = torch.tensor([1.0, 2.0], dtype=torch.float64)
    j = _judgement()
    assert not j.tensor(_value(torch.tensor([1, 2])), expected)
    assert score_findings(j.findings, j.failed_hard) == 0.0


# ------------------------------------------------------------------ whole cells


def _hidden(assignment: str, function: str, source: str):
    verdicts = grade(function, student_namespace(assignment, source))
    return next(v for v in verdicts if v.hidden), verdicts


RIGHT_VALUE_WRONG_DTYPE = [
    ("ps1_backward", "derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).sum().backward()
    return x.grad.to(torch.float64 if xs.dtype == torch.float32 else torch.float32)
"""),
    ("ps4_jacobians", "jacobian_reverse", """
def jacobian_reverse(f, x):
    J = torch.autograd.functional.jacobian(f, x.detach())
    return J.to(torch.float64 if x.dtype == torch.float32 else torch.float32)
"""),
    ("ps5_higher_order", "hessian", """
def hessian(f, x):
    H = torch.autograd.functional.hessian(f, x.detach())
    return H.to(torch.float64 if x.dtype == torch.float32 else torch.float32)
"""),
]


@pytest.mark.parametrize(("assignment", "function", "source"), RIGHT_VALUE_WRONG_DTYPE,
                         ids=[c[1] for c in RIGHT_VALUE_WRONG_DTYPE])
def test_right_value_wrong_dtype_keeps_at_least_half_and_is_named(assignment, function, source):
    hidden, verdicts = _hidden(assignment, function, source)
    assert hidden.points / 2 <= hidden.score < hidden.points, explain(verdicts)
    assert "wrong_dtype" in hidden.misconceptions(), explain(verdicts)


def test_wrong_value_right_dtype_earns_nothing():
    hidden, verdicts = _hidden("ps1_backward", "derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).sum().backward()
    return -x.grad
""")
    assert hidden.score == 0, explain(verdicts)


def test_right_value_modified_input_keeps_the_core_and_loses_the_extra():
    hidden, verdicts = _hidden("ps5_higher_order", "hessian", """
def hessian(f, x):
    x.requires_grad_(True)
    return torch.autograd.functional.hessian(f, x.detach())
""")
    assert "modified_input" in hidden.misconceptions(), explain(verdicts)
    for result in hidden.results:
        core = sum(f.weight for f in result.findings if f.core)
        total = sum(f.weight for f in result.findings)
        assert result.fraction == pytest.approx(core / total), explain(verdicts)
