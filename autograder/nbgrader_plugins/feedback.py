"""Feedback without secrets: hidden test code is removed from the HTML that students receive."""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class StripHiddenTests(NbGraderPreprocessor):
    """Remove every ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` region from test cells.

    Unlike nbgrader's ``ClearHiddenTests`` it never raises on a student's own cells (a hostile
    submission could put unbalanced markers there and break feedback for everyone), and it drops an
    unterminated region to the end of the cell rather than leaking it.
    """

    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    replacement = Unicode("# (hidden tests: see the feedback below)").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        kept, hiding, removed = [], False, False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hiding, removed = True, True
            elif self.end in line and hiding:
                hiding = False
            elif not hiding:
                kept.append(line)
        if removed:
            kept = kept if any(line.strip() for line in kept) else [self.replacement]
            cell.source = "\n".join(kept).strip("\n")
        return cell, resources
