"""Diagnoses of a wrong value from the evidence in the value itself, where no fixed wrong answer exists.

``misconceptions.diagnose`` compares a wrong result with the wrong answers each mistake would give. Two
mistakes give no fixed answer, because they depend on a choice the student made:

- ``FiniteDifferences``: a derivative approximated from values of f with some step h. The evidence is the
  error's *pattern*: for small h the error of a central difference is h²/6 times a fixed tensor (f‴ along
  the direction), of a forward difference h/2 times another (f″). The error of the result must be a
  positive multiple of the error a difference with a known step makes; the multiple gives the student's h.
- ``ExtraPass``: an extra backward pass with another upstream vector u, which left uᵀJ in ``.grad``. The
  evidence is that the residual (result − vᵀJ) is itself a vector–Jacobian product of the same f: it lies
  in the row space of J. When J has fewer rows than columns, that is a thin subspace no other mistake
  lands in by chance; otherwise (every vector is then a VJP) it is named when the call ran more than one
  reverse pass, or when u is a vector of ones (``y.sum().backward()``).

Rubrics pass these objects among their candidates; ``diagnose`` calls them with the actual and the
expected tensor, and each returns (key, message) or None.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .misconceptions import message

Approximation = Callable[[float, str], torch.Tensor]   # (h, "central" | "forward") -> the estimate

_STEPS = (1e-1, 1e-2, 1e-3)          # steps at which float64 differences are dominated by truncation
_SCHEMES = ("central", "forward")
_FIT = 0.1                           # the residual of the fitted error pattern, relative to the error
_CLOSE_ENOUGH = 0.2                  # finite differences are approximately right: larger errors are something else


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64).reshape(-1)


def _residual(actual: torch.Tensor, expected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(actual − expected, expected), flat in float64; None when they cannot be compared (shapes, empty,
    non-finite values)."""
    if actual.shape != expected.shape or actual.numel() == 0:
        return None
    a, e = _flat(actual), _flat(expected)
    if not bool(torch.isfinite(a).all()) or not bool(torch.isfinite(e).all()):
        return None
    return a - e, e


class FiniteDifferences:
    """A result that carries the truncation error of a finite difference (see the module's docstring).

    ``approximate(h, scheme)`` computes the same quantity as the expected value by that difference scheme
    with step h, from the trusted reference function, in float64."""

    def __init__(self, approximate: Approximation) -> None:
        self.approximate = approximate

    def __call__(self, actual: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
        found = _residual(actual, expected)
        if found is None:
            return None
        error, e = found
        size = float(error.norm())
        if size == 0.0 or float(error.abs().max()) > _CLOSE_ENOUGH * max(float(e.abs().max()), 1e-12):
            return None
        for scheme in _SCHEMES:
            for h in _STEPS:
                try:
                    pattern = _flat(self.approximate(h, scheme)) - e
                except Exception:
                    continue
                if pattern.shape != error.shape or not bool(torch.isfinite(pattern).all()):
                    continue
                norm2 = float(pattern @ pattern)
                if norm2 == 0.0:
                    continue
                c = float(error @ pattern) / norm2
                if c <= 0 or float((error - c * pattern).norm()) > _FIT * size:
                    continue
                step = h * (math.sqrt(c) if scheme == "central" else c)
                return "finite_difference_values", message(
                    "finite_difference_values", scheme=scheme, h=f"{step:.0e}",
                    error=f"{float(error.abs().max()):.3g}")
        return None


class ExtraPass:
    """A result equal to vᵀJ + uᵀJ for some other upstream vector u (see the module's docstring).

    ``jacobian`` is J of the function the VJP was taken of, flattened to (outputs, inputs)."""

    def __init__(self, jacobian: torch.Tensor | Callable[[], torch.Tensor], *, passes: int = 0) -> None:
        self._jacobian = jacobian
        self.passes = passes      # reverse passes the call ran (``Call.reverse_passes``)

    def __call__(self, actual: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
        found = _residual(actual, expected)
        if found is None:
            return None
        residual, e = found
        size = float(residual.norm())
        if size <= 1e-6 * max(float(e.norm()), 1.0):
            return None
        if abs(float(residual @ e)) > 0.999 * size * float(e.norm()):   # u ∝ v: the generic factor diagnosis
            return None
        try:
            J = self._jacobian() if callable(self._jacobian) else self._jacobian
            J = J.detach().to(torch.float64).reshape(-1, residual.numel())
            u = torch.linalg.lstsq(J.T, residual.unsqueeze(1)).solution.squeeze(1)
        except Exception:
            return None
        fit = float((J.T @ u - residual).norm())
        tol = math.sqrt(torch.finfo(actual.dtype).eps) if actual.is_floating_point() else 1e-4
        if fit > tol * size:
            return None
        ones = torch.ones_like(u)
        u_is_ones = float((u - (u @ ones) / (ones @ ones) * ones).norm()) <= 1e-3 * float(u.norm())
        if u_is_ones:
            with_what = ("with an upstream vector of ones, or a multiple of it (`y.sum().backward()`, "
                         "`y.mean().backward()`)")
        elif J.shape[0] < J.shape[1] or self.passes >= 2:
            with_what = "with another upstream vector"
        else:
            return None   # every vector is a VJP of a square or tall J, and one pass ran: no evidence
        return "extra_backward_pass", message("extra_backward_pass", other="another vector–Jacobian product uᵀJ",
                                              with_what=with_what)
