"""A jupyter_client kernel manager whose kernels start inside the sandbox.

The kernel's working directory becomes a scratch copy of the submission folder, its sockets are unix
sockets in that scratch tree (so it needs no network at all), and its command is wrapped by
``autograder.sandbox.launch``, which confines the process before it becomes the kernel.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import typing as t
from queue import Empty

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import ensure_async
from traitlets import DottedObjectName, Instance, Type

from autograder.probe.contract import CALL_SECONDS_ENV

from . import limits as limit_tools
from .config import Sandbox
from .plan import Scratch, grader_readable_by_kernel

RECONNECT_MS = 5


class QuickStartClient(AsyncKernelClient):
    """jupyter_client's readiness check waits 0.2 s for an IOPub message after each kernel_info reply
    (the subscription may not be connected yet); polling every 20 ms gets the guarantee sooner. The
    guarantee is kept strict: the reply, and the IOPub message, must be about a kernel_info request sent
    by this call, so that nothing left over from a kernel that was restarted counts."""

    def _context_default(self):
        """The client's own ZMQ context, whose sockets retry a refused connection every 5 ms instead of ZMQ's
        100 ms: the client connects while the kernel is still starting (its socket files do not exist yet),
        and the 100 ms wait for the next attempt was most of a forked kernel's start."""
        context = super()._context_default()
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        return context

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        sent: set[str] = set()
        while True:
            sent.add(self.kernel_info())
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                msg = None
            if (msg is not None and msg["msg_type"] == "kernel_info_reply"
                    and msg.get("parent_header", {}).get("msg_id") in sent and await self._iopub_answers(sent)):
                self._handle_kernel_info_reply(msg)
                while True:  # drop the status messages of the earlier attempts
                    try:
                        await ensure_async(self.iopub_channel.get_msg(timeout=0))
                    except Empty:
                        break
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    async def _iopub_answers(self, sent: set[str]) -> bool:
        """True when IOPub delivers a message about one of ``sent`` (the subscription is live); False when
        it stays silent for 20 ms. Anything else it delivers first (older messages) is dropped."""
        while True:
            try:
                msg = await ensure_async(self.iopub_channel.get_msg(timeout=0.02))
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") in sent:
                return True

    # jupyter_client's AsyncKernelClient binds ``wait_for_ready`` to the base class's coroutine
    # (``wait_for_ready = KernelClient._async_wait_for_ready``), so the override above was never called
    # through it: bind ours.
    wait_for_ready = _async_wait_for_ready


def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SandboxedKernelManager(AsyncKernelManager):
    sandbox = Instance(Sandbox, allow_none=True)
    client_class = DottedObjectName("autograder.sandbox.kernel_manager.QuickStartClient")
    client_factory = Type(QuickStartClient, klass="jupyter_client.asynchronous.AsyncKernelClient")
    _scratch: Scratch | None = None
    _cgroup = None

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        if self.sandbox is None:
            self.sandbox = Sandbox(parent=self)

    async def _async_pre_start_kernel(self, **kw: t.Any):
        if not self.sandbox.enabled:
            return await super()._async_pre_start_kernel(**kw)
        if self._scratch is None:  # a restart keeps its scratch directory
            self._scratch = Scratch.create(kw.get("cwd"))
            if os.geteuid() == 0:
                self._cgroup = limit_tools.create_pids_cgroup(self.sandbox.max_processes)
        self.transport = "ipc"
        self.ip = str(self._scratch.kipc / "k")  # the kernel binds in its private ipc folder: reached via kipc
        self.connection_file = str(self._scratch.ipc / "kernel.json")
        env = dict(kw.get("env") or os.environ)
        env[CALL_SECONDS_ENV] = str(self.sandbox.call_seconds)
        plan = self._scratch.plan(env, limits=self.sandbox.limits(), network=self.sandbox.network,
                                  extra_read=self.sandbox.extra_read_paths, require=self.sandbox.require,
                                  cgroup=str(self._cgroup) if self._cgroup else None, disk_mb=self.sandbox.disk_mb)
        leak = grader_readable_by_kernel(plan)
        if leak:
            self.log.warning("autograder sandbox: the grading package lies inside %s, which kernels may read; "
                             "install it editable (pip install -e .) so rubrics stay out of reach", leak)
        plan_file = self._scratch.root / "plan.json"
        plan.dump(plan_file)
        # The launcher starts in the scratch root, which no kernel can write to, and with -P: nothing a
        # student wrote is on its import path before (or after) confinement.
        kw.update(cwd=str(self._scratch.root), env=plan.env)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        wrapped = [sys.executable, "-P", "-m", "autograder.sandbox.launch", str(plan_file), "--", *kernel_cmd]
        # The launcher runs before confinement with the grader's own environment (the kernel gets
        # ``plan.env`` when the launcher replaces itself with it).
        kw["env"] = {**env, "PYTHONPATH": _package_parent()}
        return wrapped, kw

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: t.Any) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self._scratch is not None:
            self._scratch.link_ipc(self.provisioner.pid)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        pgid = getattr(self.provisioner, "pgid", None)
        if pgid and self.sandbox.enabled:  # processes the student's code left behind in the kernel's group
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            if self._scratch is not None:
                self._scratch.cleanup()
                self._scratch = None
            limit_tools.remove_cgroup(self._cgroup)
            self._cgroup = None
