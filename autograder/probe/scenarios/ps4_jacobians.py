"""Scenarios for ps4_jacobians: jacobian_reverse, jacobian_forward, cheaper_mode, batched_jacobian,
matrix_function_derivative."""

from __future__ import annotations

import torch

from .. import library as lib
from ..method_tap import observed
from ..scenario import Scenario, randn, register, uniform

F64, F32 = torch.float64, torch.float32


class SeedQuadratics:
    """x ↦ [x₁², x₁x₂, x₂²] for x ∈ ℝ² (the row-by-row example of the gradient-computation tutorial)."""

    __name__ = "seed_quadratics"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[0] ** 2, x[0] * x[1], x[1] ** 2])


# ------------------------------------------------------------------ jacobian_reverse(f, x) / jacobian_forward(f, x)

def _map_inputs(make_f, n, dtype, scale=1.0):
    def build(g):
        f = make_f(g, dtype)
        return {"f": f, "x": randn(g, n, dtype=dtype, scale=scale)}
    return build


def _mixed(g, d):              # ℝ³ → ℝ⁴
    return lib.MixedPolynomial()


def _tanh_wide(g, d):          # ℝ⁵ → ℝ²
    return lib.TanhLayer(randn(g, 2, 5, dtype=d), randn(g, 2, dtype=d))


def _tanh_tall(g, d):          # ℝ² → ℝ⁶
    return lib.TanhLayer(randn(g, 6, 2, dtype=d), randn(g, 6, dtype=d))


def _affine_square(g, d):      # ℝ⁴ → ℝ⁴, non-symmetric
    return lib.Affine(randn(g, 4, 4, dtype=d), randn(g, 4, dtype=d))


def _one_output(g, d):         # ℝ⁴ → ℝ¹
    return lib.TanhLayer(randn(g, 1, 4, dtype=d), randn(g, 1, dtype=d))


def _one_input(g, d):          # ℝ¹ → ℝ³
    return lib.Affine(randn(g, 3, 1, dtype=d), randn(g, 3, dtype=d))


def _rev(sid, title, build, weight=1.0, rubric=""):
    return Scenario(sid, "jacobian_reverse", title, build, weight=weight, rubric=rubric)


def _fwd(sid, title, build, weight=1.0, rubric=""):
    return Scenario(sid, "jacobian_forward", title, build, weight=weight, rubric=rubric)


REVERSE_VISIBLE = [
    _rev("jacobian_reverse/visible", "the visible example: f(x) = [x₁², x₁x₂, x₂²] at x = (2, 3)",
         lambda g: {"f": SeedQuadratics(), "x": torch.tensor([2.0, 3.0], dtype=F64)}),
]
REVERSE_HIDDEN = [
    _rev("jacobian_reverse/mixed-tall-f64", "a polynomial map ℝ³ → ℝ⁴ (more outputs than inputs), float64",
         _map_inputs(_mixed, 3, F64)),
    _rev("jacobian_reverse/tanh-wide-f32", "y = tanh(W x) ⊙ c from ℝ⁵ to ℝ² (fewer outputs than inputs), float32",
         _map_inputs(_tanh_wide, 5, F32)),
    _rev("jacobian_reverse/tanh-tall-f64", "y = tanh(W x) ⊙ c from ℝ² to ℝ⁶, float64",
         _map_inputs(_tanh_tall, 2, F64)),
    _rev("jacobian_reverse/affine-square-f64",
         "y = A x + b with a square, non-symmetric A (rows vs columns), float64",
         _map_inputs(_affine_square, 4, F64), weight=1.5),
    _rev("jacobian_reverse/one-output-f64", "a single output, f: ℝ⁴ → ℝ¹ (J is 1 × 4), float64",
         _map_inputs(_one_output, 4, F64)),
    _rev("jacobian_reverse/one-input-f32", "a single input, f: ℝ¹ → ℝ³ (J is 3 × 1), float32",
         _map_inputs(_one_input, 1, F32)),
    _rev("jacobian_reverse/reverse-only", "f: ℝ³ → ℝ⁵ that supports only reverse mode (VJPs), float64",
         _map_inputs(lambda g, d: lib.ReverseOnly(randn(g, 5, 3, dtype=d)), 3, F64), weight=2.0,
         rubric="jacobian_reverse.one_mode"),
]

_VISIBLE_W = [[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]]

FORWARD_VISIBLE = [
    _fwd("jacobian_forward/visible",
         "the visible example: a forward-only tanh(W x) from ℝ² to ℝ³",
         lambda g: {"f": lib.ForwardOnly(torch.tensor(_VISIBLE_W, dtype=F64)),
                    "x": torch.tensor([0.3, -0.2], dtype=F64)}),
]
FORWARD_HIDDEN = [
    _fwd("jacobian_forward/mixed-tall-f64", "a polynomial map ℝ³ → ℝ⁴ (more outputs than inputs), float64",
         _map_inputs(_mixed, 3, F64)),
    _fwd("jacobian_forward/tanh-wide-f32", "y = tanh(W x) ⊙ c from ℝ⁵ to ℝ² (fewer outputs than inputs), float32",
         _map_inputs(_tanh_wide, 5, F32)),
    _fwd("jacobian_forward/affine-square-f64",
         "y = A x + b with a square, non-symmetric A (rows vs columns), float64",
         _map_inputs(_affine_square, 4, F64), weight=1.5),
    _fwd("jacobian_forward/one-input-f64", "a single input, f: ℝ¹ → ℝ³ (J is 3 × 1), float64",
         _map_inputs(_one_input, 1, F64)),
    _fwd("jacobian_forward/forward-only-f64",
         "f: ℝ³ → ℝ⁵ that supports only forward mode (JVPs), float64",
         _map_inputs(lambda g, d: lib.ForwardOnly(randn(g, 5, 3, dtype=d)), 3, F64), weight=3.0,
         rubric="jacobian_forward.one_mode"),
    _fwd("jacobian_forward/forward-only-wide-f32",
         "f: ℝ⁶ → ℝ² that supports only forward mode (JVPs), float32",
         _map_inputs(lambda g, d: lib.ForwardOnly(randn(g, 2, 6, dtype=d, scale=0.5)), 6, F32), weight=2.0,
         rubric="jacobian_forward.one_mode"),
]

# ------------------------------------------------------------------ cheaper_mode(n_inputs, n_outputs)

def pair_label(n_inputs: int, n_outputs: int) -> str:
    return f"cheaper_mode({n_inputs}, {n_outputs})"


def _pairs(*pairs):
    def build(g):
        return {"pairs": [tuple(p) for p in pairs]}
    return build


def _pairs_steps(session, inputs):
    """One labelled call per (n_inputs, n_outputs) pair."""
    for n_inputs, n_outputs in inputs["pairs"]:
        session.call(pair_label(n_inputs, n_outputs), n_inputs, n_outputs)


def _mode(sid, title, build, weight=1.0):
    return Scenario(sid, "cheaper_mode", title, build, steps=_pairs_steps, weight=weight)


MODE_VISIBLE = [
    _mode("cheaper_mode/visible", "the visible examples: a scalar loss of 10⁶ inputs, and 1 input with 1000 outputs",
          _pairs((1_000_000, 1), (1, 1000))),
]
MODE_HIDDEN = [
    _mode("cheaper_mode/lopsided", "clearly wide and clearly tall Jacobians",
          _pairs((50_000, 1), (1, 500), (2, 100), (100, 2), (64, 10), (10, 64)), weight=2.0),
    _mode("cheaper_mode/near-ties", "sizes that differ by one (with two lopsided pairs for reference)",
          _pairs((3, 4), (4, 3), (10, 11), (11, 10), (1, 2), (2, 1), (1, 10_000), (10_000, 1)), weight=1.5),
    _mode("cheaper_mode/ties", "equal sizes: either answer is accepted", _pairs((1, 1), (5, 5), (1000, 1000)),
          weight=0.5),
]

# ------------------------------------------------------------------ batched_jacobian(f, X)

def _batch(make_f, N, n, dtype):
    def build(g):
        return {"f": make_f(g, dtype), "X": uniform(g, N, n, dtype=dtype)}
    return build


def _seed_vector(g, d):        # (N, 2) → (N, 3)
    return lib.RowwiseSeedVector()


def _tanh_rows(m, n):
    return lambda g, d: lib.RowwiseTanh(randn(g, m, n, dtype=d))


def _bat(sid, title, build, weight=1.0, rubric=""):
    return Scenario(sid, "batched_jacobian", title, build, weight=weight, rubric=rubric)


BATCHED_VISIBLE = [
    _bat("batched_jacobian/visible", "the visible example: the tutorial's map (N, 2) → (N, 3) for N = 4 samples",
         lambda g: {"f": lib.RowwiseSeedVector(),
                    "X": torch.tensor([[0.5, -0.3], [0.1, 0.8], [-0.7, 0.2], [0.9, -0.9]], dtype=F64)}),
]
BATCHED_HIDDEN = [
    _bat("batched_jacobian/seed-f64", "the tutorial's map (N, 2) → (N, 3) for N = 100 samples, float64",
         _batch(_seed_vector, 100, 2, F64)),
    _bat("batched_jacobian/tanh-wide-f32", "tanh(W x) row by row, n = 4 inputs → m = 2 outputs, N = 10, float32",
         _batch(_tanh_rows(2, 4), 10, 4, F32)),
    _bat("batched_jacobian/tanh-square-f64",
         "square per-sample Jacobians (n = m = 3, rows vs columns), N = 5, float64",
         _batch(_tanh_rows(3, 3), 5, 3, F64), weight=1.5),
    _bat("batched_jacobian/single-sample", "a batch of one sample (N = 1), n = 2 → m = 5, float64",
         _batch(_tanh_rows(5, 2), 1, 2, F64)),
    _bat("batched_jacobian/passes",
         "N = 12 samples of tanh(W x), n = 5 inputs → m = 4 outputs: the whole batch at once, at most m reverse "
         "passes (rows are independent)",
         _batch(_tanh_rows(4, 5), 12, 5, F64), weight=1.5, rubric="batched_jacobian.passes"),
]

# ------------------------------------------------------------------ matrix_function_derivative(x)

def _point(low, high, dtype):
    def build(g):
        return {"x": uniform(g, 1, low=low, high=high, dtype=dtype).reshape(()).clone()}
    return build


def _at(value, dtype):
    return lambda g: {"x": torch.tensor(value, dtype=dtype)}


def _mat(sid, title, build, weight=1.0):
    return Scenario(sid, "matrix_function_derivative", title, build, weight=weight)


MATRIX_VISIBLE = [_mat("matrix_function_derivative/visible", "the tutorial's point x = 1 (float32)", _at(1.0, F32))]
MATRIX_HIDDEN = [
    _mat("matrix_function_derivative/one-f64", "x = 1 in float64", _at(1.0, F64)),
    _mat("matrix_function_derivative/negative-f64", "a negative x, float64", _point(-2.0, -0.5, F64)),
    _mat("matrix_function_derivative/large-f32", "x > 1, float32", _point(1.5, 2.5, F32)),
    _mat("matrix_function_derivative/small-f64", "0 < x < 1, float64", _point(0.2, 0.8, F64)),
    _mat("matrix_function_derivative/zero", "x = 0, float64", _at(0.0, F64), weight=0.5),
]


register("ps4_jacobians", {
    "test_jacobian_reverse": REVERSE_VISIBLE,
    "test_jacobian_reverse_hidden": REVERSE_HIDDEN,
    "test_jacobian_forward": FORWARD_VISIBLE,
    "test_jacobian_forward_hidden": FORWARD_HIDDEN,
    "test_cheaper_mode": MODE_VISIBLE,
    "test_cheaper_mode_hidden": MODE_HIDDEN,
    "test_batched_jacobian": BATCHED_VISIBLE,
    "test_batched_jacobian_hidden": BATCHED_HIDDEN,
    "test_matrix_function_derivative": MATRIX_VISIBLE,
    "test_matrix_function_derivative_hidden": MATRIX_HIDDEN,
})
