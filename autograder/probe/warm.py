"""Pay torch's one-time costs before the first student call is timed.

The first ``torch.func`` call in a process imports hundreds of modules: every reverse transform (``grad``,
``vjp``, ``jacrev``, ``hessian``) enters ``torch._dynamo.compiled_autograd``, which imports
``torch._dynamo``, and the first forward-mode call (``jvp``, ``jacfwd``, a dual number) loads the
forward-AD decompositions. On a loaded machine that is several seconds, and inside a student's call it
would count against the call's time limit. ``warm_up`` runs tiny versions of those calls once per process,
and the first use of our method tap with them: the kernel zygote does it before it forks, and the probe
(``collect``) before the first scenario of a plain kernel, outside any time limit.
"""

from __future__ import annotations

import contextlib
import io
import warnings

_warmed = False
WARM_SECONDS = 60.0   # a bound, should the kernel's torch have been replaced by something that never returns


def warm_up() -> None:
    """Import and exercise what a student's first AD call would otherwise load (once per process; never
    raises, prints nothing, uses no random numbers and changes no global setting)."""
    global _warmed
    if _warmed:
        return
    _warmed = True
    from .monitors import time_limit

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()), time_limit(WARM_SECONDS):
            warnings.simplefilter("ignore")
            _exercise()
    except KeyboardInterrupt:
        raise
    except BaseException:  # a failed warm-up only means the first student call pays the costs itself
        pass


def _exercise() -> None:
    import torch
    import torch._decomp.decompositions_for_jvp  # noqa: F401  (forward-mode AD: jvp, jacfwd, dual numbers)
    import torch._dynamo  # noqa: F401  (every torch.func reverse transform)
    import torch.autograd.functional as functional
    import torch.func as tf
    from torch.autograd import forward_ad

    from . import library, method_tap

    dtype = torch.float64
    W = torch.linspace(-1.0, 1.0, 6, dtype=dtype).reshape(2, 3)
    x = torch.linspace(0.1, 0.3, 3, dtype=dtype)
    f = lambda t: torch.tanh(W @ t)                     # noqa: E731
    s = lambda t: (torch.tanh(W @ t) ** 2).sum()        # noqa: E731
    tf.vmap(tf.jacrev(f))(torch.stack([x, 2 * x]))
    tf.jacfwd(f)(x)
    tf.jvp(f, (x,), (x,))
    tf.vjp(f, x)[1](torch.ones(2, dtype=dtype))
    tf.hessian(s)(x)
    tf.jvp(tf.grad(s), (x,), (x,))
    functional.jacobian(f, x, vectorize=True)
    with forward_ad.dual_level():
        forward_ad.unpack_dual(f(forward_ad.make_dual(x, x)))
    leaf = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(s(leaf), leaf, create_graph=True)
    torch.autograd.grad(g @ x, leaf)
    tapped = library.TanhLayer(W, torch.ones(2, dtype=dtype))
    with method_tap.watching():                         # the tap's first uses under each transform
        tf.jacrev(tapped)(x)
        tf.jacfwd(tapped)(x)
        tf.vmap(tapped)(torch.stack([x, 2 * x]))
        leaf = x.clone().requires_grad_(True)
        tapped(leaf).sum().backward()
