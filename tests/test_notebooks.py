"""The course notebooks: structure of the graded contract, hygiene, release in sync, no secrets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from support import NOTEBOOKS, ROOT, notebook_path

from autograder.probe.scenario import all_suites, assignment_of

ASSIGNMENTS = sorted(NOTEBOOKS)


def _nb(assignment, folder="source"):
    return nbformat.read(notebook_path(assignment, folder), as_version=4)


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_contract(assignment):
    nb = _nb(assignment)
    solutions = [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]
    tests = {_meta(c)["grade_id"]: c for c in nb.cells
             if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")}
    assert solutions, "no solution cells"
    for cell in solutions:
        fn = _meta(cell)["grade_id"]
        assert re.search(rf"^def {re.escape(fn)}\(", cell.source, re.M), f"cell {fn} must define {fn}()"
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        assert f"test_{fn}" in tests, f"no visible test cell test_{fn}"
        assert f"test_{fn}_hidden" in tests, f"no hidden test cell test_{fn}_hidden"
        assert float(_meta(tests[f"test_{fn}"])["points"]) == 1.0
        assert float(_meta(tests[f"test_{fn}_hidden"])["points"]) > 0
    registered = {gid for gid in all_suites() if assignment_of(gid) == assignment}
    assert registered == set(tests), "test cells and registered hidden-test suites differ"
    for gid, cell in tests.items():
        assert _meta(cell).get("locked"), f"{gid} must be read-only"
        assert f'run_suite("{gid}", globals())' in cell.source, f"{gid} does not run its own suite"
        hidden = re.search(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S)
        assert hidden and "run_suite" in hidden.group(1), f"{gid}: the probe call must be hidden"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_stated_in_the_notebook(assignment):
    nb = _nb(assignment)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for cell in nb.cells:
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            fn = _meta(cell)["grade_id"]
            points = sum(float(_meta(c)["points"]) for c in nb.cells
                         if _meta(c).get("grade") and _meta(c)["grade_id"].startswith(f"test_{fn}"))
            assert re.search(rf"`{fn}[^`]*`[^\n]*\b{points:g} points?\b", text), \
                f"the notebook should state that {fn} is worth {points:g} points"


@pytest.mark.parametrize("folder", ["source", "release"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_without_outputs(assignment, folder):
    nb = _nb(assignment, folder)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    hidden_outside_tests = [c for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source
                            and not (_meta(c).get("grade") and not _meta(c).get("solution"))]
    assert not hidden_outside_tests


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_hidden_tests_or_solutions(assignment):
    source, release = _nb(assignment), _nb(assignment, "release")
    text = json.dumps(release.cells)
    for secret in ("BEGIN HIDDEN TESTS", "run_suite", "autograder", "BEGIN SOLUTION"):
        assert secret not in text, f"{secret!r} leaked into release/"
    released_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    solution_regions = r"### BEGIN SOLUTION\n(.*?)### END SOLUTION"
    public = {line.strip() for c in source.cells
              for line in re.sub(solution_regions, "", c.source, flags=re.S).splitlines()}
    for cell in source.cells:
        for body in re.findall(solution_regions, cell.source, re.S):
            for line in body.splitlines():
                if len(line.strip()) > 12 and line.strip() not in public:
                    assert line.strip() not in released_lines, f"solution line leaked: {line.strip()}"


@pytest.mark.nbgrader
def test_release_equals_fresh_generate_assignment(tmp_path):
    shutil.copytree(ROOT / "source", tmp_path / "source")
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path)
    script = ("from autograder.course import Course\n"
              "from nbgrader.apps import NbGraderAPI\nfrom nbgrader.coursedir import CourseDirectory\n"
              "import sys\ncfg = Course.find('.').config()\n"
              "api = NbGraderAPI(CourseDirectory(config=cfg, root='.'), config=cfg)\n"
              "for a in sys.argv[1:]:\n    r = api.generate_assignment(a, force=True)\n"
              "    assert r['success'], r.get('error') or r.get('log')\n")
    subprocess.run([sys.executable, "-c", script, *ASSIGNMENTS], cwd=tmp_path, check=True,
                   capture_output=True, text=True)
    for assignment in ASSIGNMENTS:
        fresh = nbformat.read(tmp_path / "release" / assignment / NOTEBOOKS[assignment], as_version=4)
        committed = _nb(assignment, "release")
        assert fresh == committed, (f"release/{assignment} is stale: run "
                                    f"`nbgrader generate_assignment {assignment} --force`")
