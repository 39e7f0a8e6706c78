"""Alertmanager's webhook (`POST /api/v1/alerts`), a site's active alerts and the contacts told about them.

Alertmanager posts a group of alerts (webhook payload version 4) with an ``alertmanager`` token (or an
admin one): each alert is kept by fingerprint with its site and device resolved from its labels, so a
firing site shows as a problem on the map before any observation arrives, and a resolved alert closes.
Then the group becomes one message per site to the site's contacts (`web/notify.py`), when the app has
notification settings (``NOTIFY``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy.orm import Session

from sitescout.inventory.alerts import (
    StoredAlert, active_alerts, add_contact, contact_record, parse_webhook, record_alerts, resolved_alerts,
    site_contacts,
)
from sitescout.inventory.choices import Role
from sitescout.inventory.models import Site, ValidationError
from sitescout.web.api import forget_sites
from sitescout.web.errors import api_error, field_message
from sitescout.web.i18n import format_when
from sitescout.web.notify import NotifySettings, describe_alert, plan_messages, record_messages, send_messages
from sitescout.web.security import (
    EDIT_ROLES, READ_ROLES, token_or_login_required, token_required, token_sites,
)
from sitescout.web.storage import commit_session, db_session

__all__ = ["bp", "ALERT_ROLES", "site_alert_rows"]

log = logging.getLogger(__name__)

bp = Blueprint("alerts", __name__, url_prefix="/api/v1")

#: Who may post alerts: Alertmanager's own token, or an admin.  Not a worker: a worker's token sits on
#: every probing box, and alerts reach people's phones.
ALERT_ROLES = frozenset({Role.ADMIN.value, Role.ALERTMANAGER.value})


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


def _alert_json(a: StoredAlert) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint, "alertname": a.alertname, "status": a.status, "severity": a.severity,
        "labels": a.labels, "annotations": a.annotations, "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat() if a.ends_at else None, "site_id": a.site_id, "device_id": a.device_id,
    }


#: How far back a site page lists resolved alerts.
RECENT_DAYS = 7


def site_alert_rows(session: Session, site_id: int) -> dict[str, list[dict[str, str]]]:
    """Return a site page's alerts: "active" (firing) and "resolved" in the last RECENT_DAYS days.

    Each row: text (the reader's language), since and until (local time), health (problem or warning).
    """
    settings: NotifySettings | None = current_app.config.get("NOTIFY")
    zone = settings.timezone if settings else None  # None: the deployment's (sitescout serve --timezone)

    def row(a: StoredAlert) -> dict[str, str]:
        return {"text": describe_alert(a), "since": format_when(a.starts_at, "short", zone),
                "until": format_when(a.ends_at, "short", zone) if a.ends_at else "",
                "health": "problem" if a.severity == "critical" else "warning"}

    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    return {"active": [row(a) for a in active_alerts(session, site_id)],
            "resolved": [row(a) for a in resolved_alerts(session, site_id, since)]}


def _notify(group_key: str, stored: list[StoredAlert]) -> int:
    """Tell the contacts of the group's sites; return how many messages were sent.

    Three steps, none holding a transaction while a gateway answers: plan (a short read), send
    (no database: a hung SMS gateway blocks only this request), record the decisions (a short write).
    """
    settings: NotifySettings | None = current_app.config.get("NOTIFY")
    if settings is None or not settings.channels or all(a.site_id is None for a in stored):
        return 0
    planned = plan_messages(db_session(), settings, group_key, stored,
                            lambda site_id: url_for("sites.show_site", site_id=site_id))
    commit_session()  # ends the read transaction
    results = send_messages(planned)
    record_messages(db_session(), results)
    commit_session()
    return sum(1 for _out, outcome, _detail in results if outcome == "sent")


@bp.post("/alerts")
@token_required(ALERT_ROLES)
def post_alerts() -> Response:
    """Record an Alertmanager webhook call, then notify the contacts of the sites it names.

    A token scoped to some sites posts alerts for those sites only; the answer lists the alerts
    refused (``refused``: index, field, error), as ``POST /api/v1/observations`` does.
    """
    if not request.is_json:
        return api_error(400, "alertmanager_json")
    try:
        group = parse_webhook(request.get_json(silent=True))
    except ValidationError as err:
        return api_error(400, field_message(err))
    except RecursionError:
        return api_error(400, "too_deep")
    result = record_alerts(db_session(), group, sites=token_sites())
    stored = result.stored
    commit_session()  # the alerts are kept (and the write lock let go) before any gateway is waited for
    if stored:
        forget_sites()
    sent = _notify(group.group_key, stored)
    unresolved = sum(1 for a in stored if a.site_id is None)
    log.info("%s: %d alerts (%s), %d without a known site, %d messages sent", request.remote_addr,
             len(stored), group.status, unresolved, sent)
    body: dict[str, Any] = {"alerts": len(stored), "unknown_site": unresolved, "messages_sent": sent}
    if result.refused:
        body["refused"] = [r.to_dict() for r in result.refused]
        log.warning("%s: %d alert(s) refused, e.g. %s: %s", request.remote_addr, len(result.refused),
                    result.refused[0].field, result.refused[0].message)
    return _json(body)


@bp.get("/sites/<int:site_id>/alerts")
@token_or_login_required(READ_ROLES)
def site_alerts(site_id: int) -> Response:
    """Return the site's firing alerts, oldest first."""
    session = db_session()
    if session.get(Site, site_id) is None:
        return api_error(404, "no_such_site")
    return _json({"alerts": [_alert_json(a) for a in active_alerts(session, site_id)]})


_CONTACT_FIELDS = {"name": str, "phone": str, "zalo_user_id": str, "email": str, "language": str,
                   "quiet_hours": str, "opted_out": bool, "severities": list}


@bp.get("/sites/<int:site_id>/contacts")
@token_or_login_required(EDIT_ROLES)
def list_contacts(site_id: int) -> Response:
    """Return the people told about the site's alerts (personal data: editors and admins only)."""
    session = db_session()
    if session.get(Site, site_id) is None:
        return api_error(404, "no_such_site")
    return _json({"contacts": [contact_record(c) for c in site_contacts(session, site_id)]})


@bp.post("/sites/<int:site_id>/contacts")
@token_required(EDIT_ROLES)
def create_contact(site_id: int) -> Response:
    """Add a contact to the site: {name, phone|zalo_user_id|email, language, quiet_hours, opted_out}."""
    session = db_session()
    if session.get(Site, site_id) is None:
        return api_error(404, "no_such_site")
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        return api_error(400, "contact_not_object")
    unknown = sorted(set(data) - set(_CONTACT_FIELDS))
    wrong = [k for k, kind in _CONTACT_FIELDS.items() if k in data and not isinstance(data[k], kind)]
    if unknown or wrong:
        return (api_error(400, "unknown_fields", fields=", ".join(map(str, unknown))) if unknown
                else api_error(400, "wrong_type", field=wrong[0]))
    try:
        contact_id = add_contact(session, site_id, data.get("name", ""), phone=data.get("phone", ""),
                                 zalo_user_id=data.get("zalo_user_id", ""), email=data.get("email", ""),
                                 language=data.get("language", "vi"), quiet_hours=data.get("quiet_hours", ""),
                                 opted_out=data.get("opted_out", False),
                                 severities=data.get("severities", ["critical", "warning"]))
    except ValidationError as err:
        return api_error(400, field_message(err))
    contact = next(c for c in site_contacts(session, site_id) if c.id == contact_id)
    return _json(contact_record(contact), 201)
