"""Accounts: unix users for the students' servers (as root) and hub passwords (NativeAuthenticator's
table in the hub's database, stored as bcrypt hashes; the clear text is shown once, when it is made)."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..course import CourseError
from .settings import DEFAULT_PASSWORD_COST

MARKER = "autograder classroom"   # in the GECOS field of every unix user this package creates
DEMO_PASSWORD = "autograder-demo"


# ---------------------------------------------------------------------------------------------- unix users
def unix_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def created_here(name: str) -> bool:
    entry = unix_user(name)
    return entry is not None and MARKER in entry.pw_gecos


def ensure_unix_user(name: str, course_id: str, home_base: str = "/home") -> tuple[pwd.struct_passwd, bool]:
    """The unix user ``name`` (created if missing: own group, no password, no login shell, home 0700).
    Returns the entry and whether it was created now."""
    entry = unix_user(name)
    created = False
    if entry is None:
        home = Path(home_base) / name
        command = ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
                   "--user-group", "--comment", f"{MARKER} {course_id}", name]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise CourseError(f"could not create the unix user {name}: {result.stderr.strip()}")
        entry = pwd.getpwnam(name)
        created = True
    if entry.pw_uid == 0:
        raise CourseError(f"{name} is a root account: it cannot be a course account")
    home = Path(entry.pw_dir)
    if home.is_dir() and home.stat().st_uid == entry.pw_uid:
        os.chmod(home, 0o700)
    return entry, created


def remove_unix_user(name: str) -> None:
    """Remove a user this package created (and its home); others are left alone."""
    if created_here(name):
        subprocess.run(["userdel", "--remove", name], capture_output=True)


# ------------------------------------------------------------------------------------------- hub passwords
def new_password(demo: bool = False) -> str:
    return DEMO_PASSWORD if demo else secrets.token_urlsafe(9)


def _session(db_url: str):
    from jupyterhub import orm
    from nativeauthenticator import orm as native_orm  # noqa: F401 (registers its table with the hub's)

    return orm.new_session_factory(db_url)()


def has_password(db_url: str, names: list[str]) -> set[str]:
    from nativeauthenticator.orm import UserInfo

    db = _session(db_url)
    try:
        return {info.username for info in db.query(UserInfo).filter(UserInfo.username.in_(names))}
    finally:
        db.close()


def set_passwords(db_url: str, passwords: dict[str, str], cost: int = DEFAULT_PASSWORD_COST) -> None:
    """Store (or replace) the hub passwords of these users, authorized to log in; ``cost`` is bcrypt's work
    factor (``classroom.toml``'s ``password_cost``). NativeAuthenticator checks a password against its hash
    at whatever cost the hash says, so changing the cost never locks anyone out."""
    import bcrypt
    from nativeauthenticator.orm import UserInfo

    def hashed(password: str) -> bytes:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost))

    # bcrypt is slow on purpose (≈ 0.2 s a password) and releases the GIL: a class's first start hashes on every core
    with ThreadPoolExecutor(max_workers=min(len(passwords), os.cpu_count() or 1) or 1) as pool:
        digests = dict(zip(passwords, pool.map(hashed, passwords.values()), strict=True))
    db = _session(db_url)
    try:
        for name, digest in digests.items():
            info = db.query(UserInfo).filter(UserInfo.username == name).first()
            if info is None:
                db.add(UserInfo(username=name, password=digest, is_authorized=True))
            else:
                info.password, info.is_authorized = digest, True
        db.commit()
    finally:
        db.close()
