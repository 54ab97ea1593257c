"""Namespaces and mounts of a kernel: it sees its own processes, its own private file systems, and no
network.

* mount namespace: each private directory (working folder, home, temporary files, the folder of its
  connection sockets) becomes a fresh tmpfs of a bounded size that only this kernel sees;
* pid namespace: the kernel is process 1 of its own tree and gets its own ``/proc`` (see ``reaper``),
  so it can neither see nor name another kernel or the grader;
* network namespace (unless the network is allowed): only a loopback that nothing listens on;
* IPC and UTS namespaces: no shared System V memory or queues with anybody;
* as an ordinary user, a user namespace makes the above possible without privileges; as root none is
  needed (the kernel then changes to a uid of its own, see ``identity``).
"""

from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18


class NamespacesUnavailable(OSError):
    pass


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> NamespacesUnavailable:
    return NamespacesUnavailable(f"{what}: {os.strerror(ctypes.get_errno())}")


def unshare(network: bool = False) -> dict:
    """Leave the grader's mount, pid, IPC, UTS and (unless ``network``) network namespaces.

    The pid namespace applies to the children of the caller: the kernel is the caller's next child."""
    libc = _libc()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (0 if network else CLONE_NEWNET)
    root = os.geteuid() == 0
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(ctypes.c_int(flags | (0 if root else CLONE_NEWUSER))) != 0:
        raise _fail("unshare")
    if not root:  # map the user onto itself: files keep their owner, and no other uid exists inside
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError as exc:
            raise NamespacesUnavailable(f"could not map the user into its namespace: {exc}") from exc
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) != 0:
        raise _fail("making mounts private")
    return {"user_namespace": not root, "pid_namespace": True, "network_namespace": not network}


def private_tmpfs(folders: dict[str, int], uid: int, gid: int) -> list[str]:
    """Mount a fresh tmpfs of the given size (MiB) on each folder, owned by the kernel's uid."""
    libc = _libc()
    mounted = []
    for folder, size_mb in folders.items():
        options = f"size={size_mb}m,nr_inodes={max(256, size_mb * 64)},mode=0700,uid={uid},gid={gid}".encode()
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), options) == 0:
            mounted.append(folder)
    return mounted


def mount_proc() -> None:
    """A ``/proc`` that shows the caller's pid namespace only (call it from inside that namespace)."""
    libc = _libc()
    if libc.mount(b"proc", b"/proc", b"proc", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), None) != 0:
        raise _fail("mounting /proc")


# ------------------------------------------------------------------ paths the kernel's uid must read

def _can_search(path: str, uid: int, gid: int) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return True  # nothing there to hide or to expose
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _first_closed_ancestor(path: str, uid: int, gid: int) -> str | None:
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        ancestor = str(Path(*parts[:depth]))
        if not _can_search(ancestor, uid, gid):
            return ancestor
    return None


def expose(paths: list[str], uid: int, gid: int, writable: tuple[str, ...] = (), rounds: int = 4) -> list[str]:
    """Make ``paths`` reachable for ``uid`` where a folder above them is closed to it (Python under
    ``/root``, a course in a private folder): the closed folder is covered with an empty tmpfs in
    which only ``paths`` are bind-mounted back, read-only (except those in ``writable``). Everything
    else in it disappears from this mount namespace. Returns the folders covered."""
    libc = _libc()
    covered: list[str] = []
    for _ in range(rounds):
        closed = {_first_closed_ancestor(path, uid, gid) for path in {*paths, *writable}} - {None}
        if not closed:
            break
        for ancestor in sorted(closed):
            if any(ancestor.startswith(c.rstrip("/") + "/") for c in closed if c != ancestor):
                continue  # nested in another closed folder: handled with it, then in the next round
            handles = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in {*paths, *writable}
                       if p.startswith(ancestor.rstrip("/") + "/") and os.path.exists(p)}
            try:
                options = b"size=1m,mode=0755"
                if libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV),
                              options) != 0:
                    raise _fail(f"covering {ancestor}")
                for path, fd in sorted(handles.items()):
                    source = f"/proc/self/fd/{fd}"
                    if os.path.isdir(source):
                        os.makedirs(path, mode=0o755, exist_ok=True)
                    else:
                        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                        open(path, "a").close()
                    if libc.mount(source.encode(), path.encode(), None, ctypes.c_ulong(MS_BIND | MS_REC), None) != 0:
                        raise _fail(f"exposing {path}")
                    if path not in writable:
                        libc.mount(None, path.encode(), None, ctypes.c_ulong(MS_REMOUNT | MS_BIND | MS_RDONLY), None)
            finally:
                for fd in handles.values():
                    os.close(fd)
            covered.append(ancestor)
    return covered
