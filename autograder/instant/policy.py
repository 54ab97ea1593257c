"""Per-assignment policy of instant feedback, read from the course's ``nbgrader_config.py``::

    c.InstantFeedback.assignments = {
        "ps2_vjp": {"enabled": True, "show": "diagnosis", "per_hour": 6, "per_day": 20, "until_deadline": True},
    }

Every key is optional except that an assignment absent from the dict (or with ``enabled`` false) gets no
instant feedback: the default is off.
"""

from __future__ import annotations

from dataclasses import dataclass

from traitlets import Dict
from traitlets.config import Config, Configurable

SHOW_CHOICES = ("diagnosis", "score", "nothing")


class InstantFeedback(Configurable):
    assignments = Dict(help="assignment -> {enabled, show (diagnosis|score|nothing), per_hour, per_day, "
                            "until_deadline}"
                       ).tag(config=True)


@dataclass(frozen=True)
class Policy:
    enabled: bool = False
    show: str = "diagnosis"          # what the student sees: the full feedback, the score only, or nothing
    per_hour: int = 10               # graded submissions per student and hour; more get a note, ungraded
    per_day: int | None = None       # and per day (24 hours); None: no daily limit
    until_deadline: bool = True      # a late submission (exchange's flag or gradebook's due date): none

    @property
    def active(self) -> bool:
        return self.enabled and self.show != "nothing"


class PolicyError(ValueError):
    pass


def policy_of(raw: dict) -> Policy:
    unknown = set(raw) - {"enabled", "show", "per_hour", "per_day", "until_deadline"}
    if unknown:
        raise PolicyError(f"unknown InstantFeedback keys: {', '.join(sorted(unknown))}")
    policy = Policy(**raw)
    if policy.show not in SHOW_CHOICES:
        raise PolicyError(f"InstantFeedback show={policy.show!r}: choose one of {', '.join(SHOW_CHOICES)}")
    if int(policy.per_hour) < 1:
        raise PolicyError("InstantFeedback per_hour must be at least 1")
    if policy.per_day is not None and int(policy.per_day) < 1:
        raise PolicyError("InstantFeedback per_day must be at least 1 (or None: no daily limit)")
    return policy


def policies(config: Config) -> dict[str, Policy]:
    """assignment -> its policy, for every assignment the config names."""
    settings = InstantFeedback(config=config).assignments
    return {name: policy_of(dict(raw)) for name, raw in settings.items()}
