"""Scenarios: the inputs a hidden test builds and the calls it makes, with nothing about the answers.

A scenario is shared by both sides of the grader. Inside the student's kernel it is *run*: its inputs
are built from a fixed seed, the student's function is called and everything observable is recorded.
In the trusted judge the same builder rebuilds the very same inputs, so expected values and the
answers that each misconception would give are computed where student code cannot reach them.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from .contract import RESULT_LABEL

Inputs = dict[str, Any]


def call_once(session, inputs: Inputs) -> None:
    """The default protocol: one call with the inputs as positional arguments, in order."""
    session.call(RESULT_LABEL, *inputs.values())


@dataclass(frozen=True)
class Scenario:
    id: str                      # unique across the course, e.g. "vjp/matmul-square-f64"
    function: str                # the graded function (its solution cell's grade_id)
    title: str                   # what this checks, in the student's terms
    build: Callable[[torch.Generator], Inputs]
    steps: Callable[[Any, Inputs], None] = call_once
    rubric: str = ""             # judging routine; defaults to the function's name
    weight: float = 1.0
    changes: tuple[str, ...] = ()   # inputs the function is allowed (or required) to change
    stand_ins: tuple[str, ...] = field(default=())  # globals the probe swaps for known-good versions
    measure_saved: bool = False  # record the tensors autograd saves during each call (``monitors.SavedTensors``)

    @property
    def rubric_key(self) -> str:
        return self.rubric or self.function

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(zlib.crc32(self.id.encode()))

    def inputs(self) -> Inputs:
        return self.build(self.generator())


_SUITES: dict[str, tuple[Scenario, ...]] = {}
_ASSIGNMENT_OF: dict[str, str] = {}
_LOADED = False



def assignments() -> tuple[str, ...]:
    """The assignments whose scenario modules are present (discovered: a kernel's copy of the probe
    holds its own assignment's module only)."""
    from . import scenarios

    return tuple(sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if not m.name.startswith("_")))


def register(assignment: str, suites: dict[str, Iterable[Scenario]]) -> None:
    for grade_id, scenarios in suites.items():
        if grade_id in _SUITES:
            raise ValueError(f"test cell {grade_id!r} is registered twice")
        scenarios = tuple(scenarios)
        ids = [s.id for s in scenarios]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate scenario ids in {grade_id!r}")
        _SUITES[grade_id] = scenarios
        _ASSIGNMENT_OF[grade_id] = assignment


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for name in assignments():
            importlib.import_module(f"autograder.probe.scenarios.{name}")


def suite(grade_id: str) -> tuple[Scenario, ...] | None:
    """The scenarios of one autograder test cell, or None if the cell is not one of ours."""
    _load()
    return _SUITES.get(grade_id)


def all_suites() -> dict[str, tuple[Scenario, ...]]:
    _load()
    return dict(_SUITES)


def assignment_of(grade_id: str) -> str | None:
    _load()
    return _ASSIGNMENT_OF.get(grade_id)


# ---------------------------------------------------------------- helpers for builders

def randn(g: torch.Generator, *shape: int, dtype=torch.float64, scale: float = 1.0, shift: float = 0.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale + shift).to(dtype)


def uniform(g: torch.Generator, *shape: int, low: float = -1.0, high: float = 1.0, dtype=torch.float64):
    return (torch.rand(*shape, generator=g, dtype=torch.float64) * (high - low) + low).to(dtype)


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)
