"""Benchmark: stock ``nbgrader autograde`` vs ``autograder autograde`` on the same K submissions.

    python bench/autograde.py --submissions 50 [--assignment ps2_vjp] [--workers 2]

Builds a throwaway course with K submissions (a realistic mix: mostly correct, some with typical
mistakes, some unanswered, a few partly done), grades them with both, and prints seconds per
notebook for each, the speed ratio, and whether every grade cell agrees. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"{command[0]} failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--assignment", default="ps2_vjp")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-stock", action="store_true", help="only time autograder autograde")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
    stock_root, fast_root = base / "stock", base / "fast"
    for root in (stock_root, fast_root):
        build(root, args.assignment, args.submissions, args.seed)
    k = args.submissions
    fast_cmd = [str(BIN / "autograder"), "autograde", args.assignment, "--force"]
    if args.workers:
        fast_cmd += ["--workers", str(args.workers)]
    fast = timed(fast_cmd, fast_root)
    print(f"autograder autograde: {fast:8.1f} s  {fast / k:6.3f} s/notebook  (workers: {args.workers or 'all cores'})")
    if args.skip_stock:
        return
    stock = timed([str(BIN / "nbgrader"), "autograde", args.assignment, "--force"], stock_root)
    print(f"nbgrader autograde:   {stock:8.1f} s  {stock / k:6.3f} s/notebook")
    print(f"speed ratio:          {stock / fast:8.1f}x  (K = {k})")
    a, b = grades(stock_root, args.assignment), grades(fast_root, args.assignment)
    differ = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))
    print(f"grade cells compared: {len(a)}; identical: {not differ}")
    for key in differ[:20]:
        print("  differs:", key, "nbgrader", a.get(key), "autograder", b.get(key))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
