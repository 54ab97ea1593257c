"""Watch one call of a student's function: what it printed or warned, which autograd entry points it
used, and whether it finished within its time limit."""

from __future__ import annotations

import contextlib
import inspect
import io
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from . import method_tap
from .contract import ProbeTimeout
from .graph_cuts import GraphCuts

# Names under which torch reports its reverse-mode entry points to a TorchFunctionMode.
_REVERSE = {"Tensor.backward": "backward", "backward": "backward", "grad": "autograd.grad"}
# Their argument that holds the upstream vectors (cotangents).
_COTANGENTS = ("grad_outputs", "gradient", "grad_tensors")


class AutogradCalls(TorchFunctionMode):
    """Counts reverse passes during a call: ``backward``/``autograd.grad``, including the ones that
    ``torch.func`` and ``torch.autograd.functional`` make, and the directions they carry: one per pass,
    times the batch of an ``is_grads_batched`` pass, times the vmap batch sizes on its upstream vectors (a
    ``torch.func.jacrev`` makes one pass that carries a direction per output). Forward-mode dual numbers
    never reach a TorchFunctionMode: ``method_tap`` sees them, on the test functions it watches. It also
    feeds ``graph_cuts``, which notices a cut graph together with the missing gradient it causes."""

    def __init__(self) -> None:
        super().__init__()
        self.reverse = 0
        self.names: dict[str, int] = {}
        self.directions: int | None = 0      # None once a pass could not be inspected
        self.cuts = GraphCuts()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "")
        kind = _REVERSE.get(name)
        self.cuts.before(kind, func, args, kwargs)
        if kind is not None:
            self.names[kind] = self.names.get(kind, 0) + 1
            self.reverse += 1
            if self.directions is not None:
                try:
                    self.directions += _directions(func, args, kwargs)
                except Exception:
                    self.directions = None
        result = func(*args, **kwargs)
        self.cuts.after(kind, func, args, kwargs, result)
        return result

    def summary(self) -> dict:
        found = {"reverse": self.reverse, "names": dict(self.names)}
        if self.directions is not None:
            found["directions"] = self.directions
        if self.cuts.events:
            found["cuts"] = list(self.cuts.events)
        return found


def _directions(func, args, kwargs) -> int:
    """The directions one reverse pass carries (1 for an ordinary pass)."""
    bound = inspect.signature(func).bind(*args, **kwargs).arguments
    given = next((bound[name] for name in _COTANGENTS if bound.get(name) is not None), None)
    first = given[0] if isinstance(given, (list, tuple)) and given else given
    if not isinstance(first, torch.Tensor):
        return 1
    directions = first.shape[0] if bound.get("is_grads_batched") and first.dim() else 1
    return directions * method_tap.batch_sizes(first)[0]


@dataclass
class Captured:
    stdout: str = ""
    stderr: str = ""
    warnings: list[str] = field(default_factory=list)

    def summary(self, limit: int = 600) -> dict:
        def cut(text: str) -> str:
            return text if len(text) <= limit else text[:limit] + " ..."
        return {"stdout": cut(self.stdout), "stderr": cut(self.stderr), "warnings": self.warnings[:5],
                "n_warnings": len(self.warnings)}


@contextlib.contextmanager
def captured_output():
    """Keep prints and warnings of the student's code out of the test cell's output."""
    out, err = io.StringIO(), io.StringIO()
    record = Captured()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                yield record
            finally:
                record.stdout, record.stderr = out.getvalue(), err.getvalue()
    record.warnings = [f"{w.category.__name__}: {w.message}"[:300] for w in caught]


# A call that waits without computing (sleep, a lock, input()) is stopped after this many times its CPU
# budget in wall time. The budget itself is CPU time, so a busy grading machine never costs a student.
WALL_FACTOR = 4


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the student's code with ProbeTimeout after ``seconds`` of CPU time of this process, or
    ``WALL_FACTOR * seconds`` of wall time (main thread only).

    CPU time counts only the kernel's own work: the result does not depend on how loaded the grading
    machine is, so the same submission gets the same grade on a quiet laptop and on a busy server."""
    usable = seconds > 0 and threading.current_thread() is threading.main_thread() and hasattr(
        signal, "setitimer")
    if not usable:
        yield
        return

    def on_cpu(signum, frame):
        raise ProbeTimeout(f"did not finish within {seconds:g} s of CPU time")

    def on_wall(signum, frame):
        raise ProbeTimeout(f"did not finish within {WALL_FACTOR * seconds:g} s")

    previous = {signal.SIGPROF: signal.signal(signal.SIGPROF, on_cpu),
                signal.SIGALRM: signal.signal(signal.SIGALRM, on_wall)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, WALL_FACTOR * seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def default_autograd_state():
    """Run checks the way a fresh interpreter would: gradients on, anomaly detection off."""
    with torch.enable_grad(), torch.autograd.set_detect_anomaly(False):
        yield


class Stopwatch:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def student_frames(tb, limit: int = 3) -> list[dict]:
    """The innermost traceback frames that belong to the student (not to torch, the probe or Python)."""
    import traceback

    frames = []
    for frame in traceback.extract_tb(tb):
        name = frame.filename or ""
        if "/autograder/probe/" in name or "/torch/" in name or name.startswith(sys.prefix):
            continue
        frames.append({"line": frame.lineno, "function": (frame.name or "")[:100], "code": (frame.line or "")[:200]})
    return frames[-limit:]


class _Held:
    """What ``SavedTensors`` hands autograd for one saved tensor: the packed value (the tensor itself, or what a
    hook installed inside the call made of it), alive exactly as long as autograd keeps it; says so when it goes."""

    __slots__ = ("packed", "nbytes", "monitor")

    def __init__(self, packed, nbytes: int, monitor: SavedTensors) -> None:
        self.packed, self.nbytes, self.monitor = packed, nbytes, monitor

    def __del__(self) -> None:
        self.monitor.live -= self.nbytes


def _checkpoint_codes() -> frozenset:
    """The code objects of ``torch.utils.checkpoint``'s own saved-tensor hooks (the functions its hook classes
    define in ``__init__``): a hook running this very code is checkpointing, whatever its name claims."""
    import types

    try:
        from torch.utils import checkpoint
    except ImportError:
        return frozenset()
    codes = set()
    for name in ("_checkpoint_hook", "_recomputation_hook"):
        cls = getattr(checkpoint, name, None)
        init = getattr(getattr(cls, "__init__", None), "__code__", None)
        if init is not None:
            codes.update(c for c in init.co_consts if isinstance(c, types.CodeType))
    return frozenset(codes)


class SavedTensors:
    """Measures the tensors autograd saves for the backward pass during a call
    (``torch.autograd.graph.saved_tensors_hooks``): how many, their bytes in all, the bytes still held when
    the call returns (``kept``: what the graph of its result holds on to) and the most held at any moment.

    Values never change: the pack hook hands autograd a holder of the very same tensor, unpacked as it was.
    ``torch.utils.checkpoint``'s own hooks, installed inside the call, take precedence for the tensors saved
    under them (it saves none: it recomputes them), which is what makes checkpointing visible here. Any other
    saved-tensor hooks code inside the call installs (its own ``saved_tensors_hooks``, ``save_on_cpu``) are
    wrapped, so what autograd asks them to save is counted all the same: hooks cannot hide saved activations.
    ``torch.func`` transforms refuse to run under saved-tensor hooks, so only the scenarios that ask for it
    are measured.

    The monitor installs its hooks with torch's own push and pop (``_HOOK_STACK``, taken when this module is
    imported and checked to be torch's builtins), never through names the student's code can rebind
    (``torch.autograd.graph.saved_tensors_hooks``, the module attributes). A canary, an operation that must
    save a tensor, checks when the call starts and when it ends that what autograd saves reaches this monitor,
    and at every torch operation of the call the hooks on top must be the monitor's or installed through it
    (``_TopWatch``): hooks pushed with a reference to torch's own push taken earlier are noticed. If any of that
    fails, ``intact`` is False and the call's measurement is not recorded (the judge cannot credit a saving it
    could not see). A pop of the monitor's hooks through torch's module is refused. Right after the call,
    ``adopt`` goes through the result's graph: tensors saved without any hooks are adopted (counted and kept),
    and every tensor saved with hooks must unpack through the monitor (checkpoint's hooks are wrapped too,
    counted as holding nothing), which finds hooks it never saw even where no torch operation was seen."""

    def __init__(self) -> None:
        self.tensors = 0
        self.bytes = 0
        self.live = 0
        self.peak = 0
        self.kept = 0
        self.intact = True
        self._installed = False
        self._depth = 0            # hooks pushed (through ``_pushed``) during the call and not popped yet
        self._attrs: dict = {}
        self._own = (self._pack, self._unpack)
        self._known: set[int] = set()  # ids of the pack hooks the monitor installed or saw installed
        self._keep: list = []          # ... kept alive while the monitor runs (ids stay unique)
        self._watch = _TopWatch(self)
        self._auditing = False
        self._seen = 0                 # holders unpacked while auditing (``adopt``)

    def _count(self, tensor: torch.Tensor, packed) -> _Held:
        nbytes = int(tensor.numel()) * int(tensor.element_size())
        self.tensors += 1
        self.bytes += nbytes
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        return _Held(packed, nbytes, self)

    def _pack(self, tensor: torch.Tensor) -> _Held:
        return self._count(tensor, tensor)

    def _unpack(self, held: _Held) -> torch.Tensor:
        if self._auditing:
            self._seen += 1
        return held.packed

    def _audited(self, held, unpack):
        """Unpacks a holder of hooks installed through the monitor; while auditing, only notes that it is one
        (checkpoint's unpack would recompute, the student's would run student code)."""
        if self._auditing:
            self._seen += 1
            return _EMPTY
        return unpack(held.packed)

    def _pushed(self, pack, unpack):
        """Stands in for torch's ``_push_saved_tensors_default_hooks`` while the call runs."""
        push = _HOOK_STACK["push"]
        code = getattr(pack, "__code__", None)
        if code is not None and code in _CHECKPOINT_CODES:     # checkpoint saves nothing: it recomputes
            def counted_pack(tensor):
                return _Held(pack(tensor), 0, self)
        else:
            def counted_pack(tensor):
                return self._count(tensor, pack(tensor))

        def counted_unpack(held):
            return self._audited(held, unpack)

        self._know(counted_pack)
        push(counted_pack, counted_unpack)
        self._depth += 1
        return None

    def _know(self, pack) -> None:
        self._known.add(id(pack))
        self._keep.append(pack)

    def _check_top(self) -> None:
        """While the call runs, saved-tensor hooks on top are the monitor's or installed through it; any other
        (pushed with a reference to torch's own push taken earlier) would hide saved tensors."""
        try:
            top = _HOOK_STACK["top"](False)
        except Exception:
            top = None
        if top is None or id(top[0]) not in self._known:
            self.intact = False

    def _popped(self):
        """Stands in for torch's ``_pop_saved_tensors_default_hooks`` while the call runs: the student's code
        pops what it pushed; the monitor's own hooks are not popped (the measurement goes on)."""
        if self._depth <= 0:
            return None
        self._depth -= 1
        _HOOK_STACK["pop"]()
        return None

    def _canary(self) -> bool:
        """Does a tensor autograd saves now reach this monitor? (Leaves the counts as they were.)"""
        before = (self.tensors, self.bytes, self.peak)
        try:
            with torch.enable_grad():
                leaf = torch.ones(1, dtype=torch.float64, requires_grad=True)
                out = leaf.sin()          # sin saves its input for backward (no cycle: freed at once)
                reached = self.tensors > before[0]
                del out, leaf
        except Exception:
            reached = False
        self.tensors, self.bytes, self.peak = before
        return reached

    def __enter__(self) -> SavedTensors:
        if not _HOOK_STACK["genuine"]:
            self.intact = False
            return self
        self._know(self._own[0])
        _HOOK_STACK["push"](*self._own)
        self._installed = True
        module = torch._C._autograd
        for name, stand_in in (("_push_saved_tensors_default_hooks", self._pushed),
                               ("_pop_saved_tensors_default_hooks", self._popped)):
            self._attrs[name] = getattr(module, name, None)
            setattr(module, name, stand_in)
        if not self._canary():
            self.intact = False
        self._watch.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if not self._installed:
            return False
        self._watch.__exit__(*exc)
        if not self._canary():        # the call removed or replaced what counts saved tensors
            self.intact = False
        module = torch._C._autograd
        for name, previous in self._attrs.items():
            setattr(module, name, previous)
        pop = _HOOK_STACK["pop"]
        try:
            for _ in range(max(self._depth, 0)):    # hooks the call pushed and never popped
                pop()
            pop()                                   # the monitor's own
        except Exception:
            self.intact = False
        self.kept = max(self.live, 0)
        return False

    def adopt(self, value) -> None:
        """Right after the call: every tensor the graph of its result (``value``) saved *without* saved-tensor
        hooks was saved while the monitor's hooks were out of the way (popped and put back with torch's own
        functions): give it the monitor's hooks now, so that it counts as saved and kept like any other. Every
        tensor saved *with* hooks must have been packed by the monitor or through it: unpacking it while
        auditing reaches the monitor; if another unpack answers, hooks the monitor never saw hid it."""
        if not self._installed:
            return
        try:
            for node, name, raw in _saved_of(value):
                hooked = 0
                items = raw if isinstance(raw, (list, tuple)) else (raw,)
                for saved in items:
                    try:
                        saved.register_hooks(*self._own)
                    except RuntimeError as error:
                        if "already" in str(error):   # it has hooks: the monitor's, or installed through it?
                            hooked += 1               # (else it holds nothing: a None value)
                if hooked:
                    seen = self._seen
                    self._auditing = True
                    try:
                        getattr(node, "saved_tensors" if name == "_raw_saved_tensors" else
                                "_saved_" + name[len("_raw_saved_"):])
                    finally:
                        self._auditing = False
                    if self._seen - seen < len(items):
                        self.intact = False
        except Exception:
            self.intact = False
        self.kept = max(self.live, 0)

    def summary(self) -> dict:
        return {"tensors": self.tensors, "bytes": self.bytes, "kept": self.kept, "peak": self.peak}


MAX_GRAPH_NODES = 20_000     # nodes of a result's graph visited by ``SavedTensors.adopt``
_EMPTY = torch.empty(0)      # what an audited unpack returns instead of running the hooks' own unpack


def _saved_of(value):
    """(node, attribute, ``SavedTensor`` or list of them) of the nodes of the autograd graph behind ``value``
    (a tensor, or a list, tuple or dict of them), at most MAX_GRAPH_NODES nodes."""
    roots, stack = [], [value]
    while stack and len(roots) < 64:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            roots.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item[:64])
        elif isinstance(item, dict):
            stack.extend(list(item.values())[:64])
    nodes = [t.grad_fn for t in roots if t.grad_fn is not None]
    seen: set[int] = set()
    while nodes and len(seen) < MAX_GRAPH_NODES:
        node = nodes.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for name in dir(node):
            if name.startswith("_raw_saved_"):
                try:
                    raw = getattr(node, name, None)
                except Exception:         # freed by a backward pass already: holds nothing
                    continue
                items = raw if isinstance(raw, (list, tuple)) else (raw,)
                if items and all(type(saved).__name__ == "SavedTensor" for saved in items):
                    yield node, name, raw
        nodes.extend(next_node for next_node, _ in getattr(node, "next_functions", ()) or ())


class _TopWatch(TorchFunctionMode):
    """Checks, at every torch operation of the call, that the saved-tensor hooks on top are known to the
    monitor (``SavedTensors._check_top``)."""

    def __init__(self, monitor: SavedTensors) -> None:
        super().__init__()
        self.monitor = monitor

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.monitor._check_top()
        return func(*args, **(kwargs or {}))


def _hook_stack() -> dict:
    """torch's push and pop of saved-tensor default hooks, as they are when this module is imported (in the
    batch grader's kernels, before any student code ran), and whether they are torch's own builtins: a Python
    function put in their place by earlier student code is not (a builtin's name cannot be changed, and no
    other builtin bears these names)."""
    module = torch._C._autograd
    builtin = type([].append)
    found = {"push": getattr(module, "_push_saved_tensors_default_hooks", None),
             "pop": getattr(module, "_pop_saved_tensors_default_hooks", None),
             "top": getattr(module, "_top_saved_tensors_default_hooks", None)}
    found["genuine"] = all(
        type(fn) is builtin and getattr(fn, "__name__", None) == f"_{what}_saved_tensors_default_hooks"
        and getattr(fn, "__module__", None) == "torch._C._autograd"
        for what, fn in found.items())
    return found


_HOOK_STACK = _hook_stack()


_CHECKPOINT_CODES = _checkpoint_codes()
