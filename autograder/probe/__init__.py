"""The part of the grader that runs inside the student's kernel.

A hidden test cell contains one line::

    from autograder.probe import run_suite; run_suite("test_vjp_hidden", globals())

During ``nbgrader autograde`` (or ``autograder autograde``) this only *records*: it calls the student's
function on the scenario inputs and writes what came back into the cell's output as JSON. References,
comparisons and scores live in ``autograder.judge``, which runs in the grading process after the
notebook has executed, so a student's code can neither read them nor patch them.

Anywhere else (the instructor running a source notebook, ``nbgrader validate``) the records are judged
on the spot and the verdict is printed; a failing check raises ``AssertionError``.

This package must never import ``autograder.judge`` at module level: a sandboxed kernel only sees
``autograder/probe``.
"""

from __future__ import annotations

import os

from .scenario import suite
from .session import Session, current_namespace

MIME_TYPE = "application/vnd.autograder.probe+json"
DEFAULT_CALL_SECONDS = 10.0


def recording() -> bool:
    """True while a grader executes the notebook: records are emitted, not judged."""
    return (os.environ.get("NBGRADER_EXECUTION") == "autograde"
            or os.environ.get("AUTOGRADER_PROBE") == "record")


def call_seconds() -> float:
    try:
        return float(os.environ.get("AUTOGRADER_CALL_TIMEOUT", DEFAULT_CALL_SECONDS))
    except ValueError:
        return DEFAULT_CALL_SECONDS


def collect(grade_id: str, namespace: dict, emit=None) -> list[dict]:
    """Run every scenario of a test cell against ``namespace``; pass each record to ``emit`` at once."""
    scenarios = suite(grade_id)
    if scenarios is None:
        raise KeyError(f"no hidden tests are registered for the test cell {grade_id!r}")
    records = []
    for scenario in scenarios:
        record = Session(scenario, namespace, call_seconds()).run()
        record["grade_id"] = grade_id
        records.append(record)
        if emit is not None:
            emit(record)
    return records


class RecordingFinished(Exception):
    """Ends a test cell once its records are written: during grading the visible asserts that follow
    would only repeat (or, for a function that never returns, hang on) what the probe already saw."""


def _display(record: dict) -> None:
    from IPython.display import display

    display({MIME_TYPE: record, "text/plain": f"<probe record {record['scenario']}>"}, raw=True)


def run_suite(grade_id: str, namespace: dict | None = None) -> None:
    namespace = namespace if namespace is not None else current_namespace()
    if recording():
        collect(grade_id, namespace, emit=_display)
        raise RecordingFinished(f"hidden tests of {grade_id} recorded; the grader judges them")
    from autograder.judge.local import judge_here  # instructor side only

    judge_here(grade_id, collect(grade_id, namespace))
