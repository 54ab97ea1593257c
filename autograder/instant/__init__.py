"""Instant feedback: ``autograder serve`` grades each submission as it arrives and answers it through the exchange
(see docs/instant_feedback.md)."""
