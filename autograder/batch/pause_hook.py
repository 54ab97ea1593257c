"""A synchronisation point for tests of interrupted runs (off unless both variables are set).

``AUTOGRADER_PAUSE_AFTER=N`` and ``AUTOGRADER_PAUSE_FD=<fd>``: once N submissions are finished and
written (notebooks, gradebook rows, resume markers), the coordinator stops taking results, writes
``paused after N`` to the inherited file descriptor and waits until it is interrupted or killed. A test
reads that line from its pipe and then sends the signal: the run is interrupted at a known point, with
exactly N submissions finished, however fast or slow the machine is.
"""

from __future__ import annotations

import os
import signal

AFTER = "AUTOGRADER_PAUSE_AFTER"
FD = "AUTOGRADER_PAUSE_FD"


class PauseHook:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        after, fd = environ.get(AFTER), environ.get(FD)
        self.after = int(after) if after and fd else None
        self.fd = int(fd) if after and fd else None

    def due(self, finished: int) -> bool:
        return self.after is not None and finished >= self.after

    def wait(self, finished: int) -> None:
        """Tell the test where the run stands, then wait for its signal (SIGINT or SIGTERM end the wait
        with KeyboardInterrupt, as at any other point of the run)."""
        os.write(self.fd, f"paused after {finished}\n".encode())
        os.close(self.fd)
        while True:
            signal.pause()
