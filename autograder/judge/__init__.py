"""The trusted half of the grader: rebuilds each scenario's inputs, computes reference answers and the
answers each misconception would give, compares them with the probe's records and scores the cell.
It runs in the grading process (nbgrader's or ours), never in a student's kernel.

Vocabulary, one word per thing:

* a **rubric** (``rubrics/<ps>.py``) judges one kind of scenario;
* a **Judgement** (``judgement.py``) is what a rubric fills in for one scenario: its findings;
* a **verdict** (``verdict.py``, ``CellVerdict``) is a test cell's score, from its scenarios' results;
* **feedback** (``feedback.py``) is a verdict rendered for the student, as text or HTML.

The class report over many students lives elsewhere, in ``autograder/reporting``.
"""
