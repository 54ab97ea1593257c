"""The method tap (``autograder/probe/method_tap.py``) changes nothing a student's code computes, counts what
each way of differentiating does to a test function, and degrades to "unknown" (never an error, never a
finding) when torch's private APIs change."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import forward_ad

from autograder.judge import method as rules
from autograder.judge.record import decode_method
from autograder.probe import library, method_tap
from autograder.probe.contract import ForwardModeOnly

F64 = torch.float64
_g = torch.Generator().manual_seed(0)
W = torch.randn(4, 6, generator=_g, dtype=F64)          # m = 4 outputs, n = 6 inputs
A = torch.randn(6, 6, generator=_g, dtype=F64)
x = torch.randn(6, generator=_g, dtype=F64)
v = torch.randn(4, generator=_g, dtype=F64)
X = torch.randn(5, 6, generator=_g, dtype=F64)           # N = 5 samples
layer = library.TanhLayer(W, torch.ones(4, dtype=F64))
rows = library.RowwiseTanh(W)
field = library.ScalarField(A, torch.ones(6, dtype=F64))


def _leaf(t):
    return t.detach().clone().requires_grad_(True)


def _backward(f, x, v):
    leaf = _leaf(x)
    f(leaf).backward(v)
    return leaf.grad


def _printout_then_backward(f, x, v):
    leaf = _leaf(x)
    y = f(leaf)
    torch.autograd.grad(y, leaf, v, retain_graph=True)
    y.backward(v)
    return leaf.grad


def _dual(f, x):
    with forward_ad.dual_level():
        return forward_ad.unpack_dual(f(forward_ad.make_dual(x, torch.ones_like(x)))).tangent


def _double_backward(f, x, t):
    leaf = _leaf(x)
    (g,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
    return torch.autograd.grad(g @ t, leaf)[0]


def _grads_batched(f, x):
    leaf = _leaf(x)
    y = f(leaf)
    return torch.autograd.grad(y, leaf, torch.eye(y.numel(), dtype=F64), is_grads_batched=True)[0]


def _differences(f, x):
    return torch.stack([(f(x + 1e-6 * e) - f(x - 1e-6 * e)) / 2e-6 for e in torch.eye(x.numel(), dtype=F64)], 1)


# name: (method, expected {order: directions} reverse, forward)
METHODS = {
    "backward": (lambda: _backward(layer, x, v), {1: 1}, {}),
    "printout pass, then backward": (lambda: _printout_then_backward(layer, x, v), {1: 2}, {}),
    "jacrev": (lambda: torch.func.jacrev(layer)(x), {1: 4}, {}),
    "functional.jacobian": (lambda: torch.autograd.functional.jacobian(layer, x), {1: 4}, {}),
    "is_grads_batched": (lambda: _grads_batched(layer, x), {1: 4}, {}),
    "jacfwd": (lambda: torch.func.jacfwd(layer)(x), {}, {0: 6}),
    "dual numbers": (lambda: _dual(layer, x), {}, {0: 1}),
    "vmap(jacrev) over samples": (lambda: torch.func.vmap(torch.func.jacrev(lambda r: rows(r[None])[0]))(X),
                                  {1: 4}, {}),
    "double backward": (lambda: _double_backward(field, x, x), {1: 2, 2: 1}, {}),
    "jvp(grad)": (lambda: torch.func.jvp(torch.func.grad(field), (x,), (x,))[1], {1: 1}, {0: 1, 1: 1}),
    "hessian": (lambda: torch.func.hessian(field)(x), {1: 1}, {0: 6, 1: 6}),
    "finite differences": (lambda: _differences(layer, x), {}, {}),
}


@pytest.mark.parametrize("name", METHODS)
def test_the_tap_changes_no_value_and_counts_the_directions(name):
    run, reverse, forward = METHODS[name]
    plain = run()
    with method_tap.watching() as recorder:
        tapped = run()
    assert torch.equal(plain, tapped)
    method = decode_method(recorder.summary())
    assert not method.incomplete
    assert {order: s.directions for order, s in method.reverse.items()} == reverse
    assert {order: s.directions for order, s in method.forward.items()} == forward


def test_samples_of_a_vmap_are_not_directions_and_are_recorded_as_samples():
    with method_tap.watching() as recorder:
        torch.func.vmap(torch.func.jacrev(lambda r: rows(r[None])[0]))(X)
    (evaluation,) = decode_method(recorder.summary()).evaluations
    assert evaluation.shape == (1, 6) and evaluation.samples == 5 and evaluation.ad == "reverse"


def test_nothing_is_recorded_outside_a_watched_call():
    assert method_tap._active is None
    with method_tap.watching() as recorder:
        pass
    assert recorder.summary() is None
    assert torch.equal(layer(x), torch.tanh(W @ x))


def test_a_changed_torch_api_makes_the_summary_incomplete_and_the_judge_silent(monkeypatch):
    def gone():
        raise AttributeError("torch._C._functorch changed")

    monkeypatch.setattr(method_tap, "_functorch", gone)
    plain = torch.func.jacrev(lambda t: torch.tanh(W @ t))(x)
    with method_tap.watching() as recorder:
        tapped = torch.func.jacrev(layer)(x)
        leaf = _leaf(x)
        layer(leaf).backward(v)
    assert torch.equal(plain, tapped)
    method = decode_method(recorder.summary())
    assert method.incomplete
    assert rules.vjp(method, 4) is None and rules.autograd_used(method) is None
    assert rules.batched_jacobian(method, 12, 5, 4) is None and rules.hvp(method, 10) is None


def test_a_single_mode_function_still_raises_our_error_through_the_tap():
    only_forward = library.ForwardOnly(W)
    with method_tap.watching(), pytest.raises(ForwardModeOnly):
        _backward(only_forward, x, v)
