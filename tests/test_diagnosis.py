"""Diagnoses from the evidence: a cut graph is named by what the probe saw, a finite difference by the
pattern of its error, an extra backward pass by its residual being a VJP of the same function."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.judge import reference_math as rm
from autograder.judge.diagnosis import ExtraPass, FiniteDifferences
from autograder.judge.judgement import cut_explanation
from autograder.judge.record import BadRecord, Cut, decode_call
from autograder.probe import library as lib
from autograder.probe.monitors import AutogradCalls

F64 = torch.float64


def _cuts(fn, *args):
    counter = AutogradCalls()
    try:
        with counter:
            fn(*args)
    except RuntimeError:
        pass
    return counter.summary().get("cuts", [])


# ---------------------------------------------------------------------- the probe: cuts with their symptom

def _detached_output(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.sin(x).detach().requires_grad_()
    y.backward(torch.ones_like(y))
    return x.grad


def _detached_then_backward(x):
    x = x.clone().requires_grad_(True)
    torch.exp(x).detach().sum().backward()   # raises: the root does not require grad


def _data_of_input(x):
    x = x.clone().requires_grad_(True)
    y = (x.data ** 2).requires_grad_()
    y.sum().backward()
    return x.grad


def _no_grad_step(x):
    x = x.clone().requires_grad_(True)
    with torch.no_grad():
        h = x * 3
    h.requires_grad_()
    return torch.autograd.grad((h ** 2).sum(), [x, h], allow_unused=True)[0]


def _intermediate_in_chain(x):
    x = x.clone().requires_grad_(True)
    y = (2 * x).detach().requires_grad_()
    (y ** 2).sum().backward()
    return x.grad, y.grad


@pytest.mark.parametrize(("fn", "expected"), [
    (_detached_output, {"via": "detach", "where": "intermediate", "symptom": "grad_none"}),
    (_detached_then_backward, {"via": "detach", "where": "intermediate", "symptom": "detached_root"}),
    (_data_of_input, {"via": "data", "where": "leaf", "symptom": "grad_none"}),
    (_no_grad_step, {"via": "no_grad", "where": "leaf", "symptom": "unreached_input"}),
    (_intermediate_in_chain, {"via": "detach", "where": "intermediate", "symptom": "grad_none"}),
])
def test_a_cut_is_recorded_with_the_gradient_it_made_go_missing(fn, expected):
    assert _cuts(fn, torch.randn(4, dtype=F64)) == [expected]


def _copy_of_input(x):
    x = x.detach().requires_grad_()
    y = torch.sin(x)
    y.backward(torch.ones_like(y))
    return x.grad.detach()


def _copy_then_grad(x):
    x = x.detach().clone().requires_grad_()
    return torch.autograd.grad(torch.tanh(x).sum(), x)[0]


def _update_under_no_grad(x):
    w = x.detach().clone().requires_grad_()
    (w ** 2).sum().backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
    (w ** 2).sum().backward()
    return w.grad


def _detached_result(x):
    x = x.detach().clone().requires_grad_()
    y = x ** 3
    g, = torch.autograd.grad(y.sum(), x, create_graph=True)
    print(y.detach())
    return g.detach()


@pytest.mark.parametrize("fn", [_copy_of_input, _copy_then_grad, _update_under_no_grad, _detached_result])
def test_detaching_that_loses_no_gradient_records_nothing(fn):
    assert _cuts(fn, torch.randn(4, dtype=F64)) == []
    assert _cuts(fn, torch.randn(4, dtype=F64, requires_grad=True)) == []


def test_the_judge_decodes_cuts_and_refuses_forged_ones():
    info = {"value": {"t": "none"}, "autograd": {"reverse": 1, "names": {}, "cuts": [
        {"via": "detach", "where": "leaf", "symptom": "grad_none"}]}}
    assert decode_call(info).cuts == (Cut("detach", "leaf", "grad_none"),)
    for bad in ({"via": "detach", "where": "leaf", "symptom": "grad_none", "extra": 1},
                {"via": "eval", "where": "leaf", "symptom": "grad_none"},
                {"via": "detach", "where": "leaf"}, "detach"):
        info["autograd"]["cuts"] = [bad]
        with pytest.raises(BadRecord):
            decode_call(info)
    info["autograd"]["cuts"] = [{"via": "detach", "where": "leaf", "symptom": "grad_none"}] * 5
    with pytest.raises(BadRecord):
        decode_call(info)


@pytest.mark.parametrize("via", ["detach", "data", "no_grad"])
@pytest.mark.parametrize("where", ["leaf", "intermediate"])
@pytest.mark.parametrize("symptom", ["grad_none", "unreached_input", "detached_root"])
def test_every_recorded_cut_has_an_explanation_without_retain_grad_advice(via, where, symptom):
    text = cut_explanation(Cut(via, where, symptom))
    assert "graph was cut" in text and "{" not in text
    assert "retain_grad()` would not help" in text or "retain_grad" not in text


# ---------------------------------------------------------------------- finite differences

def _elementwise(name):
    f = lib.Elementwise(name)
    return f, lambda h, scheme, xs: rm.difference_derivative(f, xs, h, scheme)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["sin", "cubic", "tanh"]), h=st.floats(3e-3, 5e-2), central=st.booleans(),
       seed=st.integers(0, 2**16))
def test_a_finite_difference_is_recognised_by_its_error_whatever_its_step(name, h, central, seed):
    f, approximate = _elementwise(name)
    xs = torch.randn(6, dtype=F64, generator=torch.Generator().manual_seed(seed))
    expected = rm.elementwise_derivative(f, xs)
    with torch.no_grad():
        student = (f(xs + h) - f(xs - h)) / (2 * h) if central else (f(xs + h) - f(xs)) / h
    if torch.allclose(student, expected, rtol=1e-6, atol=1e-8):
        return   # too close to call wrong at all
    found = FiniteDifferences(lambda step, scheme: approximate(step, scheme, xs))(student, expected)
    assert found is not None and found[0] == "finite_difference_values"
    assert ("central" if central else "forward") in found[1]


@pytest.mark.parametrize("wrong", ["noise", "scaled", "far", "shifted"])
def test_other_small_errors_are_not_called_finite_differences(wrong):
    f, approximate = _elementwise("tanh")   # its truncation error is neither constant nor parallel to f′
    xs = torch.randn(8, dtype=F64, generator=torch.Generator().manual_seed(3))
    expected = rm.elementwise_derivative(f, xs)
    noise = torch.randn(8, dtype=F64, generator=torch.Generator().manual_seed(4))
    student = {"noise": expected + 1e-3 * noise, "scaled": 1.01 * expected, "far": expected + 5 * noise,
               "shifted": expected + 1e-3}[wrong]
    assert FiniteDifferences(lambda h, s: approximate(h, s, xs))(student, expected) is None


# ---------------------------------------------------------------------- an extra backward pass

def _wide():
    g = torch.Generator().manual_seed(7)
    A = torch.randn(3, 6, dtype=F64, generator=g)
    x, v = torch.randn(6, dtype=F64, generator=g), torch.randn(3, dtype=F64, generator=g)
    f = lambda t: torch.tanh(A @ t)
    return f, x, v, rm.jacobian(f, x)


@pytest.mark.parametrize("u", ["ones", "random", "one_hot", "mean"])
def test_a_residual_that_is_another_vjp_is_named_an_extra_pass(u):
    f, x, v, J = _wide()
    other = {"ones": torch.ones(3, dtype=F64), "random": torch.tensor([0.3, -1.2, 0.7], dtype=F64),
             "one_hot": torch.tensor([1.0, 0, 0], dtype=F64), "mean": torch.full((3,), 1 / 3, dtype=F64)}[u]
    expected = v @ J
    found = ExtraPass(J)(expected + other @ J, expected)
    assert found is not None and found[0] == "extra_backward_pass"
    assert ("ones" in found[1]) == (u in ("ones", "mean"))


def test_a_residual_outside_the_row_space_or_along_v_is_not_an_extra_pass():
    f, x, v, J = _wide()
    expected = v @ J
    g = torch.Generator().manual_seed(11)
    assert ExtraPass(J)(expected + torch.randn(6, dtype=F64, generator=g), expected) is None
    assert ExtraPass(J)(2 * expected, expected) is None     # u = v: the factor diagnosis names it
    assert ExtraPass(J)(expected, expected) is None


def test_for_a_square_jacobian_only_a_pass_with_ones_is_named():
    g = torch.Generator().manual_seed(5)
    A = torch.randn(4, 4, dtype=F64, generator=g)
    v = torch.randn(4, dtype=F64, generator=g)
    expected = v @ A
    assert ExtraPass(A)(expected + torch.ones(4, dtype=F64) @ A, expected) is not None
    assert ExtraPass(A)(expected + torch.randn(4, dtype=F64, generator=g) @ A, expected) is None


class _Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x      # runs without grad, as every Function's forward does: no cut

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def _function_then_no_create_graph(x):
    x = x.detach().clone().requires_grad_(True)
    d1, = torch.autograd.grad(_Square.apply(x).sum(), x)
    return torch.autograd.grad(d1.sum(), x)[0]   # raises: d1 is a constant (create_graph missing)


def test_a_custom_function_or_a_missing_create_graph_is_no_cut():
    assert _cuts(_function_then_no_create_graph, torch.randn(4, dtype=F64)) == []
    f = lib.Elementwise("tanh")
    def tapped(x):
        x = x.detach().clone().requires_grad_(True)
        d1, = torch.autograd.grad(f(x).sum(), x)
        return torch.autograd.grad(d1.sum(), x)[0]
    from autograder.probe import method_tap
    with method_tap.watching():
        assert _cuts(tapped, torch.randn(4, dtype=F64)) == []


def test_for_a_square_jacobian_a_second_recorded_pass_is_the_evidence():
    g = torch.Generator().manual_seed(6)
    A = torch.randn(4, 4, dtype=F64, generator=g)
    v, u = torch.randn(4, dtype=F64, generator=g), torch.randn(4, dtype=F64, generator=g)
    expected = v @ A
    assert ExtraPass(A, passes=1)(expected + u @ A, expected) is None
    found = ExtraPass(A, passes=2)(expected + u @ A, expected)
    assert found is not None and found[0] == "extra_backward_pass" and "ones" not in found[1]
