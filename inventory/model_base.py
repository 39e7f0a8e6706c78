"""The inventory's declarative base and the column types and checks every model shares.

``Base`` names constraints the way Alembic relies on; ``UtcDateTime`` keeps timestamps in UTC;
``_check_enum``/``_check_name`` are the small validators the models' ``validate()`` use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from sitescout.inventory.errors import ValidationError

__all__ = ["Base", "UtcDateTime", "normalize_mac", "utcnow"]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ENUM_LEN = 20


def utcnow() -> datetime:
    """Return the current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_mac(mac: str | None) -> str | None:
    """Return a MAC as aa:bb:cc:dd:ee:ff, or None; raise ValidationError if it is not one."""
    if mac is None or not mac.strip():
        return None
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", mac)
    candidate = ":".join(hexdigits[i : i + 2] for i in range(0, len(hexdigits), 2)).lower()
    if len(hexdigits) != 12 or not re.fullmatch(r"[0-9a-fA-F:.\- ]+", mac.strip()) or not _MAC.match(candidate):
        raise ValidationError("mac", f"{mac!r} is not a MAC address; write it as aa:bb:cc:dd:ee:ff")
    return candidate


def _check_enum(field: str, value: Any, enum: type[Enum]) -> None:
    try:
        enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValidationError(field, f"{value!r} is not one of: {allowed}") from None


def _check_name(field: str, value: str | None) -> None:
    if value is None or not value.strip():
        raise ValidationError(field, "must not be empty")


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can rely on."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

    def __init__(self, **kwargs: Any) -> None:
        # Scalar column defaults apply at construction, so validate() sees them before the INSERT.
        for column in self.__table__.columns:
            default = column.default
            if column.key not in kwargs and default is not None and getattr(default, "is_scalar", False):
                kwargs[column.key] = default.arg
        for key, value in kwargs.items():
            if not hasattr(type(self), key):
                raise TypeError(f"{type(self).__name__} has no attribute {key!r}")
            setattr(self, key, value)

    def validate(self) -> None:
        """Check cross-field rules; raise ValidationError with a message a person can act on."""
