"""A run's kernels keep their scratch folders in one folder of the run's (``plan.RunScratch``): removed when the
run ends, however it ends — and, if it was killed outright, by the next run."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.sandbox.plan import RunScratch, Scratch, sweep_abandoned_runs

HOLD = """
import sys, time
from autograder.sandbox.plan import RunScratch, Scratch
run = RunScratch()
scratch = Scratch.create(sys.argv[1])
print(run.folder, scratch.root, flush=True)
time.sleep(600)
"""


def test_a_killed_runs_folder_is_removed_by_the_next_run_and_a_live_ones_is_not(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        folder, scratch = (Path(p) for p in holder.stdout.readline().split())
        assert scratch.parent == folder and (scratch / "lib").is_dir()   # a kernel's folder, in the run's
        assert folder not in sweep_abandoned_runs() and folder.is_dir()  # its run is alive
    finally:
        holder.kill()
        holder.wait()
    assert folder.is_dir()                                                # killed: nobody removed it
    with RunScratch() as live:                                            # the next run sweeps it away
        assert not folder.exists()
        assert live.folder not in sweep_abandoned_runs() and live.folder.is_dir()
    assert not live.folder.exists()


def test_kernel_folders_go_in_the_open_run_and_else_in_the_process_own_run_folder(tmp_path):
    with RunScratch() as run:
        inside = Scratch.create(tmp_path)
        assert inside.root.parent == run.folder
        assert oct(run.folder.stat().st_mode & 0o777) == "0o711"         # kernels only pass through
    assert not inside.root.exists()
    outside = Scratch.create(tmp_path)                                    # e.g. `nbgrader autograde`'s kernels
    try:
        own = outside.root.parent
        assert own.name.startswith("agsb-run-") and own != run.folder and (own / RunScratch.LOCK).exists()
        assert own not in sweep_abandoned_runs()                          # this process is alive
    finally:
        outside.cleanup()


def test_a_killed_nbgrader_like_process_leaves_its_folder_to_the_next_run(tmp_path):
    """A process that makes kernel folders outside any run, then is killed outright."""
    code = ("import sys, time\nfrom autograder.sandbox.plan import Scratch\n"
            "print(Scratch.create(sys.argv[1]).root, flush=True)\ntime.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        scratch = Path(holder.stdout.readline().strip())
    finally:
        holder.kill()
        holder.wait()
    assert scratch.is_dir() and scratch.parent.name.startswith("agsb-run-")
    assert scratch.parent in sweep_abandoned_runs() and not scratch.parent.exists()


def test_a_process_that_ends_removes_its_own_folder(tmp_path):
    code = "import sys\nfrom autograder.sandbox.plan import Scratch\nprint(Scratch.create(sys.argv[1]).root)"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    scratch = Path(done.stdout.strip())
    assert scratch.parent.name.startswith("agsb-run-") and not scratch.parent.exists()


def test_a_run_folder_of_another_user_or_without_its_lock_is_left_alone():
    others = []
    for owner in ("someone else", "no lock"):
        folder = Path(tempfile.mkdtemp(prefix="agsb-run-", dir="/tmp"))
        others.append(folder)
        if owner == "someone else":
            lock = folder / RunScratch.LOCK
            lock.write_text("")
            if os.geteuid() == 0:
                os.chown(lock, 54321, 54321)
            else:  # an ordinary user cannot give a file away: a lock held elsewhere stands in for it
                holder = os.open(lock, os.O_RDONLY)
                fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        removed = sweep_abandoned_runs()
        assert not set(removed) & set(others)
        assert all(folder.is_dir() for folder in others)
    finally:
        for folder in others:
            subprocess.run(["rm", "-rf", str(folder)], check=True)
