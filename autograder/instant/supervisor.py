"""``autograder serve --restart``: keep the instant feedback service running.

The service runs as a child process; when it dies (a crash, an out-of-memory kill, a ``kill -9``) it is started
again after ``RESTART_FIRST`` seconds, waiting twice as long after each death that follows within
``HEALTHY_SECONDS`` of a start, up to ``RESTART_MAX``. A new service queues whatever was not answered (its state
is on disk), so a death costs the students waiting about the service's start-up, not JupyterHub's 30 s poll of
its managed services. SIGTERM or SIGINT stop the service (SIGTERM, then SIGKILL after ``STOP_SECONDS``) and then
the supervisor. The child dies with the supervisor (parent-death signal): there is never a second service.

A child that ends with 0 was stopped on purpose, and with 2 met a configuration error (it said which on
stderr) that a restart would only repeat: the supervisor ends with the same code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ..batch.zygote_process import die_with_parent

RESTART_FIRST = 0.5
RESTART_MAX = 30.0
HEALTHY_SECONDS = 60.0
STOP_SECONDS = 20.0
FINAL = (0, 2)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def supervise(command: list[str]) -> int:
    """Run ``command`` until it ends on purpose or this process is told to stop; returns the exit code."""
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    me = os.getpid()
    delay = RESTART_FIRST
    while True:
        started = time.monotonic()
        # the child gets SIGTERM when we die (set between its fork and exec): it stops as when the hub stops it
        child = subprocess.Popen(command, preexec_fn=lambda: die_with_parent(me))  # noqa: PLW1509
        if stopping:  # told to stop while it was being started
            child.send_signal(signal.SIGTERM)
        code = _wait(child, lambda: stopping)
        if stopping:
            return 0
        if code in FINAL:
            return code
        if time.monotonic() - started >= HEALTHY_SECONDS:
            delay = RESTART_FIRST
        sys.stderr.write(f"autograder serve: the instant feedback service stopped ({_describe(code)}) after "
                         f"{time.monotonic() - started:.0f} s; starting it again in {delay:g} s\n")
        sys.stderr.flush()
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if stopping:
            return 0
        delay = min(delay * 2, RESTART_MAX)


def _wait(child: subprocess.Popen, stopping) -> int:
    """The child's exit code; once ``stopping()``, SIGKILL if it has not ended within ``STOP_SECONDS``."""
    told = None
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if stopping():
            told = told or time.monotonic()
            if time.monotonic() - told > STOP_SECONDS:
                child.kill()
