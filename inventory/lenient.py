"""Read a survey document leniently: every object, list and field of the contract may be null or mistyped.

One home for the readers the report, the findings and the health table share, so a document
with ``"firmware": null`` (or a number where text belongs) renders instead of failing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_dict", "as_list", "as_str", "as_num", "texts"]


def as_dict(value: Any) -> dict[str, Any]:
    """Return value if it is an object, else {}."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """Return value if it is a list, else []."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """Return value as text: "" for null, str() for anything else that is not text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def as_num(value: Any) -> float | None:
    """Return value as a number, or None when it is null, a bool or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def texts(value: Any) -> list[str]:
    """Return the non-empty text items of a list (null items and non-lists skipped)."""
    return [as_str(v) for v in as_list(value) if v is not None and as_str(v)]
