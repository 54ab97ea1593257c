"""Implementations of the ps2_vjp functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- vjp
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(v)
    return x.grad
""", "backward on a leaf copy"),
    Impl("vjp", """
def vjp(f, x, v):
    _, pullback = torch.func.vjp(f, x)
    return pullback(v)[0]
""", "torch.func.vjp"),
    Impl("vjp", """
def vjp(f, x, v):
    return torch.autograd.functional.vjp(f, x, v)[1]
""", "torch.autograd.functional.vjp"),
    Impl("vjp", """
def vjp(f, x, v):
    leaf = x.clone().requires_grad_()
    (f(leaf) * v).sum().backward()
    return leaf.grad
""", "sum of the weighted output"),
    Impl("vjp", """
import warnings
def vjp(f, x, v):
    print("debug: x =", x)
    warnings.warn("students print and warn; that must not cost points")
    import sys; print("to stderr", file=sys.stderr)
    x = x.detach().requires_grad_(True)
    y = f(x)
    return torch.autograd.grad(y, x, v, retain_graph=False)[0].detach()
""", "prints and warns"),
    Impl("vjp", """
def vjp(f, x, v):
    return torch.func.grad(lambda t: (f(t) * v).sum())(x)
""", "torch.func.grad of the weighted sum"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    print("check:", torch.autograd.grad(y, x, v, retain_graph=True)[0])   # an extra pass, for the printout
    y.backward(v)
    return x.grad
""", "an extra autograd.grad for a printout, then backward"),
    Impl("vjp", """
def vjp(f, x, v):
    _, pullback = torch.func.vjp(f, x)
    (result,) = pullback(v)
    leaf = x.detach().clone().requires_grad_(True)
    same = torch.allclose(torch.autograd.grad(f(leaf), leaf, v)[0], result)
    print("torch.func.vjp agrees with autograd.grad:", same)
    return result
""", "torch.func.vjp, checked against autograd.grad in a print"),
    # ---------------------------------------------------------------- weighted_upstream
    Impl("weighted_upstream", """
def weighted_upstream(out):
    v = torch.zeros_like(out)
    v[0, :] = 1.0
    return v
""", "one-hot first row"),
    Impl("weighted_upstream", """
def weighted_upstream(out):
    rows = out.shape[0]
    weights = torch.arange(rows, 0, -1, dtype=out.dtype)
    return weights[:, None].expand(out.shape).clone()
""", "weights decreasing down the rows"),
    Impl("weighted_upstream", """
def weighted_upstream(out):
    v = out.detach().new_full(out.shape, 0.25)
    v[0] = 4.0
    return v
""", "new_full"),
    # ---------------------------------------------------------------- weighted_sensitivity
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    (grad,) = torch.autograd.grad(out, inp, v)
    return v, grad
""", "autograd.grad"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5).requires_grad_()
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    torch.autograd.backward(out, v)
    return (v, inp.grad)
""", "torch.autograd.backward"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    print("the upstream vector:", weighted_upstream(out))
    v = weighted_upstream(out)
    out.backward(v)
    return v, inp.grad
""", "an extra call of the helper, to print v"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(weighted_upstream(out))
    return v, inp.grad
""", "the helper called twice, the same v used for backward"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out=out.detach())
    out.backward(gradient=v)
    return v, inp.grad
""", "the helper on out.detach(), by keyword"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    print("for comparison, weighted_upstream(inp) =", weighted_upstream(inp))
    v = weighted_upstream(out)
    out.backward(v)
    return v, inp.grad
""", "prints the helper's v for another tensor too"),
    # ---------------------------------------------------------------- linear_vjp
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.randn(A.shape[1], dtype=A.dtype, requires_grad=True)
    return torch.autograd.grad(A @ x, x, v)[0]
""", "autograd.grad at a random point"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    _, pullback = torch.func.vjp(lambda x: A @ x, torch.zeros(A.shape[1], dtype=A.dtype))
    return pullback(v)[0]
""", "torch.func.vjp"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.ones(A.shape[-1], dtype=A.dtype).requires_grad_(True)
    y = torch.matmul(A, x)
    y.backward(gradient=v)
    return x.grad
""", "matmul and backward(gradient=)"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.zeros(A.shape[1], dtype=A.dtype, requires_grad=True)
    y = A @ x
    print("Aᵀv by autograd.grad:", torch.autograd.grad(y, x, v, retain_graph=True)[0])
    y.backward(v)
    return x.grad
""", "an extra autograd.grad for a printout, then backward"),
]

WRONG = [
    # ---------------------------------------------------------------- vjp
    Impl("vjp", """
def vjp(f, x, v):
    J = torch.autograd.functional.jacobian(f, x)
    J = J.reshape(-1, x.numel())
    return (J @ v.reshape(-1)).reshape(x.shape)
""", "J v instead of vᵀJ", "jv_instead_of_vjp"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(y))
    return x.grad
""", "ignores v", "upstream_ignored"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (f(x) * v).mean().backward()
    return x.grad
""", "mean instead of sum", "mean_instead_of_sum"),
    Impl("vjp", """
def vjp(f, x, v):
    x.requires_grad_(True)
    f(x).backward(v)
    return x.grad
""", "uses the caller's x as the leaf", "modified_input"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    J = torch.autograd.functional.jacobian(f, x)
    return J
""", "returns the Jacobian", "returned_jacobian"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        e = torch.zeros(y.numel(), dtype=y.dtype); e[i] = 1.0
        rows.append(torch.autograd.grad(y, x, e.reshape(y.shape), retain_graph=True)[0].reshape(-1))
    J = torch.stack(rows)
    return (v.reshape(-1) @ J).reshape(x.shape)
""", "forms J row by row", "formed_jacobian"),
    Impl("vjp", """
_buffer = {}
def vjp(f, x, v):
    leaf = _buffer.get(x.shape)
    if leaf is None:
        leaf = _buffer[x.shape] = torch.zeros_like(x, requires_grad=True)
    with torch.no_grad():
        leaf.copy_(x)
    if leaf.grad is not None:
        leaf.grad.zero_()
    f(leaf).backward(v)
    return leaf.grad
""", "returns a reused leaf's .grad", "alias_of_grad"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(torch.ones_like(x))
    return x.grad
""", "upstream vector shaped like x", "upstream_wrong_shape"),
    Impl("vjp", """
def vjp(f, x, v):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    Impl("vjp", """
def vjp(f, x, v):
    J = torch.func.jacrev(f)(x).reshape(v.numel(), x.numel())
    return (v.reshape(-1) @ J).reshape(x.shape)
""", "vᵀJ with J from torch.func.jacrev", "formed_jacobian"),
    Impl("vjp", """
def vjp(f, x, v):
    J = torch.autograd.functional.jacobian(f, x, vectorize=True)
    return torch.tensordot(v, J, dims=v.dim())
""", "vᵀJ with J from autograd.functional.jacobian(vectorize=True)", "formed_jacobian"),
    Impl("vjp", """
def vjp(f, x, v):
    y, pullback = torch.func.vjp(f, x)
    rows = torch.eye(y.numel(), dtype=y.dtype).reshape(y.numel(), *y.shape)
    (J,) = torch.func.vmap(pullback)(rows)
    return (v.reshape(1, -1) @ J.reshape(y.numel(), -1)).reshape(x.shape)
""", "vmap of the pullback over one-hot rows, then vᵀJ", "formed_jacobian"),
    Impl("vjp", """
def vjp(f, x, v):
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    eye = torch.eye(y.numel(), dtype=y.dtype).reshape(y.numel(), *y.shape)
    (J,) = torch.autograd.grad(y, leaf, eye, is_grads_batched=True)
    return torch.einsum("k,k...->...", v.reshape(-1), J)
""", "all rows of J in one is_grads_batched pass", "formed_jacobian"),
    Impl("vjp", """
def vjp(f, x, v):
    h = 1e-6
    flat = x.detach().reshape(-1)
    out = torch.zeros_like(flat)
    for j in range(flat.numel()):
        step = torch.zeros_like(flat)
        step[j] = h
        up, down = f((flat + step).reshape(x.shape)), f((flat - step).reshape(x.shape))
        out[j] = ((up - down) * v).sum() / (2 * h)
    return out.reshape(x.shape)
""", "central differences of the weighted sum", "finite_differences"),
    Impl("vjp", """
def vjp(f, x, v):
    eps = 1e-7
    columns = []
    for e in torch.eye(x.numel(), dtype=x.dtype):
        e = e.reshape(x.shape) * eps
        columns.append(((f(x + e) - f(x - e)) / (2 * eps)).reshape(-1))
    J = torch.stack(columns, dim=1)
    return (v.reshape(-1) @ J).reshape(x.shape)
""", "J by central differences, then vᵀJ", "finite_differences"),
    # ---------------------------------------------------------------- weighted_upstream
    Impl("weighted_upstream", """
def weighted_upstream(out):
    v = torch.zeros_like(out)
    v[:, 0] = 1.0
    return v
""", "weights the first column", "weight_on_column"),
    Impl("weighted_upstream", """
def weighted_upstream(out):
    v = torch.zeros(4, 5)
    v[0] = 1.0
    return v
""", "shaped like inp", "upstream_input_shape"),
    Impl("weighted_upstream", """
def weighted_upstream(out):
    return torch.ones_like(out)
""", "equal weights", "wrong_values"),
    Impl("weighted_upstream", """
def weighted_upstream(out):
    v = out * 0 + 0.5
    v[0] = 1.0
    return v
""", "computed from out, still attached to the graph", "not_detached"),
    # ---------------------------------------------------------------- weighted_sensitivity
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(torch.ones_like(out))
    return v, inp.grad
""", "backward with ones instead of v", "upstream_ignored"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(v, retain_graph=True)
    out.backward(v)
    return v, inp.grad
""", "two backward calls", "accumulated_twice"),
    Impl("weighted_sensitivity", """
inp = torch.eye(4, 5, requires_grad=True)
def weighted_sensitivity():
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(v)
    return v, inp.grad
""", "a global inp that accumulates across calls", "accumulated_twice"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(inp)
    out.backward(v)
    return v, inp.grad
""", "weighted_upstream(inp)", "helper_wrong_argument"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out.t())
    out.t().backward(v)
    return v, inp.grad
""", "weighted_upstream(out.t()), backward through out.t()", "helper_wrong_argument"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out.detach() * 0)
    out.backward(v)
    return v, inp.grad
""", "weighted_upstream(out.detach() * 0)", "helper_wrong_argument"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(inp + 10)
    out.backward(v.t())
    return v.t(), inp.grad
""", "weighted_upstream(inp + 10), transposed to fit", "helper_wrong_argument"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(weighted_upstream(2 * out.detach()))
    return v, inp.grad
""", "returns the helper's v, backward with the helper's v of another tensor", "helper_wrong_argument"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = torch.zeros_like(out)
    v[0] = 1.0
    out.backward(v)
    return v, inp.grad
""", "v built by hand, the helper ignored", "helper_not_called"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = 2 * weighted_upstream(out)
    out.backward(v)
    return v, inp.grad
""", "rescales the helper's v", "wrong_values"),
    Impl("weighted_sensitivity", """
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out.t())
    (grad,) = torch.autograd.grad(out, inp, v)
    return v, grad
""", "weighted_upstream(out.t())", "helper_wrong_argument"),
    # ---------------------------------------------------------------- linear_vjp
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.zeros(A.shape[0], dtype=A.dtype, requires_grad=True)
    y = A.t() @ x
    y.backward(A @ torch.ones(A.shape[1], dtype=A.dtype) * 0 + 1 if False else torch.ones(A.shape[1], dtype=A.dtype))
    return A @ v
""", "returns A v", "jv_instead_of_vjp"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    return A.T @ v
""", "formula without autograd", "no_autograd"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.zeros(A.shape[1], dtype=A.dtype, requires_grad=True)
    y = A @ x
    y.backward(torch.ones_like(y))
    return x.grad
""", "backward with ones", "upstream_ignored"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    J = torch.func.jacrev(lambda x: A @ x)(torch.zeros(A.shape[1], dtype=A.dtype))
    return J.T @ v
""", "J = A formed by torch.func.jacrev, then Jᵀv", "formed_jacobian"),
    Impl("linear_vjp", """
def linear_vjp(A, v):
    x = torch.ones(A.shape[1], dtype=A.dtype)
    J = torch.autograd.functional.jacobian(lambda t: A @ t, x)
    return v @ J
""", "J formed row by row by autograd.functional.jacobian", "formed_jacobian"),
]


# Diagnoses from the evidence (issue 10, class 6): an extra backward pass is named by its residual (itself a
# VJP of f), a cut graph as the cause of the missing gradient, finite differences by their error pattern.
WRONG += [
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.sum().backward(retain_graph=True)      # a quick check first
    y.backward(v)
    return x.grad
""", "a check pass with sum() before the pass with v", "extra_backward_pass"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.rand_like(y), retain_graph=True)
    y.backward(v)
    return x.grad.detach()
""", "a pass with a random vector first", "extra_backward_pass"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.reshape(-1)[0].backward(retain_graph=True)
    print("df0/dx =", x.grad)
    y.backward(v)
    return x.grad
""", "printed the gradient of the first output, then the pass with v", "extra_backward_pass"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.mean().backward(retain_graph=True)
    torch.autograd.backward(y, v)
    return x.grad.clone()
""", "mean().backward() before torch.autograd.backward(y, v)", "extra_backward_pass"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x).detach()
    y.requires_grad_(True)
    y.backward(v)
    return x.grad
""", "detached y before backward", "graph_cut"),
    Impl("vjp", """
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x.detach()).requires_grad_()
    g, = torch.autograd.grad(y, x, v, allow_unused=True)
    return g
""", "f applied to x.detach(), allow_unused gives None", "graph_cut"),
    Impl("vjp", """
def vjp(f, x, v):
    xd = x.detach().clone().requires_grad_(True)
    with torch.no_grad():
        y = f(xd)
    y = y.clone().requires_grad_()
    (y * v).sum().backward()
    return xd.grad if xd.grad is not None else torch.zeros_like(xd)
""", "f under no_grad, zeros for the missing gradient", "graph_cut"),
    Impl("vjp", """
def vjp(f, x, v):
    h = 1e-2
    flat = x.reshape(-1)
    out = torch.zeros_like(flat)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = h
        up = (v * f((flat + e).reshape(x.shape))).sum()
        down = (v * f((flat - e).reshape(x.shape))).sum()
        out[i] = (up - down) / (2 * h)
    return out.reshape(x.shape)
""", "central differences of v·f", "finite_difference_values"),
]
