"""Resource limits of a sandboxed kernel: address space, CPU time, processes, file size, open files.

rlimits are enforced per process by the kernel. ``RLIMIT_NPROC`` is not enforced for root, so as root
the number of processes is capped with a ``pids`` cgroup when one can be created.
"""

from __future__ import annotations

import os
import resource
import signal
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

MB = 1024 * 1024


@dataclass
class Limits:
    memory_mb: int = 3072          # address space of the kernel process (RLIMIT_AS)
    cpu_seconds: int = 600         # CPU time of the kernel process (RLIMIT_CPU)
    max_processes: int = 64        # processes and threads (RLIMIT_NPROC, or a pids cgroup as root)
    max_file_mb: int = 64          # largest file the kernel may write (RLIMIT_FSIZE)
    max_open_files: int = 512      # RLIMIT_NOFILE

    def to_dict(self) -> dict:
        return asdict(self)


def apply(limits: Limits) -> dict:
    """Set the rlimits of the calling process (inherited by everything it starts)."""
    applied = {}
    wanted = {
        "RLIMIT_AS": limits.memory_mb * MB,
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_FSIZE": limits.max_file_mb * MB,
        "RLIMIT_NOFILE": limits.max_open_files,
        "RLIMIT_CORE": 0,
    }
    if os.geteuid() != 0:
        wanted["RLIMIT_NPROC"] = limits.max_processes
    for name, value in wanted.items():
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
        applied[name] = value
    return applied


def _pids_root() -> Path | None:
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists():
        return v1
    v2 = Path("/sys/fs/cgroup")
    control = v2 / "cgroup.subtree_control"
    if control.exists() and "pids" in control.read_text(errors="ignore").split():
        return v2
    return None


def create_pids_cgroup(max_processes: int) -> Path | None:
    """A fresh pids cgroup with ``pids.max`` set, or None where cgroups cannot be written."""
    root = _pids_root()
    if root is None:
        return None
    group = root / "autograder" / uuid.uuid4().hex[:12]
    try:
        group.mkdir(parents=True)
        (group / "pids.max").write_text(str(max_processes))
    except OSError:
        try:
            group.rmdir()
        except OSError:
            pass
        return None
    return group


def join_cgroup(group: Path) -> None:
    (group / "cgroup.procs").write_text(str(os.getpid()))


def kill_members(group: Path) -> int | None:
    """SIGKILL every process in the cgroup; how many there were (None: the cgroup cannot be read)."""
    try:
        pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return None
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(pids)


def remove_cgroup(group: Path | str | None) -> None:
    """Kill whatever the kernel left behind in its cgroup (forked children), then remove the cgroup."""
    if not group:
        return
    group = Path(group)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        left = kill_members(group)
        if left is None:
            return
        if not left:
            break
        time.sleep(0.002)  # a killed kernel leaves the cgroup within milliseconds: look again soon
    try:
        group.rmdir()
    except OSError:
        pass
