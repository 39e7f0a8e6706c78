"""Typed probe errors: every library error is translated into one of these at the boundary.

Only :class:`AuthError` asks the operator for new credentials; the others mean
"try again later" or "this device cannot do that" (see STYLE.md §8).
"""

from __future__ import annotations

__all__ = [
    "ProbeError",
    "AuthError",
    "UnreachableError",
    "UnsupportedError",
    "MalformedError",
    "ProbeTimeout",
]


class ProbeError(Exception):
    """Base class of every error a probe reports about a device."""

    kind = "error"

    def __init__(self, target: str, detail: str) -> None:
        self.target = target
        self.detail = detail
        super().__init__(f"{target}: {self.kind}: {detail}")

    def as_text(self) -> str:
        """Return the one-line form used in survey documents (`kind: detail`)."""
        return f"{self.kind}: {self.detail}"


class AuthError(ProbeError):
    """The device refused the credentials, or needs some and none were given."""

    kind = "auth"


class UnreachableError(ProbeError):
    """Nothing answered: connection refused, reset, or no route."""

    kind = "unreachable"


class UnsupportedError(ProbeError):
    """The device answered that it does not implement the operation."""

    kind = "unsupported"


class MalformedError(ProbeError):
    """The device answered with something we could not parse, or refused to parse (XML bombs, oversized bodies)."""

    kind = "malformed"


class ProbeTimeout(ProbeError):
    """The device did not answer within the timeout or the per-device budget."""

    kind = "timeout"
