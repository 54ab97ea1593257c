"""Scenarios for ps1_backward (to be written)."""
