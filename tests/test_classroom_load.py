"""30 students submit ps2_vjp at once through the exchange of the course's own hub (headless); the hub and its
exchange restart between the submissions and the collect; the instructor collects, `autograder autograde`
grades, feedback is released and every student fetches theirs. Nothing may be lost or duplicated, and each
feedback reaches its owner only. Figures (latency, memory) are printed by bench/classroom.py, not asserted."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder.classroom import load
from autograder.classroom.headless import HeadlessClassroom
from autograder.classroom.launcher import proxy_command
from autograder.course import CourseError
from autograder.exchange.protocol import API, TIMESTAMP_FILE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps2_vjp"
STUDENTS = load.student_names(30)
BIN = Path(sys.executable).parent


def _tool(name: str, course: Path, *args: str) -> subprocess.CompletedProcess:
    exe = BIN / name
    done = subprocess.run([str(exe) if exe.exists() else name, *args], cwd=course, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


def _exchange_submissions(room: HeadlessClassroom) -> list[tuple[str, str]]:
    from autograder.classroom.headless import _request

    status, subs = _request("GET", f"{room.exchange_url}{API}/courses/{room.course_id}/assignments/{ASSIGNMENT}/"
                                   "submissions", room.token("instructor"))
    assert status == 200, subs
    return sorted((s["student_id"], s["timestamp"]) for s in subs)


def test_thirty_students_at_once_through_a_restart(tmp_path):
    try:
        proxy_command()
    except CourseError as error:
        pytest.skip(str(error))
    course = load.make_course(REPO, tmp_path / "course", ASSIGNMENT, STUDENTS)
    # 31 passwords that nobody types here (the test uses API tokens): bcrypt's least work at the first start
    (course.root / "classroom.toml").write_text("[classroom]\npassword_cost = 4\n")
    homes = tmp_path / "homes"
    room = HeadlessClassroom(course.root, tmp_path / "state")
    with room:
        room.exchange("instructor", "ServiceReleaseAssignment", course.root, ASSIGNMENT)
        submitted = load.submit_all(room, course, ASSIGNMENT, STUDENTS, homes)
        assert sorted(submitted) == STUDENTS
        before = _exchange_submissions(room)
        assert before == sorted((s, sub.timestamp) for s, sub in submitted.items())   # one each, nothing more

        room.restart()   # the hub, its proxy and the exchange service: after the submits, before the collect
        assert _exchange_submissions(room) == before

        room.exchange("instructor", "ServiceCollect", course.root, ASSIGNMENT)
        folders = sorted(p.name for p in course.submitted.iterdir())
        assert folders == STUDENTS
        for student, sub in submitted.items():
            folder = course.submitted / student / ASSIGNMENT
            assert (folder / TIMESTAMP_FILE).read_text() == sub.timestamp
            assert {p.name for p in folder.iterdir()} == {TIMESTAMP_FILE, *sub.digests}
            for name, digest in sub.digests.items():
                assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, (student, name)

        _tool("autograder", course.root, "autograde", ASSIGNMENT, "--workers", "2")
        from nbgrader.api import Gradebook

        with Gradebook(course.db_url) as gb:
            graded = {s.student.id: s for s in gb.assignment_submissions(ASSIGNMENT)}
            assert sorted(graded) == STUDENTS
            for student in STUDENTS:
                sub = graded[student]
                plan = load.plan_of(student, STUDENTS)
                if plan == "correct":
                    assert sub.score == sub.max_score, student
                else:
                    assert sub.score < sub.max_score, (student, plan)
                assert sub.timestamp is not None

        _tool("nbgrader", course.root, "generate_feedback", ASSIGNMENT)
        sent = {s: (course.feedback / s / ASSIGNMENT / "vjp.html").read_bytes() for s in STUDENTS}
        room.exchange("instructor", "ServiceReleaseFeedback", course.root, ASSIGNMENT)

        errors: list[BaseException] = []

        def fetch(student: str) -> None:
            try:
                home = homes / student
                room.exchange(student, "ServiceFetchFeedback", home, ASSIGNMENT, assignment_dir=str(home))
            except BaseException as error:  # noqa: BLE001 (asserted below)
                errors.append(error)

        threads = [threading.Thread(target=fetch, args=(s,)) for s in STUDENTS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        for student, sub in submitted.items():
            feedback = homes / student / ASSIGNMENT / "feedback"
            assert [p.name for p in feedback.iterdir()] == [sub.timestamp], student   # only their own submission
            assert [p.name for p in (feedback / sub.timestamp).iterdir()] == ["vjp.html"]
            assert (feedback / sub.timestamp / "vjp.html").read_bytes() == sent[student], student

        # each feedback reaches its owner only: another student asking for it is refused
        from autograder.classroom.headless import _request

        route = f"{room.exchange_url}{API}/courses/{room.course_id}/assignments/{ASSIGNMENT}/feedback/{STUDENTS[0]}"
        assert _request("GET", route, room.token(STUDENTS[1]))[0] == 403
        assert _request("GET", route, room.token(STUDENTS[0]))[0] == 200
    assert room.process is None
