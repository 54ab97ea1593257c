"""Look at a submission folder before it is graded, and make broken input gradable without losing it.

* Anything that is not a plain file or folder — a symbolic link (to the gradebook, to ``source/``, to
  another student), a named pipe, a socket, a device file — is moved into ``.autograder-quarantine/``
  wherever it sits in the submission: nbgrader would otherwise follow links when it copies the
  student's files into ``autograded/``, and block or read forever on the others.
* A notebook that cannot be read (truncated or invalid JSON, non-UTF-8 bytes, an empty file, a folder
  or a link, not a notebook, far too large) is moved into the quarantine folder too, and replaced by
  the release version of the notebook marked as unreadable: it then grades to zero, and the feedback
  says why. A notebook whose only fault is repairable (invalid or duplicate cell ids, a kernelspec or
  language_info that is not the notebook format's) is repaired and graded; the original is kept.
* A notebook saved under another name ("vjp (1).ipynb") is graded as the expected one when it is the
  only candidate.
* A ``timestamp.txt`` that is not a readable submission time is set aside (graded without one).

No name inside the submission is trusted: a student may pre-create ``.autograder-quarantine`` as a
file, a link or a folder, and the grader never writes through a link. The original bytes are always
kept (the quarantine folder with a ``reasons.txt``), so nothing a student submitted is lost. The same
function runs as nbgrader's ``pre_convert_hook`` and inside ``autograder autograde``; if it fails
anyway, ``lock_down`` sets the whole submission aside and grades it zero with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.probe.contract import METADATA_KEY, UNREADABLE

QUARANTINE = ".autograder-quarantine"
IGNORED = QUARANTINE + "*"   # nbgrader's ignore pattern: ours, and a student's look-alike set aside
MAX_TIMESTAMP_BYTES = 1024
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

log = logging.getLogger("autograder.submissions")


@dataclass
class SubmissionReport:
    problems: list[str] = field(default_factory=list)      # one line each, for the batch summary
    unreadable: dict[str, str] = field(default_factory=dict)  # notebook name -> reason
    renamed: dict[str, str] = field(default_factory=dict)     # expected name -> file graded instead
    added: list[str] = field(default_factory=list)          # notebook paths created for grading
    failed: str | None = None                               # the check itself failed: graded zero


class CheckFailed(Exception):
    """The submission could not be made safe to grade."""


def shown(name: str, limit: int = 80) -> str:
    """``name`` as one printable line: undecodable bytes and control characters escaped, long names cut."""
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate that did not come from the file system
        raw = name.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _kind(mode: int) -> str | None:
    """What an entry is, when it is not something a submission may hold (a plain file or a folder)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------- reading a notebook

@dataclass
class Inspection:
    reason: str | None = None        # why it cannot be graded
    repaired: object | None = None   # a repaired notebook to grade instead of the file
    repairs: list[str] = field(default_factory=list)


def _valid_notebook_metadata(key: str, value) -> bool:
    try:
        nbformat.validate(nbformat.v4.new_notebook(metadata={key: value}))
    except Exception:
        return False
    return True


def _repair(nb) -> list[str]:
    """Fix what the notebook format rejects but grading does not need: returns what was changed."""
    repairs = []
    metadata = nb.get("metadata")
    if isinstance(metadata, dict):
        for key in ("kernelspec", "language_info"):
            if key in metadata and not _valid_notebook_metadata(key, metadata[key]):
                del metadata[key]
                repairs.append(f"invalid {key} removed")
    seen: set[str] = set()
    fixed = 0
    for cell in nb.get("cells", []) if isinstance(nb.get("cells"), list) else []:
        if not isinstance(cell, dict) or "id" not in cell:
            continue
        if not isinstance(cell["id"], str) or not _CELL_ID.match(cell["id"]) or cell["id"] in seen:
            cell["id"] = f"autograder-{secrets.token_hex(6)}"
            fixed += 1
        seen.add(cell["id"])
    if fixed:
        repairs.append(f"{fixed} invalid or duplicate cell id(s) replaced")
    return repairs


def max_notebook_bytes(config=None) -> int:
    """The largest notebook file graded (``c.Sandbox.submission_mb``); larger ones are never parsed."""
    from autograder.sandbox.config import Sandbox

    sandbox = Sandbox(config=config) if config is not None else Sandbox()
    return sandbox.submission_mb * 2**20


def inspect_notebook(path: Path, max_bytes: int | None = None) -> Inspection:
    """Whether ``path`` can be graded as a notebook, as it is or once repaired. Never follows a link.
    Files over ``max_bytes`` (default: ``c.Sandbox.submission_mb``'s default) are never read."""
    max_bytes = max_notebook_bytes() if max_bytes is None else max_bytes
    st = _lstat(path)
    if st is None:
        return Inspection("the file is missing")
    kind = _kind(st.st_mode)
    if kind is not None or stat.S_ISDIR(st.st_mode):
        return Inspection(f"it is a {kind or 'folder'}, not a file")
    if st.st_size == 0:
        return Inspection("the file is empty")
    if st.st_size > max_bytes:
        return Inspection(f"the file is too large: {st.st_size / 2**20:.1f} MiB, more than the "
                          f"{max_bytes / 2**20:g} MiB a notebook may have")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        return Inspection(f"the file cannot be opened ({exc.strerror})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Inspection(f"the file is not UTF-8 text (invalid byte at position {exc.start})")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            return Inspection("the file is JSON nested too deeply to read")
        cut = " — it looks cut off" if exc.pos >= len(text.rstrip()) - 1 else ""
        return Inspection(f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){cut}")
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return Inspection("the file is JSON but not a Jupyter notebook")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        return Inspection()
    except Exception as exc:
        first = f"the notebook does not follow the notebook format ({str(exc).splitlines()[0][:200]})"
    try:
        nb = nbformat.from_dict(data) if data.get("nbformat") == 4 else nbformat.reads(text, as_version=4)
        repairs = _repair(nb)
        if not repairs:
            return Inspection(first)
        nbformat.validate(nb)
    except Exception:
        return Inspection(first)
    return Inspection(repaired=nb, repairs=repairs)


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be graded as a notebook (even once repaired), or None if it can."""
    return inspect_notebook(path).reason


def placeholder(release_notebook: Path, reason: str):
    """The release notebook, marked so that the judge grades it to zero and says why."""
    nb = nbformat.read(release_notebook, as_version=4)
    nb.metadata.setdefault(METADATA_KEY, {})[UNREADABLE] = reason
    banner = nbformat.v4.new_markdown_cell(
        "**Your submitted notebook could not be graded:** " + reason + ". The grader kept your original "
        "file; this page shows the assignment as released, with no answers.")
    banner["id"] = "autograder-unreadable"
    nb.cells.insert(0, banner)
    return nb


def _write_new(path: Path, text: str) -> None:
    """Create ``path``, which must not exist (never writes through a link a student left there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


# ---------------------------------------------------------------------- the quarantine folder

class _Quarantine:
    """The folder where originals are kept. Created by us; whatever a student left under its name
    (a file, a link, a pipe, a folder we cannot write) is itself set aside first."""

    def __init__(self, folder: Path, report: SubmissionReport):
        self.folder = folder
        self.report = report
        self.reasons: list[str] = []
        self._dir: Path | None = None

    @property
    def dir(self) -> Path:
        if self._dir is None:
            self._dir = self._make()
        return self._dir

    def _make(self) -> Path:
        path = self.folder / QUARANTINE
        st = _lstat(path)
        if st is not None and stat.S_ISDIR(st.st_mode) and os.access(path, os.W_OK | os.X_OK):
            return path
        aside = None
        if st is not None:  # not ours: rename it out of the way (a rename never follows a link)
            aside = self.folder / f"{QUARANTINE}.student-{secrets.token_hex(4)}"
            os.rename(path, aside)
            what = _kind(st.st_mode) or ("file" if stat.S_ISREG(st.st_mode) else "folder")
            self.report.problems.append(f"a {what} named {QUARANTINE} was in the submission; set aside")
        os.mkdir(path, 0o755)
        if aside is not None:
            try:
                os.rename(aside, path / aside.name)
                self.reasons.append(f"{aside.name}: the student's own {QUARANTINE}")
            except OSError:
                pass  # a folder we may not move stays where it is; nbgrader ignores its name (IGNORED)
        return path

    def keep(self, path: Path, reason: str) -> Path:
        """Move ``path`` (anything, never followed) into the quarantine folder."""
        name = path.name
        if len(os.fsencode(name)) > 180 or _lstat(self.dir / name) is not None:
            short = os.fsencode(name)[:100].decode("utf-8", "ignore") or "entry"
            name = f"{short}.{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        target = self.dir / name
        os.rename(path, target)
        self.reasons.append(f"{shown(str(path.relative_to(self.folder)), 200)} -> {shown(name, 200)}: {reason}")
        return target

    def write_reasons(self) -> None:
        if not self.reasons:
            return
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        lines = "".join(f"{stamp}  {line}\n" for line in self.reasons)
        reasons = self.dir / "reasons.txt"
        old = ""
        st = _lstat(reasons)
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size < 2**20:
            fd = os.open(reasons, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                old = fh.read().decode("utf-8", "replace")
        temporary = self.dir / f".reasons-{secrets.token_hex(6)}.tmp"
        _write_new(temporary, old + lines)
        if st is not None and stat.S_ISDIR(st.st_mode):
            reasons = self.dir / f"reasons-{secrets.token_hex(4)}.txt"
        os.replace(temporary, reasons)  # replaces a link named reasons.txt, never writes through it
        self.reasons.clear()


def _unsafe_entries(folder: Path, skip: Path):
    """(path, why) for every entry of ``folder`` that must not be copied, walking without following links."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            yield current, f"a folder the grader cannot read ({exc.strerror})"
            continue
        for entry in entries:
            path = Path(entry.path)
            if path == skip:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            kind = _kind(mode)
            if kind == "symbolic link":
                try:
                    target = shown(os.readlink(path), 120)
                except OSError:
                    target = "?"
                yield path, f"symbolic link to {target}"
            elif kind is not None:
                yield path, kind
            elif stat.S_ISDIR(mode):
                stack.append(path)


def _timestamp_problem(path: Path) -> str | None:
    from nbgrader.utils import parse_utc

    st = _lstat(path)
    if st is None or _kind(st.st_mode) is not None:  # special entries are set aside by the walk
        return None
    if not stat.S_ISREG(st.st_mode):
        return "it is a folder"
    if st.st_size > MAX_TIMESTAMP_BYTES:
        return f"it is {st.st_size} bytes long"
    try:
        text = path.read_bytes().decode("utf-8").strip()
        if text:
            parse_utc(text)
    except Exception as exc:
        return f"it is not a time ({type(exc).__name__})"
    return None


# ---------------------------------------------------------------------- the check

def check_submission(folder: Path, expected: list[str], release_dir: Path | None,
                     notebooks: list[str] | None = None, max_bytes: int | None = None) -> SubmissionReport:
    """Inspect and repair ``folder`` (a ``submitted/<student>/<assignment>`` directory) in place.

    ``expected`` are the notebook names (without ``.ipynb``) of the assignment. ``notebooks``, if
    given, is nbgrader's list of notebook paths for this submission: it is rewritten to the expected
    notebooks that are there to grade. Raises ``CheckFailed`` when the folder cannot be made safe.
    """
    report = SubmissionReport()
    st = _lstat(folder)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return report
    quarantine = _Quarantine(folder, report)
    try:
        _check(folder, expected, release_dir, report, quarantine, max_bytes)
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(f"{type(exc).__name__}: {shown(str(exc), 200)}") from exc
    finally:
        try:
            quarantine.write_reasons()
        except OSError:
            pass
    _point_nbgrader_at(notebooks, folder, expected)
    return report


def _point_nbgrader_at(notebooks: list[str] | None, folder: Path, expected: list[str]) -> None:
    """Rewrite nbgrader's list of notebook paths to the expected notebooks that are there to grade."""
    if notebooks is not None:
        prefix = os.path.dirname(notebooks[0]) if notebooks else str(folder)
        notebooks[:] = [os.path.join(prefix, f"{name}.ipynb") for name in expected
                        if _is_file(folder / f"{name}.ipynb")]


def _is_file(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _check(folder, expected, release_dir, report, quarantine, max_bytes=None) -> None:
    if _lstat(folder / QUARANTINE) is not None:
        quarantine.dir  # noqa: B018  (a student's look-alike is set aside before the walk)
    set_aside: dict[str, str] = {}
    for path, why in list(_unsafe_entries(folder, skip=folder / QUARANTINE)):
        quarantine.keep(path, why)
        report.problems.append(f"{shown(str(path.relative_to(folder)))} set aside: {why}")
        if path.parent == folder:
            set_aside[path.name] = why
    problem = _timestamp_problem(folder / "timestamp.txt")
    if problem:
        quarantine.keep(folder / "timestamp.txt", problem)
        report.problems.append(f"timestamp.txt set aside ({problem}); graded without a submission time")
    present = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".ipynb"):
                present[entry.name[:-len(".ipynb")]] = Path(entry.path)
    for name in expected:
        path = present.get(name)
        if path is None and f"{name}.ipynb" in set_aside:  # a link or a pipe in the notebook's place
            reason = f"the submitted {name}.ipynb was a {set_aside[f'{name}.ipynb']}"
            report.unreadable[name] = reason
            report.problems.append(f"{name}.ipynb unreadable: {reason}")
            _write_placeholder(folder / f"{name}.ipynb", release_dir, name, reason)
            continue
        if path is None:
            strays = [p for stem, p in present.items() if stem not in expected and _is_file(p)]
            if len(strays) == 1 and inspect_notebook(strays[0], max_bytes).reason is None:
                stray, target = strays[0], folder / f"{name}.ipynb"
                _write_new(target, stray.read_bytes().decode("utf-8"))
                report.renamed[name] = stray.name
                report.added.append(str(target))
                report.problems.append(f"{name}.ipynb missing; graded {shown(stray.name)} in its place")
                path = target
            else:
                report.problems.append(f"{name}.ipynb missing from the submission")
                continue
        found = inspect_notebook(path, max_bytes)
        if found.repaired is not None:
            quarantine.keep(path, "repaired: " + "; ".join(found.repairs))
            _write_new(path, nbformat.writes(found.repaired))
            report.problems.append(f"{name}.ipynb repaired ({'; '.join(found.repairs)}); the original is kept")
            continue
        if found.reason is None:
            continue
        report.unreadable[name] = found.reason
        report.problems.append(f"{name}.ipynb unreadable: {found.reason}")
        quarantine.keep(path, found.reason)
        _write_placeholder(path, release_dir, name, found.reason)


def _write_placeholder(path: Path, release_dir: Path | None, name: str, reason: str) -> None:
    release_notebook = release_dir / f"{name}.ipynb" if release_dir else None
    if release_notebook is not None and release_notebook.exists():
        _write_new(path, nbformat.writes(placeholder(release_notebook, reason)))


def lock_down(folder: Path, expected: list[str], release_dir: Path | None, reason: str,
              notebooks: list[str] | None = None) -> bool:
    """The check failed: move everything the student submitted into a fresh folder nbgrader ignores,
    and put zero-grading placeholders (with ``reason``) in the notebooks' place. True if that worked."""
    try:
        aside = folder / f"{QUARANTINE}.unchecked-{secrets.token_hex(4)}"
        os.mkdir(aside, 0o755)
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if entry.path != str(aside)]
        for name in names:
            os.rename(folder / name, aside / name)
        for name in expected:
            _write_placeholder(folder / f"{name}.ipynb", release_dir, name, reason)
        _write_new(aside / "reasons.txt", f"{dt.datetime.now().isoformat(timespec='seconds')}  {reason}\n")
    except Exception:
        log.exception("could not set the submission %s aside", shown(str(folder), 300))
        if notebooks is not None:
            notebooks.clear()
        return False
    _point_nbgrader_at(notebooks, folder, expected)
    return True


def failed_check_reason(error: BaseException) -> str:
    return f"the grader could not check this submission safely ({shown(str(error), 200)}), so it was graded zero"


def nbgrader_hook(assignment: str, student: str, notebooks: list[str]) -> None:
    """``c.Autograde.pre_convert_hook``: run ``check_submission`` on the submission about to be graded.

    nbgrader passes the ids of the command line (``*`` for "all students"), so the submission folder
    is taken from the notebook paths themselves. nbgrader swallows a hook's exceptions and grades on,
    so none escapes: a failed check locks the submission down (graded zero, the reason in its feedback)
    and is logged as an error.
    """
    from autograder.course import Course

    if not notebooks:
        return
    folder = Path(os.path.abspath(notebooks[0])).parent
    assignment, student = folder.name, folder.parent.name
    try:
        course = Course.find(folder)
        expected = course.notebooks(assignment)
        release_dir = course.release / assignment
        max_bytes = max_notebook_bytes(course.config())
    except Exception as exc:
        log.error("%s/%s: the submission check cannot start (%s); nothing of it is graded", shown(student),
                  assignment, shown(str(exc), 200))
        notebooks.clear()
        return
    try:
        report = check_submission(folder, expected, release_dir, notebooks, max_bytes)
    except CheckFailed as exc:
        reason = failed_check_reason(exc)
        log.error("%s/%s: %s", shown(student), assignment, reason)
        if not lock_down(folder, expected, release_dir, reason, notebooks):
            log.error("%s/%s: not graded: the submission could not be set aside either", shown(student), assignment)
        return
    for problem in report.problems:
        log.warning("%s/%s: %s", shown(student), assignment, problem)
