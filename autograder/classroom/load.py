"""A synthetic class for load tests and benchmarks: a throwaway course with one assignment and N students,
each of whom fetches, answers (the demo cohort's mix: right, typical mistakes, half done, unchanged) and
submits through the exchange as their own hub user, all at once from threads."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..course import Course
from ..demo.cohort import notebook_plans
from .headless import HeadlessClassroom

PLANS = ("correct", "mistakes", "first_only", "unchanged")


def student_names(count: int) -> list[str]:
    return [f"s{i:03d}" for i in range(1, count + 1)]


def make_course(origin: Path, root: Path, assignment: str, students: list[str]) -> Course:
    """``root`` with ``source/<assignment>``, the course's ``nbgrader_config.py``, a ``roster.csv`` of
    ``students`` and the generated release."""
    (root / "source").mkdir(parents=True)
    shutil.copytree(origin / "source" / assignment, root / "source" / assignment)
    shutil.copy2(origin / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "roster.csv").write_text("id,first_name,last_name,email\n" + "".join(f"{s},,,\n" for s in students))
    exe = Path(sys.executable).with_name("nbgrader")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    subprocess.run([*command, "generate_assignment", assignment, "--force"], cwd=root, check=True,
                   capture_output=True)
    return Course(root)


def answers(course: Course, assignment: str) -> dict[str, dict[str, str]]:
    """notebook -> plan -> the notebook's text a student with that plan submits."""
    return {name: {plan: nbformat.writes(nb) for plan, nb in notebook_plans(course, assignment, name)[0].items()}
            for name in course.notebooks(assignment)}


def plan_of(student: str, students: list[str]) -> str:
    return PLANS[students.index(student) % len(PLANS)]


@dataclass
class Submitted:
    student: str
    started: float          # time.monotonic() when the submit call began
    finished: float
    timestamp: str          # the exchange's timestamp of the submission
    digests: dict           # notebook file name -> sha256 of what was submitted


def submit_all(room: HeadlessClassroom, course: Course, assignment: str, students: list[str], homes: Path
               ) -> dict[str, Submitted]:
    """Every student fetches, then (after a barrier, all at once) submits from their own thread. Raises the
    first error of any thread."""
    texts = answers(course, assignment)
    barrier = threading.Barrier(len(students))
    done: dict[str, Submitted] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def student_work(student: str) -> None:
        try:
            home = homes / student
            home.mkdir(parents=True, exist_ok=True)
            room.exchange(student, "ServiceFetchAssignment", home, assignment, assignment_dir=str(home))
            digests = {}
            for name, plans in texts.items():
                text = plans[plan_of(student, students)]
                (home / assignment / f"{name}.ipynb").write_text(text)
                digests[f"{name}.ipynb"] = hashlib.sha256(text.encode()).hexdigest()
            submit = room.plugin(student, "ServiceSubmit", home, assignment, assignment_dir=str(home))
            room.token(student)
            barrier.wait(timeout=300)
            started = time.monotonic()
            submit.start()
            with lock:
                done[student] = Submitted(student, started, time.monotonic(), submit.timestamp, digests)
        except BaseException as error:  # noqa: BLE001 (re-raised in the caller's thread)
            barrier.abort()
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=student_work, args=(s,), name=f"student-{s}") for s in students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return done
