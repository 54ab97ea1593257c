"""Who may do what in a course, and when: the courses file (rosters, deadlines, rate) joined with the hub's
groups (``protocol.INSTRUCTOR_GROUP`` / ``protocol.STUDENT_GROUP``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.exchange import protocol
from autograder.exchange.archive import Refused

NAME = re.compile(protocol.NAME_PATTERN)


def check_name(kind: str, value: str) -> str:
    if not NAME.fullmatch(value or ""):
        raise Refused(400, f"invalid {kind} name {value!r}: it must match {protocol.NAME_PATTERN}")
    return value


@dataclass
class Course:
    instructors: set[str] = field(default_factory=set)
    students: set[str] = field(default_factory=set)
    graders: set[str] = field(default_factory=set)          # hub services: read submissions, publish feedback
    deadlines: dict[str, dt.datetime] = field(default_factory=dict)
    submissions_per_hour: int = protocol.SUBMISSIONS_PER_HOUR


def _aware(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_courses(raw: dict) -> dict[str, Course]:
    courses = {}
    for name, spec in (raw.get("courses") or {}).items():
        check_name("course", name)
        courses[name] = Course(
            instructors=set(spec.get("instructors", ())),
            students=set(spec.get("students", ())),
            graders=set(spec.get("graders", ())),
            deadlines={check_name("assignment", a): _aware(t) for a, t in (spec.get("deadlines") or {}).items()},
            submissions_per_hour=int(spec.get("submissions_per_hour", protocol.SUBMISSIONS_PER_HOUR)),
        )
    return courses


class Courses:
    """The courses file, read again whenever it changes on disk (or fixed, when given as a dict)."""

    def __init__(self, path: Path | None = None, raw: dict | None = None):
        self.path = Path(path) if path else None
        self._stamp = None
        self._courses = parse_courses(raw or {})

    def _current(self) -> dict[str, Course]:
        if self.path is not None and self.path.is_file():
            stamp = self.path.stat().st_mtime_ns
            if stamp != self._stamp:
                self._courses = parse_courses(json.loads(self.path.read_text()))
                self._stamp = stamp
        return self._courses

    def get(self, course: str) -> Course:
        return self._current().get(course) or Course()

    def names(self) -> set[str]:
        return set(self._current())

    def role(self, course: str, user: str, groups: set[str], service: bool = False) -> str | None:
        """'instructor', 'student', 'grader' (a service named in the course's graders) or None."""
        spec = self.get(course)
        if service:   # a hub service is never a member by a group or a user's name
            return "grader" if user in spec.graders else None
        if user in spec.instructors or protocol.INSTRUCTOR_GROUP.format(course=course) in groups:
            return "instructor"
        if user in spec.students or protocol.STUDENT_GROUP.format(course=course) in groups:
            return "student"
        return None

    def courses_of(self, user: str, groups: set[str], service: bool = False) -> list[dict]:
        names = set(self.names())
        for group in groups:
            for pattern in (protocol.INSTRUCTOR_GROUP, protocol.STUDENT_GROUP):
                prefix = pattern.format(course="")
                if group.startswith(prefix) and NAME.fullmatch(group[len(prefix):]):
                    names.add(group[len(prefix):])
        found = []
        for name in sorted(names):
            role = self.role(name, user, groups, service)
            if role:
                found.append({"course_id": name, "role": role})
        return found


def is_late(course: Course, assignment: str, now: dt.datetime) -> bool:
    deadline = course.deadlines.get(assignment)
    return deadline is not None and now > deadline


def check_rate(course: Course, recent: list[dt.datetime], now: dt.datetime) -> None:
    """``recent``: the student's submissions of this assignment in the last hour, oldest first."""
    if len(recent) >= course.submissions_per_hour:
        until = recent[-course.submissions_per_hour] + dt.timedelta(hours=1)
        wait = max(1, int((until - now).total_seconds()) + 1)
        error = Refused(429, f"at most {course.submissions_per_hour} submissions per hour per assignment; the next "
                             f"is possible at {until.strftime('%Y-%m-%d %H:%M:%S UTC')} (in {wait} s)")
        error.retry_after = wait
        raise error
