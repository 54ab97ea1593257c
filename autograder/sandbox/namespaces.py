"""User and network namespaces: the kernel loses every capability outside its sandbox and every
network interface except a loopback that nothing listens on. Works unprivileged where the host allows
unprivileged user namespaces; as root it needs nothing extra."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
_PR_CAPBSET_DROP = 24
_LAST_CAP = 63


class NamespacesUnavailable(OSError):
    pass


def enter(network: bool = False, private_dirs: tuple[str, ...] = (), size_mb: int = 512) -> dict:
    """Move the calling (single-threaded) process into new user, mount and network namespaces.

    The user's own uid and gid are mapped onto themselves, so files keep their owners; inside, the
    process holds no capability that matters outside, and the capability bounding set is emptied so
    that nothing it executes can regain one. Each of ``private_dirs`` gets a fresh tmpfs of
    ``size_mb`` MiB, visible to this process only: that caps the disk space the kernel can fill.
    """
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWUSER | CLONE_NEWNS | (0 if network else CLONE_NEWNET)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        raise NamespacesUnavailable(f"unshare failed: {os.strerror(ctypes.get_errno())}")
    try:
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
        with open("/proc/self/uid_map", "w") as fh:
            fh.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as fh:
            fh.write(f"{gid} {gid} 1")
    except OSError as exc:
        raise NamespacesUnavailable(f"could not map the user into its namespace: {exc}") from exc
    mounted = []
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) == 0:
        for folder in private_dirs:
            options = f"size={size_mb}m,mode=0700".encode()
            if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), options) == 0:
                mounted.append(folder)
    for cap in range(_LAST_CAP + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly past the last known cap
    return {"user_namespace": True, "network_namespace": not network, "uid": uid, "tmpfs": mounted}
