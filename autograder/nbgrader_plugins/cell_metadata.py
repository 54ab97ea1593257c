"""A sanitizing step that rebuilds every cell's nbgrader metadata from the gradebook.

A student can edit any cell's metadata. nbgrader's own steps trust its shape: ``nbgrader`` metadata
that is not a dict, ``points`` that are a string or NaN, a ``grade_id`` that is a number, ``grade``
or ``solution`` as strings, a missing or future ``schema_version``, two cells with the same grade id —
each makes DeduplicateIds, OverwriteCells or CheckCellMetadata raise, and a schema version error even
stops plain ``nbgrader autograde`` for every later student. Placed *first* among the sanitizing
preprocessors, this step leaves nothing for them to trip on:

* a cell whose grade id is one of the notebook's gets the gradebook's metadata, whatever it held;
* of several cells with the same grade id, the last keeps it (as DeduplicateIds would) and the others
  become ordinary cells;
* any other nbgrader metadata (an unknown or malformed grade id, metadata that is not a dict) is
  removed: the cell is graded as an ordinary cell, and ``OverwriteCells`` restores missing test cells.

What was changed is logged with the student's name and, under ``autograder autograde``, listed in the
run's summary (``resources["autograder_problems"]``).
"""

from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

from .submission_check import shown

PROBLEMS = "autograder_problems"
SCHEMA_VERSION = 3
_COMPARED = ("schema_version", "grade", "solution", "task", "locked", "grade_id", "points")


def _same(left, right) -> bool:
    if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool) \
            and not isinstance(right, bool):
        return float(left) == float(right)
    return type(left) is type(right) and left == right


class RestoreCellMetadata(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            truth = self._truth(notebook)
        last = {}
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(grade_id, str) and grade_id in truth:
                last[grade_id] = index
        changed = []
        for index, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.get("metadata", {}):
                continue
            meta = cell.metadata["nbgrader"]
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(grade_id, str) and last.get(grade_id) == index:
                wanted = truth[grade_id]
                differ = [key for key in _COMPARED
                          if not _same(meta.get(key, False if key == "task" else None),
                                       wanted.get(key, False if key == "task" else None))]
                if differ:
                    changed.append(f"{grade_id}: {', '.join(f'{k}={shown(repr(meta.get(k)), 30)}' for k in differ)}")
                cell.metadata["nbgrader"] = dict(wanted)
            elif isinstance(grade_id, str) and grade_id in truth:
                changed.append(f"cell {index}: a second {grade_id} (made an ordinary cell)")
                del cell.metadata["nbgrader"]
            else:
                what = shown(repr(grade_id), 40) if isinstance(meta, dict) else f"a {type(meta).__name__}"
                changed.append(f"cell {index}: unknown nbgrader metadata ({what}; made an ordinary cell)")
                del cell.metadata["nbgrader"]
        if changed:
            line = (f"nbgrader metadata of {len(changed)} cell(s) was edited or invalid and was restored "
                    f"from the gradebook ({'; '.join(changed)[:300]})")
            resources.setdefault(PROBLEMS, []).append(line)
            self.log.warning("%s/%s/%s: %s", shown(info["student"]), info["assignment"], info["notebook"], line)
        return nb, resources

    @staticmethod
    def _truth(notebook) -> dict[str, dict]:
        grades = {cell.name: cell.max_score for cell in notebook.grade_cells}
        tasks = {cell.name: cell.max_score for cell in notebook.task_cells}
        solutions = {cell.name for cell in notebook.solution_cells}
        truth = {}
        for source in notebook.source_cells:
            name = source.name
            meta = {"schema_version": SCHEMA_VERSION, "grade": name in grades, "solution": name in solutions,
                    "locked": bool(source.locked), "grade_id": name, "cell_type": source.cell_type}
            if name in tasks:
                meta["task"] = True
            if name in grades or name in tasks:
                meta["points"] = float(grades.get(name, tasks.get(name)))
            if source.checksum:
                meta["checksum"] = source.checksum
            truth[name] = meta
        return truth
