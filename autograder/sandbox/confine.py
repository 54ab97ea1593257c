"""Apply a sandbox plan to the current process: cgroup, namespaces and private mounts, a pid namespace
with its own ``/proc``, the kernel's own uid without capabilities, rlimits, Landlock, working folder.

The calling process splits (``reaper``): it stays outside as the keeper, and only its child — the one
that returns from ``confine`` — goes on to become the kernel. Each layer is tried in turn; a missing
one is reported loudly, and refused if the plan requires it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import identity, landlock, limits, namespaces, reaper
from .plan import LEVELS, Plan, SandboxError, confinement_level, read_connection, unstage


def warn(message: str) -> None:
    sys.stderr.write(f"\n*** autograder sandbox WARNING: {message}\n")
    sys.stderr.flush()


def confine(plan: Plan) -> dict:
    """Confine; returns (in the kernel process only) what was enforced."""
    report: dict = {"layers": [], "missing": []}
    if plan.cgroup:
        try:
            limits.join_cgroup(Path(plan.cgroup))
            report["layers"].append("pids cgroup")
        except OSError as exc:
            report["missing"].append(f"pids cgroup ({exc})")
    connection = read_connection(plan)
    try:
        report["namespaces"] = namespaces.unshare(network=plan.network)
        report["layers"].append("mount, pid, IPC" + ("" if plan.network else ", network") + " namespaces")
    except namespaces.NamespacesUnavailable as exc:
        report["missing"].append(f"namespaces ({exc}): the kernel sees the host's processes and network")
    isolated = "namespaces" in report
    if isolated:
        report["tmpfs"] = namespaces.private_tmpfs(plan.private_dirs, plan.uid, plan.gid)
        if plan.uid != os.geteuid():
            report["exposed"] = namespaces.expose(plan.readable, plan.uid, plan.gid)
    if len(report.get("tmpfs", [])) < len(plan.private_dirs):
        report["missing"].append("private tmpfs: the disk space a kernel can fill is not capped")
    unstage(plan, connection)
    return reaper.split(plan.report, lambda: _confine_kernel(plan, report, isolated))


def _confine_kernel(plan: Plan, report: dict, isolated: bool) -> dict:
    """In the kernel process: its own /proc, its own uid, rlimits, Landlock, its working folder."""
    if isolated:
        namespaces.mount_proc()
        report["layers"].append("own /proc")
    report["identity"] = identity.become(plan.uid, plan.gid)
    report["layers"].append(f"uid {report['identity']['uid']} without capabilities")
    report["rlimits"] = limits.apply(plan.limits)
    report["layers"].append("rlimits")
    try:
        report["landlock"] = landlock.restrict(plan.readable, plan.writable, deny_tcp=not plan.network)
        report["layers"].append(f"landlock ABI {report['landlock']['abi']}")
    except landlock.LandlockUnavailable as exc:
        report["missing"].append(f"landlock ({exc}): the kernel can read and write whatever its uid can")
    report["level"] = confinement_level(landlock="landlock" in report, namespaces=isolated)
    if LEVELS[report["level"]] < LEVELS.get(plan.require, 0):
        raise SandboxError(f"sandbox level {plan.require!r} required but only {report['layers']} available; "
                           f"missing: {report['missing']}")
    for missing in report["missing"]:
        warn(missing)
    os.chdir(plan.workdir)
    return report
