"""Judging in the same process, for instructors: running a source notebook in JupyterLab or through
``nbgrader validate`` prints the verdict of each hidden test and fails the cell when a check fails."""

from __future__ import annotations

from .feedback import render_text
from .verdict import judge_records


class HiddenTestFailure(AssertionError):
    pass


def judge_here(grade_id: str, records: list[dict]) -> None:
    verdict = judge_records(grade_id, records)
    text = render_text(verdict)
    if not verdict.full_marks:
        raise HiddenTestFailure(text)
    print(text)
