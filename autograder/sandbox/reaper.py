"""The two processes of a confined kernel.

The process the grader started (or the zygote forked) keeps its pid, which is what jupyter_client
watches and signals, but the kernel itself must be the first process of a new pid namespace, and only
a *child* enters the namespace its parent created. So the confined process splits:

* the **keeper** (the original pid, outside the namespace, never runs student code) waits for the
  kernel, writes its confinement report for the grader, ends it when asked to stop, and exits with
  its status;
* the **kernel** (pid 1 in its namespace) finishes its confinement and becomes the kernel. It dies
  with the keeper, and when it dies the namespace's every other process dies with it.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def split(report_path: str, confine_kernel: Callable[[], dict]) -> dict:
    """Fork. In the child, run ``confine_kernel`` and return its report: the child goes on to become
    the kernel. The parent never returns: it reports, waits and exits with the kernel's status."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        try:
            report = confine_kernel()
        except BaseException as exc:
            os.write(write, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            raise
        os.write(write, json.dumps(report).encode())
        os.close(write)
        return report
    os.close(write)
    _keep(pid, read, report_path)
    raise AssertionError("unreachable")


def _keep(kernel: int, reports, report_path: str) -> None:
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)  # an interrupt is for the kernel (same process group)

    def stop(signum, frame):
        try:
            os.kill(kernel, signal.SIGKILL)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, stop)
    chunks = []
    while True:
        try:
            chunk = os.read(reports, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reports)
    try:
        report = json.loads(b"".join(chunks) or b'{"error": "the kernel ended before it was confined"}')
    except ValueError:
        report = {"error": "the kernel's confinement report was unreadable"}
    try:
        with open(report_path, "w") as fh:
            json.dump(report, fh)
    except OSError:
        pass
    _wait_for(kernel)


def _wait_for(kernel: int) -> None:
    """Wait until the kernel ends, or the keeper's own parent (the grader) does: then end the kernel.
    Exits with the kernel's status."""
    parent = os.getppid()
    watched = []
    for pid in (kernel, parent):
        try:
            watched.append(os.pidfd_open(pid))
        except (AttributeError, OSError):
            pass
    while True:
        if len(watched) == 2:
            select.select(watched, [], [])
        else:
            time.sleep(0.5)  # no pidfds on this kernel: look again
        if os.getppid() != parent:
            try:
                os.kill(kernel, signal.SIGKILL)
            except OSError:
                pass
        try:
            done, status = os.waitpid(kernel, 0 if os.getppid() != parent else os.WNOHANG)
        except ChildProcessError:
            os._exit(0)
        if done:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
