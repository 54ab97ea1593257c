"""Look at a submission folder before it is graded, and make broken input gradable without losing it.

* Symbolic links are moved into ``.autograder-quarantine/`` (they could point at the gradebook or at
  other students' work, and nbgrader would copy the target into ``autograded/``).
* A notebook that cannot be read (truncated or invalid JSON, non-UTF-8 bytes, an empty file, not a
  notebook, a file larger than ``c.Sandbox.submission_mb``, which is never parsed) is moved into the
  quarantine folder too, and replaced by the release version of the notebook marked as unreadable: it
  then grades to zero, and the feedback says why.
* A notebook saved under another name ("vjp (1).ipynb") is graded as the expected one when it is the
  only candidate.

The original bytes are always kept (``.autograder-quarantine/`` with a ``reasons.txt``), so nothing a
student submitted is lost. The same function runs as nbgrader's ``pre_convert_hook`` and inside
``autograder autograde``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

QUARANTINE = ".autograder-quarantine"
METADATA_KEY = "autograder"

log = logging.getLogger("autograder.submissions")


@dataclass
class SubmissionReport:
    problems: list[str] = field(default_factory=list)      # one line each, for the batch summary
    unreadable: dict[str, str] = field(default_factory=dict)  # notebook name -> reason
    renamed: dict[str, str] = field(default_factory=dict)     # expected name -> file graded instead
    added: list[str] = field(default_factory=list)          # notebook paths created for grading


def max_notebook_bytes(config=None) -> int:
    """The largest notebook file graded (``c.Sandbox.submission_mb``); larger ones are never parsed."""
    from autograder.sandbox.config import Sandbox

    return Sandbox(config=config).submission_mb * 2**20 if config is not None else Sandbox().submission_mb * 2**20


def unreadable_reason(path: Path, max_bytes: int | None = None) -> str | None:
    """Why ``path`` cannot be graded as a notebook, or None if it can (the size is checked first)."""
    max_bytes = max_notebook_bytes() if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"the file cannot be opened ({exc.strerror})"
    if size == 0:
        return "the file is empty"
    if size > max_bytes:
        return (f"the file is too large: {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:g} MiB "
                "a notebook may have")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the file is not UTF-8 text (invalid byte at position {exc.start})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " — it looks cut off" if exc.pos >= len(text.rstrip()) - 1 else ""
        return f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){cut}"
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return "the file is JSON but not a Jupyter notebook"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        return f"the notebook does not follow the notebook format ({str(exc).splitlines()[0][:200]})"
    return None


def _quarantine(folder: Path, path: Path, reason: str) -> Path:
    target_dir = folder / QUARANTINE
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists() or target.is_symlink():
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        target = target_dir / f"{path.name}.{stamp}"
    os.replace(path, target)
    with open(target_dir / "reasons.txt", "a") as fh:
        fh.write(f"{dt.datetime.now().isoformat(timespec='seconds')}  {path.name}: {reason}\n")
    return target


def placeholder(release_notebook: Path, reason: str):
    """The release notebook, marked so that the judge grades it to zero and says why."""
    nb = nbformat.read(release_notebook, as_version=4)
    nb.metadata.setdefault(METADATA_KEY, {})["unreadable"] = reason
    banner = nbformat.v4.new_markdown_cell(
        "**Your submitted notebook could not be graded:** " + reason + ". The grader kept your original "
        "file; this page shows the assignment as released, with no answers.")
    banner["id"] = "autograder-unreadable"
    nb.cells.insert(0, banner)
    return nb


def check_submission(folder: Path, expected: list[str], release_dir: Path | None,
                     notebooks: list[str] | None = None, max_bytes: int | None = None) -> SubmissionReport:
    """Inspect and repair ``folder`` (a ``submitted/<student>/<assignment>`` directory) in place.

    ``expected`` are the notebook names (without ``.ipynb``) of the assignment. ``notebooks``, if
    given, is nbgrader's list of notebook paths for this submission; paths created here are appended.
    ``max_bytes`` is the largest notebook file read (default: ``c.Sandbox.submission_mb``'s default).
    """
    report = SubmissionReport()
    if not folder.is_dir():
        return report
    for path in sorted(folder.rglob("*")):
        if QUARANTINE in path.parts:
            continue
        if path.is_symlink():
            target = os.readlink(path)
            _quarantine(folder, path, f"symbolic link to {target}")
            report.problems.append(f"symbolic link {path.name} set aside (it pointed to {target})")
    present = {p.stem: p for p in folder.glob("*.ipynb")}
    for name in expected:
        path = present.get(name)
        if path is None:
            strays = [p for stem, p in present.items() if stem not in expected]
            if len(strays) == 1:
                stray = strays[0]
                target = folder / f"{name}.ipynb"
                if unreadable_reason(stray, max_bytes) is None:
                    shutil.copyfile(stray, target)
                    report.renamed[name] = stray.name
                    report.added.append(str(target))
                    report.problems.append(f"{name}.ipynb missing; graded {stray.name} in its place")
                    path = target
            if path is None:
                report.problems.append(f"{name}.ipynb missing from the submission")
                continue
        reason = unreadable_reason(path, max_bytes)
        if reason is None:
            continue
        report.unreadable[name] = reason
        report.problems.append(f"{name}.ipynb unreadable: {reason}")
        _quarantine(folder, path, reason)
        release_notebook = release_dir / f"{name}.ipynb" if release_dir else None
        if release_notebook is not None and release_notebook.exists():
            nbformat.write(placeholder(release_notebook, reason), path)
    if notebooks is not None:
        for added in report.added:
            prefix = os.path.dirname(notebooks[0]) if notebooks else str(folder)
            candidate = os.path.join(prefix, os.path.basename(added))
            if candidate not in notebooks:
                notebooks.append(candidate)
    return report


def nbgrader_hook(assignment: str, student: str, notebooks: list[str]) -> None:
    """``c.Autograde.pre_convert_hook``: run ``check_submission`` on the submission about to be graded.

    nbgrader passes the ids of the command line (``*`` for "all students"), so the submission folder
    is taken from the notebook paths themselves.
    """
    from autograder.course import Course

    if not notebooks:
        return
    folder = Path(notebooks[0]).resolve().parent
    course = Course.find(folder)
    assignment, student = folder.name, folder.parent.name
    try:
        expected = course.notebooks(assignment)
        max_bytes = max_notebook_bytes(course.config())
    except Exception:
        return
    report = check_submission(folder, expected, course.release / assignment, notebooks, max_bytes)
    for problem in report.problems:
        log.warning("%s/%s: %s", student, assignment, problem)
