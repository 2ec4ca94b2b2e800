"""Helpers for torbit's own tests and bench scripts (never imported by the server)."""
