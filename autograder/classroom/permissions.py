"""File permissions the classroom relies on.

Students' servers run as their own unix users, so they must be able to *run* the course's Python
environment (every folder above it searchable, the environment readable), and must *not* be able to read
the course's private parts (``source/`` with the solutions, the gradebook, submissions, grades, the hub's
state). This module checks both, tightens the private parts of the course (they are the course's, not the
instructor's home) and, for the environment, says what to change: it changes nothing above the
environment unless asked (``--fix-permissions``), and otherwise can expose the environment in a private
mount namespace of the hub (nothing on disk changes).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

PRIVATE = ("source", "gradebook.db", "gradebook.db-journal", "autograded", "submitted", "feedback", "reports",
           "exports", "roster.csv", "classroom.toml")
NOBODY = 65534  # a uid in no group of the course's files: stands for any student


def environment_paths() -> list[str]:
    """What a student's server needs to read: the interpreter, the environment, this package."""
    from ..sandbox.plan import python_paths

    package = str(Path(__file__).resolve().parents[1])
    return sorted({*python_paths(), package})


def _searchable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH)
    except OSError:
        return True


def closed_folders(paths: list[str]) -> list[str]:
    """Folders above (or at) ``paths`` that a user who is neither owner nor in the group cannot enter."""
    closed: set[str] = set()
    for path in paths:
        parts = Path(path).parts
        for depth in range(2, len(parts) + 1):
            folder = Path(*parts[:depth])
            if folder.is_dir() and not _searchable_by_others(folder):
                closed.add(str(folder))
                break
    return sorted(closed)


def unreadable_environment(paths: list[str]) -> list[str]:
    """Folders of the environment itself that others cannot read (a 0700 venv)."""
    return [p for p in paths if Path(p).is_dir() and (os.stat(p).st_mode & 0o005) != 0o005]


def advice(closed: list[str], unreadable: list[str]) -> str:
    lines = ["Students' servers run as their own unix users and cannot reach the course's Python environment:"]
    for folder in closed:
        lines.append(f"  {folder} is closed to other users (mode {stat.filemode(os.stat(folder).st_mode)}): "
                     f"`chmod o+x {folder}` lets them pass through it without listing it")
    for folder in unreadable:
        lines.append(f"  {folder} is not readable by other users: `chmod -R o+rX {folder}`")
    lines.append("Either change that yourself, run `autograder hub --fix-permissions` to have it done, or let the "
                 "hub expose the environment read-only in a private mount namespace (the default as root).")
    return "\n".join(lines)


def fix_environment(closed: list[str], unreadable: list[str]) -> list[str]:
    done = []
    for folder in closed:
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IXOTH)
        done.append(f"chmod o+x {folder}")
    for folder in unreadable:
        for root, dirs, files in os.walk(folder):
            for name in [*dirs, *files, "."]:
                target = os.path.join(root, name)
                mode = os.lstat(target).st_mode
                if stat.S_ISLNK(mode):
                    continue
                extra = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
                os.chmod(target, mode | extra)
        done.append(f"chmod -R o+rX {folder}")
    return done


def expose_environment(paths: list[str], writable: list[str]) -> list[str]:
    """Give this process (and so the hub and every server it starts) a private mount namespace in which
    the closed folders above ``paths`` are covered by an empty tmpfs showing only ``paths`` (read-only)
    and ``writable``. Root only. Returns the folders covered."""
    import ctypes

    from ..sandbox import namespaces

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(namespaces.CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(namespaces.MS_REC | namespaces.MS_PRIVATE), None) != 0:
        raise OSError(ctypes.get_errno(), "making / private")
    return namespaces.expose(paths, NOBODY, NOBODY, writable=tuple(writable))


def tighten_private(course_root: Path, state_dir: Path) -> list[str]:
    """Close the course's private parts to other users (group and others lose every right)."""
    done = []
    for path in [*(course_root / name for name in PRIVATE), state_dir]:
        if not path.exists() or path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            done.append(f"chmod go-rwx {path}")
    return done


OWNED_BY_COURSE = ("gradebook.db", "gradebook.db-journal")


def give_to_course_owner(course_root: Path) -> list[str]:
    """The hub (root) creates the gradebook when it copies the roster into it; the instructor's formgrader
    runs as the course folder's owner and must be able to write it: give it to that owner."""
    owner = course_root.stat()
    if owner.st_uid == os.geteuid():
        return []
    done = []
    for name in OWNED_BY_COURSE:
        path = course_root / name
        if path.is_file() and not path.is_symlink() and path.stat().st_uid != owner.st_uid:
            os.chown(path, owner.st_uid, owner.st_gid)
            done.append(f"chown {owner.st_uid}:{owner.st_gid} {path}")
    return done


def readable_by_others(path: Path) -> bool:
    """Whether any user other than the owner could read ``path`` (each folder above must be searchable)."""
    for folder in [*reversed(path.parents)][1:]:
        if not _searchable_by_others(folder):
            return False
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def python_is_root_only() -> bool:
    return not _searchable_by_others(Path(sys.executable).resolve().parent)
