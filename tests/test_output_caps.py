"""Output caps: a real kernel runs a notebook through ``GuardedExecute``, and every route by which it can
make the grader keep bytes — outputs, display updates, output metadata, error messages, the execute
reply's error, widget state, execution counts — is held to ``c.Sandbox.output_kb`` per cell and
``c.Sandbox.notebook_output_kb`` for the notebook. Malformed and unreadable messages are dropped, not fatal.

The sandbox is switched off here: these tests are about the grader's own bookkeeping, not confinement
(the adversarial corpus runs the same routes confined, under both graders)."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograder.nbgrader_plugins.execute import GuardedExecute
from autograder.nbgrader_plugins.output_budget import OutputBudget, persisted_size

pytestmark = pytest.mark.slow

CELL_KB, NOTEBOOK_KB = 64, 256
SEND = ("ip = get_ipython(); k = ip.kernel\n"
        "def send(kind, content):\n"
        "    k.session.send(k.iopub_socket, kind, content, parent=ip.display_pub.parent_header,\n"
        "                   ident=ip.display_pub.topic)\n")
ROUTES = {
    "setup": SEND + "from IPython.display import display, update_display",
    "many ids": "for i in range(20):\n    display({'text/plain': 'a'}, raw=True, display_id='x')",
    "update flood": "update_display({'text/plain': 'y' * 100_000}, display_id='x', raw=True)",
    "metadata": "display({'text/plain': 'hi'}, metadata={'k': 'v' * 10**6}, raw=True)",
    "transient": "send('display_data', {'data': {}, 'metadata': {}, 'transient': {'t': 't' * 10**6}})",
    "error": "raise ValueError('e' * 10**6)",
    "error name": "send('error', {'ename': 'E' * 10**6, 'evalue': '', 'traceback': []})",
    "widget state": "send('comm_open', {'comm_id': 'c1', 'target_name': 'jupyter.widget',\n"
                    "                   'data': {'state': {'w': 'w' * 10**6}}})",
    "execution count": "send('execute_result', {'data': {'text/plain': '1'}, 'metadata': {},\n"
                       "                        'execution_count': 'x' * 10**6})",
    "malformed": "send('status', {})\nsend('stream', {'text': 5})\n"
                 "send('display_data', {'data': 'x', 'metadata': {}, 'transient': ['x']})",
    "per-cell flood": "for _ in range(100):\n    print('p' * 10_000)",
    "unreadable": "import sys\nsys.set_int_max_str_digits(0)\n"  # JSON the grader's parser refuses
                  "send('display_data', {'data': {'text/plain': 'x'}, 'metadata': {'n': 10**5000}})",
}
SMALL = "print('s' * 60_000)"
TEST_CELL_META = {"nbgrader": {"grade": True, "solution": False, "grade_id": "test_vjp", "points": 1,
                               "locked": True}}


def _run(folder, sources: list[str], test_cells: frozenset[int] = frozenset()):
    cells = [new_code_cell(s, metadata=TEST_CELL_META if i in test_cells else {}) for i, s in enumerate(sources)]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config()
    config.Sandbox.enabled = False
    config.Sandbox.output_kb = CELL_KB
    config.Sandbox.notebook_output_kb = NOTEBOOK_KB
    nb, _ = GuardedExecute(config=config).preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    nb = _run(tmp_path_factory.mktemp("routes"), list(ROUTES.values()) + ["print('still running')"])
    return dict(zip(list(ROUTES) + ["last"], nb.cells, strict=True)), nb


def _size(node) -> int:
    return persisted_size(node, 10**9)


@pytest.mark.parametrize("route", [r for r in ROUTES if r not in ("setup", "many ids")])
def test_every_route_is_capped_per_cell(routes, route):
    cells, _ = routes
    cell = cells[route]
    assert _size(cell.outputs) <= CELL_KB * 1024 + 1024, [str(o)[:200] for o in cell.outputs]


@pytest.mark.parametrize("route", ["update flood", "metadata", "transient", "error name", "per-cell flood",
                                   "widget state"])
def test_a_dropped_output_is_announced(routes, route):
    cells, _ = routes
    text = "".join(o.get("text", "") for o in cells[route].outputs)
    assert "[output truncated: more than 64 KiB in this cell]" in text


def test_display_updates_do_not_multiply_into_earlier_cells(routes):
    cells, _ = routes
    outputs = cells["many ids"].outputs
    assert len(outputs) == 20 and all(o["data"]["text/plain"] == "a" for o in outputs)


def test_an_error_keeps_its_name_and_the_start_of_its_message(routes):
    cells, _ = routes
    errors = [o for o in cells["error"].outputs if o["output_type"] == "error"]
    assert [e["ename"] for e in errors] == ["ValueError"]
    assert errors[0]["evalue"].startswith("eee") and len(errors[0]["evalue"]) <= 300


def test_execution_counts_stay_numbers(routes):
    cells, nb = routes
    for cell in nb.cells:
        assert cell.execution_count is None or isinstance(cell.execution_count, int)
        for output in cell.outputs:
            assert output.get("execution_count") is None or isinstance(output["execution_count"], int)


def test_widget_state_is_not_kept(routes):
    _, nb = routes
    assert _size(nb.metadata.get("widgets", {})) < 10_000


def test_malformed_messages_are_dropped_and_the_notebook_goes_on(routes):
    cells, nb = routes
    assert "still running" in "".join(o.get("text", "") for o in cells["last"].outputs)
    nbformat.validate(nb)


def test_the_whole_notebook_is_capped_and_test_cells_keep_their_own_budget(tmp_path):
    sources = [SMALL] * 8 + ["print('test cell output')"]
    nb = _run(tmp_path, sources, test_cells=frozenset({8}))
    kept = [c for c in nb.cells[:8] if "s" * 100 in "".join(o.get("text", "") for o in c.outputs)]
    assert 1 <= len(kept) < 8
    assert _size([c.outputs for c in nb.cells[:8]]) <= NOTEBOOK_KB * 1024 + 8 * 1024
    last_plain = "".join(o.get("text", "") for o in nb.cells[7].outputs)
    assert f"[output truncated: the notebook's output passed {NOTEBOOK_KB} KiB]" in last_plain
    assert "test cell output" in "".join(o.get("text", "") for o in nb.cells[8].outputs)


def test_budget_counts_the_notebook_but_not_test_cells():
    budget = OutputBudget(cell_limit=100, notebook_limit=150)
    assert budget.admit(0, 90, test_cell=False)
    assert not budget.admit(0, 20, test_cell=False) and budget.truncated[0] == "cell"
    assert not budget.admit(0, 1, test_cell=False)  # a truncated cell keeps nothing more
    assert not budget.admit(1, 61, test_cell=False) and budget.truncated[1] == "notebook"
    assert budget.admit(2, 100, test_cell=True)      # test cells: per cell only
    assert budget.admit(3, 60, test_cell=False)
    assert not budget.admit(4, 1, test_cell=False)


def test_sizes_stop_counting_past_the_limit():
    deep: list = []
    for _ in range(3000):  # deeper than Python's recursion limit
        deep = [deep]
    assert persisted_size(deep, 1000) == 1001
    assert 4000 < persisted_size({"a": ["b" * 10, 10**4000]}, 10**6) < 4500  # digits, never converted
