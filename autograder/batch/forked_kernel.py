"""Kernels forked from the zygote, behind jupyter_client's usual KernelManager interface.

``ForkedKernelManager`` prepares the sandbox exactly like ``SandboxedKernelManager`` (scratch copy,
plan, unix-socket transport) but, instead of starting a new interpreter, asks the zygote to fork a
warm child that confines itself and becomes the kernel. nbclient (and nbgrader's ``Execute``) drive it
as any other kernel.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import time
import typing as t
import uuid

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_core.utils import ensure_event_loop, run_sync

from autograder.sandbox import limits as limit_tools
from autograder.sandbox.kernel_manager import SandboxedKernelManager

from .zygote import ZygoteClient


class ForkedProcess:
    """Enough of ``subprocess.Popen`` for jupyter_client, for a process that is the zygote's child."""

    stdin = stdout = stderr = None  # jupyter_client closes these after wait()

    def __init__(self, pid: int, zygote: ZygoteClient) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._zygote = zygote
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            if not ready:
                return None
        else:
            try:
                os.kill(self.pid, 0)
                return None
            except ProcessLookupError:
                pass
        status = self._zygote.request(op="status", pid=self.pid)
        if status.get("running"):
            return None
        self.returncode = status.get("exit") if status.get("exit") is not None else -1
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)  # the kernel leads its own session
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ZygoteProvisioner(LocalProvisioner):
    zygote: ZygoteClient | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: t.Any):
        km = self.parent
        argv = km._kernel_argv
        env = dict(kwargs.get("env") or {})
        reply = self.zygote.request(op="fork", argv=argv, env=env, cwd=kwargs.get("cwd"), plan=km._plan_file,
                                    log=km._kernel_log, course=km._course_root)
        self.process = ForkedProcess(int(reply["pid"]), self.zygote)
        self.pid = self.process.pid
        self.pgid = self.process.pid
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        if self.process is not None:
            self.process.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        if self.process is not None:
            self.process.kill()

    async def terminate(self, restart: bool = False) -> None:
        if self.process is not None:
            self.process.terminate()


class Burials:
    """Kernels killed but not gone yet, with their scratch folder and cgroup: a batch worker does not wait for
    a killed kernel to end (its ≈1 GB address space takes ≈20 ms to tear down) before the next notebook.
    Each is awaited on the worker's event loop, which runs while the next notebook's cells do; then its cgroup
    is emptied and removed and its scratch folder deleted, as the kernel manager does at once otherwise.
    ``wait()`` waits for all of them: the worker calls it before it ends."""

    BURY_SECONDS = 5.0   # a killed process that is still there after this long is left to the cgroup removal

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def add(self, process: ForkedProcess, scratch, cgroup) -> None:
        task = ensure_event_loop().create_task(self._bury(process, scratch, cgroup))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wait(self) -> None:
        if self._tasks:
            run_sync(self._all)()

    async def _all(self) -> None:
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _bury(self, process: ForkedProcess, scratch, cgroup) -> None:
        deadline = time.monotonic() + self.BURY_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if cgroup:
            while limit_tools.kill_members(cgroup) and time.monotonic() < deadline + 1.0:
                await asyncio.sleep(0.002)
            limit_tools.remove_cgroup(cgroup)
        if scratch is not None:
            scratch.cleanup()


class ForkedKernelManager(SandboxedKernelManager):
    """Set ``ForkedKernelManager.zygote`` (a ZygoteClient) before use; a batch worker also sets ``burials``:
    its kernels are then killed without waiting for them to end (``Burials``)."""

    zygote: ZygoteClient | None = None
    course_root: str = ""
    burials: Burials | None = None
    _dying: ForkedProcess | None = None

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        """With ``burials`` and no restart to follow: SIGKILL the kernel's process group and go on; its end is
        awaited in the background. A restart waits, as jupyter_client does (the new kernel joins the same
        cgroup and scratch folder)."""
        if self.burials is None or restart or not self.has_kernel:
            await super()._async_kill_kernel(restart=restart)
            return
        await self.provisioner.kill(restart=restart)
        self._dying = self.provisioner.process

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        dying, self._dying = self._dying, None
        if dying is None or restart:
            await super()._async_cleanup_resources(restart=restart)
            return
        scratch, cgroup = self._scratch, self._cgroup
        self._scratch = self._cgroup = None  # the burial removes them once the kernel is gone
        await super()._async_cleanup_resources(restart=restart)
        self.burials.add(dying, scratch, cgroup)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Wait until the kernel process is gone, as jupyter_client does, but look every 5 ms instead of
        every 100 ms: a killed forked kernel is gone within milliseconds (its pidfd says so at once), and
        the 100 ms sleep was most of the time a kernel took to stop."""
        while await self._async_is_alive():
            await asyncio.sleep(min(pollinterval, 0.005))

    async def _async_pre_start_kernel(self, **kw: t.Any):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
        if self.provisioner is None:
            provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
            provisioner.zygote = self.zygote
            self.provisioner = provisioner
        wrapped, kw = await super()._async_pre_start_kernel(**kw)
        # wrapped = [python, -P, -m, autograder.sandbox.launch, PLAN, --, python, -m, ipykernel_launcher, ARGS]
        if "--" in wrapped:
            self._plan_file = wrapped[wrapped.index("--") - 1]
            kernel_cmd = wrapped[wrapped.index("--") + 1:]
        else:  # sandbox disabled
            self._plan_file = None
            kernel_cmd = wrapped
        self._kernel_argv = kernel_cmd[kernel_cmd.index("ipykernel_launcher") + 1:] if (
            "ipykernel_launcher" in kernel_cmd) else kernel_cmd[1:]
        scratch = self._scratch
        self._kernel_log = str(scratch.root / "kernel.log") if scratch is not None else None
        self._course_root = self.course_root
        return wrapped, kw
