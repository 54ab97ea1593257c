"""``autograder autograde`` as an instructor uses it: resumable, interruptible, locked, concurrent-safe;
plus the class report and the Gradescope autograder."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from course_fixtures import answers, grades, new_course, paused_run, release, submit

from autograder.demo.cohort import fill
from autograder.demo.mistakes import MISTAKES

pytestmark = [pytest.mark.slow]
BIN = Path(sys.executable).parent
A = "ps2_vjp"


def _cohort(root: Path, n_correct: int = 3) -> Path:
    course = new_course(root, [A])
    correct, rel = answers(A), release(course, A)
    for i in range(n_correct):
        submit(course, f"good{i}", A, fill(rel, correct))
    submit(course, "mistaken", A, fill(rel, {fn: MISTAKES[fn][1] for fn in correct}))
    submit(course, "blank", A, rel)
    return course


def _autograde(course: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "autograder"), "autograde", A, *args], cwd=course, capture_output=True,
                          text=True, **kwargs)


_REFERENCE: dict[str, Path] = {}


def _reference(tmp_path_factory) -> Path:
    """One cohort (3 correct, 1 mistaken, 1 blank) graded once: the expected grades, report, Gradescope."""
    if "course" not in _REFERENCE:
        course = _cohort(tmp_path_factory.mktemp("reference") / "c")
        done = _autograde(course)
        assert done.returncode == 0, done.stdout + done.stderr
        _REFERENCE["course"] = course
    return _REFERENCE["course"]


def _markers(course: Path) -> set[str]:
    return {p.parent.parent.name for p in (course / "autograded").glob(f"*/{A}/.autograder-graded.json")}


def test_resumes_and_regrades_only_what_changed(tmp_path):
    course = _cohort(tmp_path / "c")
    first = _autograde(course)
    assert first.returncode == 0, first.stdout + first.stderr
    table = grades(course, A)
    assert set(table) == {"good0", "good1", "good2", "mistaken", "blank"}
    assert all(s == m for s, m, _ in table["good0"].values())
    again = _autograde(course)
    assert "0 submission(s) graded, 5 already up to date" in " ".join(again.stdout.split())
    resubmitted = course / "submitted" / "blank" / A / "vjp.ipynb"
    resubmitted.write_text(resubmitted.read_text())  # a new upload (mtime changes)
    os.utime(resubmitted, (time.time() + 5, time.time() + 5))
    third = _autograde(course)
    assert "1 submission(s) graded, 4 already up to date" in " ".join(third.stdout.split())
    forced = _autograde(course, "--force", "--student", "mistaken")
    assert "1 submission(s) graded" in " ".join(forced.stdout.split())
    assert grades(course, A) == table


def _finish(process: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    """The process's output once it has ended; killed (never left behind) if it has not within ``timeout``."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the run did not end within {timeout} s of its signal:\n{out}{err}")


@pytest.mark.xdist_group("batch-reference")  # shares the graded reference cohort
def test_interrupted_run_keeps_finished_grades_and_the_next_run_finishes(tmp_path, tmp_path_factory):
    course = _cohort(tmp_path / "c", n_correct=3)
    expected = grades(_reference(tmp_path_factory), A)
    process = paused_run(course, A, after=2)
    process.send_signal(signal.SIGINT)
    out, err = _finish(process)
    assert process.returncode == 130, out + err
    done = _markers(course)
    assert len(done) == 2, done
    partial = grades(course, A)
    for student in done:
        assert partial[student] == expected[student]
    for student in set(expected) - done:  # not finished: no grade was written for it
        assert all(score is None for score, _, _ in partial.get(student, {}).values()), partial[student]
    rerun = _autograde(course)
    assert "3 submission(s) graded, 2 already up to date" in " ".join(rerun.stdout.split())
    assert grades(course, A) == expected


def test_killed_run_leaves_a_consistent_gradebook(tmp_path):
    course = _cohort(tmp_path / "c")
    process = paused_run(course, A, after=1)
    process.kill()
    _finish(process)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(_markers(course)) == 1
    rerun = _autograde(course)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "4 submission(s) graded, 1 already up to date" in " ".join(rerun.stdout.split())
    table = grades(course, A)
    assert all(s == m for s, m, _ in table["good0"].values())
    assert all(s == 0 for s, _, _ in table["blank"].values())


def test_a_second_run_of_the_same_assignment_is_refused(tmp_path):
    course = _cohort(tmp_path / "c", n_correct=1)
    with open(course / f".autograder-autograde-{A}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        blocked = _autograde(course)
    assert blocked.returncode == 2 and "is running" in blocked.stderr


def test_concurrent_writers_do_not_corrupt_the_gradebook(tmp_path):
    course = _cohort(tmp_path / "c", n_correct=2)
    other = subprocess.Popen([str(BIN / "nbgrader"), "autograde", A, "--force", "--student", "good0"], cwd=course,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mine = _autograde(course)
    other.wait(timeout=300)
    assert mine.returncode == 0, mine.stdout + mine.stderr
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    table = grades(course, A)
    assert all(s == m for s, m, _ in table["good0"].values())
    assert all(s == m for s, m, _ in table["good1"].values())


@pytest.mark.xdist_group("batch-reference")  # shares the graded reference cohort
def test_report_counts_misconceptions_and_draws_charts(tmp_path_factory):
    course = _reference(tmp_path_factory)
    done = subprocess.run([str(BIN / "autograder"), "report", A], cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads((course / "reports" / A / "report.json").read_text())
    assert data["students"] == 5
    vjp = data["functions"]["vjp"]
    assert vjp["full_marks"] == 3 and vjp["misconceptions"].get(MISTAKES["vjp"][0]) == 1
    assert vjp["misconceptions"].get("not_implemented") == 1
    for name in ("misconceptions.png", "scores.png"):
        png = (course / "reports" / A / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "vjp" in done.stdout and "full marks" in done.stdout


@pytest.mark.xdist_group("batch-reference")  # shares the graded reference cohort
def test_gradescope_autograder_runs_on_a_submission_laid_out_as_gradescope_does(tmp_path, tmp_path_factory):
    course = _reference(tmp_path_factory)
    built = subprocess.run([str(BIN / "autograder"), "gradescope", A], cwd=course, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(course / "gradescope" / f"{A}.zip") as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder", "pyproject.toml"} <= set(names)
        assert f"course/source/{A}/vjp.ipynb" in names and "autograder/judge/verdict.py" in names
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    mistaken = course / "submitted" / "mistaken" / A / "vjp.ipynb"
    (root / "submission" / "vjp.ipynb").write_bytes(mistaken.read_bytes())
    os.chmod(root / "source" / "run_autograder", 0o755)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    tests = results["tests"]
    assert len(tests) == 8 and sum(t["max_score"] for t in tests) == 15
    assert 0 < results["score"] < 15
    for test in tests:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    vjp_hidden = next(t for t in tests if t["name"].endswith("test_vjp_hidden"))
    assert vjp_hidden["score"] < vjp_hidden["max_score"] and "J v" in vjp_hidden["output"]


def test_a_grader_that_is_pid_1_grades(tmp_path):
    """In a container the grader is often the first process (pid 1): its zygote and workers, whose parent it
    is, must not take that for having been orphaned (they would exit before grading anything)."""
    unshare = "/usr/bin/unshare"
    if not os.path.exists(unshare) or subprocess.run([unshare, "--pid", "--fork", "true"]).returncode:
        pytest.skip("no pid namespace to run the grader as pid 1 in")
    course = _cohort(tmp_path / "c", n_correct=1)
    container = [unshare, "--pid", "--fork", "--mount-proc", "--kill-child"]   # its own pids and /proc
    done = subprocess.run([*container, str(BIN / "autograder"), "autograde", A], cwd=course, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    table = grades(course, A)
    assert sorted(table) == ["blank", "good0", "mistaken"]
    assert all(score == top for score, top, _ in table["good0"].values()), table["good0"]
