"""One typical wrong implementation per graded function, as a student might write it.

The demo's partly-wrong student submits these; the tests check that the feedback names each mistake.
"""

from __future__ import annotations

# function name -> (misconception the feedback should name, source of the wrong implementation)
MISTAKES: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- ps1_backward
    "derivative_at_points": ("mean_instead_of_sum", '''
def derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    f(x).mean().backward()
    return x.grad
'''),
    "batch_gradient": ("mean_instead_of_sum", '''
def batch_gradient(f, X):
    X = X.detach().clone().requires_grad_(True)
    f(X).mean().backward()
    return X.grad
'''),
    "chain_rule_grads": ("non_leaf_grad_none", '''
def chain_rule_grads(x):
    x = x.detach().clone().requires_grad_(True)
    y = 2 * x
    z = (y ** 2).sum()
    z.backward()
    return x.grad, y.grad
'''),
    # ---------------------------------------------------------------- ps2_vjp
    "vjp": ("jv_instead_of_vjp", '''
def vjp(f, x, v):
    J = torch.autograd.functional.jacobian(f, x).reshape(-1, x.numel())
    return (J @ v.reshape(-1)).reshape(x.shape)
'''),
    "weighted_upstream": ("weight_on_column", '''
def weighted_upstream(out):
    v = torch.zeros_like(out)
    v[:, 0] = 1.0
    return v
'''),
    "weighted_sensitivity": ("upstream_ignored", '''
def weighted_sensitivity():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 10).pow(3).t()
    v = weighted_upstream(out)
    out.backward(torch.ones_like(out))
    return v, inp.grad
'''),
    "linear_vjp": ("no_autograd", '''
def linear_vjp(A, v):
    return A.T @ v
'''),
    # ---------------------------------------------------------------- ps3_accumulation
    "backward_n_times": ("zeroed_between_calls", '''
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        inp.grad = None
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
'''),
    "fresh_vjp": ("stale_grad_included", '''
def fresh_vjp(out, inp, v):
    out.backward(v, retain_graph=True)
    return inp.grad.clone()
'''),
    "accumulate_minibatches": ("mean_over_batches", '''
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    loss = sum(loss_fn(w, b) for b in batches) / len(batches)
    loss.backward()
    return w.grad
'''),
    "zero_grads": ("local_rebinding", '''
def zero_grads(tensors):
    for t in tensors:
        g = t.grad
        if g is not None:
            g = torch.zeros_like(g)
'''),
    # ---------------------------------------------------------------- ps4_jacobians
    "jacobian_reverse": ("cumulative_rows", '''
def jacobian_reverse(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for i in range(y.numel()):
        e = torch.zeros_like(y)
        e[i] = 1.0
        y.backward(e, retain_graph=True)
        rows.append(x.grad.clone())
    return torch.stack(rows)
'''),
    "jacobian_forward": ("reverse_instead_of_forward", '''
def jacobian_forward(f, x):
    cols = []
    for j in range(x.numel()):
        t = torch.zeros_like(x)
        t[j] = 1.0
        cols.append(torch.autograd.functional.jvp(f, x, t)[1])
    return torch.stack(cols, dim=1)
'''),
    "batched_jacobian": ("transposed_jacobian", '''
def batched_jacobian(f, X):
    X = X.detach().clone().requires_grad_(True)
    Y = f(X)
    rows = []
    for k in range(Y.shape[1]):
        g = torch.zeros_like(Y)
        g[:, k] = 1.0
        rows.append(torch.autograd.grad(Y, X, g, retain_graph=True)[0])
    return torch.stack(rows, dim=2)
'''),
    "matrix_function_derivative": ("cumulative_rows", '''
def matrix_function_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.stack([x ** i for i in range(6)]).view(3, 2)
    d = torch.zeros_like(y)
    for i in range(3):
        for j in range(2):
            v = torch.zeros_like(y)
            v[i, j] = 1.0
            y.backward(v, retain_graph=True)
            d[i, j] = x.grad
    return d.detach()
'''),
    "cheaper_mode": ("swapped_modes", '''
def cheaper_mode(n_inputs, n_outputs):
    return "reverse" if n_inputs < n_outputs else "forward"
'''),
    # ---------------------------------------------------------------- ps5_higher_order
    "second_derivative_at_points": ("missing_create_graph", '''
def second_derivative_at_points(f, xs):
    x = xs.detach().clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(f(x).sum(), x)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return d2
'''),
    "hessian": ("hessian_times_ones", '''
def hessian(f, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    (h,) = torch.autograd.grad(g, x, torch.ones_like(g))
    return h
'''),
    "hvp": ("hv_elementwise", '''
def hvp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g * v
'''),
    "mixed_partial": ("xx_instead_of_xy", '''
def mixed_partial(f, x, y):
    x = x.detach().clone().requires_grad_(True)
    y = y.detach().clone().requires_grad_(True)
    (fx,) = torch.autograd.grad(f(x, y).sum(), x, create_graph=True)
    (fxx,) = torch.autograd.grad(fx.sum(), x)
    return fxx
'''),
    # ---------------------------------------------------------------- ps6_training
    "parameter_grads": ("stale_grad_included", '''
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    loss_fn(model(X), y).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
'''),
    "train_step": ("zero_grad_after_step", '''
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()
'''),
    "accumulated_step": ("equal_weights", '''
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    total = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) / len(micro_batches)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total
'''),
    "checkpointed_forward": ("reentrant_checkpoint", '''
def checkpointed_forward(blocks, x):
    for block in blocks:
        x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=True)
    return x
'''),
}
