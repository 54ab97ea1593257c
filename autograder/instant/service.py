"""``autograder serve``: the loop that answers every submission within seconds.

Every ``poll`` seconds it lists the submissions of each assignment whose policy turns instant feedback on,
queues each student's latest unanswered submission (``fair_queue``), takes a few (one per student), downloads
them from the exchange (``submissions/<student>/latest``), grades them in the scratch course
(``scratch_course``), renders what the policy shows and publishes it with the exchange's feedback route for
that submission's timestamp: the student's "Fetch Feedback" shows it. What was answered is on disk
(``state``); after a restart the same look at the exchange queues whatever was not answered.

Only a student's latest submission is graded: a newer one replaces the one still waiting.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from nbgrader.utils import parse_utc

from ..course import Course
from ..exchange import archive, protocol
from .fair_queue import FairQueue, Item
from .policy import Policy, policies
from .scratch_course import ScratchCourse, page
from .state import ServiceState, print_status

log = logging.getLogger("autograder.instant")
MAX_ATTEMPTS = 3


def seconds_since(timestamp: str) -> float | None:
    try:
        stamp = parse_utc(timestamp)
    except Exception:  # noqa: BLE001 (a timestamp we cannot read has no latency, nothing more)
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - stamp).total_seconds()


class InstantService:
    def __init__(self, course: Course, state_dir: Path, url: str, token: str, poll: float = 1.0,
                 workers: int = 1, batch: int = 2, bound: int = 1000, only: list[str] | None = None) -> None:
        from nbgrader.coursedir import CourseDirectory

        from ..exchange.client import ServiceExchange

        self.course = course
        config = course.config()
        self.course_id = config.CourseDirectory.get("course_id", "")
        self.policies: dict[str, Policy] = {a: p for a, p in policies(config).items()
                                            if p.active and (not only or a in only)}
        self.state = ServiceState(state_dir)
        self.queue = FairQueue(bound, served=self.state.served_last_hour)
        self.poll_seconds, self.batch = poll, batch
        self.in_flight = 0
        self.attempts: dict[str, int] = {}
        coursedir = CourseDirectory(course_id=self.course_id, root=str(course.root))
        self.exchange = ServiceExchange(coursedir=coursedir, authenticator=None, url=url, token=token)
        self.scratch = ScratchCourse(course, Path(state_dir) / "scratch", sorted(self.policies), workers=workers)

    def route(self, assignment: str, *parts: str) -> str:
        self.exchange.coursedir.assignment_id = assignment
        return self.exchange.course_route("assignments", assignment, *parts)

    # ---------------------------------------------------------------------------------------- look
    def look(self) -> None:
        """Queue each student's latest submission that is not answered yet."""
        for assignment in self.policies:
            subs = self.exchange.call("GET", self.route(assignment, "submissions"))
            latest: dict[str, dict] = {}
            for sub in subs:
                have = latest.get(sub["student_id"])
                if have is None or parse_utc(sub["timestamp"]) > parse_utc(have["timestamp"]):
                    latest[sub["student_id"]] = sub
            for student, sub in latest.items():
                if self.state.is_answered(student, assignment, sub["timestamp"]):
                    continue
                waiting = self.queue.get_slot((student, assignment))
                if waiting is not None and waiting.timestamp == sub["timestamp"]:
                    continue
                self.queue.put(Item(student, assignment, sub["timestamp"], bool(sub.get("late"))))

    # ---------------------------------------------------------------------------------------- answer
    def publish(self, item: Item, pages: dict[str, bytes]) -> None:
        with tempfile.TemporaryDirectory(prefix="instant-") as work:
            paths = []
            for name, data in pages.items():
                path = Path(work, name)
                path.write_bytes(data)
                paths.append((name, path))
            self.exchange.call("PUT", self.route(item.assignment, "feedback", item.student, item.timestamp),
                               archive.pack(paths))

    def answer(self, item: Item, outcome: str, pages: dict[str, bytes] | None, graded: bool) -> None:
        if pages:
            self.publish(item, pages)
        latency = seconds_since(item.timestamp) if pages else None
        self.state.record(item.student, item.assignment, item.timestamp, outcome, latency, graded)
        log.info("answered %s %s %s: %s%s", item.assignment, item.student, item.timestamp, outcome,
                 f" ({latency:.1f} s after submit)" if latency is not None else "")

    def limit_note(self, item: Item, policy: Policy) -> dict[str, bytes]:
        body = (f"<h1>{item.assignment}: not graded</h1><p>Instant feedback grades at most {policy.per_hour} "
                "submissions per student and hour, and you have reached that limit: this submission was "
                "<b>not graded</b> now. It is kept, and the submission of record is still graded by your "
                "instructor. Submit again later for instant feedback.</p>")
        notebooks = self.scratch.course.notebooks(item.assignment)
        return {f"{nb}.html": page(f"{item.assignment}: instant feedback limit", body) for nb in notebooks}

    def download(self, item: Item, work: Path) -> str:
        """The student's latest submission into ``work/files``; returns its timestamp."""
        data = self.exchange.call("GET", self.route(item.assignment, "submissions", item.student, "latest"),
                                  raw=True)
        archive.unpack(data, work / "files", archive.SUBMISSION)
        return (work / "files" / protocol.TIMESTAMP_FILE).read_text().strip()

    def process(self, items: list[Item]) -> None:
        by_assignment: dict[str, list[Item]] = {}
        for item in items:
            policy = self.policies[item.assignment]
            if item.late and policy.until_deadline:
                self.answer(item, "late: no instant feedback", None, graded=False)
            elif self.state.graded_last_hour(item.student, item.assignment) >= policy.per_hour:
                self.answer(item, "over the hourly limit: note sent, not graded", self.limit_note(item, policy),
                            graded=False)
            else:
                by_assignment.setdefault(item.assignment, []).append(item)
        for assignment, group in by_assignment.items():
            self.grade_group(assignment, group)

    def grade_group(self, assignment: str, group: list[Item]) -> None:
        policy = self.policies[assignment]
        work = Path(tempfile.mkdtemp(prefix="instant-"))
        ready: list[Item] = []
        try:
            for item in group:
                try:
                    folder = work / item.student
                    item.timestamp = self.download(item, folder)   # the latest, maybe newer than queued
                    self.scratch.place(item.student, assignment, folder / "files")
                    ready.append(item)
                except Exception as error:  # noqa: BLE001 (one submission never stops the service)
                    self.failed(item, f"download: {error}")
            if not ready:
                return
            try:
                report = self.scratch.grade(assignment, [i.student for i in ready])
            except Exception as error:  # noqa: BLE001
                for item in ready:
                    self.failed(item, f"grading: {type(error).__name__}: {error}")
                return
            broken = {who for who, reason in report.failures if "grader error" in reason}
            for item in ready:
                if item.student in broken:
                    self.failed(item, "grader error (see the service's log)")
                    continue
                try:
                    if policy.show == "score":
                        pages = self.scratch.feedback_score(assignment, item.student)
                    else:
                        pages = self.scratch.feedback_diagnosis(assignment, item.student)
                    self.answer(item, f"graded: {policy.show}", pages, graded=True)
                except Exception as error:  # noqa: BLE001
                    self.failed(item, f"feedback: {type(error).__name__}: {error}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def failed(self, item: Item, reason: str) -> None:
        """Recorded; retried on a later look, up to MAX_ATTEMPTS, then answered as failed (no feedback)."""
        log.warning("instant feedback for %s %s %s failed: %s", item.assignment, item.student, item.timestamp,
                    reason)
        self.state.fail(item.student, item.assignment, item.timestamp, reason)
        key = f"{item.assignment}/{item.student}/{item.timestamp}"
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] >= MAX_ATTEMPTS:
            self.state.record(item.student, item.assignment, item.timestamp, f"failed: {reason}", None, False)

    # ---------------------------------------------------------------------------------------- loop
    def step(self) -> int:
        """One look and one batch; returns how many submissions were taken."""
        try:
            self.look()
        except Exception as error:  # noqa: BLE001 (the exchange may be restarting: look again later)
            log.warning("cannot list submissions: %s", error)
        items = self.queue.take(self.batch)
        self.in_flight = len(items)
        self.write_status()
        try:
            if items:
                self.process(items)
        finally:
            self.in_flight = 0
        self.scratch.warm()
        self.write_status()
        return len(items)

    def write_status(self) -> None:
        self.state.write_status(len(self.queue), self.in_flight)

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        log.info("instant feedback for %s (state in %s)", ", ".join(sorted(self.policies)) or "no assignment",
                 self.state.folder)
        self.scratch.warm()
        try:
            while not stop.is_set():
                if not self.step():
                    stop.wait(self.poll_seconds)
        finally:
            self.scratch.close()
            self.write_status()


def serve(args) -> int:
    if args.status:
        return print_status(args)
    course = Course.find()
    state_dir = Path(args.state_dir) if args.state_dir else course.root / ".instant-feedback"
    url = args.exchange_url or os.environ.get(protocol.URL_ENV, "")
    token = os.environ.get(protocol.TOKEN_ENV, "")
    if not url or not token:
        print(f"autograder serve: set ${protocol.URL_ENV} (or --exchange-url) and ${protocol.TOKEN_ENV} "
              "(an instructor's hub token)")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    service = InstantService(course, state_dir, url, token, poll=args.poll, workers=args.workers,
                             batch=args.batch or 2 * args.workers, bound=args.queue_bound,
                             only=args.assignment or None)
    if not service.policies:
        print("autograder serve: no assignment has instant feedback on (c.InstantFeedback.assignments in "
              "nbgrader_config.py; see docs/instant_feedback.md)")
        return 2
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service.run(stop)
    except KeyboardInterrupt:
        pass
    return 0
