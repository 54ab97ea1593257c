"""Attacks on the output caps (issue 8, class 5): bytes that a kernel makes the grader keep by routes
other than a plain print — display updates, output metadata, huge error messages, widget state, many
cells each under the per-cell cap, malformed or unparsable messages, a notebook file too large to parse.
Each is dropped or refused with a reason, and the student's correct functions keep their marks."""

from __future__ import annotations

import nbformat
from attack_kit import Attack

from autograder.demo.cohort import fill

# Publishes a raw message on the kernel's output channel, as the current cell's output.
SEND = """
ip = get_ipython()
def send(kind, content):
    ip.kernel.session.send(ip.kernel.iopub_socket, kind, content, parent=ip.display_pub.parent_header,
                           ident=ip.display_pub.topic)
"""


def _cells(*sources: str, after: str = "vjp"):
    """A correct submission with code cells inserted after the solution cell ``after`` (no formatting)."""
    def build(release, correct, paths):
        nb = fill(release, correct)
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
        for offset, source in enumerate(sources, start=1):
            nb.cells.insert(index + offset, nbformat.v4.new_code_cell(source))
        return nb, None, {}
    return build


def _vjp_also(extra: str):
    """The correct vjp, which first runs ``extra`` (inside the hidden tests' calls)."""
    def build(release, correct, paths):
        body = "\n".join("    " + line for line in extra.strip().splitlines())
        source = (f"{correct['vjp']}\n\n_correct_vjp = vjp\n\n"
                  f"def vjp(f, x, v):\n{body}\n    return _correct_vjp(f, x, v)\n")
        return fill(release, {**correct, "vjp": source}), None, {}
    return build


def _huge_notebook(release, correct, paths):
    nb = fill(release, correct)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (21 * 2**20)))  # past the default submission_mb (20)
    return None, nbformat.writes(nb).encode(), {}


ATTACKS = [
    Attack("update-display-flood", "shows 200 small outputs under one display id, then updates them all with "
           "500 KB each",
           _cells("from IPython.display import display, update_display\nfor _ in range(200):\n"
                  "    display({'text/plain': '.'}, raw=True, display_id='flood')",
                  "update_display({'text/plain': 'u' * 500_000}, raw=True, display_id='flood')"),
           reason="output truncated"),
    Attack("huge-output-metadata", "an output of two characters with 5 MB of metadata",
           _cells("from IPython.display import display\n"
                  "display({'text/plain': 'hi'}, metadata={'x': 'm' * 5_000_000}, raw=True)"),
           reason="output truncated"),
    Attack("huge-transient", "a display message whose transient field holds 5 MB",
           _cells(SEND + "send('display_data', {'data': {'text/plain': 'hi'}, 'metadata': {},\n"
                         "                      'transient': {'junk': 't' * 5_000_000}})"),
           reason="output truncated"),
    Attack("huge-error-message", "raises an exception whose message is 5 MB",
           _cells("raise ValueError('e' * 5_000_000)"), reason="output truncated"),
    Attack("huge-error-name", "publishes an error output whose name is 5 MB",
           _cells(SEND + "send('error', {'ename': 'E' * 5_000_000, 'evalue': '', 'traceback': []})"),
           reason="output truncated"),
    Attack("widget-state-flood", "opens a widget comm carrying 5 MB of widget state",
           _cells(SEND + "send('comm_open', {'comm_id': 'w1', 'target_name': 'jupyter.widget',\n"
                         "                   'data': {'state': {'value': 'w' * 5_000_000}}})"),
           reason="output truncated"),
    Attack("many-cells", "60 cells of 200 KB each, every one under the per-cell cap (12 MB in all)",
           _cells(*["print('c' * 200_000)"] * 60), reason="output truncated"),
    Attack("forged-execution-count", "an execute_result whose execution_count is 1 MB of text",
           _cells(SEND + "send('execute_result', {'data': {'text/plain': '1'}, 'metadata': {},\n"
                         "                        'execution_count': 'n' * 1_000_000})")),
    Attack("malformed-messages", "publishes a status without a state, a stream without a name and a display "
           "whose transient field is a list",
           _cells(SEND + "send('status', {})\nsend('stream', {'text': 5})\n"
                         "send('display_data', {'data': {}, 'metadata': {}, 'transient': ['x']})")),
    Attack("unparsable-message", "publishes a message holding a 5000-digit integer, which the grader's JSON "
           "parser refuses",
           _cells(SEND + "import sys\nsys.set_int_max_str_digits(0)\n"
                         "send('display_data', {'data': {'text/plain': 'x'}, 'metadata': {'n': 10**5000}})")),
    Attack("flood-from-function", "its vjp publishes 5 MB of display updates while the hidden tests call it",
           _vjp_also("from IPython.display import display\n"
                     "display({'text/plain': 'v' * 5_000_000}, raw=True, display_id='in-test')"),
           zero_functions=("vjp",)),
    Attack("huge-notebook", "a 21 MB notebook file", _huge_notebook, expect_total=0.0, reason="too large"),
]
