"""nbgrader's ``Execute`` hardened for untrusted notebooks.

* Kernels start in the sandbox (``autograder.sandbox``) unless ``c.Sandbox.enabled = False``.
* A kernel that dies (a crash, ``os._exit``, a CPU-time kill) is restarted; the cells before the one
  that killed it are replayed silently to rebuild the student's definitions, and execution goes on,
  so the tests of the other functions still run. The dead cell gets an error saying what happened.
* Each cell keeps at most ``c.Sandbox.output_kb`` of output, so a flood of prints cannot exhaust the
  grader's memory; the notebook as a whole gets ``c.Sandbox.notebook_seconds`` of wall time.
"""

from __future__ import annotations

import json
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.sandbox import preflight
from autograder.sandbox.config import Sandbox
from autograder.sandbox.kernel_manager import SandboxedKernelManager

MAX_RESTARTS = 3


def error_output(name: str, message: str):
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class GuardedExecute(Execute):
    max_restarts = Integer(MAX_RESTARTS, help="Kernel restarts per notebook after crashes.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandbox = Sandbox(parent=self)
        if self.sandbox.enabled:
            preflight.check(self.sandbox.require)  # refuse before any student code runs, not kernel by kernel
            self.kernel_manager_class = SandboxedKernelManager

    # ------------------------------------------------------------------ notebook level
    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.sandbox.notebook_seconds
        self._restarts = 0
        self._given_up = ""
        self._output_bytes: dict[int, int] = {}
        self.confinement_problems: list[str] = []
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.sandbox = self.sandbox
        return km

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        self._report_confinement()
        return client

    def _report_confinement(self) -> None:
        scratch = getattr(self.km, "_scratch", None)
        if scratch is None:
            if not self.sandbox.enabled:
                self.log.warning("autograder sandbox DISABLED: student code runs with the grader's rights")
            return
        try:
            report = json.loads(scratch.report.read_text())
        except (OSError, ValueError):
            return
        self.confinement_problems = report.get("missing", [])
        if report.get("missing"):
            self.log.warning("autograder sandbox is degraded (level %s): %s", report.get("level"),
                             "; ".join(report["missing"]))
        else:
            self.log.debug("autograder sandbox: %s", ", ".join(report.get("layers", [])))

    # ------------------------------------------------------------------ cell level
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._given_up:
            cell.outputs = [error_output("CellNotRun", self._given_up)]
            return cell, resources
        if time.monotonic() > self._deadline:
            cell.outputs = [error_output(
                "NotebookTimeoutError",
                f"the notebook ran past its total time limit ({self.sandbox.notebook_seconds} s); "
                "this cell was not run")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs = [o for o in cell.get("outputs", [])]
            cell.outputs.append(error_output(
                "DeadKernelError",
                "the kernel died while running this cell (a crash, os._exit/sys.exit in a thread, or a "
                "memory or CPU-time limit); the notebook continued in a fresh kernel"))
            self._revive(index)
            return cell, self.resources

    def _revive(self, dead_index: int) -> None:
        """Restart the kernel and replay the earlier code cells (not the tests) without their outputs."""
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._given_up = f"the kernel died {self.max_restarts} times; the rest of the notebook was not run"
            return
        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        for cell in self.nb.cells[:dead_index]:
            if cell.cell_type != "code" or (utils.is_grade(cell) and not utils.is_solution(cell)):
                continue
            msg_id = self.kc.execute(cell.source, silent=True, store_history=False, allow_stdin=False)
            try:
                self.wait_for_reply(msg_id, cell)
            except DeadKernelError:
                self._given_up = "the kernel died again while the earlier cells were replayed"
                return
            except Exception:
                continue

    def output(self, outs, msg, display_id, cell_index):
        size = _message_size(msg)
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        limit = self.sandbox.output_kb * 1024
        if used > limit:
            if used - size <= limit:  # the first output over the limit: say so once
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n[output truncated: more than {self.sandbox.output_kb} KiB]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _message_size(msg) -> int:
    content = msg.get("content", {})
    if "text" in content:
        return len(content["text"])
    data = content.get("data") or {}
    total = 0
    for value in data.values():
        total += len(value) if isinstance(value, str) else len(json.dumps(value))
    return total + sum(len(line) for line in content.get("traceback", []) or [])
