"""`make demo`, the README's main job, on one assignment: the whole instructor cycle through the course's
exchange on its headless hub (release → fetch → submit → collect → autograde → feedback → fetch feedback)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.demo import cohort

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
A = "ps2_vjp"


def test_demo_runs_the_cycle_through_the_exchange(tmp_path):
    target = tmp_path / "demo"
    done = subprocess.run([str(BIN / "autograder"), "demo", "--dir", str(target), "--assignment", A], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    summary = json.loads((target / "demo-summary.json").read_text())
    assert summary["exchange"] is True, said          # not the fallback: the hub and its exchange ran
    assert 0 < summary["mean_score"][A] < 1
    # every sample student's submission went through the exchange: collected with the exchange's timestamp
    collected = {p.parent.parent.name for p in (target / "submitted").glob(f"*/{A}/timestamp.txt")}
    with_notebook = {s for s in collected if list((target / "submitted" / s / A).glob("*.ipynb"))}
    assert collected == set(cohort.STUDENTS), said
    # each student who submitted a notebook fetched their own feedback, and only theirs
    homes = target / ".hub" / "homes"
    for student in cohort.STUDENTS:
        fetched = list((homes / student / A / "feedback").glob("*/*.html"))
        assert bool(fetched) == (student in with_notebook), (student, fetched)
        for page in fetched:
            mine = target / "feedback" / student / A / page.name
            assert page.read_bytes() == mine.read_bytes()
    with open(target / "grades.csv") as fh:
        graded = {row["student_id"] for row in csv.DictReader(fh) if row["assignment"] == A}
    assert graded == set(cohort.STUDENTS)
