"""The boundary when the instructor is an ordinary user: the same attacks, graded by both graders run as
a uid without privileges (``tests/run_as_user.py``). Kernels then keep the grader's uid (nothing else is
possible without privileges), so the attacks here are the ones namespaces and Landlock must stop alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import ASSIGNMENT, ATTACKS
from course_fixtures import grades
from test_corpus import BYSTANDERS, _attack_output, _build, _tree_hash

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("unprivileged"),
              pytest.mark.skipif(os.geteuid() != 0, reason="switching to an ordinary user needs root")]
BIN = Path(sys.executable).parent
RUN_AS = Path(__file__).resolve().parents[1] / "run_as_user.py"
INSTRUCTOR_UID = 4242
# Attacks on files, processes, other kernels, the zygote and the probe; "privileged-uid" is left out on
# purpose: here the kernel shares the (unprivileged) grader's uid, as documented.
CHOSEN = ("read-source", "write-gradebook", "overwrite-other", "kill-grader", "read-grader-environ", "network",
          "zygote-by-socket", "zygote-by-process", "other-processes", "other-connection-files",
          "other-scenarios", "trusted-package")
_RUNS: dict[str, dict] = {}


def _graded(grader: str, tmp_path_factory) -> dict:
    if grader not in _RUNS:
        course = _build(tmp_path_factory.mktemp(f"unprivileged-{grader}") / "c",
                        [a for a in ATTACKS if a.name in CHOSEN])
        before = {"source": _tree_hash(course / "source"),
                  "bystanders": {s: _tree_hash(course / "submitted" / s) for s in BYSTANDERS}}
        command = [str(BIN / grader), "autograde", ASSIGNMENT, "--force"]
        done = subprocess.run([sys.executable, str(RUN_AS), str(INSTRUCTOR_UID), str(course), "--", *command],
                              capture_output=True, text=True)
        _RUNS[grader] = {"course": course, "done": done, "before": before}
    return _RUNS[grader]


@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_an_unprivileged_grader_contains_every_attack(grader, tmp_path_factory):
    run = _graded(grader, tmp_path_factory)
    course, done = run["course"], run["done"]
    table = grades(course, ASSIGNMENT)
    assert set(BYSTANDERS) <= set(table), done.stdout[-2000:] + done.stderr[-2000:]
    for student in BYSTANDERS:
        assert all(score == top for score, top, _ in table[student].values()), (student, table[student])
    for name in CHOSEN:
        printed = _attack_output(course, f"attack-{name}")
        assert "ATTACK-BLOCKED" in printed and "ATTACK-SUCCEEDED" not in printed, (name, printed[-500:])
    assert _tree_hash(course / "source") == run["before"]["source"]
    for student, digest in run["before"]["bystanders"].items():
        assert _tree_hash(course / "submitted" / student) == digest
