"""The assignment's due date, as the instructor set it in the course's gradebook (``nbgrader db assignment add
--duedate``, formgrader), read without ever writing the gradebook (SQLite opened read-only).

The exchange also marks a submission late by the courses file's deadline; a submission is late for instant
feedback when either says so. A due date changed in formgrader is seen within ``REFRESH`` seconds.
"""

from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path

from nbgrader.utils import parse_utc

log = logging.getLogger("autograder.instant")
REFRESH = 30.0


def read_only_url(db_url: str) -> str | None:
    """A read-only SQLAlchemy URL for a SQLite gradebook file; None for any other database."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    path = Path(db_url[len(prefix):])
    if not path.is_file():
        return None
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def as_utc(stamp) -> datetime.datetime:
    when = parse_utc(stamp) if isinstance(stamp, str) else stamp
    return when.replace(tzinfo=datetime.UTC) if when.tzinfo is None else when.astimezone(datetime.UTC)


class DueDates:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._cache: dict[str, tuple[float, datetime.datetime | None]] = {}

    def due(self, assignment: str) -> datetime.datetime | None:
        now = time.monotonic()
        cached = self._cache.get(assignment)
        if cached is None or now - cached[0] > REFRESH:
            cached = (now, self._read(assignment))
            self._cache[assignment] = cached
        return cached[1]

    def _read(self, assignment: str) -> datetime.datetime | None:
        url = read_only_url(self.db_url)
        if url is None:
            return None
        from nbgrader.api import Gradebook, MissingEntry

        try:
            with Gradebook(url) as gb:
                duedate = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
        except Exception as error:  # noqa: BLE001 (a locked or odd gradebook: the exchange's flag still holds)
            log.warning("cannot read the due date of %s from the gradebook: %s", assignment, error)
            return None
        return as_utc(duedate) if duedate is not None else None

    def late(self, assignment: str, timestamp: str) -> bool:
        due = self.due(assignment)
        try:
            return due is not None and as_utc(timestamp) > due
        except Exception:  # noqa: BLE001 (an unreadable timestamp: leave it to the exchange's flag)
            return False
