"""Every correct implementation keeps full marks; every wrong one loses points and is named."""

from __future__ import annotations

import importlib

import pytest
from support import assignments_with_suites, explain, grade_impl

BANKS = {name: importlib.import_module(f"banks.{name}") for name in assignments_with_suites()
         if importlib.util.find_spec(f"banks.{name}") is not None}


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
    from support import solution_cells
    bank = BANKS[assignment]
    defined = {line.split("(")[0][4:] for cell in solution_cells(assignment) for line in cell.splitlines()
               if line.startswith("def ")}
    assert defined <= {i.function for i in bank.CORRECT}, "a graded function has no correct alternatives"
    assert defined <= {i.function for i in bank.WRONG}, "a graded function has no wrong implementations"
