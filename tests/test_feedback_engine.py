"""Unit tests of the feedback engine: encoding, hostile records, comparison, diagnosis, scoring, errors."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from autograder.judge import misconceptions as mc
from autograder.judge import rubrics
from autograder.judge.compare import compare_tensor
from autograder.judge.feedback import render_html, render_text
from autograder.judge.judgement import ErrorRule, Finding, Judgement, score_findings
from autograder.judge.record import BadRecord, Call, ErrorValue, Observation, TensorValue, decode_record, decode_value
from autograder.judge.torch_errors import explain_error
from autograder.judge.verdict import judge_records
from autograder.probe import collect
from autograder.probe.encode import encode

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool]


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
       seed=st.integers(0, 2**16))
def test_tensors_survive_the_trip_from_kernel_to_judge(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(tuple(shape), generator=g, dtype=torch.float64) * 10).to(dtype)
    back = decode_value(encode(t))
    assert isinstance(back, TensorValue) and back.shape == tuple(shape)
    assert back.tensor.dtype == dtype and torch.equal(back.tensor, t)


def test_autograd_facts_and_grads_are_recorded():
    leaf = torch.ones(3, requires_grad=True)
    (leaf * 2).sum().backward()
    value = decode_value(encode(leaf, with_grad=True))
    assert value.requires_grad and value.is_leaf and value.grad is not None
    assert torch.equal(value.grad.tensor, torch.full((3,), 2.0))
    nonleaf = decode_value(encode(leaf * 3))
    assert not nonleaf.is_leaf and nonleaf.grad_fn == "MulBackward0"


def test_non_contiguous_and_conjugate_views_are_copied_correctly():
    t = torch.arange(12.0).reshape(3, 4).t()
    assert torch.equal(decode_value(encode(t)).tensor, t)
    neg = torch.arange(4.0)._neg_view()
    assert torch.equal(decode_value(encode(neg)).tensor, -torch.arange(4.0))


@pytest.mark.parametrize("mutate", [
    lambda r: r.update(v=99),
    lambda r: r.__setitem__("scenario", 12),
    lambda r: r["calls"]["result"]["value"].update(dtype="float128"),
    lambda r: r["calls"]["result"]["value"].update(shape=[10**6, 10**6]),
    lambda r: r["calls"]["result"]["value"].update(b64="!!!not base64!!!"),
    lambda r: r["calls"]["result"]["value"].update(b64=base64.b64encode(b"12").decode()),
    lambda r: r["calls"]["result"].update(value={"t": "pickle", "data": "gASV..."}),
    lambda r: r["calls"].update(result="not a dict"),
])
def test_hostile_records_are_rejected_not_trusted(mutate):
    record = {"v": 1, "scenario": "s", "function": "f", "status": "done", "inputs_before": {}, "inputs_after": {},
              "observed": {}, "calls": {"result": {"value": encode(torch.ones(2)), "autograd": {"reverse": 1}}}}
    decode_record(copy.deepcopy(record))  # the untouched record is fine
    mutate(record)
    with pytest.raises(BadRecord):
        decode_record(record)


def test_deeply_nested_values_are_refused():
    value = {"t": "none"}
    for _ in range(50):
        value = {"t": "list", "items": [value], "length": 1}
    with pytest.raises(BadRecord):
        decode_value(value)


def test_comparison_reports_type_then_shape_then_dtype_then_values():
    expected = torch.zeros(3, dtype=torch.float64)
    assert compare_tensor(decode_value(encode((1, 2))), expected).stage == "type"
    assert compare_tensor(decode_value(encode(torch.zeros(3, 1, dtype=torch.float64))), expected).stage == "shape"
    assert compare_tensor(decode_value(encode(torch.zeros(3))), expected).stage == "dtype"
    wrong = torch.tensor([0.0, 5.0, 0.0], dtype=torch.float64)
    cmp = compare_tensor(decode_value(encode(wrong)), expected)
    assert cmp.stage == "values" and "1 of 3" in cmp.message and "[1]" in cmp.message
    assert "0., 0., 0." not in cmp.message  # never prints the expected tensor


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 6), seed=st.integers(0, 1000))
def test_integer_multiples_are_diagnosed_as_accumulation(k, seed):
    expected = torch.randn(5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 3
    key, text = mc.diagnose(k * expected, expected)
    assert key == ("accumulated_twice" if k == 2 else "accumulated_k")
    assert (str(k) in text) or k == 2


def test_candidates_are_tried_before_generic_patterns():
    rubrics.load_all()   # jv_instead_of_vjp belongs to ps2_vjp
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    assert mc.diagnose(expected.t(), expected)[0] == "transposed_jacobian"
    cand = [mc.candidate("jv_instead_of_vjp", expected.t())]
    assert mc.diagnose(expected.t(), expected, cand)[0] == "jv_instead_of_vjp"
    assert mc.diagnose(-expected, expected)[0] == "negated"
    assert mc.diagnose(torch.zeros(2, 2, dtype=torch.float64), expected)[0] == "all_zeros"
    assert mc.diagnose(expected + torch.tensor([[0.0, 1.0], [7.0, 0.0]], dtype=torch.float64), expected) is None


def test_every_catalogue_message_formats_without_placeholders():
    rubrics.load_all()
    for key in mc.CATALOGUE:
        text = mc.message(key)
        assert "{" not in text and "}" not in text, key


def test_extras_count_only_when_the_core_is_right():
    core_fail = [Finding("values", False), Finding("untouched", True, 0.5, core=False)]
    assert score_findings(core_fail, hard_fail=False) == 0.0
    partial = [Finding("a", True), Finding("b", False), Finding("untouched", True, 0.5, core=False)]
    assert score_findings(partial, hard_fail=False) == pytest.approx(1 / 2.5)
    assert score_findings([Finding("a", True)], hard_fail=True) == 0.0


def test_assignment_misconceptions_are_registered_by_their_rubrics_and_reach_the_class_report():
    """The central catalogue holds the generic entries only and does not load the rubrics itself; whoever
    shows an assignment's own entry (the class report) loads them."""
    code = ("from autograder.judge import misconceptions as mc\n"
            "assert 'swapped_modes' not in mc.CATALOGUE and 'wrong_values' in mc.CATALOGUE\n"
            "from autograder.reporting.class_report import _title\n"
            "assert _title('swapped_modes') == 'forward and reverse costs swapped', _title('swapped_modes')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _judgement(error: ErrorValue | None = None, function: str = "f") -> Judgement:
    obs = Observation("s", function, "ok", {}, {}, {"result": Call(error=error)}, {})
    return Judgement(obs, {}, function, errors=[
        ErrorRule("graph a second time", "missing_create_graph", hint="rule hint", functions=("f",))])


def test_rubric_error_rules_come_before_the_shared_table_and_fail_the_first_call_hard():
    error = ErrorValue("RuntimeError", "Trying to backward through the graph a second time")
    j = _judgement(error)
    assert j.call() is None and j.failed_hard
    assert j.findings[-1].misconception == "missing_create_graph" and j.findings[-1].detail.endswith("Rule hint")
    other = _judgement(error, function="g")    # the rule is for f only: the shared table decides
    assert other.call() is None and other.findings[-1].misconception == "missing_retain_graph"


def test_findings_are_amended_only_through_the_judgement():
    j = _judgement()
    assert j.first_check
    j.fail("values", "wrong_values", message="off.")
    assert not j.first_check and not j.failed_hard and isinstance(j.findings, tuple)
    with pytest.raises(AttributeError):
        j.findings[-1].detail = "edited"
    assert not j.explain_last("ignored", when="negated")
    assert j.explain_last("More.", when="wrong_values", misconception="scaled")
    assert j.findings[-1].detail == "off. More." and j.findings[-1].misconception == "scaled"
    j.fail("sign", "negated")
    assert j.rediagnose("negated", "Flipped.") and j.findings[-1].detail == "Flipped."
    j.add("extra", False, core=False, hard=True)
    assert j.failed_hard and score_findings(j.findings, j.failed_hard) == 0.0


@pytest.mark.parametrize(("message", "key"), [
    ("grad can be implicitly created only for scalar outputs", "upstream_missing"),
    ("Trying to backward through the graph a second time (or directly access saved tensors ...)",
     "missing_retain_graph"),
    ("Mismatch in shape: grad_output[0] has a shape of torch.Size([4]) and output[0] has a shape of "
     "torch.Size([5]).", "upstream_wrong_shape"),
    ("element 0 of tensors does not require grad and does not have a grad_fn", "not_connected"),
])
def test_torch_errors_become_hints(message, key):
    got, text = explain_error(ErrorValue("RuntimeError", message), "vjp")
    assert got == key and "vjp" in text and "Traceback" not in text


def test_missing_create_graph_is_recognised_after_a_first_pass():
    error = ErrorValue("RuntimeError", "element 0 of tensors does not require grad and does not have a grad_fn")
    assert explain_error(error, "hessian", reverse_passes=2)[0] == "missing_create_graph"


def _namespace(source: str) -> dict:
    ns: dict = {}
    exec("import torch\n" + source, ns)
    return ns


def test_forged_or_duplicated_records_earn_nothing():
    ns = _namespace("def vjp(f, x, v):\n    x = x.detach().requires_grad_()\n    f(x).backward(v)\n    return x.grad\n")
    records = collect("test_vjp", ns)
    assert judge_records("test_vjp", records, 1).full_marks
    assert judge_records("test_vjp", records + records, 1).score == 0
    forged = dict(records[0], scenario="vjp/not-a-scenario")
    assert judge_records("test_vjp", records + [forged], 1).score == 0


def test_inputs_altered_in_the_kernel_earn_nothing():
    ns = _namespace("def vjp(f, x, v):\n    return torch.cos(x) * v\n")
    records = collect("test_vjp", ns)
    assert judge_records("test_vjp", records, 1).full_marks
    records[0]["inputs_before"]["x"] = encode(torch.zeros(4, dtype=torch.float64), with_grad=True)
    verdict = judge_records("test_vjp", records, 1)
    assert verdict.score == 0 and "input_tampered" in verdict.misconceptions()


def test_report_names_the_mistake():
    ns = _namespace("def vjp(f, x, v):\n    return torch.cos(x) * v * 2\n")
    verdict = judge_records("test_vjp", collect("test_vjp", ns), 1)
    assert "twice the expected one" in render_text(verdict) and "0 / 1 point" in render_text(verdict)
    assert "autograder-feedback" in render_html(verdict) and "twice the expected one" in render_html(verdict)


def test_student_text_in_feedback_is_escaped():
    ns = _namespace("def vjp(f, x, v):\n    raise RuntimeError('<script>alert(1)</script>')\n")
    html = render_html(judge_records("test_vjp", collect("test_vjp", ns), 1))
    assert "<script>" not in html and "&lt;script&gt;" in html
