"""Who the students are: ``roster.csv`` at the course root (columns id,first_name,last_name,email),
else the students already in nbgrader's gradebook, else the sample cohort of ``autograder demo``."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..course import Course, CourseError
from .settings import check_username

ROSTER_FILE = "roster.csv"
COLUMNS = ("id", "first_name", "last_name", "email")


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


def read_csv(path: Path) -> list[Student]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise CourseError(f"{path}: the first line must name the columns {','.join(COLUMNS)}")
        students: dict[str, Student] = {}
        for number, row in enumerate(reader, start=2):
            name = (row.get("id") or "").strip()
            if not name:
                continue
            try:
                check_username(name)
            except CourseError as exc:
                raise CourseError(f"{path}, line {number}: {exc}") from None
            students[name] = Student(name, *((row.get(column) or "").strip() for column in COLUMNS[1:]))
    return list(students.values())


def from_gradebook(course: Course) -> list[Student]:
    database = course.db_url
    if database.startswith("sqlite:///") and not Path(database[len("sqlite:///"):]).is_file():
        return []
    from nbgrader.api import Gradebook

    with Gradebook(database) as gradebook:
        return [Student(s.id, s.first_name or "", s.last_name or "", s.email or "") for s in gradebook.students]


def sample() -> list[Student]:
    from ..demo.cohort import STUDENTS

    return [Student(name, first_name=name.capitalize()) for name in STUDENTS]


def load(course: Course) -> tuple[list[Student], str]:
    """The students and where they came from (for the start-up message)."""
    path = course.root / ROSTER_FILE
    if path.is_file():
        return read_csv(path), str(path)
    students = from_gradebook(course)
    if students:
        return students, "the gradebook"
    return sample(), f"the sample cohort (write {path} to name your own students)"


def append(course: Course, name: str, current: list[Student]) -> bool:
    """Add a student to ``roster.csv``; False if already there. Without a roster file, one is written
    with the ``current`` students (from the gradebook or the sample) and the new one."""
    path = course.root / ROSTER_FILE
    if path.is_file():
        if any(s.id == name for s in read_csv(path)):
            return False
        text = path.read_text()
        with path.open("a", newline="") as handle:
            if text and not text.endswith("\n"):
                handle.write("\n")
            csv.writer(handle).writerow([name, "", "", ""])
        return True
    students = [s for s in current if s.id != name] + [Student(name)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([s.id, s.first_name, s.last_name, s.email] for s in students)
    os.chmod(path, 0o600)
    return True


def sync_gradebook(course: Course, students: list[Student]) -> None:
    """Make nbgrader's gradebook know every student on the roster (formgrader lists them)."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gradebook:
        for s in students:
            gradebook.update_or_create_student(s.id, first_name=s.first_name or None,
                                               last_name=s.last_name or None, email=s.email or None)
