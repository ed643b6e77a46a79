"""User-facing errors: one line that names the thing and the fix."""

from __future__ import annotations


class BeautyError(Exception):
    """A problem with the user's input or environment, reported as one line (exit code 1)."""


class ConfigError(BeautyError):
    """A setting in beauty.toml or a BEAUTY_* variable is invalid."""


class WorkspaceError(BeautyError):
    """No workspace where one is expected, or one where none should be."""
