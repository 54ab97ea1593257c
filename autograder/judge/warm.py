"""The judge's first-use costs, paid before the first notebook instead of inside it: loading the rubrics and
the first calls of the reference math (``torch.autograd``: a Jacobian, and a Hessian by double backward).

Run by every grading process while its kernel zygote warms up beside it (``autograder autograde``'s
coordinator, ``nbgrader autograde`` through ``GuardedExecute``, the instant-feedback service)."""

from __future__ import annotations


def warm_up() -> None:
    import torch

    from .reference_math import hessian, jacobian
    from .rubrics import load_all

    load_all()
    x = torch.linspace(-1.0, 1.0, 3, dtype=torch.float64)
    jacobian(torch.sin, x)
    hessian(lambda t: (t**3).sum(), x)
