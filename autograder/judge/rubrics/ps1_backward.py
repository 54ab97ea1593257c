"""Rubrics for ps1_backward (to be written)."""
