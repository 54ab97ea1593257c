"""Functions that hidden tests hand to students' code (the ``f`` in ``vjp(f, x, v)``).

Each is an ordinary callable built from the scenario's seeded inputs, so the judge can rebuild it.
``ForwardOnly`` and ``ReverseOnly`` support a single mode of automatic differentiation: a Jacobian
built column by column with forward-mode JVPs works on the first, and a row-by-row reverse-mode one
works on the second. They are how the grader checks *which* mode a submission really used: the mode
that is missing raises ``contract.ForwardModeOnly`` / ``contract.ReverseModeOnly``, and the judge
recognises the recorded type (torch passes an exception raised in ``backward`` or ``jvp`` on unchanged).

Every one of them is ``@observed``: while the probe records a call, its tensor arguments pass through the
``method_tap``, which counts how the student's code differentiates it (reverse sweeps, forward tangents and
the directions they carry, evaluations). Outside a recorded call, as in the judge's references, nothing
changes.
"""

from __future__ import annotations

import torch

from .contract import REVERSE_ONLY_FUNCTION, ForwardModeOnly, ReverseModeOnly
from .method_tap import observed

FORWARD_ONLY_MESSAGE = (
    "this test function supports only forward-mode AD: its backward() is deliberately missing"
)
REVERSE_ONLY_MESSAGE = (
    "this test function supports only reverse-mode AD: its forward-mode rule (jvp) is deliberately missing"
)


class Elementwise:
    """A named elementwise function of one tensor."""

    FORMULAS = {
        "cubic": lambda x: x**3 - 2 * x,
        "sin": torch.sin,
        "x_exp": lambda x: x * torch.exp(x),
        "tanh": torch.tanh,
        "softplus": torch.nn.functional.softplus,
        "quartic": lambda x: x**4 - x**2,
        "sin_sq": lambda x: torch.sin(x) ** 2 + 0.5 * x,
        "exp_neg_sq": lambda x: torch.exp(-(x**2)),
    }

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = name
        self._formula = self.FORMULAS[name]

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._formula(x)

    def __repr__(self) -> str:
        return f"Elementwise({self.name!r})"


class Affine:
    """x ↦ A x + b for 1-D x (A is m×n, usually non-square and non-symmetric)."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor | None = None) -> None:
        self.A, self.b = A, b
        self.__name__ = "affine"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.A @ x
        return y if self.b is None else y + self.b


class TanhLayer:
    """x ↦ tanh(W x) * c: a nonlinear map between spaces of different sizes."""

    def __init__(self, W: torch.Tensor, c: torch.Tensor) -> None:
        self.W, self.c = W, c
        self.__name__ = "tanh_layer"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.W @ x) * self.c


class MixedPolynomial:
    """A 1-D → 1-D map whose outputs mix several inputs (from the gradient-computation tutorial)."""

    __name__ = "mixed_polynomial"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[0] ** 2 * x[1], x[0] * x[2] + torch.sin(x[1]), x[2] ** 3 - x[0],
                            torch.exp(0.3 * x[1]) * x[2]])


class SquareTransposed:
    """X ↦ (X + 1)² transposed: the tutorial's ``(inp + 1).pow(2).t()`` for a matrix input."""

    __name__ = "square_transposed"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1).pow(2).t()


class CubeTransposed:
    """X ↦ (X + 10)³ transposed: the tutorial's ``(inp + 10).pow(3).t()``."""

    __name__ = "cube_transposed"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 10).pow(3).t()


def tutorial_input(dtype: torch.dtype) -> torch.Tensor:
    """The tutorials' ``inp = torch.eye(4, 5)``, in ``dtype`` (a constant: the caller makes it a leaf)."""
    return torch.eye(4, 5, dtype=dtype)


class RowwiseSeed:
    """The batched tutorial function f(x) = x₁x₂ + sin(x₁x₂²), one value per row of an (N, 2) input."""

    __name__ = "rowwise_seed"

    @observed
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return X[:, 0] * X[:, 1] + torch.sin(X[:, 0] * X[:, 1] ** 2)


class RowwiseQuadratic:
    """Each row x ↦ xᵀ A x + bᵀ x with a non-symmetric A."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor) -> None:
        self.A, self.b = A, b
        self.__name__ = "rowwise_quadratic"

    @observed
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return ((X @ self.A) * X).sum(dim=1) + X @ self.b


class RowwiseLogSumExp:
    """Each row x ↦ log Σ exp(x_i · s_i)."""

    def __init__(self, s: torch.Tensor) -> None:
        self.s = s
        self.__name__ = "rowwise_logsumexp"

    @observed
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(X * self.s, dim=1)


class RowwiseSeedVector:
    """The batched tutorial map (N, 2) → (N, 3): [x₁x₂, sin(x₁ + x₂²), x₁² − 3x₂]."""

    __name__ = "rowwise_seed_vector"

    @observed
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        x1, x2 = X[:, 0], X[:, 1]
        return torch.stack((x1 * x2, torch.sin(x1 + x2**2), x1**2 - 3 * x2), dim=1)


class RowwiseTanh:
    """Each row x ↦ tanh(W x) with W of shape (m, n): a batched map (N, n) → (N, m)."""

    def __init__(self, W: torch.Tensor) -> None:
        self.W = W
        self.__name__ = "rowwise_tanh"

    @observed
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return torch.tanh(X @ self.W.t())


class ScalarField:
    """A scalar function of a 1-D tensor: ½ xᵀ A x + Σ sin(x) · w (A non-symmetric)."""

    def __init__(self, A: torch.Tensor, w: torch.Tensor) -> None:
        self.A, self.w = A, w
        self.__name__ = "scalar_field"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x @ self.A @ x + (torch.sin(x) * self.w).sum()


class LogSumExp:
    """x ↦ log Σ exp(x) for 1-D x."""

    __name__ = "logsumexp"

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(x, dim=0)


class Bivariate:
    """A named elementwise function f(x, y) of two tensors of the same shape."""

    FORMULAS = {
        "seed": lambda x, y: x * y + torch.sin(x * y**2),
        "poly": lambda x, y: x**2 * y**3 - 2 * x * y,
        "exp_prod": lambda x, y: torch.exp(0.5 * x * y) + x**3,
        "log_mix": lambda x, y: torch.log1p(x**2 + y**2) * y,
    }

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = name
        self._formula = self.FORMULAS[name]

    @observed
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._formula(x, y)


# ------------------------------------------------------------------ single-mode functions

class _ForwardOnlyTanh(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, W):
        return torch.tanh(W @ x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, W = inputs
        ctx.save_for_forward(output, W)

    @staticmethod
    def jvp(ctx, x_tangent, W_tangent):
        y, W = ctx.saved_tensors
        return (1 - y**2) * (W @ x_tangent)

    @staticmethod
    def backward(ctx, grad_output):
        raise ForwardModeOnly(FORWARD_ONLY_MESSAGE)


class _ReverseOnlyTanh(torch.autograd.Function):
    generate_vmap_rule = True  # so torch.func.jacfwd reaches jvp() and gets the clear message

    @staticmethod
    def forward(x, W):
        return torch.tanh(W @ x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, W = inputs
        ctx.save_for_backward(output, W)

    @staticmethod
    def backward(ctx, grad_output):
        y, W = ctx.saved_tensors
        return W.t() @ ((1 - y**2) * grad_output), None

    @staticmethod
    def jvp(ctx, *tangents):
        raise ReverseModeOnly(REVERSE_ONLY_MESSAGE)


# torch's vmap names the Function in its errors: the judge looks for this name (contract.VMAP_OVER_REVERSE_ONLY).
_ReverseOnlyTanh.__name__ = _ReverseOnlyTanh.__qualname__ = REVERSE_ONLY_FUNCTION


class _OneModeTanh:
    """x ↦ tanh(W x) through an autograd Function that supports one differentiation mode only."""

    _function: type[torch.autograd.Function]
    name: str

    def __init__(self, W: torch.Tensor) -> None:
        self.W = W
        self.__name__ = self.name

    @observed
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._function.apply(x, self.W)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The same map in ordinary differentiable operations (for the judge's reference)."""
        return torch.tanh(self.W @ x)


class ForwardOnly(_OneModeTanh):
    """x ↦ tanh(W x), differentiable only in forward mode (JVPs)."""

    _function = _ForwardOnlyTanh
    name = "forward_only"


class ReverseOnly(_OneModeTanh):
    """x ↦ tanh(W x), differentiable only in reverse mode (VJPs)."""

    _function = _ReverseOnlyTanh
    name = "reverse_only"
