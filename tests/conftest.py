"""Fixtures shared by the project's own tests."""
