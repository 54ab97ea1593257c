"""A whole round of the class on `autograder hub`, in Chromium, with real unix users (root only); then the
same course with instant feedback on, where the diagnosis reaches the student without the instructor.

The instructor logs in with the printed password, generates and releases ps2_vjp in formgrader; a student
logs in, fetches it from the Assignments tab, works it with a typical mistake (weighted_upstream weights the
first column of ``out`` instead of its first row), validates and submits; the instructor collects,
autogrades, generates and releases feedback in formgrader; the student fetches the feedback in the
Assignments tab and opens it: the diagnosis of the mistake is on the page.

The course is a temporary copy (ps2_vjp's source, the course's nbgrader_config.py) owned by the
instructor's unix user, as docs/classroom.md asks; the unix users are removed afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from course_fixtures import answers
from harness import _KERNEL_READY_JS, CHROMIUM, RUN_TIMEOUT_MS, SUBMITTED_MISTAKE, NotebookUI, launch_chromium, shot
from playwright.sync_api import Page, expect
from support import ROOT

from autograder.classroom.accounts import ensure_unix_user
from autograder.demo.mistakes import MISTAKES

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the classroom gives each account a unix user: root only")]

COURSE_ID = "autograd-course"     # the course's nbgrader_config.py
ASSIGNMENT = "ps2_vjp"
FUNCTIONS = ["vjp", "weighted_upstream", "weighted_sensitivity", "linear_vjp"]
SPAWN_TIMEOUT_MS = 240_000        # a server started by the hub, then JupyterLab loaded, on a busy machine
GRADE_TIMEOUT_MS = 600_000        # formgrader's Autograde runs the notebook in the sandbox
DIAGNOSIS = re.compile(r"you weighted the first \*?column\*? of .?out")


def _classroom(instant: bool):
    """A course on `autograder hub` with an instructor and a student, each a unix user of their own; with
    ``instant``, the course config turns instant feedback on for ps2_vjp and the hub starts its service."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium)")
    from test_classroom_hub import Hub, _remove_users

    from autograder.classroom.launcher import free_port

    tag = "agb" + secrets.token_hex(2)
    names = {"instructor": f"{tag}i", "student": f"{tag}s", "prefix": tag}
    base = Path(tempfile.mkdtemp(prefix="classroom-", dir="/tmp"))
    os.chmod(base, 0o755)
    course = base / "course"
    shutil.copytree(ROOT / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    if instant:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f'\nc.InstantFeedback.assignments = {{"{ASSIGNMENT}": {{"enabled": True}}}}\n')
    (course / "classroom.toml").write_text(f'[classroom]\ninstructors = ["{names["instructor"]}"]\n')
    (course / "roster.csv").write_text(f"id,first_name,last_name,email\n{names['student']},Ben,Bitdiddle,\n")
    server = None
    try:
        # The instructor's formgrader runs as their unix user: the course folder is theirs (docs/classroom.md).
        entry, _ = ensure_unix_user(names["instructor"], COURSE_ID)
        subprocess.run(["chown", "-R", f"{entry.pw_uid}:{entry.pw_gid}", str(course)], check=True)
        server = Hub(course, base / "state", free_port(), names)
        server.wait_ready()
        for name in (names["instructor"], names["student"]):
            no_news_toast(name)
        yield server
    finally:
        if server is not None:
            for name in (names["instructor"], names["student"]):
                server.api("DELETE", f"users/{name}/server")
            server.stop()
            print("\n".join(line for line in server.lines if not line.startswith("[D")))
        _remove_users(tag)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def classroom():
    yield from _classroom(instant=False)


@pytest.fixture(scope="module")
def instant_classroom():
    yield from _classroom(instant=True)


def no_news_toast(name: str) -> None:
    """JupyterLab's "get notified about Jupyter news?" toast would cover part of the screenshots: answer it
    in the user's own JupyterLab settings, as the harness does for its server (the hub made the home)."""
    entry = pwd.getpwnam(name)
    folder = Path(entry.pw_dir)
    for part in (".jupyter", "lab", "user-settings", "@jupyterlab", "apputils-extension"):
        folder = folder / part
        folder.mkdir(exist_ok=True)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    settings = folder / "notification.jupyterlab-settings"
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    os.chown(settings, entry.pw_uid, entry.pw_gid)


@pytest.fixture
def browsers(playwright_driver, tmp_path):
    """One Chromium (own profile, own cookies) per person."""
    contexts = {}

    def open_for(name: str) -> Page:
        contexts[name] = launch_chromium(playwright_driver, tmp_path / f"profile-{name}")
        return contexts[name].pages[0] if contexts[name].pages else contexts[name].new_page()

    yield open_for
    for context in contexts.values():
        context.close()


def log_in(page: Page, hub, name: str) -> None:
    """The hub's login page with the password `autograder hub` printed; the server starts, JupyterLab loads."""
    page.goto(f"{hub.url}/hub/login")
    page.locator("#username_input").fill(name)
    page.locator("#password_input").fill(hub.password(name))
    page.locator("#login_submit").click()
    page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=SPAWN_TIMEOUT_MS)
    page.locator("#jp-main-dock-panel").wait_for(timeout=SPAWN_TIMEOUT_MS)
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).wait_for(timeout=SPAWN_TIMEOUT_MS)


def modal_says(page: Page, text: str, timeout: float = RUN_TIMEOUT_MS) -> None:
    """Formgrader's answer to a button: a success modal naming the action (an error modal fails the test)."""
    modal = page.locator("#success-modal, #error-modal")
    modal.wait_for(timeout=timeout)
    body = modal.inner_text()
    assert modal.get_attribute("id") == "success-modal", body
    assert text in body, body


def close_modal(page: Page) -> None:
    page.locator(".modal [data-dismiss='modal']").first.click()
    page.locator(".modal").wait_for(state="detached")


def formgrader_row(page: Page):
    row = page.locator("#main-table tr", has=page.locator("td.name", has_text=ASSIGNMENT))
    row.wait_for()
    return row


def formgrader_action(page: Page, column: str, success: str, timeout: float = RUN_TIMEOUT_MS) -> None:
    link = formgrader_row(page).locator(f"td.{column} a")
    link.click()
    modal_says(page, success, timeout)


def open_assignments_tab(page: Page):
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-item[data-command='nbgrader:open-assignment-list']").click()
    panel = page.locator("#released_assignments_list")
    panel.wait_for()
    return panel


def assignment_item(page: Page, listing: str):
    return page.locator(f"#{listing}_assignments_list > .list_item", has_text=ASSIGNMENT)


def instructor_releases(hub, browsers, artifacts, prefix: str) -> Page:
    """The instructor logs in, generates and releases ps2_vjp in formgrader."""
    instructor = hub.names["instructor"]
    teacher = browsers("instructor")
    log_in(teacher, hub, instructor)
    shot(teacher, artifacts, f"{prefix}-01-instructor-logged-in")
    teacher.goto(f"{hub.url}/user/{instructor}/formgrader")
    formgrader_action(teacher, "assign", f"Successfully created the student version of '{ASSIGNMENT}'")
    close_modal(teacher)
    formgrader_action(teacher, "release", f"Successfully released '{ASSIGNMENT}'")
    shot(teacher, artifacts, f"{prefix}-02-instructor-released")
    close_modal(teacher)
    expect(formgrader_row(teacher).locator("td.status")).to_have_text("released")
    return teacher


def student_submits_a_mistake(hub, browsers, artifacts, prefix: str) -> Page:
    """The student logs in, fetches ps2_vjp in the Assignments tab, works it with a mistake, validates and
    submits."""
    student = hub.names["student"]
    pupil = browsers("student")
    log_in(pupil, hub, student)
    open_assignments_tab(pupil)
    released = assignment_item(pupil, "released")
    released.wait_for()
    shot(pupil, artifacts, f"{prefix}-03-student-sees-release")
    released.locator("button", has_text="Fetch").click()
    fetched = assignment_item(pupil, "fetched")
    fetched.wait_for(timeout=RUN_TIMEOUT_MS)
    fetched.locator("a.assignment-notebooks-link").click()
    fetched.locator(".nested_list_item a", has_text="vjp").click()

    home = Path(pwd.getpwnam(student).pw_dir)
    path = next(home.rglob(f"{ASSIGNMENT}/vjp.ipynb"))
    assert path.stat().st_uid == pwd.getpwnam(student).pw_uid
    nb = NotebookUI(pupil, path, str(path.relative_to(home)))
    pupil.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=RUN_TIMEOUT_MS)
    pupil.wait_for_function(_KERNEL_READY_JS, timeout=RUN_TIMEOUT_MS)
    pupil.wait_for_function("n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                            ".jp-Notebook .jp-Cell').length === n", arg=len(nb.nb.cells))
    typed = answers(ASSIGNMENT)
    typed[SUBMITTED_MISTAKE] = MISTAKES[SUBMITTED_MISTAKE][1]
    for fn in FUNCTIONS:
        nb.type_code(nb.index(fn), typed[fn].strip("\n"))
    nb.cell(nb.index(SUBMITTED_MISTAKE)).scroll_into_view_if_needed()
    shot(pupil, artifacts, f"{prefix}-04-student-typed-a-mistake")

    pupil.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = pupil.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=RUN_TIMEOUT_MS)
    shot(pupil, artifacts, f"{prefix}-05-student-validates")
    assert "weighted_upstream" in message.inner_text() or "failed" in message.inner_text().lower(), \
        message.inner_text()
    pupil.locator(".jp-Dialog .jp-mod-accept").click()
    saved = nb.saved()
    assert saved.cells[nb.index(SUBMITTED_MISTAKE)].source == typed[SUBMITTED_MISTAKE].strip("\n")

    open_assignments_tab(pupil)
    fetched = assignment_item(pupil, "fetched")
    fetched.locator("button", has_text="Submit").click()
    submitted = assignment_item(pupil, "submitted")
    submitted.wait_for(timeout=RUN_TIMEOUT_MS)
    shot(pupil, artifacts, f"{prefix}-06-student-submitted")

    return pupil


def student_reads_the_diagnosis(pupil: Page, artifacts, fetched_shot: str, read_shot: str) -> None:
    """Fetch Feedback in the Assignments tab, open the page: the diagnosis of the mistake is on it."""
    pupil.locator("#refresh_assignments_list").click()
    submitted = assignment_item(pupil, "submitted")
    submitted.locator("button", has_text="Fetch Feedback").click()
    view = submitted.locator("a", has_text="view feedback")
    view.wait_for(timeout=RUN_TIMEOUT_MS)
    shot(pupil, artifacts, fetched_shot)
    view.click()
    listing = pupil.locator(".jp-DirListing-item", has_text="vjp.html")
    listing.dblclick()
    feedback = pupil.frame_locator(".jp-HTMLViewer iframe").locator("body")
    expect(feedback).to_contain_text("weighted_upstream", timeout=RUN_TIMEOUT_MS)
    expect(feedback).to_contain_text(DIAGNOSIS)
    feedback.locator(".autograder-diagnosis").first.scroll_into_view_if_needed()
    shot(pupil, artifacts, read_shot)


def test_a_round_of_the_class_in_the_browser(classroom, browsers, artifacts):
    hub = classroom
    instructor, student = hub.names["instructor"], hub.names["student"]

    teacher = instructor_releases(hub, browsers, artifacts, "classroom")
    pupil = student_submits_a_mistake(hub, browsers, artifacts, "classroom")

    # 3. The instructor collects, autogrades, generates and releases the feedback in formgrader.
    teacher.goto(f"{hub.url}/user/{instructor}/formgrader")
    formgrader_action(teacher, "collect", f"Successfully collected submissions of '{ASSIGNMENT}'")
    close_modal(teacher)
    expect(formgrader_row(teacher).locator("td.num-submissions")).to_have_text("1")
    formgrader_row(teacher).locator("td.num-submissions a").click()
    submission = teacher.locator("#main-table tr", has_text=student)
    submission.wait_for()
    submission.locator("td.autograde a").click()
    modal_says(teacher, f"Successfully autograded '{ASSIGNMENT}' for student '{student}'", GRADE_TIMEOUT_MS)
    close_modal(teacher)
    expect(submission.locator("td.status")).to_have_text("graded")
    score = submission.locator("td.score").inner_text().strip()
    got, full = (float(x) for x in score.split("/"))
    assert 0 < got < full, score
    shot(teacher, artifacts, "classroom-07-instructor-autograded")
    teacher.goto(f"{hub.url}/user/{instructor}/formgrader")
    formgrader_action(teacher, "generate-feedback", f"Successfully generated feedback of '{ASSIGNMENT}'",
                      GRADE_TIMEOUT_MS)
    close_modal(teacher)
    formgrader_action(teacher, "release-feedback", f"Successfully released feedback of '{ASSIGNMENT}'")
    shot(teacher, artifacts, "classroom-08-instructor-released-feedback")
    close_modal(teacher)

    # 4. The student fetches the feedback in the Assignments tab and opens it: the mistake is named.
    student_reads_the_diagnosis(pupil, artifacts, "classroom-09", "classroom-10")

    # Nothing a server wanted to write was refused (the config folder is root's: formgrader once failed
    # to load, and JupyterLab could not save settings or workspaces, for that reason).
    refused = [line for line in hub.lines if "PermissionError" in line or "Permission denied" in line]
    assert not refused, "\n".join(refused)


def test_instant_feedback_reaches_the_student_in_the_browser(instant_classroom, browsers, artifacts):
    """The course turns instant feedback on: the hub runs the service (as the course folder's owner, the
    instructor); the student submits a mistake and, with no instructor action, fetches its diagnosis."""
    hub = instant_classroom
    instructor = pwd.getpwnam(hub.names["instructor"])
    instructor_releases(hub, browsers, artifacts, "instant")
    pupil = student_submits_a_mistake(hub, browsers, artifacts, "instant")
    state = hub.course / ".instant-feedback"
    deadline = time.monotonic() + GRADE_TIMEOUT_MS / 1000

    def answered() -> list[dict]:
        try:
            return list(json.loads((state / "answered.json").read_text())["answered"].values())
        except (OSError, ValueError, KeyError):
            return []

    while not answered():
        assert time.monotonic() < deadline, "no instant feedback:\n" + "\n".join(hub.lines[-60:])
        time.sleep(0.5)
    assert answered()[0]["outcome"].startswith("graded"), answered()
    assert state.stat().st_uid == instructor.pw_uid            # the service ran as the instructor's user
    assert not (hub.course / "submitted").exists()              # nobody collected: the answer came by itself
    student_reads_the_diagnosis(pupil, artifacts, "instant-07-student-fetched-feedback",
                                "instant-08-student-reads-the-diagnosis")
