"""One scenario run against the student's namespace: calls, observations and the resulting record."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import method_tap
from .contract import RECORD_VERSION, ProbeTimeout, Status
from .encode import encode, encode_error
from .monitors import (
    AutogradCalls,
    SavedTensors,
    Stopwatch,
    captured_output,
    default_autograd_state,
    student_frames,
    time_limit,
)
from .scenario import Scenario


class StopScenario(Exception):
    """Ends a scenario early (its function is missing or ran out of time)."""


# Functions that already ran out of time in this kernel: later checks skip them instead of waiting again.
_TIMED_OUT: set[int] = set()


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Session:
    def __init__(self, scenario: Scenario, namespace: dict, call_seconds: float) -> None:
        self.scenario = scenario
        self.namespace = namespace
        self.call_seconds = call_seconds
        self.calls: dict[str, dict] = {}
        self.observed: dict[str, dict] = {}
        self.status = Status.DONE

    # ------------------------------------------------------------------ used by scenario steps
    def call(self, label: str, *args, **kwargs) -> Outcome:
        """Call the student's function and record what it returned, raised, printed and used, and what it
        did with the test functions among the arguments (``method_tap``)."""
        fn = self.namespace.get(self.scenario.function)
        if not callable(fn):
            self.status = Status.MISSING if fn is None else Status.NOT_CALLABLE
            raise StopScenario
        if id(fn) in _TIMED_OUT:
            self.status = Status.TIMEOUT
            raise StopScenario
        counter = AutogradCalls()
        saved = SavedTensors() if self.scenario.measure_saved else contextlib.nullcontext()
        outcome = Outcome()
        with captured_output() as printed, Stopwatch() as watch, method_tap.watching() as method:
            try:
                with default_autograd_state(), time_limit(self.call_seconds), counter, saved:
                    outcome.value = fn(*args, **kwargs)
                    if isinstance(saved, SavedTensors):     # within the time limit: it may run the student's hooks
                        saved.adopt(outcome.value)
            except KeyboardInterrupt:
                raise
            except ProbeTimeout as exc:
                outcome.error = exc
            except BaseException as exc:  # SystemExit included: a student's sys.exit() is a wrong answer
                outcome.error = exc
        entry = {
            "autograd": counter.summary(),
            "printed": printed.summary(),
            "seconds": round(watch.seconds, 6),
        }
        if isinstance(saved, SavedTensors) and saved.intact:   # a measurement the call tampered with is left out
            entry["saved"] = saved.summary()
        summary = method.summary()
        if summary is not None:
            entry["method"] = summary
        if outcome.error is None:
            entry["value"] = self._encode(outcome.value)
        else:
            entry["error"] = encode_error(outcome.error, student_frames(outcome.error.__traceback__))
        self.calls[label] = entry
        if isinstance(outcome.error, ProbeTimeout):
            _TIMED_OUT.add(id(fn))
            self.status = Status.TIMEOUT
            raise StopScenario
        return outcome

    def observe(self, name: str, value: Any, *, with_grad: bool = False) -> None:
        """Record something the judge should see (e.g. an earlier result after a later call)."""
        self.observed[name] = self._encode(value, with_grad=with_grad)

    @contextlib.contextmanager
    def stand_in(self, name: str, replacement: Callable):
        """Swap a global of the student's notebook for a known-good version while checking another
        function, so that a mistake in one function costs no points in the tests of the other.

        The swap happens in the globals the function under test resolves names in (normally the
        notebook's namespace)."""
        fn = self.namespace.get(self.scenario.function)
        scope = getattr(fn, "__globals__", None)
        scope = scope if isinstance(scope, dict) else self.namespace
        missing = object()
        previous = scope.get(name, missing)
        scope[name] = replacement
        try:
            yield
        finally:
            if previous is missing:
                scope.pop(name, None)
            else:
                scope[name] = previous

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _encode(value: Any, *, with_grad: bool = False) -> dict:
        try:
            return encode(value, with_grad=with_grad)
        except Exception as exc:  # a hostile object that breaks introspection
            return {"t": "object", "type": "unknown", "repr": f"<could not be recorded: {exc!r}>"[:300]}

    def run(self) -> dict:
        scenario = self.scenario
        record: dict = {"v": RECORD_VERSION, "scenario": scenario.id, "function": scenario.function}
        try:
            inputs = scenario.inputs()
            record["inputs_before"] = {k: self._encode(v, with_grad=True) for k, v in inputs.items()}
            try:
                scenario.steps(self, inputs)
            except StopScenario:
                pass
            record["inputs_after"] = {k: self._encode(v, with_grad=True) for k, v in inputs.items()}
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the probe itself failed (e.g. torch was monkeypatched)
            self.status = Status.PROBE_ERROR
            record["probe_error"] = encode_error(exc, [])
        record.update(status=self.status, calls=self.calls, observed=self.observed)
        return record


def current_namespace(depth: int = 2) -> dict:
    return sys._getframe(depth).f_globals
