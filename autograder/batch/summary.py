"""The end-of-run summary of ``autograder autograde``: scores per notebook and every problem, by name."""

from __future__ import annotations

import statistics

from nbgrader.api import Gradebook, MissingEntry
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..nbgrader_plugins.submission_check import shown
from .runner import RunReport


def print_summary(console: Console, db_url: str, report: RunReport) -> None:
    graded = {sub.student for sub in report.graded}
    scores: dict[str, list[float]] = {}
    maxima: dict[str, float] = {}
    with Gradebook(db_url) as gb:
        for student in sorted(graded):
            for name in report.graded[0].notebooks if report.graded else []:
                try:
                    nb = gb.find_submission_notebook(name, report.assignment, student)
                except MissingEntry:
                    continue
                scores.setdefault(name, []).append(nb.score)
                maxima[name] = nb.max_score
    table = Table(title=f"{report.assignment}: {len(graded)} submission(s) graded, "
                        f"{len(report.skipped)} already up to date")
    for column in ("notebook", "students", "mean", "median", "max"):
        table.add_column(column, justify="left" if column == "notebook" else "right")
    for name, values in scores.items():
        table.add_row(name, str(len(values)), f"{statistics.mean(values):.2f}", f"{statistics.median(values):.2f}",
                      f"{maxima[name]:g}")
    console.print(table)
    if report.failures:
        problems = Table(title="Problems (each graded for what it earned)")
        problems.add_column("student")
        problems.add_column("what happened")
        for student, reason in report.failures:
            problems.add_row(Text(shown(student)), Text(shown(reason, 500)))  # names are not markup
        console.print(problems)
    rate = report.notebooks_graded / report.seconds if report.seconds else 0.0
    console.print(f"{report.notebooks_graded} notebook(s) in {report.seconds:.1f} s ({rate:.2f}/s)"
                  + ("  [bold red]interrupted: finished submissions were saved; run again to grade the rest[/]"
                     if report.interrupted else ""))
