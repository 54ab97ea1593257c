"""``python -P -m autograder.sandbox.launch PLAN.json -- KERNEL COMMAND...``

Confines itself according to the plan (the process splits: the keeper stays, the confined child
continues here), then replaces itself with the kernel. Started by the sandboxed kernel manager in
place of the plain kernel command, from the scratch root (no folder a student can write to is on its
import path: ``-P`` and that working folder).
"""

from __future__ import annotations

import os
import sys

from .confine import confine
from .plan import Plan, SandboxError, kernel_environment


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1:
        sys.stderr.write("usage: python -m autograder.sandbox.launch PLAN.json -- COMMAND...\n")
        return 2
    plan = Plan.load(argv[0])
    command = argv[2:]
    try:
        confine(plan)
    except SandboxError as exc:
        sys.stderr.write(f"autograder sandbox: refusing to start the kernel: {exc}\n")
        return 3
    os.execve(command[0], command, kernel_environment(plan, dict(os.environ)))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
