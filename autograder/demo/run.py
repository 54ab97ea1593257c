"""``autograder demo``: the whole instructor cycle on an embedded sample cohort.

It copies the course's ``source/`` and ``nbgrader_config.py`` into a throwaway course directory
(default ``build/demo``; an instructor's real gradebook is never touched), then runs the plain
commands an instructor would: generate the release, autograde the cohort, generate feedback and
export grades, and prints a summary of what every student earned and what the feedback told them.
"""

from __future__ import annotations

import json
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
    return Course(target)


def _run(console: Console, course: Course, args: list[str], title: str) -> subprocess.CompletedProcess:
    shown = " ".join(args)
    console.print(f"[bold cyan]$ {shown}[/]  [dim]# {title}[/]")
    start = time.perf_counter()
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


def run(target: Path, grader: str = "autograder", assignments: list[str] | None = None) -> int:
    console = Console()
    origin = Course.find()
    course = prepare(origin, target)
    assignments = assignments or course.assignments()
    console.rule(f"[bold]Demo course in {course.root}")
    for assignment in assignments:
        _run(console, course, ["nbgrader", "generate_assignment", assignment, "--force"],
             f"release {assignment} to students")
    made = cohort.build(course, assignments)
    console.print(f"[bold]Sample cohort:[/] {len(made)} submissions in {course.submitted} "
                  f"({', '.join(f'{s}: {d}' for s, d in cohort.STUDENTS.items())})")
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
    _run(console, course, ["nbgrader", "export", "--to", "grades.csv"], "export grades (nbgrader's CSV)")
    means = summarise(console, course, made, assignments)
    console.print("[bold]Mean score per assignment:[/] " + ", ".join(f"{a} {m:.0%}" for a, m in means.items()))
    console.print(f"Feedback: {course.feedback}/<student>/<assignment>/*.html   Grades: {course.root}/grades.csv")
    (course.root / "demo-summary.json").write_text(json.dumps({"mean_score": means}, indent=2))
    return 1 if failures else 0
