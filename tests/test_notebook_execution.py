"""Each notebook runs top to bottom in a fresh kernel: the instructor's version with every hidden test
passing (judged on the spot), the student's version with errors only in the cells students complete."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient
from support import NOTEBOOKS, notebook_path

ASSIGNMENTS = sorted(NOTEBOOKS)


def _execute(path, allow_errors: bool):
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "AUTOGRADER_PROBE")}
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def _errors(nb):
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                yield cell, output


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_runs_clean_with_all_hidden_tests_passing(assignment):
    nb = _execute(notebook_path(assignment), allow_errors=False)
    hidden_reports = [o for c in nb.cells for o in c.get("outputs", [])
                      if o.output_type == "stream" and "All checks passed." in o.text]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(hidden_reports) == len(tests), "every test cell should report that all checks passed"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_notebook_fails_only_where_students_work(assignment):
    nb = _execute(notebook_path(assignment, "release"), allow_errors=True)
    for cell, output in _errors(nb):
        meta = cell.metadata.get("nbgrader", {})
        assert meta.get("grade") or meta.get("solution"), (
            f"an ungraded cell fails in the student's version: {output.ename}: {output.evalue}\n{cell.source[:200]}")
    failing_tests = {c.metadata["nbgrader"]["grade_id"] for c, _ in _errors(nb)
                     if c.metadata.get("nbgrader", {}).get("grade")}
    visible = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and "_hidden" not in c.metadata["nbgrader"]["grade_id"]}
    assert visible <= failing_tests, "every visible test must fail on the unanswered stubs"
