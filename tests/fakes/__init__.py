"""Deterministic fakes that sit at the app's boundaries (real protocols, canned behaviour)."""
