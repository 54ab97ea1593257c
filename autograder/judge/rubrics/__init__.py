"""Rubrics: for each kind of scenario, the reference answer, the wrong answers that each misconception
gives, and the findings to record. One module per assignment; a rubric is registered under the
scenario's ``rubric_key`` (by default the graded function's name)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from autograder.probe.scenario import all_suites, assignments

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


class RubricMismatch(LookupError):
    """Scenarios and rubrics do not pair up: a scenario names a rubric nobody registered, or the other way."""


def load_all() -> None:
    """Import every assignment's rubric module (they register rubrics and their own misconceptions), then
    check that every scenario's rubric exists and every rubric judges some scenario."""
    global _LOADED
    if not _LOADED:
        for name in assignments():
            importlib.import_module(f"autograder.judge.rubrics.{name}")
        check_pairs()
        _LOADED = True


def check_pairs() -> None:
    """Raise ``RubricMismatch`` naming each scenario without a rubric and each rubric without a scenario
    (a typo in either key fails here, when the rubrics load, rather than when a student is graded)."""
    wanted: dict[str, list[str]] = {}
    for grade_id, scenarios in all_suites().items():
        for scenario in scenarios:
            wanted.setdefault(scenario.rubric_key, []).append(f"{scenario.id} (test cell {grade_id})")
    problems = [f"no rubric {key!r} for the scenario(s) {', '.join(users)}; register one with "
                f"@rubric({key!r}) in autograder/judge/rubrics/"
                for key, users in sorted(wanted.items()) if key not in RUBRICS]
    problems += [f"rubric {key!r} ({fn.__module__}.{fn.__name__}) judges no scenario: a scenario's "
                 f"`rubric=` (or its function name) should be {key!r}"
                 for key, fn in sorted(RUBRICS.items()) if key not in wanted]
    if problems:
        raise RubricMismatch("; ".join(problems))


def get(key: str) -> Callable | None:
    load_all()
    return RUBRICS.get(key)
