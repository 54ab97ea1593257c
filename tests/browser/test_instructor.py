"""An instructor opens formgrader from JupyterLab's Nbgrader menu: the assignments, a graded submission."""

from __future__ import annotations

import re

import pytest
from course_fixtures import grades
from harness import ASSIGNMENTS, STUDENT, shot

pytestmark = pytest.mark.browser


def _score(course) -> tuple[float, float]:
    cells = grades(course, "ps2_vjp")[STUDENT["id"]]
    return sum(s for s, _, _ in cells.values()), sum(m for _, m, _ in cells.values())


def _number(x: float) -> str:
    return f"{x:g}"


def test_instructor_sees_assignments_and_graded_submission(page, lab, graded, artifacts):
    score, max_score = _score(graded)
    assert 0 < score < max_score, "the submission should have lost points on weighted_upstream"

    page.goto(lab.url("lab", reset=""))
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-item[data-command='nbgrader:open-formgrader']").click()
    formgrader = page.frame_locator("iframe[src*='formgrader']")

    # Manage Assignments: every problem set, one submission for ps2_vjp.
    rows = formgrader.locator("#main-table tr")
    names = formgrader.locator("#main-table td.name")
    rows.nth(len(ASSIGNMENTS) - 1).wait_for()
    assert names.all_inner_texts() == ASSIGNMENTS
    submissions = {n: rows.nth(i).locator("td.num-submissions").inner_text().strip()
                   for i, n in enumerate(ASSIGNMENTS)}
    assert submissions == {n: "1" if n == "ps2_vjp" else "0" for n in ASSIGNMENTS}, submissions
    shot(page, artifacts, "instructor-01-formgrader-five-assignments")

    # Manage Submissions of ps2_vjp: the student, graded, with the score from the gradebook.
    rows.nth(ASSIGNMENTS.index("ps2_vjp")).locator("td.num-submissions a").click()
    student_row = formgrader.locator("#main-table tr", has_text=STUDENT["id"])
    student_row.wait_for()
    assert student_row.locator("td.status").inner_text().strip() == "graded"
    expected = f"{_number(score)} / {_number(max_score)}"
    assert student_row.locator("td.score").inner_text().strip() == expected
    assert f"{STUDENT['last_name']}, {STUDENT['first_name']}" in student_row.locator("td.student-name").inner_text()
    shot(page, artifacts, "instructor-02-ps2-submission-graded-with-score")

    # The student's notebook list, then the graded notebook itself with the autograder's feedback.
    student_row.locator("td.student-name a").click()
    notebook_row = formgrader.locator("#main-table tr", has_text="vjp")
    notebook_row.locator("a").wait_for()
    assert expected in notebook_row.inner_text()
    notebook_row.locator("a").first.click()
    boxes = formgrader.locator(".autograder-feedback")
    boxes.first.wait_for()
    failed = formgrader.locator(".autograder-feedback", has_text="weighted_upstream — visible test")
    failed.scroll_into_view_if_needed()
    assert "first *column* of out" in failed.inner_text() or "first column of out" in failed.inner_text()
    shot(page, artifacts, "instructor-03-graded-notebook-with-diagnosis")
