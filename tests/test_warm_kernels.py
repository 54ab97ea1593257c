"""Plain ``nbgrader autograde`` forks its kernels from one warm zygote per process
(``autograder.nbgrader_plugins.warm_kernels``): started on the first kernel, reused, gone with the process
or after an idle spell, and switched off by ``c.Sandbox.warm_kernels = False``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from autograder.batch.forked_kernel import ForkedKernelManager
from autograder.nbgrader_plugins import warm_kernels
from autograder.nbgrader_plugins.execute import GuardedExecute
from autograder.sandbox.kernel_manager import SandboxedKernelManager

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the full sandbox needs root on this machine")

PROBE = "import os, sys\nprint(os.getcwd(), 'torch' in sys.modules)"


def _execute(root: Path, **sandbox) -> tuple[GuardedExecute, str]:
    config = Config({"CourseDirectory": {"root": str(root)}, "Sandbox": sandbox})
    pp = GuardedExecute(config=config, timeout=120)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    (root / "work").mkdir(exist_ok=True)
    nb, _ = pp.preprocess(nb, {"metadata": {"path": str(root / "work")}})
    outputs = nb.cells[0].outputs
    assert outputs and outputs[0].output_type == "stream", outputs
    return pp, outputs[0].text


def _zygote_pid() -> int | None:
    current = warm_kernels._current
    return None if current is None else current[0].process.pid


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def no_zygote():
    warm_kernels.stop()
    yield
    warm_kernels.stop()


def test_kernels_are_forked_from_one_zygote_which_stops_with_the_grader(tmp_path, no_zygote):
    first, text = _execute(tmp_path)
    assert first.kernel_manager_class is ForkedKernelManager and first.shutdown_kernel == "immediate"
    assert text.split()[-1] == "True", "a forked kernel finds torch already imported"
    assert not text.startswith(str(tmp_path)), "the kernel runs in its scratch copy, not the course"
    pid = _zygote_pid()
    assert pid is not None
    second, _ = _execute(tmp_path)
    assert _zygote_pid() == pid, "the second notebook's kernel came from the same zygote"
    warm_kernels.stop()
    assert _gone(pid, 10) and _zygote_pid() is None


def test_an_idle_zygote_stops_itself_and_the_next_kernel_starts_a_new_one(tmp_path, no_zygote, monkeypatch):
    monkeypatch.setattr(warm_kernels, "IDLE_SECONDS", 1)
    _execute(tmp_path)
    pid = _zygote_pid()
    assert _gone(pid, 15), "an idle zygote with no kernel stops itself"
    _execute(tmp_path)
    assert _zygote_pid() not in (None, pid)


def test_warm_kernels_off_starts_a_new_interpreter_per_kernel(tmp_path, no_zygote):
    pp, text = _execute(tmp_path, warm_kernels=False)
    assert pp.kernel_manager_class is SandboxedKernelManager and _zygote_pid() is None
    assert text.split()[-1] == "False", "a new interpreter has imported nothing yet"


def test_a_grader_killed_outright_takes_its_zygote_and_kernels_along(tmp_path):
    """SIGKILL leaves no atexit: the zygote notices its grader is gone and stops with every kernel."""
    script = (
        "import sys, time, nbformat\n"
        "from traitlets.config import Config\n"
        "from autograder.nbgrader_plugins import warm_kernels\n"
        "from autograder.nbgrader_plugins.execute import GuardedExecute\n"
        f"root = {str(tmp_path)!r}\n"
        "pp = GuardedExecute(config=Config({'CourseDirectory': {'root': root}}), timeout=120)\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
        "pp.preprocess(nb, {'metadata': {'path': root}})\n"
        "print(warm_kernels._current[0].process.pid, flush=True)\n"
        "time.sleep(600)\n")
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        zygote = int(grader.stdout.readline())
    finally:
        grader.kill()
        grader.wait()
    assert _gone(zygote, 10), "the zygote outlived its grader"
