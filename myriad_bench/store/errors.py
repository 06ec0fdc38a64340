"""The errors of saved files: one a caller catches for every unusable file."""

from __future__ import annotations

__all__ = ["ArtifactError", "UnsafePickleError"]


class ArtifactError(RuntimeError):
    """A saved file that cannot be used: truncated, garbage, foreign or of a newer format.

    A ``RuntimeError`` so that callers of the seed API (``load_agent`` documents
    ``RuntimeError``) keep working; the message names the file and what was expected.
    """


class UnsafePickleError(ArtifactError):
    """A pickle that refers to a global outside the allow-list; nothing in it was run."""
