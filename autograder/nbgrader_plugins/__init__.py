"""Extensions that plug into nbgrader's own pipeline through ``nbgrader_config.py``, so the plain
``nbgrader autograde`` / ``generate_feedback`` commands grade the course correctly:

* ``execute.GuardedExecute`` — nbgrader's Execute in the sandbox, surviving dead kernels;
* ``judge_probes.JudgeProbeRecords`` — the trusted judge that scores the hidden tests' records;
* ``feedback.StripHiddenTests`` — feedback without hidden test code;
* ``submission_check.nbgrader_hook`` — broken submissions made gradable, nothing lost.

(No imports here: the batch grader loads ``submission_check`` without loading nbgrader.)
"""
