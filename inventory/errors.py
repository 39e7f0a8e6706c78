"""Every error of the inventory package, under one base class (:class:`InventoryError`).

Each builds its message from data and says what to do.  The classes here were defined in the
modules that raise them; those modules still import them under the old names
(``inventory.models.ValidationError``, ``inventory.db.ConflictError`` …).  Errors that belong to one
module only (``ImportFailed``, ``InvalidFields``, ``NotAnId``, ``PlanInputError``, ``SurveyError`` …)
stay there but derive from :class:`InventoryError` (or from :class:`ValidationError`).

Pure: no imports, so every inventory module can use it.
"""

from __future__ import annotations

__all__ = [
    "Coded", "InventoryError", "ValidationError", "DatabaseError", "ConflictError", "StaleError", "SecretKeyError",
]


class Coded(str):
    """An English message that also carries a stable code and its parameters (no words of its own).

    It is a ``str`` (logs, the command and old callers read the English text), but the web renders
    ``code`` and ``params`` in the reader's language (web/errors.py).  ``str()`` keeps it coded, so an
    exception whose message is a Coded still carries it through ``str(err)``.
    """

    code: str
    params: dict[str, object]

    def __new__(cls, code: str, template: str, **params: object) -> Coded:
        made = super().__new__(cls, template % params if params else template)
        made.code = code
        made.params = params
        return made

    def __str__(self) -> str:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (self.code, str.__str__(self), self.params)


def _rebuild(code: str, text: str, params: dict[str, object]) -> Coded:
    made = str.__new__(Coded, text)
    made.code = code
    made.params = params
    return made


class InventoryError(Exception):
    """Base class of every error the inventory package raises on purpose."""


class ValidationError(InventoryError, ValueError):
    """A record breaks a rule; ``field`` names the offending field, the message says what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DatabaseError(InventoryError):
    """The database cannot be opened or upgraded; the message says what to check."""


class ConflictError(InventoryError, ValueError):
    """A uniqueness rule was broken; the message names it and says what to do."""


class StaleError(InventoryError):
    """The record changed since the caller read it (its version, the ETag, no longer matches).

    One class for the records API (inventory/editing.py) and the accounts (inventory/accounts.py),
    which each defined their own before.
    """


class SecretKeyError(InventoryError):
    """The encryption key is missing, malformed or not the one the credentials were stored with."""
