"""The latest observation of each kind of each device: what a device's health is computed from.

Before this table, every batch of observations read back up to 200 of each device's newest rows
(values and all) to recompute its health: 100,000 JSON decodes for a batch of 500 link results, and
the observation path could not keep up with a province (``docs/scale.md``).  One row per (device,
kind) is kept current as observations are stored (``inventory.observations.note_latest``), so a
batch reads a few rows per device.  ``inventory.db`` imports this module so the table is part of
``Base.metadata`` wherever the database is opened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sitescout.inventory.models import Base, UtcDateTime

__all__ = ["ObservationLatest"]


class ObservationLatest(Base):
    """A device's newest observation of one kind (the newest by time, then by id, as stored)."""

    __tablename__ = "observation_latest"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: The observation's id: the tie-break between two results stamped with the same time.
    observation_id: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    health: Mapped[str] = mapped_column(String(20))
    #: ``values["reason"]`` of that observation ("" when it has none).
    reason: Mapped[str] = mapped_column(Text, default="")
