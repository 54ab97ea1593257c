"""Budgets for the bytes a kernel can make the grader keep: per cell and for the whole notebook.

A kernel controls every field of the messages it sends (a student can publish raw messages through
``get_ipython().kernel.session``), and nbclient keeps them by several routes: new outputs, updates of
earlier outputs through a ``display_id`` (``update_display_data``, or a ``display_data`` that reuses
an id), widget state from ``comm`` messages, and a cell's ``execution_count``. ``GuardedExecute``
charges the *whole* content of every such message — text, data, metadata, transient, ename, evalue,
traceback, anything — to the running cell and to the notebook, before nbclient sees it, and drops it
once a budget is spent.

Sizes are measured by walking the content without recursion and stop as soon as a budget is passed,
so measuring a huge or deeply nested message costs no more than the budget itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Message types whose content nbclient stores in the notebook (outputs, display updates, widget state).
CHARGED = frozenset({"stream", "display_data", "execute_result", "error", "update_display_data",
                     "comm_open", "comm_msg", "comm_close"})
MAX_EXECUTION_COUNT = 2**31 - 1


def persisted_size(value, limit: int) -> int:
    """About how many bytes ``value`` takes as JSON; any answer above ``limit`` is ``limit + 1``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, (bytes, bytearray, memoryview)):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            for key, inner in item.items():
                stack.append(key)
                stack.append(inner)
        elif isinstance(item, (list, tuple)):
            total += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2  # digits, without converting a huge int to text
        else:
            total += 32  # floats, dates
        if total > limit:
            return limit + 1
    return total


def valid_execution_count(value) -> bool:
    return value is None or (type(value) is int and 0 <= value <= MAX_EXECUTION_COUNT)


@dataclass
class OutputBudget:
    """What each cell, and the notebook's ordinary cells together, may still keep.

    Test cells (the course's autograder cells) are capped per cell only: their number is fixed by the
    instructor, the judge replaces their output, and a flood elsewhere in the notebook must not
    silence the hidden tests of the functions it does not touch.
    """

    cell_limit: int
    notebook_limit: int
    per_cell: dict[int, int] = field(default_factory=dict)
    notebook: int = 0
    truncated: dict[int, str] = field(default_factory=dict)   # cell index -> which cap was reached

    def admit(self, cell_index: int, size: int, *, test_cell: bool) -> bool:
        """Charge ``size`` bytes to the cell (and the notebook); False if a cap is reached."""
        if cell_index in self.truncated:
            return False
        used = self.per_cell.get(cell_index, 0) + size
        if used > self.cell_limit:
            self.truncated[cell_index] = "cell"
            return False
        if not test_cell and self.notebook + size > self.notebook_limit:
            self.truncated[cell_index] = "notebook"
            return False
        self.per_cell[cell_index] = used
        if not test_cell:
            self.notebook += size
        return True
