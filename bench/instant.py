"""Benchmark of instant feedback (``autograder serve``): figures printed, nothing asserted.

    python bench/instant.py [--students 30] [--over 60] [--workers CPUs]

The course's hub runs headless; N students (the load test's mix: right, typical mistakes, half done,
unchanged) each submit ps2_vjp once, spread evenly over ``--over`` seconds, while the service runs beside the
hub as the instructor. Measured per submission: from the submit call's start to its feedback being available
on the exchange (the instructor's listing shows it). Printed: p50/p95 of that, and throughput.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.classroom import load  # noqa: E402
from autograder.classroom.headless import HeadlessClassroom  # noqa: E402
from autograder.instant.service import InstantService  # noqa: E402
from autograder.instant.state import percentile  # noqa: E402

ASSIGNMENT = "ps2_vjp"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--over", type=float, default=60.0, help="seconds the submissions are spread over")
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    students = load.student_names(args.students)
    with tempfile.TemporaryDirectory(prefix="bench-instant-") as tmp_name:
        tmp = Path(tmp_name)
        course = load.make_course(ROOT, tmp / "course", ASSIGNMENT, students)
        with open(course.root / "nbgrader_config.py", "a") as config:
            config.write(f'\nc.InstantFeedback.assignments = {{"{ASSIGNMENT}": {{"enabled": True}}}}\n')
        texts = load.answers(course, ASSIGNMENT)
        with HeadlessClassroom(course.root, tmp / "state") as room:
            room.exchange("instructor", "ServiceReleaseAssignment", course.root, ASSIGNMENT)
            for student in students:   # fetched beforehand: only submissions are timed
                home = tmp / "homes" / student
                home.mkdir(parents=True)
                room.exchange(student, "ServiceFetchAssignment", home, ASSIGNMENT, assignment_dir=str(home))
                for name, plans in texts.items():
                    (home / ASSIGNMENT / f"{name}.ipynb").write_text(plans[load.plan_of(student, students)])
            service = InstantService(course, tmp / "serve", room.exchange_url, room.token("instructor"),
                                     poll=0.5, workers=args.workers)
            submitted: dict[tuple[str, str], float] = {}
            answered: dict[tuple[str, str], float] = {}
            original = service.publish

            def timed(item, pages):
                original(item, pages)
                answered[(item.student, item.timestamp)] = time.monotonic()

            service.publish = timed
            stop = threading.Event()
            runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
            runner.start()
            service.ready.wait(600)     # a service runs long before submissions come: its pool is warm
            began = time.monotonic()
            for i, student in enumerate(students):
                due = began + args.over * i / max(1, len(students))
                stop.wait(max(0.0, due - time.monotonic()))   # paced submits (benchmark load, not a test wait)
                home = tmp / "homes" / student
                submit = room.plugin(student, "ServiceSubmit", home, ASSIGNMENT, assignment_dir=str(home))
                started = time.monotonic()
                submit.start()
                submitted[(student, submit.timestamp)] = started
            deadline = time.monotonic() + args.timeout
            while len(answered) < len(submitted) and time.monotonic() < deadline and runner.is_alive():
                stop.wait(0.5)
            stop.set()
            runner.join(timeout=600)
            latencies = [answered[k] - submitted[k] for k in submitted if k in answered]
            span = (max(answered.values()) - began) if answered else float("nan")
            print(f"students: {len(students)}, submits spread over {args.over:.0f} s, workers {args.workers}")
            print(f"answered: {len(latencies)} / {len(submitted)}; failures: {len(service.state.failures)}")
            if latencies:
                print(f"submit -> feedback available: p50 {percentile(latencies, 0.5):.1f} s, "
                      f"p95 {percentile(latencies, 0.95):.1f} s, max {max(latencies):.1f} s")
                print(f"throughput: {len(latencies) / span * 60:.1f} submissions/min "
                      f"({len(latencies)} in {span:.0f} s from the first submit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
