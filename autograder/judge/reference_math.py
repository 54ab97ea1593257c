"""Reference derivatives for the rubrics, computed with ``torch.func`` (independently of the students'
``backward``-based methods). Functions that support a single AD mode are differentiated through their
ordinary-operations twin (``.plain``)."""

from __future__ import annotations

import torch
import torch.func as tf


def plain(f):
    return getattr(f, "plain", f)


def value(f, *args):
    with torch.no_grad():
        return plain(f)(*args)


def vjp(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    _, pullback = tf.vjp(plain(f), x)
    return pullback(v)[0]


def jvp(f, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return tf.jvp(plain(f), (x,), (t,))[1]


def jacobian(f, x: torch.Tensor) -> torch.Tensor:
    return tf.jacrev(plain(f))(x)


def elementwise_derivative(f, xs: torch.Tensor, order: int = 1) -> torch.Tensor:
    g = plain(f)
    for _ in range(order):
        g = _elementwise_grad(g)
    return g(xs)


def _elementwise_grad(g):
    def derivative(t):
        return tf.vmap(tf.grad(lambda s: g(s.reshape(1)).reshape(())))(t.reshape(-1)).reshape(t.shape)
    return derivative


def rowwise_gradient(f, X: torch.Tensor) -> torch.Tensor:
    """Gradients of a row-wise scalar function (N, n) → (N,), one row per sample."""
    single = lambda row: plain(f)(row.unsqueeze(0)).squeeze(0)
    return tf.vmap(tf.grad(single))(X)


def rowwise_jacobian(f, X: torch.Tensor) -> torch.Tensor:
    """Per-sample Jacobians (N, m, n) of a row-wise map (N, n) → (N, m)."""
    single = lambda row: plain(f)(row.unsqueeze(0)).squeeze(0)
    return tf.vmap(tf.jacrev(single))(X)


def gradient(f, x: torch.Tensor) -> torch.Tensor:
    return tf.grad(plain(f))(x)


def hessian(f, x: torch.Tensor) -> torch.Tensor:
    return tf.hessian(plain(f))(x)


def hvp(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return tf.jvp(tf.grad(plain(f)), (x,), (v,))[1]


def partials(f, x: torch.Tensor, y: torch.Tensor):
    """Elementwise first and second partials of a batched f(x, y): dict of tensors shaped like x."""
    g = plain(f)
    scalar = lambda a, b: g(a.reshape(1), b.reshape(1)).reshape(())
    fx, fy = tf.grad(scalar, 0), tf.grad(scalar, 1)
    mapped = lambda fn: tf.vmap(fn)(x.reshape(-1), y.reshape(-1)).reshape(x.shape)
    return {
        "dx": mapped(fx), "dy": mapped(fy),
        "dxx": mapped(tf.grad(fx, 0)), "dxy": mapped(tf.grad(fx, 1)), "dyy": mapped(tf.grad(fy, 1)),
    }


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
