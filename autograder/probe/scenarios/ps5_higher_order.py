"""Scenarios for ps5_higher_order (to be written)."""
