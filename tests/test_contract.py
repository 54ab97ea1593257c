"""One contract between kernel and grader (``autograder/probe/contract.py``): it is answer-free and
self-contained, both sides use it, and what it names cannot drift (nothing else spells it out)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbclient.exceptions
import nbgrader.preprocessors.execute
import pytest
import torch
import torch.autograd.forward_ad as fwAD

from autograder.judge import record as judge_record
from autograder.judge.local import HiddenTestFailure
from autograder.judge.record import ErrorValue, decode_tensor
from autograder.judge.torch_errors import explain_error
from autograder.probe import collect, contract, library, run_suite
from autograder.probe import encode as probe_encode
from autograder.probe.scenario import all_suites

PACKAGE = Path(__file__).resolve().parents[1] / "autograder"
CONTRACT = PACKAGE / "probe" / "contract.py"


# ---------------------------------------------------------------------- the contract itself

def test_the_contract_imports_the_standard_library_only():
    tree = ast.parse(CONTRACT.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the contract imports nothing of the package"
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, module
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "torch" not in names  # no tensors, so no reference computation either


_BLOCKER = textwrap.dedent("""
    import sys

    class Blocker:
        def __init__(self, *names):
            self.names = names

        def find_spec(self, name, path=None, target=None):
            if any(name == n or name.startswith(n + ".") for n in self.names):
                raise ImportError(f"{name} is not available here")
            return None
""")


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "AUTOGRADER_PROBE")}
    environment.update(env, PYTHONPATH=str(PACKAGE.parent))
    return subprocess.run([sys.executable, "-c", _BLOCKER + textwrap.dedent(code)], capture_output=True,
                          text=True, env=environment, timeout=300)


def test_the_contract_and_the_probe_package_load_without_the_judge_or_torch():
    done = _run("""
        sys.meta_path.insert(0, Blocker("autograder.judge", "torch"))
        import autograder.probe
        from autograder.probe import contract
        assert contract.MIME_TYPE
        assert "torch" not in sys.modules and "autograder.judge" not in sys.modules
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_kernel_without_the_judge_records_and_never_asks_for_it():
    """A sandboxed kernel has ``autograder/probe`` only: recording works, the instructor path cannot."""
    grade_id = next(iter(all_suites()))
    done = _run(f"""
        sys.meta_path.insert(0, Blocker("autograder.judge"))
        import json
        from autograder.probe import collect, contract, run_suite

        records = collect({grade_id!r}, {{}})
        try:
            run_suite({grade_id!r}, {{}})
        except contract.RecordingFinished:
            pass
        assert "autograder.judge" not in sys.modules
        print(json.dumps(records))
    """, AUTOGRADER_PROBE="record")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout.strip().splitlines()[-1])
    assert records and all(r["status"] == contract.Status.MISSING for r in records)
    assert contract.MIME_TYPE in done.stdout  # run_suite displayed its records (printed, outside IPython)

    not_recording = _run(f"""
        sys.meta_path.insert(0, Blocker("autograder.judge"))
        from autograder.probe import run_suite
        try:
            run_suite({grade_id!r}, {{}})
        except ImportError as exc:
            print("no judge:", exc)
    """)
    assert "no judge: autograder.judge" in not_recording.stdout, not_recording.stderr


def test_the_instructor_path_judges_on_the_spot(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("AUTOGRADER_PROBE", raising=False)
    with pytest.raises(HiddenTestFailure):
        run_suite(next(iter(all_suites())), {})


# ---------------------------------------------------------------------- records

def _tensor(dtype: torch.dtype) -> torch.Tensor:
    base = torch.tensor([[0.0, 1.5, -2.0], [3.0, 0.25, -7.0]])
    if dtype == torch.bool:
        return base > 0
    if dtype.is_complex:
        return torch.complex(base, -base).to(dtype)
    return base.abs().to(dtype) if dtype == torch.uint8 else base.to(dtype)


@pytest.mark.parametrize("name", contract.DTYPE_NAMES)
def test_every_dtype_of_the_contract_travels(name):
    dtype = getattr(torch, name)
    original = _tensor(dtype)
    info = json.loads(json.dumps(probe_encode.encode_tensor(original)))
    assert info["dtype"] == name and "unreadable" not in info
    value = decode_tensor(info)
    assert value.tensor.dtype == dtype and torch.equal(value.tensor, original)


def test_both_sides_derive_their_dtype_tables_from_the_contract():
    assert sorted(probe_encode._DTYPES.values()) == sorted(contract.DTYPE_NAMES)
    assert sorted(judge_record._DTYPES) == sorted(contract.DTYPE_NAMES)


def _keys_of_values(info, found: dict[str, set]) -> None:
    if isinstance(info, dict):
        if info.get("t") in ("tensor", "error"):
            found.setdefault(info["t"], set()).update(info)
        for value in info.values():
            _keys_of_values(value, found)
    elif isinstance(info, list):
        for value in info:
            _keys_of_values(value, found)


@pytest.mark.parametrize("returns", ["tensor", "error"])
def test_the_probe_writes_only_what_the_contract_names(returns):
    grade_id = "test_vjp_hidden"
    function = all_suites()[grade_id][0].function

    def student(*args, **kwargs):
        if returns == "error":
            raise ValueError("wrong")
        x = args[1].detach().clone().requires_grad_(True)
        return (x * 2).sum(), x

    records = collect(grade_id, {function: student})
    found: dict[str, set] = {}
    for record in records:
        assert set(record) <= contract.RECORD_KEYS
        assert record["v"] == contract.RECORD_VERSION and record["status"] in contract.STATUSES
        for call in record["calls"].values():
            assert set(call) <= contract.CALL_KEYS
            assert set(call["autograd"]) <= contract.AUTOGRAD_KEYS
            assert set(call["printed"]) <= contract.PRINTED_KEYS
            for frame in call.get("error", {}).get("frames", []):
                assert set(frame) <= contract.FRAME_KEYS
                found.setdefault("frame", set()).update(frame)
        _keys_of_values(record, found)
        judge_record.decode_record(record)
    assert found["tensor"] <= contract.TENSOR_KEYS
    if returns == "error":
        assert found["error"] == contract.ERROR_KEYS and found["frame"] == contract.FRAME_KEYS


def test_the_method_summary_holds_only_what_the_contract_names():
    def student(f, x, v):
        x = x.detach().clone().requires_grad_(True)
        y = f(x)
        y.backward(v)
        return torch.func.jacrev(f)(x.detach()).t() @ v     # a batched pass, and an evaluation under grad

    records = collect("test_vjp_hidden", {"vjp": student})
    methods = [call["method"] for record in records for call in record["calls"].values()]
    assert methods and len(methods) == sum(len(record["calls"]) for record in records)
    for method in methods:
        assert set(method) == contract.METHOD_KEYS
        assert method["evaluations"] and not method["incomplete"]
        for evaluation in method["evaluations"]:
            assert set(evaluation) == contract.EVALUATION_KEYS and evaluation["ad"] in contract.AD_STATES
        for sweep in method["reverse"] + method["forward"]:
            assert set(sweep) == contract.SWEEP_KEYS
        assert judge_record.decode_method(json.loads(json.dumps(method))).reverse[1].sweeps == 2


def test_the_saved_tensor_summary_holds_only_what_the_contract_names():
    """Scenarios that measure saved tensors (``Scenario.measure_saved``) record ``call["saved"]``; a forged
    summary that could not be measured (more kept than ever held) is rejected."""
    def student(blocks, x):
        for block in blocks:
            x = block(x)
        return x

    records = collect("test_checkpointed_forward_hidden", {"checkpointed_forward": student})
    summaries = [call["saved"] for record in records for call in record["calls"].values()]
    assert summaries and len(summaries) == sum(len(record["calls"]) for record in records)
    for saved in summaries:
        assert set(saved) == contract.SAVED_KEYS and saved["tensors"] > 0
        decoded = judge_record.decode_saved(json.loads(json.dumps(saved)))
        assert 0 < decoded.kept <= decoded.peak <= decoded.bytes
    with pytest.raises(judge_record.BadRecord):
        judge_record.decode_saved({**summaries[0], "kept": summaries[0]["peak"] + 1})
    others = collect("test_vjp_hidden", {"vjp": lambda f, x, v: x})
    assert all("saved" not in call for record in others for call in record["calls"].values())


# ---------------------------------------------------------------------- errors of ours: matched by type

def _forward_only():
    return library.ForwardOnly(torch.randn(3, 4, dtype=torch.float64))


def _reverse_only():
    return library.ReverseOnly(torch.randn(3, 4, dtype=torch.float64))


def _dual(f, x):
    with fwAD.dual_level():
        return fwAD.unpack_dual(f(fwAD.make_dual(x, torch.ones_like(x)))).tangent


def _grad_of_first_output(f, x):
    x = x.clone().requires_grad_()
    return torch.autograd.grad(f(x)[0], x)


_X = torch.randn(4, dtype=torch.float64)
_ROUTES = {
    "backward": (_forward_only, lambda f: f(_X.clone().requires_grad_()).sum().backward()),
    "autograd.grad": (_forward_only, lambda f: _grad_of_first_output(f, _X)),
    "torch.func.jacrev": (_forward_only, lambda f: torch.func.jacrev(f)(_X)),
    "functional.jacobian": (_forward_only, lambda f: torch.autograd.functional.jacobian(f, _X)),
    "forward_ad": (_reverse_only, lambda f: _dual(f, _X)),
    "torch.func.jvp": (_reverse_only, lambda f: torch.func.jvp(f, (_X,), (torch.ones_like(_X),))),
    "torch.func.jacfwd": (_reverse_only, lambda f: torch.func.jacfwd(f)(_X)),
    "vmap(jvp)": (_reverse_only, lambda f: torch.func.vmap(lambda t: torch.func.jvp(f, (_X,), (t,))[1])(
        torch.eye(4, dtype=torch.float64))),
    "functional.jacobian forward-mode": (_reverse_only, lambda f: torch.autograd.functional.jacobian(
        f, _X, vectorize=True, strategy="forward-mode")),
}


@pytest.mark.parametrize("route", _ROUTES)
def test_torch_passes_our_error_types_on_unchanged(route):
    """The judge recognises the single-mode functions' errors by type: torch must not rewrap them."""
    make, use = _ROUTES[route]
    expected = contract.ForwardModeOnly if make is _forward_only else contract.ReverseModeOnly
    with pytest.raises(expected) as caught:
        use(make())
    assert type(caught.value) is expected
    error = probe_encode.encode_error(caught.value, [])
    key, _ = explain_error(ErrorValue(error["type"], error["message"]), "jacobian")
    assert key == ("reverse_instead_of_forward" if expected is contract.ForwardModeOnly
                   else "forward_instead_of_reverse")


def test_our_messages_are_not_matched_by_their_text():
    text = library.FORWARD_ONLY_MESSAGE
    assert explain_error(ErrorValue("RuntimeError", text), "f")[0] == "other_error"
    assert explain_error(ErrorValue(contract.ProbeTimeout.__name__, "slow"), "f")[0] == "timeout"


def test_torch_names_the_reverse_only_function_as_the_contract_says():
    assert library._ReverseOnlyTanh.__name__ == contract.REVERSE_ONLY_FUNCTION
    assert contract.REVERSE_ONLY_FUNCTION in contract.VMAP_OVER_REVERSE_ONLY


# ---------------------------------------------------------------------- what the executors write

def _error_output_names(path: Path) -> list[ast.expr]:
    tree = ast.parse(path.read_text())
    return [call.args[0] for call in ast.walk(tree) if isinstance(call, ast.Call)
            and getattr(call.func, "id", None) == "error_output" and call.args]


def test_every_stop_the_executors_write_has_a_reason():
    ours = _error_output_names(PACKAGE / "nbgrader_plugins" / "execute.py")
    assert len(ours) >= 3
    for arg in ours:
        assert isinstance(arg, ast.Name), "name the error output with a constant of the contract"
        assert getattr(contract, arg.id) in contract.STOP_REASONS
    nbgraders = re.findall(r"""["']ename["']\s*:\s*["'](\w+)["']""",
                           inspect.getsource(nbgrader.preprocessors.execute))
    assert nbgraders and all(name in contract.STOP_REASONS for name in nbgraders)
    assert nbclient.exceptions.DeadKernelError.__name__ == contract.DEAD_KERNEL
    assert contract.stop_reason(["unhashable"]) is None


# ---------------------------------------------------------------------- no second spelling anywhere

def _string_literals(path: Path) -> list[str]:
    """The string constants of a module, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


DISTINCTIVE = [contract.MIME_TYPE, contract.OUTPUT_TRUNCATED, contract.CALL_SECONDS_ENV, contract.LOCAL_JUDGE,
               contract.REVERSE_ONLY_FUNCTION, *contract.STOP_REASONS, contract.ProbeTimeout.__name__,
               contract.ForwardModeOnly.__name__, contract.ReverseModeOnly.__name__,
               contract.RecordingFinished.__name__, "vnd.autograder",
               "supports only forward-mode AD", "supports only reverse-mode AD"]  # the markers once matched


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p != CONTRACT),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_what_the_contract_names_is_spelled_nowhere_else(path):
    literals = _string_literals(path)
    for name in DISTINCTIVE:
        if name.startswith("supports only") and path.name == "library.py":
            continue  # the single-mode functions' messages: shown to students, never matched
        assert not any(name in text for text in literals), f"{name!r} is written out in {path}"
