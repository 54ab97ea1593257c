"""Fixtures of the browser tests: a throwaway copy of the course, JupyterLab started in it, Chromium.

* ``course``: ``source/`` and ``nbgrader_config.py`` copied under /tmp, ``nbgrader generate_assignment
  ps2_vjp --force``, one student in the gradebook and their ps2_vjp submission in ``submitted/``
  (made from the pristine release, before the student test edits ``release/``).
* ``graded``: the same course once ``nbgrader generate_assignment <ps> --force`` has run for the four
  other assignments and ``nbgrader autograde ps2_vjp --force`` and ``nbgrader generate_feedback
  ps2_vjp --force`` are done. These commands run in a background thread from the start, so that they
  overlap the tests that only need ps2_vjp's release; those tests therefore run first
  (``pytest_collection_modifyitems``).
* ``pristine_release``: the release notebooks as generated (the student test edits ps2_vjp's).
* ``lab``: ``jupyter lab`` running in the course root on a free port, with a random token.
* ``page``: a fresh Chromium (new profile) per test; a failing test leaves ``FAILED-<test>.png``.

Screenshots go to ``test-artifacts/browser/`` in the repository (gitignored), emptied at the start.
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest
from course_fixtures import answers, nbgrader, release, submit
from harness import ASSIGNMENTS, CHROMIUM, STUDENT, SUBMITTED_MISTAKE, LabServer, launch_chromium
from support import ROOT

from autograder.demo.cohort import fill
from autograder.demo.mistakes import MISTAKES

ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


class _Grading(threading.Thread):
    """The rest of the instructor's preparation, run while the student test uses ps2_vjp's release."""

    def __init__(self, root: Path, pristine: Path):
        super().__init__(name="course-preparation", daemon=True)
        self.root, self.pristine, self.error = root, pristine, None

    def run(self):
        try:
            for assignment in ASSIGNMENTS:
                if assignment != "ps2_vjp":
                    nbgrader(self.root, "generate_assignment", assignment, "--force")
                    keep_release(self.root, assignment, self.pristine)
            nbgrader(self.root, "autograde", "ps2_vjp", "--force")
            nbgrader(self.root, "generate_feedback", "ps2_vjp", "--force")
        except BaseException as err:  # re-raised in the test that waits for it
            self.error = err

    def wait(self, timeout: float = 900) -> Path:
        if self.ident is None:      # not started in the background: no test was expected to need it
            self.run()
        else:
            self.join(timeout)
            if self.is_alive():
                raise TimeoutError(f"preparing the course took more than {timeout}s")
        if self.error is not None:
            raise self.error
        return self.root


def keep_release(root: Path, assignment: str, pristine: Path) -> None:
    shutil.copytree(root / "release" / assignment, pristine / assignment)


def add_student(root: Path) -> None:
    """What ``nbgrader db student add`` does (in-process: a command costs seconds of start-up)."""
    from nbgrader.api import Gradebook
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=config.CourseDirectory.course_id) as gb:
        gb.update_or_create_student(STUDENT["id"], first_name=STUDENT["first_name"], last_name=STUDENT["last_name"])


@pytest.fixture(scope="session")
def _preparation(tmp_path_factory, request) -> _Grading:
    root = tmp_path_factory.mktemp("course")
    pristine = tmp_path_factory.mktemp("release-as-generated")
    for assignment in ASSIGNMENTS:
        shutil.copytree(ROOT / "source" / assignment, root / "source" / assignment)
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    nbgrader(root, "generate_assignment", "ps2_vjp", "--force")
    keep_release(root, "ps2_vjp", pristine)
    solutions = answers("ps2_vjp")
    solutions[SUBMITTED_MISTAKE] = MISTAKES[SUBMITTED_MISTAKE][1]
    submit(root, STUDENT["id"], "ps2_vjp", fill(release(root, "ps2_vjp"), solutions))
    add_student(root)
    grading = _Grading(root, pristine)
    if any("graded" in getattr(item, "fixturenames", ()) for item in request.session.items):
        grading.start()
    yield grading
    if grading.ident is not None:
        grading.join(600)


@pytest.fixture(scope="session")
def course(_preparation) -> Path:
    """The course with ps2_vjp generated and submitted (the other steps may still be running)."""
    return _preparation.root


@pytest.fixture(scope="session")
def graded(_preparation) -> Path:
    """The course with all five assignments generated and ps2_vjp autograded, with feedback."""
    return _preparation.wait()


@pytest.fixture(scope="session")
def pristine_release(_preparation, graded) -> Path:
    """``release/`` as ``nbgrader generate_assignment`` wrote it (the student test edits ps2_vjp's)."""
    return _preparation.pristine


@pytest.fixture(scope="session")
def lab(course, tmp_path_factory):
    server = LabServer(course, tmp_path_factory.mktemp("jupyter-home")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


def pytest_collection_modifyitems(session, config, items):
    """Run the tests that need only ``course`` before those that wait for ``graded`` (stable order)."""
    here = Path(__file__).parent
    positions = [k for k, item in enumerate(items) if Path(item.path).parent == here]
    ours = [items[k] for k in positions]
    ours.sort(key=lambda item: "graded" in getattr(item, "fixturenames", ()))
    for k, item in zip(positions, ours, strict=True):
        items[k] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(playwright_driver, tmp_path, request, artifacts):
    context = launch_chromium(playwright_driver, tmp_path / "chromium-profile")
    page = context.pages[0] if context.pages else context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        try:
            page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"))
        except Exception as err:  # the page may be gone; the failure itself is what matters
            print(f"no failure screenshot: {err}", file=sys.stderr)
        if "lab" in request.fixturenames:
            print(f"--- end of the JupyterLab log ---\n{request.getfixturevalue('lab').log_tail()}", file=sys.stderr)
    context.close()
