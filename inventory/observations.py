"""Recording observations from the worker, and keeping each device's latest health."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import Health
from sitescout.inventory.models import Device, DeviceHealth, Observation, ValidationError, utcnow

__all__ = ["record_observations", "update_health", "parse_time", "worst"]

log = logging.getLogger(__name__)

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
    try:
        parsed.astimezone(timezone.utc)  # stored in UTC: 0001-01-01T00:00+07:00 has no UTC time
    except OverflowError:
        raise ValidationError(field, f"{value!r} is out of range") from None
    return parsed


def update_health(session: Session, device_id: int, health: str, observed_at: datetime, reason: str) -> None:
    """Set a device's latest health unless a newer one is already stored."""
    current = session.get(DeviceHealth, device_id)
    if current is None:
        session.add(DeviceHealth(device_id=device_id, health=health, observed_at=observed_at, reason=reason))
    elif current.observed_at <= observed_at:
        current.health, current.observed_at, current.reason = health, observed_at, reason


_KIND_MAX = 40


def _finite(value: Any, where: str) -> None:
    """Refuse NaN and infinities (PostgreSQL's JSON has none) and NUL characters inside values."""
    stack = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > 16:
            raise ValidationError(at, "is nested more than 16 levels deep")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(at, f"{item} is not a finite number")
        if isinstance(item, str) and "\x00" in item:
            raise ValidationError(at, "contains a NUL character")
        if isinstance(item, dict):
            stack.extend((v, f"{at}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))


def _check_item(index: int, item: Any, known: set[int]) -> tuple[int, str, str, dict[str, Any], datetime | None, str]:
    where = f"observations[{index}]"
    if not isinstance(item, dict):
        raise ValidationError(where, "must be an object")
    device_id = item.get("device_id")
    if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id not in known:
        raise ValidationError(f"{where}.device_id", f"no device with id {device_id!r}")
    kind = item.get("kind")
    if not isinstance(kind, str) or not kind or len(kind) > _KIND_MAX or "\x00" in kind:
        raise ValidationError(f"{where}.kind", f"give the probe kind (up to {_KIND_MAX} characters), e.g. 'link'")
    health = item.get("health", Health.UNKNOWN.value)
    if not isinstance(health, str) or health not in _RANK:
        raise ValidationError(f"{where}.health", f"{health!r} is not ok, warning, problem or unknown")
    values = item.get("values") or {}
    if not isinstance(values, dict):
        raise ValidationError(f"{where}.values", "must be an object")
    _finite(values, f"{where}.values")
    at = parse_time(item["observed_at"], f"{where}.observed_at") if item.get("observed_at") else None
    reason = item.get("reason")
    if reason is not None and not isinstance(reason, str | int | float):
        raise ValidationError(f"{where}.reason", "must be text")
    reason = str(reason or "")
    _finite(reason, f"{where}.reason")
    return device_id, kind, health, values, at, reason


def _already_stored(session: Session, keys: set[tuple[int, str, datetime]]) -> set[tuple[int, str, datetime]]:
    if not keys:
        return set()
    rows = session.execute(select(Observation.device_id, Observation.kind, Observation.observed_at).where(
        Observation.device_id.in_(sorted({k[0] for k in keys})), Observation.observed_at.in_(sorted({k[2] for k in keys})),
        Observation.survey_id.is_(None)))
    return {(d, k, _utc(t)) for d, k, t in rows} & keys


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def record_observations(session: Session, observations: list[dict[str, Any]]) -> int:
    """Store observations ({device_id, kind, observed_at?, health, values?, reason?}); return how many were new.

    An observation with the same device, kind and observed_at as one already stored (a
    worker resending a batch whose answer it never got) is skipped: delivery is idempotent.
    A device's latest health becomes the worst health of its newest observations in the batch.
    Raises ValidationError naming the item when one is malformed; nothing is stored then.
    """
    if not isinstance(observations, list):
        raise ValidationError("observations", "must be a list of observation objects")
    ids = (o.get("device_id") for o in observations if isinstance(o, dict))
    wanted = sorted({d for d in ids if isinstance(d, int) and not isinstance(d, bool)})
    known = set(session.scalars(select(Device.id).where(Device.id.in_(wanted)))) if wanted else set()
    checked = [_check_item(index, item, known) for index, item in enumerate(observations)]
    stored = _already_stored(session, {(d, k, _utc(at)) for d, k, _h, _v, at, _r in checked if at is not None})
    latest: dict[int, tuple[datetime, str, list[str]]] = {}
    rows = []
    for device_id, kind, health, values, observed_at, reason in checked:
        at = observed_at or utcnow()
        if observed_at is not None:
            key = (device_id, kind, _utc(observed_at))
            if key in stored:
                continue
            stored.add(key)
        if reason and "reason" not in values:
            values = {**values, "reason": reason}
        rows.append(Observation(device_id=device_id, kind=kind, observed_at=at, health=health, values=values))
        prev = latest.get(device_id)
        if prev is None or at > prev[0]:
            latest[device_id] = (at, health, [reason] if reason else [])
        elif at == prev[0]:
            latest[device_id] = (at, worst(prev[1], health), prev[2] + ([reason] if reason else []))
    if len(rows) < len(checked):
        log.debug("observations: %d already stored, skipped", len(checked) - len(rows))
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
