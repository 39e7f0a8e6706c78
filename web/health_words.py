"""Say what is wrong with a device in the reader's language, with the time it began in the site's zone.

The inventory keeps reasons as codes and parameters (inventory/health.py); this is the edge
where they become words: the sentence from the web catalogue, the time with Babel in the
site's time zone (``SITE_TIMEZONE``, default Asia/Ho_Chi_Minh: the inventory has no zone per site).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

from sitescout.inventory.health import render_reason

__all__ = ["DEFAULT_TIMEZONE", "describe", "local_time", "site_zone"]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def site_zone() -> ZoneInfo:
    """Return the zone the sites' times are shown in."""
    return ZoneInfo(current_app.config.get("SITE_TIMEZONE") or DEFAULT_TIMEZONE)


def _when(at: datetime, zone: ZoneInfo, locale: str, now: datetime) -> str:
    """Return "14:05" for today (in the site's zone), else "14:05 3 thg 12, 2026"-style date and time."""
    local = at.astimezone(zone)
    clock = format_time(local, "HH:mm", locale=locale)
    if local.date() == now.astimezone(zone).date():
        return clock
    return _("%(time)s on %(date)s", time=clock, date=format_date(local.date(), "medium", locale=locale))


def local_time(at: datetime, *, now: datetime | None = None) -> str:
    """Return a stored (UTC) time as the reader reads it in the site's zone: "15:01", or with its date."""
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return _when(at, site_zone(), str(get_locale() or "vi"), now or datetime.now(timezone.utc))


def describe(reasons: list[dict[str, Any]], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return the reasons with ``text`` (e.g. "picture frozen (main) since 14:05") and ``since_local`` added."""
    locale = str(get_locale() or "vi")
    zone, now = site_zone(), now or datetime.now(timezone.utc)
    out = []
    for reason in reasons:
        words = render_reason(reason["code"], reason.get("params") or {}, _, locale)
        since = reason.get("since")
        if isinstance(since, str):
            since = datetime.fromisoformat(since)
        item = {**reason}
        if isinstance(since, datetime):
            since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
            item["since"] = since.isoformat()
            item["since_local"] = since.astimezone(zone).isoformat()
            words = _("%(reason)s since %(time)s", reason=words, time=_when(since, zone, locale, now))
        item["text"] = words
        out.append(item)
    return out
