"""Scenario suites, one module per assignment. Each module calls ``scenario.register`` with a mapping
from autograder test-cell grade_id to the scenarios that cell runs."""
