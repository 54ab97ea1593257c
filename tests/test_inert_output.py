"""The inert-output steps on hand-made notebooks (no grading run): every route a student controls is made
inert, honest content stays, the judge's feedback and the probe's records are left alone, and the
same hostile notebook *is* active when rendered without the steps (so the check can fail)."""

from __future__ import annotations

import base64

import nbformat
import pytest
from active_content import MARKER, active_content
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from traitlets.config import Config

from autograder.judge.feedback import render_html
from autograder.nbgrader_plugins.html_policy import is_inert_markdown
from autograder.nbgrader_plugins.inert_output import LITERAL_NOTE, InertFeedback, InertStudentOutput
from autograder.probe.contract import MIME_TYPE

JS = f"window.{MARKER}=1"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
HONEST_MARKDOWN = ("# My derivation\n\nWith $f(x)=x^2$ the *gradient* is `2*x` (see [the docs](https://pytorch.org)).\n\n"
                   "> a quote\n\n```python\nif a < b:\n    print('<b>')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
TRUSTED = '<div class="autograder-feedback" style="border:2px solid red"><em>judged</em></div>'


def _display(data, **metadata):
    return new_output("display_data", data=data, metadata=metadata)


def hostile_notebook():
    student = new_code_cell("x = 1", outputs=[
        _display({"text/html": f"<script>{JS}</script><b>kept</b>", "text/plain": "html"}),
        _display({"text/html": f'<img src=x onerror="{JS}"><a href="javascript:{JS}">a</a>'},
                 **{"text/html": {"isolated": True}}),
        _display({"application/javascript": JS, "text/plain": "js"}),
        _display({"image/svg+xml": f'<svg onload="{JS}"><script>{JS}</script></svg>', "text/plain": "svg"}),
        _display({"text/markdown": f"[x](javascript:{JS}) <img src=x onerror=\"{JS}\">"}),
        _display({"application/vnd.jupyter.widget-view+json": {"model_id": "m"}, "text/plain": "widget"}),
        _display({"image/png": PNG, "text/plain": "figure"},
                 **{"image/png": {"width": 10}, "filenames": {"image/png": f'x"><script>{JS}</script>'}}),
        new_output("execute_result", data={"text/html": f"<iframe srcdoc='<script>{JS}</script>'></iframe>"},
                   execution_count=1),
        new_output("error", ename="ValueError", evalue="<script>", traceback=[f"\x1b[31m<script>{JS}</script>"]),
        new_output("stream", name="stdout", text=f"<script>{JS}</script>"),
        _display({MIME_TYPE: {"forged": True}}),
    ], execution_count=1, metadata={"tags": [f'"><script>{JS}</script>']})
    markdown = new_markdown_cell(f'answer <img src="x" onerror="{JS}"> [y](JaVaScRiPt:{JS}) <form><button>b</button>'
                                 "</form>\n\n![a](attachment:a.svg)")
    markdown["attachments"] = {"a.svg": {"image/svg+xml": base64.b64encode(f"<svg onload='{JS}'/>".encode()).decode()},
                               "b.png": {"image/png": PNG}}
    raw = new_raw_cell(f"<script>{JS}</script>", metadata={"raw_mimetype": "text/html"})
    test = new_code_cell("run_suite()", execution_count=2, outputs=[
        _display({"text/html": TRUSTED, "text/plain": "judged"}),
        new_output("execute_result", data={"text/plain": "1.0"}, execution_count=2)])
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1.0,
                                 "grade_id": "test_vjp_hidden", "schema_version": 3}
    nb = new_notebook(cells=[new_markdown_cell(HONEST_MARKDOWN), student, markdown, raw, test])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def _render(nb, template: str = "classic") -> str:
    return HTMLExporter(config=Config(), template_name=template).from_notebook_node(nb)[0]


def test_the_hostile_notebook_is_active_without_the_steps():
    found = _render(hostile_notebook())
    assert len(active_content(found)) >= 5, active_content(found)


@pytest.mark.parametrize("step", [InertStudentOutput, InertFeedback])
@pytest.mark.parametrize("template", ["classic", "lab"])
def test_every_route_is_inert_after_the_step(step, template):
    nb, _ = step()(hostile_notebook(), {})
    nbformat.validate(nb)
    assert active_content(_render(nb, template)) == []
    student = nb.cells[1]
    kinds = [sorted(o.get("data", {})) for o in student.outputs]
    assert ["text/html", "text/plain"] in kinds and ["image/png", "text/plain"] in kinds
    assert not any("application/javascript" in k or "image/svg+xml" in k for k in kinds)
    png = next(o for o in student.outputs if "image/png" in o.get("data", {}))
    assert png.metadata == {"image/png": {"width": 10}}
    assert "<b>kept</b>" in student.outputs[0].data["text/html"]
    assert "&lt;script&gt;" in student.outputs[0].data["text/html"]   # shown as text, for the grader to see
    assert [o.output_type for o in student.outputs].count("error") == 1
    assert "widgets" not in nb.metadata
    markdown = nb.cells[2]
    assert markdown.source.startswith(f"*{LITERAL_NOTE}*") and "onerror" in markdown.source
    assert set(markdown.attachments) == {"b.png"}
    assert "&lt;script&gt;" in nb.cells[3].source


def test_honest_markdown_and_images_are_unchanged():
    nb, _ = InertStudentOutput()(hostile_notebook(), {})
    assert nb.cells[0].source == HONEST_MARKDOWN and is_inert_markdown(HONEST_MARKDOWN)
    assert f'src="data:image/png;base64,{PNG}"' in _render(nb)


def test_probe_records_stay_for_the_judge_and_judge_output_stays_in_feedback():
    graded, _ = InertStudentOutput()(hostile_notebook(), {})
    assert any(MIME_TYPE in o.get("data", {}) for o in graded.cells[1].outputs)   # the judge drops it later
    feedback, _ = InertFeedback()(hostile_notebook(), {})
    assert not any(MIME_TYPE in o.get("data", {}) for o in feedback.cells[1].outputs)
    assert feedback.cells[4].outputs[0].data["text/html"] == TRUSTED
    assert '<div class="autograder-feedback" style="border:2px solid red"><em>judged</em>' in _render(feedback)


def test_the_judges_real_feedback_would_not_survive_the_student_policy():
    """Why the judge's cells are exempt: its styled boxes are outside the student policy."""
    from autograder.judge.verdict import judge_records
    from autograder.nbgrader_plugins.html_policy import is_inert_html

    verdict = judge_records("test_vjp_hidden", [], 1.0, [])
    assert not is_inert_html(render_html(verdict))


@pytest.mark.parametrize("html", [
    f'<a href="da&#x09;ta:text/html,&lt;script&gt;{JS}">x</a>', f'<a href=" JaVa&#x0A;Script:{JS}">x</a>',
    f'<img src="data:image/svg+xml;base64,{PNG}">', '<img src="https://example.org/pixel.png">',
    f'<noscript><p title="</noscript><img src=x onerror={JS}>">',
    f'<math><mi xlink:href="javascript:{JS}">x</mi></math>',
    f'<x-widget onclick="{JS}">x</x-widget>', '<div style="position:fixed;inset:0">x</div>',
    '<div class="modal-backdrop">x</div>', "<!-- hidden --> text",
])
def test_obfuscated_routes_are_not_inert(html):
    from autograder.nbgrader_plugins.html_policy import clean_html, is_inert_html

    assert not is_inert_html(html)
    assert is_inert_html(clean_html(html)) and active_content(clean_html(html)) == []


@pytest.mark.parametrize("html", ['<a href="https://pytorch.org">docs</a>', f'<img src="data:image/png;base64,{PNG}">',
                                  '<table border="1"><tr><th>a</th><td colspan="2">1</td></tr></table>'])
def test_passive_html_is_inert(html):
    from autograder.nbgrader_plugins.html_policy import is_inert_html

    assert is_inert_html(html)
