"""The judge is total: whatever a test cell's records hold (a student can forge them: they are JSON in a
display output of the kernel), judging returns a score in [0, points] and a reason, and a record the
probe could not have written zeroes the cell with the reason "the record was tampered with"."""

from __future__ import annotations

import base64
import copy
import json

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from nbformat.v4 import new_code_cell, new_output

from autograder.judge.feedback import render_text
from autograder.judge.record import BadRecord, decode_record
from autograder.judge.verdict import TAMPERED, judge_records
from autograder.nbgrader_plugins.judge_probes import judge_cell
from autograder.probe import collect
from autograder.probe.contract import MIME_TYPE

CORRECT = {
    "test_vjp_hidden": "def vjp(f, x, v):\n    x = x.detach().requires_grad_()\n    f(x).backward(v)\n"
                       "    return x.grad\n",
    "test_weighted_sensitivity_hidden": (
        "def weighted_sensitivity():\n    inp = torch.eye(4, 5, requires_grad=True)\n"
        "    out = (inp + 10).pow(3).t()\n    v = weighted_upstream(out)\n    out.backward(v)\n"
        "    return v, inp.grad\n"),
    # models and optimizers as inputs, dicts of tensors observed, and call["saved"]
    "test_checkpointed_forward_hidden": (
        "def checkpointed_forward(blocks, x):\n    for block in blocks:\n"
        "        x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)\n    return x\n"),
    "test_train_step_hidden": (
        "def train_step(model, optimizer, loss_fn, batch):\n    optimizer.zero_grad()\n"
        "    loss = loss_fn(model(batch[0]), batch[1])\n    loss.backward()\n    optimizer.step()\n"
        "    return loss.item()\n"),
}
POINTS = {"test_vjp_hidden": 4.0, "test_weighted_sensitivity_hidden": 3.0, "test_checkpointed_forward_hidden": 4.0,
          "test_train_step_hidden": 3.0}
_RECORDS: dict[str, list[dict]] = {}


def real_records(grade_id: str) -> list[dict]:
    """The records the probe writes for a correct function, made once in this process."""
    if grade_id not in _RECORDS:
        ns: dict = {}
        exec("import torch\n" + CORRECT[grade_id], ns)
        _RECORDS[grade_id] = json.loads(json.dumps(collect(grade_id, ns)))  # as the notebook stores them
    return copy.deepcopy(_RECORDS[grade_id])


def assert_judged(grade_id: str, records) -> object:
    verdict = judge_records(grade_id, records, POINTS[grade_id])
    assert 0.0 <= verdict.score <= POINTS[grade_id]
    assert render_text(verdict)  # the feedback can be written
    if not verdict.full_marks:
        assert any(f.detail for r in verdict.results for f in r.findings if not f.passed) or verdict.notes
    return verdict


def assert_tampered(verdict) -> None:
    assert verdict.score == 0.0
    assert any(TAMPERED in note for note in verdict.notes), verdict.notes
    assert all(TAMPERED in f.detail for r in verdict.results for f in r.findings)


@pytest.mark.parametrize("grade_id", sorted(CORRECT))
def test_real_records_earn_full_marks(grade_id):
    assert judge_records(grade_id, real_records(grade_id), POINTS[grade_id]).full_marks


# ------------------------------------------------------------------ random JSON
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["tensor", "float64", "nan", "vjp/sin-f64", "test_vjp_hidden"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["v", "t", "scenario", "grade_id", "shape", "dtype", "b64", "items", "length", "calls",
                         "value", "status", "x"]) | st.text(max_size=5), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(json_values, min_size=1, max_size=4))
def test_random_json_is_judged_as_tampered(records):
    assert_tampered(assert_judged("test_vjp_hidden", records))


@settings(max_examples=40, deadline=None)
@given(records=json_values)
def test_records_that_are_not_a_list_are_judged(records):
    assert_judged("test_vjp_hidden", records)


# ------------------------------------------------------------------ mutations of real records
def _paths(node, prefix=()):
    """Every path to a node of a record (dict keys and list indices)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _replace(record, path, value):
    if not path:
        return value
    node = record
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), grade_id=st.sampled_from(sorted(CORRECT)))
def test_any_mutation_of_a_real_record_is_judged(data, grade_id):
    """Replace any node of a real record by any JSON: the judge answers; if the probe could not have
    written the result, the cell scores zero with the tampered reason."""
    records = real_records(grade_id)
    which = data.draw(st.integers(0, len(records) - 1))
    path = data.draw(st.sampled_from(list(_paths(records[which]))))
    records[which] = _replace(records[which], path, data.draw(json_values))
    verdict = assert_judged(grade_id, records)
    try:
        decode_record(records[which])
    except BadRecord:
        assert_tampered(verdict)


def _tensor(record):
    return record["calls"]["result"]["value"]


def _method(record):
    return record["calls"]["result"]["method"]


BIG = 10**12
IMPOSSIBLE = {
    "wrong version": lambda r: r.update(v=2),
    "version as a boolean": lambda r: r.update(v=True),
    "version as a float": lambda r: r.update(v=1.0),
    "missing version": lambda r: r.pop("v"),
    "missing scenario": lambda r: r.pop("scenario"),
    "another scenario of the course": lambda r: r.update(scenario="linear_vjp/wide-f64"),
    "another cell": lambda r: r.update(grade_id="test_linear_vjp_hidden"),
    "unhashable scenario": lambda r: r.update(scenario=["vjp/sin-f64"]),
    "another function": lambda r: r.update(function="linear_vjp"),
    "unknown status": lambda r: r.update(status="passed"),
    "unknown field": lambda r: r.update(score=1.0),
    "huge scenario id": lambda r: r.update(scenario="vjp/sin-f64" + "x" * 10**6),
    "calls not an object": lambda r: r.update(calls=[1, 2]),
    "call without value or error": lambda r: r["calls"]["result"].pop("value"),
    "call with value and error": lambda r: r["calls"]["result"].update(
        error={"t": "error", "type": "E", "message": "", "frames": []}),
    "negative shape": lambda r: _tensor(r).update(shape=[-1, -6]),
    "huge shape": lambda r: _tensor(r).update(shape=[BIG, BIG]),
    "gigantic shape": lambda r: _tensor(r).update(shape=[10**300]),
    "shape of 10^12 elements, described only": lambda r: _tensor(r).update(shape=[BIG] * 70),
    "shape as floats": lambda r: _tensor(r).update(shape=[6.0]),
    "shape of booleans": lambda r: _tensor(r).update(shape=[True] * 6),
    "shape inconsistent with data": lambda r: _tensor(r).update(shape=[7]),
    "bytes inconsistent with shape": lambda r: _tensor(r).update(b64=base64.b64encode(b"\0" * 40).decode()),
    "huge base64": lambda r: _tensor(r).update(b64="A" * 10**7),
    "unknown dtype": lambda r: _tensor(r).update(dtype="float128"),
    "dtype not a string": lambda r: _tensor(r).update(dtype=["float64"]),
    "pickled value": lambda r: r["calls"]["result"].update(value={"t": "pickle", "data": "gASV"}),
    "requires_grad not a flag": lambda r: _tensor(r).update(requires_grad="yes"),
    "grad of a grad": lambda r: _tensor(r).update(grad=dict(_tensor(r), grad=dict(_tensor(r)))),
    "NaN seconds": lambda r: r["calls"]["result"].update(seconds=float("nan")),
    "infinite seconds": lambda r: r["calls"]["result"].update(seconds=float("inf")),
    "negative seconds": lambda r: r["calls"]["result"].update(seconds=-1.0),
    "gigantic seconds": lambda r: r["calls"]["result"].update(seconds=10**400),
    "gigantic reverse passes": lambda r: r["calls"]["result"]["autograd"].update(reverse=10**40),
    "negative reverse passes": lambda r: r["calls"]["result"]["autograd"].update(reverse=-3),
    "reverse passes as text": lambda r: r["calls"]["result"]["autograd"].update(reverse="1"),
    "huge printed text": lambda r: r["calls"]["result"]["printed"].update(stdout="x" * 10**6),
    "huge int value": lambda r: r["calls"]["result"].update(value={"t": "int", "v": 10**100}),
    "NaN as a JSON float": lambda r: r["calls"]["result"].update(value={"t": "float", "v": float("nan")}),
    "float as text": lambda r: r["calls"]["result"].update(value={"t": "float", "v": "1e400"}),
    "negative length": lambda r: r["calls"]["result"].update(value={"t": "tuple", "items": [], "length": -1}),
    "length beyond the items": lambda r: r["calls"]["result"].update(
        value={"t": "tuple", "items": [{"t": "none"}], "length": 2}),
    "gigantic length": lambda r: r["calls"]["result"].update(value={"t": "list", "items": [], "length": 10**80}),
    "too many items": lambda r: r["calls"]["result"].update(
        value={"t": "list", "items": [{"t": "none"}] * 65, "length": 65}),
    "huge error message": lambda r: r["calls"]["result"].pop("value") and r["calls"]["result"].update(
        error={"t": "error", "type": "RuntimeError", "message": "boom " * 10**5, "frames": []}),
    "gigantic directions": lambda r: r["calls"]["result"]["autograd"].update(directions=10**40),
    "directions as text": lambda r: r["calls"]["result"]["autograd"].update(directions="1"),
    "method not an object": lambda r: r["calls"]["result"].update(method=[1]),
    "unknown method field": lambda r: _method(r).update(verdict="honest"),
    "evaluations not a list": lambda r: _method(r).update(evaluations={"shape": [4]}),
    "negative evaluation count": lambda r: _method(r)["evaluations"][0].update(count=-1),
    "evaluation shape of floats": lambda r: _method(r)["evaluations"][0].update(shape=[4.0]),
    "unknown AD state": lambda r: _method(r)["evaluations"][0].update(ad="dual"),
    "AD state not a string": lambda r: _method(r)["evaluations"][0].update(ad=["reverse"]),
    "more evaluation kinds than the probe keeps": lambda r: _method(r).update(
        evaluations=_method(r)["evaluations"] * 17),
    "reverse sweep of order 0": lambda r: _method(r)["reverse"][0].update(order=0),
    "the same sweep order twice": lambda r: _method(r).update(reverse=_method(r)["reverse"] * 2),
    "gigantic sweep order": lambda r: _method(r)["reverse"][0].update(order=10**6),
    "directions as a boolean": lambda r: _method(r)["reverse"][0].update(directions=True),
    "sweep with an unknown field": lambda r: _method(r)["reverse"][0].update(verdict="ok"),
    "incomplete not a flag": lambda r: _method(r).update(incomplete="no"),
    "probe error without its status": lambda r: r.update(
        probe_error={"t": "error", "type": "E", "message": "", "frames": []}),
    "record is a list": lambda r: r.clear(),
}


def _deep(r):
    value = {"t": "none"}
    for _ in range(5000):
        value = {"t": "list", "items": [value], "length": 1}
    r["calls"]["result"]["value"] = value


IMPOSSIBLE["deep nesting"] = _deep


@pytest.mark.parametrize("name", sorted(IMPOSSIBLE))
def test_impossible_records_are_tampered(name):
    records = real_records("test_vjp_hidden")
    IMPOSSIBLE[name](records[2])
    if name == "record is a list":
        records[2] = []
    assert_tampered(assert_judged("test_vjp_hidden", records))


@pytest.mark.parametrize("how", ["twice", "with an extra scenario"])
def test_duplicated_records_are_tampered(how):
    records = real_records("test_vjp_hidden")
    records += [copy.deepcopy(records[0])] if how == "twice" else [dict(records[0], scenario="vjp/visible")]
    assert_tampered(assert_judged("test_vjp_hidden", records))


def test_plausible_but_wrong_values_are_judged_not_called_tampered():
    """A record that the probe could have written (here: a wrong result) is judged on its merits."""
    records = real_records("test_vjp_hidden")
    value = records[0]["calls"]["result"]["value"]
    wrong = torch.frombuffer(bytearray(base64.b64decode(value["b64"])), dtype=torch.float64) * 2
    value["b64"] = base64.b64encode(wrong.numpy().tobytes()).decode()
    verdict = assert_judged("test_vjp_hidden", records)
    assert 0 < verdict.score < POINTS["test_vjp_hidden"] and not verdict.notes


def test_fewer_records_than_scenarios_are_judged_for_what_they_show():
    records = real_records("test_vjp_hidden")[:3]
    verdict = assert_judged("test_vjp_hidden", records)
    assert 0 < verdict.score < POINTS["test_vjp_hidden"]
    assert "did not run" in render_text(verdict)


# ------------------------------------------------------------------ the notebook step
def _test_cell(outputs):
    cell = new_code_cell("run_suite()", metadata={"nbgrader": {
        "grade": True, "solution": False, "grade_id": "test_vjp_hidden", "points": 4, "locked": True}})
    cell.outputs = outputs
    return cell


@pytest.mark.parametrize("data", [
    MIME_TYPE * 3,                              # a string that contains the MIME type
    [MIME_TYPE],
    {MIME_TYPE: "not a record"},
    {MIME_TYPE: None},
    {MIME_TYPE: {"v": 1, "scenario": {"nested": True}}},
])
def test_odd_outputs_of_a_test_cell_are_judged(data):
    output = new_output("display_data", data={})
    output["data"] = data
    cell = _test_cell([output])
    verdict = judge_cell(cell)
    assert verdict is not None and verdict.score == 0.0
    assert [o["output_type"] for o in cell.outputs] == ["display_data", "execute_result"]
