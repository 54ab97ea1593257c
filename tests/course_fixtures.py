"""Build throwaway course directories with a cohort of submissions, and run nbgrader on them."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support import NOTEBOOKS, ROOT

from autograder.batch import pause_hook
from autograder.demo.cohort import CHEAT_CELL, correct_answers, fill
from autograder.demo.mistakes import MISTAKES

BIN = Path(sys.executable).parent


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and done.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


_TEMPLATES: dict[tuple[str, ...], Path] = {}


def new_course(root: Path, assignments: list[str]) -> Path:
    """A course with ``assignments`` released (gradebook included). ``generate_assignment`` runs once
    per set of assignments and test process; later courses are copies of that template."""
    key = tuple(sorted(assignments))
    if key not in _TEMPLATES:
        import tempfile

        template = Path(tempfile.mkdtemp(prefix="course-template-")) / "course"
        template.mkdir()
        for assignment in key:
            shutil.copytree(ROOT / "source" / assignment, template / "source" / assignment)
        shutil.copy2(ROOT / "nbgrader_config.py", template / "nbgrader_config.py")
        for assignment in key:
            nbgrader(template, "generate_assignment", assignment, "--force")
        _TEMPLATES[key] = template
    shutil.copytree(_TEMPLATES[key], root, dirs_exist_ok=True)
    return root


def answers(assignment: str) -> dict[str, str]:
    return correct_answers(nbformat.read(ROOT / "source" / assignment / NOTEBOOKS[assignment], as_version=4))


def release(course: Path, assignment: str):
    return nbformat.read(course / "release" / assignment / NOTEBOOKS[assignment], as_version=4)


def submit(course: Path, student: str, assignment: str, notebook=None, *, raw: bytes | None = None,
           extra_files: dict[str, bytes] | None = None) -> Path:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timestamp.txt").write_text(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    path = folder / NOTEBOOKS[assignment]
    if raw is not None:
        path.write_bytes(raw)
    elif notebook is not None:
        nbformat.write(notebook, path)
    for name, data in (extra_files or {}).items():
        (folder / name).write_bytes(data)
    return path


def standard_cohort(course: Path, assignment: str) -> dict[str, str]:
    """Students every cycle test uses: the source itself, blank, all-mistakes, cheater.
    (Correct answers typed into the release are graded by the adversarial corpus' bystanders and the
    banks; the source notebook itself must get full marks here.)"""
    correct = answers(assignment)
    rel = release(course, assignment)
    shutil.copytree(ROOT / "source" / assignment, course / "submitted" / "instructor" / assignment)
    submit(course, "instructor", assignment)
    submit(course, "blank", assignment, rel)
    submit(course, "mistaken", assignment, fill(rel, {fn: MISTAKES[fn][1] for fn in correct if fn in MISTAKES}))
    cheats = {fn: f"def {fn}(*args, **kwargs):\n    return torch.tensor(0.0)\n" for fn in correct}
    first = next(iter(cheats))
    cheats[first] = CHEAT_CELL + "\n" + cheats[first]
    submit(course, "cheater", assignment, fill(rel, cheats))
    return {"instructor": "the source notebook", "blank": "release unchanged",
            "mistaken": "one typical mistake per function", "cheater": "monkeypatches comparisons"}


def grades(course: Path, assignment: str) -> dict[str, dict[str, tuple[float | None, float, bool]]]:
    """student -> grade cell -> (auto_score, max_score, needs_manual_grade)."""
    from nbgrader.api import Gradebook

    out: dict = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells[g.name] = (g.auto_score, g.max_score, g.needs_manual_grade)
            out[sub.student.id] = cells
    return out


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def paused_run(course: Path, assignment: str, after: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """``autograder autograde`` on one worker, stopped by its pause hook once ``after`` submissions are
    finished and written: the test interrupts it at that known point, whatever the machine's speed."""
    read, write = os.pipe()
    env = {**os.environ, pause_hook.AFTER: str(after), pause_hook.FD: str(write)}
    # Ctrl-C at its default, as in an instructor's terminal: a process started with SIGINT ignored (a
    # background job of a script, e.g. `make stress &`) keeps it ignored, and Python honours that.
    process = subprocess.Popen([str(BIN / "autograder"), "autograde", assignment, "--workers", "1", *extra],
                               cwd=course, env=env, pass_fds=(write,), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_default_interrupt)
    os.close(write)
    with os.fdopen(read) as pipe:
        said = pipe.readline()  # blocks until the coordinator pauses; "" if it ended without pausing
    if said != f"paused after {after}\n":
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the run did not pause after {after} submissions (it said {said!r}):\n{out}{err}")
    return process
