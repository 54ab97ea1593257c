"""A known-good function swapped in while another is checked (``session.stand_in``) behaves like the real
one, wrong arguments included, and the judge can recompute what it returned."""

from __future__ import annotations

import pytest
import torch
from support import explain, grade, student_namespace

from autograder.probe.scenario import all_suites

STAND_IN_SCENARIOS = [s for scenarios in all_suites().values() for s in scenarios if "stand_in" in s.inputs()]


def _stand_in():
    return STAND_IN_SCENARIOS[0].inputs()["stand_in"]


def _reference_helper():
    return student_namespace("ps2_vjp")["weighted_upstream"]


def _tutorial_out(dtype=torch.float32):
    inp = torch.eye(4, 5, dtype=dtype, requires_grad=True)
    return inp, (inp + 10).pow(3).t()


def test_there_is_a_stand_in():
    assert STAND_IN_SCENARIOS, "no scenario swaps in a stand-in (update this test if that is intended)"


def test_the_stand_in_passes_the_tests_of_the_function_it_replaces():
    namespace = student_namespace("ps2_vjp")
    namespace["weighted_upstream"] = _stand_in()
    verdicts = grade("weighted_upstream", namespace)
    assert all(v.full_marks for v in verdicts), explain(verdicts)


def _outcome(fn, arg):
    try:
        v = fn(arg)
    except Exception as exc:  # the kind of failure is what is compared
        return type(exc)
    return tuple(v.shape), v.dtype, v.requires_grad


@pytest.mark.parametrize("make", [
    lambda inp, out: out,
    lambda inp, out: out.detach(),
    lambda inp, out: inp,
    lambda inp, out: out.t(),
    lambda inp, out: out.double(),
    lambda inp, out: out[0],
    lambda inp, out: torch.tensor(1.0),
    lambda inp, out: out.shape,
    lambda inp, out: None,
], ids=["out", "out.detach()", "inp", "out.t()", "out.double()", "out[0]", "a 0-d tensor", "out.shape", "None"])
def test_the_stand_in_takes_and_rejects_what_the_reference_does(make):
    inp, out = _tutorial_out()
    arg = make(inp, out)
    assert _outcome(_stand_in(), arg) == _outcome(_reference_helper(), arg)


def test_the_stand_in_computes_from_its_argument_and_the_judge_can_recompute_it():
    inp, out = _tutorial_out()
    helper = _stand_in()
    v = helper(out)
    assert not torch.allclose(v, helper(out.detach() * 0)), "a wrong argument of the right shape must show"
    assert float(v[0].min()) > float(v[1:].max()) and bool((v >= 0).all())
    assert torch.equal(_stand_in().upstream(out.detach()), v), "rebuilt from the seed, it gives the same v"
    assert helper.calls == 2 and len(helper.arguments) == 2
