"""Attacks of ps6_training's own: a student tampers with the models and optimizers handed in, with the
optimizers and ``torch.utils.checkpoint`` themselves, or with what measures the activations saved for
backward (the probe's ``monitors.SavedTensors``), from an earlier cell or from inside a graded function.

None of it may earn what the honest work earns: each attack is graded exactly as a control student who
does the same thing without the trick (no optimizer step; a plain forward without checkpointing), and that
control misses full marks on the function concerned. Code here is not passed through ``str.format``."""

from __future__ import annotations

from attack_kit import Attack, Target, _answers
from banks.ps6_training import FOREIGN_HOOKS, HOOKS_POPPED, STASHED
from generic_attacks import cells

PLAIN = """
def checkpointed_forward(blocks, x):
    for block in blocks:
        x = block(x)
    return x
"""

TRAIN_NO_STEP = """
def train_step(model, optimizer, loss_fn, batch):
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    return loss.item()
"""

ACCUMULATE_NO_STEP = """
def accumulated_step(model, optimizer, loss_fn, micro_batches):
    total = sum(len(X) for X, _ in micro_batches)
    optimizer.zero_grad()
    big_loss = 0.0
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * (len(X) / total)
        loss.backward()
        big_loss += loss.item()
    return big_loss
"""

STEP_DISABLED_ON_THE_OPTIMIZER = """
def train_step(model, optimizer, loss_fn, batch):
    optimizer.step = lambda *args, **kwargs: None      # the optimizer handed in never steps again
    X, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
"""

STEP_DISABLED_GLOBALLY = """
import torch
for _cls in (torch.optim.Optimizer, torch.optim.SGD, torch.optim.Adam):
    _cls.step = lambda self, *args, **kwargs: None
"""

CHECKPOINT_PATCHED = """
import torch.utils.checkpoint
torch.utils.checkpoint.checkpoint = lambda function, *args, **kwargs: function(*args)
"""

HOOKS_CLASS_PATCHED = """
import torch
class _Unwatched:
    def __init__(self, *args, **kwargs):
        pass
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
torch.autograd.graph.saved_tensors_hooks = _Unwatched
torch.autograd.graph.save_on_cpu = _Unwatched
"""

HOOKS_PUSH_PATCHED = """
import torch
torch._C._autograd._push_saved_tensors_default_hooks = lambda pack, unpack: None
torch._C._autograd._pop_saved_tensors_default_hooks = lambda: None
"""

HOOKS_BEFORE_THE_CALL = """
import torch
_hidden = []
def _pack(t):
    _hidden.append(t)
    return len(_hidden) - 1
_global_hooks = torch.autograd.graph.saved_tensors_hooks(_pack, lambda i: _hidden[i])
_global_hooks.__enter__()      # never left: every later cell runs under these hooks
"""

def ps6_attacks(t: Target) -> list[Attack]:
    assert t.assignment == "ps6_training"
    plain = ("plain-forward", {"checkpointed_forward": PLAIN})
    no_train_step = ("train-without-step", {"train_step": TRAIN_NO_STEP})
    no_step = ("without-step", {"train_step": TRAIN_NO_STEP, "accumulated_step": ACCUMULATE_NO_STEP})
    after = "checkpointed_forward"
    return [
        Attack("optimizer-step-disabled", "its train_step replaces step() on the optimizer it is handed with a no-op",
               _answers(train_step=STEP_DISABLED_ON_THE_OPTIMIZER), control=no_train_step, expect_total=t.full),
        Attack("optimizer-step-patched", "an earlier cell makes torch.optim's step() do nothing (Optimizer, SGD, "
               "Adam)", cells(STEP_DISABLED_GLOBALLY), control=no_step, expect_total=t.full),
        Attack("checkpoint-patched", "an earlier cell replaces torch.utils.checkpoint.checkpoint with a plain call",
               cells(CHECKPOINT_PATCHED), control=plain, expect_total=t.full),
        Attack("saved-hooks-class-patched", "an earlier cell replaces torch.autograd.graph.saved_tensors_hooks (and "
               "save_on_cpu) with a context that installs nothing; a plain forward",
               _with_plain(cells(HOOKS_CLASS_PATCHED, after=after)), control=plain, expect_total=t.full),
        Attack("saved-hooks-push-patched", "an earlier cell replaces torch's push and pop of saved-tensor hooks with "
               "no-ops; a plain forward", _with_plain(cells(HOOKS_PUSH_PATCHED, after=after)), control=plain,
               expect_total=t.full),
        Attack("saved-hooks-before-the-call", "an earlier cell installs saved-tensor hooks that hide every saved "
               "tensor in a list, for good; a plain forward", _with_plain(cells(HOOKS_BEFORE_THE_CALL, after=after)),
               control=plain, expect_total=t.full),
        Attack("saved-hooks-popped", "its checkpointed_forward pops the hooks watching it with torch's own pop "
               "(taken in an earlier cell), runs a plain forward, and pushes them back",
               _answers(checkpointed_forward=HOOKS_POPPED), control=plain, expect_total=t.full),
        Attack("saved-hooks-foreign", "its checkpointed_forward pushes hooks that stash every saved tensor with "
               "torch's own push (taken in an earlier cell, so no wrapper sees them); a plain forward",
               _answers(checkpointed_forward=FOREIGN_HOOKS), control=plain, expect_total=t.full),
        Attack("saved-tensors-stashed", "its checkpointed_forward stashes every saved tensor in a dict through "
               "its own hooks; a plain forward", _answers(checkpointed_forward=STASHED), control=plain,
               expect_total=t.full),
    ]


def _with_plain(build):
    """``build`` (cells inserted into a correct submission), with a plain forward as checkpointed_forward."""
    def with_plain(release, correct, paths):
        return build(release, {**correct, "checkpointed_forward": PLAIN}, paths)
    return with_plain
