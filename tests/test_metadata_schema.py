"""``CheckCellMetadataOnce`` (the course's metadata check) decides exactly as nbgrader's
``CheckCellMetadata``: on generated nbgrader metadata of every shape a student's edits can leave (wrong
types, missing or extra keys, old or future schema versions, changed cell types, duplicate grade ids),
both accept or both refuse, with the same error."""

from __future__ import annotations

import copy

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.preprocessors import CheckCellMetadata

from autograder.nbgrader_plugins.metadata_schema import CheckCellMetadataOnce, quick_validator

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True), st.text(max_size=4),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
FLAGS = st.one_of(st.booleans(), ODD)
META = st.fixed_dictionaries(
    {},
    optional={"grade": FLAGS, "solution": FLAGS, "locked": FLAGS, "task": FLAGS,
              "schema_version": st.one_of(st.sampled_from([0, 1, 2, 3, 3, 3, 4]), ODD),
              "grade_id": st.one_of(st.sampled_from(["a", "b", "test_a"]), ODD),
              "points": st.one_of(st.integers(0, 5), st.floats(0, 5), ODD),
              "cell_type": st.one_of(st.sampled_from(["code", "markdown", "raw"]), ODD),
              "checksum": st.one_of(st.text(max_size=8), ODD), "extra": ODD})
VALID = st.fixed_dictionaries({"grade": st.booleans(), "solution": st.booleans(), "locked": st.booleans(),
                               "schema_version": st.just(3), "grade_id": st.sampled_from(["a", "b", "c"]),
                               "points": st.integers(0, 5)},
                              optional={"task": st.booleans(), "cell_type": st.sampled_from(["code", "markdown"])})
CELL = st.tuples(st.sampled_from([new_code_cell, new_markdown_cell, new_raw_cell]),
                 st.one_of(st.none(), META, VALID))


def _notebook(cells):
    nb = new_notebook()
    for make, meta in cells:
        cell = make("x = 1")
        if meta is not None:
            cell.metadata["nbgrader"] = copy.deepcopy(meta)
        nb.cells.append(cell)
    return nbformat.from_dict(nb)


def _outcome(check, nb):
    try:
        check(nb)
    except ValidationError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001 (nbgrader's own crashes on odd metadata must be the same too)
        return type(exc).__name__, str(exc)
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CELL, max_size=5))
def test_the_quick_check_decides_as_nbgraders(cells):
    nb = _notebook(cells)
    assert _outcome(quick_validator().validate_nb, copy.deepcopy(nb)) == \
        _outcome(MetadataValidator().validate_nb, copy.deepcopy(nb))
    assert _outcome(lambda n: CheckCellMetadataOnce().preprocess(n, {}), copy.deepcopy(nb)) == \
        _outcome(lambda n: CheckCellMetadata().preprocess(n, {}), copy.deepcopy(nb))


@pytest.mark.parametrize("meta, refused", [
    ({"grade": True, "solution": False, "locked": True, "schema_version": 3, "grade_id": "t", "points": 2}, False),
    ({"grade": True, "solution": False, "locked": True, "schema_version": 3, "grade_id": "t", "points": "2"}, True),
    ({"grade": True, "solution": False, "locked": True, "schema_version": 2, "grade_id": "t", "points": 2}, True),
    ({"grade": True, "solution": False, "locked": True, "schema_version": 4, "grade_id": "t", "points": 2}, True),
    ({"grade": "yes", "solution": False, "locked": True, "schema_version": 3, "grade_id": "t", "points": 2}, True),
    ({"solution": False, "locked": True, "schema_version": 3, "grade_id": "t"}, True),
])
def test_known_cases(meta, refused):
    nb = _notebook([(new_code_cell, meta)])
    assert (_outcome(lambda n: CheckCellMetadataOnce().preprocess(n, {}), nb) is not None) == refused


def test_duplicate_grade_ids_are_refused():
    meta = {"grade": False, "solution": True, "locked": False, "schema_version": 3, "grade_id": "a", "points": 0}
    nb = _notebook([(new_code_cell, meta), (new_code_cell, meta)])
    assert _outcome(quick_validator().validate_nb, nb) == ("ValidationError", "Duplicate grade id: a")
