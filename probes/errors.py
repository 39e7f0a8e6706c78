"""Every error of the probes package, under one base class (:class:`ProbesError`).

Device errors (:class:`ProbeError` and its kinds) are translated from library errors at the
boundary.  Only :class:`AuthError` asks the operator for new credentials; the others mean
"try again later" or "this device cannot do that" (see STYLE.md §8).

A device error keeps its kind to the edge: :meth:`ProbeError.as_code` gives the survey
document's ``error_codes`` entry (``{"code": "unsupported", "params": {...}}``, the code an
:class:`ErrorCode`), :meth:`ProbeError.as_text` the one-line English form of the contract's
``errors`` list.  Readers (the worker's reason label, inventory findings, reports) read the
code, never the words (STYLE.md §20).  The codes are documented in docs/survey.md.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "ProbesError",
    "ErrorCode",
    "ProbeError",
    "AuthError",
    "UnreachableError",
    "UnsupportedError",
    "MalformedError",
    "ProbeTimeout",
    "error_entry",
    "error_fields",
    "text_entry",
    "reason_label",
    "TargetsError",
    "CredentialsFileError",
    "ProbeRequestError",
    "ProbeBusyError",
    "WebConfigError",
]

# IcmpUnavailableError (a ProbesError) lives in probes/net/icmp.py, which must load with the standard library only.


class ProbesError(Exception):
    """Base class of every error the probes package raises on purpose."""


class ErrorCode(str, enum.Enum):  # noqa: UP042  (str() of a member is kept as Python 3.11 gives it)
    """The kind of a device error: what the operator can do about it.

    ``OTHER`` marks an ``errors`` entry that is not a typed device error (a discovery note such
    as another endpoint claiming the address); its only parameter is ``text``.
    """

    AUTH = "auth"
    UNREACHABLE = "unreachable"
    UNSUPPORTED = "unsupported"
    MALFORMED = "malformed"
    TIMEOUT = "timeout"
    OTHER = "other"


#: The worker's ``reason`` label of each code: the values dashboards and alert rules use
#: (probes/worker/jobs.py REASONS).  A code not in the table (OTHER) is ``"error"``.
_REASONS = {ErrorCode.AUTH: "auth", ErrorCode.UNREACHABLE: "unreachable", ErrorCode.UNSUPPORTED: "unsupported",
            ErrorCode.MALFORMED: "malformed", ErrorCode.TIMEOUT: "timeout"}


class ProbeError(ProbesError):
    """Base class of every error a probe reports about a device."""

    code: ClassVar[ErrorCode] = ErrorCode.OTHER
    kind = "error"

    def __init__(self, target: str, detail: str) -> None:
        self.target = target
        self.detail = detail
        super().__init__(f"{target}: {self.kind}: {detail}")

    def as_text(self) -> str:
        """Return the one-line form used in survey documents (`kind: detail`)."""
        return f"{self.kind}: {self.detail}"

    def as_code(self, **params: Any) -> dict[str, Any]:
        """Return the ``error_codes`` entry: the code and its parameters (``detail`` plus `params`)."""
        return error_entry(self.code, detail=self.detail, **params)


class AuthError(ProbeError):
    """The device refused the credentials, or needs some and none were given."""

    code = ErrorCode.AUTH
    kind = "auth"


class UnreachableError(ProbeError):
    """Nothing answered: connection refused, reset, or no route."""

    code = ErrorCode.UNREACHABLE
    kind = "unreachable"


class UnsupportedError(ProbeError):
    """The device answered that it does not implement the operation."""

    code = ErrorCode.UNSUPPORTED
    kind = "unsupported"


class MalformedError(ProbeError):
    """The device answered with something we could not parse, or refused to parse (XML bombs, oversized bodies)."""

    code = ErrorCode.MALFORMED
    kind = "malformed"


class ProbeTimeout(ProbeError):
    """The device did not answer within the timeout or the per-device budget."""

    code = ErrorCode.TIMEOUT
    kind = "timeout"


def error_entry(code: ErrorCode, **params: Any) -> dict[str, Any]:
    """Return one ``error_codes`` entry; parameters that are None are left out."""
    return {"code": code.value, "params": {k: v for k, v in params.items() if v is not None}}


def error_fields(err: ProbeError, **params: Any) -> dict[str, Any]:
    """Return a result's two error fields: ``error`` (the text) and ``error_code`` (its entry)."""
    return {"error": err.as_text(), "error_code": err.as_code(**params)}


def text_entry(text: str) -> dict[str, Any]:
    """Return the ``error_codes`` entry of an untyped ``errors`` string (code ``other``)."""
    return error_entry(ErrorCode.OTHER, text=text)


def reason_label(code: ErrorCode | str | dict[str, Any] | None) -> str:
    """Return the worker's ``reason`` label of a code, or of an ``error_codes`` entry.

    ``"error"`` when untyped (``other``), unknown or None.
    """
    value = code.get("code") if isinstance(code, dict) else code
    try:
        return _REASONS.get(ErrorCode(value), "error")
    except ValueError:
        return "error"


# -- errors about our own inputs (files, requests), not about devices ------------------------


class TargetsError(ProbesError, ValueError):
    """The targets file is unreadable or invalid; ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


class WebConfigError(ProbesError, ValueError):
    """The web config file is unreadable or invalid; ``str()`` is ``FILE:LINE: key: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


class CredentialsFileError(ProbesError, ValueError):
    """The credentials file is missing, unreadable or not in the expected shape."""

    def __init__(self, path: str | Path, detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class ProbeRequestError(ProbesError, ValueError):
    """A /probe request that cannot be run (bad module, target or parameter): HTTP 400.

    Its text starts with the parameter's name (``count: must be ...``).
    """


class ProbeBusyError(ProbesError, RuntimeError):
    """A /probe request over its module's limit of requests in flight: HTTP 503."""

    def __init__(self, module: str, limit: int) -> None:
        super().__init__(f"{module}: {limit} /probe request(s) of this module already in flight (the limit); "
                         "try again later")
        self.module = module
        self.limit = limit

