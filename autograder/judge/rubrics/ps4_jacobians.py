"""Rubrics for ps4_jacobians (to be written)."""
