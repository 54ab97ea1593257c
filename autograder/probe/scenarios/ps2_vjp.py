"""Scenarios for ps2_vjp: vjp, weighted_upstream, weighted_sensitivity, linear_vjp."""

from __future__ import annotations

import torch

from .. import library as lib
from ..scenario import Scenario, randn, register, uniform

F64, F32 = torch.float64, torch.float32


# ------------------------------------------------------------------ vjp(f, x, v)

def _vjp_visible(g):
    x = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=F64)
    v = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=F64)
    return {"f": lib.Elementwise("sin"), "x": x, "v": v}


def _vjp_inputs(make_f, in_shape, out_shape, dtype):
    def build(g):
        f = make_f(g, dtype)
        return {"f": f, "x": randn(g, *in_shape, dtype=dtype), "v": randn(g, *out_shape, dtype=dtype)}
    return build


def _repeat_inputs(g):
    inputs = _vjp_inputs(lambda g, d: lib.TanhLayer(randn(g, 3, 3, dtype=d), randn(g, 3, dtype=d)),
                         (3,), (3,), F64)(g)
    inputs["v_again"] = randn(g, 3, dtype=F64)
    return inputs


def _repeat_steps(session, inputs):
    """Call twice with different upstream vectors; then look at the first result again."""
    first = session.call("result", inputs["f"], inputs["x"], inputs["v"])
    if not first.ok:
        return
    session.call("again", inputs["f"], inputs["x"], inputs["v_again"])
    session.observe("result_later", first.value)


def _vjp(sid, title, build, weight=1.0, steps=None, rubric=""):
    extra = {"steps": steps} if steps else {}
    return Scenario(sid, "vjp", title, build, weight=weight, rubric=rubric, **extra)


VJP_HIDDEN = [
    _vjp("vjp/sin-f64", "elementwise sin, float64",
         _vjp_inputs(lambda g, d: lib.Elementwise("sin"), (6,), (6,), F64)),
    _vjp("vjp/cubic-f32", "elementwise x³ − 2x, float32",
         _vjp_inputs(lambda g, d: lib.Elementwise("cubic"), (5,), (5,), F32)),
    _vjp("vjp/affine-square-f64", "y = A x with a square, non-symmetric A (vᵀJ vs J v), float64",
         _vjp_inputs(lambda g, d: lib.Affine(randn(g, 4, 4, dtype=d)), (4,), (4,), F64), weight=1.5),
    _vjp("vjp/affine-wide-f32", "y = A x with A of shape (3, 5), float32",
         _vjp_inputs(lambda g, d: lib.Affine(randn(g, 3, 5, dtype=d), randn(g, 3, dtype=d)), (5,), (3,), F32)),
    _vjp("vjp/tanh-tall-f64", "y = tanh(W x) ⊙ c from ℝ³ to ℝ⁶, float64",
         _vjp_inputs(lambda g, d: lib.TanhLayer(randn(g, 6, 3, dtype=d), randn(g, 6, dtype=d)), (3,), (6,), F64)),
    _vjp("vjp/matrix-input-f64", "matrix input: the tutorial's (x + 1)²ᵀ with x of shape (4, 5)",
         _vjp_inputs(lambda g, d: lib.SquareTransposed(), (4, 5), (5, 4), F64)),
    _vjp("vjp/one-pass", "uses one reverse pass (never forms J), reverse-only f: ℝ⁴ → ℝ⁵",
         _vjp_inputs(lambda g, d: lib.ReverseOnly(randn(g, 5, 4, dtype=d)), (4,), (5,), F64),
         rubric="vjp.one_pass"),
    _vjp("vjp/repeated", "called twice: each answer right, the earlier result unchanged",
         _repeat_inputs, steps=_repeat_steps, rubric="vjp.repeated"),
]

# ------------------------------------------------------------------ weighted_upstream(out)

def _seed_out(g=None):
    inp = lib.tutorial_input(F32).requires_grad_(True)
    return {"out": lib.CubeTransposed()(inp)}


def _random_out(rows, cols, dtype):
    def build(g):
        return {"out": randn(g, rows, cols, dtype=dtype, scale=3.0)}
    return build


def _upstream(sid, title, build, weight=1.0):
    return Scenario(sid, "weighted_upstream", title, build, weight=weight)


UPSTREAM_HIDDEN = [
    _upstream("weighted_upstream/seed", "the tutorial's out = (inp + 10)³ᵀ, shape (5, 4), attached to a graph",
              _seed_out),
    _upstream("weighted_upstream/wide-f64", "out of shape (3, 7), float64", _random_out(3, 7, F64)),
    _upstream("weighted_upstream/tall-f32", "out of shape (6, 2), float32, with negative entries",
              _random_out(6, 2, F32)),
    _upstream("weighted_upstream/two-rows", "out of shape (2, 3)", _random_out(2, 3, F64)),
]

# ------------------------------------------------------------------ weighted_sensitivity()

class StandInUpstream:
    """A known-good ``weighted_upstream``, swapped in while ``weighted_sensitivity`` is checked.

    It behaves like a real helper, wrong arguments included: its result is computed from its argument —
    a tensor with the argument's shape and dtype, without grad, whose first row (in [2, 3.5)) outweighs
    every other entry (in [0, 1.5)), each weight depending on the argument's value at that position. So
    ``weighted_upstream(inp)`` or ``weighted_upstream(out.t())`` gives a v shaped like ``inp`` (and
    ``out.backward(v)`` fails as it would with a real helper), ``weighted_upstream(out * 0)`` a v of other
    values, and a non-tensor argument fails in ``torch.zeros_like``. Nothing here is an answer: the
    weights are seeded (``first``, ``rest``), and the judge calls ``upstream`` on the ``out`` the exercise
    builds to know what the helper gave. The arguments of the first few calls are kept for the record.
    """

    KEPT = 4            # arguments recorded (a helper called in a loop does not flood the record)
    SCALE = 1000.0      # the tutorial's out lies in [1000, 1331]

    def __init__(self, first: torch.Tensor, rest: torch.Tensor) -> None:
        self.first, self.rest = first, rest      # 1-D float64 weight tables, used cyclically
        self.calls = 0
        self.arguments: list = []
        self.__name__ = "weighted_upstream"

    def __call__(self, out):
        self.calls += 1
        if len(self.arguments) < self.KEPT:
            self.arguments.append(out.detach().clone() if isinstance(out, torch.Tensor) else out)
        return self.upstream(out)

    def upstream(self, out) -> torch.Tensor:
        """What this helper returns for ``out`` (a pure function of the seeded tables and ``out``)."""
        v = torch.zeros_like(out)                   # out's shape and dtype, no grad; fails on a non-tensor
        with torch.no_grad():
            w = _cycled(self.rest, tuple(v.shape))
            w[0] = _cycled(self.first, tuple(w[0].shape))  # a 0-d argument fails here, as `v[0] = 1` does
            w += 0.25 * (1 + torch.tanh(out.detach().to(torch.float64) / self.SCALE))
            v.copy_(w)
        return v


def _cycled(table: torch.Tensor, shape: tuple) -> torch.Tensor:
    """A float64 tensor of ``shape`` filled with the entries of ``table`` in turn."""
    n = 1
    for size in shape:
        n *= size
    return table[torch.arange(n) % table.numel()].reshape(shape).clone()


def _stand_in(g):
    first = uniform(g, 7, low=2.0, high=3.0, dtype=F64)
    rest = uniform(g, 11, low=0.0, high=1.0, dtype=F64)
    return {"stand_in": StandInUpstream(first, rest)}


def _sensitivity_steps(session, inputs):
    stand_in = inputs["stand_in"]
    session.observe("default_dtype", str(torch.get_default_dtype()).replace("torch.", ""))
    with session.stand_in("weighted_upstream", stand_in):
        first = session.call("result")
        session.observe("stand_in_calls", stand_in.calls)
        session.observe("stand_in_arguments", stand_in.arguments)
        if first.ok:
            session.call("again")
    session.observe("result_later", first.value if first.ok else None)


SENSITIVITY_HIDDEN = [
    Scenario("weighted_sensitivity/stand-in", "weighted_sensitivity",
             "uses weighted_upstream(out) and one backward pass; repeatable",
             _stand_in, steps=_sensitivity_steps, weight=2.0),
]
SENSITIVITY_VISIBLE = [
    Scenario("weighted_sensitivity/visible", "weighted_sensitivity",
             "returns (v, inp.grad) with the v from weighted_upstream(out)",
             _stand_in, steps=_sensitivity_steps),
]

# ------------------------------------------------------------------ linear_vjp(A, v)

def _linear_visible(g):
    A = torch.tensor([[2.0, 0.0, -1.0], [0.5, 3.0, 1.0]], dtype=F32)
    return {"A": A, "v": torch.tensor([3.0, -1.0], dtype=F32)}


def _linear(rows, cols, dtype):
    def build(g):
        return {"A": randn(g, rows, cols, dtype=dtype), "v": randn(g, rows, dtype=dtype)}
    return build


def _lin(sid, title, build, weight=1.0):
    return Scenario(sid, "linear_vjp", title, build, weight=weight)


LINEAR_HIDDEN = [
    _lin("linear_vjp/wide-f64", "A of shape (3, 5), float64", _linear(3, 5, F64)),
    _lin("linear_vjp/tall-f32", "A of shape (6, 2), float32", _linear(6, 2, F32)),
    _lin("linear_vjp/square-f64", "square, non-symmetric A (Aᵀv vs A v), float64", _linear(4, 4, F64), 1.5),
]


register("ps2_vjp", {
    "test_vjp": [_vjp("vjp/visible", "the visible example: f = sin", _vjp_visible)],
    "test_vjp_hidden": VJP_HIDDEN,
    "test_weighted_upstream": [_upstream("weighted_upstream/visible", "the tutorial's out", _seed_out)],
    "test_weighted_upstream_hidden": UPSTREAM_HIDDEN,
    "test_weighted_sensitivity": SENSITIVITY_VISIBLE,
    "test_weighted_sensitivity_hidden": SENSITIVITY_HIDDEN,
    "test_linear_vjp": [_lin("linear_vjp/visible", "the visible example from the tutorial", _linear_visible)],
    "test_linear_vjp_hidden": LINEAR_HIDDEN,
})
