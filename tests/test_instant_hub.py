"""Instant feedback as the hub runs it: ``autograder hub`` starts ``autograder serve`` as a managed service
(its own hub token, a grader of the course for the exchange) when the course config turns instant feedback on.

* Load and fairness: 30 students submit ps2_vjp at once while one more floods with 20 resubmissions as fast as
  the exchange takes them; every other student's first submission is answered before the flooder's third answer
  (a queue of submissions in arrival order would answer the flooder many times first), the flooder's newest is
  answered and its older ones say they were replaced; `autograder serve --status` shows the queue and latency, and
  the instructor still collects every student's newest submission.
* Crash: the service is killed (SIGKILL) with submissions queued and in flight; the hub starts it again and every
  one of them is answered exactly once, with its diagnosis (never left at "queued" or "grading").
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps2_vjp"
OTHERS = 30
RESUBMISSIONS = 20
DEADLINE = 600.0          # seconds for every answer on a busy 2-core machine


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    from autograder.classroom import load
    from autograder.classroom.headless import HeadlessClassroom
    from autograder.classroom.launcher import proxy_command
    from autograder.course import CourseError

    try:
        proxy_command()
    except CourseError as error:
        pytest.skip(str(error))
    tmp = tmp_path_factory.mktemp("instant-hub")
    students = load.student_names(OTHERS + 1)
    course = load.make_course(REPO, tmp / "course", ASSIGNMENT, students)
    with open(course.root / "nbgrader_config.py", "a") as config:
        config.write(f'\nc.InstantFeedback.assignments = {{"{ASSIGNMENT}": {{"enabled": True, "per_hour": 100}}}}\n')
    # the flooder's 21 submissions must reach the exchange (its own limit is 20 per hour by default)
    # (and the hub's first start hashes 32 passwords nobody types here: bcrypt's least work, not 6 s of it)
    (course.root / "classroom.toml").write_text("[classroom]\nsubmissions_per_hour = 60\npassword_cost = 4\n")
    texts = load.answers(course, ASSIGNMENT)["vjp"]
    with HeadlessClassroom(course.root, tmp / "hub", instant=True) as hub:
        hub.exchange("instructor", "ServiceReleaseAssignment", course.root, ASSIGNMENT)
        for student in students:
            hub.add_user(student)
            home = tmp / "homes" / student
            home.mkdir(parents=True)
            hub.exchange(student, "ServiceFetchAssignment", home, ASSIGNMENT, assignment_dir=str(home))
        yield Room(hub, course, tmp, students, texts)


class Room:
    def __init__(self, hub, course, tmp: Path, students: list[str], texts: dict[str, str]):
        self.hub, self.course, self.tmp, self.students, self.texts = hub, course, tmp, students, texts
        self.state = course.root / ".instant-feedback"

    def submit(self, student: str, plan: str) -> str:
        home = self.tmp / "homes" / student
        (home / ASSIGNMENT / "vjp.ipynb").write_text(self.texts[plan])
        submit = self.hub.plugin(student, "ServiceSubmit", home, ASSIGNMENT, assignment_dir=str(home))
        submit.start()
        return submit.timestamp

    def status(self) -> dict | None:
        try:
            return json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return None

    def answered(self) -> dict[str, dict]:
        try:
            return json.loads((self.state / "answered.json").read_text())["answered"]
        except (OSError, ValueError, KeyError):
            return {}

    def wait(self, check, what: str, deadline: float) -> None:
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within the deadline\n{self.hub.log_tail(60)}")
            assert self.hub.process.poll() is None, f"the hub stopped\n{self.hub.log_tail(60)}"
            time.sleep(0.25)

    def service_up(self, not_pid: int | None = None) -> bool:
        status = self.status()
        return bool(status) and status["pid"] != not_pid and _alive(status["pid"])

    def feedback(self, student: str) -> dict[str, str]:
        home = self.tmp / "homes" / student
        self.hub.exchange(student, "ServiceFetchFeedback", home, ASSIGNMENT, assignment_dir=str(home))
        folder = home / ASSIGNMENT / "feedback"
        return {p.parent.name: p.read_text() for p in folder.glob("*/vjp.html")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _key(student: str, stamp: str) -> str:
    return f"{ASSIGNMENT}/{student}/{stamp}"


def test_the_hub_runs_the_service_and_one_flooder_never_delays_the_others(room):
    room.wait(room.service_up, "the hub started the instant feedback service", time.monotonic() + 300)
    others, flooder = room.students[:OTHERS], room.students[OTHERS]
    stamps: dict[str, list[str]] = {s: [] for s in room.students}
    barrier = threading.Barrier(OTHERS + 1)
    errors: list[BaseException] = []

    def work(student: str) -> None:
        try:
            barrier.wait(timeout=120)
            for _ in range(1 + RESUBMISSIONS if student == flooder else 1):
                stamps[student].append(room.submit(student, "mistakes"))
        except BaseException as error:  # noqa: BLE001 (re-raised below)
            barrier.abort()
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in room.students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(stamps[flooder]) == 1 + RESUBMISSIONS
    newest = max(stamps[flooder])

    def everyone_answered() -> bool:
        answered = room.answered()
        return all(_key(s, stamps[s][0]) in answered for s in others) and _key(flooder, newest) in answered

    room.wait(everyone_answered, "an answer for every student", time.monotonic() + DEADLINE)
    answered = room.answered()
    firsts = {s: answered[_key(s, stamps[s][0])] for s in others}
    assert all(entry["outcome"].startswith("graded") for entry in firsts.values()), firsts
    flooded = sorted(entry["at"] for key, entry in answered.items()          # the flooder's graded answers
                     if key.startswith(f"{ASSIGNMENT}/{flooder}/") and entry["outcome"].startswith("graded"))
    third = flooded[2] if len(flooded) >= 3 else float("inf")
    late = [s for s, entry in firsts.items() if entry["at"] > third]
    assert not late, f"answered after the flooder's third: {late}"
    assert answered[_key(flooder, newest)]["outcome"].startswith("graded")
    # the student sees it: the diagnosis page of the newest submission, earlier ones marked superseded
    pages = room.feedback(flooder)
    assert "Diagnosis" in pages[newest] or "instead of" in pages[newest] or "expected" in pages[newest]
    superseded = [stamp for stamp, text in pages.items() if "replaced it before its turn" in text]
    assert newest not in superseded and len(superseded) + len(flooded) == 1 + RESUBMISSIONS   # each has a page
    # the instructor's view: the status command, and every submission still reaches collect
    status = subprocess.run([sys.executable, "-m", "autograder", "serve", "--status", "--state-dir",
                             str(room.state)], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert re.search(r"queue: \d+ +in flight: \d+ +answered: \d+", status.stdout), status.stdout
    assert re.search(r"p50 [\d.]+ s, p95 [\d.]+ s", status.stdout), status.stdout
    room.hub.exchange("instructor", "ServiceCollect", room.course.root, ASSIGNMENT)
    for student in room.students:
        collected = room.course.submitted / student / ASSIGNMENT / "timestamp.txt"
        assert collected.read_text().strip() == max(stamps[student]), student
    latencies = sorted(entry["latency"] for entry in firsts.values())
    print(f"{OTHERS} students + a flooder: first answers p50 {latencies[len(latencies) // 2]:.1f} s, "
          f"max {latencies[-1]:.1f} s; the flooder got {len(flooded)} answers for {1 + RESUBMISSIONS} submissions")


def test_a_killed_service_is_restarted_and_answers_each_waiting_submission_once(room):
    room.wait(room.service_up, "the instant feedback service", time.monotonic() + 300)
    victims = room.students[:6]
    answered_before = set(room.answered())
    stamps = {}
    for student in victims:
        stamps[student] = room.submit(student, "correct")
    pid = room.status()["pid"]

    def grading_started() -> bool:
        status = room.status() or {}
        return status.get("in_flight", 0) > 0 or len(set(room.answered()) - answered_before) > 0

    room.wait(grading_started, "grading started", time.monotonic() + 120)
    os.kill(pid, signal.SIGKILL)
    room.wait(lambda: not _alive(pid), "the service died", time.monotonic() + 30)
    # the hub runs ``autograder serve --restart``: its supervisor starts the service again within a second
    # (JupyterHub itself would notice only at its next poll of managed services, every 30 s)
    room.wait(lambda: room.service_up(not_pid=pid), "the service started again", time.monotonic() + 300)
    assert "the instant feedback service stopped (killed by SIGKILL)" in room.hub.log_file.read_text()
    room.wait(lambda: all(_key(s, t) in room.answered() for s, t in stamps.items()),
              "every waiting submission answered after the restart", time.monotonic() + DEADLINE)

    def answers_logged() -> dict[str, int]:
        log = room.hub.log_file.read_text(errors="replace")
        return {student: len(re.findall(rf"answered {ASSIGNMENT} {student} {re.escape(stamp)}:", log))
                for student, stamp in stamps.items()}

    # the service records an answer, then logs it: the last line may reach the hub's log a moment later
    room.wait(lambda: all(answers_logged().values()), "every answer in the hub's log", time.monotonic() + 30)
    logged = answers_logged()
    for student, stamp in stamps.items():
        assert logged[student] == 1, f"{student}'s submission answered {logged[student]} times"
        page = room.feedback(student)[stamp]
        assert "being graded" not in page and "queued" not in page
        assert room.answered()[_key(student, stamp)]["outcome"].startswith("graded")
