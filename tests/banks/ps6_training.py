"""Implementations of the ps6_training functions, right and wrong."""

from support import Impl

CORRECT = [
    # ---------------------------------------------------------------- parameter_grads
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
""", "zero_grad (set to None), backward, p.grad itself"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(model(X), y), [p for _, p in named])
    for _, p in named:
        p.grad = None
    return dict(zip([n for n, _ in named], grads))
""", "one autograd.grad over all parameters, .grad set to None"),
    Impl("parameter_grads", """
from torch.func import functional_call, grad

def parameter_grads(model, loss_fn, batch):
    X, y = batch
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    grads = grad(lambda ps: loss_fn(functional_call(model, ps, (X,)), y))(params)
    for p in model.parameters():
        p.grad = None
    return grads
""", "torch.func.functional_call + grad"),
    Impl("parameter_grads", """
import warnings
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    for p in model.parameters():
        if p.grad is not None:
            p.grad.detach_()
            p.grad.zero_()
    loss = loss_fn(model(X), y)
    print("loss", loss.item())
    loss.backward()
    warnings.warn("cloning every gradient")
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
""", "in-place zero_(), backward, clones, prints and warns"),
    # ---------------------------------------------------------------- train_step
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
""", "zero_grad, forward, backward, step"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    def closure():
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(X), y)
        loss.backward()
        return loss
    return float(optimizer.step(closure))
""", "optimizer.step(closure) with zero_grad(set_to_none=False)"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(X), y)
    for p, g in zip(params, torch.autograd.grad(loss, params)):
        p.grad = g
    optimizer.step()
    return loss.detach()
""", "autograd.grad written into p.grad, returns a detached 0-d tensor"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    print(f"loss {loss.item():.4f}")
    optimizer.step()
    return float(loss)
""", "model.zero_grad(), prints"),
    # ---------------------------------------------------------------- accumulated_step
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    optimizer.zero_grad()
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * len(X) / total
        loss.backward()
        big += loss.item()
    optimizer.step()
    return big
""", "weighted backward per micro-batch"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    params = [p for p in model.parameters() if p.requires_grad]
    total = sum(X.shape[0] for X, _ in micro_batches)
    sums = [torch.zeros_like(p) for p in params]
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y)
        for s, g in zip(sums, torch.autograd.grad(loss, params)):
            s += g * (X.shape[0] / total)
        big += loss.item() * X.shape[0] / total
    for p, s in zip(params, sums):
        p.grad = s
    optimizer.step()
    return big
""", "autograd.grad per micro-batch, summed by hand into p.grad"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    optimizer.zero_grad(set_to_none=False)
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * len(X)      # sum of the per-sample losses
        loss.backward()
        big += loss.item()
    for p in model.parameters():
        if p.grad is not None:
            p.grad /= total
    optimizer.step()
    return big / total
""", "per-sample sums, gradients divided by N afterwards"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    sizes = torch.tensor([len(X) for X, _ in micro_batches], dtype=torch.float64)
    weights = (sizes / sizes.sum()).tolist()
    def closure():
        optimizer.zero_grad()
        big = 0.0
        for (X, y), w in zip(micro_batches, weights):
            loss = w * loss_fn(model(X), y)
            loss.backward()
            big += float(loss)
        print("big-batch loss", big)
        return big
    return optimizer.step(closure)
""", "closure passed to optimizer.step, prints"),
    # ---------------------------------------------------------------- checkpointed_forward
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False)
    return x
""", "torch.utils.checkpoint per block"),
    Impl("checkpointed_forward", """
class Recompute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, block, x, *params):
        ctx.block = block
        ctx.save_for_backward(x)
        with torch.no_grad():
            return block(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        params = list(ctx.block.parameters())
        with torch.enable_grad():
            h = x.detach().requires_grad_(True)
            out = ctx.block(h)
            grads = torch.autograd.grad(out, [h, *params], grad_out, allow_unused=True)
        return (None, *grads)

def checkpointed_forward(blocks, x):
    for block in blocks:
        x = Recompute.apply(block, x, *block.parameters())
    return x
""", "own autograd.Function that saves the input and recomputes"),
    Impl("checkpointed_forward", """
import functools
import torch.utils.checkpoint as cp

def checkpointed_forward(blocks, x):
    run = functools.partial(cp.checkpoint, use_reentrant=False, preserve_rng_state=False)
    h = x
    for i, block in enumerate(blocks):
        h = run(lambda t, b=block: b(t), h)
        print("block", i, "done")
    return h
""", "functools.partial, lambdas, prints"),
]

# Ways to hide saved activations from the grader's monitor; the adversarial corpus submits them too.
STASHED = """
_stash = {}

def checkpointed_forward(blocks, x):
    def pack(t):
        _stash[id(t)] = t                                       # kept out of sight, still in memory
        return id(t)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda key: _stash[key]):
        for block in blocks:
            x = block(x)
    return x
"""

HOOKS_POPPED = """
from torch._C._autograd import _pop_saved_tensors_default_hooks as _pop, _push_saved_tensors_default_hooks as _push

def checkpointed_forward(blocks, x):
    watcher = torch._C._autograd._top_saved_tensors_default_hooks(False)
    if watcher is not None:
        _pop()                                                  # torch's own pop, taken before the probe ran
    for block in blocks:
        x = block(x)
    if watcher is not None:
        _push(*watcher)                                         # and the watcher back, as if nothing happened
    return x
"""

FOREIGN_HOOKS = """
from torch._C._autograd import _pop_saved_tensors_default_hooks as _pop, _push_saved_tensors_default_hooks as _push
_stash = {}

def _pack(t):
    _stash[id(t)] = t
    return id(t)

def checkpointed_forward(blocks, x):
    _push(_pack, lambda key: _stash[key])                       # torch's own push: not seen by a wrapper
    for block in blocks:
        x = block(x)
    _pop()
    return x
"""

WRONG = [
    # ---------------------------------------------------------------- parameter_grads
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    loss_fn(model(X), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
""", "never zeroed", expect="stale_grad_included"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    loss_fn(model(X), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
""", "never zeroed, called twice", expect="grads_accumulated_across_calls"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()}
""", "frozen parameters listed with zeros", expect="frozen_param_listed"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    loss_fn(model(X), y).backward()
    model.zero_grad()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
""", "zero_grad after backward", expect="grads_cleared_before_read"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
""", "returns the parameters", expect="returned_parameters"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(model(X), y), [p for _, p in named])
    return {n: g for (n, _), g in zip(named, grads)}
""", "autograd.grad, stale .grad left", expect="stale_grads_left"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    out = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            out[n] = torch.autograd.grad(loss, p, retain_graph=True)[0]
            p.grad = None
    return out
""", "one autograd.grad per parameter", expect="several_backward_passes"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    for p in model.parameters():
        if p.grad is not None:
            p.grad.zero_()
    loss_fn(model(X), y).backward()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
""", "zero_() in place, returns p.grad itself", expect="alias_of_grad"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(model(X), y), [p for _, p in named], create_graph=True)
    model.zero_grad()
    return {n: g for (n, _), g in zip(named, grads)}
""", "create_graph=True: gradients attached", expect="not_detached"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return {n: p.grad.float() for n, p in model.named_parameters() if p.requires_grad}
""", "cast to float32", expect="wrong_dtype"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return [p.grad.clone() for p in model.parameters() if p.requires_grad]
""", "a list instead of a dict", expect="grads_not_by_name"),
    Impl("parameter_grads", """
def parameter_grads(model, loss_fn, batch):
    X, y = batch
    X.requires_grad_(True)
    model.zero_grad()
    loss_fn(model(X), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
""", "makes the caller's X require grad", expect="modified_input"),
    # ---------------------------------------------------------------- train_step
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()
""", "zero_grad after step", expect="zero_grad_after_step"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
""", "never zeroed", expect="never_zeroed"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    optimizer.step()
    return loss.item()
""", "step twice", expect="stepped_twice"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    lr = optimizer.param_groups[0]["lr"]
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    return loss.item()
""", "manual SGD update", expect="manual_sgd_update"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()
""", "zero_grad between backward and step", expect="no_update"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    loss = loss_fn(model(X), y)
    optimizer.step()
    loss.backward()
    optimizer.zero_grad()
    return loss.item()
""", "step before backward", expect="step_before_backward"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss_fn(model(X), y).backward()
    optimizer.step()
    return loss_fn(model(X), y).item()
""", "loss recomputed after the step", expect="loss_after_step"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss
""", "returns the loss tensor", expect="loss_kept_graph"),
    Impl("train_step", """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    X.requires_grad_(True)
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
""", "makes the caller's X require grad", expect="modified_input"),
    # ---------------------------------------------------------------- accumulated_step
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y)
        loss.backward()
        big += loss.item()
    optimizer.step()
    return big
""", "losses summed", expect="summed_micro_losses"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    k = len(micro_batches)
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) / k
        loss.backward()
        big += loss.item()
    optimizer.step()
    return big
""", "divided by the number of micro-batches", expect="equal_weights"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * len(X) / total
        loss.backward()
        big += loss.item()
    optimizer.step()
    optimizer.zero_grad()
    return big
""", "zero_grad only after the step", expect="stale_grad_included"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    big = 0.0
    for X, y in micro_batches:
        optimizer.zero_grad()
        loss = loss_fn(model(X), y) * len(X) / total
        loss.backward()
        big += loss.item()
    optimizer.step()
    return big
""", "zero_grad inside the loop", expect="zeroed_in_loop"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    big = 0.0
    total = sum(len(X) for X, _ in micro_batches)
    for X, y in micro_batches:
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        big += loss.item() * len(X) / total
    return big
""", "a step per micro-batch", expect="stepped_in_loop"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    X = torch.cat([X for X, _ in micro_batches])
    y = torch.cat([y for _, y in micro_batches])
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
""", "concatenated into one batch", expect="merged_micro_batches"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    optimizer.zero_grad()
    big = 0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * len(X) / total
        loss.backward()
        big = big + loss
    optimizer.step()
    return big
""", "returns the summed loss tensor", expect="loss_kept_graph"),
    Impl("accumulated_step", """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    big = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * len(X) / total
        loss.backward()
        big += loss.item()
    optimizer.zero_grad()
    optimizer.step()
    return big
""", "zero_grad right before the step", expect="no_update"),
    # ---------------------------------------------------------------- checkpointed_forward
    Impl("checkpointed_forward", """
def checkpointed_forward(blocks, x):
    for block in blocks:
        x = block(x)
    return x
""", "plain forward", expect="not_checkpointed"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    h = x
    for block in blocks:
        full = block(h)                                   # kept "to compare"
        h_ck = checkpoint(block, h, use_reentrant=False)
        h = full if torch.allclose(full, h_ck) else h_ck
    return h
""", "calls checkpoint but returns the plain forward's output", expect="not_checkpointed"),
    Impl("checkpointed_forward", """
def checkpointed_forward(blocks, x):
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):   # hides nothing: still saved
        for block in blocks:
            x = block(x)
    return x
""", "plain forward under its own saved-tensor hooks", expect="not_checkpointed"),
    Impl("checkpointed_forward", """
def checkpointed_forward(blocks, x):
    with torch.autograd.graph.save_on_cpu():                    # moved, not recomputed: the same bytes
        for block in blocks:
            x = block(x)
    return x
""", "plain forward with save_on_cpu", expect="not_checkpointed"),
    Impl("checkpointed_forward", STASHED, "plain forward stashing its saved tensors in a dict", expect="not_checkpointed"),
    Impl("checkpointed_forward", """
def checkpointed_forward(blocks, x):
    torch._C._autograd._pop_saved_tensors_default_hooks()      # away with whatever watches the saved tensors
    for block in blocks:
        x = block(x)
    torch._C._autograd._push_saved_tensors_default_hooks(lambda t: t, lambda t: t)
    return x
""", "plain forward after popping the saved-tensor hooks in place", expect="not_checkpointed"),
    Impl("checkpointed_forward", HOOKS_POPPED, "plain forward with the saved-tensor hooks popped and put back by torch's own functions",
         expect="saved_hooks_tampered"),
    Impl("checkpointed_forward", FOREIGN_HOOKS, "plain forward under stashing hooks pushed with torch's own push, taken before the probe ran",
         expect="saved_hooks_tampered"),
    Impl("checkpointed_forward", """
from torch._C._autograd import _pop_saved_tensors_default_hooks as _pop, _push_saved_tensors_default_hooks as _push
_stash = {}

def _pack(t):
    _stash[id(t)] = t
    return id(t)

def checkpointed_forward(blocks, x):
    _push(_pack, lambda key: _stash[key])
    with torch._C.DisableTorchFunction():                       # no torch-function mode sees these operations
        for block in blocks:
            x = block(x)
    _pop()
    return x
""", "the same, with torch-function dispatch disabled around the forward", expect="saved_hooks_tampered"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint_sequential

def checkpointed_forward(blocks, x):
    return checkpoint_sequential(torch.nn.Sequential(*blocks), len(blocks), x, use_reentrant=False)
""", "checkpoint_sequential (its last segment runs plain)", expect="partly_checkpointed"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=True)
    return x
""", "reentrant checkpoint", expect="reentrant_checkpoint"),
    Impl("checkpointed_forward", """
def checkpointed_forward(blocks, x):
    with torch.no_grad():
        for block in blocks:
            x = block(x)
    return x
""", "forward under no_grad", expect="output_not_differentiable"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    for block in blocks:
        x = checkpoint(block, x.detach(), use_reentrant=False)
    return x
""", "detaches between blocks", expect="detached_between_blocks"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    for block in reversed(list(blocks)):
        x = checkpoint(block, x, use_reentrant=False)
    return x
""", "blocks in reverse order", expect="blocks_out_of_order"),
    Impl("checkpointed_forward", """
from torch.utils.checkpoint import checkpoint

def checkpointed_forward(blocks, x):
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False)
    return x.double()
""", "output cast to float64", expect="wrong_dtype"),
]
