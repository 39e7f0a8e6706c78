"""Tell a site's people about its alerts: one short message per site, in their language, once.

The Alertmanager webhook (`web/alerts.py`) hands over a group of stored alerts; this module groups them
by site, writes one message per site (what, where, since when in Asia/Ho_Chi_Minh time, the link to the
site page) through the gettext catalogues, and sends it to each contact of the site on every configured
channel where the contact has an address.  It skips opted-out contacts and contacts in their quiet
hours, and it sends a message with the same content (Alertmanager group, site, status and the alerts in
it) at most once per hold-down: a flapping camera makes Alertmanager notify again and again, the
contact hears once.  Every decision (sent, failed, skipped and why) is a row in ``alert_notifications``.

It lives in ``web/`` because the web process receives the webhook; it uses the standard library only
(`notify_channels.py`), so ``web/`` still needs nothing from ``probes/``, and ``inventory/`` stays pure.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.alert_models import Contact, Notification
from sitescout.inventory.alerts import StoredAlert, site_contacts
from sitescout.inventory.contacts import wants_severity
from sitescout.inventory.models import Commune, Site
from sitescout.web.notify_channels import Channel, ChannelError, EmailChannel, SmsHttpChannel, ZaloOaChannel

__all__ = [
    "NotifySettings", "Outgoing", "load_notify_settings", "notify_group", "plan_messages", "send_messages",
    "record_messages", "site_message", "in_quiet_hours", "describe_alert",
]

log = logging.getLogger(__name__)

_MAX_ITEMS = 3  # alerts named in one message; the rest are counted ("and 4 more")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NotifySettings:
    """How to reach people: channels, the public base URL of the site pages, time zone and hold-down."""

    channels: tuple[Channel, ...] = ()
    base_url: str = "http://127.0.0.1:8080"
    timezone: str = "Asia/Ho_Chi_Minh"
    hold_down_s: float = 3600.0
    send_resolved: bool = True
    now: Callable[[], datetime] = field(default=_utcnow, compare=False)


def _secret(raw: Mapping[str, Any], key: str, base: Path) -> str:
    """Read `key` from `key_file` (a path relative to the settings file) or take it inline."""
    if raw.get(f"{key}_file"):
        return (base / str(raw[f"{key}_file"])).read_text(encoding="utf-8").strip()
    return str(raw.get(key, ""))


def load_notify_settings(path: Path) -> NotifySettings:
    """Read the notification settings (YAML; see infra/province/notify.yml).

    Raises:
        ValueError: naming the key that is wrong.
    """
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: must be a mapping")
    unknown = set(doc) - {"base_url", "timezone", "hold_down_s", "send_resolved", "sms", "zalo", "email"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    base = path.parent
    channels: list[Channel] = []
    if doc.get("sms"):
        sms = doc["sms"]
        fields = {str(k): str(v) for k, v in (sms.get("fields") or {}).items()}
        if sms.get("api_key_file"):
            fields[str(sms.get("api_key_field", "api_key"))] = _secret(sms, "api_key", base)
        channels.append(SmsHttpChannel(url=str(sms["url"]), fields=fields,
                                       timeout_s=float(sms.get("timeout_s", 10))))
    if doc.get("zalo"):
        zalo = doc["zalo"]
        channels.append(ZaloOaChannel(access_token=_secret(zalo, "access_token", base),
                                      url=str(zalo.get("url", ZaloOaChannel.url)),
                                      timeout_s=float(zalo.get("timeout_s", 10))))
    if doc.get("email"):
        mail = doc["email"]
        channels.append(EmailChannel(host=str(mail["host"]), port=int(mail.get("port", 25)),
                                     sender=str(mail.get("sender", "sitescout@localhost")),
                                     starttls=bool(mail.get("starttls", False)),
                                     username=str(mail.get("username", "")), password=_secret(mail, "password", base),
                                     timeout_s=float(mail.get("timeout_s", 10))))
    ZoneInfo(str(doc.get("timezone", "Asia/Ho_Chi_Minh")))  # an unknown zone fails here, not at 3 a.m.
    return NotifySettings(channels=tuple(channels), base_url=str(doc.get("base_url", NotifySettings.base_url)),
                          timezone=str(doc.get("timezone", "Asia/Ho_Chi_Minh")),
                          hold_down_s=float(doc.get("hold_down_s", 3600)),
                          send_resolved=bool(doc.get("send_resolved", True)))


def in_quiet_hours(contact: Contact, local: datetime) -> bool:
    """Return True when the contact's local time falls in its quiet hours (which may span midnight)."""
    start, end = contact.quiet_from_min, contact.quiet_to_min
    if start is None or end is None or start == end:
        return False
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def describe_alert(alert: StoredAlert) -> str:
    """Return what an alert says, short, in the current locale ("cam-1 does not answer")."""
    device = alert.labels.get("device", "")
    texts = {
        "SitescoutSiteDown": lambda: gettext("no device answers (power or uplink)"),
        "SitescoutCameraDown": lambda: gettext("%(device)s does not answer", device=device),
        "SitescoutStreamDown": lambda: gettext("%(device)s sends no video", device=device),
        "SitescoutStreamFrozen": lambda: gettext("%(device)s: picture frozen", device=device),
        "SitescoutStreamBlack": lambda: gettext("%(device)s: picture black", device=device),
        "SitescoutStreamFpsLow": lambda: gettext("%(device)s: video too slow", device=device),
        "SitescoutLinkLossHigh": lambda: gettext("%(device)s: link loses packets", device=device),
        "SitescoutLinkLatencyHigh": lambda: gettext("%(device)s: link slow", device=device),
        "SitescoutCameraClockSkew": lambda: gettext("%(device)s: clock wrong", device=device),
    }
    text = texts.get(alert.alertname)
    if text is not None:
        return text()
    return gettext("%(alert)s on %(device)s", alert=alert.alertname, device=device or "-")


def site_message(site: str, commune: str, alerts: Sequence[StoredAlert], status: str, link: str,
                 zone: ZoneInfo) -> tuple[str, str]:
    """Return (subject, text) of one site's message in the current locale (call inside force_locale)."""
    items = [describe_alert(a) for a in alerts[:_MAX_ITEMS]]
    what = "; ".join(items)
    if len(alerts) > _MAX_ITEMS:
        more = len(alerts) - _MAX_ITEMS
        what += ngettext(" and %(num)d more", " and %(num)d more", more)
    since = min(a.starts_at for a in alerts).astimezone(zone).strftime("%H:%M %d/%m/%Y")
    where = f"{site} ({commune})" if commune else site
    if status == "firing":
        text = gettext("[sitescout] PROBLEM at %(where)s: %(what)s. Since %(since)s. %(link)s",
                       where=where, what=what, since=since, link=link)
        subject = gettext("sitescout: problem at %(where)s", where=where)
    else:
        text = gettext("[sitescout] RESOLVED at %(where)s: %(what)s. %(link)s", where=where, what=what, link=link)
        subject = gettext("sitescout: resolved at %(where)s", where=where)
    return subject, text


def _dedup_key(group_key: str, site_id: int, status: str, alerts: Sequence[StoredAlert], contact: int,
               channel: str) -> str:
    content = "\0".join([group_key, str(site_id), status, *sorted(a.fingerprint for a in alerts),
                         str(contact), channel])
    return hashlib.sha256(content.encode()).hexdigest()


def _recently_sent(session: Session, key: str, since: datetime) -> bool:
    stmt = select(Notification.id).where(Notification.dedup_key == key, Notification.outcome == "sent",
                                         Notification.created_at >= since).limit(1)
    return session.scalar(stmt) is not None


def _site_names(session: Session, site_id: int) -> tuple[str, str]:
    row = session.execute(select(Site.name, Commune.name).join(Commune, Commune.id == Site.commune_id)
                          .where(Site.id == site_id)).first()
    return (str(row[0]), str(row[1])) if row else ("?", "")


def _by_site(alerts: Sequence[StoredAlert]) -> dict[int, tuple[str, list[StoredAlert]]]:
    """Group alerts per site: the firing ones when any fires, else the resolved ones."""
    grouped: dict[int, list[StoredAlert]] = defaultdict(list)
    for alert in alerts:
        if alert.site_id is not None:
            grouped[alert.site_id].append(alert)
    out = {}
    for site_id, site_alerts in grouped.items():
        firing = [a for a in site_alerts if a.status == "firing"]
        chosen = firing or site_alerts
        # The site-level alert (no device) first: "no device answers" says more than each camera.
        chosen.sort(key=lambda a: ("device" in a.labels, a.labels.get("device", ""), a.alertname))
        out[site_id] = ("firing" if firing else "resolved", chosen)
    return out


@dataclass(frozen=True)
class Outgoing:
    """One message to one contact on one channel, decided (with the database) before anything is sent."""

    key: str
    contact_id: int
    site_id: int
    channel: Channel
    address: str
    subject: str
    text: str
    at: datetime
    skip: str = ""  # why it is not sent (opted out, quiet hours, hold-down); "" to send it


def plan_messages(session: Session, settings: NotifySettings, group_key: str, alerts: Sequence[StoredAlert],
                  site_path: Callable[[int], str]) -> list[Outgoing]:
    """Decide every message of the group (one per site, contact and channel) by reading the inventory only."""
    zone, now = ZoneInfo(settings.timezone), settings.now()
    planned = []
    for site_id, (status, site_alerts) in _by_site(alerts).items():
        if status == "resolved" and not settings.send_resolved:
            continue
        site, commune = _site_names(session, site_id)
        link = settings.base_url.rstrip("/") + site_path(site_id)
        for contact in site_contacts(session, site_id):
            with force_locale(contact.language or "vi"):
                subject, text = site_message(site, commune, site_alerts, status, link, zone)
            for channel in settings.channels:
                address = channel.address(contact)
                if not address:
                    continue
                key = _dedup_key(group_key, site_id, status, site_alerts, contact.id, channel.name)
                planned.append(Outgoing(key, contact.id, site_id, channel, address, subject, text, now,
                                        _skip(session, settings, contact, key, now, zone, site_alerts)))
    return planned


def send_messages(planned: Sequence[Outgoing]) -> list[tuple[Outgoing, str, str]]:
    """Send the planned messages that are not skipped; return (message, outcome, detail) for each.

    Touches no database: a gateway that hangs for its whole timeout holds no lock and no transaction.
    """
    results = []
    for out in planned:
        if out.skip:
            results.append((out, "skipped", out.skip))
            continue
        try:
            out.channel.send(out.address, out.subject, out.text)
        except ChannelError as err:
            log.warning("contact %d: %s message not sent: %s", out.contact_id, out.channel.name, err)
            results.append((out, "failed", str(err)[:500]))
            continue
        log.info("contact %d: %s message sent", out.contact_id, out.channel.name)
        results.append((out, "sent", ""))
    return results


def record_messages(session: Session, results: Sequence[tuple[Outgoing, str, str]]) -> list[Notification]:
    """Add a row to ``alert_notifications`` for each decision; return the rows (flushed, not committed)."""
    rows = [Notification(dedup_key=out.key, contact_id=out.contact_id, site_id=out.site_id, channel=out.channel.name,
                         outcome=outcome, detail=detail, created_at=out.at) for out, outcome, detail in results]
    session.add_all(rows)
    session.flush()
    return rows


def notify_group(session: Session, settings: NotifySettings, group_key: str, alerts: Sequence[StoredAlert],
                 site_path: Callable[[int], str]) -> list[Notification]:
    """Plan, send and record in one session (for callers outside a request; the webhook splits the three
    so that no transaction is open while a gateway answers)."""
    return record_messages(session, send_messages(plan_messages(session, settings, group_key, alerts, site_path)))


def _skip(session: Session, settings: NotifySettings, contact: Contact, key: str, now: datetime,
          zone: ZoneInfo, alerts: Sequence[StoredAlert]) -> str:
    if contact.opted_out:
        return "opted out"
    if not wants_severity(contact, {a.severity for a in alerts}):
        return "severity not wanted"
    if in_quiet_hours(contact, now.astimezone(zone)):
        return "quiet hours"
    if _recently_sent(session, key, now - timedelta(seconds=settings.hold_down_s)):
        return "already sent (hold-down)"
    return ""
