"""Landlock (Linux ≥ 5.13): an unprivileged process restricts its own file-system and network access.

Used through ctypes so that no compiled extension or extra package is needed. The rules are
allow-lists: after ``restrict``, the process (and everything it starts) can only read the paths given
as readable and only write the paths given as writable; TCP bind/connect is denied from ABI 4 on, and
abstract unix sockets and signals to processes outside the sandbox from ABI 6 on.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable

_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "arm64": (444, 445, 446)}

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13          # ABI 2
TRUNCATE = 1 << 14       # ABI 3
IOCTL_DEV = 1 << 15      # ABI 5

NET_BIND_TCP = 1 << 0    # ABI 4
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_RULE_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1
_PR_SET_NO_NEW_PRIVS = 38

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR


class LandlockUnavailable(OSError):
    pass


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _numbers() -> tuple[int, int, int]:
    machine = platform.machine()
    if machine not in _SYS:
        raise LandlockUnavailable(f"landlock syscall numbers unknown on {machine}")
    return _SYS[machine]


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    try:
        create, _, _ = _numbers()
    except LandlockUnavailable:
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(version) if version > 0 else 0


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE … MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(readable: Iterable[str], writable: Iterable[str], *, deny_tcp: bool = True,
             scope: bool = True) -> dict:
    """Confine the calling process for good. Returns what was enforced (for the log)."""
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailable("Landlock is not enabled in this kernel")
    create, add_rule, restrict_self = _numbers()
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4 and deny_tcp:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6 and scope:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    fd = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise LandlockUnavailable(f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}")
    added = {"read": [], "write": []}
    try:
        for kind, paths, rights in (("read", readable, READ & handled), ("write", writable, handled)):
            for path in paths:
                try:
                    target = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path that does not exist needs no rule
                try:
                    allowed = rights if os.path.isdir(path) else rights & FILE_ONLY
                    rule = _PathBeneathAttr(allowed, target)
                    if libc.syscall(add_rule, ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                                    ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                        raise LandlockUnavailable(
                            f"landlock_add_rule({path}) failed: {os.strerror(ctypes.get_errno())}")
                    added[kind].append(path)
                finally:
                    os.close(target)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockUnavailable(f"prctl(NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
        if libc.syscall(restrict_self, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise LandlockUnavailable(f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
    return {"abi": abi, "tcp_denied": bool(attr.handled_access_net), "scoped": bool(attr.scoped), **added}
