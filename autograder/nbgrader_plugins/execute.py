"""nbgrader's ``Execute`` hardened for untrusted notebooks.

* Kernels start in the sandbox (``autograder.sandbox``) unless ``c.Sandbox.enabled = False``, forked from
  a warm parent (``warm_kernels``) unless ``c.Sandbox.warm_kernels = False``.
* A kernel that dies (a crash, ``os._exit``, a CPU-time kill) is restarted; the cells before the one
  that killed it are replayed silently to rebuild the student's definitions, and execution goes on,
  so the tests of the other functions still run. The dead cell gets an error saying what happened.
* Each cell keeps at most ``c.Sandbox.output_kb`` of output and the notebook's ordinary cells together
  at most ``c.Sandbox.notebook_output_kb``, counted over every message and every field a kernel can make
  the grader keep (``output_budget``), so no flood can exhaust the grader's memory or bloat the graded
  notebook; the notebook as a whole gets ``c.Sandbox.notebook_seconds`` of wall time.
* Messages that are malformed (``message_shape``) or cannot even be parsed (``tolerant_session``) are
  dropped instead of aborting the notebook.
"""

from __future__ import annotations

import json
import os
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.batch.forked_kernel import ForkedKernelManager
from autograder.judge.warm import warm_up as warm_judge
from autograder.nbgrader_plugins import warm_kernels
from autograder.nbgrader_plugins.judge_probes import is_test_cell
from autograder.nbgrader_plugins.message_shape import well_formed
from autograder.nbgrader_plugins.output_budget import CHARGED, OutputBudget, persisted_size, valid_execution_count
from autograder.nbgrader_plugins.tolerant_session import make_tolerant
from autograder.probe.contract import CELL_NOT_RUN, DEAD_KERNEL, NOTEBOOK_TIMEOUT, OUTPUT_TRUNCATED
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
            self.kernel_manager_class = ForkedKernelManager if self.sandbox.warm_kernels else SandboxedKernelManager
            if self.sandbox.warm_kernels:
                self.shutdown_kernel = "immediate"  # as ``autograder autograde``: its scratch folder is discarded

    # ------------------------------------------------------------------ notebook level
    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.sandbox.notebook_seconds
        self._restarts = 0
        self._given_up = ""
        self._budget = OutputBudget(self.sandbox.output_kb * 1024, self.sandbox.notebook_output_kb * 1024)
        self.confinement_problems: list[str] = []
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.sandbox = self.sandbox
        if isinstance(km, ForkedKernelManager) and km.zygote is None:  # plain nbgrader: this process's zygote
            root = self.config.CourseDirectory.get("root") or os.getcwd()
            km.zygote = warm_kernels.zygote_client(root, while_it_warms=warm_judge)  # the judge runs next
            km.course_root = os.path.abspath(root)
        return km

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        self._report_confinement()
        return client

    # nbclient binds its synchronous ``start_new_kernel_client`` (what nbconvert's ``preprocess`` calls) to its
    # own coroutine, so the override above was never reached through it: bind ours.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

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
            cell.outputs = [error_output(CELL_NOT_RUN, self._given_up)]
            return cell, resources
        if time.monotonic() > self._deadline:
            cell.outputs = [error_output(
                NOTEBOOK_TIMEOUT,
                f"the notebook ran past its total time limit ({self.sandbox.notebook_seconds} s); "
                "this cell was not run")]
            return cell, resources
        if self.kc is not None:
            make_tolerant(self.kc.session)  # idempotent; the client exists once the kernel has started
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._after_cell(cell, index)
            return cell, resources
        except DeadKernelError:
            cell.outputs = [o for o in cell.get("outputs", [])]
            cell.outputs.append(error_output(
                DEAD_KERNEL,
                "the kernel died while running this cell (a crash, os._exit/sys.exit in a thread, or a "
                "memory or CPU-time limit); the notebook continued in a fresh kernel"))
            self._after_cell(cell, index)
            self._revive(index)
            return cell, self.resources

    def _after_cell(self, cell, index: int) -> None:
        """Say where output was dropped, and keep the execution count an execution count."""
        if not valid_execution_count(cell.get("execution_count")):
            cell["execution_count"] = None
        cap = self._budget.truncated.get(index)
        if cap is None or any(OUTPUT_TRUNCATED in str(o.get("text", "")) for o in cell.outputs):
            return
        if cap == "cell":
            why = f"more than {self.sandbox.output_kb} KiB in this cell"
        else:
            why = f"the notebook's output passed {self.sandbox.notebook_output_kb} KiB"
        cell.outputs.append(new_output("stream", name="stdout", text=f"\n{OUTPUT_TRUNCATED} {why}]\n"))

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

    def process_message(self, msg, cell, cell_index):
        """Charge every message that can leave bytes in the notebook before nbclient stores it."""
        msg_type = msg.get("msg_type")
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if msg_type in CHARGED:
            limit = self._budget.cell_limit + 1
            size = persisted_size(content, limit) * self._copies(msg_type, content)
            if not self._budget.admit(cell_index, size, test_cell=is_test_cell(cell)):
                return None
        if not well_formed(msg_type, content):
            return None
        if "execution_count" in content and not valid_execution_count(content["execution_count"]):
            msg = {**msg, "content": {**content, "execution_count": None}}
        return super().process_message(msg, cell, cell_index)

    def on_cell_executed(self, **kwargs):
        """nbgrader appends the execute *reply*'s error (ename, evalue, traceback) when no iopub error
        matches it: charge it like an output, and keep only its name and the start of its message
        once the budget is spent (or when the reply is malformed)."""
        cell, index, reply = kwargs.get("cell"), kwargs.get("cell_index"), kwargs.get("execute_reply")
        content = reply.get("content") if isinstance(reply, dict) else None
        if not isinstance(content, dict) or content.get("status") != "error":
            return super().on_cell_executed(**kwargs)
        if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
            return super().on_cell_executed(**kwargs)  # already shown from iopub: nbgrader adds nothing
        size = persisted_size(content, self._budget.cell_limit + 1)
        if not (well_formed("error", content) and self._budget.admit(index, size, test_cell=is_test_cell(cell))):
            ename, evalue = content.get("ename"), content.get("evalue")
            ename = ename[:100] if isinstance(ename, str) else "Error"
            evalue = evalue[:_KEPT_EVALUE] if isinstance(evalue, str) else ""
            content = {"status": "error", "ename": ename, "evalue": evalue,
                       "traceback": [f"{ename}: {evalue} [the rest of this error was dropped]"]}
            kwargs["execute_reply"] = {**reply, "content": content}
        return super().on_cell_executed(**kwargs)

    def _copies(self, msg_type: str, content: dict) -> int:
        """How many outputs a message writes: one new output, plus every earlier output sharing its
        display id (nbclient rewrites each of them)."""
        transient = content.get("transient")
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        if not isinstance(display_id, str):
            return 1
        new = 0 if msg_type == "update_display_data" else 1
        if not display_id or msg_type not in ("display_data", "execute_result", "update_display_data"):
            return 1
        targets = self._display_id_map.get(display_id, {})
        return max(1, new + sum(len(indices) for indices in targets.values()))


_KEPT_EVALUE = 300  # characters of an error message kept once the output budget is spent
