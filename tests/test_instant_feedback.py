"""Instant feedback (``autograder serve``): the fair queue, the limits and the due date on their own, then the
service against the course's own hub (headless): a typical mistake is named in the feedback the student fetches
within a deadline, the "score" policy shows no diagnosis, the instructor's gradebook is untouched, a resubmission
replaces the waiting one, a restart mid-queue answers each waiting submission exactly once, a submission over
the limit gets a note saying when the next one is graded, and after the gradebook's due date nothing is graded.

The hub starting the service itself, a flood of 30 students and a killed service: ``test_instant_hub.py``."""

from __future__ import annotations

import hashlib
import html
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from autograder.instant.fair_queue import FairQueue, Item
from autograder.instant.policy import Policy, PolicyError, policy_of

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps2_vjp"
FEEDBACK_DEADLINE = 240.0     # seconds from submit to feedback fetched, on a busy 2-core machine


# ------------------------------------------------------------------------------------------ pure Python
def test_fair_queue_burst_does_not_delay_others_first_submission():
    served = Counter()
    queue = FairQueue(bound=10, served=lambda s: served[s])
    queue.put(Item("eve", "a", "t1"))
    for t in ("t2", "t3", "t4"):                      # eve's burst: one slot, the newest wins, place kept
        assert queue.put(Item("eve", "a", t))
    queue.put(Item("ann", "a", "t5"))
    queue.put(Item("bob", "a", "t6"))
    assert len(queue) == 3
    first = queue.take()
    assert [(i.student, i.timestamp) for i in first] == [("eve", "t4")]
    served["eve"] += 1
    queue.put(Item("eve", "a", "t7"))                 # eve again: behind those not served yet
    assert [i.student for i in queue.take(3)] == ["ann", "bob", "eve"]


def test_fair_queue_bound_and_one_per_student_per_take():
    queue = FairQueue(bound=2)
    assert queue.put(Item("a", "x", "1")) and queue.put(Item("a", "y", "2"))
    assert not queue.put(Item("b", "x", "3"))         # full: refused, found again on the next look
    assert queue.put(Item("a", "x", "4"))             # replacing a waiting one always fits
    assert [i.assignment for i in queue.take(2)] == ["x"]   # one per student per round
    assert [i.timestamp for i in queue.take(2)] == ["2"]


def test_fair_queue_skips_a_student_being_graded_and_tells_positions():
    queue = FairQueue(bound=10)
    for student, stamp in (("ann", "1"), ("bob", "2"), ("cid", "3")):
        queue.put(Item(student, "a", stamp))
    assert [queue.position((s, "a")) for s in ("ann", "bob", "cid", "dan")] == [1, 2, 3, 0]
    assert [i.student for i in queue.take(2, busy={"ann"})] == ["bob", "cid"]   # ann's earlier one is grading
    assert [i.student for i in queue.take(2)] == ["ann"]


def test_policy_defaults_off_and_checks_values():
    assert not Policy().active and Policy(enabled=True).active
    assert not policy_of({"enabled": True, "show": "nothing"}).active
    assert policy_of({"enabled": True, "per_day": 3}).per_day == 3
    for bad in ({"enabled": True, "show": "everything"}, {"enable": True}, {"enabled": True, "per_hour": 0},
                {"enabled": True, "per_day": 0}):
        with pytest.raises(PolicyError):
            policy_of(bad)


def test_limits_say_when_the_next_graded_submission_is_possible(tmp_path):
    from autograder.instant.state import DAY, HOUR, ServiceState

    state = ServiceState(tmp_path)
    now = 1_000_000.0
    assert state.next_allowed("ann", "a", per_hour=2, per_day=None, now=now) is None
    state.graded_at["a/ann"] = [now - 3000, now - 100]
    assert state.next_allowed("ann", "a", per_hour=3, per_day=None, now=now) is None
    assert state.next_allowed("ann", "a", per_hour=2, per_day=None, now=now) == now - 3000 + HOUR
    assert state.next_allowed("ann", "a", per_hour=1, per_day=None, now=now) == now - 100 + HOUR
    assert state.next_allowed("bob", "a", per_hour=1, per_day=None, now=now) is None       # per student
    assert state.next_allowed("ann", "b", per_hour=1, per_day=None, now=now) is None       # and assignment
    state.graded_at["a/ann"] = [now - 80000, now - 7200, now - 5000]                        # none this hour
    assert state.next_allowed("ann", "a", per_hour=2, per_day=None, now=now) is None
    assert state.next_allowed("ann", "a", per_hour=2, per_day=3, now=now) == now - 80000 + DAY
    assert state.next_allowed("ann", "a", per_hour=2, per_day=4, now=now) is None


def test_due_date_read_from_the_gradebook_without_writing_it(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.instant.deadlines import DueDates

    path = tmp_path / "gradebook.db"
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment("ps2_vjp", duedate="2026-03-01 12:00:00 UTC")
        gb.update_or_create_assignment("ps1_backward")
    before = _digest(path)
    dates = DueDates(url)
    assert dates.late("ps2_vjp", "2026-03-01 12:00:00.000001 UTC")
    assert not dates.late("ps2_vjp", "2026-03-01 11:59:59.999999 UTC")
    assert not dates.late("ps1_backward", "2030-01-01 00:00:00 UTC")      # no due date: never late
    assert not dates.late("unknown", "2030-01-01 00:00:00 UTC")
    assert not DueDates(f"sqlite:///{tmp_path / 'missing.db'}").late("ps2_vjp", "2030-01-01 00:00:00 UTC")
    assert _digest(path) == before and not (tmp_path / "missing.db").exists()


# ------------------------------------------------------------------------------------------ with a hub
@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    from autograder.classroom import load
    from autograder.classroom.headless import HeadlessClassroom
    from autograder.classroom.launcher import proxy_command
    from autograder.course import CourseError

    try:
        proxy_command()
    except CourseError as error:
        pytest.skip(str(error))
    tmp = tmp_path_factory.mktemp("instant")
    students = load.student_names(8)
    course = load.make_course(REPO, tmp / "course", ASSIGNMENT, students)
    with open(course.root / "nbgrader_config.py", "a") as config:
        config.write(f'\nc.InstantFeedback.assignments = {{"{ASSIGNMENT}": {{"enabled": True}}}}\n')
    room = HeadlessClassroom(course.root, tmp / "state")
    with room:
        room.exchange("instructor", "ServiceReleaseAssignment", course.root, ASSIGNMENT)
        texts = load.answers(course, ASSIGNMENT)
        yield room, course, tmp, texts


def _submit(room, tmp: Path, student: str, text: str) -> str:
    home = tmp / "homes" / student
    if not (home / ASSIGNMENT).is_dir():
        home.mkdir(parents=True, exist_ok=True)
        room.exchange(student, "ServiceFetchAssignment", home, ASSIGNMENT, assignment_dir=str(home))
    (home / ASSIGNMENT / "vjp.ipynb").write_text(text)
    submit = room.plugin(student, "ServiceSubmit", home, ASSIGNMENT, assignment_dir=str(home))
    submit.start()
    return submit.timestamp


def _fetch_feedback(room, tmp: Path, student: str) -> dict[str, str]:
    home = tmp / "homes" / student
    room.exchange(student, "ServiceFetchFeedback", home, ASSIGNMENT, assignment_dir=str(home))
    folder = home / ASSIGNMENT / "feedback"
    return {p.parent.name: p.read_text() for p in folder.glob("*/vjp.html")} if folder.is_dir() else {}


def _service(room, course, state: Path, stop_after: int = 0, **kw):
    from autograder.instant.service import InstantService

    service = InstantService(course, state, room.exchange_url, room.token("instructor"), poll=0.5, **kw)
    published: Counter = Counter()
    original = service.publish
    service.stop = threading.Event()

    def counting(item, pages):
        original(item, pages)
        published[(item.student, item.timestamp)] += 1
        if stop_after and sum(published.values()) >= stop_after:
            service.stop.set()      # as SIGTERM does: the loop stops, what is in flight is left unanswered

    service.publish = counting
    return service, published


def _run_until(service, done, deadline: float) -> None:
    stop = service.stop
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while not done():
            assert thread.is_alive() or stop.is_set(), "the service stopped"
            assert time.monotonic() < deadline, "no answer within the deadline"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=600)
    assert not thread.is_alive()


def _diagnoses() -> list[str]:
    """The start of each ps2_vjp mistake's diagnosis, as the feedback page shows it (before any markup)."""
    from autograder.demo.mistakes import MISTAKES
    from autograder.judge import misconceptions
    from autograder.judge.rubrics import load_all

    load_all()
    texts = [misconceptions.message(key) for fn, (key, _) in MISTAKES.items()
             if fn in ("vjp", "weighted_upstream", "weighted_sensitivity", "linear_vjp")]
    return [re.split(r"[`*]", t)[0].strip() for t in texts]


def _text(page: str) -> str:
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_diagnosis_reaches_the_student_and_a_resubmission_replaces_the_waiting_one(classroom):
    room, course, tmp, texts = classroom
    gradebook = _digest(course.root / "gradebook.db")
    start = time.monotonic()
    mine = _submit(room, tmp, "s001", texts["vjp"]["mistakes"])
    first = _submit(room, tmp, "s002", texts["vjp"]["unchanged"])
    second = _submit(room, tmp, "s002", texts["vjp"]["mistakes"])    # while the first one waits
    service, published = _service(room, course, tmp / "serve-a", workers=1)
    _run_until(service, lambda: published[("s001", mine)] and published[("s002", second)],
               start + FEEDBACK_DEADLINE)
    pages = _fetch_feedback(room, tmp, "s001")
    latency = time.monotonic() - start
    assert list(pages) == [mine]
    text = _text(pages[mine])
    named = [t for t in _diagnoses() if t in text]
    assert named, "the feedback names no misconception"
    theirs = _fetch_feedback(room, tmp, "s002")
    assert sorted(theirs) == sorted([first, second])
    assert "replaced it before its turn" in _text(theirs[first])          # the replaced one says so ...
    assert [t for t in _diagnoses() if t in _text(theirs[second])]       # ... and only the newest is graded
    assert ("s002", first) not in published
    assert service.state.answered[f"{ASSIGNMENT}/s002/{first}"]["outcome"].startswith("superseded")
    assert _digest(course.root / "gradebook.db") == gradebook
    assert not course.submitted.exists() and not course.autograded.exists()
    print(f"submit -> feedback fetched: {latency:.1f} s; named: {named}")


@pytest.mark.slow
def test_score_policy_shows_the_score_and_no_diagnosis(classroom):
    room, course, tmp, texts = classroom
    start = time.monotonic()
    stamp = _submit(room, tmp, "s003", texts["vjp"]["mistakes"])
    service, published = _service(room, course, tmp / "serve-b")
    service.policies[ASSIGNMENT] = Policy(enabled=True, show="score")
    _run_until(service, lambda: published[("s003", stamp)], start + FEEDBACK_DEADLINE)
    text = _text(_fetch_feedback(room, tmp, "s003")[stamp])
    assert "Score of this notebook" in text
    assert not [t for t in _diagnoses() if t in text]
    assert "Diagnosis" not in text and "instead of" not in text and "hidden tests" not in text


@pytest.mark.slow
def test_restart_mid_queue_answers_each_waiting_submission_once(classroom):
    room, course, tmp, texts = classroom
    state = tmp / "serve-c"
    service, published = _service(room, course, state, stop_after=1)
    service.look()     # the other tests' submissions: answered before this service's time
    for item in service.queue.take(100):
        service.state.record(item.student, item.assignment, item.timestamp, "earlier", None, False)
    start = time.monotonic()
    stamps = {s: _submit(room, tmp, s, texts["vjp"]["correct"]) for s in ("s004", "s005", "s006")}
    _run_until(service, lambda: sum(published.values()) >= 1, start + FEEDBACK_DEADLINE)  # then stopped
    assert len(service.queue) == 2
    assert sum(published.values()) == 1
    again, published_again = _service(room, course, state, workers=2)                    # the restart
    _run_until(again, lambda: sum(published_again.values()) >= 2, start + 2 * FEEDBACK_DEADLINE)
    both = published + published_again
    assert sorted(both) == sorted(stamps.items())
    assert set(both.values()) == {1}
    for student, stamp in stamps.items():
        assert list(_fetch_feedback(room, tmp, student)) == [stamp]


@pytest.mark.slow
def test_over_the_limit_a_note_says_when_the_next_one_is_graded(classroom):
    room, course, tmp, texts = classroom
    start = time.monotonic()
    first = _submit(room, tmp, "s007", texts["vjp"]["mistakes"])
    service, published = _service(room, course, tmp / "serve-d")
    service.policies[ASSIGNMENT] = Policy(enabled=True, per_hour=1)
    _run_until(service, lambda: published[("s007", first)], start + FEEDBACK_DEADLINE)
    second = _submit(room, tmp, "s007", texts["vjp"]["correct"])
    service.stop = threading.Event()
    _run_until(service, lambda: published[("s007", second)], start + 2 * FEEDBACK_DEADLINE)
    pages = _fetch_feedback(room, tmp, "s007")
    assert [t for t in _diagnoses() if t in _text(pages[first])]
    note = _text(pages[second])
    assert "not graded" in note and "next submission can be graded from" in note
    assert "1 per hour" in note and not [t for t in _diagnoses() if t in note]
    assert service.state.answered[f"{ASSIGNMENT}/s007/{second}"]["outcome"].startswith("over the limit")


@pytest.mark.slow
def test_after_the_gradebooks_due_date_nothing_is_graded_instantly(classroom):
    from nbgrader.api import Gradebook

    room, course, tmp, texts = classroom
    with Gradebook(course.db_url) as gb:      # the instructor sets a due date (formgrader, `nbgrader db`)
        gb.update_or_create_assignment(ASSIGNMENT, duedate="2020-01-01 00:00:00 UTC")
    try:
        start = time.monotonic()
        stamp = _submit(room, tmp, "s008", texts["vjp"]["mistakes"])
        service, published = _service(room, course, tmp / "serve-e")
        _run_until(service, lambda: service.state.is_answered("s008", ASSIGNMENT, stamp), start + FEEDBACK_DEADLINE)
        assert not published
        assert service.state.answered[f"{ASSIGNMENT}/s008/{stamp}"]["outcome"].startswith("late")
        assert _fetch_feedback(room, tmp, "s008") == {}                # not even a "queued" page
    finally:
        with Gradebook(course.db_url) as gb:
            gb.update_or_create_assignment(ASSIGNMENT, duedate=None)
