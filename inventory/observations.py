"""Recording observations from the worker, and keeping each device's latest health."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import Health
from sitescout.inventory.models import Device, DeviceHealth, Observation, ValidationError, utcnow

__all__ = ["record_observations", "update_health", "parse_time", "worst"]

_RANK = {Health.UNKNOWN.value: 0, Health.OK.value: 1, Health.WARNING.value: 2, Health.PROBLEM.value: 3}
#: A kind of observation counts towards a device's health while its latest result is
#: at most this much older than the device's newest one: a frozen stream checked a
#: minute ago is not hidden by a link echo answered a second ago, but an old survey's
#: verdict does not outlive the monitoring that followed it.
HEALTH_WINDOW = timedelta(hours=1)


def worst(*healths: str) -> str:
    """Return the worst of some health values."""
    return max(healths, key=lambda h: _RANK.get(h, 0), default=Health.UNKNOWN.value)


def parse_time(value: Any, field: str) -> datetime:
    """Return an aware datetime from an ISO 8601 string or datetime; raise ValidationError otherwise."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, f"{value!r} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an ISO 8601 time such as 2025-03-01T08:00:00+07:00") from None
    if parsed.tzinfo is None:
        raise ValidationError(field, f"{value!r} has no time zone; add +07:00 or Z")
    return parsed


def update_health(session: Session, device_id: int, health: str, observed_at: datetime, reason: str) -> None:
    """Set a device's latest health unless a newer one is already stored."""
    current = session.get(DeviceHealth, device_id)
    if current is None:
        session.add(DeviceHealth(device_id=device_id, health=health, observed_at=observed_at, reason=reason))
    elif current.observed_at <= observed_at:
        current.health, current.observed_at, current.reason = health, observed_at, reason


def record_observations(session: Session, observations: list[dict[str, Any]]) -> int:
    """Store observations ({device_id, kind, observed_at?, health, values?, reason?}) and return how many.

    A device's latest health becomes the worst health of its newest observations in the batch.
    Raises ValidationError naming the item when one is malformed; nothing is stored then.
    """
    device_ids = {o.get("device_id") for o in observations}
    known = set(session.scalars(select(Device.id).where(Device.id.in_([d for d in device_ids if isinstance(d, int)]))))
    latest: dict[int, tuple[datetime, str, list[str]]] = {}
    rows = []
    for index, item in enumerate(observations):
        if not isinstance(item, dict):
            raise ValidationError(f"observations[{index}]", "must be an object")
        device_id = item.get("device_id")
        if device_id not in known:
            raise ValidationError(f"observations[{index}].device_id", f"no device with id {device_id!r}")
        kind = item.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ValidationError(f"observations[{index}].kind", "give the probe kind, e.g. 'link' or 'stream'")
        health = item.get("health", Health.UNKNOWN.value)
        if health not in _RANK:
            raise ValidationError(f"observations[{index}].health", f"{health!r} is not ok, warning, problem or unknown")
        values = item.get("values") or {}
        if not isinstance(values, dict):
            raise ValidationError(f"observations[{index}].values", "must be an object")
        at = parse_time(item["observed_at"], f"observations[{index}].observed_at") if item.get("observed_at") else utcnow()
        reason = str(item.get("reason") or "")
        if reason and "reason" not in values:
            values = {**values, "reason": reason}
        rows.append(Observation(device_id=device_id, kind=kind, observed_at=at, health=health, values=values))
        prev = latest.get(device_id)
        if prev is None or at > prev[0]:
            latest[device_id] = (at, health, [reason] if reason else [])
        elif at == prev[0]:
            latest[device_id] = (at, worst(prev[1], health), prev[2] + ([reason] if reason else []))
    session.add_all(rows)
    session.flush()
    for device_id, (at, _health, _reasons) in latest.items():
        health, reason = _current_health(session, device_id)
        update_health(session, device_id, health, at, reason)
    session.flush()
    return len(rows)


def _current_health(session: Session, device_id: int) -> tuple[str, str]:
    """Return the worst health over the latest observation of each kind (within HEALTH_WINDOW), with reasons."""
    recent = session.execute(
        select(Observation.kind, Observation.observed_at, Observation.health, Observation.values)
        .where(Observation.device_id == device_id)
        .order_by(Observation.observed_at.desc(), Observation.id.desc())
        .limit(200)
    ).all()
    if not recent:
        return Health.UNKNOWN.value, ""
    newest = recent[0].observed_at
    seen: set[str] = set()
    health, reasons = Health.UNKNOWN.value, []
    for kind, at, kind_health, values in recent:
        if kind in seen or newest - at > HEALTH_WINDOW:
            continue
        seen.add(kind)
        health = worst(health, kind_health)
        reason = (values or {}).get("reason") if isinstance(values, dict) else None
        if kind_health in (Health.WARNING.value, Health.PROBLEM.value):
            reasons.append(reason or kind)
    return health, "; ".join(reasons)
