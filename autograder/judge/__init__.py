"""The trusted half of the grader: rebuilds each scenario's inputs, computes reference answers and the
answers each misconception would give, compares them with the probe's records and scores the cell.
It runs in the grading process (nbgrader's or ours), never in a student's kernel."""
