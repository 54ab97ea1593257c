"""A worker starts its next notebook's kernel while the current one runs (``autograder.batch.kernel_ahead``),
and does not wait for a killed kernel to end (``forked_kernel.Burials``). What must hold: each notebook runs in
its own student's folder and kernel, whatever was started ahead; a kernel is handed only to the notebook it was
started for; no job is taken early unless at least as many wait as there are workers; and when the worker
ends or idles, every kernel of its is gone, with its scratch folder and cgroup."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from course_fixtures import answers, new_course, paused_run, release, submit
from support import NOTEBOOKS

from autograder.batch import runner
from autograder.batch.forked_kernel import ForkedKernelManager
from autograder.batch.kernel_ahead import KernelAhead
from autograder.batch.pipeline import NotebookGrader
from autograder.batch.zygote import Zygote, ZygoteClient
from autograder.course import Course
from autograder.demo.cohort import fill

pytestmark = [pytest.mark.slow]
A = "ps1_backward"
BIN = Path(sys.executable).parent
STUDENTS = ("ana", "ben", "cai", "dee")
WHO_CELL = "import os\nprint('I am', open('whoami.txt').read(), 'in', os.path.basename(os.getcwd()))"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Four students, each with a file naming them beside their notebook, which prints it; a tag per run
    finds this course's scratch folders in /tmp (their staged copy of the tag file)."""
    root = new_course(tmp_path_factory.mktemp("ahead") / "c", [A])
    tag = f"tag-{uuid.uuid4().hex}.txt"
    rel = release(root, A)
    notebook = fill(rel, answers(A))
    notebook.cells.append(nbformat.v4.new_code_cell(WHO_CELL))
    for student in STUDENTS:
        submit(root, student, A, notebook, extra_files={"whoami.txt": student.encode(), tag: b""})
    return Course(root), tag


@pytest.fixture(scope="module")
def zygote(course):
    """The zygote a worker has; the class-wide settings a worker makes are put back after (this process
    grades other courses later)."""
    saved = {name: getattr(ForkedKernelManager, name) for name in ("zygote", "course_root", "burials")}
    started = Zygote(course[0].root)
    started.wait_ready()
    yield started
    started.close()
    for name, value in saved.items():
        setattr(ForkedKernelManager, name, value)


def _jobs(course: Course, students=STUDENTS) -> list:
    report = runner.RunReport(A)
    pending = runner.plan_submissions(course, course.config(), A, list(students), course.notebooks(A),
                                      course.db_url, report)
    runner.ensure_students(course.db_url, pending.values())
    return [job for student in students for job in pending[student].jobs]


def _who(result) -> str:
    """What the notebook's last cell printed: the student whose folder its kernel ran in."""
    assert result.error is None, result.error
    return _printed(nbformat.reads(result.notebook_json, as_version=4))


def _printed(notebook) -> str:
    cell = notebook.cells[-1]
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream").strip()


def _scratch_folders(tag: str) -> list[Path]:
    """The kernel scratch folders holding a copy of the file ``tag`` (in /tmp, or in a run's folder there)."""
    found = [*Path("/tmp").glob("agsb-*"), *Path("/tmp").glob("agsb-run-*/agsb-*")]
    return [p for p in found if (p / "stage" / "work" / tag).exists()]


def _graders(course: Course, zygote: Zygote, jobs, workers: int):
    waiting = queue.Queue()
    for job in jobs:
        waiting.put(job)
    ahead = KernelAhead(waiting, workers)
    grader = NotebookGrader(course.config(), ZygoteClient(zygote.connect()), str(course.root), ahead)
    return waiting, ahead, grader


def _run(ahead: KernelAhead, grader: NotebookGrader, waiting: queue.Queue) -> list:
    """A worker's loop (``runner.grading_worker``), ending when the queue is empty."""
    results = []
    while True:
        try:
            job = ahead.next_job() if ahead.has_early_job() else waiting.get_nowait()
        except queue.Empty:
            break
        results.append(grader.grade(job))
    ahead.drop()
    grader.burials.wait()
    return results


def test_each_notebook_runs_in_its_own_students_kernel_when_kernels_start_ahead(course, zygote):
    course, tag = course
    waiting, ahead, grader = _graders(course, zygote, _jobs(course), workers=1)
    results = _run(ahead, grader, waiting)
    assert [r.job.student for r in results] == list(STUDENTS)
    for result in results:
        assert _who(result) == f"I am {result.job.student} in work", result.job.student
        assert all(score is not None for score in result.grades.values())
    assert ahead.handed_over == len(STUDENTS) - 1   # every notebook but the first found its kernel started
    assert ahead.stopped_unused == 0
    assert _scratch_folders(tag) == []               # every kernel's folder removed once it was gone


def test_a_kernel_started_for_one_notebook_is_never_handed_to_another(course, zygote):
    course, tag = course
    jobs = _jobs(course)
    waiting, ahead, grader = _graders(course, zygote, jobs, workers=1)
    first = grader.grade(waiting.get_nowait())        # starts ben's kernel ahead (ben taken from the queue)
    assert ahead.has_early_job() and ahead.started_ahead == 1
    out_of_turn = jobs[2]                             # cai, graded before ben: ben's kernel must not serve him
    waiting.queue.remove(out_of_turn)
    cai = grader.grade(out_of_turn)
    assert _who(first) == "I am ana in work"
    assert _who(cai) == "I am cai in work"
    assert ahead.handed_over == 0 and ahead.stopped_unused == 1
    rest = _run(ahead, grader, waiting)               # ben (own kernel now), then dee
    assert [_who(r) for r in rest] == ["I am ben in work", "I am dee in work"]
    assert _scratch_folders(tag) == []


def test_a_kernel_started_for_a_notebook_that_fails_before_running_is_stopped(course, zygote):
    course, tag = course
    jobs = _jobs(course)
    broken = Path(jobs[1].submitted)
    kept = broken.read_bytes()
    waiting, ahead, grader = _graders(course, zygote, jobs, workers=1)
    try:
        first = grader.grade(waiting.get_nowait())    # ben's kernel starts ahead
        broken.write_text("{ not a notebook")         # ...and his notebook cannot be read any more
        assert ahead.started_ahead == 1
        ben = grader.grade(ahead.next_job())
    finally:
        broken.write_bytes(kept)
    assert _who(first) == "I am ana in work"
    assert ben.error and "ben" == ben.job.student
    assert ahead.stopped_unused == 1 and ahead.handed_over == 0
    rest = _run(ahead, grader, waiting)
    assert [_who(r) for r in rest] == ["I am cai in work", "I am dee in work"]
    assert _scratch_folders(tag) == []


def test_a_job_is_taken_early_only_when_at_least_as_many_wait_as_there_are_workers(course, zygote):
    course, tag = course
    waiting, ahead, grader = _graders(course, zygote, _jobs(course, STUDENTS[:3]), workers=3)
    grader.grade(waiting.get_nowait())                # two wait, three workers: the others may need them
    assert ahead.started_ahead == 0 and not ahead.has_early_job() and waiting.qsize() == 2
    rest = _run(ahead, grader, waiting)
    assert [_who(r) for r in rest] == ["I am ben in work", "I am cai in work"]
    assert ahead.started_ahead == 0

    waiting, ahead, grader = _graders(course, zygote, _jobs(course, STUDENTS[:3]), workers=2)
    grader.grade(waiting.get_nowait())                # two wait, two workers: one each, this one's taken early
    assert ahead.started_ahead == 1 and ahead.has_early_job() and waiting.qsize() == 1
    rest = _run(ahead, grader, waiting)
    assert [_who(r) for r in rest] == ["I am ben in work", "I am cai in work"]
    assert ahead.started_ahead == 1 and ahead.handed_over == 1
    assert _scratch_folders(tag) == []


def test_a_batch_run_leaves_no_kernel_and_no_scratch_folder(course):
    """The whole of ``autograder autograde``: its workers end only once their last kernels are gone."""
    course, tag = course
    done = subprocess.run([str(BIN / "autograder"), "autograde", A, "--force", "--workers", "2"],
                          cwd=course.root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 submission(s) graded" in " ".join(done.stdout.split())
    assert _scratch_folders(tag) == []
    for student in STUDENTS:
        marker = json.loads((course.autograded / student / A / runner.MARKER).read_text())
        assert marker["problems"] == [], student
        graded = nbformat.read(course.autograded / student / A / NOTEBOOKS[A], as_version=4)
        assert _printed(graded) == f"I am {student} in work"


def test_an_idle_worker_leaves_no_kernel_folder_behind(course, zygote):
    """A worker (a real one, forked as ``autograder autograde`` and the instant feedback service fork theirs)
    that has nothing more to grade removes its killed kernels' folders before it waits for the next job."""
    course, tag = course
    jobs, results, pool = runner.start_workers(zygote, 1, course.config(), course.root)
    try:
        jobs.put(_jobs(course, STUDENTS[:1])[0])
        assert _who(results.get(timeout=120)) == "I am ana in work"
        deadline = time.monotonic() + 10
        while _scratch_folders(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _scratch_folders(tag) == []
        assert pool[0].is_alive()                     # idle: waiting for its next job
    finally:
        runner.stop_workers(jobs, pool)
    assert not pool[0].is_alive() and pool[0].exitcode == 0


@pytest.mark.parametrize("where", ["preparing", "starting"])
def test_a_kernel_that_cannot_be_started_ahead_costs_nothing_but_the_head_start(course, zygote, monkeypatch,
                                                                                 where):
    """Whatever fails while the next kernel is prepared or started ahead is never the current notebook's
    failure: the next notebook then starts its own kernel, as it would have."""
    from autograder.nbgrader_plugins.execute import GuardedExecute

    course, tag = course
    jobs = _jobs(course, STUDENTS[:3])
    ben = jobs[1].workdir
    if where == "preparing":
        made = GuardedExecute.create_kernel_manager

        def create_kernel_manager(self):
            if self.resources.get("metadata", {}).get("path") == ben and self.nb.get("cells") is None:
                raise RuntimeError("no kernel manager for an early kernel today")
            return made(self)

        monkeypatch.setattr(GuardedExecute, "create_kernel_manager", create_kernel_manager)
    else:
        failed: list[str] = []
        pre_start = ForkedKernelManager._async_pre_start_kernel

        async def _async_pre_start_kernel(self, **kw):
            if kw.get("cwd") == ben and not failed:
                failed.append(ben)
                raise OSError("no scratch folder for an early kernel today")
            return await pre_start(self, **kw)

        monkeypatch.setattr(ForkedKernelManager, "_async_pre_start_kernel", _async_pre_start_kernel)
    waiting, ahead, grader = _graders(course, zygote, jobs, workers=1)
    results = _run(ahead, grader, waiting)
    assert [_who(r) for r in results] == ["I am ana in work", "I am ben in work", "I am cai in work"]
    assert all(not r.problems for r in results), [r.problems for r in results]
    assert ahead.handed_over == 1                     # ben's own kernel; cai's was started ahead
    assert ahead.started_ahead == (1 if where == "preparing" else 2)
    assert _scratch_folders(tag) == []


def test_an_interrupted_run_leaves_no_kernel_folder_behind(course, tmp_path):
    """Ctrl-C while a worker is in the middle of a notebook (and has the next one's kernel started): the
    workers are terminated and the zygote kills their kernels, and no scratch folder of theirs is left."""
    course, tag = course
    slow = nbformat.read(course.submitted / "ben" / A / NOTEBOOKS[A], as_version=4)
    slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(600)"))
    kept = (course.submitted / "ben" / A / NOTEBOOKS[A]).read_bytes()
    nbformat.write(slow, course.submitted / "ben" / A / NOTEBOOKS[A])
    try:
        process = paused_run(course.root, A, after=1, extra=("--force",))
        deadline = time.monotonic() + 60
        while len(_scratch_folders(tag)) < 2 and time.monotonic() < deadline:  # ben's kernel and cai's, ahead
            time.sleep(0.05)
        assert len(_scratch_folders(tag)) >= 2
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        (course.submitted / "ben" / A / NOTEBOOKS[A]).write_bytes(kept)
    assert process.returncode == 130, out + err
    assert _scratch_folders(tag) == []
    assert not list(Path("/tmp").glob(f"agsb-run-*/agsb-*/stage/work/{tag}"))
