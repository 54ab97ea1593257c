"""The assignment-independent part of the adversarial corpus, built for any assignment (``attack_kit.Target``).

Each assignment has its own scenarios, records and rubrics, so the classes of attack that aim at those run
against each assignment: forged probe records (every attack of ``attacks_forged_records.py``, retargeted to
the assignment's own scenarios and grade ids), a patched probe, monkeypatched comparisons returning zeros,
deleted and edited test cells, a flood of output from a graded function, an endless graded function, and two
representatives of confinement (reading the source notebook and the gradebook). ps2_vjp's corpus
(``corpus.py``) holds the originals; these are the same attacks, built from the target's release notebook, its
correct answers and its graded functions."""

from __future__ import annotations

import nbformat
from attack_kit import Attack, Target, _answers, _edited, _with_cell, guarded
from attacks_forged_records import DEEP, EXTREMES, HUGE_STRINGS, LATE_UPDATE

from autograder.demo.cohort import CHEAT_CELL, fill


def also(function: str, extra: str):
    """The correct ``function``, which first runs ``extra`` (inside the hidden tests' calls)."""
    def build(release, correct, paths):
        body = "\n".join("    " + line for line in extra.strip().splitlines())
        source = (f"{correct[function]}\n\n_correct_{function} = {function}\n\n"
                  f"def {function}(*args, **kwargs):\n{body}\n    return _correct_{function}(*args, **kwargs)\n")
        return fill(release, {**correct, function: source}), None, {}
    return build


def cells(*sources: str, after: str | None = None):
    """A correct submission with code cells inserted after the solution cell ``after`` (None: the first graded
    function's), without formatting."""
    def build(release, correct, paths, nb=None):
        nb = fill(release, correct) if nb is None else nb
        anchor = after or next(iter(correct))
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == anchor)
        for offset, source in enumerate(sources, start=1):
            nb.cells.insert(index + offset, nbformat.v4.new_code_cell(source))
        return nb, None, {}
    return build


def retarget(text: str, t: Target) -> str:
    """A forged-record attack of ps2_vjp (``attacks_forged_records``) aimed at ``t``'s first graded function."""
    first, last = t.functions[0], t.functions[-1]
    hidden, _ = t.scenario(first)
    visible, _ = t.scenario(first, hidden=False)
    other, _ = t.scenario(last)
    for old, new in (("linear_vjp/wide-f64", other), ('"test_vjp_hidden"', f'"test_{first}_hidden"'),
                     ("vjp/sin-f64", hidden), ("vjp/visible", visible), ('"test_vjp"', f'"test_{first}"'),
                     ('"function": "vjp"', f'"function": "{first}"')):
        text = text.replace(old, new)
    return text


def zeros(t: Target) -> dict[str, str]:
    return {fn: f"def {fn}(*args, **kwargs):\n    return torch.tensor(0.0)\n" for fn in t.functions}


def forge_in_function(t: Target) -> str:
    """The first graded function emits a forged 'done' record of its visible test cell, then returns zero."""
    first = t.functions[0]
    scenario, grade_id = t.scenario(first, hidden=False)
    return f'''
def {first}(*args, **kwargs):
    from IPython.display import display
    display({{"application/vnd.autograder.probe+json": {{"v": 1, "scenario": "{scenario}", "grade_id": "{grade_id}",
              "function": "{first}", "status": "done", "calls": {{}}, "inputs_before": {{}}, "inputs_after": {{}},
              "observed": {{}}}}}}, raw=True)
    return torch.tensor(0.0)
'''


def patch_probe(t: Target) -> str:
    return f'''
import autograder.probe as _probe
_probe.collect = lambda *args, **kwargs: []
import IPython.display
IPython.display.display = lambda *args, **kwargs: None
def {t.functions[0]}(*args, **kwargs):
    return torch.tensor(0.0)
'''


def _delete(grade_id):
    def edit(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return edit


def _tamper(t: Target):
    first, last = t.functions[0], t.functions[-1]

    def edit(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == f"test_{first}":
                meta["points"] = 100
            if meta.get("grade_id") == f"test_{last}_hidden":
                meta["grade_id"] = "my_own_cell"
                meta["points"] = 50
    return edit


def generic_attacks(t: Target) -> list[Attack]:
    first, last = t.functions[0], t.functions[-1]
    zero = zeros(t)
    full = t.full

    def planted(release, correct, paths):
        nb, _, _ = also(first, "from IPython.display import display\n"
                               "display({'text/plain': ''}, raw=True, display_id='planted')")(release, correct, paths)
        return cells(retarget(LATE_UPDATE, t), after=last)(release, correct, paths, nb=nb)

    return [
        # confinement: representatives (the sandbox is the same for every assignment)
        Attack("read-source", "reads the instructor's source notebook (solutions)",
               _with_cell(guarded("print(open({source!r}).read()[:200])"), after=None), attack_cell=True,
               expect_total=full),
        Attack("read-gradebook", "reads gradebook.db",
               _with_cell(guarded("print(open({gradebook!r}, 'rb').read(64))"), after=None), attack_cell=True,
               expect_total=full),
        # output caps and time limits
        Attack("huge-output", "prints 20 MB", _with_cell("print('spam ' * 4_000_000)", after=None),
               reason="output truncated", expect_total=full),
        Attack("flood-from-function", f"its {first} publishes 5 MB of display updates while the hidden tests call it",
               also(first, "from IPython.display import display\n"
                           "display({'text/plain': 'v' * 5_000_000}, raw=True, display_id='in-test')"),
               zero_functions=(first,), expect_total=full),
        Attack("endless-function", f"an endless loop in {first}",
               _answers(**{first: f"def {first}(*args, **kwargs):\n    while True:\n        pass\n"}),
               zero_functions=(first,), reason="did not finish", expect_total=full),
        # the probe and the comparisons
        Attack("monkeypatch", "monkeypatches torch/numpy/math comparisons and returns zeros",
               _answers(**{**zero, first: CHEAT_CELL + "\n" + zero[first]}), expect_total=0.0),
        Attack("patch-probe", "disables the hidden tests' probe and display, returns zeros",
               _answers(**{**zero, first: patch_probe(t)}), expect_total=0.0),
        # forged records
        Attack("forge-records", "emits forged probe records from its own function",
               _answers(**{first: forge_in_function(t)}), zero_functions=(first,), expect_total=full),
        Attack("forged-extreme-records", f"its {first} emits records with absurd shapes, dtypes, times, pass counts, "
               "a wrong version, another scenario, an unknown status, no calls",
               also(first, retarget(EXTREMES, t)), zero_functions=(first,), expect_total=full),
        Attack("forged-deep-record", f"its {first} emits a record whose value is nested 150 levels deep",
               also(first, retarget(DEEP, t)), zero_functions=(first,), expect_total=full),
        Attack("forged-huge-strings", f"its {first} emits records with a 100 KB scenario id and a 100 KB error",
               also(first, retarget(HUGE_STRINGS, t)), zero_functions=(first,), expect_total=full),
        Attack("forged-records-in-a-cell", "an ordinary cell emits extreme forged records (dropped: not a test cell)",
               cells(retarget(EXTREMES, t)), expect_total=full),
        Attack("forged-record-by-update", f"its {first} leaves an empty display in the test cells; a later cell "
               "rewrites it into a forged record through update_display", planted, zero_functions=(first,),
               expect_total=full),
        # the notebook's test cells and their metadata
        Attack("deleted-test-cell", f"deleted the hidden test cell of {first}",
               _edited(_delete(f"test_{first}_hidden")), expect_total=full),
        Attack("edited-metadata", "raised its points and renamed a test cell's grade id", _edited(_tamper(t)),
               expect_total=full),
    ]
