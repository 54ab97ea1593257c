"""A grading pool that stays warm for the service's whole life: one kernel zygote and a few grading workers,
forked once from this warmed process, taking one submission at a time as it arrives.

It grades the way ``autograder autograde`` does (the same check and repair of the submission, the same
``autograded/`` folder, the same workers, sandbox and judge, the same gradebook writer), in the scratch course,
but without a run's start-up: no zygote to import torch again, no workers to fork, no lock to take. A
submission's grades are in the scratch gradebook when ``finished`` returns it.

If a worker or the zygote dies the pool says so (``healthy``); the service then starts a new pool and grades
again whatever was in flight.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

from ..batch import runner
from ..batch.gradebook_writer import Submission, ensure_students
from ..batch.zygote import Zygote
from ..course import Course
from ..sandbox.plan import RunScratch


@dataclass
class Graded:
    """One finished submission: its gradebook entry is written; ``problems`` say what went wrong, if anything."""

    student: str
    assignment: str
    problems: list[str]
    grader_error: bool
    seconds: float


class WarmPool:
    def __init__(self, course: Course, workers: int) -> None:
        self.course = course
        self.config = course.config()
        runner.check_confinement(self.config)
        self.zygote = Zygote(course.root)
        runner.warm_up()
        self.zygote.wait_ready()
        self.scratch = RunScratch()   # its kernels' scratch folders, removed when the pool closes
        self.jobs, self.results, self.processes = runner.start_workers(self.zygote, max(1, workers), self.config,
                                                                       course.root)
        self._checked: set[str] = set()
        # (student, assignment) -> (submission, notebooks still out, its report, start time)
        self._out: dict[tuple[str, str], tuple[Submission, set[str], runner.RunReport, float]] = {}

    def start(self, student: str, assignment: str) -> None:
        """Check, repair and prepare ``submitted/<student>/<assignment>`` and hand its notebooks to the workers."""
        if assignment not in self._checked:
            runner.check_assignment(self.course.db_url, assignment)
            self._checked.add(assignment)
        report = runner.RunReport(assignment)
        pending = runner.plan_submissions(self.course, self.config, assignment, [student],
                                          self.course.notebooks(assignment), self.course.db_url, report)
        ensure_students(self.course.db_url, pending.values())
        sub = pending[student]
        self._out[(student, assignment)] = (sub, set(sub.notebooks_to_grade), report, time.perf_counter())
        for job in sub.jobs:
            self.jobs.put(job)

    @property
    def busy(self) -> int:
        return len(self._out)

    def finished(self, timeout: float) -> list[Graded]:
        """Submissions whose every notebook came back within ``timeout`` seconds (written to the gradebook)."""
        deadline = time.monotonic() + timeout
        done: list[Graded] = [self._write(key) for key, (_, left, _, _) in list(self._out.items()) if not left]
        while not done and self._out:
            try:
                result = self.results.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            key = (result.job.student, result.job.assignment)
            if key not in self._out:   # from a pool generation that was abandoned: nobody waits for it
                continue
            sub, left, report, _ = self._out[key]
            runner.take_result(sub, left, result, report)
            if not left:
                done.append(self._write(key))
        return done

    def _write(self, key: tuple[str, str]) -> Graded:
        sub, _, report, started = self._out.pop(key)
        runner.write_finished(self.course, self.config, [sub], report, self.course.db_url)
        errors = any("grader error" in reason for _, reason in report.failures)
        return Graded(sub.student, sub.assignment, [r for _, r in report.failures], errors,
                      time.perf_counter() - started)

    def in_flight(self) -> list[tuple[str, str]]:
        return list(self._out)

    def healthy(self) -> bool:
        return self.zygote.process.poll() is None and all(p.is_alive() for p in self.processes)

    def close(self) -> None:
        runner.stop_workers(self.jobs, self.processes, seconds=2.0)
        self.zygote.close()
        self.scratch.close()
        self._out.clear()
