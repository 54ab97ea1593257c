"""Runs inside Gradescope's container: grade one submission, write Gradescope's ``results.json``.

    python -m autograder.gradescope.run --assignment ps2_vjp --course SOURCE/course \\
        --submission /autograder/submission --results /autograder/results/results.json

One test per autograder test cell (score, max_score, the judge's feedback as output), in notebook
order. A submission without the expected notebook still gets a results.json saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDENT = "gradescope"


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("nbgrader")
    command = [str(exe) if exe.exists() else "nbgrader", *args]
    return subprocess.run(command, cwd=course, capture_output=True, text=True)


def grade(course_template: Path, submission: Path, assignment: str) -> dict:
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.judge.feedback import render_text  # noqa: F401  (import check: the judge is installed)
    from autograder.probe.contract import METADATA_KEY, Summary

    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="gs-course-"))
    shutil.copytree(course_template / "source", work / "source")
    shutil.copy2(course_template / "nbgrader_config.py", work / "nbgrader_config.py")
    with open(work / "nbgrader_config.py", "a") as config:
        # Gradescope runs every submission in a throwaway container of its own, which may not allow
        # namespaces: confine as far as the container allows, and do not refuse to grade.
        config.write('\nc.Sandbox.require = "none"  # added by the Gradescope runner\n')
    generated = _nbgrader(work, "generate_assignment", assignment, "--force")
    if generated.returncode != 0:
        log = generated.stdout[-3000:] + generated.stderr[-3000:]
        raise RuntimeError("nbgrader generate_assignment failed:\n" + log)
    target = work / "submitted" / STUDENT / assignment
    target.mkdir(parents=True)
    for path in submission.rglob("*"):
        if path.is_file() and not path.is_symlink() and ".ipynb_checkpoints" not in path.parts:
            destination = target / (path.name if path.suffix == ".ipynb" else path.relative_to(submission))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    graded = _nbgrader(work, "autograde", assignment, "--force")
    expected = sorted(p.stem for p in (work / "source" / assignment).glob("*.ipynb"))
    tests, number, notes = [], 0, []
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for name in expected:
            autograded = work / "autograded" / STUDENT / assignment / f"{name}.ipynb"
            cells = nbformat.read(autograded, as_version=4).cells if autograded.exists() else []
            feedback = {c.metadata[METADATA_KEY][Summary.GRADE_ID]: c for c in cells
                        if METADATA_KEY in c.get("metadata", {})}
            if not autograded.exists():
                notes.append(f"{name}.ipynb was not found in your submission (or could not be graded).")
            for grade_cell in gb.find_notebook(name, assignment).grade_cells:
                number += 1
                try:
                    grade = gb.find_grade(grade_cell.name, name, assignment, STUDENT)
                    score = grade.auto_score or 0.0
                except MissingEntry:
                    score = 0.0
                cell = feedback.get(grade_cell.name)
                output = ""
                if cell is not None:
                    output = next((o["data"]["text/plain"] for o in cell.outputs
                                   if o.get("output_type") == "display_data"), "")
                elif not autograded.exists():
                    output = f"{name}.ipynb was not graded."
                tests.append({"name": f"{name}: {grade_cell.name}", "number": str(number),
                              "score": float(score), "max_score": float(grade_cell.max_score),
                              "status": "passed" if score >= grade_cell.max_score else "failed",
                              "output": output, "output_format": "text", "visibility": "visible"})
    total = sum(t["score"] for t in tests)
    summary = " ".join(notes) or f"Autograded: {total:g} / {sum(t['max_score'] for t in tests):g} points."
    shutil.rmtree(work, ignore_errors=True)
    return {"score": total, "execution_time": round(time.time() - started), "output": summary,
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"nbgrader_exit_code": graded.returncode}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--course", required=True, type=Path)
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--results", required=True, type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        results = grade(args.course, args.submission, args.assignment)
    except Exception as exc:  # Gradescope must always receive a results.json
        results = {"score": 0.0, "output": f"The autograder failed: {type(exc).__name__}: {exc}. "
                                           "Please tell your instructor.", "tests": []}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "tests"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
