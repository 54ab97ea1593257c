"""The HTML feedback of ``nbgrader generate_feedback``, rendered in Chromium: every failed test cell
shows its diagnosis right under the test, in view, and the hidden test code does not appear."""

from __future__ import annotations

import re

import pytest
from course_fixtures import grades
from harness import STUDENT, SUBMITTED_MISTAKE, scroll_to_top, shot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

COLUMN_DIAGNOSIS = re.compile(r"you weighted the first \*?column\*? of out")


def test_feedback_shows_the_diagnosis_of_each_failed_test(page, with_feedback, artifacts):
    cells = grades(with_feedback, "ps2_vjp")[STUDENT["id"]]
    failed = sorted(cell for cell, (score, max_score, _) in cells.items() if score < max_score)
    assert failed == [f"test_{SUBMITTED_MISTAKE}", f"test_{SUBMITTED_MISTAKE}_hidden"], failed

    page.goto((with_feedback / "feedback" / STUDENT["id"] / "ps2_vjp" / "vjp.html").as_uri())
    body = page.locator("body")
    expect(body).to_contain_text("weighted_upstream")
    text = body.inner_text()
    assert "run_suite" not in text and "HIDDEN TESTS" not in text, "hidden test code shown to the student"

    for grade_id in failed:
        cell = page.locator("div.cell", has=page.locator(f"a[name='{grade_id}']"))
        expect(cell).to_have_count(1)
        score, max_score, _ = cells[grade_id]
        heading = f"Score: {float(score)} / {float(max_score)}"  # as nbgrader prints it: 0.0 / 1.0
        expect(cell.locator(".panel-heading")).to_contain_text(heading)
        box = cell.locator(".output_area").first.locator(".autograder-feedback")   # the first output
        expect(box).to_be_visible()
        diagnoses = box.locator(".autograder-diagnosis li")
        assert diagnoses.count() >= 1, f"{grade_id}: no diagnosis"
        expect(diagnoses.first).to_contain_text(COLUMN_DIAGNOSIS)   # later checks say "same diagnosis as above"
        for k in range(diagnoses.count()):
            item = diagnoses.nth(k)
            expect(item).to_be_visible()
            expect(item).to_contain_text(re.compile(COLUMN_DIAGNOSIS.pattern + "|same diagnosis as above"))
            size = float(item.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
            assert size >= 12, f"{grade_id}: diagnosis in {size}px type"
        width = box.bounding_box()["width"]
        assert width >= 0.5 * cell.bounding_box()["width"], f"{grade_id}: feedback box only {width}px wide"

    first = page.locator("div.cell", has=page.locator(f"a[name='{failed[0]}']"))
    scroll_to_top(page, first)
    shot(page, artifacts, "feedback-01-failed-visible-test-diagnosis")
    hidden = page.locator("div.cell", has=page.locator(f"a[name='{failed[1]}']"))
    shot(page, artifacts, "feedback-02-failed-hidden-test-diagnosis", locator=hidden)
