"""Alerts from Alertmanager in the inventory: parse its webhook, keep each alert by fingerprint, tell health.

Alertmanager's webhook (payload ``version`` "4") carries a group of alerts, each with ``status``
(firing | resolved), ``labels``, ``annotations``, ``startsAt``, ``endsAt`` and ``fingerprint``.  Our alert
rules label every per-device alert with ``site`` and ``device`` (the names the worker exports), and the
site-level ones with ``site`` only; ``commune`` and ``region`` come from the Prometheus targets.  A site
name is unique within its commune, so ``commune`` settles a name two communes share.

Pure parsing (`parse_webhook`) is apart from storage (`record_alerts`) so both can be tested alone.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitescout.inventory.alert_models import Alert
from sitescout.inventory.choices import Health
from sitescout.inventory.errors import Coded
from sitescout.inventory.contacts import add_contact, contact_record, parse_quiet_hours, site_contacts
from sitescout.inventory.ids import NotAnId, parse_id
from sitescout.inventory.models import Commune, Device, Site, ValidationError
from sitescout.inventory.observations import MAX_CLOCK_SKEW, MAX_OBSERVATION_AGE, Refusal
from sitescout.inventory.survey_uris import strip_userinfo_everywhere

__all__ = [
    "AlertIn", "WebhookGroup", "StoredAlert", "RecordedAlerts", "parse_webhook", "record_alerts", "site_alert_health",
    "active_alerts", "resolved_alerts", "site_contacts", "add_contact", "parse_quiet_hours", "contact_record",
]

log = logging.getLogger(__name__)

#: Alertmanager's "zero" time for an alert that has not ended (Go's time.Time{} in RFC 3339).
_ZERO_TIME_PREFIX = "0001-01-01"
_MAX_ALERTS = 1000  # one webhook call; Alertmanager's max_alerts default is 0 (all), groups are per site
_STATUSES = ("firing", "resolved")


@dataclass(frozen=True)
class AlertIn:
    """One alert of a webhook call, checked."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None

    @property
    def alertname(self) -> str:
        """Return the alert's name label."""
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class WebhookGroup:
    """One webhook call: Alertmanager's group key, its status and its alerts."""

    group_key: str
    status: str
    receiver: str
    group_labels: dict[str, str]
    alerts: list[AlertIn] = field(default_factory=list)


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the inventory keeps it, with its site and device resolved (None when unknown)."""

    fingerprint: str
    alertname: str
    status: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    site_id: int | None
    device_id: int | None


def _time(value: Any, where: str) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValidationError(where, Coded("not_rfc3339", "not an RFC 3339 time: %(value)r", value=value)) from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError(where, Coded("must_be_string_map", "must be an object of strings"))
    return dict(value)


def _alert(raw: Any, n: int) -> AlertIn:
    where = f"alerts[{n}]"
    if not isinstance(raw, dict):
        raise ValidationError(where, Coded("must_be_object", "must be an object"))
    status = raw.get("status")
    if status not in _STATUSES:
        raise ValidationError(f"{where}.status", Coded("firing_or_resolved", "must be firing or resolved"))
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not 1 <= len(fingerprint) <= 64:
        raise ValidationError(f"{where}.fingerprint", Coded("fingerprint_length", "must be a string of 1 to 64 "
                                                                  "characters"))
    starts_at = _time(raw.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise ValidationError(f"{where}.startsAt", Coded("required", "is required"))
    return AlertIn(fingerprint=fingerprint, status=status, labels=_str_map(raw.get("labels"), f"{where}.labels"),
                   annotations=_str_map(raw.get("annotations"), f"{where}.annotations"),
                   starts_at=starts_at, ends_at=_time(raw.get("endsAt"), f"{where}.endsAt"))


def parse_webhook(doc: Any) -> WebhookGroup:
    """Check an Alertmanager webhook payload (version 4) and return its group.

    Raises:
        ValidationError: naming the first field that is wrong.
    """
    if not isinstance(doc, dict):
        raise ValidationError("payload", Coded("webhook_not_object", "must be a JSON object (Alertmanager webhook)"))
    if str(doc.get("version", "")) != "4":
        raise ValidationError("version", Coded("webhook_version",
                                               "only Alertmanager's webhook version 4 is understood"))
    raw_alerts = doc.get("alerts")
    if not isinstance(raw_alerts, list) or len(raw_alerts) > _MAX_ALERTS:
        raise ValidationError("alerts", Coded("alerts_list", "must be a list of at most %(most)s alerts",
                                              most=_MAX_ALERTS))
    status = doc.get("status")
    if status not in _STATUSES:
        raise ValidationError("status", Coded("firing_or_resolved", "must be firing or resolved"))
    group_key = doc.get("groupKey")
    if not isinstance(group_key, str) or len(group_key) > 2000:
        raise ValidationError("groupKey", Coded("must_be_string", "must be a string"))
    return WebhookGroup(group_key=group_key, status=status, receiver=str(doc.get("receiver", ""))[:200],
                        group_labels=_str_map(doc.get("groupLabels"), "groupLabels"),
                        alerts=[_alert(a, n) for n, a in enumerate(raw_alerts)])


def _resolve_site(session: Session, labels: dict[str, str]) -> int | None:
    if labels.get("site_id"):
        try:
            site_id = parse_id(labels["site_id"])
        except NotAnId:
            site_id = None  # not an id ("²", "+3"): the site's name may still say
        else:
            # beyond 64 bits names no site (and would overflow the database's integer)
            return session.scalar(select(Site.id).where(Site.id == site_id)) if site_id is not None else None
    name = labels.get("site")
    if not name:
        return None
    stmt = select(Site.id).where(Site.name == name)
    if labels.get("commune"):
        stmt = stmt.join(Commune, Commune.id == Site.commune_id).where(Commune.name == labels["commune"])
    found = list(session.scalars(stmt.limit(2)))
    if len(found) != 1:
        log.info("alert for site %r (commune %r): %s", name, labels.get("commune", ""),
                 "no such site" if not found else "ambiguous without a commune label")
        return None
    return found[0]


def _resolve_device(session: Session, site_id: int | None, labels: dict[str, str]) -> int | None:
    name = labels.get("device")
    if site_id is None or not name:
        return None
    return session.scalar(select(Device.id).where(Device.site_id == site_id, Device.name == name))


@dataclass(frozen=True)
class RecordedAlerts:
    """What became of a webhook call: the alerts stored, and a refusal for each of the others."""

    stored: list[StoredAlert]
    refused: tuple[Refusal, ...] = ()


def _time_refusal(index: int, a: AlertIn, now: datetime) -> Refusal | None:
    """Bound an alert's times as observations are: none after now + MAX_CLOCK_SKEW; an end not too old.

    A firing alert's start may be older than MAX_OBSERVATION_AGE (a camera can stay down for months);
    a resolved alert whose end is older says nothing the map can use.
    """
    where, latest = f"alerts[{index}]", now + MAX_CLOCK_SKEW
    if a.starts_at > latest:
        return Refusal(index, f"{where}.startsAt", f"{a.starts_at.isoformat()} is in the future; check the clocks")
    if a.status == "resolved" and a.ends_at is not None:
        if a.ends_at > latest:
            return Refusal(index, f"{where}.endsAt", f"{a.ends_at.isoformat()} is in the future; check the clocks")
        if a.ends_at < now - MAX_OBSERVATION_AGE:
            return Refusal(index, f"{where}.endsAt",
                           f"{a.ends_at.isoformat()} is older than {MAX_OBSERVATION_AGE.days} days; not kept")
    return None


def _site_refusal(index: int, site_id: int | None, row: Alert | None, sites: Collection[int] | None) -> Refusal | None:
    """Refuse an alert outside the token's sites, or one whose fingerprint is already another site's."""
    where = f"alerts[{index}].labels"
    if sites is not None and (site_id is None or site_id not in sites):
        return Refusal(index, where, "its site is not among this token's sites")
    if row is not None and row.site_id is not None and row.site_id != site_id:
        return Refusal(index, where, f"fingerprint {row.fingerprint!r} belongs to another site; it cannot move")
    return None


def record_alerts(session: Session, group: WebhookGroup, *, sites: Collection[int] | None = None,
                  now: datetime | None = None) -> RecordedAlerts:
    """Insert or update each plausible alert of the group by fingerprint; return them with site and device resolved.

    Refused, one by one (the others are still stored): an alert whose site is not in `sites` (the
    sender's scope; None: any site, and alerts for unknown sites are then kept), one whose fingerprint
    is already bound to another site (a fingerprint never moves), and one whose times are implausible
    (`_time_refusal`).
    """
    now = now or datetime.now(UTC)
    stored, refused = [], []
    for index, a in enumerate(group.alerts):
        labels = strip_userinfo_everywhere(a.labels)[0]  # a rule may quote a camera's URI with its password
        site_id = _resolve_site(session, labels)
        row = session.scalar(select(Alert).where(Alert.fingerprint == a.fingerprint))
        refusal = _time_refusal(index, a, now) or _site_refusal(index, site_id, row, sites)
        if refusal is not None:
            refused.append(refusal)
            continue
        if row is None:
            row = Alert(fingerprint=a.fingerprint)
            session.add(row)
        row.alertname, row.status, row.severity = a.alertname[:200], a.status, a.labels.get("severity", "")[:20]
        row.labels, row.annotations = labels, strip_userinfo_everywhere(a.annotations)[0]
        row.starts_at, row.ends_at = a.starts_at, a.ends_at if a.status == "resolved" else None
        row.site_id, row.device_id = site_id, _resolve_device(session, site_id, labels)
        stored.append(_stored(row))
    session.flush()
    if refused:
        log.info("alerts: %d of %d refused (first: %s: %s)", len(refused), len(group.alerts),
                 refused[0].field, refused[0].message)
    return RecordedAlerts(stored, tuple(refused))


def _stored(row: Alert) -> StoredAlert:
    return StoredAlert(fingerprint=row.fingerprint, alertname=row.alertname, status=row.status,
                       severity=row.severity, labels=dict(row.labels or {}), annotations=dict(row.annotations or {}),
                       starts_at=row.starts_at, ends_at=row.ends_at, site_id=row.site_id, device_id=row.device_id)


def site_alert_health(session: Session, site_ids: list[int] | None = None) -> dict[int, str]:
    """Return the health firing alerts give each site: problem (critical) or warning (anything else)."""
    stmt = (select(Alert.site_id, Alert.severity, func.count()).where(Alert.status == "firing",
                                                                      Alert.site_id.is_not(None))
            .group_by(Alert.site_id, Alert.severity))
    if site_ids is not None:
        stmt = stmt.where(Alert.site_id.in_(site_ids))
    health: dict[int, str] = {}
    for site_id, severity, _n in session.execute(stmt):
        if site_id is None:  # excluded by the query; this tells the type checker
            continue
        level = Health.PROBLEM.value if severity == "critical" else Health.WARNING.value
        if health.get(site_id) != Health.PROBLEM.value:
            health[site_id] = level
    return health


def active_alerts(session: Session, site_id: int) -> list[StoredAlert]:
    """Return the firing alerts of a site, oldest first."""
    rows = session.scalars(select(Alert).where(Alert.site_id == site_id, Alert.status == "firing")
                           .order_by(Alert.starts_at))
    return [_stored(r) for r in rows]


def resolved_alerts(session: Session, site_id: int, since: datetime, limit: int = 20) -> list[StoredAlert]:
    """Return the site's alerts resolved since `since`, the latest end first (a site page's recent history)."""
    rows = session.scalars(select(Alert).where(Alert.site_id == site_id, Alert.status == "resolved",
                                               Alert.ends_at >= since)
                           .order_by(Alert.ends_at.desc()).limit(limit))
    return [_stored(r) for r in rows]
