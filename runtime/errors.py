"""Errors the runtime reports: a bad artifact, or inputs that do not match the model."""

from __future__ import annotations


class RuntimeInputError(ValueError):
    """The inputs given to a model do not match its signature. `str()` is one line."""


class ArtifactError(ValueError):
    """The file is not a graphc artifact, is damaged, or was made by an incompatible version."""
