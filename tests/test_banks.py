"""Every correct implementation keeps full marks; every wrong one loses points and is named."""

from __future__ import annotations

import importlib

import pytest
from support import assignments_with_suites, explain, grade, grade_impl, solution_cells, student_namespace

from autograder.demo.mistakes import MISTAKES
from autograder.probe.scenario import all_suites, assignment_of

BANKS = {name: importlib.import_module(f"banks.{name}") for name in assignments_with_suites()
         if importlib.util.find_spec(f"banks.{name}") is not None}


def _graded_functions(assignment: str) -> list[str]:
    """The functions the solution cells define (``def name(``), in notebook order."""
    return [line.split("(")[0][4:] for cell in solution_cells(assignment) for line in cell.splitlines()
            if line.startswith("def ")]


def _cases(kind: str):
    for assignment, bank in BANKS.items():
        for impl in getattr(bank, kind):
            yield pytest.param(assignment, impl, id=f"{assignment}:{impl.id}")


@pytest.mark.parametrize(("assignment", "impl"), list(_cases("CORRECT")))
def test_correct_implementation_keeps_full_marks(assignment, impl):
    verdicts = grade_impl(assignment, impl)
    assert verdicts, f"no test cells for {impl.function}"
    assert all(v.full_marks for v in verdicts), explain(verdicts)


@pytest.mark.parametrize(("assignment", "impl"), list(_cases("WRONG")))
def test_wrong_implementation_loses_points_and_is_named(assignment, impl):
    verdicts = grade_impl(assignment, impl)
    hidden = [v for v in verdicts if v.hidden]
    assert hidden and not all(v.full_marks for v in hidden), explain(verdicts)
    named = {key for v in verdicts for key in v.misconceptions()}
    assert impl.expect in named, f"expected {impl.expect!r}, feedback named {sorted(named)}\n" + explain(verdicts)


@pytest.mark.parametrize("assignment", sorted(BANKS))
def test_bank_covers_every_graded_function(assignment):
    bank = BANKS[assignment]
    defined = set(_graded_functions(assignment))
    assert defined <= {i.function for i in bank.CORRECT}, "a graded function has no correct alternatives"
    assert defined <= {i.function for i in bank.WRONG}, "a graded function has no wrong implementations"


def _functions():
    for assignment in sorted(BANKS):
        for function in _graded_functions(assignment):
            yield assignment, function


@pytest.mark.parametrize("body", ["return torch.tensor(0.0)", "return None", "pass", "return args[0] if args else 0"])
@pytest.mark.parametrize(("assignment", "function"), list(_functions()))
def test_doing_nothing_earns_nothing(assignment, function, body):
    """Properties a do-nothing function satisfies (an untouched graph, a .grad left None) never earn points."""
    verdicts = grade(function, student_namespace(assignment, f"def {function}(*args, **kwargs):\n    {body}\n"))
    assert all(v.score == 0 for v in verdicts), explain(verdicts)


@pytest.mark.parametrize("function", sorted(MISTAKES))
def test_the_demo_mistakes_are_named(function):
    assignment = next(assignment_of(g) for g, s in all_suites().items() if s[0].function == function)
    key, source = MISTAKES[function]
    verdicts = grade(function, student_namespace(assignment, source))
    assert not all(v.full_marks for v in verdicts if v.hidden)
    assert key in {k for v in verdicts for k in v.misconceptions()}, explain(verdicts)
