"""Helpers for the end-to-end tests (importable by their subprocesses)."""
