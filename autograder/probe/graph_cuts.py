"""Notice when a student's code cuts the autograd graph and then finds the gradient missing.

A cut is ``.detach()``, ``.data`` or an operation run under ``torch.no_grad()`` on a tensor that is part of a
graph. It severs the leaves that tensor depends on: no backward pass through what is computed from the cut
can reach them. That alone is often right (copying the caller's input, ``x.detach().requires_grad_()``), so
a cut is reported only together with its symptom:

- ``grad_none``: the ``.grad`` of a severed leaf that requires grad was read and was None;
- ``unreached_input``: ``torch.autograd.grad(..., allow_unused=True)`` returned None for a severed input;
- ``detached_root``: a reverse pass started from a tensor that does not require grad, after a cut.

The judge uses these facts to name the cause of a missing or zero gradient ("the graph was cut by
``.detach()`` on an intermediate result") instead of its symptom ("you returned None"). Facts only, never
an answer; the recorder never changes what the student's code computes, and a failure inside it is
swallowed (a missing fact costs no points).
"""

from __future__ import annotations

import weakref

import torch

from .contract import MAX_CUTS

MAX_SEVERED = 512        # leaves remembered per call
MAX_WALK = 4000          # graph nodes visited to find the leaves behind one cut
MAX_WALKS = 256          # cuts whose leaves are looked up per call


def _descriptor(func) -> str | None:
    """'grad' / 'data' for the getter of that Tensor attribute, else None."""
    owner = getattr(func, "__self__", None)
    if getattr(func, "__name__", None) == "__get__" and owner is not None:
        return getattr(owner, "__name__", None)
    return None


def _tensors(args) -> list[torch.Tensor]:
    found = []
    for arg in args:
        if isinstance(arg, torch.Tensor):
            found.append(arg)
        elif isinstance(arg, (list, tuple)):
            found.extend(a for a in arg if isinstance(a, torch.Tensor))
    return found


def _leaves(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The leaves that require grad behind ``tensor`` (itself, if it is one)."""
    node = tensor.grad_fn
    if node is None:
        return [tensor] if tensor.requires_grad else []
    found, seen, stack = [], set(), [node]
    while stack and len(seen) < MAX_WALK:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            found.append(variable)
        stack.extend(next_node for next_node, _ in getattr(node, "next_functions", ()))
    return found


class GraphCuts:
    """Fed by ``monitors.AutogradCalls`` with every torch function a call runs (before and after it)."""

    def __init__(self) -> None:
        self._severed: dict[int, tuple[weakref.ref, str, str]] = {}   # id(leaf) -> (leaf, via, where)
        self._walks = 0
        self._switched_off = False       # grad switched off by the student's code (not by torch itself)
        self.events: list[dict] = []

    # ------------------------------------------------------------------ fed by the torch function mode
    def before(self, kind: str | None, func, args, kwargs) -> None:
        try:
            if kind is not None and self._severed:
                roots = args[0] if kind == "backward" else kwargs.get("outputs", args[0] if args else None)
                roots = roots if isinstance(roots, (list, tuple)) else [roots]
                if any(isinstance(r, torch.Tensor) and not r.requires_grad for r in roots):
                    via, where = self._latest()
                    self._event(via, where, "detached_root")
        except Exception:
            pass

    def after(self, kind: str | None, func, args, kwargs, result) -> None:
        try:
            self._after(kind, func, args, kwargs, result)
        except Exception:
            pass

    def _after(self, kind, func, args, kwargs, result) -> None:
        attribute = _descriptor(func)
        if attribute == "grad":
            tensor = args[0] if args else None
            if result is None and isinstance(tensor, torch.Tensor) and tensor.requires_grad and tensor.is_leaf:
                self._symptom(tensor, "grad_none")
            return
        if attribute == "data":
            self._cut(args[0] if args else None, "data")
            return
        name = getattr(func, "__name__", "")
        if name == "_set_grad_enabled" and args:
            # the student's own switch (``torch.no_grad()``, ``set_grad_enabled``); autograd.Function.forward
            # also runs without grad, but that is no cut: the Function joins the graph itself
            self._switched_off = not bool(args[0])
        elif name in ("detach", "detach_"):
            self._cut(args[0] if args else None, "detach")
        elif kind == "autograd.grad" and isinstance(result, (list, tuple)):
            inputs = kwargs.get("inputs", args[1] if len(args) > 1 else None)
            inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            for tensor, grad in zip(inputs, result, strict=False):
                if grad is None and isinstance(tensor, torch.Tensor):
                    self._symptom(tensor, "unreached_input")
        elif kind is None and self._switched_off and not torch.is_grad_enabled():
            for tensor in _tensors(args):
                if tensor.requires_grad:
                    self._cut(tensor, "no_grad")

    # ------------------------------------------------------------------ bookkeeping
    def _cut(self, source, via: str) -> None:
        if not isinstance(source, torch.Tensor) or not source.requires_grad or self._walks >= MAX_WALKS:
            return
        self._walks += 1
        where = "leaf" if source.grad_fn is None else "intermediate"
        for leaf in _leaves(source):
            if len(self._severed) >= MAX_SEVERED:
                break
            self._severed[id(leaf)] = (weakref.ref(leaf), via, where)

    def _symptom(self, tensor: torch.Tensor, symptom: str) -> None:
        entry = self._severed.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            self._event(entry[1], entry[2], symptom)

    def _latest(self) -> tuple[str, str]:
        _, via, where = next(reversed(self._severed.values()))
        return via, where

    def _event(self, via: str, where: str, symptom: str) -> None:
        event = {"via": via, "where": where, "symptom": symptom}
        if event not in self.events and len(self.events) < MAX_CUTS:
            self.events.append(event)
