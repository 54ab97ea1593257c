"""A sample cohort built from the course's own notebooks: right, partly wrong, unfinished, broken and
hostile submissions, laid out as ``nbgrader collect`` would leave them in ``submitted/``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from ..course import Course
from .mistakes import MISTAKES

STUDENTS = {
    "ada": "every function correct",
    "ben": "two functions with a typical mistake each",
    "cleo": "only the first function answered",
    "dev": "a broken or hostile submission (a different kind in each assignment)",
    "eve": "the release notebook submitted unchanged",
}
BROKEN_KINDS = ("truncated_json", "missing_notebook", "endless_loop", "kernel_crash", "cheater")

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")

CHEAT_CELL = '''
# Make every comparison succeed, then return nothing useful.
import math, numpy
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
numpy.allclose = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
'''


def solution_code(cell_source: str) -> str:
    """A source solution cell as a student would have written it (without nbgrader's markers)."""
    return "\n".join(line for line in cell_source.splitlines() if not _MARKER.match(line))


def correct_answers(source_notebook) -> dict[str, str]:
    """grade id -> the solution code of each solution cell of a source notebook, without the markers."""
    return {c.metadata["nbgrader"]["grade_id"]: solution_code(c.source) for c in source_notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def graded_functions(notebook) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def fill(release, answers: dict[str, str]):
    """A copy of the release notebook with the given solution cells filled in."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in answers:
            cell.source = answers[grade_id].strip("\n")
    return nb


def notebook_plans(course: Course, assignment: str, name: str) -> tuple[dict, dict[str, str]]:
    """The notebook ``name`` as students with each plan submit it: every function ``correct``, the first two
    with a typical ``mistakes`` each, the ``first_only`` answered, the release ``unchanged``. Also returns the
    correct answers (grade id -> code)."""
    source = nbformat.read(course.source / assignment / f"{name}.ipynb", as_version=4)
    release = nbformat.read(course.release / assignment / f"{name}.ipynb", as_version=4)
    correct = correct_answers(source)
    functions = list(correct)
    wrong = {fn: MISTAKES[fn][1] for fn in functions[:2] if fn in MISTAKES}
    plans = {
        "correct": fill(release, correct),
        "mistakes": fill(release, {**correct, **wrong}),
        "first_only": fill(release, {functions[0]: correct[functions[0]]}),
        "unchanged": release,
    }
    return plans, correct


PLAN_OF = {"ada": "correct", "ben": "mistakes", "cleo": "first_only", "eve": "unchanged"}   # dev: broken


Folder = Callable[[str, str], Path]   # (student, assignment) -> the folder a submission is written into


def collected_folder(course: Course) -> Folder:
    """Straight into ``submitted/``, with a ``timestamp.txt`` as ``nbgrader collect`` leaves it."""

    def folder(student: str, assignment: str) -> Path:
        path = course.submitted / student / assignment
        path.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
        (path / "timestamp.txt").write_text(stamp)
        return path

    return folder


def build(course: Course, assignments: list[str], folder: Folder | None = None) -> dict[tuple[str, str], str]:
    """Write the cohort's submissions; returns (student, assignment) -> what the submission is. ``folder``
    says where each one goes (default: ``submitted/``; the exchange demo passes each student's fetched copy)."""
    folder = folder or collected_folder(course)
    made: dict[tuple[str, str], str] = {}
    for index, assignment in enumerate(assignments):
        for name in course.notebooks(assignment):
            plans, correct = notebook_plans(course, assignment, name)
            kind = BROKEN_KINDS[index % len(BROKEN_KINDS)]
            for student, plan in PLAN_OF.items():
                nbformat.write(plans[plan], folder(student, assignment) / f"{name}.ipynb")
                made[(student, assignment)] = STUDENTS[student]
            made[("dev", assignment)] = _broken(folder("dev", assignment), name, kind, plans["unchanged"], correct)
    return made


def _broken(folder: Path, name: str, kind: str, release, correct: dict[str, str]) -> str:
    path = folder / f"{name}.ipynb"
    functions = list(correct)
    if kind == "truncated_json":
        text = nbformat.writes(fill(release, correct))
        path.write_text(text[: len(text) // 2])
        return "notebook file cut off half-way (invalid JSON)"
    if kind == "missing_notebook":
        path.unlink(missing_ok=True)   # a fetched copy holds the release notebook: the student deleted it
        (folder / "notes.txt").write_text("I could not finish, sorry.\n")
        return "notebook missing from the submission"
    if kind == "endless_loop":
        answers = dict(correct)
        answers[functions[0]] = f"def {functions[0]}(*args, **kwargs):\n    while True:\n        pass\n"
        nbformat.write(fill(release, answers), path)
        return f"an endless loop in {functions[0]}, everything else correct"
    if kind == "kernel_crash":
        answers = dict(correct)
        answers[functions[-1]] = "import os\nos._exit(1)\n\n" + correct[functions[-1]]
        nbformat.write(fill(release, answers), path)
        return f"kills its own kernel (os._exit) in the cell of {functions[-1]}, everything before correct"
    answers = {fn: f"def {fn}(*args, **kwargs):\n    return torch.tensor(0.0)\n" for fn in functions}
    answers[functions[0]] = CHEAT_CELL + "\n" + answers[functions[0]]
    nbformat.write(fill(release, answers), path)
    return "monkeypatches torch/numpy/math comparisons and returns zeros"
