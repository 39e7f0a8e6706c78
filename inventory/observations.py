"""Recording observations from the worker, and keeping each device's latest health."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import Health
from sitescout.inventory.models import Device, DeviceHealth, Observation, ValidationError, utcnow
from sitescout.inventory.state_models import ObservationLatest
from sitescout.inventory.survey_uris import strip_userinfo_everywhere

__all__ = [
    "MAX_CLOCK_SKEW", "MAX_OBSERVATION_AGE", "Recorded", "Refusal",
    "accept_observations", "record_observations", "update_health", "parse_time", "worst", "note_latest",
]

log = logging.getLogger(__name__)

_RANK = {Health.UNKNOWN.value: 0, Health.OK.value: 1, Health.WARNING.value: 2, Health.PROBLEM.value: 3}
#: A kind of observation counts towards a device's health while its latest result is
#: at most this much older than the device's newest one: a frozen stream checked a
#: minute ago is not hidden by a link echo answered a second ago, but an old survey's
#: verdict does not outlive the monitoring that followed it.
HEALTH_WINDOW = timedelta(hours=1)
#: How far ahead of this server's clock an observation may be stamped: workers' clocks drift a little
#: (NTP keeps them within a second; five minutes covers a worker whose NTP just came back).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: The oldest observation a worker may deliver.  Its spool keeps up to 100,000 observations
#: (probes.worker.spool.SpooledObservationQueue), about 17 days of one device probed every
#: 15 s; 31 days lets a worker cut off for a month still deliver what it kept.
MAX_OBSERVATION_AGE = timedelta(days=31)


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


def update_health(session: Session, device_id: int, health: str, observed_at: datetime, reason: str,
                  *, now: datetime | None = None) -> None:
    """Set a device's latest health unless a newer plausible one is already stored.

    A time in the future (beyond MAX_CLOCK_SKEW) is taken as now, and a stored one in the
    future never outranks a new verdict: "ok at 9999-12-31" cannot pin a device's health.
    """
    latest_plausible = (now or utcnow()) + MAX_CLOCK_SKEW
    if _utc(observed_at) > latest_plausible:
        observed_at = now or utcnow()
    current = session.get(DeviceHealth, device_id)
    if current is None:
        session.add(DeviceHealth(device_id=device_id, health=health, observed_at=observed_at, reason=reason))
    elif current.observed_at <= observed_at or _utc(current.observed_at) > latest_plausible:
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


@dataclass(frozen=True)
class Refusal:
    """One observation of a batch that was not stored: its index, the field at fault and why."""

    index: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the refusal as the API answers it."""
        return {"index": self.index, "field": self.field, "error": self.message}


@dataclass(frozen=True)
class Recorded:
    """What became of a batch: how many observations are new, and which were refused."""

    recorded: int
    refused: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class _Item:
    device_id: int
    kind: str
    health: str
    values: dict[str, Any]
    observed_at: datetime | None
    reason: str


@dataclass(frozen=True)
class _Rules:
    """What a batch may claim: devices it may speak for (None: any), and its plausible times."""

    devices: Collection[int] | None
    latest: datetime
    oldest: datetime | None


def _check_item(index: int, item: Any, known: set[int]) -> _Item:
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
    return _Item(device_id, kind, health, values, at, reason)


def _refusal(index: int, item: _Item, rules: _Rules) -> Refusal | None:
    """Say why a well-formed observation is not plausible: a device not the sender's, or a time out of range."""
    where = f"observations[{index}]"
    if rules.devices is not None and item.device_id not in rules.devices:
        return Refusal(index, f"{where}.device_id", f"device {item.device_id} is not among this token's targets")
    if item.observed_at is None:
        return None
    at = _utc(item.observed_at)
    if at > rules.latest:
        return Refusal(index, f"{where}.observed_at", f"{at.isoformat()} is in the future (this server's clock reads "
                                                      f"{(rules.latest - MAX_CLOCK_SKEW).isoformat(timespec='seconds')}"
                                                      "); check the worker's clock")
    if rules.oldest is not None and at < rules.oldest:
        return Refusal(index, f"{where}.observed_at",
                       f"{at.isoformat()} is older than {MAX_OBSERVATION_AGE.days} days; not kept")
    return None


def _already_stored(session: Session, keys: set[tuple[int, str, datetime]]) -> set[tuple[int, str, datetime]]:
    if not keys:
        return set()
    rows = session.execute(
        select(Observation.device_id, Observation.kind, Observation.observed_at).where(
            Observation.device_id.in_(sorted({k[0] for k in keys})),
            Observation.observed_at.in_(sorted({k[2] for k in keys})),
            Observation.survey_id.is_(None),
        )
    )
    return {(d, k, _utc(t)) for d, k, t in rows} & keys


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _sort(session: Session, observations: list[Any], rules: _Rules) -> tuple[list[_Item], list[Refusal]]:
    """Check every item; return the plausible ones and a refusal for each of the others.

    Raises ValidationError naming the first malformed item (a sender's bug: nothing is stored).
    """
    ids = (o.get("device_id") for o in observations if isinstance(o, dict))
    wanted = sorted({d for d in ids if isinstance(d, int) and not isinstance(d, bool)})
    known = set(session.scalars(select(Device.id).where(Device.id.in_(wanted)))) if wanted else set()
    good, refused = [], []
    for index, raw in enumerate(observations):
        item = _check_item(index, raw, known)
        refusal = _refusal(index, item, rules)
        if refusal is None:
            good.append(item)
        else:
            refused.append(refusal)
    return good, refused


def accept_observations(session: Session, observations: list[Any], *, devices: Collection[int] | None = None,
                        now: datetime | None = None) -> Recorded:
    """Store the plausible observations of a worker's batch and say which were refused and why.

    Refused: devices outside `devices` (the sender's targets; None: any device), times after
    now + MAX_CLOCK_SKEW or before now - MAX_OBSERVATION_AGE.  The rest is stored as
    `record_observations` does, so one implausible item never costs the others.
    Raises ValidationError naming the item when one is malformed (or names no device); nothing is stored then.
    """
    if not isinstance(observations, list):
        raise ValidationError("observations", "must be a list of observation objects")
    now = now or utcnow()
    rules = _Rules(devices, now + MAX_CLOCK_SKEW, now - MAX_OBSERVATION_AGE)
    good, refused = _sort(session, observations, rules)
    if refused:
        log.info("observations: %d of %d refused (first: %s: %s)", len(refused), len(observations),
                 refused[0].field, refused[0].message)
    return Recorded(_store(session, good), tuple(refused))


def record_observations(session: Session, observations: list[dict[str, Any]]) -> int:
    """Store observations ({device_id, kind, observed_at?, health, values?, reason?}); return how many were new.

    An observation with the same device, kind and observed_at as one already stored (a
    worker resending a batch whose answer it never got) is skipped: delivery is idempotent.
    A device's latest health becomes the worst health of its newest observations in the batch.
    For trusted callers (imports, the demo): old times are kept, future ones refused.
    Raises ValidationError naming the item when one is malformed; nothing is stored then.
    """
    if not isinstance(observations, list):
        raise ValidationError("observations", "must be a list of observation objects")
    good, refused = _sort(session, observations, _Rules(None, utcnow() + MAX_CLOCK_SKEW, None))
    if refused:
        raise ValidationError(refused[0].field, refused[0].message)
    return _store(session, good)


def _store(session: Session, checked: list[_Item]) -> int:
    stored = _already_stored(session, {(i.device_id, i.kind, _utc(i.observed_at)) for i in checked
                                       if i.observed_at is not None})
    latest: dict[int, datetime] = {}
    rows = []
    for item in checked:
        at = item.observed_at or utcnow()
        if item.observed_at is not None:
            key = (item.device_id, item.kind, _utc(item.observed_at))
            if key in stored:
                continue
            stored.add(key)
        values = item.values
        if item.reason and "reason" not in values:
            values = {**values, "reason": item.reason}
        values, _ = strip_userinfo_everywhere(values)  # an error text may quote rtsp://user:password@…
        rows.append(Observation(device_id=item.device_id, kind=item.kind, observed_at=at, health=item.health,
                                values=values))
        if item.device_id not in latest or at > latest[item.device_id]:
            latest[item.device_id] = at
    if len(rows) < len(checked):
        log.debug("observations: %d already stored, skipped", len(checked) - len(rows))
    session.add_all(rows)
    session.flush()
    kinds = note_latest(session, rows)
    # One read of the batch's devices' health rows (session.get then finds them), and every write in
    # device order: two batches touching the same devices lock them in one order (PostgreSQL detected
    # deadlocks between concurrent batches written in arrival order).
    ids = sorted(latest)
    # Held in a list: the session's identity map keeps only weak references, and rows nobody holds
    # were gone again before session.get asked for them (a SELECT and an autoflush per device).
    loaded = session.scalars(select(DeviceHealth).where(DeviceHealth.device_id.in_(ids))).all()
    with session.no_autoflush:
        for device_id in ids:
            health, reason = _health_of(kinds.get(device_id, []))
            update_health(session, device_id, health, latest[device_id], reason)
    session.flush()
    del loaded
    return len(rows)


def note_latest(session: Session, rows: Collection[Observation]) -> dict[int, list[ObservationLatest]]:
    """Keep each (device, kind)'s newest observation in ``observation_latest`` from stored `rows` (flushed: with ids).

    Return every latest row of the devices of `rows` (other kinds too), by device.
    """
    newest: dict[tuple[int, str], Observation] = {}
    for row in rows:
        key = (row.device_id, row.kind)
        if key not in newest or _order(row.observed_at, row.id) > _order(newest[key].observed_at, newest[key].id):
            newest[key] = row
    ids = sorted({device for device, _ in newest})
    if not ids:
        return {}
    kept = {(r.device_id, r.kind): r for r in session.scalars(
        select(ObservationLatest).where(ObservationLatest.device_id.in_(ids)))}
    for key in sorted(newest):
        row = newest[key]
        reason = row.values.get("reason") if isinstance(row.values, dict) else None
        current = kept.get(key)
        if current is None:
            current = kept[key] = ObservationLatest(device_id=key[0], kind=key[1])
            session.add(current)
        elif _order(current.observed_at, current.observation_id) >= _order(row.observed_at, row.id):
            continue
        current.observation_id, current.observed_at, current.health = row.id, row.observed_at, row.health
        current.reason = str(reason) if reason else ""
    by_device: dict[int, list[ObservationLatest]] = {}
    for (device, _), latest_row in kept.items():
        by_device.setdefault(device, []).append(latest_row)
    return by_device


def _order(at: datetime, row_id: int | None) -> tuple[datetime, int]:
    return _utc(at), row_id or 0


def _health_of(kinds: list[ObservationLatest], now: datetime | None = None) -> tuple[str, str]:
    """Return the worst health over the latest observation of each kind (within HEALTH_WINDOW), with reasons.

    Only plausible observations count: one stamped in the future (a row stored before they were
    refused) never hides the ones that follow it.  Reasons come newest first, as the kinds' results did.
    """
    latest_plausible = (now or utcnow()) + MAX_CLOCK_SKEW
    recent = sorted((k for k in kinds if _utc(k.observed_at) <= latest_plausible),
                    key=lambda k: _order(k.observed_at, k.observation_id), reverse=True)
    if not recent:
        return Health.UNKNOWN.value, ""
    newest = _utc(recent[0].observed_at)
    health, reasons = Health.UNKNOWN.value, []
    for k in recent:
        if newest - _utc(k.observed_at) > HEALTH_WINDOW:
            continue
        health = worst(health, k.health)
        if k.health in (Health.WARNING.value, Health.PROBLEM.value):
            reasons.append(k.reason or k.kind)
    return health, "; ".join(reasons)
