"""``autograder report ASSIGNMENT``: what did the class not understand?

Per graded function: the share of students with full marks and how many students' feedback named
each misconception (read from the judge's summaries in the autograded notebooks), as a terminal
table, a JSON file and PNG charts under ``reports/<assignment>/``, plus a histogram of total scores.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseError
from ..probe.contract import Summary
from .autograded import read_cell_summaries


@dataclass
class FunctionStats:
    function: str
    points: float = 0.0
    students: int = 0
    full_marks: int = 0
    misconceptions: Counter = field(default_factory=Counter)   # key -> number of students

    @property
    def full_share(self) -> float:
        return self.full_marks / self.students if self.students else 0.0


@dataclass
class ClassReport:
    assignment: str
    functions: dict[str, FunctionStats]
    totals: dict[str, float]          # student -> total score
    max_total: float


def _title(key: str) -> str:
    """A misconception's title (an assignment's own misconceptions are registered by its rubric module)."""
    from ..judge import rubrics
    from ..judge.misconceptions import title

    rubrics.load_all()
    return title(key)


def build(course: Course, assignment: str) -> ClassReport:
    students = course.students(assignment)
    graded = [s for s in students if (course.autograded / s / assignment).is_dir()]
    if not graded:
        raise CourseError(f"nothing graded yet for {assignment}: run `autograder autograde {assignment}` "
                          f"(or `nbgrader autograde {assignment}`) first")
    functions: dict[str, FunctionStats] = {}
    totals: dict[str, float] = {}
    max_total = 0.0
    for student in graded:
        per_function: dict[str, list[dict]] = defaultdict(list)
        for summary in read_cell_summaries(course, assignment, student):
            per_function[summary[Summary.FUNCTION]].append(summary)
        total, possible = 0.0, 0.0
        for fn, cells in per_function.items():
            stats = functions.setdefault(fn, FunctionStats(fn))
            stats.points = sum(float(c[Summary.POINTS]) for c in cells)
            stats.students += 1
            score = sum(float(c[Summary.SCORE]) for c in cells)
            if score >= stats.points - 1e-9:
                stats.full_marks += 1
            for key in {k for c in cells for k in c.get(Summary.MISCONCEPTIONS, [])}:
                stats.misconceptions[key] += 1
            total, possible = total + score, possible + stats.points
        totals[student] = total
        max_total = max(max_total, possible)
    return ClassReport(assignment, functions, totals, max_total)


def write(course: Course, report: ClassReport) -> list[Path]:
    """JSON and PNG files under reports/<assignment>/; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    folder = course.reports / report.assignment
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "assignment": report.assignment,
        "students": len(report.totals),
        "functions": {fn: {"points": s.points, "students": s.students, "full_marks": s.full_marks,
                           "misconceptions": dict(s.misconceptions.most_common())}
                      for fn, s in report.functions.items()},
        "totals": report.totals, "max_total": report.max_total,
    }
    paths = [folder / "report.json", folder / "misconceptions.png", folder / "scores.png"]
    paths[0].write_text(json.dumps(data, indent=2))

    names = list(report.functions)
    counts = Counter()
    for stats in report.functions.values():
        for key, n in stats.misconceptions.items():
            counts[(stats.function, key)] += n
    top = counts.most_common(12)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(3.5, 0.45 * max(len(names), len(top)) + 1.5)),
                                      constrained_layout=True)
    shares = [100 * report.functions[n].full_share for n in names]
    left.barh(names, shares, color="#2f7ed8")
    left.set_xlim(0, 100)
    left.invert_yaxis()
    left.set_xlabel("students with full marks (%)")
    left.set_title("Full marks per graded function")
    if top:
        labels = [f"{fn}: {_title(key)}" for (fn, key), _ in top]
        right.barh(labels, [n for _, n in top], color="#d8572f")
        right.invert_yaxis()
    right.set_xlabel("students whose feedback named it")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_title("Most frequent misconceptions")
    fig.suptitle(f"{report.assignment}: what the class did not understand ({len(report.totals)} students)")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    ax.hist(list(report.totals.values()), bins=min(20, max(5, len(report.totals))),
            range=(0, report.max_total or 1), color="#4c9a2a", edgecolor="white")
    ax.set_xlabel(f"total score (out of {report.max_total:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{report.assignment}: score distribution")
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths


def print_table(console, report: ClassReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.assignment}: {len(report.totals)} students")
    table.add_column("graded function")
    table.add_column("full marks", justify="right")
    table.add_column("misconceptions diagnosed (students)")
    for stats in report.functions.values():
        named = ", ".join(f"{_title(k)} ({n})" for k, n in stats.misconceptions.most_common(5)) or "—"
        table.add_row(stats.function, f"{stats.full_share:.0%} ({stats.full_marks}/{stats.students})", named)
    console.print(table)
