"""One graded function is four parts: the notebook's cells, the scenarios, the rubric and the bank.
Each missing or mispaired part fails here with a message that names it (the notebook side is checked in
``test_notebooks.py::test_graded_contract``)."""

from __future__ import annotations

import importlib.util

import pytest
from support import NOTEBOOKS

from autograder.judge import rubrics
from autograder.probe.scenario import Scenario, all_suites, assignment_of, assignments


def _functions_of(assignment: str) -> set[str]:
    return {s.function for gid, suite in all_suites().items() if assignment_of(gid) == assignment for s in suite}


def test_every_assignment_in_source_has_scenarios_and_every_scenario_module_an_assignment():
    assert set(assignments()) == set(NOTEBOOKS), (
        "source/ and autograder/probe/scenarios/ disagree: every assignment folder needs a scenario module "
        f"of the same name and vice versa (source: {sorted(NOTEBOOKS)}, scenarios: {sorted(assignments())})")


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_every_assignment_has_a_rubric_module(assignment):
    spec = importlib.util.find_spec(f"autograder.judge.rubrics.{assignment}")
    assert spec is not None, f"autograder/judge/rubrics/{assignment}.py is missing: its scenarios have no judge"


def test_every_scenario_has_a_rubric_and_every_rubric_judges_a_scenario():
    rubrics.load_all()
    rubrics.check_pairs()


@pytest.mark.parametrize("typo", ["vjp.one_pas", "weighted_upstrem"])
def test_a_scenario_naming_an_unknown_rubric_fails_when_the_rubrics_load(monkeypatch, typo):
    rubrics.load_all()
    stray = Scenario("stray/typo", "vjp", "a scenario with a typo in its rubric key", lambda g: {}, rubric=typo)
    suites = {**all_suites(), "test_stray": (stray,)}
    monkeypatch.setattr(rubrics, "all_suites", lambda: suites)
    with pytest.raises(rubrics.RubricMismatch, match=rf"no rubric '{typo}' for the scenario\(s\) stray/typo"):
        rubrics.check_pairs()


def test_a_rubric_judging_no_scenario_fails_when_the_rubrics_load(monkeypatch):
    rubrics.load_all()
    monkeypatch.setitem(rubrics.RUBRICS, "orphan.key", lambda j: None)
    with pytest.raises(rubrics.RubricMismatch, match=r"rubric 'orphan.key' .* judges no scenario"):
        rubrics.check_pairs()


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_every_graded_function_has_a_bank_of_right_and_wrong_implementations(assignment):
    spec = importlib.util.find_spec(f"banks.{assignment}")
    assert spec is not None, (f"tests/banks/{assignment}.py is missing: add CORRECT and WRONG implementations "
                              f"of {', '.join(sorted(_functions_of(assignment)))}")
    bank = importlib.import_module(f"banks.{assignment}")
    for kind in ("CORRECT", "WRONG"):
        covered = {impl.function for impl in getattr(bank, kind, [])}
        missing = sorted(_functions_of(assignment) - covered)
        assert not missing, f"tests/banks/{assignment}.py: {kind} has no implementation of {', '.join(missing)}"
