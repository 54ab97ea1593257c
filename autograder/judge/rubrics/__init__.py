"""Rubrics: for each kind of scenario, the reference answer, the wrong answers that each misconception
gives, and the findings to record. One module per assignment; a rubric is registered under the
scenario's ``rubric_key`` (by default the graded function's name)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from autograder.probe.scenario import assignments

RUBRICS: dict[str, Callable] = {}
_LOADED = False


def rubric(*keys: str):
    def register(fn: Callable) -> Callable:
        for key in keys:
            if key in RUBRICS:
                raise ValueError(f"rubric {key!r} registered twice")
            RUBRICS[key] = fn
        return fn
    return register


def load_all() -> None:
    """Import every assignment's rubric module (they register rubrics and their own misconceptions)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for name in assignments():
            importlib.import_module(f"autograder.judge.rubrics.{name}")


def get(key: str) -> Callable | None:
    load_all()
    return RUBRICS.get(key)
