"""Grade one submitted notebook the way ``nbgrader autograde`` does, in a worker process.

The same nbgrader preprocessors run in the same order with the course's own configuration: the
sanitizing ones (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata),
then the autograding ones (Execute, the judge, LimitOutput, …). Only three things differ:
the kernel is forked from the warm zygote, the notebook is kept in memory between the two passes, and
the grades are returned to the coordinator — which writes them in batches — instead of being
committed cell by cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader import utils
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from traitlets.config import Config, LoggingConfigurable
from traitlets.utils.importstring import import_item

from ..nbgrader_plugins.cell_metadata import PROBLEMS
from ..probe.contract import METADATA_KEY, OUTPUT_TRUNCATED, Summary, stop_reason
from .forked_kernel import Burials, ForkedKernelManager
from .kernel_ahead import KernelAhead

_DEFAULT_SANITIZE = ["nbgrader.preprocessors.ClearOutput", "nbgrader.preprocessors.DeduplicateIds",
                     "nbgrader.preprocessors.OverwriteKernelspec", "nbgrader.preprocessors.OverwriteCells",
                     "nbgrader.preprocessors.CheckCellMetadata"]
_COORDINATOR_STEPS = (SaveAutoGrades, AssignLatePenalties)   # they write the gradebook: done in batches


@dataclass
class Job:
    student: str
    assignment: str
    notebook: str            # name without .ipynb
    submitted: str           # path of the submitted notebook
    workdir: str             # the autograded folder (the kernel's scratch is copied from it)
    db_url: str


@dataclass
class Result:
    job: Job
    notebook_json: str | None = None
    grades: dict[str, float | None] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    started: float = 0.0     # wall clock (time.time()) when the worker took the job
    phases: dict[str, float] = field(default_factory=dict)   # seconds per phase (``PHASES``)
    cells: list[tuple[float, float]] = field(default_factory=list)  # per code cell: (grader's wall, kernel's own)


# Phases of one notebook, in order (``Result.phases``): reading it, the sanitizing preprocessors, starting
# the kernel (fork, confinement, readiness), the code cells as the grader waits for them, the cells' own
# time in the kernel (part of ``cells``), stopping the kernel, the rest of Execute, the judge, the other
# autograding preprocessors, and writing the grades and the notebook out.
PHASES = ("read", "sanitize", "kernel_start", "cells", "cells_own", "kernel_stop", "execute_other", "judge",
          "other_preprocessors", "finish")


def _classes(config: Config, name: str, default: list) -> list:
    configured = config.Autograde.get(name) if "Autograde" in config else None
    if configured is None:
        from nbgrader.converters import Autograde

        configured = Autograde.class_traits()[name].default()
    classes = []
    for item in configured or default:
        cls = import_item(item) if isinstance(item, str) else item
        if not issubclass(cls, _COORDINATOR_STEPS):
            classes.append(cls)
    return classes


class NotebookGrader(LoggingConfigurable):
    """Holds the course configuration for the preprocessors it creates (one per worker)."""

    def __init__(self, config: Config, zygote, course_root: str, ahead: KernelAhead | None = None) -> None:
        """``ahead``: the worker's early kernels (the next job's kernel starts while this one's cells run)."""
        super().__init__(config=config)
        self.sanitize = _classes(config, "sanitize_preprocessors", _DEFAULT_SANITIZE)
        self.autograde = _classes(config, "autograde_preprocessors", [])
        self.ahead = ahead
        ForkedKernelManager.zygote = zygote
        ForkedKernelManager.course_root = course_root
        ForkedKernelManager.burials = self.burials = Burials()

    def _instances(self, classes):
        made = []
        for cls in classes:
            pp = cls(parent=self)
            if hasattr(pp, "kernel_manager_class"):  # the Execute step
                pp.kernel_manager_class = ForkedKernelManager
                pp.shutdown_kernel = "immediate"
            made.append(pp)
        return made

    def grade(self, job: Job) -> Result:
        start = time.perf_counter()
        result = Result(job, started=time.time())
        phases = result.phases
        try:
            nb = nbformat.read(job.submitted, as_version=4)
            phases["read"] = time.perf_counter() - start
            resources = {
                "unique_key": job.notebook, "output_files_dir": f"{job.notebook}_files",
                "nbgrader": {"student": job.student, "assignment": job.assignment, "notebook": job.notebook,
                             "db_url": job.db_url},
                "metadata": {"name": job.notebook, "path": job.workdir},
            }
            with _Phase(phases, "sanitize"):
                for pp in self._instances(self.sanitize):
                    nb, resources = _apply(pp, nb, resources)
            result.problems.extend(resources.get(PROBLEMS, []))
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                for pp in self._instances(self.autograde):
                    executes = hasattr(pp, "kernel_manager_class")
                    if executes:
                        if self.ahead is not None:
                            self.ahead.attach(pp, job)
                        _time_execute(pp, result)
                    name = ("execute_other" if executes else
                            "judge" if type(pp).__name__ == "JudgeProbeRecords" else "other_preprocessors")
                    with _Phase(phases, name):
                        nb, resources = _apply(pp, nb, resources)
                    report = getattr(pp, "confinement_problems", None)
                    if report:
                        result.problems.append("sandbox degraded: " + "; ".join(report))
            finish = time.perf_counter()
            for cell in nb.cells:
                if utils.is_grade(cell):
                    score, _ = utils.determine_grade(cell, self.log)
                    result.grades[cell.metadata["nbgrader"]["grade_id"]] = score
                if utils.is_solution(cell) or utils.is_task(cell):
                    meta = cell.metadata["nbgrader"]
                    unanswered = meta.get("checksum") == utils.compute_checksum(cell) and not utils.is_task(cell)
                    result.comments[meta["grade_id"]] = "No response." if unanswered else None
            result.problems.extend(_stopped(nb))
            result.notebook_json = nbformat.writes(nb)
            phases["finish"] = time.perf_counter() - finish
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        finally:
            if self.ahead is not None:
                self.ahead.finish(job)
        result.seconds = time.perf_counter() - start
        if "execute_other" in phases:  # Execute's own phases were timed inside it
            phases["execute_other"] -= sum(phases.get(k, 0.0) for k in ("kernel_start", "cells", "kernel_stop"))
        return result


class _Phase:
    """Adds the time spent in a ``with`` block to ``phases[name]``."""

    def __init__(self, phases: dict[str, float], name: str) -> None:
        self.phases, self.name = phases, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.phases[self.name] = self.phases.get(self.name, 0.0) + time.perf_counter() - self.start


def _time_execute(pp, result: Result) -> None:
    """Time the Execute step's phases (kernel start, each cell, kernel stop) on this instance only: the
    wrapped methods are called exactly as before."""
    phases = result.phases

    def timed(method, name):
        def wrapper(*args, **kwargs):
            with _Phase(phases, name):
                return method(*args, **kwargs)
        return wrapper

    # the names nbconvert's ExecutePreprocessor.preprocess reaches through setup_kernel (synchronous)
    pp.start_new_kernel = timed(pp.start_new_kernel, "kernel_start")
    pp.start_new_kernel_client = timed(pp.start_new_kernel_client, "kernel_start")
    pp._cleanup_kernel = timed(pp._cleanup_kernel, "kernel_stop")
    preprocess_cell = pp.preprocess_cell

    def timed_cell(cell, resources, index):
        start = time.perf_counter()
        try:
            return preprocess_cell(cell, resources, index)
        finally:
            if cell.cell_type == "code":
                wall = time.perf_counter() - start
                own = _own_seconds(cell)
                result.cells.append((wall, own))
                phases["cells"] = phases.get("cells", 0.0) + wall
                phases["cells_own"] = phases.get("cells_own", 0.0) + own

    pp.preprocess_cell = timed_cell


def _own_seconds(cell) -> float:
    """The kernel's own time for a cell: from its execute_input to its execute_reply (nbclient records both
    message dates in ``metadata.execution``); 0 when not recorded."""
    from datetime import datetime

    execution = cell.get("metadata", {}).get("execution", {})
    try:
        begin = datetime.fromisoformat(str(execution["iopub.execute_input"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(execution["shell.execute_reply"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (end - begin).total_seconds())


def _apply(pp: Preprocessor, nb, resources):
    return pp(nb, resources)


def _stopped(nb) -> list[str]:
    """One line per way the notebook's execution went wrong (timeouts, dead kernels, floods)."""
    found: list[str] = []

    def add(line: str) -> None:
        if line not in found:
            found.append(line)

    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            reason = stop_reason(output.get("ename")) if output.get("output_type") == "error" else None
            if reason is not None:
                add(f"cell {index}: {reason.instructor}")
            elif output.get("output_type") == "stream" and OUTPUT_TRUNCATED in output.get("text", ""):
                add(f"cell {index}: output truncated")
        summary = cell.get("metadata", {}).get(METADATA_KEY, {})
        if not isinstance(summary, dict):  # a student's own metadata under our key
            continue
        notes = summary.get(Summary.NOTES)
        for note in notes if isinstance(notes, list) else []:
            add(f"cell {index}: {note}")
        keys = summary.get(Summary.MISCONCEPTIONS)
        if isinstance(keys, list) and "timeout" in keys:
            add(f"{summary.get(Summary.FUNCTION)} did not finish within the time limit of one call")
    return found
