"""Zip archives as the exchange sends them: packed from a folder, unpacked only after every member has been
checked against the limits of ``protocol`` (relative paths without ``..`` or hidden parts, regular files only,
sizes, counts, suffixes). Used by both the service (on what it receives) and the client (on what it fetches)."""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.exchange import protocol


class Refused(Exception):
    """An archive (or request) the exchange will not take; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    archive_bytes: int = protocol.MAX_SUBMISSION_BYTES
    unpacked_bytes: int = protocol.MAX_UNPACKED_BYTES
    file_bytes: int = protocol.MAX_FILE_BYTES
    files: int = protocol.MAX_FILES
    suffixes: tuple[str, ...] | None = None     # None: any suffix


SUBMISSION = Limits(suffixes=protocol.SUBMITTED_SUFFIXES)
FEEDBACK = Limits(suffixes=protocol.FEEDBACK_SUFFIXES)
RELEASE = Limits()


class Unpackable(ValueError):
    """A file that cannot travel in a zip archive (its name is not text)."""


def pack_data(members: dict[str, bytes]) -> bytes:
    """A zip of ``{name in the archive: its bytes}``, made in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pack(files: Iterable[tuple[str, Path]]) -> bytes:
    """A zip of ``(name in the archive, file on disk)`` pairs. A name that is not valid text (undecodable bytes
    in a file name) raises ``Unpackable`` naming it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                shown = name.encode("utf-8", "backslashreplace").decode()
                raise Unpackable(f"the file name {shown!r} is not valid text (UTF-8): rename or remove that "
                                 "file") from None
            archive.write(path, name)
    return buffer.getvalue()


def files_of(folder: Path, skip: Callable[[str, list[str]], set[str]] | None = None) -> list[tuple[str, Path]]:
    """The regular files below ``folder`` as ``(relative posix name, path)``; links are left out, and so is
    whatever ``skip(directory, names)`` names (nbgrader's ``ignore_patterns`` has that shape)."""
    found = []
    for directory, subdirs, names in os.walk(folder):
        skipped = skip(directory, subdirs + names) if skip else set()
        subdirs[:] = sorted(d for d in subdirs if d not in skipped and not os.path.islink(os.path.join(directory, d)))
        for name in sorted(names):
            path = Path(directory, name)
            if name in skipped or path.is_symlink() or not path.is_file():
                continue
            found.append((path.relative_to(folder).as_posix(), path))
    return found


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's checked relative path (None for a directory entry); refuses anything that could land
    outside the destination or is not a plain file."""
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise Refused(400, f"archive member {name!r}: absolute paths are not allowed")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise Refused(400, f"archive member {name!r}: symbolic links are not allowed")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise Refused(400, f"archive member {name!r}: only regular files are allowed")
    parts = name.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise Refused(400, f"archive member {name!r}: '..', '.' and empty path parts are not allowed")
        if part.startswith(".") or any(ord(ch) < 32 for ch in part):
            raise Refused(400, f"archive member {name!r}: hidden names and control characters are not allowed")
    if info.is_dir() or kind == stat.S_IFDIR:
        return None
    return PurePosixPath(*parts)


def check(data: bytes, limits: Limits) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every file member of the archive with its checked path, or ``Refused`` naming the limit it breaks."""
    if len(data) > limits.archive_bytes:
        raise Refused(413, f"the archive is {len(data)} bytes; the limit is {limits.archive_bytes} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise Refused(400, f"not a zip archive: {error}") from None
    members, total, seen = [], 0, set()
    for info in infos:
        path = _member_path(info)
        if path is None:
            continue
        if path.as_posix().lower() in seen:
            raise Refused(400, f"archive member {info.filename!r} appears twice")
        seen.add(path.as_posix().lower())
        if limits.suffixes is not None and path.suffix.lower() not in limits.suffixes:
            raise Refused(415, f"archive member {info.filename!r}: only files ending in "
                               f"{', '.join(limits.suffixes)} are accepted")
        if info.file_size > limits.file_bytes:
            raise Refused(413, f"archive member {info.filename!r} is {info.file_size} bytes; the limit for one "
                               f"file is {limits.file_bytes} bytes")
        total += info.file_size
        members.append((info, path))
    if len(members) > limits.files:
        raise Refused(413, f"the archive holds {len(members)} files; the limit is {limits.files} files")
    if total > limits.unpacked_bytes:
        raise Refused(413, f"the archive unpacks to {total} bytes; the limit is {limits.unpacked_bytes} bytes")
    return members


def unpack(data: bytes, dest: Path, limits: Limits) -> list[str]:
    """Check the archive, then write its files below ``dest`` (which must not hold anything yet); the sizes are
    counted as they are written, so a member that lies about its size is refused too. Returns the names."""
    members = check(data, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for info, path in members:
        target = dest.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with archive.open(info) as source, open(target, "xb") as sink:
                while chunk := source.read(1 << 16):
                    written += len(chunk)
                    total += len(chunk)
                    if written > limits.file_bytes or total > limits.unpacked_bytes:
                        raise Refused(413, f"archive member {info.filename!r} unpacks beyond the limit of "
                                           f"{min(limits.file_bytes, limits.unpacked_bytes)} bytes")
                    sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise Refused(400, f"archive member {info.filename!r} is damaged: {error}") from None
    return [path.as_posix() for _, path in members]
