"""Tables of the alert path: alerts received from Alertmanager, a site's contacts, notifications sent.

Kept apart from ``models.py`` (the curated inventory) the way observations are kept apart from intended
state: an alert is operational state that Alertmanager owns; the inventory only mirrors it so the map and
the site page can show it and the notifier can remember what it already said.  ``inventory.db`` imports
this module so the tables are part of ``Base.metadata`` wherever the database is opened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sitescout.inventory.models import Base, UtcDateTime, utcnow

__all__ = ["Alert", "Contact", "Notification"]


class Alert(Base):
    """One alert as Alertmanager last reported it (identified by its fingerprint)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    alertname: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), index=True)  # firing | resolved
    severity: Mapped[str] = mapped_column(String(20), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True,
                                                nullable=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Contact(Base):
    """A person told about a site's alerts; quiet hours are local minutes of the day (from may exceed to)."""

    __tablename__ = "site_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40), default="")
    zalo_user_id: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    language: Mapped[str] = mapped_column(String(8), default="vi")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    quiet_from_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quiet_to_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The alert severities this person wants to hear about ("critical,warning"; inventory.contacts.SEVERITIES).
    severities: Mapped[str] = mapped_column(String(40), default="critical,warning")


class Notification(Base):
    """One message to one contact through one channel: sent, failed or skipped (and why)."""

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("site_contacts.id", ondelete="SET NULL"),
                                                   nullable=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))  # sent | failed | skipped
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
