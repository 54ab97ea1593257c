"""The adversarial corpus: one ps2_vjp submission per attack or kind of broken input, with the outcome
it must have. The attacks below are the first corpus; every ``attacks_*.py`` beside this file adds a
class of its own (its module-level ``ATTACKS`` list), so that a new class of attack is a new file."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import nbformat
from attack_kit import (  # noqa: F401  (re-exported for the tests)
    ASSIGNMENT,
    FULL,
    FUNCTIONS,
    NOTEBOOK,
    TEST_LIMITS,
    Attack,
    _answers,
    _delete_cell,
    _edited,
    _missing,
    _raw,
    _renamed,
    _symlink,
    _tamper_metadata,
    _with_cell,
    _wrong_kernel,
    guarded,
)

from autograder.demo.cohort import CHEAT_CELL, fill

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
           # (a parent pid of 0 means the parent lies outside the kernel's pid namespace: kill(0) would be
           # the kernel's own process group, not an attack on anybody)
           _with_cell(guarded("import os, signal\nparent = os.getppid()\nif parent == 0:\n"
                              "    raise ProcessLookupError('the parent is outside the pid namespace')\n"
                              "os.kill(parent, signal.SIGKILL)")), attack_cell=True),
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


for _module in sorted(Path(__file__).parent.glob("attacks_*.py")):
    ATTACKS += importlib.import_module(_module.stem).ATTACKS
assert len({a.name for a in ATTACKS}) == len(ATTACKS), "two attacks share a name"
