"""Scenarios for ps5_higher_order: second_derivative_at_points, hessian, hvp, mixed_partial."""

from __future__ import annotations

import torch

from .. import library as lib
from ..method_tap import observed
from ..scenario import Scenario, randn, register, uniform

F64, F32 = torch.float64, torch.float32


# ------------------------------------------------------------------ test functions of this assignment

class QuarticBowl:
    """A scalar function of a 1-D tensor with a dense Hessian: ¼ (xᵀx)² + ⅓ Σ cᵢ xᵢ³."""

    def __init__(self, c: torch.Tensor) -> None:
        self.c = c
        self.__name__ = "quartic_bowl"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return 0.25 * (x @ x) ** 2 + (self.c * x**3).sum() / 3


class Separable:
    """A batched f(x, y) = sin(x) + y³ that does not couple x and y (its mixed partial is zero)."""

    __name__ = "separable"

    @observed
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) + y**3


# ------------------------------------------------------------------ second_derivative_at_points(f, xs)

def _points_visible(g=None):
    return {"f": lib.Elementwise("quartic"), "xs": torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=F64)}


def _points(name, n, dtype, scale=1.5):
    def build(g):
        return {"f": lib.Elementwise(name), "xs": randn(g, n, dtype=dtype, scale=scale)}
    return build


def _points_grid(name, low, high, n, dtype):
    def build(g):
        return {"f": lib.Elementwise(name), "xs": torch.linspace(low, high, n, dtype=F64).to(dtype)}
    return build


def _second(sid, title, build, weight=1.0):
    return Scenario(sid, "second_derivative_at_points", title, build, weight=weight)


SECOND_HIDDEN = [
    _second("second_derivative_at_points/sin-f64", "f = sin at 8 random points, float64", _points("sin", 8, F64)),
    _second("second_derivative_at_points/x-exp-f64", "f(x) = x·eˣ at 6 random points, float64",
            _points("x_exp", 6, F64, scale=1.0)),
    _second("second_derivative_at_points/tanh-f32", "f = tanh at 10 random points, float32",
            _points("tanh", 10, F32)),
    _second("second_derivative_at_points/quartic-f32", "f(x) = x⁴ − x² at 7 random points, float32",
            _points("quartic", 7, F32)),
    _second("second_derivative_at_points/gauss-grid", "f(x) = exp(−x²) at 401 points of [−3, 3], float64",
            _points_grid("exp_neg_sq", -3.0, 3.0, 401, F64), weight=1.5),
    _second("second_derivative_at_points/one-point", "a single point (xs of shape (1,)), f(x) = sin²x + x/2",
            _points("sin_sq", 1, F64), weight=0.5),
]

# ------------------------------------------------------------------ hessian(f, x) and hvp(f, x, v)

_VISIBLE_A = [[1.0, 2.0], [0.0, 3.0]]
_VISIBLE_W = [0.5, -1.0]


def _visible_field():
    return lib.ScalarField(torch.tensor(_VISIBLE_A, dtype=F64), torch.tensor(_VISIBLE_W, dtype=F64))


def _hessian_visible(g=None):
    return {"f": _visible_field(), "x": torch.tensor([0.3, -1.2], dtype=F64)}


def _hvp_visible(g=None):
    return {"f": _visible_field(), "x": torch.tensor([0.3, -1.2], dtype=F64),
            "v": torch.tensor([1.0, -2.0], dtype=F64)}


def _field(g, n, dtype):
    return lib.ScalarField(randn(g, n, n, dtype=dtype), randn(g, n, dtype=dtype, scale=2.0))


_MAKERS = {
    "field": _field,
    "logsumexp": lambda g, n, dtype: lib.LogSumExp(),
    "bowl": lambda g, n, dtype: QuarticBowl(randn(g, n, dtype=dtype)),
}


def _scalar_inputs(kind, n, dtype, with_v=False, scale=1.0):
    def build(g):
        inputs = {"f": _MAKERS[kind](g, n, dtype), "x": randn(g, n, dtype=dtype, scale=scale)}
        if with_v:
            inputs["v"] = randn(g, n, dtype=dtype)
        return inputs
    return build


def _hess(sid, title, build, weight=1.0):
    return Scenario(sid, "hessian", title, build, weight=weight)


HESSIAN_HIDDEN = [
    _hess("hessian/field-f64", "f(x) = ½ xᵀA x + Σ wᵢ sin xᵢ with a non-symmetric A, n = 5, float64",
          _scalar_inputs("field", 5, F64), weight=1.5),
    _hess("hessian/logsumexp-f64", "f(x) = log Σ exp(xᵢ), n = 4, float64", _scalar_inputs("logsumexp", 4, F64)),
    _hess("hessian/bowl-f64", "f(x) = ¼ (xᵀx)² + ⅓ Σ cᵢ xᵢ³ (a dense Hessian), n = 6, float64",
          _scalar_inputs("bowl", 6, F64)),
    _hess("hessian/field-f32", "the same kind of f as above with n = 3, float32", _scalar_inputs("field", 3, F32)),
    _hess("hessian/n1", "n = 1: the Hessian is still a (1, 1) matrix", _scalar_inputs("field", 1, F64),
          weight=0.5),
]


def _repeat_steps(session, inputs):
    """Call twice with the same arguments, then look at the first result again."""
    first = session.call("result", inputs["f"], inputs["x"], inputs["v"])
    if not first.ok:
        return
    session.call("again", inputs["f"], inputs["x"], inputs["v"])
    session.observe("result_later", first.value)


def _hvp(sid, title, build, weight=1.0, rubric="", steps=None):
    extra = {"steps": steps} if steps else {}
    return Scenario(sid, "hvp", title, build, weight=weight, rubric=rubric, **extra)


HVP_HIDDEN = [
    _hvp("hvp/field-f64", "f(x) = ½ xᵀA x + Σ wᵢ sin xᵢ with a non-symmetric A, n = 5, float64",
         _scalar_inputs("field", 5, F64, with_v=True), weight=1.5),
    _hvp("hvp/logsumexp-f32", "f(x) = log Σ exp(xᵢ), n = 6, float32", _scalar_inputs("logsumexp", 6, F32, True)),
    _hvp("hvp/bowl-f64", "f(x) = ¼ (xᵀx)² + ⅓ Σ cᵢ xᵢ³, n = 4, float64", _scalar_inputs("bowl", 4, F64, True)),
    _hvp("hvp/field-f32", "the non-symmetric-A field with n = 7, float32", _scalar_inputs("field", 7, F32, True)),
    _hvp("hvp/passes", "n = 10: H v without forming H (neither row by row nor with a Hessian function)",
         _scalar_inputs("field", 10, F64, True), rubric="hvp.passes"),
    _hvp("hvp/repeated", "called twice with the same arguments: same answer, earlier result unchanged",
         _scalar_inputs("bowl", 3, F64, True), rubric="hvp.repeated", steps=_repeat_steps),
]

# ------------------------------------------------------------------ mixed_partial(f, x, y)

def _mixed_visible(g=None):
    return {"f": lib.Bivariate("seed"), "x": torch.tensor([0.5, -1.0, 0.0, 0.8], dtype=F64),
            "y": torch.tensor([1.0, 0.5, -0.7, -0.3], dtype=F64)}


def _mixed(make_f, n, dtype, low=-1.0, high=1.0):
    def build(g):
        return {"f": make_f(), "x": uniform(g, n, low=low, high=high, dtype=dtype),
                "y": uniform(g, n, low=low, high=high, dtype=dtype)}
    return build


def _mix(sid, title, build, weight=1.0):
    return Scenario(sid, "mixed_partial", title, build, weight=weight)


MIXED_HIDDEN = [
    _mix("mixed_partial/seed-1000", "the tutorial's f(x, y) = xy + sin(xy²) at 1000 points of [−1, 1]², float64",
         _mixed(lambda: lib.Bivariate("seed"), 1000, F64), weight=1.5),
    _mix("mixed_partial/poly-f32", "f(x, y) = x²y³ − 2xy at 20 points, float32",
         _mixed(lambda: lib.Bivariate("poly"), 20, F32, -2.0, 2.0)),
    _mix("mixed_partial/exp-prod-f64", "f(x, y) = exp(xy/2) + x³ at 30 points, float64",
         _mixed(lambda: lib.Bivariate("exp_prod"), 30, F64, -2.0, 2.0)),
    _mix("mixed_partial/log-mix-f64", "f(x, y) = y·log(1 + x² + y²) at 50 points, float64",
         _mixed(lambda: lib.Bivariate("log_mix"), 50, F64, -2.0, 2.0)),
    _mix("mixed_partial/separable", "f(x, y) = sin x + y³ does not couple x and y: the mixed partial is 0",
         _mixed(Separable, 12, F64), weight=0.5),
]


register("ps5_higher_order", {
    "test_second_derivative_at_points": [
        _second("second_derivative_at_points/visible", "the visible example: f(x) = x⁴ − x²", _points_visible)],
    "test_second_derivative_at_points_hidden": SECOND_HIDDEN,
    "test_hessian": [_hess("hessian/visible", "the visible example (n = 2)", _hessian_visible)],
    "test_hessian_hidden": HESSIAN_HIDDEN,
    "test_hvp": [_hvp("hvp/visible", "the visible example (n = 2)", _hvp_visible)],
    "test_hvp_hidden": HVP_HIDDEN,
    "test_mixed_partial": [_mix("mixed_partial/visible", "the visible example: the tutorial's f at 4 points",
                                _mixed_visible)],
    "test_mixed_partial_hidden": MIXED_HIDDEN,
})
