"""``autograder demo``: the whole course cycle on an embedded sample cohort, through the course's exchange.

It copies the course's ``source/`` and ``nbgrader_config.py`` into a throwaway course directory
(default ``build/demo``; an instructor's real gradebook is never touched) and starts the course's own
JupyterHub there, headless (``autograder hub --no-users`` on free ports, see
:mod:`autograder.classroom.headless`). Then it runs the plain commands an instructor would and what each
student's server does: the instructor releases with ``nbgrader release_assignment`` (exchange service),
each sample student fetches and submits as their own hub user with their own token, the instructor runs
``nbgrader collect``, autogrades, generates feedback and ``nbgrader release_feedback``, and each student
fetches theirs. It prints a summary of what every student earned and what the feedback told them.

If the hub cannot start (no configurable-http-proxy, say), the demo says so loudly and copies the cohort
straight into ``submitted/`` instead, as ``nbgrader collect`` would have left it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..course import Course, CourseError
from ..probe.contract import Summary
from . import cohort

MARKER = ".autograder-demo"
EXCHANGE_CONFIG = """
# `autograder demo`: nbgrader's exchange commands (release_assignment, collect, release_feedback, ...) go
# through the course's exchange service, as the signed-in user (their $JUPYTERHUB_API_TOKEN).
from autograder.exchange.config import use_service_exchange  # noqa: E402

use_service_exchange(c)
"""


def prepare(origin: Course, target: Path) -> Course:
    target = target.resolve()
    if target.exists():
        if not (target / MARKER).exists():
            raise CourseError(f"{target} exists and is not a demo directory; choose another --dir")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / MARKER).write_text("created by `autograder demo`; safe to delete\n")
    shutil.copytree(origin.source, target / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy2(origin.root / "nbgrader_config.py", target / "nbgrader_config.py")
    with open(target / "nbgrader_config.py", "a") as config:
        config.write(EXCHANGE_CONFIG)
    (target / "roster.csv").write_text("id,first_name,last_name,email\n" +
                                       "".join(f"{s},{s.capitalize()},,\n" for s in cohort.STUDENTS))
    return Course(target)


def _run(console: Console, course: Course, args: list[str], title: str, runner=None) -> subprocess.CompletedProcess:
    shown = " ".join(args)
    console.print(f"[bold cyan]$ {shown}[/]  [dim]# {title}[/]")
    start = time.perf_counter()
    if runner is not None:
        done = runner(*args[1:])
    else:
        exe = Path(sys.executable).with_name(args[0])
        command = [str(exe) if exe.exists() else args[0], *args[1:]]
        done = subprocess.run(command, cwd=course.root, capture_output=True, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - start
    status = "[green]ok[/]" if done.returncode == 0 else f"[red]exit {done.returncode}[/]"
    console.print(f"  {status} in {seconds:.1f} s")
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        console.print(f"[red]{tail}[/]")
    return done


def summarise(console: Console, course: Course, made: dict, assignments: list[str]) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    from ..reporting.autograded import read_cell_summaries

    table = Table(title="What each submission earned, and what its feedback names")
    table.add_column("student")
    table.add_column("assignment")
    table.add_column("submission")
    table.add_column("score", justify="right")
    table.add_column("diagnosed in the feedback")
    totals: dict[str, list[float]] = {}
    with Gradebook(course.db_url) as gb:
        for (student, assignment), what in sorted(made.items()):
            try:
                sub = gb.find_submission(assignment, student)
                score, max_score = sub.score, sub.max_score
            except MissingEntry:
                score, max_score = 0.0, gb.find_assignment(assignment).max_score
            totals.setdefault(assignment, []).append(score / max_score if max_score else 0.0)
            keys = []
            for summary in read_cell_summaries(course, assignment, student):
                keys.extend(k for k in summary.get(Summary.MISCONCEPTIONS, []) if k not in keys)
            table.add_row(student, assignment, what, f"{score:g} / {max_score:g}", ", ".join(keys[:4]) or "—")
    console.print(table)
    return {a: sum(v) / len(v) for a, v in totals.items()}


# ------------------------------------------------------------------------------------- through the exchange
def _step(console: Console, title: str, action) -> object:
    """One line per step a student (or the instructor, in-process) takes through the exchange."""
    start = time.perf_counter()
    try:
        result = action()
    except Exception as error:  # noqa: BLE001 (shown, then raised: the demo stops)
        console.print(f"[bold magenta]» {title}[/]  [red]failed: {error}[/]")
        raise
    console.print(f"[bold magenta]» {title}[/]  [green]ok[/] in {time.perf_counter() - start:.1f} s")
    return result


def _quiet_log() -> logging.Logger:
    log = logging.getLogger("autograder.demo.students")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


def start_classroom(console: Console, course: Course):
    """The course's hub, headless, with the sample students; None (said loudly) if it cannot start."""
    from ..classroom.headless import HeadlessClassroom
    from ..classroom.launcher import loud

    room = HeadlessClassroom(course.root, course.root / ".hub")
    console.print("[bold cyan]$ autograder hub --no-users --ip 127.0.0.1 --port <free> --state-dir .hub[/]  "
                  "[dim]# the course's JupyterHub and exchange service, headless[/]")
    start = time.perf_counter()
    try:
        room.start()
    except Exception as error:  # noqa: BLE001 (any failure to start means the fallback, said loudly)
        loud("THE COURSE'S HUB DID NOT START: the demo copies the cohort straight into submitted/ instead of",
             "going through the exchange (release, fetch, submit, collect, feedback are NOT exercised).",
             f"Reason: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
             f"Hub log: {room.log_file}")
        return None
    console.print(f"  [green]ok[/] in {time.perf_counter() - start:.1f} s: hub at {room.url}, exchange at "
                  f"{room.exchange_url}")
    return room


def through_exchange(console: Console, course: Course, room, assignments: list[str]) -> dict:
    """Release, then every sample student fetches, answers (the cohort's notebooks) and submits as their
    own hub user; the instructor collects into ``submitted/``. Returns the cohort's descriptions."""
    from ..classroom.settings import load as load_settings
    from ..exchange.protocol import TIMESTAMP_FILE

    instructor = load_settings(course).instructors[0]
    homes = course.root / ".hub" / "homes"
    log = _quiet_log()
    for assignment in assignments:
        done = _run(console, course, ["nbgrader", "release_assignment", assignment, "--force"],
                    f"as {instructor}, through the exchange", lambda *a: room.nbgrader(instructor, course.root, *a))
        if done.returncode:
            raise CourseError(f"releasing {assignment} through the exchange failed")
    students = list(cohort.STUDENTS)

    def fetch_all():
        for student in students:
            home = homes / student
            home.mkdir(parents=True, exist_ok=True)
            for assignment in assignments:
                room.exchange(student, "ServiceFetchAssignment", home, assignment, assignment_dir=str(home), log=log)

    _step(console, f"students {', '.join(students)} each fetch {len(assignments)} assignment(s) as their own "
                   "hub user", fetch_all)
    made = _step(console, "students answer (the sample cohort's notebooks, written into their fetched copies)",
                 lambda: cohort.build(course, assignments, folder=lambda s, a: homes / s / a))

    def submit_all():
        for student in students:
            for assignment in assignments:
                room.exchange(student, "ServiceSubmit", homes / student, assignment,
                              assignment_dir=str(homes / student), log=log)

    _step(console, f"students submit {len(made)} submissions through the exchange", submit_all)
    for assignment in assignments:
        done = _run(console, course, ["nbgrader", "collect", assignment],
                    f"as {instructor}: into submitted/, with the exchange's timestamp.txt",
                    lambda *a: room.nbgrader(instructor, course.root, *a))
        if done.returncode:
            raise CourseError(f"collecting {assignment} through the exchange failed")
    collected = {(p.parent.parent.name, p.parent.name) for p in course.submitted.glob(f"*/*/{TIMESTAMP_FILE}")}
    missing = set(made) - collected
    if missing:
        raise CourseError(f"the exchange lost submissions: {sorted(missing)}")
    console.print(f"[bold]Sample cohort:[/] {len(made)} submissions collected into {course.submitted} "
                  f"({', '.join(f'{s}: {d}' for s, d in cohort.STUDENTS.items())})")
    return made


def return_feedback(console: Console, course: Course, room, assignment: str) -> None:
    from ..classroom.settings import load as load_settings

    instructor = load_settings(course).instructors[0]
    _run(console, course, ["nbgrader", "release_feedback", assignment], f"as {instructor}, through the exchange",
         lambda *a: room.nbgrader(instructor, course.root, *a))
    homes = course.root / ".hub" / "homes"
    log = _quiet_log()

    def fetch_all() -> dict[str, int]:
        counts = {}
        for student in cohort.STUDENTS:
            room.exchange(student, "ServiceFetchFeedback", homes / student, assignment,
                          assignment_dir=str(homes / student), log=log)
            counts[student] = len(list((homes / student / assignment / "feedback").glob("*/*.html")))
        return counts

    counts = _step(console, f"students fetch their feedback on {assignment}", fetch_all)
    console.print("  feedback files fetched: " + ", ".join(f"{s} {n}" for s, n in counts.items()))


def run(target: Path, grader: str = "autograder", assignments: list[str] | None = None) -> int:
    console = Console()
    origin = Course.find()
    course = prepare(origin, target)
    assignments = assignments or course.assignments()
    console.rule(f"[bold]Demo course in {course.root}")
    for assignment in assignments:
        _run(console, course, ["nbgrader", "generate_assignment", assignment, "--force"],
             f"release {assignment} to students")
    room = start_classroom(console, course)
    try:
        return _cycle(console, course, room, grader, assignments)
    finally:
        if room is not None:
            room.stop()   # already stopped after the last feedback, unless a step failed


def _cycle(console: Console, course: Course, room, grader: str, assignments: list[str]) -> int:
    if room is None:
        made = cohort.build(course, assignments)
        console.print(f"[bold]Sample cohort:[/] {len(made)} submissions in {course.submitted} "
                      f"({', '.join(f'{s}: {d}' for s, d in cohort.STUDENTS.items())})")
    else:
        made = through_exchange(console, course, room, assignments)
    failures = 0
    for assignment in assignments:
        if grader == "nbgrader":
            done = _run(console, course, ["nbgrader", "autograde", assignment, "--force"],
                        f"autograde {assignment} with plain nbgrader")
        else:
            done = _run(console, course, ["autograder", "autograde", assignment, "--force"],
                        f"autograde {assignment} (forked warm kernels, same grades as nbgrader)")
            if done.stdout:
                console.print(done.stdout.rstrip())
        failures += done.returncode != 0
        _run(console, course, ["nbgrader", "generate_feedback", assignment, "--force"],
             f"HTML feedback for {assignment}")
        if room is not None:
            return_feedback(console, course, room, assignment)
    if room is not None:
        _step(console, "stop the hub (its proxy and the exchange service with it)", room.stop)
    _run(console, course, ["nbgrader", "export", "--to", "grades.csv"], "export grades (nbgrader's CSV)")
    means = summarise(console, course, made, assignments)
    console.print("[bold]Mean score per assignment:[/] " + ", ".join(f"{a} {m:.0%}" for a, m in means.items()))
    console.print(f"Feedback: {course.feedback}/<student>/<assignment>/*.html   Grades: {course.root}/grades.csv")
    (course.root / "demo-summary.json").write_text(json.dumps({"mean_score": means, "exchange": room is not None},
                                                              indent=2))
    return 1 if failures else 0
