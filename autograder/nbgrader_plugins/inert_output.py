"""Make everything a student controls inert before an instructor's browser shows it.

Formgrader renders ``autograded/`` notebooks into pages of the instructor's JupyterLab server, and
``generate_feedback`` renders them into the HTML students receive; neither sanitizes. A submission's
HTML, JavaScript or SVG output, or raw HTML in a markdown cell, would therefore run with the viewer's
session (and could, say, change grades through formgrader's API). These preprocessors rewrite the
notebook with the policy of ``html_policy``:

* code outputs keep text (``text/plain``, streams, tracebacks: the templates escape them), PNG, JPEG and
  GIF images, and ``text/latex``; HTML is cleaned; markdown is kept when its rendering is inert and
  otherwise shown as text; JavaScript, SVG, widget views and every other rich type are dropped, and
  output metadata is reduced to image sizes;
* markdown cells whose rendering would not be inert are shown as their literal text, with a note;
  raw cells are cleaned; attachments other than PNG/JPEG/GIF images are dropped;
* notebook metadata loses its widget state (the templates would load a widget renderer for it).

``InertStudentOutput`` runs in autograding right after ``Execute`` and before the judge, so the judge's
feedback (written afterwards, trusted) is never touched; probe records stay for the judge to read.
``InertFeedback`` runs again when feedback is generated, leaving the judge's test-cell outputs alone,
so that notebooks graded before this step existed are covered too.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.probe.contract import MIME_TYPE

from .html_policy import as_literal_markdown, clean_html, is_inert_markdown
from .judge_probes import judged_by_the_judge

IMAGES = ("image/png", "image/jpeg", "image/gif")
TEXT = ("text/plain", "text/latex")
IMAGE_METADATA = ("width", "height", "unconfined", "alt")
LITERAL_NOTE = "This cell contained active content (HTML, scripts or unsafe links); it is shown as text."


def _inert_data(data: dict, keep_probe: bool) -> dict:
    kept = {}
    for mime, value in data.items():
        if mime in TEXT or mime in IMAGES:
            kept[mime] = value
        elif mime == MIME_TYPE and keep_probe:
            kept[mime] = value
        elif mime == "text/html" and isinstance(value, str):
            kept[mime] = clean_html(value)
        elif mime == "text/markdown" and isinstance(value, str):
            if is_inert_markdown(value):
                kept[mime] = value
            else:
                kept.setdefault("text/plain", value)
    return kept


def _inert_metadata(metadata: dict, data: dict) -> dict:
    kept = {}
    for mime in IMAGES:
        sizes = metadata.get(mime)
        if mime in data and isinstance(sizes, dict):
            kept[mime] = {k: v for k, v in sizes.items()
                          if k in IMAGE_METADATA and isinstance(v, (int, float, bool, str))}
    return kept


def inert_outputs(outputs: list, keep_probe: bool) -> list:
    result = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            result.append(new_output("stream", name=output.get("name", "stdout"), text=str(output.get("text", ""))))
        elif kind == "error":
            result.append(new_output("error", ename=str(output.get("ename", "")), evalue=str(output.get("evalue", "")),
                                     traceback=[str(line) for line in output.get("traceback", [])]))
        elif kind in ("display_data", "execute_result"):
            data = _inert_data(dict(output.get("data", {})), keep_probe)
            if not data:
                continue
            clean = new_output(kind, data=data, metadata=_inert_metadata(dict(output.get("metadata", {})), data))
            if kind == "execute_result":
                count = output.get("execution_count")
                clean["execution_count"] = count if isinstance(count, int) else None
            result.append(clean)
        # anything else (update_display_data kept by mistake, unknown types) is dropped
    return result


def inert_cell(cell: NotebookNode, keep_probe: bool = False, keep_outputs: bool = False) -> NotebookNode:
    """``cell`` rewritten in place under the policy; ``keep_outputs`` leaves a trusted cell's outputs."""
    attachments = cell.get("attachments")
    if attachments:
        cell["attachments"] = {name: {m: v for m, v in bundle.items() if m in IMAGES}
                               for name, bundle in attachments.items() if isinstance(bundle, dict)}
        cell["attachments"] = {name: bundle for name, bundle in cell["attachments"].items() if bundle}
        if not cell["attachments"]:
            del cell["attachments"]
    if cell.cell_type == "markdown":
        if not is_inert_markdown(cell.source, cell.get("attachments")):
            cell.source = as_literal_markdown(cell.source, LITERAL_NOTE)
    elif cell.cell_type == "raw":
        cell.source = clean_html(cell.source)
    elif cell.cell_type == "code":
        if not isinstance(cell.get("execution_count"), int):
            cell["execution_count"] = None
        if not keep_outputs:
            cell.outputs = inert_outputs(cell.get("outputs", []), keep_probe)
    return cell


def inert_notebook_metadata(nb: NotebookNode) -> None:
    nb.metadata.pop("widgets", None)


class InertStudentOutput(NbGraderPreprocessor):
    """Autograding: place right after ``Execute`` (before ``JudgeProbeRecords``)."""

    def preprocess(self, nb, resources):
        inert_notebook_metadata(nb)
        for cell in nb.cells:
            inert_cell(cell, keep_probe=True)
        return nb, resources


class InertFeedback(NbGraderPreprocessor):
    """Feedback: every cell again, except the outputs the judge wrote into the course's test cells."""

    def preprocess(self, nb, resources):
        inert_notebook_metadata(nb)
        for cell in nb.cells:
            inert_cell(cell, keep_outputs=judged_by_the_judge(cell))
        return nb, resources
