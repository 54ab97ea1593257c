"""Implementations of the ps3_accumulation functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- backward_n_times
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "loop of out.backward"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5).requires_grad_()
    out = (inp + 1).pow(2).t()
    count = 0
    while count < n:
        torch.autograd.backward(out, torch.ones_like(out), retain_graph=True)
        count += 1
    return inp.grad.clone()
""", "torch.autograd.backward in a while loop, cloned"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    for i in range(n):
        out = (inp + 1).pow(2).t()          # a new graph every time: no retain_graph needed
        out.backward(gradient=torch.ones_like(out))
        print(f"after call {i + 1}:", inp.grad[0])
    return inp.grad
""", "rebuilds the graph each time, prints"),
    Impl("backward_n_times", """
import warnings
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    total = torch.zeros_like(inp)
    for _ in range(n):
        total = total + torch.autograd.grad(out, inp, torch.ones_like(out), retain_graph=True)[0]
    warnings.warn("summing autograd.grad results by hand")
    return total
""", "sums autograd.grad results, warns"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for i in range(n):
        out.sum().backward(retain_graph=i < n - 1)   # keep the graph only while another pass follows
    return inp.grad.detach()
""", "sum().backward, graph kept only while needed"),
    # ---------------------------------------------------------------- accumulate_minibatches
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    for batch in batches:
        loss_fn(w, batch).backward()
    return w.grad
""", "backward per batch after w.grad = None"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    if w.grad is not None:
        w.grad.zero_()
    for b in batches:
        loss = loss_fn(w, b)
        loss.backward()
    return w.grad.clone()
""", "guarded zero_() then backward per batch, cloned"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    total_loss = sum(loss_fn(w, b) for b in batches)
    total_loss.backward()
    return w.grad
""", "one backward of the summed loss"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    grads = [torch.autograd.grad(loss_fn(w, b), w)[0] for b in batches]
    total = torch.stack(grads).sum(dim=0)
    w.grad = total
    return total
""", "autograd.grad per batch, summed, written to w.grad"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    batches = list(batches)
    total = torch.func.grad(lambda p: sum(loss_fn(p, b) for b in batches))(w.detach())
    w.grad = None
    print("gradient norm:", total.norm().item())
    return total
""", "torch.func.grad, w.grad set to None, prints"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    optimizer = torch.optim.SGD([w], lr=0.1)
    optimizer.zero_grad()
    for b in batches:
        loss_fn(w, b).backward()
    return w.grad
""", "an optimizer's zero_grad, no step"),
    # ---------------------------------------------------------------- zero_grads
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        t.grad = None
""", "set to None"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        if t.grad is not None:
            t.grad.detach_()
            t.grad.zero_()
""", "guarded in-place zero_()"),
    Impl("zero_grads", """
def zero_grads(tensors):
    torch.optim.SGD(list(tensors), lr=0.0).zero_grad()
""", "an optimizer's zero_grad"),
    Impl("zero_grads", """
def zero_grads(tensors):
    tensors = list(tensors)
    print(f"clearing {len(tensors)} tensors")
    grads = [t.grad for t in tensors if t.grad is not None]
    if grads:
        torch._foreach_zero_(grads)
""", "list first, then torch._foreach_zero_"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        t.grad = torch.zeros_like(t)
""", "assigns fresh zero tensors"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        if t.grad is not None:
            t.grad.fill_(0.0)
""", "guarded fill_(0)"),
    # ---------------------------------------------------------------- fresh_vjp
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    return torch.autograd.grad(out, inp, grad_outputs=v, retain_graph=True)[0]
""", "autograd.grad with retain_graph"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    inp.grad = None
    out.backward(v, retain_graph=True)
    return inp.grad
""", "backward after inp.grad = None"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    if inp.grad is not None:
        inp.grad.zero_()
    out.backward(v, retain_graph=True)
    return inp.grad.clone()
""", "guarded zero_(), backward, clone"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    stale = inp.grad
    inp.grad = None
    torch.autograd.backward(out, v, retain_graph=True, inputs=[inp])
    result = inp.grad
    inp.grad = stale                  # hand the caller's stale gradient back
    return result
""", "restores the stale gradient"),
    Impl("fresh_vjp", """
import warnings
def fresh_vjp(out, inp, v):
    warnings.warn("weighted sum")
    (g,) = torch.autograd.grad((out * v).sum(), [inp], retain_graph=True)
    return g.detach()
""", "autograd.grad of the weighted sum, warns"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    before = inp.grad.clone() if inp.grad is not None else torch.zeros_like(inp)
    out.backward(v, retain_graph=True)
    return inp.grad - before
""", "subtracts the stale gradient of each call"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    return torch.autograd.grad(out, inp, v, retain_graph=True, create_graph=True)[0]
""", "autograd.grad with create_graph"),
]

WRONG = [
    # ---------------------------------------------------------------- backward_n_times
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        inp.grad = None
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "zeroes between calls", "zeroed_between_calls"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "one pass too many", "wrong_pass_count"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(1, n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad if inp.grad is not None else torch.zeros_like(inp)
""", "one pass too few", "wrong_pass_count"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad.t()
""", "returned in out's layout", "out_shaped_result"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        out.backward(torch.ones_like(out))
    return inp.grad
""", "no retain_graph", "missing_retain_graph"),
    Impl("backward_n_times", """
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
def backward_n_times(n):
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "a global inp", "grad_kept_across_calls"),
    Impl("backward_n_times", """
def backward_n_times(n):
    return n * 2 * (torch.eye(4, 5) + 1)
""", "formula, no backward", "no_autograd"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, dtype=torch.float64, requires_grad=True)
    out = (inp + 1).pow(2).t()
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "float64 instead of the default dtype", "wrong_dtype"),
    Impl("backward_n_times", """
def backward_n_times(n):
    raise NotImplementedError()
""", "the release stub", "not_implemented"),
    # ---------------------------------------------------------------- accumulate_minibatches
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    for b in batches:
        (loss_fn(w, b) / len(batches)).backward()
    return w.grad
""", "divides by the number of batches", "mean_over_batches"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    for b in batches:
        w.grad = None
        loss_fn(w, b).backward()
    return w.grad
""", "zeroes inside the loop", "only_last_batch"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    for b in batches:
        loss_fn(w, b).backward()
        return w.grad
""", "returns inside the loop", "only_first_batch"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    for b in batches:
        loss_fn(w, b).backward()
    return w.grad
""", "keeps the stale gradient", "stale_grad_included"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    return sum(torch.autograd.grad(loss_fn(w, b), w)[0] for b in batches)
""", "functional, leaves the stale w.grad", "stale_grad_left"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    if isinstance(batches[0], torch.Tensor):
        merged = torch.cat(list(batches))
    else:
        merged = tuple(torch.cat(parts) for parts in zip(*batches))
    loss_fn(w, merged).backward()
    return w.grad
""", "concatenates the batches", "merged_batches"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad.zero_()
    for b in batches:
        loss_fn(w, b).backward()
    return w.grad
""", "unguarded w.grad.zero_()", "grad_none_not_checked"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    w.grad = None
    for b in batches:
        loss_fn(w, b).backward()
    grad = w.grad.clone()
    with torch.no_grad():
        w -= 0.1 * grad               # and an SGD step
    return grad
""", "also takes an optimizer step", "modified_input"),
    Impl("accumulate_minibatches", """
def accumulate_minibatches(loss_fn, w, batches):
    total = torch.zeros(w.shape, dtype=torch.float64)
    for b in batches:
        total = total + torch.autograd.grad(loss_fn(w, b), w)[0]
    w.grad = None
    return total
""", "a float64 accumulator for every w", "wrong_dtype"),
    # ---------------------------------------------------------------- zero_grads
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        g = t.grad
        if g is not None:
            g = torch.zeros_like(g)
""", "rebinds a local name", "local_rebinding"),
    Impl("zero_grads", """
def zero_grads(tensors):
    with torch.no_grad():
        for t in tensors:
            t.zero_()
""", "zeroes the values", "zeroed_values"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        t.grad.zero_()
""", "unguarded .grad.zero_()", "grad_none_not_checked"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        if t.grad is not None:
            t.grad.zero_()
            return
""", "returns after the first gradient", "only_first_cleared"),
    Impl("zero_grads", """
def zero_grads(tensors):
    if all(t.grad is None for t in tensors):
        return
    for t in tensors:
        if t.grad is not None:
            t.grad.zero_()
""", "checks the iterable before the loop", "iterated_twice"),
    Impl("zero_grads", """
def zero_grads(tensors):
    print("clearing", len(list(tensors)), "tensors")
    for t in tensors:
        t.grad = None
""", "counts the tensors first", "iterated_twice"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        if t.grad is not None:
            t.grad.mul_(0)
""", "multiplies by zero", "multiplied_by_zero"),
    Impl("zero_grads", """
def zero_grads(tensors):
    for t in tensors:
        t.grad = torch.zeros(t.shape)
""", "fresh zeros in the default dtype", "mixed_dtypes"),
    # ---------------------------------------------------------------- fresh_vjp
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    out.backward(v, retain_graph=True)
    return inp.grad.clone()
""", "keeps the stale gradient", "stale_grad_included"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    out.backward(v, retain_graph=True)
    result = inp.grad.clone()
    inp.grad.zero_()
    return result
""", "zeroes after reading instead of before", "stale_grad_included"),
    Impl("fresh_vjp", """
_first_stale = {}
def fresh_vjp(out, inp, v):
    base = _first_stale.setdefault(id(inp), inp.grad.clone() if inp.grad is not None else 0)
    out.backward(v, retain_graph=True)
    return inp.grad - base
""", "subtracts the stale gradient seen on the first call", "accumulated_across_calls"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    if inp.grad is not None:
        inp.grad.zero_()
    out.backward(v, retain_graph=True)
    return inp.grad
""", "returns inp.grad itself", "alias_of_grad"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    return torch.autograd.grad(out, inp, v)[0]
""", "no retain_graph", "missing_retain_graph"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    return torch.autograd.grad(out.sum(), inp, retain_graph=True)[0]
""", "ignores v", "upstream_ignored"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    inp.grad = None
    out.backward(v.t(), retain_graph=True)
    return inp.grad
""", "transposes v into inp's layout", "upstream_wrong_shape"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    inp.grad.zero_()
    out.backward(v, retain_graph=True)
    return inp.grad.clone()
""", "unguarded inp.grad.zero_()", "grad_none_not_checked"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    (grad,) = torch.autograd.grad(out, inp, v, retain_graph=True)
    return grad.float()
""", "right values, returned as float32", "wrong_dtype"),
]


# Diagnoses from the evidence (issue 10, class 6).
WRONG += [
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    inp.grad = None
    out.backward(torch.ones_like(out), retain_graph=True)   # look at the plain gradient first
    out.backward(v, retain_graph=True)
    g = inp.grad.clone()
    inp.grad = None
    return g
""", "a pass with ones before the pass with v", "extra_backward_pass"),
    Impl("fresh_vjp", """
def fresh_vjp(out, inp, v):
    inp.grad = None
    out.sum().backward(retain_graph=True)
    g, = torch.autograd.grad(out, inp, v, retain_graph=True)
    result = g + inp.grad
    inp.grad = None
    return result
""", "added the gradient of sum() left in inp.grad", "extra_backward_pass"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    out = ((inp + 1).pow(2).t()).detach().requires_grad_(True)
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "detached out to reuse it", "graph_cut"),
    Impl("backward_n_times", """
def backward_n_times(n):
    inp = torch.eye(4, 5, requires_grad=True)
    with torch.no_grad():
        h = inp + 1
    h.requires_grad_()
    out = h.pow(2).t()
    for _ in range(n):
        out.backward(torch.ones_like(out), retain_graph=True)
    return inp.grad
""", "inp + 1 under no_grad", "graph_cut"),
]
