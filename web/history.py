"""A record's change log as the site and device pages show it (the "History" section).

The rows come from ``inventory.changes.list_changes`` (the same log ``GET /api/v1/changes``
answers), newest first and capped at `HISTORY_ON_PAGE`; the rest are a link to the API away.
Each row says who, when (the template's ``when`` filter: the site's zone), what was done to which
record, and each changed field as before → after.  Secrets never reach this module's output: the
log never holds them (``inventory.changes.clean``), and any key named in ``SECRET_KEYS`` that
would still appear is dropped here too, so a page cannot show one even from a hand-made row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from sitescout.inventory.changes import SECRET_KEYS, ChangeRecord, list_changes

__all__ = ["HISTORY_ON_PAGE", "HistoryRow", "History", "site_history", "device_history"]

#: Changes listed on a page; the others are in ``GET /api/v1/changes``.
HISTORY_ON_PAGE = 30
#: Fields a row leaves out: bookkeeping, or the row's own time again (when a login was set).
_NOT_SHOWN = frozenset({"version", "id", "credential_changed_at"})
#: Longest value shown in a before → after cell (a camera's profiles can be long).
_VALUE_MAX = 120

_ACTIONS = {
    "create": _l("created"), "update": _l("changed"), "delete": _l("deleted"), "apply": _l("applied"),
    "dismiss": _l("dismissed"), "accept": _l("accepted"), "merge": _l("merged"), "reject": _l("rejected"),
    "move": _l("moved"), "reevaluate": _l("evaluated again"),
}
_OBJECTS = {
    "site": _l("site"), "device": _l("device"), "camera": _l("camera details"), "candidate": _l("candidate"),
    "finding": _l("finding"), "survey": _l("survey"), "plan": _l("plan"), "region": _l("region"),
    "commune": _l("commune"), "interface": _l("interface"), "cable": _l("cable"),
}
_FIELDS = {
    "name": _l("Name"), "kind": _l("Kind"), "status": _l("Status"), "ip": "IP", "mac": "MAC",
    "notes": _l("Notes"), "address": _l("Address"), "contact": _l("Contact"), "latitude": _l("Latitude"),
    "longitude": _l("Longitude"), "has_credential": _l("Credentials set"),
    "firmware": _l("Firmware"), "model": _l("Model"),
    "manufacturer": _l("Manufacturer"), "serial": _l("Serial number"), "version": _l("Version"),
    "feasible": _l("Feasible"), "camera_problems": _l("Camera problems"),
    "network_survey": _l("Network facts from the survey of"),
}


@dataclass
class HistoryRow:
    """One change as a page shows it: the field list holds (field label, before, after) as text."""

    changed_at: datetime
    actor: str
    action: str
    record: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class History:
    """The newest changes of a record, how many there are in all, and where the API lists them all."""

    rows: list[HistoryRow]
    total: int
    api_url: str

    @property
    def more(self) -> int:
        """Return how many changes are not listed on the page."""
        return max(0, self.total - len(self.rows))


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _VALUE_MAX else text[: _VALUE_MAX - 1] + "…"


def _row(change: ChangeRecord) -> HistoryRow:
    action = _ACTIONS.get(change.action)
    kind = _OBJECTS.get(change.object_type)
    record = f"{kind if kind is not None else change.object_type} {change.object_repr}".strip()
    fields = [
        (str(_FIELDS.get(key, key)), _value(old), _value(new))
        for key, (old, new) in change.diff.items()
        if key.lower() not in SECRET_KEYS and key not in _NOT_SHOWN
    ]
    if change.action == "delete":
        fields = []  # the whole record before: the row says it was deleted, the API has its fields
    return HistoryRow(changed_at=change.changed_at, actor=change.actor or "—",
                      action=str(action) if action is not None else change.action, record=record, fields=fields)


def site_history(session: Session, site_id: int) -> History:
    """Return the newest changes of a site and of everything filed under it."""
    changes, total = list_changes(session, site_id=site_id, limit=HISTORY_ON_PAGE)
    return History([_row(c) for c in changes], total, f"/api/v1/changes?site={site_id}")


def device_history(session: Session, device_id: int) -> History:
    """Return the newest changes of a device and of its camera details (filed under the device's id)."""
    devices, device_total = list_changes(session, object_type="device", object_id=device_id, limit=HISTORY_ON_PAGE)
    cameras, camera_total = list_changes(session, object_type="camera", object_id=device_id, limit=HISTORY_ON_PAGE)
    newest = sorted(devices + cameras, key=lambda c: (c.changed_at, c.id), reverse=True)[:HISTORY_ON_PAGE]
    return History([_row(c) for c in newest], device_total + camera_total,
                   f"/api/v1/changes?object=device:{device_id}")
