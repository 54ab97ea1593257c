"""``autograder serve``: the loop that answers every submission within seconds.

Every ``poll`` seconds it lists the submissions of each assignment whose policy turns instant feedback on and
queues each student's latest unanswered submission (``fair_queue``). Whenever the warm grading pool
(``warm_pool``) has a free worker it takes the fairest waiting submission, downloads it from the exchange
(``submissions/<student>/latest``), places it in the scratch course (``scratch_course``) and hands it to the
pool; when the pool gives it back graded, it renders what the policy shows and publishes it with the exchange's
feedback route for that submission's timestamp: the student's "Fetch Feedback" shows it. While a submission
waits or is graded, its feedback page says so ("queued", "grading"), so the student sees where it is.
What was answered is on disk (``state``); after a restart the same look at the exchange queues whatever was
not answered.

Only a student's latest submission is graded: a newer one replaces the one still waiting.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from nbgrader.utils import parse_utc

from ..course import Course
from ..exchange import archive, protocol
from .deadlines import DueDates
from .fair_queue import FairQueue, Item
from .policy import Policy, policies
from .scratch_course import ScratchCourse
from .state import ServiceState, print_status

log = logging.getLogger("autograder.instant")
MAX_ATTEMPTS = 3
STATUS_EVERY = 1.0       # seconds between two writes of status.json


def seconds_since(timestamp: str) -> float | None:
    try:
        stamp = parse_utc(timestamp)
    except Exception:  # noqa: BLE001 (a timestamp we cannot read has no latency, nothing more)
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - stamp).total_seconds()


def clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


class InstantService:
    def __init__(self, course: Course, state_dir: Path, url: str, token: str, poll: float = 0.5,
                 workers: int = 1, bound: int = 1000, only: list[str] | None = None) -> None:
        from nbgrader.coursedir import CourseDirectory

        from ..exchange.client import ServiceExchange

        self.course = course
        config = course.config()
        self.course_id = config.CourseDirectory.get("course_id", "")
        self.policies: dict[str, Policy] = {a: p for a, p in policies(config).items()
                                            if p.active and (not only or a in only)}
        self.state = ServiceState(state_dir)
        self.queue = FairQueue(bound, served=self.state.served_last_hour)
        self.poll_seconds, self.workers = poll, max(1, workers)
        self.in_flight: dict[tuple[str, str], Item] = {}
        self.attempts: dict[str, int] = {}
        self.due_dates = DueDates(course.db_url)
        coursedir = CourseDirectory(course_id=self.course_id, root=str(course.root))
        self.exchange = ServiceExchange(coursedir=coursedir, authenticator=None, url=url, token=token)
        self.scratch = ScratchCourse(course, Path(state_dir) / "scratch", sorted(self.policies), workers=workers)
        self.pool = None
        self.ready = threading.Event()       # set once the warm pool is up (the first submission waits no start-up)
        self._status_written = 0.0

    def route(self, assignment: str, *parts: str) -> str:
        self.exchange.coursedir.assignment_id = assignment
        return self.exchange.course_route("assignments", assignment, *parts)

    # ---------------------------------------------------------------------------------------- look
    def look(self) -> None:
        """Queue each student's latest submission that is not answered, waiting or being graded; mark their
        older unanswered ones as replaced (only the newest is graded)."""
        for assignment in self.policies:
            subs = self.exchange.call("GET", self.route(assignment, "submissions"))
            by_student: dict[str, list[dict]] = {}
            for sub in subs:
                by_student.setdefault(sub["student_id"], []).append(sub)
            for student, theirs in by_student.items():
                newest = max(theirs, key=lambda sub: parse_utc(sub["timestamp"]))
                for sub in theirs:
                    if sub is not newest:
                        self.supersede(Item(student, assignment, sub["timestamp"], bool(sub.get("late"))),
                                       newest["timestamp"])
                self.consider(student, assignment, newest)

    def consider(self, student: str, assignment: str, sub: dict) -> None:
        stamp = sub["timestamp"]
        if self.state.is_answered(student, assignment, stamp):
            return
        slot = (student, assignment)
        for busy in (self.queue.get_slot(slot), self.in_flight.get(slot)):
            if busy is not None and busy.timestamp == stamp:
                return
        late = bool(sub.get("late")) or self.due_dates.late(assignment, stamp)
        self.queue.put(Item(student, assignment, stamp, late))   # replaces an older one waiting (marked above)

    def supersede(self, item: Item, newer: str) -> None:
        """An older submission that will not be graded: its page says a newer one replaced it (once)."""
        if self.state.is_answered(item.student, item.assignment, item.timestamp):
            return
        flying = self.in_flight.get(item.slot)
        if flying is not None and flying.timestamp == item.timestamp:
            return          # being graded: it gets its answer
        self.show_progress(item, "superseded", newer=newer)
        self.state.record(item.student, item.assignment, item.timestamp, f"superseded by {newer}", None,
                          graded=False)

    # ---------------------------------------------------------------------------------------- answer
    def put_pages(self, item: Item, pages: dict[str, bytes]) -> None:
        self.exchange.call("PUT", self.route(item.assignment, "feedback", item.student, item.timestamp),
                           archive.pack_data(pages))

    def publish(self, item: Item, pages: dict[str, bytes]) -> None:
        """The answer for ``item``: its feedback, or a note that it was not graded."""
        self.put_pages(item, pages)

    def show_progress(self, item: Item, stage: str, newer: str = "") -> None:
        """A feedback page saying the submission is queued or being graded (replaced by the answer), or that
        a newer submission replaced it."""
        if item.late and self.policies[item.assignment].until_deadline:
            return
        if stage == "superseded":
            text = (f"Your submission of {item.timestamp} was <b>not graded</b>: your newer submission of {newer} "
                    "replaced it before its turn came. Only the newest submission gets instant feedback.")
        elif stage == "queued":
            place = self.queue.position(item.slot)
            where = f"It is number {place} in the queue. " if place else ""
            text = (f"Your submission of {item.timestamp} is <b>queued</b> for instant feedback. {where}"
                    "Fetch the feedback again in a few seconds.")
        else:
            text = (f"Your submission of {item.timestamp} is <b>being graded</b> now. "
                    "Fetch the feedback again in a few seconds.")
        body = f"<h1>{item.assignment}: {stage}</h1><p>{text}</p>"
        try:
            self.put_pages(item, self.scratch.same_page(item.assignment, f"{item.assignment}: {stage}", body))
        except Exception as error:  # noqa: BLE001 (a progress page is a courtesy: never stops grading)
            log.warning("cannot show %s %s as %s: %s", item.assignment, item.student, stage, error)

    def answer(self, item: Item, outcome: str, pages: dict[str, bytes] | None, graded: bool) -> None:
        if pages:
            self.publish(item, pages)
        latency = seconds_since(item.timestamp) if pages else None
        self.state.record(item.student, item.assignment, item.timestamp, outcome, latency, graded)
        log.info("answered %s %s %s: %s%s", item.assignment, item.student, item.timestamp, outcome,
                 f" ({latency:.1f} s after submit)" if latency is not None else "")

    def limit_note(self, item: Item, policy: Policy, again: float) -> dict[str, bytes]:
        limits = f"{policy.per_hour} per hour" + (f" and {policy.per_day} per day" if policy.per_day else "")
        body = (f"<h1>{item.assignment}: not graded</h1><p>Instant feedback grades at most {limits} for each "
                "student, and you have reached that limit: this submission was <b>not graded</b> now. "
                f"The next submission can be graded from <b>{clock(again)}</b>. This submission is kept, and the "
                "submission of record is still graded by your instructor.</p>")
        return self.scratch.same_page(item.assignment, f"{item.assignment}: instant feedback limit", body)

    def download(self, item: Item, work: Path) -> str:
        """The student's latest submission into ``work/files``; returns its timestamp."""
        data = self.exchange.call("GET", self.route(item.assignment, "submissions", item.student, "latest"),
                                  raw=True)
        archive.unpack(data, work / "files", archive.SUBMISSION)
        return (work / "files" / protocol.TIMESTAMP_FILE).read_text().strip()

    # ---------------------------------------------------------------------------------------- grading
    def dispatch(self) -> None:
        """Hand waiting submissions to the pool while it has a free worker."""
        while self.pool.busy < self.workers and len(self.queue):
            busy = {student for student, _ in self.in_flight}
            items = self.queue.take(1, busy=busy)
            if not items:
                return
            item = items[0]
            policy = self.policies[item.assignment]
            again = self.state.next_allowed(item.student, item.assignment, policy.per_hour, policy.per_day)
            if item.late and policy.until_deadline:
                self.answer(item, "late: no instant feedback", None, graded=False)
            elif again is not None:
                self.answer(item, f"over the limit until {clock(again)}: note sent, not graded",
                            self.limit_note(item, policy, again), graded=False)
            else:
                self.start(item)

    def start(self, item: Item) -> None:
        work = Path(tempfile.mkdtemp(prefix="instant-"))
        try:
            queued = Item(item.student, item.assignment, item.timestamp, item.late)
            item.timestamp = self.download(item, work)   # the latest: maybe newer than the one queued
            if item.timestamp != queued.timestamp:
                self.supersede(queued, item.timestamp)
            if self.state.is_answered(item.student, item.assignment, item.timestamp):
                return
            self.scratch.place(item.student, item.assignment, work / "files")
            self.in_flight[item.slot] = item
            self.show_progress(item, "grading")
            self.pool.start(item.student, item.assignment)
        except Exception as error:  # noqa: BLE001 (one submission never stops the service)
            self.in_flight.pop(item.slot, None)
            self.failed(item, f"{type(error).__name__}: {error}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def deliver(self, graded) -> None:
        item = self.in_flight.pop((graded.student, graded.assignment))
        if graded.grader_error:
            self.failed(item, "grader error (see the service's log): " + "; ".join(graded.problems)[:300])
            return
        policy = self.policies[item.assignment]
        try:
            began = time.perf_counter()
            if policy.show == "score":
                pages = self.scratch.feedback_score(item.assignment, item.student)
            else:
                pages = self.scratch.feedback_diagnosis(item.assignment, item.student, graded.problems)
            rendered = time.perf_counter() - began
            self.answer(item, f"graded: {policy.show} (graded in {graded.seconds:.2f} s, feedback rendered in "
                              f"{rendered:.2f} s)", pages, graded=True)
        except Exception as error:  # noqa: BLE001
            self.failed(item, f"feedback: {type(error).__name__}: {error}")

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
    def start_pool(self) -> None:
        self.pool = self.scratch.pool()
        self.ready.set()

    def show_waiting(self) -> None:
        """A "queued" page for each submission still waiting once the free workers took theirs (shown once)."""
        for item in self.queue.items():
            if not item.announced:
                item.announced = True
                self.show_progress(item, "queued")

    def renew_pool(self) -> None:
        """A worker or the zygote died: a new pool; what was in flight is looked at again (re-queued)."""
        log.warning("the grading pool lost a process; starting a new one (%d in flight re-queued)",
                    len(self.in_flight))
        self.pool.close()
        self.in_flight.clear()
        self.start_pool()

    def collect(self, wait: float) -> None:
        """Deliver what the pool finished within ``wait`` seconds; a pool that lost a process is renewed."""
        for graded in self.pool.finished(wait):
            self.deliver(graded)
        if self.pool.busy and not self.pool.healthy():
            self.renew_pool()

    def write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._status_written >= STATUS_EVERY:
            self.state.write_status(len(self.queue), len(self.in_flight))
            self._status_written = now

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        log.info("instant feedback for %s (state in %s)", ", ".join(sorted(self.policies)) or "no assignment",
                 self.state.folder)
        self.start_pool()
        next_look = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_look:
                    try:
                        self.look()
                    except Exception as error:  # noqa: BLE001 (the exchange may be restarting: look again later)
                        log.warning("cannot list submissions: %s", error)
                    next_look = time.monotonic() + self.poll_seconds
                self.dispatch()
                self.show_waiting()
                until_look = max(0.0, next_look - time.monotonic())
                if self.pool.busy:
                    self.collect(min(0.2, until_look))
                else:
                    stop.wait(until_look)
                self.write_status()
        finally:
            self.pool.close()
            self.in_flight.clear()     # not answered: a restart queues them again
            self.write_status(force=True)


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
                             bound=args.queue_bound, only=args.assignment or None)
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
