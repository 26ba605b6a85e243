"""Errors of model loading, importable without torch or diffusers (fetch jobs and checks raise them)."""

__all__ = ["ModelNotAvailableError"]


class ModelNotAvailableError(RuntimeError):
    """A model id or directory could not be loaded (offline, typo, missing weights)."""
