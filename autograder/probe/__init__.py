"""The part of the grader that runs inside the student's kernel.

A hidden test cell contains one line::

    from autograder.probe import run_suite; run_suite("test_vjp_hidden", globals())

During ``nbgrader autograde`` (or ``autograder autograde``) this only *records*: it calls the student's
function on the scenario inputs and writes what came back into the cell's output as JSON. References,
comparisons and scores live in ``autograder.judge``, which runs in the grading process after the
notebook has executed, so a student's code can neither read them nor patch them.

Anywhere else (the instructor running a source notebook, ``nbgrader validate``) the records are judged
on the spot and the verdict is printed; a failing check raises ``AssertionError``. For that, and only
then, ``run_suite`` imports the judge by the name ``contract.LOCAL_JUDGE`` (with importlib).

This package never imports ``autograder.judge`` otherwise: a sandboxed kernel only sees a copy of
``autograder/probe``. The names both sides must agree on (the MIME type, record fields, statuses, error
types, notebook metadata keys) are in ``autograder.probe.contract``, which imports nothing but the
standard library; importing it (or this package) does not import torch.
"""

from __future__ import annotations

import importlib
import os

from .contract import CALL_SECONDS_ENV, DEFAULT_CALL_SECONDS, LOCAL_JUDGE, MIME_TYPE, RecordingFinished


def recording() -> bool:
    """True while a grader executes the notebook: records are emitted, not judged."""
    return (os.environ.get("NBGRADER_EXECUTION") == "autograde"
            or os.environ.get("AUTOGRADER_PROBE") == "record")


def call_seconds() -> float:
    try:
        return float(os.environ.get(CALL_SECONDS_ENV, DEFAULT_CALL_SECONDS))
    except ValueError:
        return DEFAULT_CALL_SECONDS


def collect(grade_id: str, namespace: dict, emit=None) -> list[dict]:
    """Run every scenario of a test cell against ``namespace``; pass each record to ``emit`` at once.

    torch's one-time costs (the first ``torch.func`` call imports hundreds of modules) are paid first, once
    per kernel and outside every call's time limit (``warm.warm_up``): they are the grader's start-up, not
    the student's time."""
    from .scenario import suite
    from .session import Session
    from .warm import warm_up

    scenarios = suite(grade_id)
    if scenarios is None:
        raise KeyError(f"no hidden tests are registered for the test cell {grade_id!r}")
    warm_up()
    records = []
    for scenario in scenarios:
        record = Session(scenario, namespace, call_seconds()).run()
        record["grade_id"] = grade_id
        records.append(record)
        if emit is not None:
            emit(record)
    return records


def _display(record: dict) -> None:
    from IPython.display import display

    display({MIME_TYPE: record, "text/plain": f"<probe record {record['scenario']}>"}, raw=True)


def _local_judge():
    """The instructor path's judge (``contract.LOCAL_JUDGE``), imported only when asked for."""
    module, _, name = LOCAL_JUDGE.partition(":")
    return getattr(importlib.import_module(module), name)


def run_suite(grade_id: str, namespace: dict | None = None) -> None:
    if namespace is None:
        from .session import current_namespace

        namespace = current_namespace()
    if recording():
        collect(grade_id, namespace, emit=_display)
        raise RecordingFinished(f"hidden tests of {grade_id} recorded; the grader judges them")
    _local_judge()(grade_id, collect(grade_id, namespace))
