"""Batch autograding: ``autograder autograde`` grades a cohort with kernels forked from a warm parent,
in parallel, into nbgrader's gradebook and ``autograded/`` folder, resumably."""
