"""Extensions that plug into nbgrader's own pipeline through ``nbgrader_config.py``, so the plain
``nbgrader autograde`` / ``generate_feedback`` commands grade the course correctly."""

from .feedback import StripHiddenTests
from .judge_probes import JudgeProbeRecords

__all__ = ["JudgeProbeRecords", "StripHiddenTests"]
