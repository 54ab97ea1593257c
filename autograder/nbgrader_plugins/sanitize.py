"""A sanitizing step for submissions whose nbgrader metadata was edited.

When a student renames a cell's ``grade_id`` (or invents nbgrader metadata), nbgrader's
``OverwriteCells`` deletes the unknown id but keeps the rest of the metadata, and its
``add_missing_cells`` then crashes on it, so the whole submission fails to grade. This preprocessor,
placed right *before* ``OverwriteCells``, turns every cell whose grade id is not in the gradebook back
into an ordinary cell; ``OverwriteCells`` then restores the real cell from the gradebook.
"""

from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor


class ForgetUnknownCells(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                known = {cell.name for cell in gb.find_notebook(info["notebook"], info["assignment"]).source_cells}
            except MissingEntry:
                return nb, resources
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is not None and (not isinstance(meta, dict) or meta.get("grade_id") not in known):
                self.log.warning("Cell %d has nbgrader metadata with an unknown grade id (%r); grading it as an "
                                 "ordinary cell", index, meta.get("grade_id") if isinstance(meta, dict) else meta)
                del cell.metadata["nbgrader"]
        return nb, resources
