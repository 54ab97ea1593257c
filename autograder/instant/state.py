"""What the service has answered, kept on disk (``<state dir>/answered.json``, replaced atomically after every
answer), and the status it shows (``<state dir>/status.json``, read by ``autograder serve --status``).

A submission is answered once its feedback (or a note) is published, or once the policy decided it gets none
(late, ``show: nothing``). On a restart, whatever the exchange lists and this file does not is queued again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

LATENCIES_KEPT = 1000
GRADED_KEPT = 1000        # graded times kept per student and assignment (within the last day)
HOUR, DAY = 3600.0, 86400.0
FAILURES_KEPT = 50


def key_of(student: str, assignment: str, timestamp: str) -> str:
    return f"{assignment}/{student}/{timestamp}"


def _write_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class ServiceState:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.folder / "answered.json"
        data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.answered: dict[str, dict] = data.get("answered", {})
        self.graded_at: dict[str, list[float]] = data.get("graded_at", {})   # "<assignment>/<student>" -> times
        self.latencies: list[float] = data.get("latencies", [])
        self.failures: list[dict] = data.get("failures", [])
        self.started = time.time()

    def is_answered(self, student: str, assignment: str, timestamp: str) -> bool:
        return key_of(student, assignment, timestamp) in self.answered

    def next_allowed(self, student: str, assignment: str, per_hour: int, per_day: int | None,
                     now: float | None = None) -> float | None:
        """None when a graded submission is allowed now; otherwise the time (epoch seconds) it is again."""
        now = time.time() if now is None else now
        times = sorted(self.graded_at.get(f"{assignment}/{student}", []))
        waits = []
        for limit, window in ((per_hour, HOUR), (per_day, DAY)):
            recent = [t for t in times if now - t < window]
            if limit is not None and len(recent) >= limit:
                waits.append(recent[len(recent) - limit] + window)   # when the oldest counted one drops out
        return max(waits) if waits else None

    def served_last_hour(self, student: str) -> int:
        now = time.time()
        return sum(1 for k, times in self.graded_at.items() if k.endswith(f"/{student}")
                   for t in times if now - t < 3600)

    def record(self, student: str, assignment: str, timestamp: str, outcome: str, latency: float | None,
               graded: bool) -> None:
        self.answered[key_of(student, assignment, timestamp)] = {"outcome": outcome, "at": time.time(),
                                                                 "latency": latency}
        if graded:
            times = self.graded_at.setdefault(f"{assignment}/{student}", [])
            now = time.time()
            times.append(now)
            times[:] = [t for t in times if now - t < DAY][-GRADED_KEPT:]
        if latency is not None:
            self.latencies.append(latency)
            del self.latencies[:-LATENCIES_KEPT]
        self.save()

    def fail(self, student: str, assignment: str, timestamp: str, reason: str) -> None:
        self.failures.append({"submission": key_of(student, assignment, timestamp), "reason": reason[:500],
                              "at": time.time()})
        del self.failures[:-FAILURES_KEPT]
        self.save()

    def save(self) -> None:
        _write_atomically(self.path, {"answered": self.answered, "graded_at": self.graded_at,
                                      "latencies": self.latencies, "failures": self.failures})

    def write_status(self, queued: int, in_flight: int, failures_total: int | None = None) -> None:
        _write_atomically(self.folder / "status.json", {
            "pid": os.getpid(), "updated": time.time(), "queued": queued, "in_flight": in_flight,
            "answered": len(self.answered), "p50_seconds": percentile(self.latencies, 0.5),
            "p95_seconds": percentile(self.latencies, 0.95), "failures": len(self.failures),
            "recent_failures": self.failures[-5:],
        })


def read_status(folder: Path) -> dict | None:
    path = Path(folder) / "status.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def format_status(status: dict | None) -> str:
    if status is None:
        return "no status yet: is `autograder serve` running with this --state-dir?"
    age = time.time() - status["updated"]

    def secs(v):
        return "-" if v is None else f"{v:.1f} s"

    lines = [f"queue: {status['queued']}   in flight: {status['in_flight']}   answered: {status['answered']}",
             f"submit -> feedback: p50 {secs(status['p50_seconds'])}, p95 {secs(status['p95_seconds'])}",
             f"failures: {status['failures']}",
             f"(service pid {status['pid']}, status written {age:.0f} s ago)"]
    lines += [f"  {f['submission']}: {f['reason']}" for f in status.get("recent_failures", [])]
    return "\n".join(lines)


def print_status(args) -> int:
    """``autograder serve --status``: the status in ``--state-dir``, or in the course's ``.instant-feedback``.

    Here, not in ``service``, so that a status look imports neither nbgrader nor the service (it reads one file)."""
    if args.state_dir:   # no course needed to read a status
        folder = Path(args.state_dir)
    else:
        from ..course import Course

        folder = Course.find().root / ".instant-feedback"
    print(format_status(read_status(folder)))
    return 0
