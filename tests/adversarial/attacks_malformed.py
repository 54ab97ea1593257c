"""Class 4: one student's malformed input must never end the run. Each attack breaks cell metadata,
cell ids, the kernelspec, the timestamp or file names in a way that used to make nbgrader or the fast
grader raise (for plain nbgrader, a schema version error stopped every later student); every one must
now be graded for what it earned, with a one-line reason, while the bystanders are graded normally."""

from __future__ import annotations

import copy
import os

from attack_kit import Attack, _edited

from autograder.demo.cohort import fill


def _cell(nb, grade_id):
    return next(c for c in nb.cells if isinstance(c.metadata.get("nbgrader"), dict)
                and c.metadata["nbgrader"].get("grade_id") == grade_id)


def _not_a_dict(nb):
    _cell(nb, "test_vjp").metadata["nbgrader"] = 5
    _cell(nb, "test_weighted_upstream").metadata["nbgrader"] = ["grade", True]


def _points(nb):
    _cell(nb, "test_vjp").metadata["nbgrader"]["points"] = "lots"
    _cell(nb, "test_weighted_upstream").metadata["nbgrader"]["points"] = float("nan")
    _cell(nb, "test_weighted_sensitivity").metadata["nbgrader"]["points"] = -5
    _cell(nb, "test_linear_vjp").metadata["nbgrader"]["points"] = 1e308


def _grade_ids_and_flags(nb):
    _cell(nb, "test_vjp").metadata["nbgrader"]["grade_id"] = 7
    _cell(nb, "test_linear_vjp_hidden").metadata["nbgrader"]["grade_id"] = "../../x'; DROP TABLE grade;--\n"
    meta = _cell(nb, "weighted_upstream").metadata["nbgrader"]
    meta["solution"], meta["grade"] = "yes", "no"
    _cell(nb, "test_weighted_sensitivity").metadata["nbgrader"]["locked"] = "sure"


def _schema_versions(nb):
    _cell(nb, "test_vjp").metadata["nbgrader"]["schema_version"] = 99
    del _cell(nb, "weighted_sensitivity").metadata["nbgrader"]["schema_version"]


def _duplicate_grade_id(nb):
    index = nb.cells.index(_cell(nb, "test_vjp"))
    twin = copy.deepcopy(nb.cells[index])
    twin["id"] = "a-twin"
    twin.metadata["nbgrader"]["points"] = 50
    nb.cells.insert(index - 1, twin)


def _cell_ids_and_kernelspec(release, correct, paths):
    nb = fill(release, correct)
    nb.cells[3]["id"] = nb.cells[2]["id"]
    nb.cells[4]["id"] = "not a valid id / ü"
    nb.metadata["kernelspec"] = "garbage"
    nb.metadata["language_info"] = 5
    return nb, None, {}


def _our_own_metadata(nb):
    nb.metadata["autograder"] = 5
    _cell(nb, "vjp").metadata["autograder"] = "forged"


def _with_files(lay_down):
    def build(release, correct, paths):
        return fill(release, correct), None, {"lay_down": lay_down}
    return build


def _odd_names(folder, paths):
    base = os.fsencode(folder)
    with open(base + b"/data-\xff\xfe.csv", "wb") as fh:
        fh.write(b"1,2\n")
    with open(base + b"/notes\nERROR fake log line.txt", "wb") as fh:
        fh.write(b"x\n")
    with open(base + b"/" + b"n" * 250, "wb") as fh:
        fh.write(b"long\n")
    os.symlink(paths["gradebook"], base + b"/link-\xff")
    os.symlink(paths["gradebook"], base + b"/" + b"l" * 250)
    os.mkdir(base + b"/sub-\xfe\nfolder")
    os.symlink(paths["source"], base + b"/sub-\xfe\nfolder/\xff.ipynb")


def _timestamp_garbage(folder, paths):
    (folder / "timestamp.txt").write_bytes(b"not a time at all \xff")


def _timestamp_folder(folder, paths):
    (folder / "timestamp.txt").unlink()
    (folder / "timestamp.txt").mkdir()


ATTACKS = [
    Attack("metadata-not-a-dict", "nbgrader metadata of two test cells is a number and a list",
           _edited(_not_a_dict), reason="nbgrader metadata"),
    Attack("points-garbage", "points as a string, NaN, negative and 1e308", _edited(_points),
           reason="nbgrader metadata"),
    Attack("grade-id-garbage", "grade ids as a number and with odd characters; flags as strings",
           _edited(_grade_ids_and_flags), reason="nbgrader metadata"),
    Attack("schema-version", "a schema version from the future, and one missing", _edited(_schema_versions),
           reason="nbgrader metadata"),
    Attack("duplicate-grade-id", "a copy of a test cell (same grade id, 50 points) earlier in the notebook",
           _edited(_duplicate_grade_id), reason="nbgrader metadata"),
    Attack("cell-ids-kernelspec", "duplicate and invalid cell ids, a kernelspec and language_info of garbage",
           _cell_ids_and_kernelspec, reason="repaired"),
    Attack("forged-autograder-metadata", "the grader's own metadata key set to garbage", _edited(_our_own_metadata)),
    Attack("odd-file-names", "file and link names that are not UTF-8, hold newlines or are 250 bytes long",
           _with_files(_odd_names), reason="symbolic link"),
    Attack("timestamp-garbage", "timestamp.txt holds no time (and a non-UTF-8 byte)",
           _with_files(_timestamp_garbage), reason="timestamp.txt set aside"),
    Attack("timestamp-folder", "timestamp.txt is a folder", _with_files(_timestamp_folder),
           reason="timestamp.txt set aside"),
]
