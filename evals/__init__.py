"""Evaluation: metrics, answer extraction, aggregation, runners and reports."""
