"""The change log of curated records (``Change``) and the actions an entry may record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sitescout.inventory.errors import ValidationError
from sitescout.inventory.model_base import _ENUM_LEN, Base, UtcDateTime, utcnow

__all__ = ["Change", "CHANGE_ACTIONS"]


class Change(Base):
    """One write to a curated record (NetBox's changelog): who, when, what, before and after, never a secret.

    Written by ``inventory.changes.record_change`` in the same transaction as the write itself.
    ``site_id`` and ``object_id`` are plain numbers, not foreign keys: the history of a deleted
    site stays readable.
    """

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(_ENUM_LEN))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    object_repr: Mapped[str] = mapped_column(String(200), default="")
    site_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    def validate(self) -> None:
        """Check the action: a write, or a person's decision on a survey's finding or candidate."""
        if self.action not in CHANGE_ACTIONS:
            raise ValidationError("action", f"{self.action!r} is not one of: {', '.join(CHANGE_ACTIONS)}")


#: What a change log entry did: a write of one record, or a decision (inventory.changes.record_event).
CHANGE_ACTIONS = ("create", "update", "delete", "move", "apply", "dismiss", "accept", "merge", "reject",
                  "reevaluate")  # reevaluate: a workbench plan evaluated again on new network facts (#18)
