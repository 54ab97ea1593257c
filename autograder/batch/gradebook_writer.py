"""The coordinator's side of the gradebook: the same rows ``nbgrader autograde`` writes, in batches.

Only the coordinator writes; workers never hold a write transaction. Each batch of finished
submissions is one transaction (retried when another program holds the SQLite lock), so an
interrupted run leaves either a submission's complete grades or none of them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy.exc
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config import Config

from .pipeline import Result

# nbgrader's own gradebook API triggers these harmless autoflush warnings on every submission
warnings.filterwarnings("ignore", category=sqlalchemy.exc.SAWarning)


@dataclass
class Submission:
    student: str
    assignment: str
    timestamp: object | None                 # datetime or None
    notebooks: list[str]                     # every notebook of the assignment (gradebook order)
    results: dict[str, Result] = field(default_factory=dict)   # notebook -> result (present ones)
    problems: list[str] = field(default_factory=list)
    jobs: list = field(default_factory=list)                   # the notebooks handed to workers
    notebooks_to_grade: list[str] = field(default_factory=list)


def ensure_students(db_url: str, submissions: Iterable[Submission]) -> None:
    """Create students and submission rows (with their timestamps) before grading starts."""
    _while_locked(_ensure_students, db_url, list(submissions))


def write_grades(db_url: str, config: Config, submissions: list[Submission]) -> None:
    _while_locked(_write, db_url, config, submissions)


def _while_locked(write, *args, attempts: int = 8) -> None:
    """Run one write transaction, again while another program (a concurrent ``nbgrader autograde``, the
    formgrader) holds the SQLite lock. Each attempt already waits SQLite's own busy timeout."""
    for attempt in range(attempts):
        try:
            write(*args)
            return
        except sqlalchemy.exc.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _ensure_students(db_url: str, submissions: list[Submission]) -> None:
    with Gradebook(db_url) as gb:
        for sub in submissions:
            gb.update_or_create_student(sub.student)
            if sub.timestamp is not None:
                gb.update_or_create_submission(sub.assignment, sub.student, timestamp=sub.timestamp)
            else:
                gb.update_or_create_submission(sub.assignment, sub.student)


def _write(db_url: str, config: Config, submissions: list[Submission]) -> None:
    late = AssignLatePenalties(config=config)
    late.init_plugin()
    with Gradebook(db_url) as gb:
        session = gb.db
        for sub in submissions:
            for name in sub.notebooks:
                try:
                    notebook = gb.find_submission_notebook(name, sub.assignment, sub.student)
                except MissingEntry:
                    continue
                result = sub.results.get(name)
                if result is None:  # nbgrader: a notebook missing from the submission scores zero
                    for grade in notebook.grades:
                        grade.auto_score = 0
                        grade.needs_manual_grade = False
                    continue
                if result.error is not None:
                    continue  # as nbgrader: a failed notebook keeps no autograde
                for grade in notebook.grades:
                    if grade.name in result.grades:
                        grade.auto_score = result.grades[grade.name]
                        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
                for comment in notebook.comments:
                    if comment.name in result.comments:
                        comment.auto_comment = result.comments[comment.name]
            session.flush()
            _late_penalties(gb, late, sub)
        session.commit()


def _late_penalties(gb: Gradebook, late: AssignLatePenalties, sub: Submission) -> None:
    """nbgrader's AssignLatePenalties, applied inside the batch's transaction."""
    assignment = gb.find_submission(sub.assignment, sub.student)
    for name, result in sub.results.items():
        if result.error is not None:
            continue
        notebook = gb.find_submission_notebook(name, sub.assignment, sub.student)
        notebook.late_submission_penalty = None
        if assignment.total_seconds_late > 0:
            penalty = late.plugin_inst.late_submission_penalty(sub.student, notebook.score,
                                                               assignment.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = late._check_late_penalty(notebook, penalty)
