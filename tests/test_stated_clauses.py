"""Every contract clause an exercise states is checked: a result that breaks it loses points and is named.

For each graded function, the text of its exercise (the markdown between the exercise heading and the
solution cell) is split into items (bullets, numbered steps, sentences). An item that states a clause of the
table below ("return a **detached** tensor", "keep the dtype", "leave `x` untouched") becomes a case: the
reference solution is wrapped so that it breaks that clause and nothing else, and the hidden tests must take
points off and name the clause's misconception. A failure here is a clause without a check: add the check to
the rubric (as a secondary finding, an extra: ``j.detached``, ``j.untouched``, the dtype of ``j.tensor``).

An item that uses a contract word but matches no clause fails too (``test_every_contract_item_is_covered``):
add the clause to the table, or, if the item describes an input rather than a promise, to ``NOT_CLAUSES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbformat
import pytest
import torch
from support import NOTEBOOKS, explain, grade, notebook_path, student_namespace

# ------------------------------------------------------------------ violations (applied to the reference)


def _tensors_in(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors_in(item)]
    return []


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(item, fn) for item in value)
    if isinstance(value, dict):
        return {key: _map_tensors(item, fn) for key, item in value.items()}
    return value


def _keep_args(args: tuple) -> tuple:
    return args


def _attached(result: Any, args: tuple) -> Any:
    """The result, attached to a graph again (it requires grad)."""
    return _map_tensors(result, lambda t: t.detach().clone().requires_grad_(True))


def _other_dtype(result: Any, args: tuple) -> Any:
    """The result, cast to the other float dtype."""
    return _map_tensors(result, lambda t: t.to(torch.float32 if t.dtype == torch.float64 else torch.float64))


def _seen_items(args: tuple) -> tuple:
    """Generators among the arguments are passed on through a recorder, so that the tensors they yield can
    be found afterwards (a generator can be iterated only once)."""
    def recorder(items, seen):
        for item in items:
            seen.append(item)
            yield item

    out = []
    for arg in args:
        if hasattr(arg, "__next__") and not isinstance(arg, torch.Tensor):
            seen: list = []
            out.append(_Recorded(recorder(arg, seen), seen))
        else:
            out.append(arg)
    return tuple(out)


class _Recorded:
    """A generator that remembers what it yielded (a plain generator object takes no attributes)."""

    def __init__(self, gen, seen: list) -> None:
        self.gen, self.seen = gen, seen

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.gen)


def _first_input_modified(result: Any, args: tuple) -> Any:
    """After computing the result, change the values of the first tensor argument in place."""
    candidates = []
    for arg in args:
        candidates += arg.seen if isinstance(arg, _Recorded) else _tensors_in(arg)
    first = next(t for t in candidates if isinstance(t, torch.Tensor))
    with torch.no_grad():
        first.add_(1.0)
    return result


@dataclass(frozen=True)
class Clause:
    pattern: str                                # found in an item of the exercise text
    misconception: str                          # the hidden tests must name it
    before: Callable[[tuple], tuple]            # applied to the arguments before the reference runs
    after: Callable[[Any, tuple], Any]          # applied to the reference's result


CLAUSES = {
    "detached": Clause(r"\bdetached\b|no `requires_grad`", "not_detached", _keep_args, _attached),
    "dtype": Clause(r"\bdtype\b", "wrong_dtype", _keep_args, _other_dtype),
    "untouched": Clause(r"untouched|\bdo not (modify|change)\b|\bmust not change\b|\bbut not the values\b",
                        "modified_input", _seen_items, _first_input_modified),
}

# Words that suggest a contract clause; an item using one must match a clause or one of OTHER_ITEMS.
CONTRACT_WORDS = r"detach|dtype|untouched|unchanged|modif|chang|requires_grad|requires grad|\bleave\b|\bkeep\b"
OTHER_ITEMS = {   # pattern -> why the item is not a clause of the table
    r"is a leaf that requires grad|a leaf `inp` that requires grad": "describes an input",
    r"it may change the shape": "describes the f a caller passes",
    r"`inp = torch\.eye\(4, 5, requires_grad=True\)`": "says how to build inp (the values check it)",
    r"pass it to `loss_fn` unchanged": "checked by the values: one scenario's batches are opaque tensors",
    r"would leave it for `optimizer\.step\(\)`": "checked by 'afterwards w.grad holds the accumulated gradient'",
    r"must \*\*never change\*\* when the function is called again": "checked by the repeated calls (alias_of_grad)",
    r"none for the frozen ones \(those with `p\.requires_grad` False\)": "checked by the frozen scenario "
                                                                    "(frozen_param_listed)",
}

# ------------------------------------------------------------------ the exercises' text


def _exercise_items() -> dict[tuple[str, str], list[str]]:
    """(assignment, function) -> the items of the exercise text before the function's solution cell."""
    found = {}
    for assignment in sorted(NOTEBOOKS):
        cells = nbformat.read(notebook_path(assignment), as_version=4).cells
        for i, cell in enumerate(cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("solution"):
                continue
            k = i - 1
            while k >= 0 and not (cells[k].cell_type == "markdown" and cells[k].source.lstrip().startswith("## ")):
                k -= 1
            text = "\n".join(c.source for c in cells[k:i] if c.cell_type == "markdown")
            found[(assignment, meta["grade_id"])] = _items(text)
    return found


def _items(text: str) -> list[str]:
    """Bullets and numbered steps (with their continuation lines), and the sentences of other paragraphs."""
    items: list[str] = []
    prose: list[str] = []
    in_item = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if re.match(r"\s*([*-]|\d+\.)\s", line):
            items.append(line)
            in_item = True
        elif in_item and line.startswith(" ") and line.strip():
            items[-1] += " " + line.strip()
        else:
            in_item = False
            prose.append(line)
    sentences = re.split(r"(?<=[.;])\s+", " ".join(p.strip() for p in prose if p.strip()))
    return [re.sub(r"\s+", " ", item).strip() for item in items + sentences if item.strip()]


ITEMS = _exercise_items()


def _stated() -> list[tuple[str, str, str, str]]:
    cases = []
    for (assignment, function), items in ITEMS.items():
        for name, clause in CLAUSES.items():
            said = [item for item in items if re.search(clause.pattern, item, re.IGNORECASE)]
            if said:
                cases.append((assignment, function, name, said[0]))
    return cases


STATED = _stated()

# ------------------------------------------------------------------ tests


def test_the_exercises_state_clauses():
    """The table finds what the notebooks say (a guard against a parser that silently finds nothing)."""
    names = {(function, name) for _, function, name, _ in STATED}
    assert {("derivative_at_points", "detached"), ("vjp", "untouched"), ("jacobian_reverse", "dtype"),
            ("weighted_upstream", "detached"), ("fresh_vjp", "untouched"), ("linear_vjp", "dtype")} <= names


@pytest.mark.parametrize(("assignment", "function"), sorted(ITEMS), ids=[f for _, f in sorted(ITEMS)])
def test_every_contract_item_is_covered(assignment, function):
    """Every item that uses a contract word states a clause of the table (or is declared not to be one)."""
    uncovered = [item for item in ITEMS[(assignment, function)]
                 if re.search(CONTRACT_WORDS, item, re.IGNORECASE)
                 and not any(re.search(c.pattern, item, re.IGNORECASE) for c in CLAUSES.values())
                 and not any(re.search(p, item) for p in OTHER_ITEMS)]
    assert not uncovered, (f"`{function}` ({assignment}) states a clause the table does not know: "
                           + " | ".join(uncovered) + " — add it to CLAUSES (with its check) or to OTHER_ITEMS")


WRAPPER = """
_reference_{fn} = {fn}
def {fn}(*args, **kwargs):
    args = _clause_before(args)
    return _clause_after(_reference_{fn}(*args, **kwargs), args)
"""


def _wrapped(assignment: str, function: str, before, after) -> dict:
    """The reference solutions, with ``function`` wrapped: ``before`` maps its arguments, ``after`` its result."""
    namespace = student_namespace(assignment)
    namespace.update(_clause_before=before, _clause_after=after)
    exec(WRAPPER.format(fn=function), namespace)
    return namespace


CONTROLS = sorted({(assignment, function) for assignment, function, _, _ in STATED})


@pytest.mark.parametrize(("assignment", "function"), CONTROLS, ids=[f for _, f in CONTROLS])
def test_the_wrapper_alone_keeps_full_marks(assignment, function):
    """The wrapping itself costs nothing, so the violation is the only change."""
    verdicts = grade(function, _wrapped(assignment, function, _seen_items, lambda result, args: result))
    assert all(v.full_marks for v in verdicts), explain(verdicts)


@pytest.mark.parametrize(("assignment", "function", "clause", "item"), STATED,
                         ids=[f"{f}:{c}" for _, f, c, _ in STATED])
def test_breaking_a_stated_clause_costs_points_and_is_named(assignment, function, clause, item):
    rule = CLAUSES[clause]
    verdicts = grade(function, _wrapped(assignment, function, rule.before, rule.after))
    hidden = [v for v in verdicts if v.hidden]
    context = f"`{function}` states {item!r}; the reference that breaks it got:\n" + explain(verdicts)
    assert hidden and not all(v.full_marks for v in hidden), "no points lost: the rubric has no check. " + context
    named = {key for v in hidden for key in v.misconceptions()}
    assert rule.misconception in named, f"{rule.misconception!r} not named. " + context
