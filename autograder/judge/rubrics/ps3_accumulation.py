"""Rubrics for ps3_accumulation (to be written)."""
