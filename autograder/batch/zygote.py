"""The grader's side of the kernel zygote: ``Zygote`` starts the warm parent process
(``autograder.batch.zygote_process``) and makes private connections to it; ``ZygoteClient`` talks over
one of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path


class Zygote:
    """The warm parent process (``autograder.batch.zygote_process``); start it early, it warms up on its own.

    It is reachable through inherited socket pairs only: no path names it, so no kernel can find it.
    ``connect()`` makes one private connection (one per worker) and hands the zygote its other end
    over the control pair; the zygote accepts only ends made by this process (peer credentials)."""

    def __init__(self, course_root: Path | str, idle_seconds: float | None = None) -> None:
        """``idle_seconds``: the zygote stops itself after that long without a request and without a running
        kernel (None: it runs until this process stops it or exits)."""
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, "PYTHONNOUSERSITE": "1"}
        argv = [sys.executable, "-P", "-m", "autograder.batch.zygote_process", str(theirs.fileno())]
        if idle_seconds is not None:
            argv.append(str(idle_seconds))
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=str(course_root), env=env,
                                        start_new_session=True, pass_fds=(theirs.fileno(),))
        theirs.close()
        self._ready = False

    def connect(self) -> socket.socket:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        socket.send_fds(self._control, [b"c"], [theirs.fileno()])
        theirs.close()
        return mine

    def wait_ready(self) -> None:
        if not self._ready:
            line = self.process.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError("the kernel zygote did not start (see the messages above)")
            self._ready = True

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._control.close()


class ZygoteClient:
    """A line-delimited JSON conversation with the zygote over one private connection (one per worker)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self._buffer = b""

    def request(self, **message) -> dict:
        with self._lock:
            self._sock.sendall(json.dumps(message).encode() + b"\n")
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the kernel zygote closed the connection")
                self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"kernel zygote: {reply['error']}")
        return reply

    def close(self) -> None:
        self._sock.close()
