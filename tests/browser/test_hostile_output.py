"""An instructor opens a hostile submission in formgrader, and its feedback: nothing the student wrote runs.

The submission is correct, plus a cell whose outputs (HTML with an ``onerror`` handler, JavaScript, SVG
with ``onload``), a markdown cell and a raw HTML cell each carry a script that would mark the page and
then set every grade of the submission to 99 through formgrader's API with the instructor's cookies and
XSRF token. A second submission is graded normally and its ``autograded/`` notebook then rewritten with
the same outputs unsanitized, as a notebook graded before the defence existed would be: formgrader's
view-time step must catch it too. Last, the very same script is run in the page on purpose, to show that
it would have changed the gradebook had it run (so the checks above can fail).
"""

from __future__ import annotations

import base64
import sqlite3
import struct
import zlib

import nbformat
import pytest
from course_fixtures import answers, grades, nbgrader, new_course, release, submit
from harness import LabServer, shot

from autograder.demo.cohort import fill

pytestmark = pytest.mark.browser

ASSIGNMENT, NOTEBOOK = "ps2_vjp", "vjp"
HOSTILE, LEGACY = "mallory", "legacy-mallory"
TITLE_MARK, DONE_MARK, SCORE = "PWNED", "PWNED-DONE", 99
ATTACK_JS = f"""(async () => {{
  window.PWNED = (window.PWNED || 0) + 1;
  document.title = '{TITLE_MARK}';
  const id = location.pathname.split('/').filter(Boolean).pop();
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
  const headers = {{'X-XSRFToken': decodeURIComponent(xsrf), 'Content-Type': 'application/json'}};
  const grades = await (await fetch('/formgrader/api/grades?submission_id=' + id, {{headers}})).json();
  for (const g of grades) {{
    const body = JSON.stringify({{manual_score: {SCORE}}});
    await fetch('/formgrader/api/grade/' + g.id, {{method: 'PUT', headers, body}});
  }}
  document.title = '{DONE_MARK}';
}})()"""
RUN = f"eval(atob('{base64.b64encode(ATTACK_JS.encode()).decode()}'))"


def _png(size: int = 8) -> str:
    """An honest size x size red PNG (base64): it must still show."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


PNG = _png()

HOSTILE_CELL = f'''
from IPython.display import HTML, SVG, Image, Javascript, display
import base64
display(Image(data=base64.b64decode("{PNG}")))
display(HTML("""<img src="x" onerror="{RUN}"><b>hello</b>"""))
display(Javascript("""{RUN}"""))
display(SVG("""<svg xmlns="http://www.w3.org/2000/svg" onload="{RUN}"><circle r="4"/></svg>"""))
'''
HOSTILE_MARKDOWN = f'Notes <img src="x" onerror="{RUN}"> <script>{RUN}</script>'
HOSTILE_RAW = f'<script>{RUN}</script><img src="x" onerror="{RUN}">'
UNSANITIZED_OUTPUTS = [
    nbformat.v4.new_output("display_data", data={"text/html": f'<img src="x" onerror="{RUN}">'}),
    nbformat.v4.new_output("display_data", data={"application/javascript": RUN}),
    nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
]


def _hostile_notebook(course):
    nb = fill(release(course, ASSIGNMENT), answers(ASSIGNMENT))
    after = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "vjp") + 1
    code = nbformat.v4.new_code_cell(HOSTILE_CELL)
    code["id"] = "attack-cell"
    markdown = nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN)
    markdown["id"] = "attack-markdown"
    raw = nbformat.v4.new_raw_cell(HOSTILE_RAW, metadata={"raw_mimetype": "text/html"})
    raw["id"] = "attack-raw"
    nb.cells[after:after] = [code, markdown, raw]
    return nb


def _unsanitize(path):
    """What a notebook graded without the defence holds: the hostile outputs and cells as written."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "attack-cell":
            cell.outputs = [nbformat.from_dict(o) for o in UNSANITIZED_OUTPUTS]
        elif cell.get("id") == "attack-markdown":
            cell.source = HOSTILE_MARKDOWN
        elif cell.get("id") == "attack-raw":
            cell.source = HOSTILE_RAW
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def hostile_course(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("hostile-course"), [ASSIGNMENT])
    for student in (HOSTILE, LEGACY):
        submit(course, student, ASSIGNMENT, _hostile_notebook(course))
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    _unsanitize(course / "autograded" / LEGACY / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    return course


@pytest.fixture(scope="module")
def hostile_lab(hostile_course, tmp_path_factory):
    server = LabServer(hostile_course, tmp_path_factory.mktemp("hostile-jupyter-home")).start()
    yield server
    server.stop()


def _grades(course, student):
    with sqlite3.connect(course / "gradebook.db") as db:
        return db.execute(
            "SELECT grade.id, grade.auto_score, grade.manual_score FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "WHERE submitted_assignment.student_id = ? ORDER BY grade.id", (student,)).fetchall()


def _submission_id(course, student) -> str:
    with sqlite3.connect(course / "gradebook.db") as db:
        return db.execute(
            "SELECT submitted_notebook.id FROM submitted_notebook "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "WHERE submitted_assignment.student_id = ?", (student,)).fetchone()[0]


def _nothing_ran(page, original_title: str | None = None) -> None:
    page.wait_for_load_state("load")   # after every image has loaded or failed, so onerror had its chance
    assert page.evaluate("() => window.PWNED") is None, "a student's script ran in the page"
    assert TITLE_MARK not in page.title()
    if original_title is not None:
        assert page.title() == original_title


def _honest_image_shows(page, scope: str) -> None:
    image = page.locator(f"{scope} img[src^='data:image/png']").first
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=image.element_handle())
    assert image.is_visible()


@pytest.mark.parametrize("student", [HOSTILE, LEGACY])
def test_formgrader_shows_a_hostile_submission_inert(student, page, hostile_lab, hostile_course, artifacts):
    cells = grades(hostile_course, ASSIGNMENT)[student]
    assert all(score == max_score for score, max_score, _ in cells.values()), cells   # correct: full marks
    before = _grades(hostile_course, student)
    assert before and all(manual is None for _, _, manual in before), before
    writes = []
    page.on("request", lambda r: writes.append(r.url) if r.method in ("PUT", "POST") else None)

    page.goto(hostile_lab.url("tree"))          # the instructor's session: logged in to JupyterLab
    page.wait_for_load_state("load")
    page.goto(f"{hostile_lab.base}/formgrader/submissions/{_submission_id(hostile_course, student)}")
    page.locator(".autograder-feedback").first.wait_for()
    # formgrader's own scripts did run (they fill in the score boxes): the page is live, the student's is not
    page.wait_for_function("() => Array.from(document.querySelectorAll('input.score')).some(i => i.placeholder)")
    _nothing_ran(page, original_title=NOTEBOOK)
    assert writes == [], writes
    _honest_image_shows(page, "[id='cell-id=attack-cell']")
    assert f'Notes <img src="x" onerror="{RUN}">' in page.locator("body").inner_text()  # markdown shown as text
    shot(page, artifacts, f"hostile-01-formgrader-{student}")
    assert _grades(hostile_course, student) == before

    if student == LEGACY:   # the control: the same script, run on purpose, does change the gradebook
        page.evaluate(ATTACK_JS)
        page.wait_for_function(f"() => document.title === '{DONE_MARK}'")
        assert {manual for _, _, manual in _grades(hostile_course, student)} == {float(SCORE)}


@pytest.mark.parametrize("student", [HOSTILE, LEGACY])
def test_feedback_of_a_hostile_submission_is_inert(student, page, hostile_course, artifacts):
    feedback = hostile_course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    page.goto(feedback.as_uri())
    page.locator(".autograder-feedback").first.wait_for()
    _nothing_ran(page, original_title=NOTEBOOK)
    _honest_image_shows(page, "[id='cell-id=attack-cell']")
    assert f'Notes <img src="x" onerror="{RUN}">' in page.locator("body").inner_text()
    # the judge's trusted HTML renders as written: its styled box (a style the student policy would drop)
    box = page.locator(".autograder-feedback").first
    assert box.evaluate("el => getComputedStyle(el).borderTopWidth") == "2px"
    shot(page, artifacts, f"hostile-02-feedback-{student}")
