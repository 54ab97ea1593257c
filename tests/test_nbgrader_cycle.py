"""The instructor cycle with the plain nbgrader commands, on every assignment."""

from __future__ import annotations

import nbformat
import pytest
from course_fixtures import grades, nbgrader, new_course, standard_cohort
from support import NOTEBOOKS, ROOT

from autograder.demo.mistakes import MISTAKES
from autograder.judge import misconceptions, rubrics

ASSIGNMENTS = sorted(NOTEBOOKS)
_CACHE: dict[str, object] = {}


@pytest.fixture
def graded(assignment, tmp_path_factory):
    """A course with the standard cohort for ``assignment``, autograded by plain nbgrader (built once)."""
    if assignment not in _CACHE:
        course = new_course(tmp_path_factory.mktemp(f"course-{assignment}"), [assignment])
        standard_cohort(course, assignment)
        nbgrader(course, "autograde", assignment, "--force")
        nbgrader(course, "generate_feedback", assignment, "--force")
        _CACHE[assignment] = course
    return _CACHE[assignment]


def _summaries(course, student, assignment):
    nb = nbformat.read(course / "autograded" / student / assignment / NOTEBOOKS[assignment], as_version=4)
    return {c.metadata["autograder"]["grade_id"]: c.metadata["autograder"] for c in nb.cells
            if "autograder" in c.get("metadata", {})}


pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]  # grouped per assignment in conftest.py


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_gets_full_marks(graded, assignment):
    cells = grades(graded, assignment)["instructor"]
    assert cells, "the source notebook has no grades"
    for cell, (score, max_score, manual) in cells.items():
        assert score == max_score and not manual, f"instructor {cell}: {score}/{max_score}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_gets_zero_without_crashing(graded, assignment):
    for cell, (score, _max, manual) in grades(graded, assignment)["blank"].items():
        assert score == 0 and not manual, f"blank {cell}: {score}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_typical_mistake_loses_points_and_is_named(graded, assignment):
    table = grades(graded, assignment)["mistaken"]
    summaries = _summaries(graded, "mistaken", assignment)
    for cell, summary in summaries.items():
        fn = summary["function"]
        if fn not in MISTAKES or not cell.endswith("_hidden"):
            continue
        score, max_score, _ = table[cell]
        assert score < max_score, f"{fn}'s mistake kept full marks in {cell}"
        expected = MISTAKES[fn][0]
        named = {k for s in summaries.values() if s["function"] == fn for k in s["misconceptions"]}
        assert expected in named, f"{fn}: expected {expected!r}, feedback named {sorted(named)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_monkeypatched_comparisons_gain_nothing(graded, assignment):
    for cell, (score, _max, _) in grades(graded, assignment)["cheater"].items():
        assert score == 0, f"cheater scored {score} in {cell}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_diagnoses_not_hidden_code(graded, assignment):
    html_files = list((graded / "feedback" / "mistaken" / assignment).glob("*.html"))
    assert html_files, "no feedback generated"
    html = html_files[0].read_text()
    assert "run_suite" not in html and "BEGIN HIDDEN TESTS" not in html
    assert "autograder-feedback" in html, "the judge's feedback box is missing"
    summaries = _summaries(graded, "mistaken", assignment)
    keys = {k for s in summaries.values() for k in s["misconceptions"]}
    rubrics.load_all()   # an assignment's own misconceptions are registered by its rubric module
    shown = [k for k in keys if misconceptions.message(k).split("`")[0][:40] in html]
    assert shown, f"none of the diagnoses {sorted(keys)} appears in the feedback HTML"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_reports_pass_for_source_and_failures_for_release(graded, assignment):
    # nbgrader validate exits 0 either way: read what it says (one run, both notebooks, in this order).
    source = ROOT / "source" / assignment / NOTEBOOKS[assignment]
    done = nbgrader(graded, "validate", str(source), str(graded / "release" / assignment / NOTEBOOKS[assignment]),
                    check=False)
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-3000:]
    assert "VALIDATION FAILED" in done.stdout, done.stdout[-3000:]
    assert done.stdout.index("Success!") < done.stdout.index("VALIDATION FAILED")
