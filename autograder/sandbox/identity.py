"""Who a kernel runs as: its own unprivileged uid and gid, and no capabilities.

As root, every kernel gets a uid and gid of its own, drawn at random from a range that no account
uses, so that two kernels (of one run, or of two runs on the same host) never share an owner: files
one kernel makes are closed to the others, and the kernel can use none of root's rights. As an
ordinary user, the kernel keeps that user's uid (nothing else is possible without privileges) and
sheds every capability its user namespace gave it.
"""

from __future__ import annotations

import ctypes
import os
import secrets

UID_BASE = 0x6000_0000        # 1,610,612,736: far above any account or container id range
UID_RANGE = 1 << 24

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_LAST_CAP = 63
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def kernel_ids() -> tuple[int, int]:
    """The (uid, gid) a new kernel runs as: its own pair as root, the caller's otherwise."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    ident = UID_BASE + secrets.randbelow(UID_RANGE)
    return ident, ident


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _drop_bounding_set(libc) -> None:
    for cap in range(_LAST_CAP + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly past the last known cap


def _clear_capabilities(libc) -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), f"capset: {os.strerror(ctypes.get_errno())}")


def become(uid: int, gid: int) -> dict:
    """Turn the calling process into ``uid``/``gid`` with no capabilities, for good (no_new_privs).

    Called last before Landlock, after every mount the sandbox needs."""
    libc = _libc()
    _drop_bounding_set(libc)
    if os.geteuid() == 0 and uid != 0:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears every capability
    _clear_capabilities(libc)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
    effective = int(_status_field("CapEff"), 16)
    return {"uid": os.getuid(), "gid": os.getgid(), "capabilities": effective}


def _status_field(name: str) -> str:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return "0"
