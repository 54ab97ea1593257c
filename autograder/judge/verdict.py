"""Judge one autograder test cell: match the probe's records to the cell's scenarios, run each
scenario's rubric and turn the findings into a score."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from autograder.probe.contract import Status, Summary
from autograder.probe.scenario import Scenario, suite

from . import misconceptions as mc
from .judgement import Finding, Judgement, ScenarioResult, altered_inputs, error_rules, score_findings
from .record import BadRecord, Observation, decode_record
from .rubrics import get as get_rubric

log = logging.getLogger("autograder.judge")


@dataclass
class CellVerdict:
    grade_id: str
    function: str
    points: float
    score: float
    results: list[ScenarioResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # cell-level problems (tampering, crashes)
    hidden: bool = False

    @property
    def full_marks(self) -> bool:
        return self.score >= self.points - 1e-9

    def misconceptions(self) -> list[str]:
        keys: list[str] = []
        for result in self.results:
            for key in result.misconceptions:
                if key not in keys:
                    keys.append(key)
        return keys

    def summary(self) -> dict:
        """A JSON summary stored in the autograded notebook (read by ``autograder report``)."""
        return {
            Summary.GRADE_ID: self.grade_id, Summary.FUNCTION: self.function, Summary.SCORE: self.score,
            Summary.POINTS: self.points, Summary.NOTES: self.notes, Summary.MISCONCEPTIONS: self.misconceptions(),
            Summary.CHECKS: [{"scenario": r.scenario, "title": r.title, "fraction": round(r.fraction, 4),
                              "misconceptions": r.misconceptions} for r in self.results],
        }


def _failed(scenario: Scenario, key: str, detail: str | None = None, **fields) -> ScenarioResult:
    finding = Finding(scenario.title, False, 1.0, detail or mc.message(key, **fields), key)
    return ScenarioResult(scenario.id, scenario.title, scenario.weight, [finding], 0.0)


# Said of every cell whose records the probe could not have written as they are (forged, duplicated,
# altered, impossible): the cell earns nothing.
TAMPERED = "the record was tampered with"
TAMPERED_NOTE = (f"This cell's output holds probe records the grader did not write (forged, duplicated or "
                 f"impossible: {TAMPERED}); it earns no points.")


def judge_scenario(scenario: Scenario, record: dict | None, missing_reason: str = "",
                   obs: Observation | None = None) -> ScenarioResult:
    """One scenario's result from its record; never raises, whatever the record holds."""
    try:
        return _judge_scenario(scenario, record, missing_reason, obs)
    except Exception as exc:  # a rubric must not crash the batch, whatever the record holds
        log.exception("judging scenario %s failed", scenario.id)
        return _failed(scenario, "other_error",
                       f"the grader could not judge this result ({type(exc).__name__}); "
                       "please report this to your instructor.")


def _judge_scenario(scenario: Scenario, record: dict | None, missing_reason: str,
                    obs: Observation | None) -> ScenarioResult:
    if record is None:
        detail = "this check did not run" + (f": {missing_reason}" if missing_reason else ".")
        return _failed(scenario, "other_error", detail)
    if obs is None:
        try:
            obs = decode_record(record)
        except BadRecord:
            return _failed(scenario, "other_error", f"not graded: {TAMPERED}.")
    if obs.status in (Status.MISSING, Status.NOT_CALLABLE):
        return _failed(scenario, "missing_function" if obs.status == Status.MISSING else "not_callable",
                       function=scenario.function)
    if obs.status == Status.PROBE_ERROR:
        message = obs.probe_error.message if obs.probe_error else ""
        return _failed(scenario, "other_error",
                       "the hidden test could not even build its inputs in your kernel "
                       f"({(obs.probe_error.type if obs.probe_error else 'error')}: {message[:200]}). "
                       "Does your notebook monkeypatch torch or Python built-ins?")
    inputs = scenario.inputs()
    tampered = altered_inputs(obs, inputs)
    if tampered:
        return _failed(scenario, "input_tampered")
    judge = get_rubric(scenario.rubric_key)
    if judge is None:
        raise LookupError(f"no rubric registered for {scenario.rubric_key!r}")
    judgement = Judgement(obs, inputs, scenario.function, errors=error_rules(getattr(judge, "__module__", "")))
    judge(judgement)
    fraction = score_findings(judgement.findings, judgement.failed_hard)
    fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
    return ScenarioResult(scenario.id, scenario.title, scenario.weight, list(judgement.findings), fraction)


def _read(records: list, grade_id: str, expected: dict[str, Scenario]) -> dict[str, Observation] | None:
    """Each scenario's decoded record, or None if any record is one the probe could not have written:
    a record of another cell or scenario, a second record of a scenario, or a malformed one."""
    if not isinstance(records, list) or len(records) > len(expected):
        return None
    found: dict[str, Observation] = {}
    for record in records:
        if not isinstance(record, dict):
            return None
        sid = record.get("scenario")
        if not isinstance(sid, str) or sid not in expected or sid in found or record.get("grade_id") != grade_id:
            return None
        try:
            obs = decode_record(record)
        except Exception:  # BadRecord, or anything else an impossible record provokes
            return None
        if obs.function != expected[sid].function:
            return None
        found[sid] = obs
    return found


def judge_records(grade_id: str, records: list, points: float | None = None,
                  cell_problems: list[str] | None = None, unreadable: str | None = None) -> CellVerdict:
    """Score the test cell ``grade_id`` from the probe records found in its output.

    ``cell_problems`` are reasons the cell itself failed (timeout, dead kernel, an error before the
    hidden tests ran); they explain checks that left no record. Whatever the records hold, this returns
    a verdict with a score in [0, points]: a record the probe could not have written zeroes the cell,
    with the reason ``TAMPERED``.
    """
    scenarios = suite(grade_id)
    if scenarios is None:
        raise KeyError(f"no hidden tests are registered for {grade_id!r}")
    function = scenarios[0].function
    notes = list(cell_problems or [])
    expected = {s.id: s for s in scenarios}
    total_points = float(points) if points is not None else float(sum(s.weight for s in scenarios))
    hidden = grade_id.endswith("_hidden")
    if unreadable:
        results = [_failed(s, "unreadable_submission", reason=unreadable) for s in scenarios]
        return CellVerdict(grade_id, function, total_points, 0.0, results, [], hidden=hidden)
    observations = _read(records, grade_id, expected)
    if observations is None:
        notes.append(TAMPERED_NOTE)
        results = [_failed(s, "other_error", f"not graded: {TAMPERED}.") for s in scenarios]
        return CellVerdict(grade_id, function, total_points, 0.0, results, notes, hidden=hidden)
    by_id = {r["scenario"]: r for r in records}
    reason = "; ".join(notes) if notes else "the test cell stopped before it"
    results = [judge_scenario(s, by_id.get(s.id), reason, observations.get(s.id)) for s in scenarios]
    weight = sum(r.weight for r in results)
    earned = sum(r.weight * r.fraction for r in results)
    score = round(total_points * earned / weight, 4) if weight > 0 else 0.0
    score = min(max(score, 0.0), total_points) if math.isfinite(score) else 0.0
    return CellVerdict(grade_id, function, total_points, score, results, notes, hidden=hidden)
