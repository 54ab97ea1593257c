"""Reference derivatives for the rubrics, computed with ``torch.autograd`` (independently of the students'
methods). Functions that support a single AD mode are differentiated through their ordinary-operations
twin (``.plain``). The derivatives of an elementwise function (the probe library's ``Elementwise`` and
``Bivariate``: each output entry depends on its own input entries only) are taken at every point at once,
as the gradient of the sum of its values.

Not with ``torch.func``: its reverse transforms (``grad``, ``vjp``, ``jacrev``, ``hessian``), and its forward
mode through some decompositions (``x ** 3`` under ``vmap(jvp)``), import ``torch._dynamo`` on first use,
≈ 1 s of CPU that every grading process would pay again."""

from __future__ import annotations

import torch
import torch.autograd.functional as af


def plain(f):
    return getattr(f, "plain", f)


def value(f, *args):
    with torch.no_grad():
        return plain(f)(*args)


def vjp(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return af.vjp(plain(f), x, v)[1]


def jvp(f, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return af.jvp(plain(f), x, t)[1]


def jacobian(f, x: torch.Tensor) -> torch.Tensor:
    return af.jacobian(plain(f), x)


def gradient(f, x: torch.Tensor) -> torch.Tensor:
    return af.vjp(plain(f), x)[1]


def hessian(f, x: torch.Tensor) -> torch.Tensor:
    return af.hessian(plain(f), x)


def hvp(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H v, as vᵀH (H is symmetric): exact double backward, without the transposition trick of ``af.hvp``."""
    return af.vhp(plain(f), x, v)[1]


def _grads(out: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """d out.sum() / d input, kept differentiable; zero where ``out`` does not depend on an input. For an
    elementwise ``out`` that is each entry's own derivative."""
    if not out.requires_grad:
        return [torch.zeros_like(i) for i in inputs]
    return list(torch.autograd.grad(out.sum(), inputs, create_graph=True, allow_unused=True, materialize_grads=True))


def _leaf(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself inside a derivative being differentiated again, else a fresh leaf that requires grad."""
    return t if t.requires_grad else t.detach().requires_grad_(True)


def elementwise_derivative(f, xs: torch.Tensor, order: int = 1) -> torch.Tensor:
    g = plain(f)
    for _ in range(order):
        g = _elementwise_grad(g)
    return g(xs).detach()


def _elementwise_grad(g):
    """The derivative of an elementwise function at every point at once (its Jacobian is diagonal)."""
    def derivative(t):
        with torch.enable_grad():
            s = _leaf(t)
            return _grads(g(s), (s,))[0]
    return derivative


def rowwise_gradient(f, X: torch.Tensor) -> torch.Tensor:
    """Gradients of a row-wise scalar function (N, n) → (N,), one row per sample."""
    single = lambda row: plain(f)(row.unsqueeze(0)).squeeze(0)
    return _per_row(single, X, gradient)


def rowwise_jacobian(f, X: torch.Tensor) -> torch.Tensor:
    """Per-sample Jacobians (N, m, n) of a row-wise map (N, n) → (N, m)."""
    single = lambda row: plain(f)(row.unsqueeze(0)).squeeze(0)
    return _per_row(single, X, jacobian)


def _per_row(single, X: torch.Tensor, derivative) -> torch.Tensor:
    rows = [derivative(single, row) for row in X]
    if rows:
        return torch.stack(rows)
    shape = derivative(single, torch.zeros(X.shape[1:], dtype=X.dtype, device=X.device)).shape
    return torch.zeros((0, *shape), dtype=X.dtype, device=X.device)


def partials(f, x: torch.Tensor, y: torch.Tensor):
    """Elementwise first and second partials of a batched f(x, y): dict of tensors shaped like x."""
    with torch.enable_grad():
        a, b = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        dx, dy = _grads(plain(f)(a, b), (a, b))
        dxx, dxy = _grads(dx, (a, b))
        (dyy,) = _grads(dy, (b,))
    return {"dx": dx.detach(), "dy": dy.detach(), "dxx": dxx.detach(), "dxy": dxy.detach(), "dyy": dyy.detach()}


# ---------------------------------------------------------------------- finite differences
# What a student who approximates a derivative from values would get, with step h, in float64: the judge
# compares the pattern of their error with these (``diagnosis.FiniteDifferences``), never their values.

def _difference(g, x: torch.Tensor, step: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    with torch.no_grad():
        if scheme == "central":
            return (g(x + step) - g(x - step)) / (2 * h)
        return (g(x + step) - g(x)) / h


def difference_jacobian(g, x: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    """J of ``g`` at x by differences along each input (shape: g(x).shape + x.shape)."""
    x = x.detach().to(torch.float64)
    columns = []
    for k in range(x.numel()):
        step = torch.zeros_like(x).reshape(-1)
        step[k] = h
        columns.append(_difference(g, x, step.reshape(x.shape), h, scheme))
    stacked = torch.stack(columns, dim=-1)              # g(x).shape + (n,)
    return stacked.reshape(*stacked.shape[:-1], *x.shape)


def difference_derivative(f, xs: torch.Tensor, h: float, scheme: str, order: int = 1) -> torch.Tensor:
    """The elementwise derivative of order ``order`` at every point, the last differentiation by differences."""
    xs = xs.detach().to(torch.float64)
    g = plain(f)
    for _ in range(order - 1):
        g = _elementwise_grad(g)
    return _difference(g, xs, torch.full_like(xs, h), h, scheme)


def difference_rowwise(f, X: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    """Per-sample derivatives of a row-wise function by differences along each column, all samples at once:
    (N, n) gradients of a scalar row-wise f (N, n) → (N,), (N, m, n) Jacobians of one (N, n) → (N, m)."""
    X = X.detach().to(torch.float64)
    columns = []
    for k in range(X.shape[1]):
        step = torch.zeros_like(X)
        step[:, k] = h
        columns.append(_difference(plain(f), X, step, h, scheme))
    return torch.stack(columns, dim=-1)


def difference_vjp(f, x: torch.Tensor, v: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    J = difference_jacobian(plain(f), x, h, scheme)
    out = J.reshape(v.numel(), x.numel())
    return (v.detach().to(torch.float64).reshape(-1) @ out).reshape(x.shape)


def difference_hessian(f, x: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    """H by differences of the (exact) gradient; second differences of f have the same error pattern."""
    return difference_jacobian(lambda t: gradient(f, t), x, h, scheme)


def difference_hvp(f, x: torch.Tensor, v: torch.Tensor, h: float, scheme: str) -> torch.Tensor:
    """H v by a difference of the gradient along v."""
    x, v = x.detach().to(torch.float64), v.detach().to(torch.float64)
    return _difference(lambda t: gradient(f, t), x, h * v, h, scheme)
