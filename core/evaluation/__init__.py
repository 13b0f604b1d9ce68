"""Scoring the modes on a question set: metrics, the runner, saved runs."""
