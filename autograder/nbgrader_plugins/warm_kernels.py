"""Warm kernels for plain ``nbgrader autograde``: one kernel zygote per grading process.

``GuardedExecute`` forks each student's kernel from a warm parent (``autograder.batch.zygote_process``)
instead of starting a new interpreter that imports torch again: the kernel confines itself exactly as a
fresh one does and runs the notebook as an ordinary ipykernel, so grades and outputs are the same; a
notebook's kernel start drops from seconds to about a tenth of a second.

The zygote is started on the first kernel a process needs (never by a command that runs no notebook),
stopped when the process exits, and stops itself after ``IDLE_SECONDS`` without a request and without a
running kernel (so a long-lived process, such as a Jupyter server running formgrader, does not keep it);
the next kernel then starts a new one. ``c.Sandbox.warm_kernels = False`` goes back to a new interpreter
per kernel.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable

from autograder.batch.zygote import Zygote, ZygoteClient

IDLE_SECONDS = 600

_lock = threading.Lock()
_current: tuple[Zygote, ZygoteClient, str] | None = None


def zygote_client(course_root: str, while_it_warms: Callable[[], None] | None = None) -> ZygoteClient:
    """This process's zygote connection, for kernels of the course at ``course_root``: started on first use,
    started again if the last one has exited (idle, or taken down with a thread that started it).
    ``while_it_warms`` runs in this process while a new zygote warms up (the other core's work)."""
    global _current
    course_root = os.path.abspath(course_root)
    with _lock:
        if _current is not None:
            zygote, client, root = _current
            if zygote.process.poll() is None and root == course_root:
                return client
            _stop(zygote, client)
            _current = None
        zygote = Zygote(course_root, idle_seconds=IDLE_SECONDS)
        try:
            client = ZygoteClient(zygote.connect())
            if while_it_warms is not None:
                while_it_warms()
            zygote.wait_ready()
        except BaseException:
            zygote.close()
            raise
        _current = (zygote, client, course_root)
        return client


def _stop(zygote: Zygote, client: ZygoteClient) -> None:
    client.close()
    zygote.close()


@atexit.register
def stop() -> None:
    """Stop this process's zygote (and any kernel it still has); the next kernel starts a new one."""
    global _current
    with _lock:
        if _current is not None:
            _stop(*_current[:2])
            _current = None
