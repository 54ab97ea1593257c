"""A submitted notebook larger than ``c.Sandbox.submission_mb`` is refused before it is parsed: kept in the
quarantine folder, replaced by the release notebook marked unreadable (graded zero, with the reason)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from traitlets.config import Config

from autograder.nbgrader_plugins.submission_check import QUARANTINE, check_submission, max_notebook_bytes

RELEASE = Path(__file__).resolve().parents[1] / "release" / "ps2_vjp"


def test_the_limit_comes_from_the_sandbox_settings():
    config = Config()
    config.Sandbox.submission_mb = 3
    assert max_notebook_bytes(config) == 3 * 2**20
    assert max_notebook_bytes() == 20 * 2**20


def test_a_notebook_over_the_limit_is_set_aside_and_graded_as_unreadable(tmp_path):
    folder = tmp_path / "submitted" / "student" / "ps2_vjp"
    folder.mkdir(parents=True)
    nb = nbformat.read(RELEASE / "vjp.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (2 * 2**20)))
    original = nbformat.writes(nb).encode()
    (folder / "vjp.ipynb").write_bytes(original)
    report = check_submission(folder, ["vjp"], RELEASE, max_bytes=2**20)
    assert "too large" in report.unreadable["vjp"] and "1 MiB" in report.unreadable["vjp"]
    assert (folder / QUARANTINE / "vjp.ipynb").read_bytes() == original
    placeholder = nbformat.read(folder / "vjp.ipynb", as_version=4)
    assert "too large" in placeholder.metadata["autograder"]["unreadable"]


def test_a_notebook_under_the_limit_is_graded(tmp_path):
    folder = tmp_path / "ps2_vjp"
    folder.mkdir()
    (folder / "vjp.ipynb").write_bytes((RELEASE / "vjp.ipynb").read_bytes())
    assert check_submission(folder, ["vjp"], RELEASE, max_bytes=2**20).unreadable == {}
