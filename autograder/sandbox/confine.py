"""Apply a sandbox plan to the current process: cgroup, namespaces, rlimits, Landlock, working directory.

Each layer is tried in turn; a missing one is reported loudly (and refused if the plan requires it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import landlock, limits, namespaces
from .plan import Plan, SandboxError, unstage

LEVELS = {"none": 0, "landlock": 1, "full": 2}


def warn(message: str) -> None:
    sys.stderr.write(f"\n*** autograder sandbox WARNING: {message}\n")
    sys.stderr.flush()


def confine(plan: Plan) -> dict:
    report: dict = {"layers": [], "missing": []}
    if plan.cgroup:
        try:
            limits.join_cgroup(Path(plan.cgroup))
            report["layers"].append("pids cgroup")
        except OSError as exc:
            report["missing"].append(f"pids cgroup ({exc})")
    try:
        report["namespaces"] = namespaces.enter(network=plan.network, private_dirs=tuple(plan.private_dirs),
                                                size_mb=plan.disk_mb)
        report["layers"].append("user+network namespaces" if not plan.network else "user namespace")
    except namespaces.NamespacesUnavailable as exc:
        report["missing"].append(f"namespaces ({exc}): the kernel keeps the network")
    if plan.private_dirs and not report.get("namespaces", {}).get("tmpfs"):
        report["missing"].append("private tmpfs: the disk space a kernel can fill is not capped")
    unstage(plan)
    report["rlimits"] = limits.apply(plan.limits)
    report["layers"].append("rlimits")
    try:
        report["landlock"] = landlock.restrict(plan.readable, plan.writable, deny_tcp=not plan.network)
        report["layers"].append(f"landlock ABI {report['landlock']['abi']}")
    except landlock.LandlockUnavailable as exc:
        report["missing"].append(f"landlock ({exc}): the kernel can read and write whatever the grader can")
    has_landlock = "landlock" in report
    level = 2 if has_landlock and "namespaces" in report else 1 if has_landlock else 0
    report["level"] = next(name for name, value in LEVELS.items() if value == level)
    if level < LEVELS.get(plan.require, 0):
        raise SandboxError(f"sandbox level {plan.require!r} required but only {report['layers']} available; "
                           f"missing: {report['missing']}")
    for missing in report["missing"]:
        warn(missing)
    os.chdir(plan.workdir)
    return report
