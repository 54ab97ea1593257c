"""Attacks on the judge through forged probe records (issue 8, class 6): records with extreme or
impossible contents, emitted from the student's function during the hidden tests, from an ordinary
cell, or written into a test cell's output afterwards through a display update. The judge never
crashes: a test cell holding such a record scores zero ("the record was tampered with"), the other
functions keep full marks, and nothing is left for manual grading."""

from __future__ import annotations

from attack_kit import Attack
from attacks_output_caps import _cells, _vjp_also

# Defines forge(**changes): a record that looks like the probe's for one of vjp's hidden checks.
FORGE = """
import base64, struct
from IPython.display import display
def forge(display_id=None, **changes):
    value = {"t": "tensor", "type": "torch.Tensor", "shape": [6], "dtype": "float64", "device": "cpu",
             "requires_grad": False, "is_leaf": True, "grad_fn": None,
             "b64": base64.b64encode(struct.pack("<6d", *[0.0] * 6)).decode()}
    record = {"v": 1, "scenario": "vjp/sin-f64", "grade_id": "test_vjp_hidden", "function": "vjp",
              "status": "done", "inputs_before": {}, "inputs_after": {}, "observed": {},
              "calls": {"result": {"value": value, "autograd": {"reverse": 1, "names": {}},
                                   "printed": {"stdout": "", "stderr": "", "warnings": [], "n_warnings": 0},
                                   "seconds": 0.01}}}
    for key, change in changes.items():
        if key.startswith("value_"):
            value[key[len("value_"):]] = change
        elif key.startswith("call_"):
            record["calls"]["result"][key[len("call_"):]] = change
        else:
            record[key] = change
    bundle = {"application/vnd.autograder.probe+json": record, "text/plain": "<probe record>"}
    display(bundle, raw=True, display_id=display_id) if display_id else display(bundle, raw=True)
"""

EXTREMES = FORGE + """
forge(value_shape=[10**12, 10**12, 10**12])
forge(value_shape=[-6])
forge(value_shape=[7])
forge(value_dtype="float1024")
forge(call_seconds=float("nan"))
forge(call_seconds=10**300)
forge(call_autograd={"reverse": 10**40, "names": {}})
forge(v=2)
forge(scenario="linear_vjp/wide-f64")
forge(status="passed")
forge(calls={})
"""

DEEP = FORGE + """
deep = {"t": "none"}
for _ in range(150):
    deep = {"t": "list", "items": [deep], "length": 1}
forge(call_value=deep)
"""

HUGE_STRINGS = FORGE + """
forge(scenario="vjp/sin-f64" + "s" * 100_000)
forge(call_error={"t": "error", "type": "E" * 50_000, "message": "m" * 50_000, "frames": []})
"""

LATE_UPDATE = FORGE + """
from IPython.display import update_display
update_display({"application/vnd.autograder.probe+json": {"v": 1, "scenario": "vjp/visible",
                "grade_id": "test_vjp", "function": "vjp", "status": "done", "calls": {}},
                "text/plain": "<probe record>"}, raw=True, display_id="planted")
"""

ATTACKS = [
    Attack("forged-extreme-records", "its vjp emits records with shapes of 10^36 elements, negative and "
           "inconsistent shapes, unknown dtypes, NaN and 10^300 seconds, 10^40 reverse passes, a wrong "
           "version, another scenario, an unknown status, no calls",
           _vjp_also(EXTREMES), zero_functions=("vjp",)),
    Attack("forged-deep-record", "its vjp emits a record whose value is nested 150 levels deep",
           _vjp_also(DEEP), zero_functions=("vjp",)),
    Attack("forged-huge-strings", "its vjp emits records with a 100 KB scenario id and a 100 KB error",
           _vjp_also(HUGE_STRINGS), zero_functions=("vjp",)),
    Attack("forged-records-in-a-cell", "an ordinary cell emits extreme forged records (they are not in a test "
           "cell, so they are dropped)", _cells(EXTREMES)),
    Attack("forged-record-by-update", "its vjp leaves an empty display in the test cells; a later cell "
           "rewrites it into a forged record through update_display",
           lambda release, correct, paths: _planted(release, correct, paths), zero_functions=("vjp",)),
]


def _planted(release, correct, paths):
    nb, _, extra = _vjp_also("from IPython.display import display\n"
                             "display({'text/plain': ''}, raw=True, display_id='planted')")(release, correct, paths)
    return _cells(LATE_UPDATE, after="linear_vjp")(nb, {}, paths)
