"""The adversarial corpus: one ps2_vjp submission per attack or kind of broken input, with the outcome
it must have. Attack cells print ATTACK-BLOCKED when the sandbox stops them and ATTACK-SUCCEEDED when
it does not, so a test can read the verdict from the autograded notebook."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import nbformat

from autograder.demo.cohort import CHEAT_CELL, fill

ASSIGNMENT = "ps2_vjp"
NOTEBOOK = "vjp"
FUNCTIONS = ("vjp", "weighted_upstream", "weighted_sensitivity", "linear_vjp")
FULL = 15.0

# Limits used by the corpus (small, so that the tests are fast and never endanger the machine).
TEST_LIMITS = """
c.Execute.timeout = 30
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

    @property
    def student(self) -> str:
        return f"attack-{self.name}"


def _with_cell(code: str, after: str = "vjp"):
    """A correct submission with an extra code cell inserted after the solution cell ``after``."""
    def build(release, correct, paths):
        nb = fill(release, correct)
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
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


FORGE = '''
def vjp(f, x, v):
    from IPython.display import display
    display({{"application/vnd.autograder.probe+json": {{"v": 1, "scenario": "vjp/visible", "grade_id": "test_vjp",
              "function": "vjp", "status": "done", "calls": {{}}, "inputs_before": {{}}, "inputs_after": {{}},
              "observed": {{}}}}}}, raw=True)
    return torch.zeros_like(x)
'''

PATCH_PROBE = '''
import autograder.probe as _probe
_probe.collect = lambda *args, **kwargs: []
import IPython.display
IPython.display.display = lambda *args, **kwargs: None
def vjp(f, x, v):
    return torch.zeros_like(x)
'''

ZEROS = {fn: f"def {fn}(*args, **kwargs):\n    return torch.tensor(0.0)\n" for fn in FUNCTIONS}


ATTACKS = [
    Attack("read-source", "reads the instructor's source notebook (solutions)",
           _with_cell(guarded("print(open({source!r}).read()[:200])")), attack_cell=True),
    Attack("read-gradebook", "reads gradebook.db",
           _with_cell(guarded("print(open({gradebook!r}, 'rb').read(64))")), attack_cell=True),
    Attack("write-gradebook", "rewrites everyone's grades in gradebook.db with sqlite3",
           _with_cell(guarded("import sqlite3\ncon = sqlite3.connect({gradebook!r})\n"
                              "con.execute('UPDATE grade SET manual_score = 0')\ncon.commit()")), attack_cell=True),
    Attack("overwrite-other", "overwrites another student's submission",
           _with_cell(guarded("open({other!r}, 'w').write('{{}}')")), attack_cell=True),
    Attack("read-home", "lists the grader's home directory",
           _with_cell(guarded("import os, pwd\nprint(os.listdir(pwd.getpwuid(os.getuid()).pw_dir))")),
           attack_cell=True),
    Attack("network", "opens a network connection",
           _with_cell(guarded("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)")),
           attack_cell=True),
    Attack("kill-grader", "sends SIGKILL to the process that started the kernel",
           _with_cell(guarded("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")), attack_cell=True),
    Attack("read-grader-environ", "reads the grader's environment through /proc",
           _with_cell(guarded("import os\nprint(open(f'/proc/{{os.getppid()}}/environ','rb').read(100))")),
           attack_cell=True),
    Attack("fork-bomb", "forks processes until something gives",
           _with_cell(guarded("import os, time\nfor _ in range(400):\n    if os.fork() == 0:\n"
                              "        time.sleep(3)\n        os._exit(0)")), attack_cell=True),
    Attack("memory-bomb", "allocates 8 GB",
           _with_cell(guarded("block = bytearray(8 * 2**30)")), attack_cell=True),
    Attack("disk-fill", "writes 200 MB into its working directory",
           _with_cell(guarded("with open('fill.bin', 'wb') as fh:\n    for _ in range(200):\n"
                              "        fh.write(b'x' * 2**20)")), attack_cell=True),
    Attack("huge-output", "prints 20 MB", _with_cell("print('spam ' * 4_000_000)"), reason="output truncated"),
    Attack("endless-function", "an endless loop in vjp",
           _answers(vjp="def vjp(f, x, v):\n    while True:\n        pass\n"), zero_functions=("vjp",),
           reason="did not finish"),
    Attack("endless-cell", "an endless loop at top level",
           _with_cell("while True:\n    pass"), reason="time limit"),
    Attack("sys-exit", "calls sys.exit()", _with_cell("import sys\nsys.exit(3)")),
    Attack("os-exit", "kills its own kernel with os._exit", _with_cell("import os\nos._exit(1)"),
           reason="kernel died"),
    Attack("segfault", "crashes the interpreter (segmentation fault)",
           _with_cell("import ctypes\nctypes.string_at(0)"), reason="kernel died"),
    Attack("monkeypatch", "monkeypatches torch/numpy/math comparisons and returns zeros",
           _answers(**{**ZEROS, "vjp": CHEAT_CELL + "\n" + ZEROS["vjp"]}), expect_total=0.0),
    Attack("patch-probe", "disables the hidden tests' probe and display, returns zeros",
           _answers(**{**ZEROS, "vjp": PATCH_PROBE}), expect_total=0.0),
    Attack("forge-records", "emits forged probe records from its own function",
           _answers(vjp=FORGE), zero_functions=("vjp",)),
    Attack("deleted-test-cell", "deleted the hidden test cell of vjp", _edited(_delete_cell("test_vjp_hidden"))),
    Attack("edited-metadata", "raised its points and renamed a test cell's grade id", _edited(_tamper_metadata)),
    Attack("wrong-kernel", "notebook metadata names another kernel", _edited(_wrong_kernel)),
    Attack("truncated-json", "the notebook file is cut off half-way",
           lambda release, correct, paths: (None, nbformat.writes(fill(release, correct)).encode()[:5000], {}),
           expect_total=0.0, reason="not valid JSON"),
    Attack("empty-file", "an empty notebook file", _raw(b""), expect_total=0.0, reason="empty"),
    Attack("non-utf8", "bytes that are not UTF-8", _raw(b'{"cells": [\xff\xfe\xfa]}'), expect_total=0.0,
           reason="not UTF-8"),
    Attack("not-a-notebook", "valid JSON that is not a notebook", _raw(json.dumps([1, 2, 3]).encode()),
           expect_total=0.0, reason="not a Jupyter notebook"),
    Attack("renamed", "saved the notebook as 'vjp (1).ipynb'", _renamed, reason="graded vjp (1).ipynb"),
    Attack("missing", "no notebook at all", _missing, expect_total=0.0, reason="missing", nbgrader_skips=True),
    Attack("symlink", "a data file that is a symbolic link to gradebook.db", _symlink, reason="symbolic link"),
]
