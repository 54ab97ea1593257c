"""Banks of implementations per assignment: correct ones written with different APIs (they must keep
full marks) and wrong ones, one per misconception (they must lose points and be named)."""
