"""The queue of submissions waiting for instant feedback: one slot per (student, assignment), fair between
students.

* A newer submission of a student replaces the one of theirs still waiting (it keeps its place in line).
* Who goes next: the student served least in the last hour first, then first come first served. A student
  who submits ten times in a row therefore never delays another student's first submission.
* The queue is bounded: a submission that does not fit is refused (``put`` returns False); the service finds
  it again on its next look at the exchange, so nothing is lost, it only waits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Item:
    student: str
    assignment: str
    timestamp: str
    late: bool = False
    seq: int = field(default=0, compare=False)
    announced: bool = field(default=False, compare=False)   # its "queued" page was published

    @property
    def slot(self) -> tuple[str, str]:
        return (self.student, self.assignment)


class FairQueue:
    def __init__(self, bound: int = 1000, served: Callable[[str], int] | None = None) -> None:
        self.bound = bound
        self._served = served or (lambda student: 0)
        self._items: dict[tuple[str, str], Item] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, slot: tuple[str, str]) -> bool:
        return slot in self._items

    def get_slot(self, slot: tuple[str, str]) -> Item | None:
        return self._items.get(slot)

    def put(self, item: Item) -> bool:
        """Queue ``item``; replaces the slot's waiting item (keeping its place). False: the queue is full."""
        waiting = self._items.get(item.slot)
        if waiting is not None:
            item.seq = waiting.seq
        elif len(self._items) >= self.bound:
            return False
        else:
            item.seq = next(self._counter)
        self._items[item.slot] = item
        return True

    def take(self, count: int = 1, busy: set[str] | frozenset[str] = frozenset()) -> list[Item]:
        """Up to ``count`` items, fairest first, at most one per student, none of a ``busy`` student (one
        whose earlier submission is being graded: it waits its turn)."""
        order = sorted(self._items.values(), key=lambda it: (self._served(it.student), it.seq))
        chosen: list[Item] = []
        students: set[str] = set(busy)
        for item in order:
            if item.student in students:
                continue
            chosen.append(item)
            students.add(item.student)
            if len(chosen) == count:
                break
        for item in chosen:
            del self._items[item.slot]
        return chosen

    def position(self, slot: tuple[str, str]) -> int:
        """1 for the item that goes next, 2 for the one after it, ...; 0 when the slot is not waiting."""
        order = sorted(self._items.values(), key=lambda it: (self._served(it.student), it.seq))
        return next((i for i, item in enumerate(order, 1) if item.slot == slot), 0)

    def items(self) -> list[Item]:
        return list(self._items.values())
