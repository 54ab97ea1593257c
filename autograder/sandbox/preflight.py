"""Before any grading: can this host confine kernels as far as ``c.Sandbox.require`` asks?

Grading refuses to start, with a message that names what is missing and the setting that accepts
weaker confinement, rather than discovering it kernel by kernel. The default is ``"full"``: student
code never runs with less than namespaces and Landlock unless the instructor has said so in
``nbgrader_config.py``.
"""

from __future__ import annotations

import functools
import os

from . import landlock, namespaces
from .plan import LEVELS, SandboxError, confinement_level


def _namespaces_work() -> bool:
    """Try, in a throwaway child, what each kernel's launcher will do."""
    pid = os.fork()
    if pid == 0:
        try:
            namespaces.unshare(network=False)
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@functools.cache
def missing_layers() -> tuple[str, ...]:
    missing = []
    if landlock.abi_version() < 1:
        missing.append("Landlock (Linux 5.13 or later, with landlock among the enabled security modules)")
    if not _namespaces_work():
        missing.append("namespaces (unprivileged user namespaces are disabled on this host; run as root, or "
                       "allow them: sysctl kernel.unprivileged_userns_clone=1 or, on Ubuntu, "
                       "kernel.apparmor_restrict_unprivileged_userns=0)")
    return tuple(missing)


def level(missing: tuple[str, ...]) -> str:
    return confinement_level(landlock=not any(m.startswith("Landlock") for m in missing),
                             namespaces=not any(m.startswith("namespaces") for m in missing))


def check(require: str) -> None:
    """Raise SandboxError if this host confines kernels less than ``require``."""
    missing = missing_layers()
    available = level(missing)
    if LEVELS[available] < LEVELS.get(require, 0):
        raise SandboxError(refusal(require, available, missing))


def refusal(require: str, available: str, missing: tuple[str, ...]) -> str:
    weaker = [name for name, value in LEVELS.items() if value <= LEVELS[available]]
    return (f"this host cannot confine students' kernels at the level required (c.Sandbox.require = "
            f"{require!r}); missing: {'; '.join(missing)}. Nothing was graded. To grade with weaker "
            f"confinement, set c.Sandbox.require = {weaker[-1]!r} in nbgrader_config.py (see the README's "
            f"threat model for what that leaves open).")
