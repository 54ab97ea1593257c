"""Fixtures of the browser tests: a throwaway copy of the course, JupyterLab started in it, Chromium.

* ``course``: ``source/`` and ``nbgrader_config.py`` copied under /tmp, ``nbgrader generate_assignment
  ps2_vjp --force``, one student in the gradebook and their ps2_vjp submission in ``submitted/``
  (made from the pristine release, before the student test edits ``release/``).
* ``graded``: the same course once ``nbgrader generate_assignment <ps> --force`` has run for the four
  other assignments and ``nbgrader autograde ps2_vjp --force`` and ``nbgrader generate_feedback
  ps2_vjp --force`` are done; ``with_feedback`` waits for the last two only, ``pristine_release`` for
  one assignment's release (kept as generated: the student test edits ps2_vjp's). These commands run
  in a background thread from the start, so that they overlap the tests; the tests are run in the
  order the steps finish (``pytest_collection_modifyitems``).
* ``lab``: ``jupyter lab`` running in the course root on a free port, with a random token.
* ``page``: a fresh Chromium (new profile) per test; a failing test leaves ``FAILED-<test>.png``.

Screenshots go to ``test-artifacts/browser/`` in the repository (gitignored), emptied at the start.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable
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


class _Preparation(threading.Thread):
    """The instructor's remaining commands, in a background thread, each step announced when done.

    Order: what the plots test needs first (ps4's release), then grading and feedback, then the
    other releases. Tests wait for the step they need (``wait``), in the order they are run.
    """

    def __init__(self, root: Path, pristine: Path):
        super().__init__(name="course-preparation", daemon=True)
        self.root, self.pristine, self.error, self.ran_inline = root, pristine, None, False
        self.steps = [("release ps4_jacobians", ("generate_assignment", "ps4_jacobians", "--force")),
                      ("autograde", ("autograde", "ps2_vjp", "--force")),
                      ("feedback", ("generate_feedback", "ps2_vjp", "--force")),
                      *((f"release {a}", ("generate_assignment", a, "--force"))
                        for a in ASSIGNMENTS if a not in ("ps2_vjp", "ps4_jacobians"))]
        self.done = {name: threading.Event() for name, _ in self.steps}

    def run(self):
        try:
            for name, command in self.steps:
                nbgrader(self.root, *command)
                if command[0] == "generate_assignment":
                    keep_release(self.root, command[1], self.pristine)
                self.done[name].set()
        except BaseException as err:  # re-raised in the tests that wait for it
            self.error = err
        finally:
            for event in self.done.values():
                event.set()

    def wait(self, step: str | None = None, timeout: float = 900) -> Path:
        """Wait until ``step`` (default: every step) is done."""
        if self.ident is None and not self.ran_inline:   # no test was expected to need it: run it now
            self.ran_inline = True
            self.run()
        for name in [step] if step else list(self.done):
            if not self.done[name].wait(timeout):
                raise TimeoutError(f"course preparation: {name!r} not done after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.root


def keep_release(root: Path, assignment: str, pristine: Path) -> None:
    shutil.copytree(root / "release" / assignment, pristine / assignment)


def add_student(root: Path) -> None:
    """What ``nbgrader db student add`` does (in-process: a command costs seconds of start-up)."""
    from nbgrader.api import Gradebook

    from autograder.course import Course

    config = Course(root).config()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=config.CourseDirectory.course_id) as gb:
        gb.update_or_create_student(STUDENT["id"], first_name=STUDENT["first_name"], last_name=STUDENT["last_name"])


# Fixtures that wait for the background preparation, and the order tests using them are run in.
WAITING_FIXTURES = {"pristine_release": 1, "with_feedback": 2, "graded": 3}


def _rank(item) -> int:
    return max((WAITING_FIXTURES.get(name, 0) for name in getattr(item, "fixturenames", ())), default=0)


@pytest.hookimpl(tryfirst=True)  # the group is set before tests/conftest.py groups tests by module fixture
def pytest_collection_modifyitems(session, config, items):
    """Run tests that need only ``course`` first, then in the order the preparation finishes its steps."""
    here = Path(__file__).parent
    positions = [k for k, item in enumerate(items) if Path(item.path).parent == here]
    ours = sorted((items[k] for k in positions), key=_rank)     # stable: file order within a rank
    for k, item in zip(positions, ours, strict=True):
        items[k] = item
        item.add_marker(pytest.mark.xdist_group("browser"))  # one JupyterLab, one worker (pytest -n)


@pytest.fixture(scope="session")
def _preparation(tmp_path_factory, request) -> _Preparation:
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
    preparation = _Preparation(root, pristine)
    if any(_rank(item) for item in request.session.items):
        preparation.start()
    yield preparation
    if preparation.ident is not None:
        preparation.join(600)


@pytest.fixture(scope="session")
def course(_preparation) -> Path:
    """The course with ps2_vjp generated and submitted, the student in the gradebook."""
    return _preparation.root


@pytest.fixture(scope="session")
def pristine_release(_preparation):
    """``release_of(assignment)``: its folder as ``generate_assignment`` wrote it (the student test
    edits ps2_vjp's copy in the course)."""
    def release_of(assignment: str) -> Path:
        if assignment != "ps2_vjp":
            _preparation.wait(f"release {assignment}")
        return _preparation.pristine / assignment
    return release_of


@pytest.fixture(scope="session")
def with_feedback(_preparation) -> Path:
    """The course once ps2_vjp is autograded and its feedback generated."""
    return _preparation.wait("feedback")


@pytest.fixture(scope="session")
def graded(_preparation) -> Path:
    """The course with every assignment generated and ps2_vjp autograded, with feedback."""
    return _preparation.wait()


# Closed after the last test of this folder, not at the end of the whole session: in the default
# run the other tests should not share the machine with an idle JupyterLab and a browser driver.
_AFTER_LAST_TEST: dict[str, Callable[[], None]] = {}


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or Path(nextitem.path).parent != Path(__file__).parent:
        for name in list(_AFTER_LAST_TEST):
            _AFTER_LAST_TEST.pop(name)()


@pytest.fixture(scope="session")
def lab(course, tmp_path_factory):
    server = LabServer(course, tmp_path_factory.mktemp("jupyter-home")).start()
    _AFTER_LAST_TEST["lab"] = server.stop
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    stopped = []

    def stop():
        if not stopped:
            stopped.append(True)
            driver.stop()

    _AFTER_LAST_TEST["playwright"] = stop
    yield driver
    stop()


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
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").shutdown_kernels()     # every notebook opened started one
