"""nbgrader's ``CheckCellMetadata``, without re-checking nbgrader's own JSON schema for every cell.

nbgrader validates each cell's nbgrader metadata with ``jsonschema.validate``, which first checks the
*schema* (the file nbgrader ships) against the JSON-Schema meta-schema, once per cell; the course runs
the step twice per graded notebook, ≈25 ms each time. ``CheckCellMetadataOnce`` validates the same
things with a schema validator built once per process: the same schema, the same error (jsonschema's
best match), the same schema-version errors, nbgrader's own V3 checks (grade ids, cell types, points) and
the same message when a notebook fails. tests/test_metadata_schema.py compares the two on generated
metadata.
"""

from __future__ import annotations

import traceback
from functools import lru_cache

import jsonschema
from jsonschema.exceptions import best_match
from nbgrader.nbgraderformat import MetadataValidator, SchemaTooNewError, SchemaTooOldError, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata


class _SchemaCheckedOnce(BaseMetadataValidator):
    """The base validator's cell check, with the schema's validator made once."""

    def __init__(self) -> None:
        super().__init__()  # reads nbgrader's schema file
        cls = jsonschema.validators.validator_for(self.schema)
        cls.check_schema(self.schema)
        self._schema_validator = cls(self.schema)

    def validate_cell(self, cell) -> None:
        if "nbgrader" not in cell.metadata:
            return
        meta = cell.metadata["nbgrader"]
        version = meta.get("schema_version", 0)
        if version < self.schema_version:
            raise SchemaTooOldError(f"Outdated schema version: {version} (expected {self.schema_version})",
                                    version, self.schema_version)
        if version > self.schema_version:
            raise SchemaTooNewError(f"Schema version is too new: {version} (expected {self.schema_version})",
                                    version, self.schema_version)
        error = best_match(self._schema_validator.iter_errors(meta))
        if error is not None:
            raise error


class QuickMetadataValidator(MetadataValidator, _SchemaCheckedOnce):
    """nbgrader's current validator; its ``super().validate_cell`` reaches ``_SchemaCheckedOnce``."""


@lru_cache(maxsize=1)
def quick_validator() -> QuickMetadataValidator:
    return QuickMetadataValidator()


class CheckCellMetadataOnce(CheckCellMetadata):
    def preprocess(self, nb, resources):
        try:
            quick_validator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            message = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(message)
            raise ValidationError(message) from None  # the reason is logged above, as nbgrader does
        return nb, resources
