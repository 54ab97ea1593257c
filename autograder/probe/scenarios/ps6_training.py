"""Scenarios for ps6_training: parameter_grads, train_step, accumulated_step, checkpointed_forward.

The inputs here are models and optimizers, built only from the scenario's generator (``torch.nn.utils.skip_init``,
then seeded values) and explicit dtypes, so the judge rebuilds the same model and runs its own reference
training step on it. The entry ``params`` (the model's ``named_parameters()`` as a dict) is never passed to
the student: it is there so that the probe's snapshots before and after the steps record every parameter's
values and ``.grad``. Builders run under ``torch.enable_grad()`` where they attach stale gradients.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..contract import ProbeTimeout
from ..monitors import time_limit
from ..scenario import Scenario, randn, register

F64, F32 = torch.float64, torch.float32

# ------------------------------------------------------------------ models, data and optimizers


def _seeded(g: torch.Generator, module: nn.Module) -> nn.Module:
    """Give every parameter seeded values (the module was made with ``skip_init``, without global RNG)."""
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else max(p.numel(), 1)
            if p.dim() == 0:      # a free scalar (a temperature): near 1
                p.copy_(randn(g, 1, dtype=p.dtype, scale=0.2, shift=1.0).reshape(()))
            else:
                p.copy_(randn(g, *p.shape, dtype=p.dtype, scale=1.0 / math.sqrt(fan_in)))
    return module


def _linear(a: int, b: int, dtype) -> nn.Linear:
    return nn.utils.skip_init(nn.Linear, a, b, dtype=dtype)


def mlp(g, sizes, dtype, act=nn.Tanh) -> nn.Sequential:
    """Linear layers of the given sizes with an activation in between."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(_linear(a, b, dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    return _seeded(g, nn.Sequential(*layers))


class TwoTower(nn.Module):
    """A model that is not a Sequential: named submodules, a free-standing parameter and a buffer (a buffer
    is state, not a parameter: it has no gradient)."""

    def __init__(self, g, n_in: int, n_hidden: int, n_out: int, dtype) -> None:
        super().__init__()
        self.encoder = _linear(n_in, n_hidden, dtype)
        self.gate = _linear(n_in, n_hidden, dtype)
        self.head = _linear(n_hidden, n_out, dtype)
        self.temperature = nn.Parameter(torch.ones((), dtype=dtype))
        self.register_buffer("offset", torch.zeros(n_in, dtype=dtype))
        _seeded(g, self)
        with torch.no_grad():
            self.offset.copy_(randn(g, n_in, dtype=dtype, scale=0.1))

    def forward(self, x):
        x = x - self.offset
        return self.head(torch.tanh(self.encoder(x)) * torch.sigmoid(self.gate(x))) * self.temperature


class ResidualBlock(nn.Module):
    """x + W₂ tanh(W₁ LayerNorm(x)): a transformer-style block whose inside is 4 times wider than x."""

    def __init__(self, g, width: int, dtype) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, dtype=dtype)
        self.up = _linear(width, 4 * width, dtype)
        self.down = _linear(4 * width, width, dtype)
        _seeded(g, self)

    def forward(self, x):
        return x + self.down(torch.tanh(self.up(self.norm(x))))


def _wide_block(g, width: int, dtype) -> nn.Sequential:
    return _seeded(g, nn.Sequential(_linear(width, 4 * width, dtype), nn.GELU(), _linear(4 * width, width, dtype)))


def _regression(g, n: int, n_in: int, n_out: int, dtype):
    return randn(g, n, n_in, dtype=dtype), randn(g, n, n_out, dtype=dtype)


def _classification(g, n: int, n_in: int, n_classes: int, dtype):
    return randn(g, n, n_in, dtype=dtype), torch.randint(0, n_classes, (n,), generator=g)


def _stale(g, model: nn.Module, scale: float = 3.0) -> None:
    """A stale gradient on every trainable parameter, as an earlier backward pass would leave it."""
    for p in model.parameters():
        if p.requires_grad:
            p.grad = randn(g, p.numel(), dtype=p.dtype, scale=scale, shift=0.5).reshape(p.shape).clone()


def _params(model: nn.Module) -> dict:
    return dict(model.named_parameters())


def _trainable(model: nn.Module) -> list:
    return [p for p in model.parameters() if p.requires_grad]


# Loss functions: each returns the mean over the samples of its batch.
MSE = F.mse_loss
CROSS_ENTROPY = nn.CrossEntropyLoss()
HUBER = nn.HuberLoss(delta=0.5)

# ------------------------------------------------------------------ parameter_grads(model, loss_fn, batch)


def _pg_build(make_model, make_batch, loss_fn, *, stale=True, frozen=(), second_batch=False):
    def build(g):
        model = make_model(g)
        for name in frozen:
            model.get_parameter(name).requires_grad_(False)
        if stale:
            _stale(g, model)
        inputs = {"model": model, "loss_fn": loss_fn, "batch": make_batch(g)}
        if second_batch:
            inputs["batch_again"] = make_batch(g)
        inputs["params"] = _params(model)
        return inputs
    return build


def _pg_steps(session, inputs):
    session.call("result", inputs["model"], inputs["loss_fn"], inputs["batch"])


def _pg_repeat_steps(session, inputs):
    """Two calls on two batches; then the first result is looked at again."""
    first = session.call("result", inputs["model"], inputs["loss_fn"], inputs["batch"])
    if first.ok:
        session.call("again", inputs["model"], inputs["loss_fn"], inputs["batch_again"])
        session.observe("result_later", first.value)


def _pg(sid, title, build, weight=1.0, steps=_pg_steps):
    return Scenario(sid, "parameter_grads", title, build, steps=steps, weight=weight)


_MLP_F64 = lambda g: mlp(g, (3, 4, 2), F64)                                  # noqa: E731
_REG_3_2_F64 = lambda g: _regression(g, 5, 3, 2, F64)                       # noqa: E731

PG_VISIBLE = [
    _pg("parameter_grads/visible", "an MLP 3 → 4 → 2 with stale .grad on every parameter, MSE loss, float64",
        _pg_build(_MLP_F64, _REG_3_2_F64, MSE)),
]
PG_HIDDEN = [
    _pg("parameter_grads/mlp-stale-f64", "an MLP 4 → 6 → 3 with stale gradients, MSE loss, float64",
        _pg_build(lambda g: mlp(g, (4, 6, 3), F64), lambda g: _regression(g, 7, 4, 3, F64), MSE)),
    _pg("parameter_grads/classifier-f32", "a classifier 5 → 8 → 4 (ReLU), cross-entropy, stale gradients, float32",
        _pg_build(lambda g: mlp(g, (5, 8, 4), F32, act=nn.ReLU), lambda g: _classification(g, 9, 5, 4, F32),
                  CROSS_ENTROPY), weight=1.5),
    _pg("parameter_grads/frozen", "an MLP whose first layer is frozen (requires_grad=False), stale gradients",
        _pg_build(lambda g: mlp(g, (3, 5, 5, 2), F64), lambda g: _regression(g, 6, 3, 2, F64), MSE,
                  frozen=("0.weight", "0.bias")), weight=1.5),
    _pg("parameter_grads/two-tower", "a custom nn.Module with named submodules, a free parameter and a buffer; "
        ".grad None before the call, Huber loss, float64",
        _pg_build(lambda g: TwoTower(g, 4, 5, 2, F64), lambda g: _regression(g, 6, 4, 2, F64), HUBER, stale=False)),
    _pg("parameter_grads/repeated", "called twice on two batches (no stale gradient before the first call)",
        _pg_build(_MLP_F64, _REG_3_2_F64, MSE, stale=False, second_batch=True), steps=_pg_repeat_steps),
]

# ------------------------------------------------------------------ train_step(model, optimizer, loss_fn, batch)

SGD = ("SGD", {"lr": 0.1})
MOMENTUM = ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01})
ADAM = ("Adam", {"lr": 0.01})


def _optimizer(params, spec):
    name, options = spec
    return getattr(torch.optim, name)(params, **options)


def _train_build(make_model, make_batch, loss_fn, opt, *, n_steps=2, stale=True, frozen=(), group="batches"):
    """A model, an optimizer over its trainable parameters, and ``n_steps`` batches (for accumulated_step:
    ``n_steps`` lists of micro-batches, ``make_batch`` returning one list)."""
    def build(g):
        model = make_model(g)
        for name in frozen:
            model.get_parameter(name).requires_grad_(False)
        optimizer = _optimizer(_trainable(model), opt)
        if stale:
            _stale(g, model)
        return {"model": model, "optimizer": optimizer, "loss_fn": loss_fn,
                group: [make_batch(g) for _ in range(n_steps)], "params": _params(model)}
    return build


def _values(model: nn.Module) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _train_steps(group: str):
    """One call per batch (labels: result, step2, step3, …); the parameters after each call are observed."""
    def steps(session, inputs):
        model = inputs["model"]
        for k, batch in enumerate(inputs[group], start=1):
            outcome = session.call("result" if k == 1 else f"step{k}", model, inputs["optimizer"],
                                   inputs["loss_fn"], batch)
            session.observe(f"params_{k}", _values(model))
            if not outcome.ok:
                return
    return steps


def _ts(sid, title, build, weight=1.0):
    return Scenario(sid, "train_step", title, build, steps=_train_steps("batches"), weight=weight)


TS_VISIBLE = [
    _ts("train_step/visible", "SGD (lr 0.1) on an MLP 3 → 4 → 2, MSE, two steps, no stale gradient, float64",
        _train_build(_MLP_F64, _REG_3_2_F64, MSE, SGD, stale=False)),
]
TS_HIDDEN = [
    _ts("train_step/sgd-stale", "SGD, stale gradients before the first step, three steps, float64",
        _train_build(lambda g: mlp(g, (4, 6, 2), F64), lambda g: _regression(g, 6, 4, 2, F64), MSE, SGD,
                     n_steps=3), weight=1.5),
    _ts("train_step/momentum-f32", "SGD with momentum and weight decay, cross-entropy, stale gradients, "
        "three steps, float32",
        _train_build(lambda g: mlp(g, (5, 7, 3), F32, act=nn.ReLU), lambda g: _classification(g, 8, 5, 3, F32),
                     CROSS_ENTROPY, MOMENTUM, n_steps=3), weight=1.5),
    _ts("train_step/adam-no-stale", "Adam, .grad None before the first step, three steps, float64",
        _train_build(lambda g: mlp(g, (3, 5, 2), F64), lambda g: _regression(g, 6, 3, 2, F64), MSE, ADAM,
                     n_steps=3, stale=False)),
    _ts("train_step/frozen", "a model with a frozen first layer (not in the optimizer), stale gradients, Adam",
        _train_build(lambda g: mlp(g, (3, 4, 4, 2), F64), lambda g: _regression(g, 5, 3, 2, F64), HUBER, ADAM,
                     frozen=("0.weight", "0.bias"))),
    _ts("train_step/two-tower", "a custom nn.Module, SGD, stale gradients, float64",
        _train_build(lambda g: TwoTower(g, 4, 5, 2, F64), lambda g: _regression(g, 6, 4, 2, F64), MSE, SGD)),
]

# ------------------------------------------------------- accumulated_step(model, optimizer, loss_fn, micro_batches)


def _micro(make_one, sizes):
    """A list of micro-batches of the given sizes."""
    def make(g):
        return [make_one(g, n) for n in sizes]
    return make


def _as(sid, title, build, weight=1.0):
    return Scenario(sid, "accumulated_step", title, build, steps=_train_steps("micro_batch_lists"), weight=weight)


def _acc_build(make_model, make_one, sizes, loss_fn, opt, **kw):
    return _train_build(make_model, _micro(make_one, sizes), loss_fn, opt, group="micro_batch_lists", **kw)


_REG = lambda n_in, n_out, dtype: lambda g, n: _regression(g, n, n_in, n_out, dtype)        # noqa: E731
_CLS = lambda n_in, k, dtype: lambda g, n: _classification(g, n, n_in, k, dtype)            # noqa: E731

AS_VISIBLE = [
    _as("accumulated_step/visible", "SGD on an MLP 3 → 4 → 2, MSE, three micro-batches of 4 samples, "
        "no stale gradient, float64",
        _acc_build(_MLP_F64, _REG(3, 2, F64), (4, 4, 4), MSE, SGD, n_steps=1, stale=False)),
]
AS_HIDDEN = [
    _as("accumulated_step/equal-stale", "SGD, four micro-batches of 3 samples, stale gradients, float64",
        _acc_build(lambda g: mlp(g, (4, 5, 2), F64), _REG(4, 2, F64), (3, 3, 3, 3), MSE, SGD, n_steps=1)),
    _as("accumulated_step/unequal", "SGD, micro-batches of 6, 2 and 4 samples, float64",
        _acc_build(lambda g: mlp(g, (3, 5, 2), F64), _REG(3, 2, F64), (6, 2, 4), MSE, SGD, n_steps=1,
                   stale=False), weight=1.5),
    _as("accumulated_step/unequal-ce-f32", "SGD with momentum, cross-entropy, micro-batches of 5, 1 and 3 "
        "samples, stale gradients, two calls, float32",
        _acc_build(lambda g: mlp(g, (4, 6, 3), F32, act=nn.ReLU), _CLS(4, 3, F32), (5, 1, 3), CROSS_ENTROPY,
                   MOMENTUM), weight=1.5),
    _as("accumulated_step/two-calls", "two calls in a row (no stale gradient before the first), SGD, "
        "micro-batches of 2 and 4 samples",
        _acc_build(lambda g: mlp(g, (3, 4, 2), F64), _REG(3, 2, F64), (2, 4), HUBER, SGD)),
    _as("accumulated_step/single", "a single micro-batch, Adam, stale gradients",
        _acc_build(lambda g: TwoTower(g, 3, 4, 2, F64), _REG(3, 2, F64), (5,), MSE, ADAM, n_steps=1)),
]

# ------------------------------------------------------------------ checkpointed_forward(blocks, x)


def _ck_build(make_block, depth: int, width: int, n: int, dtype, *, x_grad=False, as_module_list=True):
    def build(g):
        blocks = [make_block(g, width, dtype) for _ in range(depth)]
        blocks = nn.ModuleList(blocks) if as_module_list else blocks
        x = randn(g, n, width, dtype=dtype)
        if x_grad:
            x.requires_grad_(True)
        v = randn(g, n, width, dtype=dtype)
        params = {f"{i}.{name}": p for i, block in enumerate(blocks) for name, p in block.named_parameters()}
        return {"blocks": blocks, "x": x, "v": v, "params": params}
    return build


def _gradients_through(out, inputs, seconds: float):
    """The gradients of ⟨v, out⟩ for x (if it requires grad) and every block parameter, through the graph the
    student's function built (a checkpoint recomputes its blocks here): a dict, or the error's type name."""
    params = inputs["params"]
    targets = {"x": inputs["x"]} if inputs["x"].requires_grad else {}
    targets.update(params)
    if not (isinstance(out, torch.Tensor) and out.requires_grad and out.shape == inputs["v"].shape):
        return "no graph"
    try:
        with time_limit(seconds):
            grads = torch.autograd.grad(out, list(targets.values()), inputs["v"], allow_unused=True)
    except ProbeTimeout:
        return "timeout"
    except Exception as exc:
        return type(exc).__name__
    return dict(zip(targets, grads, strict=True))


def _ck_steps(session, inputs):
    outcome = session.call("result", inputs["blocks"], inputs["x"])
    if outcome.ok:
        session.observe("grads", _gradients_through(outcome.value, inputs, session.call_seconds))


def _ck(sid, title, build, weight=1.0):
    return Scenario(sid, "checkpointed_forward", title, build, steps=_ck_steps, weight=weight, measure_saved=True)


CK_VISIBLE = [
    _ck("checkpointed_forward/visible", "three blocks Linear(8, 32) → GELU → Linear(32, 8), x of shape (6, 8), "
        "float64", _ck_build(_wide_block, 3, 8, 6, F64)),
]
CK_HIDDEN = [
    _ck("checkpointed_forward/wide-f32", "four wide blocks, x of shape (5, 6), float32",
        _ck_build(_wide_block, 4, 6, 5, F32), weight=1.5),
    _ck("checkpointed_forward/residual", "five residual blocks with LayerNorm (a Python list, not a ModuleList), "
        "float64", _ck_build(ResidualBlock, 5, 4, 7, F64, as_module_list=False), weight=1.5),
    _ck("checkpointed_forward/x-requires-grad", "x is a leaf that requires grad (its gradient is checked too), "
        "three residual blocks, float64", _ck_build(ResidualBlock, 3, 5, 4, F64, x_grad=True)),
    _ck("checkpointed_forward/one-block", "a single wide block, float32", _ck_build(_wide_block, 1, 5, 3, F32),
        weight=0.5),
]


register("ps6_training", {
    "test_parameter_grads": PG_VISIBLE,
    "test_parameter_grads_hidden": PG_HIDDEN,
    "test_train_step": TS_VISIBLE,
    "test_train_step_hidden": TS_HIDDEN,
    "test_accumulated_step": AS_VISIBLE,
    "test_accumulated_step_hidden": AS_HIDDEN,
    "test_checkpointed_forward": CK_VISIBLE,
    "test_checkpointed_forward_hidden": CK_HIDDEN,
})
