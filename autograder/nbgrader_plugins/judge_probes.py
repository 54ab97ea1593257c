"""The trusted grading step: a preprocessor that runs after nbgrader's ``Execute``.

For each of the course's autograder test cells it reads the probe records from the cell's output,
judges them (``autograder.judge``), and replaces the output with the diagnosis and the score in the
form nbgrader's ``SaveAutoGrades`` understands: a display of the feedback, then an ``execute_result``
holding the points earned (nbgrader's partial-credit convention). Whatever the student's code printed,
warned or raised inside the test cell is thereby discarded, so noise never costs points and a
forged output never earns any.

The judge (``autograder.judge``) and the scenario registry import torch, so they are imported on first use,
not with this module: nbgrader imports this module whenever it builds the course config's preprocessors,
and a command that never reaches a test cell must not pay for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.probe.contract import METADATA_KEY, MIME_TYPE, UNREADABLE, RecordingFinished, stop_reason

if TYPE_CHECKING:
    from autograder.judge.verdict import CellVerdict


def suite(grade_id: str):
    """The scenarios of a course test cell (``autograder.probe.scenario.suite``; imports torch on first use)."""
    from autograder.probe.scenario import suite

    return suite(grade_id)


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def judged_by_the_judge(cell) -> bool:
    """A course test cell: after grading, its outputs are the judge's (trusted) and nothing else."""
    return is_test_cell(cell) and suite(cell.metadata["nbgrader"].get("grade_id", "")) is not None


def _carries_record(output) -> bool:
    data = output.get("data")
    return isinstance(data, dict) and MIME_TYPE in data


def cell_problems(outputs) -> list[str]:
    """Why a test cell may have stopped early, from its error outputs."""
    problems = []
    for output in outputs:
        if output.get("output_type") != "error":
            continue
        name, value = output.get("ename", ""), str(output.get("evalue", ""))[:200]
        if name == RecordingFinished.__name__:
            continue
        reason = stop_reason(name)
        if reason is not None and reason.student is not None:
            problems.append(reason.student)
        else:
            problems.append(f"the cell raised {name}: {value}" if value else f"the cell raised {name}")
    return problems


def verdict_outputs(verdict: CellVerdict) -> list[NotebookNode]:
    from autograder.judge.feedback import render_html, render_text

    feedback = new_output("display_data", data={"text/plain": render_text(verdict),
                                                "text/html": render_html(verdict)})
    score = new_output("execute_result", data={"text/plain": repr(float(verdict.score))}, execution_count=None)
    return [feedback, score]


def judge_cell(cell, unreadable: str | None = None) -> CellVerdict | None:
    """Judge one executed test cell in place; returns None for cells that are not the course's."""
    if not is_test_cell(cell):
        if cell.cell_type == "code":  # records outside the course's test cells are forgeries: drop them
            cell.outputs = [o for o in cell.outputs if not _carries_record(o)]
        return None
    grade_id = cell.metadata["nbgrader"]["grade_id"]
    if suite(grade_id) is None:
        return None
    from autograder.judge.verdict import judge_records

    records = [o["data"][MIME_TYPE] for o in cell.outputs
               if o.get("output_type") in ("display_data", "execute_result") and _carries_record(o)]
    verdict = judge_records(grade_id, records, float(cell.metadata["nbgrader"]["points"]),
                            cell_problems(cell.outputs), unreadable=unreadable)
    execution_count = cell.get("execution_count")
    cell.outputs = verdict_outputs(verdict)
    cell.outputs[-1]["execution_count"] = execution_count
    cell.metadata[METADATA_KEY] = verdict.summary()
    return verdict


class JudgeProbeRecords(NbGraderPreprocessor):
    """Judge the probe records of every autograder test cell (place it right after ``Execute``)."""

    def preprocess(self, nb, resources):
        ours = nb.metadata.get(METADATA_KEY)
        self._unreadable = ours.get(UNREADABLE) if isinstance(ours, dict) else None
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        verdict = judge_cell(cell, getattr(self, "_unreadable", None))
        if verdict is not None and not verdict.full_marks:
            self.log.info("%s: %s/%s", verdict.grade_id, verdict.score, verdict.points)
        return cell, resources
