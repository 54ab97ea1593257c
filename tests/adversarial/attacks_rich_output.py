"""Class 7: rich output that would be live in the instructor's browser (formgrader) or in feedback.

Each submission is correct (full marks expected) and carries hostile content by at least two routes of
one kind. Every payload contains the marker of ``tests/active_content.py``; the corpus checks that the
autograded notebook, rendered by nbconvert with no defence of its own, and the generated feedback hold
none of it in an active place (``Attack.inert_output``).
"""

from __future__ import annotations

import base64

import nbformat
from active_content import MARKER
from attack_kit import Attack

from autograder.demo.cohort import fill

JS = f"window.{MARKER}=1;document.title=/{MARKER}/.source"  # no quotes: it goes into strings of every kind
# A 1x1 PNG: an honest image that must survive.
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="{JS}"><script>{JS}</script>'
       f'<foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" srcdoc="&lt;script&gt;{JS}&lt;/script&gt;">'
       '</iframe></foreignObject></svg>')

HTML_OUTPUT = f'''
from IPython.display import HTML, Image, display
import base64
display(Image(data=base64.b64decode({PNG!r})))
display(HTML("<script>{JS}</script>"))
display(HTML('<img src="x" onerror="{JS}"><a href="javascript:{JS}">open</a>'))
display(HTML('<iframe srcdoc="<script>{JS}</script>"></iframe>'
             '<form action="javascript:{JS}"><button>ok</button></form>'))
display(HTML("<b>isolated</b><script>{JS}</script>"), metadata={{"isolated": True}})
'''

JAVASCRIPT_OUTPUT = f'''
from IPython.display import Javascript, display, publish_display_data
display(Javascript("{JS}"))
publish_display_data({{"application/javascript": "{JS}", "text/plain": "js"}})
class Sneaky:
    def _repr_javascript_(self):
        return "{JS}"
    def _repr_html_(self):
        return "<details open ontoggle=\\"{JS}\\">x</details>"
Sneaky()
'''

SVG_OUTPUT = f'''
from IPython.display import SVG, display, publish_display_data
display(SVG({SVG!r}))
publish_display_data({{"image/svg+xml": {SVG!r}, "text/plain": "svg"}})
'''

MARKDOWN_LATEX_OUTPUT = f'''
from IPython.display import Latex, Markdown, display
display(Markdown('<img src=x onerror="{JS}"> and [a link](javascript:{JS})'))
display(Latex(r"$\\href{{javascript:{JS}}}{{click}}$"))
class Notes:
    def _repr_markdown_(self):
        return "[ref][r]\\n\\n[r]: javascript:{JS}\\n\\n<svg onload=\\"{JS}\\"></svg>"
Notes()
'''

WIDGET_OUTPUT = f'''
from IPython.display import display, publish_display_data
publish_display_data({{"application/vnd.jupyter.widget-view+json": {{"model_id": "m1", "version_major": 2,
                       "version_minor": 0}}, "text/plain": "widget"}})
publish_display_data({{"application/vnd.custom+html": "<script>{JS}</script>",
                       "text/html": "<script>{JS}</script>"}},
                     metadata={{"filenames": {{"image/png": "x\\"><script>{JS}</script>"}}}})
'''

UPDATE_AND_ERROR = f'''
from IPython.display import HTML, display
handle = display(HTML("<b>first</b>"), display_id=True)
handle.update(HTML("<img src=x onerror=\\"{JS}\\"><script>{JS}</script>"))
print("<script>{JS}</script>")
raise ValueError("\\x1b[31m<img src=x onerror=\\"{JS}\\"></img>\\x1b[0m<script>{JS}</script>")
'''

MARKDOWN_CELLS = [
    f'My answer. <img src="x" onerror="{JS}"> <script>{JS}</script>\n\n'
    f'<iframe src="javascript:{JS}"></iframe> [see this](javascript:{JS}) '
    f'<form action="/formgrader/api/grade/1"><input name="{MARKER}"><button formaction="javascript:{JS}">go</button>'
    '</form>',
    f'[a reference][ref] and <svg onload="{JS}"></svg> <details open ontoggle="{JS}">more</details>\n\n'
    f'[ref]: JaVaScRiPt:{JS}\n\n![plot](attachment:plot.svg) ![page](attachment:page.html)',
]
ATTACHMENTS = {"plot.svg": {"image/svg+xml": base64.b64encode(SVG.encode()).decode()},
               "page.html": {"text/html": base64.b64encode(f"<script>{JS}</script>".encode()).decode()}}

RAW_CELLS = [
    ({"raw_mimetype": "text/html"}, f"<script>{JS}</script><img src=x onerror=\"{JS}\">"),
    ({"format": "text/html"}, f'<iframe srcdoc="<script>{JS}</script>"></iframe><a href="javascript:{JS}">x</a>'),
]


def _after(nb, grade_id: str = "vjp") -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id) + 1


def _code(code: str, **cell_metadata):
    """A correct submission with a hostile code cell after the solution of ``vjp``."""
    def build(release, correct, paths):
        nb = fill(release, correct)
        cell = nbformat.v4.new_code_cell(code, metadata=cell_metadata)
        cell["id"] = "attack-cell"
        nb.cells.insert(_after(nb), cell)
        return nb, None, {}
    return build


def _markdown_cells(release, correct, paths):
    nb = fill(release, correct)
    for k, source in enumerate(MARKDOWN_CELLS):
        cell = nbformat.v4.new_markdown_cell(source)
        cell["id"] = f"attack-markdown-{k}"
        if k == 1:
            cell["attachments"] = ATTACHMENTS
        nb.cells.insert(_after(nb), cell)
    return nb, None, {}


def _raw_cells(release, correct, paths):
    nb = fill(release, correct)
    for k, (metadata, source) in enumerate(RAW_CELLS):
        cell = nbformat.v4.new_raw_cell(source, metadata=metadata)
        cell["id"] = f"attack-raw-{k}"
        nb.cells.insert(_after(nb), cell)
    return nb, None, {}


def _widget_state(build):
    """The notebook also carries widget state with an HTML widget (the templates load a renderer for it)."""
    def wrapped(release, correct, paths):
        nb, raw, extra = build(release, correct, paths)
        model = {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
                 "model_module_version": "2.0.0", "state": {"value": f"<img src=x onerror=\"{JS}\">"}}
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
            "version_major": 2, "version_minor": 0, "state": {"m1": model}}}
        return nb, raw, extra
    return wrapped


ATTACKS = [
    Attack("rich-html", "HTML outputs: script, img onerror, javascript: link, iframe srcdoc, form, isolated",
           _code(HTML_OUTPUT), inert_output=True),
    Attack("rich-javascript", "JavaScript outputs: display(Javascript), a raw bundle, _repr_javascript_",
           _code(JAVASCRIPT_OUTPUT), inert_output=True),
    Attack("rich-svg", "SVG outputs with onload, script and foreignObject, through SVG() and a raw bundle",
           _code(SVG_OUTPUT), inert_output=True),
    Attack("rich-markdown-latex", "text/markdown and text/latex outputs with script links and handlers",
           _code(MARKDOWN_LATEX_OUTPUT), inert_output=True),
    Attack("rich-widget", "widget views, unknown vnd types, forged output metadata, widget state, hostile tags",
           _widget_state(_code(WIDGET_OUTPUT, tags=[f'"><script>{JS}</script>'])), inert_output=True),
    Attack("rich-update-error", "update_display_data to a script, HTML in a print and in a traceback",
           _code(UPDATE_AND_ERROR), inert_output=True),
    Attack("rich-markdown-cell", "markdown cells with raw HTML, javascript: links, SVG and HTML attachments",
           _markdown_cells, inert_output=True),
    Attack("rich-raw-cell", "raw cells in text/html format with script, img onerror, iframe srcdoc",
           _raw_cells, inert_output=True),
]
