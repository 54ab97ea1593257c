"""``python -m autograder.sandbox.launch PLAN.json -- KERNEL COMMAND...``

Confines itself according to the plan, then replaces itself with the kernel. Started by the sandboxed
kernel manager in place of the plain kernel command.
"""

from __future__ import annotations

import json
import os
import sys

from .confine import confine
from .plan import Plan, SandboxError


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1:
        sys.stderr.write("usage: python -m autograder.sandbox.launch PLAN.json -- COMMAND...\n")
        return 2
    plan = Plan.load(argv[0])
    command = argv[2:]
    try:
        report = confine(plan)
        with open(os.path.join(plan.scratch, "ipc", "confinement.json"), "w") as fh:
            json.dump(report, fh)
    except SandboxError as exc:
        sys.stderr.write(f"autograder sandbox: refusing to start the kernel: {exc}\n")
        return 3
    env = dict(plan.env)
    # jupyter_client adds these when it launches us; the kernel uses them to watch its parent.
    env.update({k: v for k, v in os.environ.items() if k.startswith("JPY_")})
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
