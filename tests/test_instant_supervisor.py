"""``autograder serve --restart`` (autograder/instant/supervisor.py), with a small child in place of the service:
a dead service is started again with growing waits, a stop reaches the service, a service stopped on purpose
or misconfigured is not restarted, and the service never outlives its supervisor."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import os, pathlib, signal, sys, time
log, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
def note(word):
    with open(log, "a") as fh:
        fh.write(f"{word} {os.getpid()}\\n")
def term(*_):
    note("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignores-term" else term)
note("start")  # after the handler: a test that has read "start" may send the stop at once
if mode.startswith("exit"):
    sys.exit(int(mode[4:]))
while True:
    time.sleep(0.05)
"""
SUPERVISOR = ("import sys; from autograder.instant import supervisor as s; s.RESTART_FIRST = 0.2; "
              "s.STOP_SECONDS = 1.0; sys.exit(s.supervise(sys.argv[1:]))")
DEADLINE = 60.0


class Run:
    def __init__(self, tmp: Path, mode: str, prefix: tuple[str, ...] = ()):
        (tmp / "child.py").write_text(CHILD)
        self.log = tmp / "log"
        self.log.touch()
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-c", SUPERVISOR, sys.executable, str(tmp / "child.py"), str(self.log), mode],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)

    def events(self) -> list[tuple[str, int]]:
        return [(word, int(pid)) for word, pid in (line.split() for line in self.log.read_text().splitlines())]

    def starts(self) -> list[int]:
        return [pid for word, pid in self.events() if word == "start"]

    def until(self, check, what: str):
        deadline = time.monotonic() + DEADLINE
        while not (value := check()):
            assert time.monotonic() < deadline, f"{what}: not within {DEADLINE:.0f} s; log: {self.events()}"
            time.sleep(0.05)
        return value

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=DEADLINE)
        return code, self.process.stderr.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_killed_service_is_started_again_and_a_stop_reaches_it(tmp_path):
    run = Run(tmp_path, "runs")
    first = run.until(lambda: run.starts()[:1], "the first start")[0]
    os.kill(first, signal.SIGKILL)
    second = run.until(lambda: run.starts()[1:2], "the start after the kill")[0]
    assert second != first and _alive(second)
    run.process.send_signal(signal.SIGTERM)
    code, said = run.finish()
    assert code == 0
    assert ("term", second) in run.events()          # the service was told to stop, and stopped
    assert not _alive(second)
    assert "stopped (killed by SIGKILL)" in said and "starting it again in 0.2 s" in said
    assert len(run.starts()) == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_hubs_stop_signals_stop_the_service_then_the_supervisor(tmp_path, signum):
    run = Run(tmp_path, "runs")
    child = run.until(lambda: run.starts()[:1], "the first start")[0]
    run.process.send_signal(signum)
    code, said = run.finish()
    assert code == 0 and ("term", child) in run.events() and not _alive(child)
    assert len(run.starts()) == 1 and "starting it again" not in said


def test_a_service_that_ignores_the_stop_is_killed(tmp_path):
    run = Run(tmp_path, "ignores-term")
    child = run.until(lambda: run.starts()[:1], "the first start")[0]
    run.process.send_signal(signal.SIGTERM)
    code, _ = run.finish()
    assert code == 0 and not _alive(child) and len(run.starts()) == 1


@pytest.mark.parametrize("code", [0, 2])
def test_a_service_stopped_on_purpose_or_misconfigured_is_not_restarted(tmp_path, code):
    run = Run(tmp_path, f"exit{code}")
    assert run.finish()[0] == code
    assert len(run.starts()) == 1


def test_a_service_that_keeps_dying_is_restarted_less_and_less_often(tmp_path):
    run = Run(tmp_path, "exit1")
    run.until(lambda: len(run.starts()) >= 4, "four starts")
    run.process.send_signal(signal.SIGTERM)
    code, said = run.finish()
    waits = [line.rsplit(" in ", 1)[1] for line in said.splitlines() if "starting it again in" in line]
    assert code == 0
    assert waits[:3] == ["0.2 s", "0.4 s", "0.8 s"], said
    assert "stopped (exit status 1)" in said


def test_the_service_never_outlives_its_supervisor(tmp_path):
    run = Run(tmp_path, "runs")
    child = run.until(lambda: run.starts()[:1], "the first start")[0]
    run.process.kill()                                   # no chance to stop it: the parent-death signal does
    run.finish()
    run.until(lambda: not _alive(child), "the service ending with its supervisor")
    assert ("term", child) in run.events()


@pytest.mark.parametrize("argv", [
    ["serve", "--restart"],
    ["serve", "--restart", "--poll", "0.25", "--workers", "3", "--queue-bound", "7", "--state-dir", "/srv/st",
     "--exchange-url", "http://127.0.0.1:9/services/x/", "--assignment", "ps1", "--assignment", "ps2"],
])
def test_the_supervised_service_gets_every_option_but_restart(argv):
    from autograder.cli import _serve_options, build_parser

    parser = build_parser()
    given = parser.parse_args(argv)
    child = parser.parse_args(["serve", *_serve_options(given)])
    assert not child.restart
    assert {**vars(child), "restart": True} == vars(given)


def test_a_supervisor_that_is_pid_1_runs_its_service(tmp_path):
    """As a container's entry point the supervisor is pid 1: its service must not take that for an orphaning."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--pid", "--fork", "true"], capture_output=True).returncode:
        pytest.skip("no pid namespace to run the supervisor as pid 1 in")
    run = Run(tmp_path, "exit1", prefix=(unshare, "--pid", "--fork", "--kill-child"))
    run.until(lambda: len(run.starts()) >= 2, "two starts")   # started, died, started again: not silently gone
    run.process.kill()      # unshare ignores SIGTERM while it waits; --kill-child takes the namespace along
    run.finish()
