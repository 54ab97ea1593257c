"""Building blocks of the adversarial corpus: the attack record, and ways to build a submission that carries
an attack (ps2_vjp's by default; ``Target`` describes any assignment, so that the assignment-independent
attacks of ``generic_attacks.py`` run against each). Attack cells print ATTACK-BLOCKED when the sandbox stops
them and ATTACK-SUCCEEDED when it does not, so a test can read the verdict from the autograded notebook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nbformat

from autograder.demo.cohort import fill, graded_functions

ASSIGNMENT = "ps2_vjp"
NOTEBOOK = "vjp"
FUNCTIONS = ("vjp", "weighted_upstream", "weighted_sensitivity", "linear_vjp")
FULL = 15.0



@dataclass(frozen=True)
class Target:
    """An assignment the corpus attacks: its notebook's name, its graded functions (in notebook order, as the
    release's solution cells and the scenarios registry name them) and its full marks."""

    assignment: str
    notebook: str
    functions: tuple[str, ...]
    full: float

    def scenario(self, function: str, hidden: bool = True) -> tuple[str, str]:
        """(scenario id, grade id) of the first scenario of ``function``'s hidden (or visible) test cell."""
        from autograder.probe.scenario import suite

        grade_id = f"test_{function}_hidden" if hidden else f"test_{function}"
        return suite(grade_id)[0].id, grade_id


def target(assignment: str) -> Target:
    """The ``Target`` of a course assignment, read from its source notebook and the scenarios registry."""
    from support import notebook_path

    from autograder.probe.scenario import all_suites, assignment_of

    path = notebook_path(assignment)
    nb = nbformat.read(path, as_version=4)
    functions = tuple(graded_functions(nb))
    registered = {s[0].function for g, s in all_suites().items() if assignment_of(g) == assignment}
    assert registered == set(functions), (assignment, functions, registered)
    full = sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    return Target(assignment, path.stem, functions, float(full))


# Limits used by the corpus (small, so that the tests are fast and never endanger the machine).
TEST_LIMITS = """
c.Execute.timeout = 10  # a cell (the endless-cell attack waits it out in every graded course)
c.Sandbox.call_seconds = 2
c.Sandbox.memory_mb = 2048
c.Sandbox.max_processes = 40
c.Sandbox.max_file_mb = 16
c.Sandbox.disk_mb = 64
c.Sandbox.output_kb = 256
c.Sandbox.notebook_seconds = 240
"""


def guarded(attack: str) -> str:
    """An attack cell: ATTACK-SUCCEEDED if ``attack`` ran without an exception."""
    body = "\n".join("    " + line for line in attack.strip().splitlines())
    return (f"try:\n{body}\n    print('ATTACK-SUCCEEDED')\n"
            "except BaseException as exc:\n    print('ATTACK-BLOCKED', type(exc).__name__)\n")


@dataclass
class Attack:
    name: str
    what: str
    # build(release_nb, correct_answers, paths) -> (notebook or None, raw bytes or None, extra files)
    build: Callable
    expect_total: float = FULL                    # 0.0: every cell zero; FULL: all full but zero_functions
    zero_functions: tuple[str, ...] = ()          # functions that must score zero (the rest full)
    reason: str = ""                              # must appear in the batch summary's problems
    attack_cell: bool = False                     # the notebook must show ATTACK-BLOCKED, never -SUCCEEDED
    nbgrader_skips: bool = False                  # plain nbgrader grades no folder without a notebook
    inert_output: bool = False                    # autograded notebook and feedback carry no active content
    # (name, answers): the attack must earn exactly what a control student with these answers (and no attack)
    # earns, cell by cell; the control itself must miss full marks in the cells of these functions
    control: tuple[str, dict] | None = None

    @property
    def student(self) -> str:
        return f"attack-{self.name}"


def _with_cell(code: str, after: str | None = "vjp"):
    """A correct submission with an extra code cell inserted after the solution cell ``after`` (None: the first
    graded function's)."""
    def build(release, correct, paths):
        nb = fill(release, correct)
        anchor = after or next(iter(correct))
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == anchor)
        cell = nbformat.v4.new_code_cell(code.format(**paths))
        cell["id"] = "attack-cell"
        nb.cells.insert(index + 1, cell)
        return nb, None, {}
    return build


def _answers(**overrides):
    def build(release, correct, paths):
        return fill(release, {**correct, **overrides}), None, {}
    return build


def _raw(data: bytes):
    def build(release, correct, paths):
        return None, data, {}
    return build


def _edited(edit):
    def build(release, correct, paths):
        nb = fill(release, correct)
        edit(nb)
        return nb, None, {}
    return build


def _delete_cell(grade_id):
    def edit(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return edit


def _tamper_metadata(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "test_vjp":
            meta["points"] = 100
        if meta.get("grade_id") == "test_linear_vjp_hidden":
            meta["grade_id"] = "my_own_cell"
            meta["points"] = 50


def _wrong_kernel(nb):
    nb.metadata["kernelspec"] = {"name": "python2", "display_name": "Python 2", "language": "python"}


def _renamed(release, correct, paths):
    return fill(release, correct), None, {"rename": "vjp (1).ipynb"}


def _missing(release, correct, paths):
    return None, None, {"files": {"notes.txt": b"forgot the notebook\n"}}


def _symlink(release, correct, paths):
    return fill(release, correct), None, {"symlinks": {"data.csv": paths["gradebook"]}}


