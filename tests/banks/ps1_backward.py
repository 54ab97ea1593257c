"""Implementations of the ps1_backward functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- derivative_at_points
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(y))
    return x.grad
""", "backward with a gradient of ones"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.clone().requires_grad_()
    f(x).sum().backward()
    return x.grad.detach()
""", "sum() then backward()"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().requires_grad_(True)
    y = f(x)
    (d,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y))
    return d
""", "autograd.grad with grad_outputs"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    return torch.func.vmap(torch.func.grad(f))(xs)
""", "torch.func.vmap(grad(f)) point by point"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    return torch.autograd.functional.jacobian(f, xs).diagonal().clone()
""", "diagonal of the Jacobian"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    _, tangent_out = torch.func.jvp(f, (xs,), (torch.ones_like(xs),))
    return tangent_out
""", "forward mode: one JVP with a tangent of ones"),
    Impl("derivative_at_points", """
import warnings
def derivative_at_points(f, xs):
    print("points:", xs)
    warnings.warn("printing and warning must not cost points")
    out = []
    for p in xs:
        p = p.detach().clone().requires_grad_(True)
        f(p).backward()
        print("f'(", float(p), ") =", float(p.grad))
        out.append(p.grad)
    return torch.stack(out)
""", "one scalar backward per point, with prints"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    xs.requires_grad_(True)
    try:
        f(xs).sum().backward()
        return xs.grad.clone()
    finally:
        xs.grad = None
        xs.requires_grad_(False)
""", "borrows the caller's xs and restores it"),
    # ---------------------------------------------------------------- batch_gradient
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    y = f(X)
    return torch.autograd.grad(y, X, grad_outputs=torch.ones_like(y))[0]
""", "autograd.grad with grad_outputs = ones"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    leaf = X.clone().requires_grad_()
    f(leaf).sum().backward()
    return leaf.grad
""", "sum() then backward()"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    single = lambda row: f(row.unsqueeze(0))[0]
    return torch.func.vmap(torch.func.grad(single))(X)
""", "torch.func.vmap over the rows"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    rows = []
    for i in range(X.shape[0]):
        row = X[i:i + 1].detach().clone().requires_grad_(True)
        f(row).backward()
        rows.append(row.grad[0])
    return torch.stack(rows)
""", "a loop over the samples"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    J = torch.func.jacrev(f)(X)            # (N, N, n), zero off the diagonal
    return J.sum(dim=0)
""", "full jacrev, summed over the outputs"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    y = f(X)
    _, g = torch.autograd.functional.vjp(f, X, torch.ones_like(y))
    print("shape of the gradient:", tuple(g.shape))
    return g
""", "torch.autograd.functional.vjp, with a print"),
    # ---------------------------------------------------------------- chain_rule_grads
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    y.retain_grad()
    z = (y ** 2).sum()
    z.backward()
    return x.grad, y.grad
""", "retain_grad and backward"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.clone().requires_grad_()
    y = 2 * x
    z = y.pow(2).sum()
    dx, dy = torch.autograd.grad(z, (x, y))
    return (dx, dy)
""", "autograd.grad with respect to (x, y)"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    y = 2 * x
    dz_dy = 2 * y
    dz_dx = dz_dy * 2
    return dz_dx, dz_dy
""", "analytic chain rule"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().requires_grad_(True)
    y = torch.mul(x, 2)
    z = torch.sum(y * y)
    z.backward(inputs=[x, y])
    print("x.grad:", x.grad, "y.grad:", y.grad)
    return [x.grad, y.grad]
""", "backward(inputs=[x, y]) returning a list, with a print"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    seen = {}
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    y.register_hook(lambda g: seen.setdefault("dy", g))
    (y ** 2).sum().backward()
    return x.grad, seen["dy"]
""", "a tensor hook on y"),
    Impl("chain_rule_grads", """
from torch.func import grad
def chain_rule_grads(x):
    z_of_y = lambda y: (y ** 2).sum()
    dz_dy = grad(z_of_y)(2 * x)
    dz_dx = grad(lambda t: z_of_y(2 * t))(x)
    return dz_dx, dz_dy
""", "torch.func.grad of z(y) and of z(y(x))"),
]

WRONG = [
    # ---------------------------------------------------------------- derivative_at_points
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(y))
    return y.detach()
""", "returns f(x)", "returned_function_value"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).mean().backward()
    return x.grad
""", "mean() instead of sum()", "mean_instead_of_sum"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(y), retain_graph=True)
    y.backward(torch.ones_like(y))
    return x.grad
""", "two backward calls", "accumulated_twice"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    return d
""", "create_graph=True: the result still requires grad", "not_detached"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    xs.requires_grad_(True)
    f(xs).sum().backward()
    return xs.grad
""", "uses the caller's xs as the leaf", "modified_input"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    xs.requires_grad_(True)
    f(xs).sum().backward()
    return xs.grad
""", "the caller's xs accumulates over calls", "accumulated_twice"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).backward()
    return x.grad
""", "backward() without a gradient on a vector", "upstream_missing"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(x.detach())
    return x.grad
""", "the points passed as the gradient argument", "gradient_is_points"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    return f(x).sum().backward()
""", "returns what backward() returns", "returned_none"),
    Impl("derivative_at_points", """
_leaf = {}
def derivative_at_points(f, xs):
    leaf = _leaf.setdefault((xs.shape, xs.dtype), torch.zeros_like(xs, requires_grad=True))
    with torch.no_grad():
        leaf.copy_(xs)
    if leaf.grad is not None:
        leaf.grad.zero_()
    f(leaf).sum().backward()
    return leaf.grad
""", "returns a reused leaf's .grad", "alias_of_grad"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = torch.tensor(xs.tolist(), dtype=torch.float32, requires_grad=True)
    f(x).sum().backward()
    return x.grad
""", "rebuilt as float32", "wrong_dtype"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    # ---------------------------------------------------------------- batch_gradient
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    f(X).mean().backward()
    return X.grad
""", "mean over the batch", "mean_instead_of_sum"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    y = f(X)
    return torch.autograd.grad(y, X, torch.ones_like(y))[0].T
""", "transposed result", "batch_transposed"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    f(X).backward()
    return X.grad
""", "backward() without a gradient on the batch output", "upstream_missing"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X.requires_grad_(True)
    f(X).sum().backward()
    return X.grad
""", "the caller's X accumulates over calls", "accumulated_twice"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X.requires_grad_(True)
    y = f(X)
    return torch.autograd.grad(y, X, torch.ones_like(y))[0]
""", "switches on requires_grad of the caller's X", "modified_input"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    y = f(X)
    y.backward(torch.ones_like(y))
    return y.detach()
""", "returns f(X)", "returned_function_value"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    x1, x2 = X[:, 0], X[:, 1]
    c = torch.cos(x1 * x2 ** 2)
    return torch.stack((x2 + x2 ** 2 * c, x1 + 2 * x1 * x2 * c), dim=1)
""", "the tutorial's hand-derived formula", "hard_coded"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    y = f(X)
    y.backward(torch.ones_like(y))
""", "forgot to return", "returned_none"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    grads = torch.zeros(X.shape)              # default dtype, not X's
    X = X.detach().clone().requires_grad_(True)
    f(X).sum().backward()
    grads[:] = X.grad
    return grads
""", "right values in a default-dtype result", "wrong_dtype"),
    # ---------------------------------------------------------------- chain_rule_grads
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    z = (y ** 2).sum()
    z.backward()
    return x.grad, y.grad
""", "reads y.grad without retain_grad", "non_leaf_grad_none"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    z = (y ** 2).sum()
    z.backward()
    y.retain_grad()
    return x.grad, y.grad
""", "retain_grad after backward", "non_leaf_grad_none"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    y.retain_grad()
    (y ** 2).sum().backward()
    return y.grad, x.grad
""", "pair swapped", "swapped_pair"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    y = 2 * x
    return 2 * y, 2 * y
""", "analytic, inner factor forgotten", "chain_factor_missing"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    return 8 * x, 2 * x
""", "outer derivative at x", "outer_at_x"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    z = ((2 * x) ** 2).sum()
    z.backward()
    return x.grad, x.grad
""", "x.grad twice", "dzdx_as_dzdy"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x.requires_grad_(True)
    y = 2 * x
    y.retain_grad()
    (y ** 2).sum().backward()
    return x.grad, y.grad
""", "the caller's x accumulates over calls", "accumulated_twice"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x.requires_grad_(True)
    y = 2 * x
    dx, dy = torch.autograd.grad((y ** 2).sum(), (x, y))
    return dx, dy
""", "switches on requires_grad of the caller's x", "modified_input"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    return torch.stack((8 * x, 4 * x))
""", "one stacked tensor instead of a pair", "wrong_values"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().to(torch.get_default_dtype()).requires_grad_(True)
    y = 2 * x
    y.retain_grad()
    (y ** 2).sum().backward()
    return x.grad, y.grad
""", "right values, computed in the default dtype", "wrong_dtype"),
]

# merged from issue10-c
CORRECT += [
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    print("sum of f':", torch.autograd.grad(y.sum(), x, retain_graph=True)[0].sum().item())
    y.backward(torch.ones_like(y))
    return x.grad
""", "an extra autograd.grad for a printout, then backward"),
]

# merged from issue10-c
WRONG += [
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    h = 1e-6
    return (f(xs + h) - f(xs - h)) / (2 * h)
""", "central differences", "finite_differences"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    h = 1e-5
    out = torch.empty_like(xs)
    for i in range(xs.numel()):
        x = xs[i].item()
        out[i] = (f(torch.tensor(x + h, dtype=xs.dtype)) - f(torch.tensor(x - h, dtype=xs.dtype))) / (2 * h)
    return out
""", "central differences point by point", "finite_differences"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    h = 1e-6
    columns = []
    for j in range(X.shape[1]):
        D = torch.zeros_like(X); D[:, j] = h
        columns.append((f(X + D) - f(X - D)) / (2 * h))
    return torch.stack(columns, dim=1)
""", "central differences, one coordinate for all samples", "finite_differences"),
]


# Diagnoses from the evidence (issue 10, class 6): a cut graph is named as the cause of the missing gradient,
# and a finite-difference approximation by the pattern of its error.
WRONG += [
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x).detach().requires_grad_(True)
    y.backward(torch.ones_like(y))
    return x.grad
""", "detached the output, made it require grad again, returned None", "graph_cut"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.clone().requires_grad_(True)
    y = f(x.data)
    y.sum().backward()
    return x.grad
""", "computed from x.data: backward on a tensor outside the graph", "graph_cut"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    with torch.no_grad():
        y = f(x)
    y.requires_grad_()
    y.sum().backward()
    return x.grad if x.grad is not None else torch.zeros_like(x)
""", "f evaluated under no_grad, zeros when the gradient is missing", "graph_cut"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = (2 * x).detach().requires_grad_(True)
    z = (y ** 2).sum()
    z.backward()
    return x.grad, y.grad
""", "y detached to read y.grad: dz/dx is None", "graph_cut"),
    Impl("chain_rule_grads", """
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    y_leaf = y.detach().requires_grad_()
    z = (y_leaf ** 2).sum()
    dz_dy, = torch.autograd.grad(z, y_leaf, retain_graph=True)
    dz_dx, = torch.autograd.grad(z, x, allow_unused=True)
    return dz_dx, dz_dy
""", "allow_unused hid the cut between y and x", "graph_cut"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    y = f(X)
    with torch.no_grad():
        y = y * 1.0
    y.requires_grad_()
    y.sum().backward()
    return X.grad if X.grad is not None else torch.zeros_like(X)
""", "a step under no_grad between f and backward", "graph_cut"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    h = 1e-2
    return (f(xs + h) - f(xs - h)) / (2 * h)
""", "central differences with h = 1e-2", "finite_difference_values"),
    Impl("derivative_at_points", """
def derivative_at_points(f, xs):
    eps = 5e-3
    with torch.no_grad():
        return (f(xs + eps) - f(xs)) / eps
""", "forward differences with a small step", "finite_difference_values"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    h = 1e-3
    cols = []
    for j in range(X.shape[1]):
        e = torch.zeros_like(X)
        e[:, j] = h
        cols.append((f(X + e) - f(X)) / h)
    return torch.stack(cols, dim=1)
""", "forward differences column by column", "finite_difference_values"),
    Impl("batch_gradient", """
def batch_gradient(f, X):
    step = 0.02
    grads = torch.empty_like(X)
    for j in range(X.shape[1]):
        shift = torch.zeros_like(X)
        shift[:, j] = step
        grads[:, j] = (f(X + shift) - f(X - shift)) / (2 * step)
    return grads
""", "central differences into a preallocated tensor", "finite_difference_values"),
]
