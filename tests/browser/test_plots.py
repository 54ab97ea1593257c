"""The notebooks' plots: each plot cell of the release produces an image, every panel has a title and
labelled axes, the cell prints a one-line reading; then the executed notebook is shown in JupyterLab.

The notebooks run with nbclient (cheaper than clicking through them); a first, injected cell makes
matplotlib's figures describe themselves (titles, axis labels) in the text/plain part of their output,
so the checks read what was drawn, not the source code. The injected cell is removed again before the
notebook is shown.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from harness import NotebookUI, clean_env, scroll_to_top, shot
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from support import NOTEBOOKS

pytestmark = pytest.mark.browser

# assignment -> what its plots show (one figure per plot cell, in notebook order)
PLOTS = {
    "ps2_vjp": ["heatmaps of inp.grad for four upstream vectors"],
    "ps4_jacobians": ["measured forward vs reverse timing", "Jacobian sparsity patterns"],
    "ps6_training": ["saved-activation memory and forward+backward time against depth, with and without "
                     "checkpointing"],
}

DESCRIBE_FIGURES = '''
import json as _json
import matplotlib.figure as _figure
import matplotlib.pyplot as _plt

_plt.close(_plt.figure())    # loads the inline backend, which resets the formatters of Figure

def _describe_figure(fig, printer, cycle):
    axes = [{"title": " ".join(t for t in (ax.get_title("left"), ax.get_title(), ax.get_title("right")) if t),
             "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "colorbar": hasattr(ax, "_colorbar")}
            for ax in fig.axes]
    printer.text("FIGURE " + _json.dumps({"suptitle": fig.get_suptitle(), "axes": axes}))

get_ipython().display_formatter.formatters["text/plain"].for_type(_figure.Figure, _describe_figure)
'''


def _execute(path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, new_code_cell(DESCRIBE_FIGURES))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=clean_env())
    assert not nb.cells[0].outputs, nb.cells[0].outputs
    del nb.cells[0]
    return nb


def _figures(cell) -> list[dict]:
    return [json.loads(o.data["text/plain"].removeprefix("FIGURE "))
            for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]


def _stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.mark.parametrize("assignment", sorted(PLOTS))
def test_plots_have_title_labels_and_reading_and_render(assignment, page, lab, pristine_release, artifacts):
    executed = _execute(pristine_release(assignment) / NOTEBOOKS[assignment])
    plot_cells = [i for i, c in enumerate(executed.cells) if c.cell_type == "code" and "plt.subplots" in c.source]
    assert len(plot_cells) == len(PLOTS[assignment]), f"plot cells at {plot_cells}"

    problems = []
    for index, what in zip(plot_cells, PLOTS[assignment], strict=True):
        cell = executed.cells[index]
        errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{what}: {errors}"
        figures = _figures(cell)
        assert len(figures) == 1, f"{what}: {len(figures)} images"
        figure = figures[0]
        for k, ax in enumerate(figure["axes"]):
            if ax["colorbar"]:
                if not ax["ylabel"] and not ax["xlabel"]:
                    problems.append(f"{what}: colour bar {k} has no label")
                continue
            for part in ("title", "xlabel", "ylabel"):
                if not ax[part].strip():
                    problems.append(f"{what}: panel {k} has no {part}")
        readings = [line for line in _stdout(cell).splitlines() if line.startswith("Reading:")]
        if len(readings) != 1 or len(readings[0]) < 40:
            problems.append(f"{what}: expected one printed line 'Reading: …', got {readings}")
        if _stdout(cell).rstrip("\n").splitlines()[-1:] != readings:
            problems.append(f"{what}: the reading is not the last line printed (it wraps or is followed by more)")
    assert not problems, "\n".join(problems)

    # The executed notebook, as a student sees it in JupyterLab after running it.
    relpath = f"preview/{assignment}/{NOTEBOOKS[assignment]}"
    (lab.root / relpath).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, lab.root / relpath)
    nb = NotebookUI(page, lab.root / relpath, relpath).open(lab)
    for n, index in enumerate(plot_cells, start=1):
        image = nb.wait_for_image(index)
        assert image.evaluate("img => img.naturalWidth") > 400
        scroll_to_top(page, nb.cell(index).locator(".jp-OutputArea"))
        assert image.is_visible()
        box = image.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 150, box
        slug = PLOTS[assignment][n - 1].replace(" ", "-").replace(".", "")
        shot(page, artifacts, f"plots-{assignment}-{n}-{slug}")
