"""The judge stores a JSON summary of each test cell in the autograded notebook (cell metadata
``autograder``); these helpers read them back for summaries and the class report."""

from __future__ import annotations

from collections.abc import Iterator

import nbformat

from ..course import Course
from ..probe.contract import METADATA_KEY


def read_cell_summaries(course: Course, assignment: str, student: str) -> Iterator[dict]:
    folder = course.autograded / student / assignment
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue
        for cell in nb.cells:
            summary = cell.get("metadata", {}).get(METADATA_KEY)
            if isinstance(summary, dict):
                yield {**summary, "notebook": path.stem}
