"""A private copy of the course to grade instant feedback in: the course's ``nbgrader_config.py``, the sources
and release of the served assignments, and a gradebook of its own (``<state dir>/scratch/gradebook.db``). The
instructor's ``gradebook.db``, ``submitted/`` and ``autograded/`` are never written: the grade of record stays
the instructor's (``nbgrader collect`` + ``autograder autograde``).

Grading is the course's own path (the checks, workers, sandbox and judge of ``autograder autograde``) in a pool
that stays warm for the service's life (``warm_pool``). Feedback is nbgrader's ``GenerateFeedback`` with the
course's preprocessors, or a score-only page.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
from pathlib import Path

from ..course import Course

CONFIG_FILE = "nbgrader_config.py"


def _nbgrader() -> list[str]:
    exe = Path(sys.executable).with_name("nbgrader")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


class ScratchCourse:
    def __init__(self, course: Course, folder: Path, assignments: list[str], workers: int = 1) -> None:
        self.origin = course
        self.root = Path(folder).resolve()
        self.workers = workers
        self._zygote = None
        self._build(assignments)
        self.course = Course(self.root)

    def _build(self, assignments: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = (self.origin.root / CONFIG_FILE).read_text()
        config += ("\n# instant feedback's scratch course: its own gradebook, never the instructor's\n"
                   f"c.CourseDirectory.root = {str(self.root)!r}\n"
                   f"c.CourseDirectory.db_url = {'sqlite:///' + str(self.root / 'gradebook.db')!r}\n")
        (self.root / CONFIG_FILE).write_text(config)
        for assignment in assignments:
            for part in ("source", "release"):
                target = self.root / part / assignment
                if target.exists():
                    shutil.rmtree(target)
                origin = self.origin.root / part / assignment
                if origin.is_dir():
                    shutil.copytree(origin, target)
            # the gradebook rows of the assignment (its cells and points), in the scratch gradebook only
            done = subprocess.run([*_nbgrader(), "generate_assignment", assignment, "--force"], cwd=self.root,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"generate_assignment {assignment} in the scratch course failed:\n"
                                   f"{(done.stdout + done.stderr)[-2000:]}")

    # ------------------------------------------------------------------------------------------- grading
    def place(self, student: str, assignment: str, files: Path) -> None:
        """Put a downloaded submission (with its timestamp.txt) at submitted/<student>/<assignment>."""
        dest = self.course.submitted / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(files, dest)

    def pool(self):
        """A warm grading pool for this scratch course (``warm_pool.WarmPool``)."""
        from .warm_pool import WarmPool

        return WarmPool(self.course, self.workers)

    # ------------------------------------------------------------------------------------------- feedback
    def same_page(self, assignment: str, title: str, body: str) -> dict[str, bytes]:
        """One page for every notebook of the assignment: notebook file name -> HTML."""
        return {f"{nb}.html": page(title, body) for nb in self.course.notebooks(assignment)}

    def feedback_diagnosis(self, assignment: str, student: str, problems: list[str] = ()) -> dict[str, bytes]:
        """nbgrader's feedback pages (as ``generate_feedback``): notebook file name -> HTML. A notebook that
        could not be graded (missing, unreadable) gets a page saying why instead, from ``problems``."""
        from nbgrader.converters import GenerateFeedback
        from nbgrader.coursedir import CourseDirectory

        graded = self.course.autograded / student / assignment
        pages = {}
        if any((graded / f"{nb}.ipynb").is_file() for nb in self.course.notebooks(assignment)):
            config = self.course.config()
            coursedir = CourseDirectory(config=config)
            coursedir.root = str(self.root)
            coursedir.assignment_id = assignment
            coursedir.student_id = student
            out = self.course.feedback / student / assignment
            if out.exists():
                shutil.rmtree(out)
            converter = GenerateFeedback(coursedir=coursedir, config=config)
            converter.force = True
            converter.start()
            pages = {p.name: p.read_bytes() for p in sorted(out.glob("*.html"))}
        for nb in self.course.notebooks(assignment):
            if f"{nb}.html" not in pages:
                reasons = "".join(f"<li>{html.escape(p)}</li>" for p in problems) or "<li>no notebook</li>"
                body = (f"<h1>{html.escape(assignment)}: {html.escape(nb)}.ipynb could not be graded</h1>"
                        f"<p>It scores 0. What was wrong with the submission:</p><ul>{reasons}</ul>"
                        f"<p>Submit the assignment again with {html.escape(nb)}.ipynb in it.</p>")
                pages[f"{nb}.html"] = page(f"{assignment} {nb}: not graded", body)
        return pages

    def feedback_score(self, assignment: str, student: str) -> dict[str, bytes]:
        """A page per notebook with its score only: no cell, no test, no diagnosis."""
        from nbgrader.api import Gradebook

        pages = {}
        with Gradebook(self.course.db_url) as gb:
            sub = gb.find_submission(assignment, student)
            total = f"{sub.score:g} / {sub.max_score:g}"
            for nb in sub.notebooks:
                body = (f"<h1>{html.escape(assignment)}: {html.escape(nb.name)}</h1>"
                        f"<p>Score of this notebook: <b>{nb.score:g} / {nb.max_score:g}</b></p>"
                        f"<p>Score of the assignment: {total}</p>"
                        "<p>Instant feedback for this assignment shows the score only.</p>")
                pages[f"{nb.name}.html"] = page(f"{assignment} {nb.name}: score", body)
        return pages


def page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body>{body}</body></html>").encode()
