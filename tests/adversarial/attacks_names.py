"""Class 3: names and entries the student controls must not steer the submission check. Each attack
leaves links, pipes, sockets, device files or look-alikes of the grader's own folder in its submission;
the check must set them aside, never follow a link out of the submission, never hang, and grade the
rest (or, where the notebook itself is the trap, grade zero with the reason)."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

from attack_kit import ASSIGNMENT, NOTEBOOK, Attack

from autograder.demo.cohort import fill

QUARANTINE = ".autograder-quarantine"


def _laid(lay_down):
    """A correct submission, plus whatever ``lay_down(folder, paths)`` leaves beside it."""
    def build(release, correct, paths):
        return fill(release, correct), None, {"lay_down": lay_down}
    return build


def _course(paths) -> Path:
    return Path(paths["gradebook"]).parent


def _quarantine_is_a_file(folder, paths):
    (folder / QUARANTINE).write_text("not a folder\n")
    os.symlink(paths["gradebook"], folder / "data.csv")


def _quarantine_links_to_source(folder, paths):
    os.symlink(_course(paths) / "source" / ASSIGNMENT, folder / QUARANTINE)
    os.symlink(paths["gradebook"], folder / "notes.txt")


def _notebook_links_to_source(folder, paths):
    (folder / f"{NOTEBOOK}.ipynb").unlink()
    os.symlink(paths["source"], folder / f"{NOTEBOOK}.ipynb")
    (folder / QUARANTINE).write_text("not a folder\n")


def _linked_folders(folder, paths):
    os.symlink(_course(paths) / "source" / ASSIGNMENT, folder / "solutions")
    os.symlink(Path(paths["other"]).parent, folder / "classmate")
    (folder / "sub" / "deeper").mkdir(parents=True)
    os.symlink(paths["gradebook"], folder / "sub" / "deeper" / "grades.db")
    os.symlink("/dev/zero", folder / "sub" / "zeros.bin")


def _pipes(folder, paths):
    os.mkfifo(folder / "data.fifo")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "sub" / "pipe")
    (folder / "timestamp.txt").unlink()
    os.mkfifo(folder / "timestamp.txt")


def _socket(folder, paths):
    short = Path(tempfile.mkdtemp(prefix="sock"))  # a socket path must be short; rename keeps the socket
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(short / "s"))
    server.close()
    os.rename(short / "s", folder / "grader.sock")
    shutil.rmtree(short)


def _devices(folder, paths):
    try:
        os.mknod(folder / "zero.bin", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero: copying never ends
    except PermissionError:  # unprivileged: a FIFO has the same "never ends" effect on a naive copy
        os.mkfifo(folder / "zero.bin")


def _odd_permissions(folder, paths):
    locked = folder / "locked"
    locked.mkdir()
    os.symlink(paths["gradebook"], locked / "grades.db")
    locked.chmod(0)
    own = folder / QUARANTINE
    own.mkdir()
    os.symlink(paths["gradebook"], own / "reasons.txt")  # the grader must not append through it
    os.symlink(paths["source"], own / f"{NOTEBOOK}.ipynb")
    own.chmod(0o500)


def _notebook_is_a_folder(release, correct, paths):
    def lay_down(folder, paths):
        (folder / f"{NOTEBOOK}.ipynb").unlink()
        (folder / f"{NOTEBOOK}.ipynb").mkdir()
        (folder / f"{NOTEBOOK}.ipynb" / "inner.txt").write_text("a folder, not a notebook\n")
    return fill(release, correct), None, {"lay_down": lay_down}


ATTACKS = [
    Attack("quarantine-name-file", "pre-creates .autograder-quarantine as a file, next to a link to gradebook.db",
           _laid(_quarantine_is_a_file), reason="symbolic link"),
    Attack("quarantine-name-link", ".autograder-quarantine is a link to source/; a link to gradebook.db beside it",
           _laid(_quarantine_links_to_source), reason="symbolic link"),
    Attack("notebook-link-to-source", "the notebook is a link to the instructor's source notebook",
           _laid(_notebook_links_to_source), expect_total=0.0, reason="symbolic link"),
    Attack("linked-folders", "folder links to source/ and to a classmate, nested links to gradebook.db and /dev/zero",
           _laid(_linked_folders), reason="symbolic link"),
    Attack("pipes", "named pipes in the folder, in a subfolder and as timestamp.txt", _laid(_pipes),
           reason="named pipe"),
    Attack("socket", "a Unix socket in the submission", _laid(_socket), reason="socket"),
    Attack("device-file", "a character device (/dev/zero's numbers) in the submission", _laid(_devices),
           reason="set aside"),
    Attack("odd-permissions", "an unreadable folder holding a link; its own read-only .autograder-quarantine "
           "with links named reasons.txt and vjp.ipynb", _laid(_odd_permissions), reason="symbolic link"),
    Attack("notebook-is-a-folder", "vjp.ipynb is a folder", _notebook_is_a_folder, expect_total=0.0,
           reason="folder"),
]
