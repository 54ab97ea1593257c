"""``python tests/run_as_user.py UID FOLDER -- COMMAND...``: run COMMAND as an ordinary user (as root only).

The tests use it to grade a course as an unprivileged instructor would. The Python environment may
lie in a folder that user cannot enter (``/root``): the command gets a mount namespace of its own in
which the environment is exposed read-only (the same mechanism the sandbox uses for kernels), FOLDER
is handed to the user, and then root's rights are given up for good.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.sandbox import namespaces  # noqa: E402
from autograder.sandbox.plan import python_paths  # noqa: E402


def main(argv: list[str]) -> int:
    uid, folder, command = int(argv[0]), argv[1], argv[3:]
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(namespaces.CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    libc.mount(b"none", b"/", None, ctypes.c_ulong(namespaces.MS_REC | namespaces.MS_PRIVATE), None)
    repository = str(Path(__file__).resolve().parents[1])
    namespaces.expose([*python_paths(), repository], uid, uid, writable=(folder,))
    for path in [Path(folder), *Path(folder).rglob("*")]:
        os.lchown(path, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.chdir(folder)
    os.execvpe(command[0], command, {**os.environ, "HOME": folder, "USER": "instructor", "LOGNAME": "instructor"})
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
