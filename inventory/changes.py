"""The change log (NetBox's changelog): who changed which record, when, and what it was before and after.

Every write to a curated record through the API (and whoever else calls `record_change`:
the UI's forms, findings applied, candidates accepted, surveys stored) adds one `Change` row
in the same transaction as the write, so a rolled-back write leaves no entry and a committed
one always has its entry.

Secrets never enter the log: `snapshot` leaves out every column named in `SECRET_KEYS`
(a device's encrypted credential becomes ``has_credential: true|false``), and `record_change`
cleans whatever `before`/`after` it is given the same way, at any depth, and strips
``user:password@`` from every URI in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from sitescout.inventory.models import (
    Base, Cable, CameraDetails, Candidate, Change, Commune, Device, Finding, Interface, Plan, Region, Site, Survey,
)
from sitescout.inventory.survey_uris import strip_userinfo_everywhere

__all__ = [
    "ACTIONS",
    "SECRET_KEYS",
    "ChangeRecord",
    "clean",
    "object_type",
    "snapshot",
    "record_change",
    "record_event",
    "list_changes",
    "diff",
]

#: What a change did.
ACTIONS = ("create", "update", "delete")
#: Keys never kept in a change, at any depth (credentials, password and token hashes, secrets).
SECRET_KEYS = frozenset({
    "credential", "credential_encrypted", "credentials", "password", "password_hash", "token_sha256", "secret",
})
#: Large columns left out (a survey's whole document, a snapshot's picture): the log names the record.
_BULKY = frozenset({"document", "jpeg", "geojson"})
#: Columns left out of snapshots: derived (search keys) or noise (the row's own timestamps).
_SKIPPED = frozenset({"name_folded", "updated_at", "created_at"})
_TYPES: dict[type, str] = {
    Region: "region", Commune: "commune", Site: "site", Device: "device", CameraDetails: "camera",
    Candidate: "candidate", Finding: "finding", Survey: "survey", Plan: "plan", Interface: "interface",
    Cable: "cable",
}


@dataclass
class ChangeRecord:
    """One change as the API and the pages show it; ``diff`` maps each changed field to [before, after]."""

    id: int
    changed_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: int | None
    object_repr: str
    site_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diff: dict[str, list[Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (the time as ISO 8601)."""
        return {**self.__dict__, "changed_at": self.changed_at.isoformat()}


def object_type(obj: Base) -> str:
    """Return the name a record's changes are filed under: region, commune, site, device, camera, …"""
    return _TYPES.get(type(obj), type(obj).__tablename__)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _without_secrets(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value]
    return _plain(value)


def clean(value: Any) -> Any:
    """Return `value` without secret keys (at any depth) and without userinfo in any URI."""
    stripped, _removed = strip_userinfo_everywhere(_without_secrets(value))
    return stripped


def snapshot(obj: Base) -> dict[str, Any]:
    """Return a record's fields as the change log keeps them (no secret, no derived column)."""
    data: dict[str, Any] = {}
    for column in inspect(type(obj)).columns:
        key = column.key
        if key in _SKIPPED or key in _BULKY:
            continue
        if key == "credential_encrypted":
            data["has_credential"] = getattr(obj, key) is not None
            continue
        data[key] = getattr(obj, key)
    return clean(data)


def _site_id(session: Session, obj: Base) -> int | None:
    if isinstance(obj, Site):
        return obj.id
    if isinstance(obj, CameraDetails):
        device = obj.device if obj.device is not None else session.get(Device, obj.device_id)
        return device.site_id if device is not None else None
    if isinstance(obj, Finding):
        return session.scalar(select(Survey.site_id).where(Survey.id == obj.survey_id))
    site_id = getattr(obj, "site_id", None)
    return int(site_id) if isinstance(site_id, int) else None


def _object_id(obj: Base) -> int | None:
    identity = inspect(obj).identity
    if identity and len(identity) == 1 and isinstance(identity[0], int):
        return int(identity[0])
    value = getattr(obj, "id", None) if not isinstance(obj, CameraDetails) else obj.device_id
    return int(value) if isinstance(value, int) else None


def _repr(obj: Base) -> str:
    name = getattr(obj, "name", None)
    if isinstance(obj, CameraDetails):
        name = obj.device.name if obj.device is not None else None
    if isinstance(obj, Candidate):
        name = obj.ip
    return str(name or "")[:200]


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """Return {field: [before, after]} for every field whose value differs (a missing side is None)."""
    old, new = before or {}, after or {}
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def record_change(session: Session, actor: str, obj: Base, action: str, before: dict[str, Any] | None = None,
                  after: dict[str, Any] | None = None) -> Change | None:
    """Log one write to `obj` in the session's transaction; return the row, or None for an update that changed nothing.

    `actor` names who did it ("user:lan", "token:12", "cli"); `action` is create, update or
    delete.  `before` is the record's `snapshot` taken before the write (None for a create);
    `after` defaults to the record's snapshot now (None for a delete).  Call it after the write
    is applied (a new record is flushed here to get its id) and, for a delete, before
    ``session.delete``.  Both sides are cleaned of secrets whatever the caller passes.

    Raises:
        ValueError: an action that is not create, update or delete.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if action != "delete" and inspect(obj).pending:
        session.flush()
    if after is None and action != "delete":
        after = snapshot(obj)
    before_clean = clean(before) if before is not None else None
    after_clean = clean(after) if after is not None else None
    if action == "update" and not diff(before_clean, after_clean):
        return None
    row = Change(actor=str(actor)[:200], action=action, object_type=object_type(obj), object_id=_object_id(obj),
                 object_repr=_repr(obj), site_id=_site_id(session, obj), before=before_clean, after=after_clean)
    session.add(row)
    return row


#: Past tenses a caller may pass, filed under the verb.
_DECIDED = {"applied": "apply", "dismissed": "dismiss", "accepted": "accept", "merged": "merge", "rejected": "reject"}


def record_event(session: Session, actor: str, object_type: str, object_id: int | str | None, action: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None, *, site_id: int | None = None,
                 object_repr: str = "") -> Change:
    """Log a decision that is not a plain write of one record: a finding applied or dismissed, a candidate
    accepted, merged or rejected, a site moved on the map.

    `action` is the verb (``apply``, ``dismiss``, ``merge``, ``move``, …); a longer action's
    remainder (``apply new_firmware``: the finding's code) is kept in ``after["detail"]``.  An id
    that is not a number (a finding's ``<survey>-<digest>``) is kept as the record's name.  Both
    sides are cleaned of secrets, as in :func:`record_change`.
    """
    verb, _, detail = action.partition(" ")
    verb = _DECIDED.get(verb, verb)
    after_clean = clean(after) if after is not None else None
    if detail:
        after_clean = {**(after_clean or {}), "detail": detail}
    number = object_id if isinstance(object_id, int) else None
    name = object_repr or ("" if number is not None or object_id is None else str(object_id))
    row = Change(actor=str(actor)[:200], action=verb[:20], object_type=object_type[:40], object_id=number,
                 object_repr=name[:200], site_id=site_id, before=clean(before) if before is not None else None,
                 after=after_clean)
    session.add(row)
    return row


def _record(row: Change) -> ChangeRecord:
    return ChangeRecord(id=row.id, changed_at=row.changed_at, actor=row.actor, action=row.action,
                        object_type=row.object_type, object_id=row.object_id, object_repr=row.object_repr,
                        site_id=row.site_id, before=row.before, after=row.after, diff=diff(row.before, row.after))


def list_changes(session: Session, *, object_type: str | None = None, object_id: int | None = None,
                 site_id: int | None = None, sites: frozenset[int] | None = None, since: datetime | None = None,
                 offset: int = 0, limit: int = 100) -> tuple[list[ChangeRecord], int]:
    """Return one page of changes, newest first, and how many match in all.

    `site_id` keeps one site's changes: the site itself and everything filed under it (devices,
    cameras, candidates…); `sites` (a token's scope) keeps only changes of those sites.
    """
    stmt = select(Change)
    if object_type is not None:
        stmt = stmt.where(Change.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(Change.object_id == object_id)
    if site_id is not None:
        stmt = stmt.where(
            or_(Change.site_id == site_id, (Change.object_type == "site") & (Change.object_id == site_id))
        )
    if sites is not None:
        stmt = stmt.where(Change.site_id.in_(sorted(sites)))
    if since is not None:
        stmt = stmt.where(Change.changed_at >= since)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.scalars(stmt.order_by(Change.changed_at.desc(), Change.id.desc()).offset(offset).limit(limit))
    return [_record(r) for r in rows], total
