"""Shared helpers for the tests: run implementations through the probe and the judge in-process."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.course import Course
from autograder.judge.verdict import CellVerdict, judge_records
from autograder.probe import collect
from autograder.probe.scenario import all_suites, assignment_of

ROOT = Path(__file__).resolve().parents[1]


def _discover_notebooks() -> dict[str, str]:
    """Each assignment in ``source/`` and its notebook (discovered, never listed: the course has one
    notebook per assignment)."""
    course = Course(ROOT)
    found = {}
    for assignment in course.assignments():
        names = course.notebooks(assignment)
        if len(names) != 1:
            raise RuntimeError(f"source/{assignment} holds {len(names)} notebooks; the tests expect exactly one")
        found[assignment] = f"{names[0]}.ipynb"
    return found


NOTEBOOKS = _discover_notebooks()


def notebook_path(assignment: str, folder: str = "source") -> Path:
    return ROOT / folder / assignment / NOTEBOOKS[assignment]


@dataclass(frozen=True)
class Impl:
    """One implementation of a graded function, as a student might write it."""

    function: str
    source: str
    note: str                      # what makes this implementation different
    expect: str | None = None      # None: full marks; else the misconception the feedback must name

    @property
    def id(self) -> str:
        return f"{self.function}:{self.note}"


def solution_cells(assignment: str) -> list[str]:
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def student_namespace(assignment: str, *sources: str) -> dict:
    """A notebook-like namespace: the reference solutions of the assignment, then ``sources``."""
    namespace: dict = {"__name__": "__main__"}
    exec("import torch\nimport math", namespace)
    for code in [*solution_cells(assignment), *sources]:
        exec(compile(textwrap.dedent(code), "<student cell>", "exec"), namespace)
    return namespace


def cells_of_function(function: str) -> list[str]:
    return [gid for gid, scenarios in all_suites().items() if scenarios[0].function == function]


def grade(function: str, namespace: dict) -> list[CellVerdict]:
    """Verdicts of every test cell of ``function`` for the functions defined in ``namespace``."""
    return [judge_records(gid, collect(gid, namespace)) for gid in cells_of_function(function)]


def grade_impl(assignment: str, impl: Impl) -> list[CellVerdict]:
    return grade(impl.function, student_namespace(assignment, impl.source))


def explain(verdicts: list[CellVerdict]) -> str:
    from autograder.judge.feedback import render_text
    return "\n".join(render_text(v) for v in verdicts)


def assignments_with_suites() -> list[str]:
    return sorted({assignment_of(gid) for gid in all_suites()})
