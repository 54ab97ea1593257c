"""What the hub needs to know about the course: its id (from ``nbgrader_config.py``), its instructors
and where the hub keeps its state (from ``classroom.toml`` next to it; every key is optional)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from ..course import Course, CourseError

SETTINGS_FILE = "classroom.toml"
DEFAULT_INSTRUCTORS = ("instructor",)
# bcrypt's work factor (2**cost rounds): 12 is bcrypt's own default, ≈ 0.2 s a password on one core here; 4 is
# its minimum. Hashing happens once per password (a student's first start, a reset), never per login page.
DEFAULT_PASSWORD_COST = 12
PASSWORD_COSTS = range(4, 32)
STATE_DIR = ".hub"
# A name that is both a valid JupyterHub user name and a valid unix login (useradd's default rule).
USERNAME_PATTERN = r"[a-z_][a-z0-9_-]{0,31}"


def check_username(name: str) -> str:
    if not re.fullmatch(USERNAME_PATTERN, name) or name == "root":
        raise CourseError(f"{name!r} cannot be an account name: use lower-case letters, digits, '_' and '-', "
                          "starting with a letter, at most 32 characters (it becomes a unix login)")
    return name


@dataclass
class ClassroomSettings:
    course: Course
    course_id: str
    instructors: list[str]
    signup: bool = False            # NativeAuthenticator sign-up, each account approved by an instructor
    home_base: str = "/home"        # where students' unix homes are created (root only)
    submissions_per_hour: int | None = None   # the exchange's limit per student and assignment (None: its own)
    password_cost: int = DEFAULT_PASSWORD_COST   # bcrypt's work factor for the passwords the hub stores
    extra: dict = field(default_factory=dict)

    @property
    def instructor_group(self) -> str:
        from ..exchange.protocol import INSTRUCTOR_GROUP

        return INSTRUCTOR_GROUP.format(course=self.course_id)

    @property
    def student_group(self) -> str:
        from ..exchange.protocol import STUDENT_GROUP

        return STUDENT_GROUP.format(course=self.course_id)


def load(course: Course) -> ClassroomSettings:
    course_id = course.config().CourseDirectory.get("course_id", "")
    if not course_id or course_id == "default_course":
        raise CourseError(f"set c.CourseDirectory.course_id in {course.root / 'nbgrader_config.py'}: "
                          "the hub names its groups after it")
    path = course.root / SETTINGS_FILE
    table: dict = {}
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text()).get("classroom", {})
        except tomllib.TOMLDecodeError as exc:
            raise CourseError(f"{path}: {exc}") from None
    instructors = [check_username(str(n)) for n in table.get("instructors", DEFAULT_INSTRUCTORS)]
    if not instructors:
        raise CourseError(f"{path}: name at least one instructor")
    return ClassroomSettings(course=course, course_id=course_id, instructors=instructors,
                             signup=bool(table.get("signup", False)),
                             home_base=str(table.get("home_base", "/home")),
                             submissions_per_hour=_positive(table, "submissions_per_hour", path),
                             password_cost=_password_cost(table, path),
                             extra={k: v for k, v in table.items()
                                    if k not in {"instructors", "signup", "home_base", "submissions_per_hour",
                                                 "password_cost"}})


def _password_cost(table: dict, path) -> int:
    value = table.get("password_cost", DEFAULT_PASSWORD_COST)
    if not isinstance(value, int) or isinstance(value, bool) or value not in PASSWORD_COSTS:
        raise CourseError(f"{path}: password_cost is bcrypt's work factor, a whole number from "
                          f"{PASSWORD_COSTS.start} to {PASSWORD_COSTS.stop - 1} (default {DEFAULT_PASSWORD_COST}), "
                          f"not {value!r}")
    return value


def _positive(table: dict, key: str, path) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CourseError(f"{path}: {key} must be a whole number of at least 1, not {value!r}")
    return value
