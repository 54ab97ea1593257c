"""The submission check's building blocks on real folders (no grading): look-alikes of the quarantine
folder, links that must never be written through, special files that must never be opened, and the
lock-down that grades a submission zero when the check itself fails."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from support import ROOT

from autograder.nbgrader_plugins.submission_check import (
    IGNORED,
    QUARANTINE,
    check_submission,
    inspect_notebook,
    lock_down,
    shown,
)

RELEASE = ROOT / "release" / "ps2_vjp"


def _submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "someone" / "ps2_vjp"
    folder.mkdir(parents=True)
    (folder / "vjp.ipynb").write_bytes((RELEASE / "vjp.ipynb").read_bytes())
    return folder


def test_a_link_named_reasons_txt_is_replaced_not_written_through(tmp_path):
    folder = _submission(tmp_path)
    secret = tmp_path / "gradebook.db"
    secret.write_bytes(b"precious")
    (folder / QUARANTINE).mkdir()
    os.symlink(secret, folder / QUARANTINE / "reasons.txt")
    os.symlink(secret, folder / "data.csv")
    report = check_submission(folder, ["vjp"], RELEASE)
    assert secret.read_bytes() == b"precious"
    assert not (folder / QUARANTINE / "reasons.txt").is_symlink()
    assert "data.csv" in (folder / QUARANTINE / "reasons.txt").read_text()
    assert any("symbolic link" in p for p in report.problems)


def test_a_file_named_like_the_quarantine_is_set_aside_first(tmp_path):
    folder = _submission(tmp_path)
    (folder / QUARANTINE).write_text("mine")
    os.mkfifo(folder / "pipe")
    report = check_submission(folder, ["vjp"], RELEASE)
    assert (folder / QUARANTINE).is_dir() and not (folder / "pipe").exists()
    assert any(QUARANTINE in p for p in report.problems) and any("named pipe" in p for p in report.problems)


def test_a_pipe_in_the_notebooks_place_is_never_opened(tmp_path):
    folder = _submission(tmp_path)
    (folder / "vjp.ipynb").unlink()
    os.mkfifo(folder / "vjp.ipynb")
    assert "named pipe" in inspect_notebook(folder / "vjp.ipynb").reason  # returns: nothing waits on the pipe
    report = check_submission(folder, ["vjp"], RELEASE)
    assert "named pipe" in report.unreadable["vjp"]
    graded = nbformat.read(folder / "vjp.ipynb", as_version=4)
    assert "named pipe" in graded.metadata["autograder"]["unreadable"]


def test_lock_down_sets_everything_aside_and_grades_zero_with_the_reason(tmp_path):
    folder = _submission(tmp_path)
    os.symlink(tmp_path, folder / "escape")
    (folder / "notes.txt").write_text("kept")
    notebooks = [str(folder / "vjp.ipynb"), str(folder / "extra.ipynb")]
    assert lock_down(folder, ["vjp"], RELEASE, "the check failed for a test", notebooks)
    assert notebooks == [str(folder / "vjp.ipynb")]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(QUARANTINE)) == ["vjp.ipynb"]
    aside = next(p for p in folder.iterdir() if p.name.startswith(QUARANTINE))
    assert Path(aside, "notes.txt").read_text() == "kept" and Path(aside, "escape").is_symlink()
    assert IGNORED.rstrip("*") in aside.name
    graded = nbformat.read(folder / "vjp.ipynb", as_version=4)
    assert graded.metadata["autograder"]["unreadable"] == "the check failed for a test"


def test_names_are_shown_on_one_printable_line():
    assert shown(os.fsdecode(b"a\xffb\nc")) == "a\\xffb\\nc"
    assert len(shown("x" * 300)) == 80
