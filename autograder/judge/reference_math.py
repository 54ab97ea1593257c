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
