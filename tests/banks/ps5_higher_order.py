"""Implementations of the ps5_higher_order functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- second_derivative_at_points
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    (d1,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True)
    (d2,) = torch.autograd.grad(d1, x, grad_outputs=torch.ones_like(d1))
    return d2
""", "autograd.grad twice with grad_outputs=ones"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    return x.grad.detach()
""", "backward twice, clearing .grad in between"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    return torch.func.vmap(torch.func.grad(torch.func.grad(f)))(xs)
""", "torch.func: vmap(grad(grad(f)))"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    H = torch.autograd.functional.hessian(lambda t: f(t).sum(), xs)
    return torch.diagonal(H).clone()
""", "diagonal of torch.autograd.functional.hessian of the sum"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    first = torch.func.grad(lambda t: f(t).sum())
    return torch.func.jacfwd(first)(xs).diagonal().clone()
""", "jacfwd of torch.func.grad, diagonal"),
    Impl("second_derivative_at_points", """
import warnings
def second_derivative_at_points(f, xs):
    print("computing f'' at", xs.numel(), "points")
    warnings.warn("a warning must not cost points")
    out = []
    for point in xs:
        p = point.detach().clone().requires_grad_(True)
        (d1,) = torch.autograd.grad(f(p), p, create_graph=True)
        (d2,) = torch.autograd.grad(d1, p)
        out.append(d2)
    return torch.stack(out).reshape(xs.shape)
""", "one point at a time, prints and warns"),
    # ---------------------------------------------------------------- hessian
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.stack([torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(x.numel())])
""", "gradient of each entry of g"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(create_graph=True)
    g = x.grad
    n = x.numel()
    H = torch.zeros(n, n, dtype=x.dtype)
    for i in range(n):
        x.grad = None
        g[i].backward(retain_graph=True)
        H[i] = x.grad.detach()
    return H
""", "backward per row, .grad cleared each time"),
    Impl("hessian", """
def hessian(f, x):
    return torch.func.hessian(f)(x)
""", "torch.func.hessian"),
    Impl("hessian", """
def hessian(f, x):
    return torch.func.jacfwd(torch.func.jacrev(f))(x)
""", "jacfwd(jacrev(f))"),
    Impl("hessian", """
def hessian(f, x):
    return torch.autograd.functional.hessian(f, x)
""", "torch.autograd.functional.hessian"),
    Impl("hessian", """
def hessian(f, x):
    def gradient(t):
        return torch.autograd.grad(f(t), t, create_graph=True)[0]
    return torch.autograd.functional.jacobian(gradient, x)
""", "autograd.functional.jacobian of the gradient"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    eye = torch.eye(x.numel(), dtype=x.dtype)
    (H,) = torch.autograd.grad(g, x, grad_outputs=eye, is_grads_batched=True)
    return H
""", "all rows at once with is_grads_batched"),
    # ---------------------------------------------------------------- hvp
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.autograd.grad(g, x, grad_outputs=v)[0]
""", "VJP of the gradient with v"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
""", "forward over reverse: jvp(grad(f))"),
    Impl("hvp", """
def hvp(f, x, v):
    _, pullback = torch.func.vjp(torch.func.grad(f), x)
    return pullback(v)[0]
""", "reverse over reverse: vjp(grad(f))"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.autograd.functional.hvp(f, x, v)[1]
""", "torch.autograd.functional.hvp (3 passes)"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.autograd.functional.vhp(f, x, v)[1]
""", "torch.autograd.functional.vhp (H is symmetric)"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(create_graph=True)
    g = x.grad
    x.grad = None
    (g @ v).backward()
    return x.grad.detach().clone()
""", "backward twice, .grad cleared in between"),
    Impl("hvp", """
import torch.autograd.forward_ad as fwAD
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    with fwAD.dual_level():
        (g,) = torch.autograd.grad(f(fwAD.make_dual(x, v)), x, create_graph=True)
        return fwAD.unpack_dual(g).tangent.detach()
""", "forward_ad dual numbers over autograd.grad"),
    # ---------------------------------------------------------------- mixed_partial
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    out = f(x, y)
    gx, gy = torch.autograd.grad(out, (x, y), grad_outputs=torch.ones_like(out), create_graph=True)
    (gxy,) = torch.autograd.grad(gx, y, grad_outputs=torch.ones_like(gx), allow_unused=True)
    return torch.zeros_like(y) if gxy is None else gxy
""", "the tutorial's call, fixed: create_graph and inputs=y; None → zeros"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(f(x, y).sum(), y, create_graph=True)
    (gyx,) = torch.autograd.grad(gy.sum(), x, allow_unused=True, materialize_grads=True)
    return gyx.detach()
""", "∂/∂x of ∂f/∂y (the other order)"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    return torch.func.vmap(torch.func.grad(torch.func.grad(f, argnums=0), argnums=1))(x, y)
""", "torch.func: vmap(grad(grad(f, 0), 1))"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    H = torch.autograd.functional.hessian(lambda a, b: f(a, b).sum(), (x, y), vectorize=True)
    return torch.diagonal(H[0][1]).clone()
""", "off-diagonal block of torch.autograd.functional.hessian"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    f(x, y).sum().backward(create_graph=True)
    gx = x.grad
    x.grad = None
    y.grad = None
    if gx.grad_fn is None:
        return torch.zeros_like(y).detach()
    try:
        gx.sum().backward(inputs=[y])
    except RuntimeError:
        return torch.zeros_like(y).detach()
    return (y.grad if y.grad is not None else torch.zeros_like(y)).detach()
""", "backward with inputs=[y]"),
]

WRONG = [
    # ---------------------------------------------------------------- second_derivative_at_points
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return d2
""", "first pass without create_graph", "missing_create_graph"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).sum().backward()
    x.grad.sum().backward()
    return x.grad
""", "backward twice without create_graph", "missing_create_graph"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    return d1.detach()
""", "stops after the first derivative", "returned_first_derivative"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    y = f(x)
    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    return y.detach()
""", "returns f(xs)", "returned_function_value"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True)
    return d2
""", "second pass also with create_graph, result not detached", "not_detached"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    xs.requires_grad_(True)
    (d1,) = torch.autograd.grad(f(xs).sum(), xs, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), xs)
    return d2
""", "makes the caller's xs require grad", "modified_input"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x)
    d1.requires_grad_(True)
    (d2,) = torch.autograd.grad(d1.sum(), x, allow_unused=True, materialize_grads=True)
    return d2
""", "re-marks the constant f′ and lets allow_unused fill zeros", "disconnected_zeros"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).sum().backward(create_graph=True)
    x.grad.sum().backward()
    return x.grad.detach()
""", "second backward adds into .grad that holds f′", "first_derivative_in_grad"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    return second.detach().double()
""", "right values, returned as float64", "wrong_dtype"),
    # ---------------------------------------------------------------- hessian
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return g.detach()
""", "returns the gradient", "returned_gradient"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.autograd.grad(g, x, grad_outputs=torch.ones_like(g))[0]
""", "one second pass with an upstream vector of ones", "hessian_times_ones"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    n = x.numel()
    H = torch.zeros(n, n, dtype=x.dtype)
    for i in range(n):
        H[i, i] = torch.autograd.grad(g[i], x, retain_graph=True)[0][i]
    return H
""", "keeps only ∂²f/∂xᵢ²", "diagonal_only"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    rows = []
    for i in range(x.numel()):
        g[i].backward(retain_graph=True)
        rows.append(x.grad.clone())
    return torch.stack(rows)
""", "rows by backward without clearing .grad", "cumulative_rows"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    rows = []
    for i in range(x.numel()):
        g[i].backward(retain_graph=True)
        rows.append(x.grad)
    return torch.stack(rows)
""", "appends x.grad itself for every row", "rows_share_grad"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return torch.stack([torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(x.numel())])
""", "gradient without create_graph", "missing_create_graph"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.stack([torch.autograd.grad(g[i], x)[0] for i in range(x.numel())])
""", "row passes without retain_graph", "missing_retain_graph"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(create_graph=True)
    g = x.grad
    rows = []
    for i in range(x.numel()):
        g[i].backward(retain_graph=True)
        rows.append(x.grad.detach().clone())
    return torch.stack(rows)
""", "rows added into the .grad that holds ∇f", "first_derivative_in_grad"),
    Impl("hessian", """
def hessian(f, x):
    x.requires_grad_(True)
    return torch.func.hessian(f)(x.detach())
""", "marks the caller's x", "modified_input"),
    Impl("hessian", """
def hessian(f, x):
    n = x.numel()
    H = torch.zeros(n, n)                      # default dtype, not x's
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    for i in range(n):
        (row,) = torch.autograd.grad(g[i], x, retain_graph=True)
        H[i] = row
    return H
""", "right values in a default-dtype result", "wrong_dtype"),
    # ---------------------------------------------------------------- hvp
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g * v
""", "∇f ⊙ v", "hv_elementwise"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return g.detach()
""", "returns the gradient", "returned_gradient"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return torch.autograd.grad(g @ v, x)[0]
""", "gradient without create_graph", "missing_create_graph"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g @ v
""", "returns the scalar vᵀ∇f", "directional_derivative"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    rows = [torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(x.numel())]
    return torch.stack(rows) @ v
""", "forms H row by row, then H @ v", "formed_hessian"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.func.hessian(f)(x)
""", "returns H", "returned_hessian"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(create_graph=True)
    (x.grad @ v).backward()
    return x.grad.detach().clone()
""", "second backward adds into the .grad holding ∇f", "first_derivative_in_grad"),
    Impl("hvp", """
_leaves = {}
def hvp(f, x, v):
    leaf = _leaves.get((x.shape, x.dtype))
    if leaf is None:
        leaf = _leaves[(x.shape, x.dtype)] = torch.zeros_like(x, requires_grad=True)
    with torch.no_grad():
        leaf.copy_(x)
    (g,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
    (g @ v).backward()
    return leaf.grad.clone()
""", "a cached leaf whose .grad accumulates across calls", "accumulated_twice"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.autograd.grad(g.sum(), x)[0]
""", "ignores v (H·1)", "hessian_times_ones"),
    Impl("hvp", """
def hvp(f, x, v):
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.autograd.grad(g @ v, x)[0]
""", "uses the caller's x as the leaf", "modified_input"),
    # ---------------------------------------------------------------- mixed_partial
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    out = f(x, y)
    gx, gy = torch.autograd.grad(out, (x, y), grad_outputs=torch.ones_like(out), create_graph=True)
    (gxx,) = torch.autograd.grad(gx, (x,), grad_outputs=torch.ones_like(gx))
    return gxx
""", "the tutorial's second call with create_graph added: still w.r.t. x", "xx_instead_of_xy"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(f(x, y).sum(), y, create_graph=True)
    return torch.autograd.grad(gy.sum(), y)[0]
""", "∂/∂y of ∂f/∂y", "yy_instead_of_xy"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(x, y).sum(), x)[0]
""", "returns ∂f/∂x", "returned_dx"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    gx, gy = torch.autograd.grad(f(x, y).sum(), (x, y))
    return gy
""", "returns ∂f/∂y", "returned_dy"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    out = f(x, y)
    grad_x, grad_y = torch.autograd.grad(outputs=out, inputs=(x, y), grad_outputs=torch.ones_like(out))
    (grad_xy,) = torch.autograd.grad(outputs=grad_x, inputs=(y,), grad_outputs=torch.ones_like(grad_x))
    return grad_xy
""", "the tutorial's error: first call without create_graph", "missing_create_graph"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x.requires_grad_(True)
    y.requires_grad_(True)
    (gx,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
    return torch.autograd.grad(gx.sum(), y, allow_unused=True, materialize_grads=True)[0]
""", "marks the caller's x and y", "modified_input"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    f(x, y).sum().backward(create_graph=True)
    x.grad.sum().backward()
    return y.grad.detach()
""", "y.grad still holds ∂f/∂y", "first_derivative_in_grad"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
    return torch.autograd.grad(gx.sum(), y)[0]
""", "no zeros for a separable f", "unused_input"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
    if not dx.requires_grad:
        return torch.zeros(x.shape)
    (dxy,) = torch.autograd.grad(dx.sum(), y, allow_unused=True, materialize_grads=True)
    return dxy.detach().to(torch.get_default_dtype())
""", "right values, returned in the default dtype", "wrong_dtype"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
    if not dx.requires_grad:
        return torch.zeros_like(x)
    (dxy,) = torch.autograd.grad(dx.sum(), y, create_graph=True, allow_unused=True, materialize_grads=True)
    return dxy
""", "create_graph=True on the second pass too: the result is not detached", "not_detached"),
]

# merged from issue10-c
CORRECT += [
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    print("f' at the points:", torch.autograd.grad(f(x).sum(), x)[0])    # an extra pass, for the printout
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return d2
""", "an extra first-derivative pass for a printout"),
    Impl("hvp", """
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    print("vᵀ∇f =", float(g @ v), " check:", torch.autograd.grad(g @ v, x, retain_graph=True)[0])
    return torch.autograd.grad(g @ v, x)[0]
""", "double backward, with an extra second-order pass for a printout"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.func.grad(lambda t: torch.func.jvp(f, (t,), (v,))[1])(x)
""", "reverse over forward: grad of jvp"),
    Impl("hvp", """
def hvp(f, x, v):
    print("H v by torch.autograd.functional.hvp:", torch.autograd.functional.hvp(f, x, v)[1])
    return torch.autograd.functional.vhp(f, x, v)[1]
""", "functional.vhp, after printing functional.hvp"),
]

# merged from issue10-c
WRONG += [
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    h = 1e-4
    return (f(xs + h) - 2 * f(xs) + f(xs - h)) / h**2
""", "central second difference of f", "finite_differences"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    def first(t):
        t = t.detach().clone().requires_grad_(True)
        f(t).sum().backward()
        return t.grad
    h = 1e-6
    return (first(xs + h) - first(xs - h)) / (2 * h)
""", "differences of autograd's first derivative", "finite_differences"),
    Impl("hessian", """
def hessian(f, x):
    def grad(z):
        z = z.detach().requires_grad_(True)
        return torch.autograd.grad(f(z), z)[0]
    h = 1e-6
    eye = torch.eye(x.numel(), dtype=x.dtype)
    return torch.stack([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in eye])
""", "differences of autograd gradients", "finite_differences"),
    Impl("hvp", """
def hvp(f, x, v):
    return torch.func.hessian(f)(x) @ v
""", "torch.func.hessian, then H @ v", "formed_hessian"),
    Impl("hvp", """
def hvp(f, x, v):
    H = torch.autograd.functional.hessian(f, x)
    return H @ v
""", "torch.autograd.functional.hessian, then H @ v", "formed_hessian"),
    Impl("hvp", """
def hvp(f, x, v):
    H = torch.autograd.functional.hessian(f, x, vectorize=True)
    return torch.mv(H, v)
""", "vectorised functional.hessian, then H v", "formed_hessian"),
    Impl("hvp", """
def hvp(f, x, v):
    eps = 1e-6
    def grad(z):
        z = z.detach().requires_grad_(True)
        return torch.autograd.grad(f(z), z)[0]
    return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
""", "central difference of autograd gradients along v", "finite_differences"),
    Impl("hvp", """
def hvp(f, x, v):
    h = 1e-4
    def gradient(z):
        return torch.stack([(f(z + h * e) - f(z - h * e)) / (2 * h) for e in torch.eye(z.numel(), dtype=z.dtype)])
    return (gradient(x + h * v) - gradient(x - h * v)) / (2 * h)
""", "central differences of f only", "finite_differences"),
    Impl("mixed_partial", """
def mixed_partial(f, x, y):
    h = 1e-4
    return (f(x + h, y + h) - f(x + h, y - h) - f(x - h, y + h) + f(x - h, y - h)) / (4 * h * h)
""", "central mixed difference of f", "finite_differences"),
]


# Diagnoses from the evidence (issue 10, class 6).
WRONG += [
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    g = g.detach().requires_grad_(True)
    g2, = torch.autograd.grad(g.sum(), x, allow_unused=True)
    return g2
""", "detached the first derivative, allow_unused gives None", "graph_cut"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    g = g.detach()
    g.sum().backward()
    return x.grad.detach()
""", "backward through a detached first derivative", "graph_cut"),
    Impl("hessian", """
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    g, = torch.autograd.grad(f(x), x, create_graph=True)
    g = g.data
    rows = [torch.autograd.grad(g[i], x, retain_graph=True)[0] for i in range(x.numel())]
    return torch.stack(rows)
""", "took .data of the gradient", "graph_cut"),
    Impl("second_derivative_at_points", """
def second_derivative_at_points(f, xs):
    h = 1e-2
    return (f(xs + h) - 2 * f(xs) + f(xs - h)) / h ** 2
""", "second differences of f", "finite_difference_values"),
    Impl("hessian", """
def hessian(f, x):
    h = 1e-2
    def grad(p):
        p = p.detach().clone().requires_grad_(True)
        return torch.autograd.grad(f(p), p)[0]
    cols = []
    for i in range(x.numel()):
        e = torch.zeros_like(x)
        e[i] = h
        cols.append((grad(x + e) - grad(x - e)) / (2 * h))
    return torch.stack(cols, dim=1)
""", "central differences of the autograd gradient", "finite_difference_values"),
    Impl("hvp", """
def hvp(f, x, v):
    eps = 1e-2
    def grad(p):
        p = p.detach().clone().requires_grad_(True)
        g, = torch.autograd.grad(f(p), p)
        return g
    return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
""", "directional difference of the gradient", "finite_difference_values"),
]
