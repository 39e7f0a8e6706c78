"""Errors every subcommand raises to get the command's exit status and one-line message."""

from __future__ import annotations

__all__ = ["UsageError", "CommandError"]


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


class CommandError(Exception):
    """The command could not do its job: exit status 1."""
