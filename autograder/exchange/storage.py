"""The service's files on disk, below one directory only the service's user can read (0700)::

    courses/<course>/released/<assignment>/...                       the release, as the instructor sent it
    courses/<course>/submissions/<assignment>/<student>/<n>/meta.json   {timestamp, late, received}
    courses/<course>/submissions/<assignment>/<student>/<n>/files/...   the submission, with timestamp.txt
    courses/<course>/feedback/<assignment>/<student>/<n>/<notebook>.html   feedback on submission <n>
    tmp/                                                                 where everything is built first

Everything is written below ``tmp/`` and then renamed into place, so a reader never sees half a release or
half a submission; a submission folder is never replaced (``<n>`` is new each time: the service's UTC clock
to the microsecond, plus a counter if two arrive in the same microsecond). Names are checked by the caller
against ``protocol.NAME_PATTERN`` before they reach this module."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from autograder.exchange import archive, protocol

SUBMISSION_ID_FORMAT = "%Y%m%dT%H%M%S%fZ"


def _notebooks(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.ipynb") if p.is_file()) if folder.is_dir() else []


class Storage:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.tmp = self.root / "tmp"
        shutil.rmtree(self.tmp, ignore_errors=True)  # what an interrupted write left behind
        self.tmp.mkdir(mode=0o700)

    # -- paths ---------------------------------------------------------------------------------------------
    def course(self, course: str) -> Path:
        return self.root / "courses" / course

    def released_dir(self, course: str, assignment: str) -> Path:
        return self.course(course) / "released" / assignment

    def submissions_dir(self, course: str, assignment: str) -> Path:
        return self.course(course) / "submissions" / assignment

    def feedback_dir(self, course: str, assignment: str, student: str) -> Path:
        return self.course(course) / "feedback" / assignment / student

    def scratch(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.tmp))

    def _move_in(self, built: Path, target: Path, replace: bool) -> None:
        """Rename ``built`` to ``target``; an existing ``target`` is swapped out only when ``replace``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if not replace:
                raise FileExistsError(target)
            old = self.scratch() / "old"
            os.rename(target, old)
            os.rename(built, target)
            shutil.rmtree(old.parent, ignore_errors=True)
        else:
            os.rename(built, target)

    # -- releases ------------------------------------------------------------------------------------------
    def released(self, course: str) -> list[dict]:
        folder = self.course(course) / "released"
        if not folder.is_dir():
            return []
        return [{"assignment_id": p.name, "notebooks": _notebooks(p)} for p in sorted(folder.iterdir()) if p.is_dir()]

    def is_released(self, course: str, assignment: str) -> bool:
        return self.released_dir(course, assignment).is_dir()

    def release(self, course: str, assignment: str, data: bytes, force: bool) -> list[str]:
        target = self.released_dir(course, assignment)
        if target.exists() and not force:
            raise archive.Refused(409, f"{assignment} is already released in {course}; release again with --force "
                                       "to replace it")
        work = self.scratch()
        try:
            names = archive.unpack(data, work / "release", archive.RELEASE)
            self._move_in(work / "release", target, replace=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return names

    def unrelease(self, course: str, assignment: str) -> bool:
        target = self.released_dir(course, assignment)
        if not target.exists():
            return False
        gone = self.scratch() / "gone"
        os.rename(target, gone)
        shutil.rmtree(gone.parent, ignore_errors=True)
        return True

    # -- submissions ---------------------------------------------------------------------------------------
    def submit(self, course: str, assignment: str, student: str, data: bytes, now: dt.datetime,
               late: bool) -> dict:
        stamp = now.astimezone(dt.UTC)
        timestamp = stamp.strftime(protocol.TIMESTAMP_FORMAT)
        folder = self.submissions_dir(course, assignment) / student
        work = self.scratch()
        try:
            names = archive.unpack(data, work / "files", archive.SUBMISSION)
            (work / "files" / protocol.TIMESTAMP_FILE).write_text(timestamp)
            meta = {"timestamp": timestamp, "late": late, "received": stamp.isoformat(), "files": names}
            (work / "meta.json").write_text(json.dumps(meta))
            folder.mkdir(parents=True, exist_ok=True)
            base = stamp.strftime(SUBMISSION_ID_FORMAT)
            for n in range(1000):
                try:
                    os.rename(work, folder / (base if n == 0 else f"{base}-{n}"))  # fails if it exists
                    break
                except OSError:
                    continue
            else:
                raise archive.Refused(503, "could not store the submission; try again")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return meta

    def _submission_dirs(self, course: str, assignment: str, student: str) -> list[Path]:
        folder = self.submissions_dir(course, assignment) / student
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if (p / "meta.json").is_file())

    def submissions(self, course: str, assignment: str, student: str | None = None) -> list[dict]:
        base = self.submissions_dir(course, assignment)
        students = [student] if student else sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        found = []
        for name in students:
            graded = {sub: self._feedback_of(course, assignment, name, sub) for sub in self._feedback_ids(
                course, assignment, name)}
            for sub in self._submission_dirs(course, assignment, name):
                meta = json.loads((sub / "meta.json").read_text())
                found.append({"student_id": name, "timestamp": meta["timestamp"], "late": meta["late"],
                              "received": meta["received"], "notebooks": _notebooks(sub / "files"),
                              "feedback": graded.get(sub.name, {})})
        return found

    def received_since(self, course: str, assignment: str, student: str, since: dt.datetime) -> list[dt.datetime]:
        times = []
        for sub in self._submission_dirs(course, assignment, student):
            received = dt.datetime.fromisoformat(json.loads((sub / "meta.json").read_text())["received"])
            if received > since:
                times.append(received)
        return sorted(times)

    def latest(self, course: str, assignment: str, student: str) -> Path | None:
        subs = self._submission_dirs(course, assignment, student)
        return subs[-1] / "files" if subs else None

    def submission_with(self, course: str, assignment: str, student: str, timestamp: str) -> Path | None:
        for sub in self._submission_dirs(course, assignment, student):
            if json.loads((sub / "meta.json").read_text())["timestamp"] == timestamp:
                return sub
        return None

    # -- feedback ------------------------------------------------------------------------------------------
    def _feedback_ids(self, course: str, assignment: str, student: str) -> list[str]:
        folder = self.feedback_dir(course, assignment, student)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def _feedback_of(self, course: str, assignment: str, student: str, sub: str) -> dict[str, str]:
        folder = self.feedback_dir(course, assignment, student) / sub
        return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.html"))}

    def put_feedback(self, course: str, assignment: str, student: str, submission: Path, data: bytes) -> list[str]:
        work = self.scratch()
        try:
            names = archive.unpack(data, work / "feedback", archive.FEEDBACK)
            if any("/" in name for name in names):
                raise archive.Refused(400, "feedback is a flat set of <notebook>.html files")
            self._move_in(work / "feedback", self.feedback_dir(course, assignment, student) / submission.name,
                          replace=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return names

    def feedback_files(self, course: str, assignment: str, student: str) -> list[tuple[str, Path]]:
        """Feedback as fetched: ``<n>/timestamp.txt`` and ``<n>/<notebook>.html`` per graded submission."""
        files = []
        for sub in self._feedback_ids(course, assignment, student):
            meta_path = self.submissions_dir(course, assignment) / student / sub / "meta.json"
            if not meta_path.is_file():
                continue
            stamp_file = meta_path.parent / "files" / protocol.TIMESTAMP_FILE
            files.append((f"{sub}/{protocol.TIMESTAMP_FILE}", stamp_file))
            for html in sorted((self.feedback_dir(course, assignment, student) / sub).glob("*.html")):
                files.append((f"{sub}/{html.name}", html))
        return files
