"""The adversarial corpus under both graders: every attack is contained, every broken submission is
graded for what it earned with a clear reason, bystanders are graded normally, and nothing outside the
kernels' scratch directories changes. The two graders must also agree cell by cell (issue: same grades).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import attack_kit
import nbformat
import pytest
from attack_kit import Target
from corpus import ASSIGNMENT, ATTACKS, FULL, FUNCTIONS, NOTEBOOK, TEST_LIMITS
from course_fixtures import answers, grades, new_course, release, submit
from generic_attacks import generic_attacks
from ps6_attacks import ps6_attacks

from autograder.demo.cohort import fill
from autograder.probe.scenario import assignments

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]  # grouped per part in conftest.py
PARTS = 2  # the corpus is graded in two courses, so that two test workers can share the work
BYSTANDERS = ("bystander-a", "bystander-b")
BIN = Path(sys.executable).parent
_RUNS: dict[str, dict] = {}
PS2 = Target(ASSIGNMENT, NOTEBOOK, FUNCTIONS, FULL)
PS6 = attack_kit.target("ps6_training")
# ps6_training's corpus: one part of its own (one course per grader), the assignment-independent attacks and
# ps6's own; its tests carry "ps6" in their names (conftest.py groups them as "corpus-ps6")
PS6_ATTACKS = generic_attacks(PS6) + ps6_attacks(PS6)
assert len({a.name for a in PS6_ATTACKS}) == len(PS6_ATTACKS), "two ps6 attacks share a name"


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _running_in(folder: Path) -> list[str]:
    """Command lines of the processes whose working folder is ``folder`` or inside it."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if cwd == folder or folder in cwd.parents:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return found


def part_of(attack) -> int:
    return ATTACKS.index(attack) % PARTS


def _build(root: Path, attacks: list, t: Target = PS2) -> Path:
    assignment, notebook = t.assignment, t.notebook
    course = new_course(root, [assignment])
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(TEST_LIMITS)
    correct = answers(assignment)
    rel = release(course, assignment)
    for student in BYSTANDERS:
        submit(course, student, assignment, fill(rel, correct))
    paths = {"source": str(course / "source" / assignment / f"{notebook}.ipynb"),
             "gradebook": str(course / "gradebook.db"),
             "other": str(course / "submitted" / BYSTANDERS[0] / assignment / f"{notebook}.ipynb"),
             "other_assignments": repr(tuple(a for a in assignments() if a != assignment))}
    controls = {a.control[0]: a.control[1] for a in attacks if a.control}
    for name, overrides in controls.items():     # what the attacks with a control must earn, without the attack
        submit(course, f"control-{name}", assignment, fill(rel, {**correct, **overrides}))
    for attack in attacks:
        nb, raw, extra = attack.build(rel, correct, paths)
        folder = course / "submitted" / attack.student / assignment
        if extra.get("rename"):
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / extra["rename"])
            (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
            continue
        if nb is None and raw is None:
            submit(course, attack.student, assignment, None, extra_files=extra.get("files"))
            (folder / f"{notebook}.ipynb").unlink(missing_ok=True)
            continue
        submit(course, attack.student, assignment, nb, raw=raw)
        for name, target in extra.get("symlinks", {}).items():
            os.symlink(target, folder / name)
        if extra.get("lay_down"):  # anything else an attack leaves in its folder (links, pipes, odd names)
            extra["lay_down"](folder, paths)
    return course


# Plain nbgrader forks its kernels from a warm zygote (``c.Sandbox.warm_kernels``, the default). The attacks
# on the kernel's process, its rights, its files and its limits are also run with that switched off (a new
# interpreter per kernel, the other way a kernel starts): grader "nbgrader-fresh", part "fresh".
FRESH_KERNEL_ATTACKS = [a for a in ATTACKS if a.name in {
    "zygote-by-process", "other-processes", "other-connection-files", "privileged-uid", "trusted-package",
    "read-source", "write-gradebook", "kill-grader", "read-grader-environ", "fork-bomb", "segfault"}]
FRESH_KERNELS = "\nc.Sandbox.warm_kernels = False  # a new interpreter per kernel\n"


def _run(grader: str, part: int | str, tmp_path_factory) -> dict:
    """The course of one corpus part (0, 1: ps2_vjp's halves; "ps6": ps6_training's; "fresh": the attacks on a
    kernel started as a new interpreter) graded by one grader, once."""
    if (grader, part) in _RUNS:
        return _RUNS[grader, part]
    t, attacks = ((PS6, PS6_ATTACKS) if part == "ps6" else (PS2, FRESH_KERNEL_ATTACKS) if part == "fresh"
                  else (PS2, ATTACKS[part::PARTS]))
    course = _build(tmp_path_factory.mktemp(f"corpus-{grader}-{part}"), attacks, t)
    if grader == "nbgrader-fresh":
        with open(course / "nbgrader_config.py", "a") as fh:
            fh.write(FRESH_KERNELS)
    protected = {"source": _tree_hash(course / "source"), "release": _tree_hash(course / "release"),
                 "bystanders": {s: _tree_hash(course / "submitted" / s) for s in BYSTANDERS}}
    command = [str(BIN / grader.split("-")[0]), "autograde", t.assignment, "--force"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=course, capture_output=True, text=True)
    time.sleep(0.5)  # a process the grader left behind (its zygote, a kernel) would still be there
    _RUNS[grader, part] = {"course": course, "protected": protected, "done": done, "part": part, "target": t,
                           "attacks": attacks, "seconds": time.monotonic() - started,
                           "grades": grades(course, t.assignment), "left_running": _running_in(course)}
    return _RUNS[grader, part]


@pytest.fixture(params=["nbgrader", "autograder"])
def grader(request):
    return request.param


@pytest.fixture(params=range(PARTS))
def part(request):
    return request.param


@pytest.fixture
def run(grader, part, tmp_path_factory):
    return grader, _run(grader, part, tmp_path_factory)


def _total(cells: dict) -> float:
    return sum(score or 0.0 for score, _max, _manual in cells.values())


def _attack_output(course: Path, student: str, t: Target = PS2) -> str:
    path = course / "autograded" / student / t.assignment / f"{t.notebook}.ipynb"
    if not path.exists():
        return ""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.get("id") == "attack-cell"]
    return "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))


def _problems(course: Path, student: str, t: Target = PS2) -> str:
    marker = course / "autograded" / student / t.assignment / ".autograder-graded.json"
    return " ".join(json.loads(marker.read_text())["problems"]) if marker.exists() else ""


def _autograded_text(course: Path, student: str, t: Target = PS2) -> str:
    path = course / "autograded" / student / t.assignment / f"{t.notebook}.ipynb"
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_attack_is_contained_and_graded_for_what_it_earned(grader, attack, tmp_path_factory):
    _check_attack(grader, attack, _run(grader, part_of(attack), tmp_path_factory))


def _check_attack(grader: str, attack, result: dict) -> None:
    table, t = result["grades"], result["target"]
    expected = attack.expect_total
    if grader == "nbgrader" and attack.nbgrader_skips:
        assert attack.student not in table or _total(table[attack.student]) == 0.0
        assert "No notebooks were matched" in result["done"].stdout + result["done"].stderr
        return
    assert attack.student in table, f"{attack.student} was not graded:\n{result['done'].stdout[-3000:]}"
    cells = table[attack.student]
    control = table.get(f"control-{attack.control[0]}") if attack.control else None
    if attack.control:
        assert control, f"the control of {attack.name} was not graded"
    for cell, (score, max_score, manual) in cells.items():
        assert not manual, f"{cell} was left for manual grading"
        function = cell.removeprefix("test_").removesuffix("_hidden")
        if control is not None:           # exactly what the same work earns without the trick
            shown = _autograded_text(result["course"], attack.student, t)[-4000:]
            assert score == control[cell][0], f"{cell}: {score}, without the attack {control[cell][0]}\n{shown}"
        elif expected == 0.0 or function in attack.zero_functions:
            assert score == 0.0, f"{cell}: {score}"
        elif expected == t.full:
            shown = _autograded_text(result["course"], attack.student, t)[-4000:]
            assert score == max_score, f"{cell}: {score}/{max_score}\n{shown}"
    if control is not None:               # ... and that is not full marks for what the trick would fake
        for function in attack.control[1]:
            mine = [v for c, v in control.items() if c.removeprefix("test_").removesuffix("_hidden") == function]
            assert sum(v[0] or 0.0 for v in mine) < sum(v[1] for v in mine), f"control of {function}: {mine}"
    if attack.attack_cell:
        printed = _attack_output(result["course"], attack.student, t)
        assert "ATTACK-BLOCKED" in printed, f"the attack cell did not run: {printed!r}"
        assert "ATTACK-SUCCEEDED" not in printed, f"{attack.what}: NOT contained"
    if attack.reason and grader == "autograder":
        problems = _problems(result["course"], attack.student, t)
        assert attack.reason.lower() in problems.lower(), f"reason {attack.reason!r} not in {problems!r}"


@pytest.mark.parametrize("attack", FRESH_KERNEL_ATTACKS, ids=[a.name for a in FRESH_KERNEL_ATTACKS])
def test_fresh_kernel_attack_is_contained_and_graded_for_what_it_earned(attack, tmp_path_factory):
    _check_attack("nbgrader", attack, _run("nbgrader-fresh", "fresh", tmp_path_factory))


def test_fresh_kernels_leave_bystanders_and_everything_outside_the_scratch_directories_alone(tmp_path_factory):
    result = _run("nbgrader-fresh", "fresh", tmp_path_factory)
    assert "warm_kernels = False" in (result["course"] / "nbgrader_config.py").read_text()
    _check_bystanders(result)
    _check_untouched(result)


def test_bystanders_are_graded_normally(run):
    grader, result = run
    _check_bystanders(result)


def _check_bystanders(result: dict) -> None:
    for student in BYSTANDERS:
        cells = result["grades"][student]
        assert all(score == max_score for score, max_score, _ in cells.values()), (student, cells)


def test_nothing_outside_the_scratch_directories_changed(run):
    grader, result = run
    _check_untouched(result)


def _check_untouched(result: dict) -> None:
    course, before = result["course"], result["protected"]
    assert not result["left_running"], f"processes outlived the grader: {result['left_running']}"
    assert _tree_hash(course / "source") == before["source"]
    assert _tree_hash(course / "release") == before["release"]
    for student, digest in before["bystanders"].items():
        assert _tree_hash(course / "submitted" / student) == digest, f"{student}'s submission changed"
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0] == 0
    for attack in result["attacks"]:
        quarantine = course / "submitted" / attack.student / result["target"].assignment / ".autograder-quarantine"
        if attack.reason in ("not valid JSON", "empty", "not UTF-8", "not a Jupyter notebook", "symbolic link"):
            assert quarantine.is_dir() and any(quarantine.iterdir()), f"{attack.name}: original not kept"


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.name == "truncated-json"], ids=["truncated-json"])
def test_broken_submission_feedback_says_why(attack, tmp_path_factory):
    # ``attack`` puts the test in its part's group (conftest.py): that worker has graded the part already
    result = _run("autograder", part_of(attack), tmp_path_factory)
    text = _autograded_text(result["course"], attack.student)
    assert "could not be graded" in text and "not valid JSON" in text


def test_both_graders_give_the_same_grades(part, tmp_path_factory):
    _check_same_grades(part, tmp_path_factory)


def _check_same_grades(part: int | str, tmp_path_factory) -> None:
    a = _run("nbgrader", part, tmp_path_factory)["grades"]
    b = _run("autograder", part, tmp_path_factory)["grades"]
    skipped = {attack.student for attack in ATTACKS + PS6_ATTACKS if attack.nbgrader_skips}  # documented
    differ = {}
    for student in set(a) | set(b):
        if student in skipped:
            continue
        for cell in set(a.get(student, {})) | set(b.get(student, {})):
            left, right = a.get(student, {}).get(cell), b.get(student, {}).get(cell)
            if (left and left[0]) != (right and right[0]):
                differ[(student, cell)] = (left, right)
    assert not differ, differ


def test_functions_cover_the_assignment():
    assert set(FUNCTIONS) == {c.metadata["nbgrader"]["grade_id"] for c in release(
        Path(__file__).resolve().parents[2], ASSIGNMENT).cells if c.metadata.get("nbgrader", {}).get("solution")}


# ------------------------------------------------------------------ ps6_training: its own part, one course per grader
@pytest.mark.parametrize("attack", PS6_ATTACKS, ids=[a.name for a in PS6_ATTACKS])
@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_ps6_attack_is_contained_and_graded_for_what_it_earned(grader, attack, tmp_path_factory):
    _check_attack(grader, attack, _run(grader, "ps6", tmp_path_factory))


@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_ps6_bystanders_are_graded_normally(grader, tmp_path_factory):
    result = _run(grader, "ps6", tmp_path_factory)
    _check_bystanders(result)
    print(f"ps6 corpus graded by {grader} in {result['seconds']:.0f} s")


@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_ps6_nothing_outside_the_scratch_directories_changed(grader, tmp_path_factory):
    _check_untouched(_run(grader, "ps6", tmp_path_factory))


def test_ps6_both_graders_give_the_same_grades(tmp_path_factory):
    _check_same_grades("ps6", tmp_path_factory)


def test_ps6_functions_cover_the_assignment():
    assert PS6.functions == ("parameter_grads", "train_step", "accumulated_step", "checkpointed_forward")
    assert PS6.full == 18.0
    assert {f for a in PS6_ATTACKS for f in a.zero_functions} <= set(PS6.functions)


def teardown_module(module):
    for run in _RUNS.values():
        shutil.rmtree(run["course"], ignore_errors=True)


# ---------------------------------------------------------------- class 7: student output live in a browser
_FEEDBACK_RUNS: dict[tuple[str, int], subprocess.CompletedProcess] = {}
INERT_MIMES = {"text/plain", "text/latex", "text/html", "text/markdown", "image/png", "image/jpeg", "image/gif"}


def _feedback_html(grader: str, attack, tmp_path_factory) -> str:
    """``nbgrader generate_feedback`` for the corpus's rich-output students (once per graded course)."""
    result = _run(grader, part_of(attack), tmp_path_factory)
    key = (grader, part_of(attack))
    if key not in _FEEDBACK_RUNS:
        _FEEDBACK_RUNS[key] = subprocess.run(
            [str(BIN / "nbgrader"), "generate_feedback", ASSIGNMENT, "--student", "attack-rich-*", "--force"],
            cwd=result["course"], capture_output=True, text=True)
    page = result["course"] / "feedback" / attack.student / ASSIGNMENT / f"{NOTEBOOK}.html"
    done = _FEEDBACK_RUNS[key]
    assert page.exists(), f"no feedback for {attack.student}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return page.read_text()


def _rendered_without_defence(nb) -> dict[str, str]:
    """The notebook as nbconvert renders it with no sanitizing of its own (formgrader's templates are
    built on ``classic``; JupyterLab's export on ``lab``)."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    return {template: HTMLExporter(config=Config(), template_name=template).from_notebook_node(nb)[0]
            for template in ("classic", "lab")}


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.inert_output],
                         ids=[a.name for a in ATTACKS if a.inert_output])
@pytest.mark.parametrize("grader", ["nbgrader", "autograder"])
def test_student_output_is_inert_in_autograded_notebook_and_feedback(grader, attack, tmp_path_factory):
    from active_content import MARKER, active_content

    result = _run(grader, part_of(attack), tmp_path_factory)
    path = result["course"] / "autograded" / attack.student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert path.exists(), f"{attack.student} was not graded:\n{result['done'].stdout[-3000:]}"
    nb = nbformat.read(path, as_version=4)
    assert MARKER in path.read_text(), "the attack left no trace at all: did its payload reach the notebook?"
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            extra = set(output.get("data", {})) - INERT_MIMES
            assert not extra, f"rich output kept in autograded/: {extra}"
            assert output.get("output_type") != "update_display_data"
        for bundle in cell.get("attachments", {}).values():
            assert set(bundle) <= {"image/png", "image/jpeg", "image/gif"}, set(bundle)
    for template, page in _rendered_without_defence(nb).items():
        assert active_content(page) == [], f"{template} rendering of autograded/ runs student content"

    feedback = _feedback_html(grader, attack, tmp_path_factory)
    assert active_content(feedback) == [], "the feedback HTML runs student content"
    # the judge's trusted feedback still renders as HTML (styled box, emphasis), not as escaped text
    assert '<div class="autograder-feedback" style=' in feedback
    assert "&lt;div class=&quot;autograder-feedback" not in feedback
    if attack.name == "rich-html":   # an honest image stays
        assert 'src="data:image/png;base64,iVBORw0KGgo' in feedback


# ----------------------------------------------------------------------------- through instant feedback
def _through_the_service(part: int, tmp_path_factory) -> dict:
    """The part's attacks submitted through the exchange of a real hub (as their own hub users) and graded by
    the instant feedback service; returns what the exchange refused, what the service answered, the grades in
    its scratch gradebook and, per hub user, whether the exchange holds exactly the batch's files."""
    import threading
    import time
    import urllib.error
    import urllib.request

    from autograder.classroom.headless import HeadlessClassroom
    from autograder.classroom.launcher import proxy_command
    from autograder.course import Course, CourseError
    from autograder.exchange import archive, protocol
    from autograder.instant.service import InstantService

    try:
        proxy_command()
    except CourseError as error:
        pytest.skip(str(error))
    tmp = tmp_path_factory.mktemp(f"corpus-instant-{part}")
    built = _build(tmp / "built", ATTACKS[part::PARTS])         # fresh folders: the batch run repaired its own
    course = tmp / "course"
    course.mkdir()
    for name in ("source", "release"):
        shutil.copytree(built / name, course / name)
    shutil.copy2(built / "nbgrader_config.py", course / "nbgrader_config.py")
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(f'\nc.InstantFeedback.assignments = {{"{ASSIGNMENT}": {{"enabled": True, "per_hour": 100}}}}\n')
    students = [a.student for a in ATTACKS[part::PARTS]] + list(BYSTANDERS)
    users = {student: f"a{i:03d}" for i, student in enumerate(students)}   # hub names: unix logins
    (course / "roster.csv").write_text("id,first_name,last_name,email\n" + "".join(f"{u},,,\n" for u in users.values()))
    # passwords nobody types here (submissions use API tokens): bcrypt's least work at the hub's first start
    (course / "classroom.toml").write_text("[classroom]\npassword_cost = 4\n")
    refused, same_files = {}, {}
    with HeadlessClassroom(course, tmp / "hub") as room:
        room.exchange("instructor", "ServiceReleaseAssignment", course, ASSIGNMENT)
        route = f"{room.exchange_url}{protocol.API}/courses/{room.course_id}/assignments/{ASSIGNMENT}/submissions"
        for student, user in users.items():
            room.add_user(user)
            folder = built / "submitted" / student / ASSIGNMENT
            files = [(n, p) for n, p in archive.files_of(folder) if n != protocol.TIMESTAMP_FILE]
            entries = {str(p.relative_to(folder)) for p in folder.rglob("*")} - {protocol.TIMESTAMP_FILE}
            try:
                data = archive.pack(files)
            except archive.Unpackable as error:     # what the student's Submit says, and sends nothing
                refused[student] = (400, str(error))
                continue
            same_files[user] = entries == {n for n, _ in files}     # no link, pipe, socket or folder left out
            request = urllib.request.Request(route, data=data, method="POST", headers={
                "Authorization": f"token {room.token(user)}", "Content-Type": "application/zip"})
            try:
                urllib.request.urlopen(request, timeout=60).close()
            except urllib.error.HTTPError as error:
                refused[student] = (error.code, json.loads(error.read()).get("error", ""))
        service = InstantService(Course(course), tmp / "serve", room.exchange_url, room.token("instructor"),
                                 poll=0.5, workers=2)
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        accepted = [users[s] for s in students if s not in refused]
        deadline = time.monotonic() + 1800
        try:
            while not all(any(k.startswith(f"{ASSIGNMENT}/{u}/") for k in service.state.answered) for u in accepted):
                assert thread.is_alive(), "the service stopped"
                assert time.monotonic() < deadline, "the service did not answer every submission"
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=600)
        answered = {k.split("/")[1]: v["outcome"] for k, v in service.state.answered.items()}
        scratch = grades(service.scratch.root, ASSIGNMENT)
    return {"users": users, "refused": refused, "answered": answered, "grades": scratch, "same_files": same_files}


@pytest.mark.parametrize("part", range(PARTS))
def test_hostile_submissions_through_instant_feedback_get_the_batch_grades(part, tmp_path_factory):
    batch = _run("autograder", part, tmp_path_factory)["grades"]
    served = _through_the_service(part, tmp_path_factory)
    users = served["users"]
    for student, (status, message) in served["refused"].items():
        assert 400 <= status < 500 and message, (student, status, message)     # refused, saying why
    compared = 0
    for student, user in users.items():
        if student in served["refused"]:
            continue
        outcome = served["answered"].get(user, "")
        assert outcome.startswith("graded"), f"{student}: {outcome}"        # answered, never a service failure
        if not served["same_files"][user]:
            continue        # the exchange stores regular files only: the service grades another submission
        mine, theirs = served["grades"].get(user, {}), batch.get(student, {})
        assert {c: s for c, (s, _, _) in mine.items()} == {c: s for c, (s, _, _) in theirs.items()}, student
        compared += 1
    assert compared >= len(users) // 2, f"only {compared} of {len(users)} submissions compared"
