"""The judge's reference derivatives (``autograder.judge.reference_math``) against ``torch.func``'s reverse
transforms on random points of smooth functions, and the reason they do not use those transforms: a grading
process that warms the judge up never imports ``torch._dynamo``."""

from __future__ import annotations

import subprocess
import sys

import torch
import torch.func as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.judge import reference_math as rm

F64 = torch.float64
points = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=7)
W = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=F64)

ELEMENTWISE = [lambda t: torch.sin(t) * torch.exp(-t), lambda t: torch.tanh(3 * t) + t**3,
               lambda t: torch.nn.functional.softplus(t) / (1 + t**2)]
SCALAR = [lambda t: (t**3).sum() - t.prod(), lambda t: torch.logsumexp(torch.sin(t), 0), lambda t: (t @ t) ** 1.5]


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(points)
def test_elementwise_derivatives_of_first_and_second_order(values):
    xs = torch.tensor(values, dtype=F64)
    for f in ELEMENTWISE:
        first = tf.vmap(tf.grad(lambda s, f=f: f(s.reshape(1)).reshape(())))
        second = tf.vmap(tf.grad(tf.grad(lambda s, f=f: f(s.reshape(1)).reshape(()))))
        _close(rm.elementwise_derivative(f, xs), first(xs))
        _close(rm.elementwise_derivative(f, xs, order=2), second(xs))


@settings(max_examples=25, deadline=None)
@given(points, st.integers(0, 2**31 - 1))
def test_gradient_hessian_and_hvp_of_scalar_functions(values, seed):
    x = torch.tensor(values, dtype=F64).abs() + 0.1      # (t @ t) ** 1.5 and friends stay smooth
    v = torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(seed))
    for f in SCALAR:
        _close(rm.gradient(f, x), tf.grad(f)(x))
        _close(rm.hessian(f, x), tf.hessian(f)(x))
        _close(rm.hvp(f, x, v), tf.hessian(f)(x) @ v)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_jacobians_vjps_and_rowwise_derivatives(rows, seed):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 3, dtype=F64, generator=gen)
    x, v = X[0], torch.randn(2, dtype=F64, generator=gen)
    f = lambda t: torch.tanh(t @ W.T) * t.sum(-1, keepdim=True)      # (…, 3) → (…, 2)
    scalar = lambda t: torch.sin(t @ W.T).sum(-1)                       # (…, 3) → (…)
    _close(rm.jacobian(f, x), tf.jacrev(f)(x))
    _close(rm.vjp(f, x, v), tf.vjp(f, x)[1](v)[0])
    _close(rm.jvp(f, x, X[-1]), tf.jacrev(f)(x) @ X[-1])
    _close(rm.rowwise_jacobian(f, X), tf.vmap(tf.jacrev(f))(X))
    _close(rm.rowwise_gradient(scalar, X), tf.vmap(tf.grad(scalar))(X))


@settings(max_examples=25, deadline=None)
@given(points, points)
def test_partials_of_a_function_of_two_variables(xv, yv):
    n = min(len(xv), len(yv))
    x, y = torch.tensor(xv[:n], dtype=F64), torch.tensor(yv[:n], dtype=F64)
    f = lambda a, b: torch.sin(a * b) + a**2 * b - torch.exp(b) * a
    one = lambda a, b: f(a.reshape(1), b.reshape(1)).reshape(())
    p = rm.partials(f, x, y)
    want = {"dx": tf.grad(one, 0), "dy": tf.grad(one, 1), "dxx": tf.grad(tf.grad(one, 0), 0),
            "dxy": tf.grad(tf.grad(one, 0), 1), "dyy": tf.grad(tf.grad(one, 1), 1)}
    for name, fn in want.items():
        _close(p[name], tf.vmap(fn)(x, y))


def test_a_constant_function_has_zero_derivatives():
    x = torch.tensor([1.0, 2.0], dtype=F64)
    assert torch.equal(rm.gradient(lambda t: torch.tensor(3.0, dtype=F64), x), torch.zeros(2, dtype=F64))
    assert torch.equal(rm.jacobian(lambda t: torch.ones(3, dtype=F64), x), torch.zeros(3, 2, dtype=F64))
    assert torch.equal(rm.vjp(lambda t: torch.ones(3, dtype=F64), x, torch.ones(3, dtype=F64)),
                       torch.zeros(2, dtype=F64))
    assert torch.equal(rm.elementwise_derivative(lambda t: 3 * t, x, order=2), torch.zeros(2, dtype=F64))
    p = rm.partials(lambda a, b: a**3, x, x + 1)          # no y at all: its partials are zero, not an error
    assert torch.equal(p["dx"], 3 * x**2) and torch.equal(p["dxx"], 6 * x)
    assert all(torch.equal(p[k], torch.zeros(2, dtype=F64)) for k in ("dy", "dxy", "dyy"))


def test_warming_the_judge_up_does_not_import_dynamo():
    code = ("import sys\nfrom autograder.judge.warm import warm_up\nwarm_up()\n"
            "print('torch._dynamo' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr
