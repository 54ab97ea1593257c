"""The per-call limit of a student's function counts CPU time, so a loaded grading machine never turns a
correct answer into a timeout; a call that waits without computing is still stopped by a wall backstop."""

from __future__ import annotations

import time

import pytest

from autograder.probe.contract import ProbeTimeout
from autograder.probe.monitors import WALL_FACTOR, time_limit


def _spin():
    while True:
        pass


def test_an_endless_computation_is_stopped():
    with pytest.raises(ProbeTimeout, match="did not finish"), time_limit(0.2):
        _spin()


def test_a_call_that_only_waits_is_stopped_by_the_wall_backstop():
    with pytest.raises(ProbeTimeout) as caught, time_limit(0.1):
        time.sleep(3600)
    assert "CPU" not in str(caught.value) and f"{WALL_FACTOR * 0.1:g} s" in str(caught.value)


def test_waiting_longer_than_the_cpu_budget_is_not_a_timeout():
    """Sleeping uses no CPU: a call that is slow only because the machine is busy stays within budget."""
    with time_limit(1.0):
        time.sleep(1.5)  # past the CPU budget in wall time, seconds below the wall backstop


def test_the_timers_and_handlers_are_restored():
    import signal

    before = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)
    with time_limit(1.0):
        pass
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)) == before
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
