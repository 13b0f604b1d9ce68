"""Evaluation: scoring the modes, the document-update test, the advisor."""
