"""Watch how a student's code differentiates one of our test functions.

While a ``Recorder`` is active (``Session.call`` activates one for each call of a student's function), the
test functions of ``library`` pass every tensor argument through a *tap*: an identity
``torch.autograd.Function`` that changes no value (its forward is a clone) but sees

* every evaluation of the function: the argument's logical shape, how many samples a ``vmap`` pushes
  through it at once, and whether reverse- or forward-mode AD is tracking it;
* every reverse sweep that reaches the argument (the tap's ``backward``), with the number of directions
  its cotangent carries: the product of the vmap batch sizes on the cotangent (``torch.func.jacrev`` and a
  ``vmap`` over a VJP batch them; ``is_grads_batched`` and ``autograd.functional.jacobian(vectorize=True)``
  use the older vmap), leaving out the vmap levels that already batch the argument, which are samples;
* every forward-mode tangent that reaches it (the tap's ``jvp``), counted the same way.

The tap's backward is the tap again, one order higher: a double backward (``create_graph=True``) stays
differentiable, and its second sweep is seen as a sweep of order 2. A hand-written ``vmap`` rule passes the
batch through, so cotangents of a later plain backward arrive unbatched.

Only facts are recorded (``contract.METHOD_KEYS``), never a verdict: ``autograder.judge.method`` decides
what they mean. The private torch APIs that tell vmap, grad and jvp levels apart are used in this module
only, and only inside ``try``: if a torch release changes them, the summary says ``incomplete`` and the
judge makes no finding about the method. Nothing here raises into the student's code.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import torch
from torch.autograd import forward_ad

from .contract import MAX_EVALUATION_KINDS, MAX_SWEEP_ORDER

_REVERSE, _FORWARD = "reverse", "forward"


# ---------------------------------------------------------------------- what wraps a tensor

def _functorch():
    return torch._C._functorch


def _transforms() -> dict[int, str]:
    """The live torch.func transforms by level: "vmap", "grad", "jvp" or "other"."""
    functorch = _functorch()
    names = {functorch.TransformType.Vmap: "vmap", functorch.TransformType.Grad: "grad",
             functorch.TransformType.Jvp: "jvp"}
    return {ci.level(): names.get(ci.key(), "other") for ci in functorch.get_interpreter_stack() or ()}


def _legacy_batches(t: torch.Tensor) -> list[tuple[str, int, int]]:
    """The older vmap's batch dimensions of ``t`` as ("vmap", -level, size). It has no unwrapping API, but
    ``torch._remove_batch_dim(t, level, 0, 0)`` moves the batch dimension of ``level`` to the front when
    ``t`` is batched at that level (and expands a new dimension of size 0 otherwise)."""
    current = torch._C._vmapmode_increment_nesting()
    torch._C._vmapmode_decrement_nesting()
    found = []
    for level in range(1, current):
        size = torch._remove_batch_dim(t, level, 0, 0).shape[0]
        if size:
            found.append(("vmap", -level, size))
    return found


def layers(t: torch.Tensor) -> tuple[list[tuple[str, int, int | None]], torch.Tensor]:
    """The torch.func wrappers around ``t``, outermost first, as (kind, level, batch size or None), and the
    plain tensor inside them. Kinds: "vmap" (negative levels: the older vmap), "grad", "jvp", "other"."""
    functorch = _functorch()
    transforms = None
    found: list[tuple[str, int, int | None]] = []
    for _ in range(64):
        if functorch.is_legacy_batchedtensor(t):
            found.extend(_legacy_batches(t))
            break
        if not functorch.is_functorch_wrapped_tensor(t):
            break
        level = functorch.maybe_get_level(t)
        inner = functorch.get_unwrapped(t)
        if functorch.is_batchedtensor(t):
            found.append(("vmap", level, inner.shape[functorch.maybe_get_bdim(t)]))
        else:
            transforms = _transforms() if transforms is None else transforms
            found.append((transforms.get(level, "other"), level, None))
        t = inner
    return found, t


def batch_sizes(t: torch.Tensor, *, except_levels=()) -> tuple[int, bool]:
    """The product of the vmap batch sizes on ``t`` outside ``except_levels``, and whether the older vmap
    contributed to it."""
    directions, legacy = 1, False
    for kind, level, size in layers(t)[0]:
        if kind == "vmap" and level not in except_levels:
            directions *= size
            legacy = legacy or level < 0
    return directions, legacy


def _ad_state(x: torch.Tensor, found, base: torch.Tensor) -> set[str]:
    """Which AD modes track ``x`` as the test function sees it (inside torch.func transforms too)."""
    state = set()
    grad_on = torch.is_grad_enabled()     # a leaf keeps requires_grad under no_grad(): that records nothing
    if grad_on and (x.requires_grad or base.requires_grad or any(kind == "grad" for kind, _, _ in found)):
        state.add(_REVERSE)
    if any(kind == "jvp" for kind, _, _ in found) or forward_ad.unpack_dual(x).tangent is not None:
        state.add(_FORWARD)
    return state


def _state_name(state: set[str]) -> str:
    if len(state) == 2:
        return "both"
    return next(iter(state)) if state else "none"


def _tracing() -> bool:
    """torch.jit.trace and torch.compile record a graph to replay; the tap cannot go into it."""
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    try:
        return torch.jit.is_tracing() or bool(compiling and compiling())
    except Exception:
        return True


# ---------------------------------------------------------------------- the tap

class _Meta:
    """What the tap carries through autograd (a non-tensor argument)."""

    __slots__ = ("recorder", "site", "order", "samples")

    def __init__(self, recorder: Recorder, site: int, order: int, samples: frozenset[int]) -> None:
        self.recorder, self.site, self.order, self.samples = recorder, site, order, samples

    def higher(self) -> _Meta:
        return _Meta(self.recorder, self.site, self.order + 1, self.samples)


class _Tap(torch.autograd.Function):
    @staticmethod
    def forward(x, meta):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.meta = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        meta = ctx.meta
        meta.recorder.sweep(_REVERSE, meta.order + 1, grad, meta)
        return _Tap.apply(grad, meta.higher()), None     # the identity, observable and differentiable again

    @staticmethod
    def jvp(ctx, tangent, _):
        meta = ctx.meta
        meta.recorder.sweep(_FORWARD, meta.order, tangent, meta)
        return tangent.clone()

    @staticmethod
    def vmap(info, in_dims, x, meta):
        return _Tap.apply(x, meta), in_dims[0]           # tap the physical tensor, batch dimension as it is


# ---------------------------------------------------------------------- the recorder

class Recorder:
    """What one call of a student's function did to our test functions."""

    def __init__(self) -> None:
        self._evaluations: dict[tuple, int] = {}              # (shape, samples, ad) -> count
        self._more = 0
        self._sweeps: dict[tuple[str, int, int], list[int]] = {}  # (mode, site, order) -> [directions, sweeps]
        self._legacy = False
        self._incomplete = False

    def through(self, args: tuple) -> tuple:
        """Record one evaluation; return ``args`` with every tensor passed through the tap."""
        passed = list(args)
        state: set[str] = set()
        first = None
        tracing = _tracing()
        for site, index in enumerate(i for i, a in enumerate(args) if isinstance(a, torch.Tensor)):
            x = args[index]
            samples: dict[int, int] = {}
            try:
                found, base = layers(x)
                state |= _ad_state(x, found, base)
                samples = {level: size for kind, level, size in found if kind == "vmap"}
            except Exception:
                self._incomplete = True
            if first is None:
                first = (tuple(int(size) for size in x.shape), math.prod(samples.values()))
            if tracing:                   # a traced graph replays without the tap: nothing to count
                self._incomplete = True
                continue
            try:
                passed[index] = _Tap.apply(x, _Meta(self, site, 0, frozenset(samples)))
            except Exception:
                self._incomplete = True
        if first is not None:
            self._count((*first, _state_name(state)))
        return tuple(passed)

    def _count(self, key: tuple) -> None:
        if key in self._evaluations or len(self._evaluations) < MAX_EVALUATION_KINDS:
            self._evaluations[key] = self._evaluations.get(key, 0) + 1
        else:
            self._more += 1

    def sweep(self, mode: str, order: int, t: torch.Tensor, meta: _Meta) -> None:
        """A cotangent (reverse) or tangent (forward) reached a tapped argument."""
        try:
            directions, legacy = batch_sizes(t, except_levels=meta.samples)
        except Exception:
            self._incomplete = True
            return
        entry = self._sweeps.setdefault((mode, meta.site, min(order, MAX_SWEEP_ORDER)), [0, 0])
        entry[0] += directions
        entry[1] += 1
        self._legacy = self._legacy or legacy

    def summary(self) -> dict | None:
        """The call's ``method`` entry (``contract.METHOD_KEYS``), or None if no test function was evaluated."""
        if not self._evaluations and not self._more:
            return None
        return {
            "evaluations": [{"shape": list(shape), "samples": samples, "ad": ad, "count": count}
                            for (shape, samples, ad), count in self._evaluations.items()],
            "more_evaluations": self._more,
            "reverse": self._per_order(_REVERSE),
            "forward": self._per_order(_FORWARD),
            "legacy_batched": self._legacy,
            "incomplete": self._incomplete,
        }

    def _per_order(self, mode: str) -> list[dict]:
        """Sweeps per order; for a function of several tensors, the argument that saw the most."""
        orders: dict[int, list[int]] = {}
        for (kind, _site, order), (directions, sweeps) in self._sweeps.items():
            if kind == mode:
                best = orders.setdefault(order, [0, 0])
                best[0], best[1] = max(best[0], directions), max(best[1], sweeps)
        return [{"order": order, "directions": d, "sweeps": n} for order, (d, n) in sorted(orders.items())]


_active: Recorder | None = None


@contextlib.contextmanager
def watching() -> Iterator[Recorder]:
    """Record what happens to our test functions until the block ends."""
    global _active
    previous, _active = _active, Recorder()
    try:
        yield _active
    finally:
        _active = previous


def observed(call):
    """Decorate a test function's ``__call__``: while a recorder watches, its tensor arguments go through
    the tap (otherwise, as for the judge's references, nothing changes)."""
    @functools.wraps(call)
    def through_tap(self, *args, **kwargs):
        recorder = _active
        if recorder is not None:
            args = recorder.through(args)
        return call(self, *args, **kwargs)
    del through_tap.__wrapped__   # no shortcut to the untapped function
    return through_tap
