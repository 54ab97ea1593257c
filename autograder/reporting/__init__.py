"""Reading graded results back: per-cell summaries from autograded notebooks, and the class report."""
