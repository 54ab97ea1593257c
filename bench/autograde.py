"""Benchmark: stock ``nbgrader autograde`` vs ``autograder autograde`` on the same K submissions.

    python bench/autograde.py --assignment all --submissions 10 50 200 [--workers 2]
                              [--skip-stock] [--skip-fresh] [--skip-plain]

For each assignment and K: builds a throwaway course with K submissions (a realistic mix: mostly correct,
some with typical mistakes, some unanswered, a few partly done) and grades it four ways:

* ``ours``:  ``autograder autograde`` (the course's configuration, forked kernels, workers);
* ``stock``: ``nbgrader autograde`` with the course's ``nbgrader_config.py`` (sandbox, judge, checks; its
  kernels forked from one warm parent, ``c.Sandbox.warm_kernels``, the default);
* ``fresh``: the same with ``c.Sandbox.warm_kernels = False``: a new interpreter, which imports torch
  again, for every kernel (what ``nbgrader autograde`` with this course cost before warm kernels);
* ``plain``: ``nbgrader autograde`` with a configuration that only sets what nbgrader needs
  (``PLAIN_CONFIG``): nbgrader's default preprocessors with its plain ``Execute``, no sandbox, no
  submission check, no judge. Its grades are not this course's grades (the hidden tests only record
  without the judge), so they are not compared; it shows what grading costs without any of it.

Prints one table (seconds per notebook, ratios, our overhead per notebook), the median phase times of our
notebooks (from the worker's ``Result.phases``, via ``AUTOGRADER_TIMINGS``), the fixed cost of our run,
and whether every grade cell of ``ours``, ``stock`` and ``fresh`` agrees. Not a test: run it by hand.

Overhead of a notebook = its grading time in the worker minus its cells' own time in the (warm) kernel,
from execute_input to execute_reply as the kernel stamps them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.batch.pipeline import PHASES  # noqa: E402
from autograder.course import Course  # noqa: E402
from autograder.demo.cohort import correct_answers, fill  # noqa: E402
from autograder.demo.mistakes import MISTAKES  # noqa: E402

BIN = Path(sys.executable).parent


def build(root: Path, assignment: str, k: int, seed: int) -> None:
    (root / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "source" / assignment, root / "source" / assignment)
    shutil.copy2(ROOT / "nbgrader_config.py", root)
    subprocess.run([BIN / "nbgrader", "generate_assignment", assignment, "--force"], cwd=root, check=True,
                   capture_output=True)
    course = Course(root)
    (name,) = course.notebooks(assignment)
    source = nbformat.read(root / "source" / assignment / f"{name}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / assignment / f"{name}.ipynb", as_version=4)
    correct = correct_answers(source)
    rng = random.Random(seed)
    for i in range(k):
        roll = rng.random()
        answers = dict(correct)
        if roll < 0.25:      # one or two typical mistakes
            for fn in rng.sample(list(correct), k=min(2, len(correct))):
                answers[fn] = MISTAKES.get(fn, ("", correct[fn]))[1]
        elif roll < 0.35:    # unanswered
            answers = {}
        elif roll < 0.45:    # partly done
            answers = dict(list(correct.items())[: len(correct) // 2])
        folder = root / "submitted" / f"student{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(fill(release, answers), folder / f"{name}.ipynb")


def grades(root: Path, assignment: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {(sub.student.id, g.notebook.name, g.name): g.auto_score
                for sub in gb.assignment_submissions(assignment) for nb in sub.notebooks for g in nb.grades}


PLAIN_CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "autograd-course"
"""
FRESH_KERNELS = "\nc.Sandbox.warm_kernels = False  # bench: a new interpreter per kernel\n"


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"{command[0]} failed")
    return time.perf_counter() - start


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def run_ours(root: Path, assignment: str, workers: int | None) -> dict:
    """Grade with ``autograder autograde``; its wall time, and the timings it recorded."""
    timings = root / "timings.json"
    env = {**os.environ, "AUTOGRADER_TIMINGS": str(timings)}
    command = [str(BIN / "autograder"), "autograde", assignment, "--force"]
    if workers:
        command += ["--workers", str(workers)]
    launched = time.time()
    wall = timed(command, root, env)
    ended = time.time()
    recorded = json.loads(timings.read_text())
    notebooks = recorded["notebooks"]
    first = min(n["started"] for n in notebooks)
    last = max(n["started"] + n["seconds"] for n in notebooks)
    marks = recorded["marks"]
    fixed = {"start to first notebook": first - launched, "last notebook to exit": ended - last,
             "  launch to cli": marks["cli"] - launched, "  cli to autograde()": marks["autograde"] - marks["cli"],
             "  warm_up": marks["warmed_up"] - marks["autograde"],
             "  zygote ready": marks["zygote_ready"] - marks["warmed_up"],
             "  workers forked": marks["workers_started"] - marks["zygote_ready"],
             "  to first notebook": first - marks["workers_started"],
             "  last notebook to written": marks["written"] - last,
             "  written to done": marks["done"] - marks["written"],
             "  summary": marks["summary"] - marks["done"], "  exit": ended - marks["summary"],
             "planning submissions (overlaps grading)": marks["planned"] - marks["workers_started"]}
    phases = {name: median(n["phases"].get(name, 0.0) for n in notebooks) for name in PHASES}
    phases["total"] = median(n["seconds"] for n in notebooks)
    overhead = median(n["seconds"] - n["phases"].get("cells_own", 0.0) for n in notebooks)
    return {"wall": wall, "fixed": fixed, "phases": phases, "overhead": overhead}


def bench(assignment: str, k: int, args, base: Path) -> dict:
    stock_root, plain_root, fast_root, fresh_root = base / "stock", base / "plain", base / "fast", base / "fresh"
    build(stock_root, assignment, k, args.seed)
    shutil.copytree(stock_root, fast_root, symlinks=True)
    if not args.skip_fresh:
        shutil.copytree(stock_root, fresh_root, symlinks=True)
        with open(fresh_root / "nbgrader_config.py", "a") as fh:
            fh.write(FRESH_KERNELS)
    row = {"assignment": assignment, "k": k, "load": os.getloadavg()}
    ours = run_ours(fast_root, assignment, args.workers)
    row.update(ours=ours["wall"] / k, overhead=ours["overhead"], phases=ours["phases"], fixed=ours["fixed"])
    ours_grades = grades(fast_root, assignment)
    for name, root, skip in (("stock", stock_root, args.skip_stock), ("fresh", fresh_root, args.skip_fresh)):
        if skip:
            continue
        row[name] = timed([str(BIN / "nbgrader"), "autograde", assignment, "--force"], root) / k
        theirs = grades(root, assignment)
        row.setdefault("differ", []).extend(f"{name}: {key}" for key in sorted(theirs.keys() | ours_grades.keys())
                                            if theirs.get(key) != ours_grades.get(key))
        row["compared"] = len(ours_grades)
    if not args.skip_plain:
        shutil.copytree(stock_root / "source", plain_root / "source", symlinks=True)
        shutil.copytree(stock_root / "release", plain_root / "release", symlinks=True)
        shutil.copytree(stock_root / "submitted", plain_root / "submitted", symlinks=True)
        shutil.copy2(stock_root / "gradebook.db", plain_root / "gradebook.db")
        (plain_root / "nbgrader_config.py").write_text(PLAIN_CONFIG)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the hidden tests' kernels import the probe
        row["plain"] = timed([str(BIN / "nbgrader"), "autograde", assignment, "--force"], plain_root, env) / k
    return row


def print_results(rows: list[dict], workers) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))  # wide enough for the phase columns, even in a pipe
    load = os.getloadavg()
    table = Table(title=f"seconds per notebook (workers: {workers or 'all cores'}; "
                        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    for column in ("assignment", "K", "stock nbgrader", "fresh kernels", "ours", "stock / ours", "fresh / ours",
                   "plain nbgrader", "plain / ours", "our overhead", "grades identical", "load (1 min)"):
        table.add_column(column, justify="left" if column == "assignment" else "right")

    def fmt(value, spec=".3f"):
        return "-" if value is None else format(value, spec)

    def ratio(value, ours):
        return "-" if value is None else f"{value / ours:.1f}x"

    for row in rows:
        stock, fresh, plain, ours = row.get("stock"), row.get("fresh"), row.get("plain"), row["ours"]
        same = "-" if "differ" not in row else (f"yes ({row['compared']})" if not row["differ"]
                                               else f"NO ({len(row['differ'])} differ)")
        table.add_row(row["assignment"], str(row["k"]), fmt(stock), fmt(fresh), fmt(ours), ratio(stock, ours),
                      ratio(fresh, ours), fmt(plain), ratio(plain, ours), fmt(row["overhead"]), same,
                      fmt(row["load"][0], ".2f") if row.get("load") else "-")
    console.print(table)
    phases = Table(title="ours: median seconds per notebook, by phase (in the worker)")
    phases.add_column("phase")
    for row in rows:
        phases.add_column(f"{row['assignment']} K={row['k']}", justify="right")
    for name in (*PHASES, "total"):
        phases.add_row(name, *(f"{row['phases'][name]:.3f}" for row in rows))
    phases.add_row("overhead (total - cells_own)", *(f"{row['overhead']:.3f}" for row in rows))
    console.print(phases)
    fixed = Table(title="ours: fixed cost of the run (seconds)")
    fixed.add_column("step")
    for row in rows:
        fixed.add_column(f"{row['assignment']} K={row['k']}", justify="right")
    for name in rows[0]["fixed"]:
        fixed.add_row(name, *(f"{row['fixed'][name]:.2f}" for row in rows))
    console.print(fixed)
    for row in rows:
        for key in row.get("differ", [])[:20]:
            console.print(f"  {row['assignment']} K={row['k']} differs: {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, nargs="+", default=[50])
    parser.add_argument("--assignment", nargs="+", default=["ps2_vjp"], help="names, or all")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-stock", action="store_true", help="do not time stock nbgrader")
    parser.add_argument("--skip-fresh", action="store_true",
                        help="do not time nbgrader with a new interpreter per kernel")
    parser.add_argument("--skip-plain", action="store_true", help="do not time plain nbgrader")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--show", nargs="+", metavar="JSON", help="only print the table of earlier --json files")
    args = parser.parse_args()
    if args.show:
        print_results([row for path in args.show for row in json.loads(Path(path).read_text())], args.workers)
        return
    assignments = args.assignment
    if assignments == ["all"]:
        assignments = Course(ROOT).assignments()
    rows = []
    for assignment in assignments:
        for k in args.submissions:
            base = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
            try:
                rows.append(bench(assignment, k, args, base))
            finally:
                shutil.rmtree(base, ignore_errors=True)
            print(f"{assignment} K={k}: " + ", ".join(f"{key} {rows[-1][key]:.3f}" for key in
                                                    ("stock", "fresh", "plain", "ours", "overhead") if key in rows[-1]),
                  flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    print_results(rows, args.workers)


if __name__ == "__main__":
    main()
