"""Benchmark: how long instructor commands take to start on this course. Figures printed, nothing asserted.

    python bench/startup.py [--runs 5] [--root CHECKOUT ...]

Each command runs ``--runs`` times in a throwaway copy of the course (its ``nbgrader_config.py``, ``source/``
and ``release/``), with the checkout's ``autograder`` package first on ``PYTHONPATH``; the table shows the
median wall time next to the goal (1.5 s to start). ``--root`` (repeatable) measures other checkouts of the
course (e.g. an older commit unpacked elsewhere) with this script; their runs are interleaved, one of each in
turn, so that a machine shared with other work loads every checkout alike and the medians compare.

Three kinds of figure:

* start: the command does no work (``--help``, a status look). nbgrader's ``--help`` exits before it loads
  ``nbgrader_config.py``, so for nbgrader this is its imports alone.
* imports+config: a Python process that imports what the nbgrader command imports, loads the course's
  ``nbgrader_config.py`` and imports every preprocessor class the config names for that command (nbgrader
  imports them when it builds its converters): start-up without nbgrader's own work.
* full: the command doing a small real job, for scale (its own work is included, so no goal applies).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 1.5

# What a command imports and which of the config's preprocessor lists it builds.
_IMPORTS_AND_CONFIG = """
import sys
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item
import nbgrader.apps.{module}
config = PyFileConfigLoader("nbgrader_config.py", path=".").load_config()
for section, key in {lists}:
    for name in config[section].get(key, []):
        import_item(name)
"""

ASSIGNMENT = "ps1_backward"


def commands() -> list[tuple[str, str, list[str]]]:
    """(label, kind, argv) of every measured command."""
    py = sys.executable
    nbgrader = [py, "-m", "nbgrader"]
    autograder = [py, "-m", "autograder"]

    def imports(module: str, lists: list[tuple[str, str]]) -> list[str]:
        return [py, "-c", _IMPORTS_AND_CONFIG.format(module=module, lists=lists)]

    feedback_lists = [("GenerateFeedback", "preprocessors"), ("HTMLExporter", "preprocessors")]
    autograde_lists = [("Autograde", "sanitize_preprocessors"), ("Autograde", "autograde_preprocessors")]
    return [
        ("nbgrader generate_assignment --help", "start", [*nbgrader, "generate_assignment", "--help"]),
        ("nbgrader generate_feedback --help", "start", [*nbgrader, "generate_feedback", "--help"]),
        ("nbgrader export --help", "start", [*nbgrader, "export", "--help"]),
        ("nbgrader autograde --help", "start", [*nbgrader, "autograde", "--help"]),
        ("autograder --help", "start", [*autograder, "--help"]),
        ("autograder serve --status", "start", [*autograder, "serve", "--status"]),
        ("generate_assignment", "imports+config", imports("generateassignmentapp", [])),
        ("generate_feedback", "imports+config", imports("generatefeedbackapp", feedback_lists)),
        ("export", "imports+config", imports("exportapp", [])),
        ("autograde", "imports+config", imports("autogradeapp", autograde_lists)),
        (f"nbgrader generate_assignment {ASSIGNMENT} --force", "full",
         [*nbgrader, "generate_assignment", ASSIGNMENT, "--force"]),
        (f"nbgrader generate_feedback {ASSIGNMENT} (nothing graded)", "full",
         [*nbgrader, "generate_feedback", ASSIGNMENT]),
        ("nbgrader export (empty gradebook)", "full", [*nbgrader, "export"]),
    ]


def copy_course(root: Path, into: Path) -> None:
    into.mkdir()
    shutil.copy2(root / "nbgrader_config.py", into)
    for folder in ("source", "release"):
        shutil.copytree(root / folder, into / folder)


def time_once(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # nbgrader exits 1 when there is nothing to do; anything else is a failure
        raise SystemExit(f"{' '.join(argv[:4])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per command; the median is shown (default: 5)")
    parser.add_argument("--root", type=Path, action="append",
                        help="a course checkout to measure (repeatable; default: this one)")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root or [ROOT]]
    console = Console(width=max(120, Console().width))
    table = Table(title=f"Start-up of instructor commands (median of {args.runs} runs, seconds)")
    table.add_column("command", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for number, root in enumerate(roots, 1):
        console.print(f"[{number}] {root}")
        table.add_column(f"[{number}]" if len(roots) > 1 else "median s", justify="right")
    table.add_column(f"goal {GOAL_SECONDS} s", justify="right")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        places = []
        for number, root in enumerate(roots):
            course = Path(tmp) / f"course{number}"
            copy_course(root, course)
            pythonpath = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
            places.append((course, {**os.environ, "PYTHONPATH": pythonpath}))
        for label, kind, argv in commands():
            times: list[list[float]] = [[] for _ in places]
            for _ in range(args.runs):
                for mine, (course, env) in zip(times, places, strict=True):
                    mine.append(time_once(argv, course, env))
            medians = [statistics.median(mine) for mine in times]
            verdict = "-" if kind == "full" else ("[green]met[/]" if medians[-1] <= GOAL_SECONDS else "[red]missed[/]")
            table.add_row(label, kind, *(f"{m:.2f}" for m in medians), verdict)
            console.print(f"{label}: " + "  ".join(f"{m:.2f} s" for m in medians), style="dim")
    if len(roots) > 1:
        console.print(f"goal column: the last checkout, [{len(roots)}]")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
