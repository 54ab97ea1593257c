"""A student works ps2_vjp in JupyterLab: failing visible tests, a readable message, passing tests, Validate."""

from __future__ import annotations

import pytest
from course_fixtures import answers
from harness import RUN_TIMEOUT_MS, NotebookUI, scroll_to_top, shot

pytestmark = pytest.mark.browser

NOTEBOOK = "release/ps2_vjp/vjp.ipynb"
FUNCTIONS = ["vjp", "weighted_upstream", "weighted_sensitivity", "linear_vjp"]

# A first attempt that forgets the upstream vector: it returns Jᵀ·1 = cos(x) instead of v ⊙ cos(x).
FORGETS_V = '''def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).sum().backward()
    return x.grad'''


def test_student_fails_then_passes_then_validates(page, lab, artifacts):
    nb = NotebookUI(page, lab.root / NOTEBOOK, NOTEBOOK).open(lab)
    solution = {fn: nb.index(fn) for fn in FUNCTIONS}
    visible = {fn: nb.index(f"test_{fn}") for fn in FUNCTIONS}
    shot(page, artifacts, "student-01-opens-vjp-notebook")

    # 1. Run All on the untouched release: the first visible test fails, and Run All stops there.
    nb.run_all()
    first_test = visible["vjp"]
    text = nb.output_text(first_test)
    assert "NotImplementedError" in text, text
    assert "# YOUR CODE HERE" in text and "raise NotImplementedError()" in text, text
    prompts = nb.code_prompts()
    code_cells = [i for i, c in enumerate(nb.nb.cells) if c.cell_type == "code"]
    after = [prompts[k] for k, i in enumerate(code_cells) if i > first_test]
    assert after and all(p == "[ ]:" for p in after), f"cells after the failing test ran: {after}"
    scroll_to_top(page, nb.cell(solution["vjp"]))
    shot(page, artifacts, "student-02-run-all-unanswered-stops-at-first-test")

    # 2. A first attempt that forgets v: the visible test explains what is expected.
    nb.type_code(solution["vjp"], FORGETS_V)
    nb.run_all()
    text = nb.output_text(first_test)
    assert "AssertionError" in text and "vjp(torch.sin, x, v) should equal v * cos(x)." in text, text
    assert "Mismatched elements" in text, text
    scroll_to_top(page, nb.cell(first_test))
    shot(page, artifacts, "student-03-readable-failure-of-visible-test")

    # 3. The solutions typed in (the source notebook's solution cells without the ### markers).
    typed = answers("ps2_vjp")
    for fn in FUNCTIONS:
        nb.type_code(solution[fn], typed[fn].strip("\n"))
    scroll_to_top(page, nb.cell(solution["linear_vjp"]))
    shot(page, artifacts, "student-04-solutions-typed")
    nb.run_all()
    for fn in FUNCTIONS:
        text = nb.output_text(visible[fn])
        assert "Visible test passed" in text and "Error" not in text, f"test_{fn}:\n{text}"
    scroll_to_top(page, nb.cell(solution["weighted_upstream"]))
    shot(page, artifacts, "student-05-visible-tests-pass")

    # The heat maps of inp.grad (after the first exercise, so they only appear once Run All gets there).
    heatmaps = nb.index_containing("fig.suptitle(")
    image = nb.wait_for_image(heatmaps)
    assert image.evaluate("img => img.naturalWidth") > 600
    assert image.is_visible()
    assert nb.output_text(heatmaps).count("Reading:") == 1
    scroll_to_top(page, nb.cell(heatmaps))
    shot(page, artifacts, "student-06-heatmaps-of-inp-grad")

    # 4. Validate (saves, then runs nbgrader validate on the server): success.
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=RUN_TIMEOUT_MS)
    shot(page, artifacts, "student-07-validate-success")
    assert "validation-success" in (message.get_attribute("class") or ""), message.inner_text()
    assert "Success! Your notebook passes all the tests." in message.inner_text()
    page.locator(".jp-Dialog .jp-mod-accept").click()

    # What was typed is what was saved, and the saved run has no errors.
    saved = nb.saved()
    for fn in FUNCTIONS:
        assert saved.cells[solution[fn]].source == typed[fn].strip("\n"), f"{fn} was not saved as typed"
    errors = [(i, o.get("ename")) for i, c in enumerate(saved.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
