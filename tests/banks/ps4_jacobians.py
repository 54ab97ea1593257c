"""Implementations of the ps4_jacobians functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- jacobian_reverse
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    rows = []
    for i in range(f(x).numel()):
        leaf = x.detach().clone().requires_grad_(True)
        y = f(leaf)
        v = torch.zeros_like(y); v[i] = 1.0
        y.backward(v)
        rows.append(leaf.grad)
    return torch.stack(rows)
""", "backward on a fresh leaf and graph per row"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    J = torch.zeros(y.numel(), x.numel(), dtype=x.dtype)
    for i in range(y.numel()):
        leaf.grad = None
        y.backward(torch.eye(y.numel(), dtype=y.dtype)[i], retain_graph=True)
        J[i] = leaf.grad
    return J
""", "backward with retain_graph, .grad cleared, preallocated with dtype"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    J = torch.zeros(y.numel(), x.numel(), dtype=x.dtype)
    for i in range(y.numel()):
        if leaf.grad is not None:
            leaf.grad.zero_()
        y.backward(torch.nn.functional.one_hot(torch.tensor(i), y.numel()).to(y.dtype), retain_graph=True)
        J[i, :] = leaf.grad
    return J
""", "grad.zero_() and one_hot"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    return torch.func.jacrev(f)(x)
""", "torch.func.jacrev"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    return torch.autograd.functional.jacobian(f, x)
""", "torch.autograd.functional.jacobian"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    y, pullback = torch.func.vjp(f, x)
    return torch.stack([pullback(e)[0] for e in torch.eye(y.numel(), dtype=y.dtype)])
""", "torch.func.vjp, one pullback per row"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    eye = torch.eye(y.numel(), dtype=y.dtype)
    return torch.autograd.grad(y, leaf, eye, is_grads_batched=True)[0]
""", "autograd.grad with is_grads_batched"),
    Impl("jacobian_reverse", """
import warnings
def jacobian_reverse(f, x):
    print("computing J at", x)
    warnings.warn("noise must not cost points")
    x = x.detach().requires_grad_()
    y = f(x)
    rows = [torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(len(y))]
    return torch.vstack(rows).detach()
""", "gradient of each output entry, prints and warns"),
    # ---------------------------------------------------------------- jacobian_forward
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    return torch.func.jacfwd(f)(x)
""", "torch.func.jacfwd"),
    Impl("jacobian_forward", """
import torch.autograd.forward_ad as fwAD
def jacobian_forward(f, x):
    columns = []
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        with fwAD.dual_level():
            out = f(fwAD.make_dual(x, t))
            columns.append(fwAD.unpack_dual(out).tangent)
    return torch.stack(columns, dim=1)
""", "forward_ad dual numbers"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    jvp_along = lambda t: torch.func.jvp(f, (x,), (t,))[1]
    return torch.func.vmap(jvp_along, out_dims=1)(torch.eye(x.numel(), dtype=x.dtype))
""", "vmap over torch.func.jvp"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    return torch.autograd.functional.jacobian(f, x, vectorize=True, strategy="forward-mode")
""", "autograd.functional.jacobian in forward-mode strategy"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    n = x.shape[0]
    m = f(x).shape[0]
    J = torch.empty(m, n, dtype=x.dtype)
    for j in range(n):
        J[:, j] = torch.func.jvp(f, (x,), (torch.eye(n, dtype=x.dtype)[j],))[1]
    return J
""", "preallocated, columns filled one by one"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    _, jvp_fn = torch.func.linearize(f, x)
    return torch.stack([jvp_fn(e) for e in torch.eye(x.numel(), dtype=x.dtype)], dim=-1)
""", "torch.func.linearize"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    print("f(x) =", f(x))
    columns = [torch.func.jvp(f, (x,), (e,))[1] for e in torch.eye(x.numel(), dtype=x.dtype)]
    return torch.stack(columns, dim=1)
""", "jvp columns, after printing f(x)"),
    # ---------------------------------------------------------------- cheaper_mode
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "forward" if n_inputs <= n_outputs else "reverse"
""", "ties answered forward"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    passes = {"forward": n_inputs, "reverse": n_outputs}
    return min(passes, key=passes.get)
""", "minimum of a dict of pass counts"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    if n_outputs < n_inputs:
        return "reverse"
    elif n_inputs < n_outputs:
        return "forward"
    print("a tie")
    return "reverse"
""", "explicit branches, prints on ties"),
    # ---------------------------------------------------------------- batched_jacobian
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    N, m = Y.shape
    J = torch.zeros(N, m, X.shape[1], dtype=X.dtype)
    for k in range(m):
        g = torch.zeros_like(Y)
        g[:, k] = 1.0
        J[:, k, :] = torch.autograd.grad(outputs=Y, inputs=X, grad_outputs=g, retain_graph=True)[0]
    return J
""", "the tutorial's loop, preallocated with dtype"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    rows = []
    for k in range(f(X).shape[1]):
        leaf = X.detach().clone().requires_grad_(True)
        Y = f(leaf)
        Y[:, k].sum().backward()
        rows.append(leaf.grad)
    return torch.stack(rows, dim=1)
""", "backward of the summed column, fresh graph per column"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    one = lambda x: f(x.unsqueeze(0)).squeeze(0)
    return torch.func.vmap(torch.func.jacrev(one))(X)
""", "vmap over jacrev of one sample"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    one = lambda x: f(x[None])[0]
    return torch.func.vmap(torch.func.jacfwd(one))(X)
""", "vmap over jacfwd of one sample (no reverse pass)"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    leaf = X.detach().clone().requires_grad_(True)
    Y = f(leaf)
    N, m = Y.shape
    G = torch.eye(m, dtype=Y.dtype)[:, None, :].expand(m, N, m)
    return torch.autograd.grad(Y, leaf, G, is_grads_batched=True)[0].permute(1, 0, 2)
""", "one batched autograd.grad"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    columns = []
    for j in range(X.shape[1]):
        T = torch.zeros_like(X); T[:, j] = 1.0
        columns.append(torch.func.jvp(f, (X,), (T,))[1])
    return torch.stack(columns, dim=2)
""", "forward mode, one one-hot tangent per input column"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    return torch.func.jacrev(lambda Z: f(Z).sum(dim=0))(X).permute(1, 0, 2)
""", "jacrev of the outputs summed over the batch"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    J = torch.autograd.functional.jacobian(lambda Z: f(Z).sum(0), X)   # (m, N, n), m passes
    return J.transpose(0, 1).contiguous()
""", "autograd.functional.jacobian of the summed outputs"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    print("gradient of the sum:", torch.autograd.grad(Y.sum(), X, retain_graph=True)[0][0])   # for the printout
    rows = []
    for k in range(Y.shape[1]):
        G = torch.zeros_like(Y); G[:, k] = 1.0
        rows.append(torch.autograd.grad(Y, X, G, retain_graph=True)[0])
    return torch.stack(rows, dim=1)
""", "one pass per output column, plus one for a printout"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    def one(x):
        return f(x.reshape(1, -1)).reshape(-1)
    return torch.func.vmap(torch.func.jacrev(one), chunk_size=None)(X)
""", "vmap over jacrev, reshaping each sample"),
    # ---------------------------------------------------------------- matrix_function_derivative
    Impl("matrix_function_derivative", """
import itertools
def matrix_function_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.stack([x**i for i in range(6)]).view(3, 2)
    derivatives = torch.zeros_like(y)
    for i, j in itertools.product(*[range(s) for s in y.shape]):
        v = torch.zeros_like(y)
        v[i, j] = 1.0
        if x.grad is not None:
            x.grad.zero_()
        y.backward(v, retain_graph=True)
        derivatives[i, j] = x.grad.item()
    return derivatives.detach()
""", "the tutorial's loop with zeroing"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    f = lambda s: torch.stack([s**k for k in range(6)]).reshape(3, 2)
    return torch.func.jacrev(f)(x)
""", "torch.func.jacrev"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    f = lambda s: torch.stack([torch.ones_like(s), s, s**2, s**3, s**4, s**5]).reshape(3, 2)
    return torch.func.jvp(f, (x,), (torch.ones_like(x),))[1]
""", "a single forward-mode JVP with tangent 1"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    f = lambda s: torch.stack([s**k for k in range(6)]).reshape(3, 2)
    return torch.autograd.functional.jacobian(f, x)
""", "torch.autograd.functional.jacobian"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    powers = torch.arange(6, dtype=x.dtype)
    return (powers * torch.where(powers > 0, x ** (powers - 1).clamp(min=0), torch.zeros_like(powers))).reshape(3, 2)
""", "analytic formula"),
]

WRONG = [
    # ---------------------------------------------------------------- jacobian_reverse
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = [torch.autograd.grad(y, x, torch.eye(y.numel(), dtype=y.dtype)[i], retain_graph=True)[0]
            for i in range(y.numel())]
    return torch.stack(rows, dim=1)
""", "rows stacked as columns", "transposed_jacobian"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        v = torch.zeros_like(y); v[i] = 1.0
        y.backward(v, retain_graph=True)
        rows.append(x.grad.clone())
    return torch.stack(rows)
""", ".grad not cleared between rows", "cumulative_rows"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        if x.grad is not None:
            x.grad.zero_()
        v = torch.zeros_like(y); v[i] = 1.0
        y.backward(v, retain_graph=True)
        rows.append(x.grad)
    return torch.stack(rows)
""", "stores x.grad itself, zeroed in place", "rows_alias_grad"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        v = torch.zeros_like(y); v[i] = 1.0
        y.backward(v, retain_graph=True)
        rows.append(x.grad)
    return torch.stack(rows)
""", "stores x.grad itself, never cleared", "summed_outputs"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        (row,) = torch.autograd.grad(y, x, torch.ones_like(y), retain_graph=True)
        rows.append(row)
    return torch.stack(rows)
""", "upstream vector of ones for every row", "summed_outputs"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        v = torch.zeros_like(y); v[i] = 1.0
        rows.append(torch.autograd.grad(y, x, v)[0])
    return torch.stack(rows)
""", "no retain_graph", "missing_retain_graph"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    J = torch.zeros(y.numel(), x.numel())
    for i in range(y.numel()):
        v = torch.zeros_like(y); v[i] = 1.0
        J[i] = torch.autograd.grad(y, x, v, retain_graph=True)[0]
    return J
""", "torch.zeros(m, n) without dtype", "wrong_dtype"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    return torch.func.jacfwd(f)(x)
""", "jacfwd (forward mode)", "forward_instead_of_reverse"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    cols = []
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        cols.append(torch.func.jvp(f, (x,), (t,))[1])
    return torch.stack(cols, dim=1)
""", "forward-mode JVP columns", "forward_instead_of_reverse"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x.requires_grad_(True)
    y = f(x)
    rows = [torch.autograd.grad(y, x, torch.eye(y.numel(), dtype=y.dtype)[i], retain_graph=True)[0]
            for i in range(y.numel())]
    return torch.stack(rows)
""", "the caller's x as the leaf", "modified_input"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(y))
    return x.grad
""", "one pass with ones: the gradient of the sum", "gradient_of_sum"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    return f(x)
""", "returns f(x)", "returned_function_value"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    eps = 1e-6
    y = f(x)
    J = torch.zeros(y.numel(), x.numel(), dtype=x.dtype)
    for j in range(x.numel()):
        d = torch.zeros_like(x); d[j] = eps
        J[:, j] = (f(x + d) - f(x - d)) / (2 * eps)
    return J
""", "central differences", "finite_differences"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    # ---------------------------------------------------------------- jacobian_forward
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = [torch.autograd.grad(y, x, torch.eye(y.numel(), dtype=y.dtype)[i], retain_graph=True)[0]
            for i in range(y.numel())]
    return torch.stack(rows)
""", "reverse-mode rows", "reverse_instead_of_forward"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    cols = []
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        cols.append(torch.autograd.functional.jvp(f, x, t)[1])
    return torch.stack(cols, dim=1)
""", "torch.autograd.functional.jvp (double backward)", "reverse_instead_of_forward"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    return torch.func.jacrev(f)(x)
""", "torch.func.jacrev", "reverse_instead_of_forward"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    cols = []
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        cols.append(torch.func.jvp(f, (x,), (t,))[1])
    return torch.stack(cols)
""", "columns stacked as rows", "transposed_jacobian"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    cols = []
    for j in range(x.numel()):
        cols.append(torch.func.jvp(f, (x,), (torch.ones_like(x),))[1])
    return torch.stack(cols, dim=1)
""", "all-ones tangent for every column", "summed_outputs"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    m = f(x).numel()
    J = torch.zeros(m, x.numel())
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        J[:, j] = torch.func.jvp(f, (x,), (t,))[1]
    return J
""", "torch.zeros(m, n) without dtype", "wrong_dtype"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    return torch.func.jvp(f, (x,), (torch.ones_like(x),))[1]
""", "a single JVP with all-ones tangent", "jvp_of_ones"),
    Impl("jacobian_forward", """
import torch.autograd.forward_ad as fwAD
def jacobian_forward(f, x):
    cols = []
    for j in range(x.numel()):
        t = torch.zeros_like(x); t[j] = 1.0
        with fwAD.dual_level():
            cols.append(fwAD.unpack_dual(f(fwAD.make_dual(x, t))).primal)
    return torch.stack(cols, dim=1)
""", "keeps the primal of the dual number", "primal_instead_of_tangent"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    h = 1e-6
    columns = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in torch.eye(x.numel(), dtype=x.dtype)]
    return torch.stack(columns, dim=1)
""", "central differences, column by column", "finite_differences"),
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    h = 1e-7
    y = f(x)
    return torch.stack([(f(x + h * e) - y) / h for e in torch.eye(x.numel(), dtype=x.dtype)], dim=-1)
""", "forward differences", "finite_differences"),
    # ---------------------------------------------------------------- cheaper_mode
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "reverse" if n_inputs < n_outputs else "forward"
""", "modes swapped", "swapped_modes"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "Forward" if n_inputs < n_outputs else "Reverse"
""", "capitalised", "mode_answer_format"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return n_inputs < n_outputs
""", "returns a bool", "mode_answer_format"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "jvp" if n_inputs < n_outputs else "vjp"
""", "names the product instead of the mode", "mode_answer_format"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "reverse"
""", "always reverse", "constant_answer"),
    Impl("cheaper_mode", """
def cheaper_mode(n_inputs, n_outputs):
    return "forward" if n_inputs * 2 < n_outputs else "reverse"
""", "a wrong threshold", "wrong_mode"),
    # ---------------------------------------------------------------- batched_jacobian
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    return torch.stack([torch.func.jacrev(f)(X[s:s + 1])[0, :, 0, :] for s in range(X.shape[0])])
""", "one jacrev per sample", "too_many_passes"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    out = []
    for s in range(X.shape[0]):
        x = X[s].detach().clone().requires_grad_(True)
        y = f(x[None])[0]
        out.append(torch.stack([torch.autograd.grad(y[k], x, retain_graph=True)[0] for k in range(y.numel())]))
    return torch.stack(out)
""", "a pass per sample and output", "too_many_passes"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    rows = []
    for k in range(Y.shape[1]):
        G = torch.zeros_like(Y); G[:, k] = 1.0
        rows.append(torch.autograd.grad(Y, X, G, retain_graph=True)[0])
    return torch.stack(rows, dim=2)
""", "rows stacked on the last axis: (N, n, m)", "transposed_jacobian"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    (g,) = torch.autograd.grad(Y, X, torch.ones_like(Y))
    return g[:, None, :].expand(Y.shape[0], Y.shape[1], X.shape[1]).clone()
""", "one pass with ones, broadcast over the rows", "summed_outputs"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    rows = []
    for k in range(Y.shape[1]):
        G = torch.zeros_like(Y); G[:, k] = 1.0
        Y.backward(G, retain_graph=True)
        rows.append(X.grad.clone())
    return torch.stack(rows, dim=1)
""", "X.grad not cleared between passes", "cumulative_rows"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    rows = []
    for k in range(Y.shape[1]):
        if X.grad is not None:
            X.grad.zero_()
        G = torch.zeros_like(Y); G[:, k] = 1.0
        Y.backward(G, retain_graph=True)
        rows.append(X.grad)
    return torch.stack(rows, dim=1)
""", "stores X.grad itself, zeroed in place", "rows_alias_grad"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    return torch.autograd.functional.jacobian(f, X, vectorize=True)
""", "the Jacobian of the whole batch", "full_batch_jacobian"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    N, m = Y.shape
    J = torch.zeros(N, m, X.shape[1])
    for k in range(m):
        G = torch.zeros_like(Y); G[:, k] = 1.0
        J[:, k] = torch.autograd.grad(Y, X, G, retain_graph=True)[0]
    return J
""", "torch.zeros(N, m, n) without dtype", "wrong_dtype"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    rows = []
    for k in range(Y.shape[1]):
        G = torch.zeros_like(Y); G[:, k] = 1.0
        rows.append(torch.autograd.grad(Y, X, G)[0])
    return torch.stack(rows, dim=1)
""", "no retain_graph", "missing_retain_graph"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    return torch.autograd.grad(Y.sum(), X)[0]
""", "per-sample gradient of the summed outputs", "gradient_of_sum"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    one = lambda x: f(x[None])[0]
    return torch.stack([torch.func.jacfwd(one)(X[s]) for s in range(X.shape[0])])
""", "jacfwd, one sample at a time", "per_sample_loop"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    blocks = []
    for chunk in X.split(2):
        J = torch.func.jacfwd(lambda Z: f(Z).sum(dim=0))(chunk)   # (m, rows, n)
        blocks.append(J.transpose(0, 1))
    return torch.cat(blocks)
""", "jacfwd of the summed outputs, two samples at a time", "per_sample_loop"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    J = torch.func.jacrev(f)(X)                  # (N, m, N, n)
    s = torch.arange(X.shape[0])
    return J[s, :, s, :]
""", "full jacrev, then its diagonal blocks", "formed_batch_jacobian"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    J = torch.autograd.functional.jacobian(f, X)  # (N, m, N, n)
    return torch.einsum("imin->imn", J)
""", "autograd.functional.jacobian of the whole batch, then its diagonal", "formed_batch_jacobian"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    return torch.func.jacfwd(lambda Z: f(Z).sum(dim=0))(X).permute(1, 0, 2)
""", "jacfwd of the summed outputs: a tangent per input of every sample", "formed_batch_jacobian"),
    Impl("batched_jacobian", """
def batched_jacobian(f, X):
    h = 1e-6
    columns = []
    for j in range(X.shape[1]):
        D = torch.zeros_like(X); D[:, j] = h
        columns.append((f(X + D) - f(X - D)) / (2 * h))
    return torch.stack(columns, dim=2)
""", "central differences, one input column for all samples", "finite_differences"),
    # ---------------------------------------------------------------- matrix_function_derivative
    Impl("matrix_function_derivative", """
import itertools
def matrix_function_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.stack([x**i for i in range(6)]).view(3, 2)
    derivatives = torch.zeros_like(y)
    for i, j in itertools.product(range(3), range(2)):
        v = torch.zeros_like(y)
        v[i, j] = 1.0
        y.backward(v, retain_graph=True)
        derivatives[i, j] = x.grad.item()
    return derivatives.detach()
""", "the tutorial's loop without zeroing", "cumulative_rows"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    return torch.stack([x**i for i in range(6)]).reshape(3, 2)
""", "returns f(x)", "returned_function_value"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    f = lambda s: torch.stack([s**k for k in range(6)])
    return torch.func.jacrev(f)(x).reshape(2, 3)
""", "shape (2, 3)", "matrix_derivative_shape"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    f = lambda s: torch.stack([s**k for k in range(6)])
    return torch.func.jacrev(f)(x)
""", "flattened, shape (6,)", "matrix_derivative_shape"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.stack([x**i for i in range(6)]).reshape(3, 2)
    y.backward(torch.ones_like(y))
    return x.grad
""", "one pass with ones", "summed_entries"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    return torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=x.dtype)
""", "the answer at x = 1, hard-coded", "hard_coded"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.stack([x**i for i in range(6)]).reshape(3, 2)
    D = torch.zeros(3, 2)
    for i in range(3):
        for j in range(2):
            v = torch.zeros_like(y); v[i, j] = 1.0
            D[i, j] = torch.autograd.grad(y, x, v, retain_graph=True)[0]
    return D
""", "torch.zeros(3, 2) without dtype", "wrong_dtype"),
    Impl("matrix_function_derivative", """
def matrix_function_derivative(x):
    x.requires_grad_(True)
    y = torch.stack([x**i for i in range(6)]).reshape(3, 2)
    return torch.stack([torch.autograd.grad(y.reshape(-1)[k], x, retain_graph=True)[0] for k in range(6)]).reshape(3, 2)
""", "the caller's x as the leaf", "modified_input"),
]


# Diagnoses from the evidence (issue 10, class 6).
WRONG += [
    Impl("jacobian_forward", """
def jacobian_forward(f, x):
    h = 1e-2
    columns = []
    for j in range(x.numel()):
        e = torch.zeros_like(x)
        e[j] = h
        columns.append((f(x + e) - f(x - e)) / (2 * h))
    return torch.stack(columns, dim=1)
""", "central differences column by column", "finite_difference_values"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    h = 1e-3
    fx = f(x)
    J = torch.empty(fx.numel(), x.numel(), dtype=x.dtype)
    for j in range(x.numel()):
        xp = x.clone()
        xp[j] += h
        J[:, j] = (f(xp) - fx) / h
    return J
""", "forward differences", "finite_difference_values"),
    Impl("jacobian_reverse", """
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x).detach().requires_grad_()
    rows = []
    for i in range(y.numel()):
        e = torch.zeros_like(y)
        e[i] = 1
        g, = torch.autograd.grad(y, x, e, retain_graph=True, allow_unused=True)
        rows.append(g if g is not None else torch.zeros_like(x))
    return torch.stack(rows)
""", "detached y, zeros for the missing rows", "graph_cut"),
]
