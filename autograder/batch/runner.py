"""``autograder autograde``: the coordinator.

1. warm up, start the kernel zygote and fork the worker processes (before any gradebook connection);
2. decide what to grade: every submission of the assignment, minus those already graded since they
   were last submitted (unless ``--force``); check and repair broken submissions;
3. prepare each ``autograded/`` folder as nbgrader does and hand its notebooks to the workers;
4. write finished submissions in batches: notebooks, then gradebook rows in one transaction, then a
   marker — so an interrupted run keeps every finished grade and the next one grades only the rest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseError
from ..nbgrader_plugins.submission_check import (
    QUARANTINE,
    CheckFailed,
    check_submission,
    failed_check_reason,
    lock_down,
    max_notebook_bytes,
    shown,
)
from ..sandbox.plan import RunScratch
from .gradebook_writer import Submission, ensure_students, write_grades
from .pause_hook import PauseHook
from .pipeline import Job, Result
from .zygote import Zygote

MARKER = ".autograder-graded.json"
FLUSH_SECONDS = 1.0
FLUSH_SIZE = 16


@dataclass
class RunReport:
    assignment: str
    graded: list[Submission] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)   # (who, one-line reason)
    seconds: float = 0.0
    interrupted: bool = False
    notebooks_graded: int = 0
    timings: list[dict] = field(default_factory=list)   # per notebook: when started, seconds, phases, cells
    marks: dict[str, float] = field(default_factory=dict)  # wall clock (time.time()) of the run's steps


# ---------------------------------------------------------------------- processes

def grading_worker(jobs, results, zygote_connection, config, course_root: str, coordinator: int,
                   workers: int = 1) -> None:
    """Grade jobs until the ``None`` job; ``workers``: how many take from ``jobs`` (a worker takes its next
    job early, and starts its kernel, only when at least that many wait)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is the coordinator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)      # the coordinator stops us with SIGTERM
    from .zygote_process import die_with_parent

    die_with_parent(coordinator, signal.SIGKILL)       # and a killed coordinator takes us along
    import torch

    torch.set_num_threads(1)
    from .kernel_ahead import KernelAhead
    from .pipeline import NotebookGrader
    from .zygote import ZygoteClient

    ahead = KernelAhead(jobs, workers)
    grader = NotebookGrader(config, ZygoteClient(zygote_connection), course_root, ahead)
    while True:
        job = ahead.next_job(before_waiting=grader.burials.wait)  # an idle worker leaves no kernel folder
        if job is None:
            ahead.drop()
            grader.burials.wait()  # every kernel of ours gone, its scratch folder and cgroup removed
            return
        results.put(grader.grade(job))


def start_workers(zygote: Zygote, count: int, config, course_root: Path):
    """Fork ``count`` grading workers from this (warmed) process, each with its own zygote connection;
    returns the job queue, the result queue and the processes."""
    ctx = mp.get_context("fork")
    jobs, results = ctx.Queue(), ctx.Queue()
    pool = []
    for _ in range(count):
        connection = zygote.connect()
        pool.append(ctx.Process(target=grading_worker, daemon=True,
                                args=(jobs, results, connection, config, str(course_root), os.getpid(), count)))
        pool[-1].start()
        connection.close()  # the worker's own now
    return jobs, results, pool


def stop_workers(jobs, pool, finish: bool = True, seconds: float = 10.0) -> None:
    """End the workers: with ``finish``, each takes a ``None`` job and ends once its last kernels are gone and
    their scratch folders removed (within ``seconds``); whoever is still running then is terminated."""
    if finish:
        for _ in pool:
            try:
                jobs.put_nowait(None)
            except Exception:  # noqa: BLE001 (a closed queue: they are terminated below)
                break
        deadline = time.monotonic() + seconds
        for process in pool:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in pool:
        if process.is_alive():
            process.terminate()


def warm_up() -> None:
    """Imports and first calls paid once here, not by every worker (they are forked from us)."""
    import torch

    torch.set_num_threads(1)  # no OpenMP pool before fork
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    from ..judge.warm import warm_up as warm_judge
    from ..nbgrader_plugins import execute  # noqa: F401

    warm_judge()


# ---------------------------------------------------------------------- bookkeeping

def _fingerprint(folder: Path) -> str:
    """Names, sizes and times of the submission's entries (links and odd names included, never followed)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(QUARANTINE))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            digest.update(os.fsencode(os.path.relpath(path, folder)))
            digest.update(f":{st.st_mode}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _already_graded(course: Course, student: str, assignment: str) -> bool:
    marker = course.autograded / student / assignment / MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("fingerprint") == _fingerprint(course.submitted / student / assignment)


def _prepare_destination(course: Course, config, student: str, assignment: str) -> Path:
    """As nbgrader: the student's other files, then the instructor's (non-notebook) source files."""
    from nbgrader.utils import find_all_files

    source = course.submitted / student / assignment
    dest = course.autograded / student / assignment
    if dest.exists():
        for path in [dest, *dest.rglob("*")]:
            try:
                path.chmod(0o755 if path.is_dir() else 0o644)
            except OSError:
                pass
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = list(config.CourseDirectory.get("ignore", [".ipynb_checkpoints", "*.pyc", "__pycache__",
                                                          "feedback"]))
    for origin, patterns in ((source, ignore + ["*.ipynb"]), (course.source / assignment, ignore + ["*.ipynb"])):
        if origin == course.source / assignment:
            excluded = set(config.Autograde.get("exclude_overwriting", {}).get(assignment, []))
        else:
            excluded = set()
        for filename in find_all_files(str(origin), patterns):
            rel = os.path.relpath(filename, origin)
            if rel in excluded or not _plain_file(filename):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.unlink()
            shutil.copy(filename, target)
    return dest


def _plain_file(path: str) -> bool:
    """A regular file that is not a link: anything else (a pipe, a socket, a device) is never copied."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def write_finished(course: Course, config, batch: list[Submission], report: RunReport, db_url: str) -> None:
    """Write a batch: notebooks, one gradebook transaction, then the resume markers."""
    permissions = 0o664 if config.CourseDirectory.get("groupshared", False) else 0o444
    for sub in batch:
        dest = course.autograded / sub.student / sub.assignment
        for name, result in sub.results.items():
            if result.notebook_json is not None and result.error is None:
                target = dest / f"{name}.ipynb"
                tmp = target.with_suffix(".ipynb.tmp")
                tmp.write_text(result.notebook_json)
                os.replace(tmp, target)
    write_grades(db_url, config, batch)
    for sub in batch:
        dest = course.autograded / sub.student / sub.assignment
        dest.mkdir(parents=True, exist_ok=True)  # absent when the submission could not be prepared
        marker = {"fingerprint": _fingerprint(course.submitted / sub.student / sub.assignment),
                  "graded_at": time.time(), "problems": sub.problems}
        (dest / MARKER).write_text(json.dumps(marker))
        for path in dest.rglob("*"):
            if path.is_file():
                path.chmod(permissions)
        report.graded.append(sub)


# ---------------------------------------------------------------------- the run

def autograde(course: Course, assignment: str, students: list[str] | None = None, workers: int | None = None,
              force: bool = False, progress=None, zygote: Zygote | None = None) -> RunReport:
    """Grade ``assignment``. Pass a ``zygote`` started early to overlap its warm-up with ours."""
    report = RunReport(assignment)
    start = time.perf_counter()
    report.marks["autograde"] = time.time()
    expected = course.notebooks(assignment)
    all_students = course.students(assignment)
    if students:
        unknown = sorted(set(students) - set(all_students))
        if unknown:
            raise CourseError(f"no submission of {assignment} for: {', '.join(unknown)} "
                              f"(looked in {course.submitted}/<student>/{assignment})")
        all_students = [s for s in all_students if s in students]
    lock_path = course.root / f".autograder-autograde-{assignment}.lock"
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CourseError(f"another `autograder autograde {assignment}` is running in this course "
                          f"({lock_path})") from None
    config = course.config()
    check_confinement(config)
    db_url = course.db_url
    todo = [s for s in all_students if force or not _already_graded(course, s, assignment)]
    report.skipped = [s for s in all_students if s not in todo]
    if not todo:
        report.seconds = time.perf_counter() - start
        if zygote is not None:
            zygote.close()
        return report
    workers = max(1, workers or os.cpu_count() or 1)
    zygote = zygote or Zygote(course.root)
    warm_up()
    report.marks["warmed_up"] = time.time()
    zygote.wait_ready()
    report.marks["zygote_ready"] = time.time()
    scratch = RunScratch()   # the kernels' scratch folders: removed at the end, even of an interrupted run
    jobs, results, pool = start_workers(zygote, min(workers, len(todo) * len(expected)), config, course.root)
    report.marks["workers_started"] = time.time()
    try:
        check_assignment(db_url, assignment)
        # each submission's notebooks go to the workers as soon as it is checked and prepared (the workers
        # never touch the gradebook's students: the coordinator writes every row, after ensure_students)
        pending = plan_submissions(course, config, assignment, todo, expected, db_url, report,
                                   dispatch=lambda sub: [jobs.put(job) for job in sub.jobs])
        ensure_students(db_url, pending.values())
        report.marks["planned"] = time.time()
        total = sum(len(sub.notebooks_to_grade) for sub in pending.values())
        task = progress.add_task(f"grading {assignment}", total=total) if progress else None
        _Collector(course, config, db_url, report, pending, results, pool, progress, task).run()
        report.marks["written"] = time.time()
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        stop_workers(jobs, pool, finish=not report.interrupted)
        zygote.close()
        scratch.close()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    report.seconds = time.perf_counter() - start
    report.marks["done"] = time.time()
    return report


def write_timings(report: RunReport) -> None:
    """For benchmarks: with AUTOGRADER_TIMINGS=<file>, the run's step times and every notebook's phases."""
    path = os.environ.get("AUTOGRADER_TIMINGS")
    if path:
        Path(path).write_text(json.dumps({"marks": report.marks, "notebooks": report.timings}))


def take_result(sub: Submission, remaining: set[str], result: Result, report: RunReport) -> None:
    """A finished notebook into its submission: its result, and its problems into the report."""
    notebook = result.job.notebook
    sub.results[notebook] = result
    remaining.discard(notebook)
    report.notebooks_graded += 1
    report.timings.append({"student": sub.student, "notebook": notebook, "started": result.started,
                           "seconds": result.seconds, "phases": result.phases, "cells": result.cells})
    if result.error:
        report.failures.append((sub.student, f"{notebook}: grader error: {result.error}"))
    for problem in result.problems:
        report.failures.append((sub.student, f"{notebook}: {problem}"))
        sub.problems.append(f"{notebook}: {problem}")


def check_confinement(config) -> None:
    from ..sandbox import preflight
    from ..sandbox.config import Sandbox
    from ..sandbox.plan import SandboxError

    sandbox = Sandbox(config=config)
    if sandbox.enabled:
        try:
            preflight.check(sandbox.require)
        except SandboxError as exc:
            raise CourseError(str(exc)) from None


def check_assignment(db_url: str, assignment: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(f"{assignment} is not in the gradebook: run `nbgrader generate_assignment "
                              f"{assignment}` first") from None


def plan_submissions(course, config, assignment, students, expected, db_url, report,
                     dispatch=None) -> dict[str, Submission]:
    """Check and prepare each student's submission; ``dispatch(sub)`` is called as soon as one is ready."""
    pending: dict[str, Submission] = {}
    max_bytes = max_notebook_bytes(config)
    for student in students:
        folder = course.submitted / student / assignment
        problems, graded = _checked(folder, expected, course.release / assignment, max_bytes)
        try:
            timestamp = _timestamp(folder)
            dest = _prepare_destination(course, config, student, assignment)
        except Exception as exc:  # one student's folder never ends the run: graded zero, with the reason
            problems.append(f"the submission could not be prepared for grading ({type(exc).__name__}: "
                            f"{shown(str(exc), 200)}); graded zero")
            timestamp, dest, graded = None, None, False
        sub = Submission(student, assignment, timestamp, list(expected), problems=problems)
        sub.jobs = [Job(student, assignment, name, str(folder / f"{name}.ipynb"), str(dest), db_url)
                    for name in expected if graded and _plain_file(str(folder / f"{name}.ipynb"))]
        sub.notebooks_to_grade = [job.notebook for job in sub.jobs]
        for problem in problems:
            report.failures.append((student, problem))
        pending[student] = sub
        if dispatch is not None:
            dispatch(sub)
    return pending


def _checked(folder: Path, expected: list[str], release_dir: Path, max_bytes: int) -> tuple[list[str], bool]:
    """Check and repair one submission: its problems, and whether its notebooks may be graded."""
    try:
        return list(check_submission(folder, expected, release_dir, max_bytes=max_bytes).problems), True
    except CheckFailed as exc:
        reason = failed_check_reason(exc)
        if lock_down(folder, expected, release_dir, reason):
            return [reason], True
        return [reason, "the submission could not be set aside either; graded zero without its notebooks"], False


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not _plain_file(str(path)):
        return None
    try:
        return parse_utc(path.read_text().strip())
    except Exception:
        return None


@dataclass
class _Collector:
    """Takes finished notebooks from the workers and writes each submission once all its notebooks are in,
    in batches (``_finish``); whatever finished is written even when the run is interrupted."""

    course: Course
    config: object
    db_url: str
    report: RunReport
    pending: dict[str, Submission]
    results: object          # the workers' result queue
    pool: list               # the worker processes
    progress: object = None
    task: object = None

    def run(self) -> None:
        self.remaining = {s: set(sub.notebooks_to_grade) for s, sub in self.pending.items()}
        self.batch: list[Submission] = [sub for s, sub in self.pending.items() if not self.remaining[s]]
        try:
            self._loop()
        finally:  # an interruption keeps every submission that finished
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            write_finished(self.course, self.config, self.batch, self.report, self.db_url)
            self.batch.clear()

    def _loop(self) -> None:
        last_flush = time.monotonic()
        pause = PauseHook()  # tests only: interrupt a run at a known point
        while any(self.remaining.values()):
            try:
                result: Result | None = self.results.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in self.pool):
                    raise RuntimeError("every grading worker died") from None
                result = None
            if result is not None:
                self._take(result)
            due = pause.due(len(self.report.graded) + len(self.batch))
            if self.batch and (due or len(self.batch) >= FLUSH_SIZE or time.monotonic() - last_flush > FLUSH_SECONDS):
                self._flush()
                last_flush = time.monotonic()
            if due:
                pause.wait(len(self.report.graded))

    def _take(self, result: Result) -> None:
        student = result.job.student
        take_result(self.pending[student], self.remaining[student], result, self.report)
        if self.progress:
            self.progress.advance(self.task)
        if not self.remaining[student]:
            self.batch.append(self.pending[student])
