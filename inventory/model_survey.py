"""What surveys observed, kept apart from the curated records.

Survey (the raw document), SurveySnapshot, Observation, DeviceHealth (latest health per
device), Finding (changes a survey noticed) and Candidate (a surveyed device that matched
nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sitescout.inventory.choices import CandidateState, Health
from sitescout.inventory.model_base import _ENUM_LEN, Base, UtcDateTime, _check_enum, utcnow

__all__ = ["Survey", "SurveySnapshot", "Observation", "DeviceHealth", "Finding", "Candidate"]


class Survey(Base):
    """One survey document as received (idempotent by site, started_at and content hash)."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("site_id", "started_at", "content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    site_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    content_sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    snapshots: Mapped[list[SurveySnapshot]] = relationship(cascade="all, delete-orphan")


class SurveySnapshot(Base):
    """A camera picture taken during a survey, kept with it."""

    __tablename__ = "survey_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    source: Mapped[str] = mapped_column(String(20))
    uri: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Observation(Base):
    """One measurement of a device (from a survey or the worker), never a curated fact."""

    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_device_time", "device_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    health: Mapped[str] = mapped_column(String(_ENUM_LEN), default=Health.UNKNOWN.value)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def validate(self) -> None:
        """Check the health value."""
        _check_enum("health", self.health, Health)


class DeviceHealth(Base):
    """Latest observed health of a device, so the map never scans all observations."""

    __tablename__ = "device_health"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    health: Mapped[str] = mapped_column(String(_ENUM_LEN))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")


class Finding(Base):
    """A change or problem a survey noticed (new firmware, moved IP, missing device…)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40))
    inventory_value: Mapped[str | None] = mapped_column(Text)
    observed_value: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


class Candidate(Base):
    """A surveyed device that matched nothing: a person accepts (creating a Device) or rejects it."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("survey_id", "ip"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(_ENUM_LEN), default=CandidateState.PENDING.value)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def validate(self) -> None:
        """Check the state and that an accepted candidate points at its device."""
        _check_enum("state", self.state, CandidateState)
