"""Scenarios for ps1_backward: derivative_at_points, batch_gradient, chain_rule_grads."""

from __future__ import annotations

import torch

from .. import library as lib
from ..scenario import Scenario, randn, register, uniform

F64, F32 = torch.float64, torch.float32


def _repeated(arg: str):
    """Steps: call twice with the very same inputs, then once with ``inputs["other"]`` in place of ``arg``;
    finally look at the first result again.

    A function that uses the caller's tensor (or a cached one) as its leaf accumulates into the same
    ``.grad`` on the second call; one that returns a reused ``.grad`` sees its first answer change when
    the third call writes other values into it."""
    def steps(session, inputs):
        main = [v for k, v in inputs.items() if k != "other"]
        first = session.call("result", *main)
        if not first.ok:
            return
        session.call("again", *main)
        session.call("other", *[inputs["other"] if k == arg else v for k, v in inputs.items() if k != "other"])
        session.observe("result_later", first.value)
    return steps


def _with_other(build, arg: str):
    """``build`` plus an input ``other``: a second value for ``arg``, same shape and dtype, other entries."""
    def with_other(g):
        inputs = build(g)
        inputs["other"] = build(g)[arg]
        return inputs
    return with_other


# ------------------------------------------------------------------ derivative_at_points(f, xs)

def _points(name, n, dtype, low=-2.0, high=2.0):
    def build(g):
        return {"f": lib.Elementwise(name), "xs": uniform(g, n, low=low, high=high, dtype=dtype)}
    return build


def _points_visible(g):
    return {"f": lib.Elementwise("cubic"), "xs": torch.linspace(-2.0, 2.0, 5, dtype=F64)}


def _deriv(sid, title, build, weight=1.0, steps=None, rubric=""):
    extra = {"steps": steps} if steps else {}
    return Scenario(sid, "derivative_at_points", title, build, weight=weight, rubric=rubric, **extra)


DERIVATIVE_HIDDEN = [
    _deriv("derivative_at_points/sin-f64", "f = sin at 7 points, float64", _points("sin", 7, F64, -3.0, 3.0)),
    _deriv("derivative_at_points/x_exp-f32", "f(x) = x·eˣ at 6 points, float32", _points("x_exp", 6, F32)),
    _deriv("derivative_at_points/softplus-f32", "f = softplus at 9 points, float32",
           _points("softplus", 9, F32, -4.0, 4.0)),
    _deriv("derivative_at_points/sin_sq-f64", "f(x) = sin²x + x/2 at 4 points, float64", _points("sin_sq", 4, F64)),
    _deriv("derivative_at_points/many-points-f64", "f(x) = x⁴ − x² at 200 points, float64",
           _points("quartic", 200, F64, -1.5, 1.5)),
    _deriv("derivative_at_points/one-point-f64", "f = tanh at a single point (xs of length 1), float64",
           _points("tanh", 1, F64)),
    _deriv("derivative_at_points/one-point-f32", "f(x) = exp(−x²) at a single point, float32",
           _points("exp_neg_sq", 1, F32)),
    _deriv("derivative_at_points/repeated", "three calls (same xs twice, then other points): "
           "every answer right, the first unchanged",
           _with_other(_points("cubic", 5, F64), "xs"), steps=_repeated("xs"),
           rubric="derivative_at_points.repeated", weight=1.5),
]

# ------------------------------------------------------------------ batch_gradient(f, X)

def _batch_visible(g):
    X = torch.tensor([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.8], [0.0, 1.5]], dtype=F64)
    return {"f": lib.RowwiseSeed(), "X": X}


def _seed_batch(N, dtype):
    def build(g):
        return {"f": lib.RowwiseSeed(), "X": uniform(g, N, 2, dtype=dtype)}
    return build


def _quadratic_batch(N, n, dtype):
    def build(g):
        f = lib.RowwiseQuadratic(randn(g, n, n, dtype=dtype), randn(g, n, dtype=dtype))
        return {"f": f, "X": randn(g, N, n, dtype=dtype)}
    return build


def _logsumexp_batch(N, n, dtype):
    def build(g):
        f = lib.RowwiseLogSumExp(uniform(g, n, low=0.5, high=2.0, dtype=dtype))
        return {"f": f, "X": randn(g, N, n, dtype=dtype)}
    return build


def _batch(sid, title, build, weight=1.0, steps=None, rubric=""):
    extra = {"steps": steps} if steps else {}
    return Scenario(sid, "batch_gradient", title, build, weight=weight, rubric=rubric, **extra)


BATCH_HIDDEN = [
    _batch("batch_gradient/seed-f64", "the tutorial's f(x) = x₁x₂ + sin(x₁x₂²) on 200 samples, float64",
           _seed_batch(200, F64)),
    _batch("batch_gradient/seed-f32", "the tutorial's f on 8 samples, float32", _seed_batch(8, F32)),
    _batch("batch_gradient/quadratic-2d-f64", "f(x) = xᵀAx + bᵀx with a non-symmetric 2×2 A, 5 samples, float64",
           _quadratic_batch(5, 2, F64)),
    _batch("batch_gradient/quadratic-3d-f64", "f(x) = xᵀAx + bᵀx with a non-symmetric 3×3 A, 6 samples, float64",
           _quadratic_batch(6, 3, F64), weight=1.5),
    _batch("batch_gradient/logsumexp-f32", "f(x) = log Σ exp(sᵢxᵢ), 5 samples of 4 coordinates, float32",
           _logsumexp_batch(5, 4, F32)),
    _batch("batch_gradient/square-batch-f64", "as many samples as coordinates (X of shape (4, 4)), float64",
           _logsumexp_batch(4, 4, F64)),
    _batch("batch_gradient/one-sample-f64", "a batch of one sample (X of shape (1, 3)), float64",
           _quadratic_batch(1, 3, F64)),
    _batch("batch_gradient/repeated", "three calls (same X twice, then another X): "
           "every answer right, the first unchanged",
           _with_other(_seed_batch(6, F64), "X"), steps=_repeated("X"),
           rubric="batch_gradient.repeated", weight=1.5),
]

# ------------------------------------------------------------------ chain_rule_grads(x)

def _chain_visible(g):
    return {"x": torch.tensor([1.0, -2.0, 0.5], dtype=F64)}


def _chain_inputs(shape, dtype):
    def build(g):
        return {"x": randn(g, *shape, dtype=dtype)}
    return build


def _chain(sid, title, build, weight=1.0, steps=None, rubric=""):
    extra = {"steps": steps} if steps else {}
    return Scenario(sid, "chain_rule_grads", title, build, weight=weight, rubric=rubric, **extra)


CHAIN_HIDDEN = [
    _chain("chain_rule_grads/vector-f64", "x of shape (5,), float64", _chain_inputs((5,), F64)),
    _chain("chain_rule_grads/vector-f32", "x of shape (4,), float32", _chain_inputs((4,), F32)),
    _chain("chain_rule_grads/matrix-f64", "x of shape (2, 3), float64", _chain_inputs((2, 3), F64)),
    _chain("chain_rule_grads/matrix-f32", "x of shape (3, 2), float32", _chain_inputs((3, 2), F32)),
    _chain("chain_rule_grads/repeated", "three calls (same x twice, then another x): "
           "every pair right, the first unchanged",
           _with_other(_chain_inputs((3,), F64), "x"), steps=_repeated("x"),
           rubric="chain_rule_grads.repeated", weight=1.5),
]


register("ps1_backward", {
    "test_derivative_at_points": [_deriv("derivative_at_points/visible", "the visible example: f(x) = x³ − 2x",
                                         _points_visible)],
    "test_derivative_at_points_hidden": DERIVATIVE_HIDDEN,
    "test_batch_gradient": [_batch("batch_gradient/visible", "the visible example: the tutorial's f on 4 samples",
                                   _batch_visible)],
    "test_batch_gradient_hidden": BATCH_HIDDEN,
    "test_chain_rule_grads": [_chain("chain_rule_grads/visible", "the visible example: x = (1, −2, 0.5)",
                                     _chain_visible)],
    "test_chain_rule_grads_hidden": CHAIN_HIDDEN,
})
