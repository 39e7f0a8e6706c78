"""Editing sites and devices from the UI's forms, with optimistic locking (a version of what the form showed).

A form carries the ``version`` of the record it was filled from (a digest of the fields it edits);
a save whose version no longer matches is refused with ``StaleEdit`` (two editors cannot silently
overwrite each other), and a site moved on the map must still be where the mover saw it.  The
model's ``validate()`` rules apply as for every write; each change goes to the change log
(``inventory.workflow.log_change``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import DeviceKind, SiteKind, Status
from sitescout.inventory.models import Commune, Device, Region, Site, ValidationError
from sitescout.inventory.search import fold
from sitescout.inventory.workflow import log_change

__all__ = ["StaleEdit", "SITE_FIELDS", "DEVICE_FIELDS", "CommuneChoice", "communes", "record_version",
           "site_values", "device_values", "create_site", "update_site", "move_site", "update_device"]

#: The fields the site form edits, and the device form.
SITE_FIELDS = ("name", "kind", "status", "latitude", "longitude", "address", "contact")
DEVICE_FIELDS = ("name", "kind", "ip", "status", "notes")
#: How far (degrees) a site may be from where the mover saw it and still count as "not moved since".
_SAME_PLACE = 1e-7


class StaleEdit(ValidationError):
    """The record changed since the form was filled: reload it and make the change again."""


@dataclass(frozen=True)
class CommuneChoice:
    """A commune a new site can belong to."""

    id: int
    label: str


def communes(session: Session) -> list[CommuneChoice]:
    """Return every commune as "commune, region", by name."""
    stmt = select(Commune.id, Commune.name, Region.name).join(Region).order_by(Region.name, Commune.name)
    return [CommuneChoice(i, f"{c}, {r}") for i, c, r in session.execute(stmt)]


def record_version(values: dict[str, Any]) -> str:
    """Return the version of a record's edited fields (what a form sends back to prove it is not stale)."""
    text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def site_values(site: Site) -> dict[str, Any]:
    """Return the fields the site form edits."""
    return {name: getattr(site, name) for name in SITE_FIELDS}


def device_values(device: Device) -> dict[str, Any]:
    """Return the fields the device form edits."""
    return {name: getattr(device, name) for name in DEVICE_FIELDS}


def _check_version(current: dict[str, Any], version: str | None) -> None:
    if version != record_version(current):
        raise StaleEdit("version", "someone changed this record since you opened the form; "
                                   "reload it and make your change again")


def _set(obj: Any, changes: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationError(unknown[0], f"cannot be edited here; the fields are: {', '.join(allowed)}")
    before = {}
    for name, value in changes.items():
        if getattr(obj, name) != value:
            before[name] = getattr(obj, name)
            setattr(obj, name, value)
    return before


def create_site(session: Session, commune_id: int, fields: dict[str, Any], *, actor: str) -> int:
    """Create a site in a commune and return its id (kind other and status active unless given)."""
    commune = session.get(Commune, commune_id)
    if commune is None:
        raise ValidationError("commune_id", "choose the commune this site belongs to")
    values = {"kind": SiteKind.OTHER.value, "status": Status.ACTIVE.value, "address": "", "contact": "", **fields}
    unknown = sorted(set(values) - set(SITE_FIELDS))
    if unknown:
        raise ValidationError(unknown[0], f"cannot be set here; the fields are: {', '.join(SITE_FIELDS)}")
    name = values.get("name")
    site = Site(commune_id=commune.id, name_folded=fold(name or ""), **values)
    session.add(site)
    session.flush()
    log_change(session, actor, "create", "site", site.id, None, site_values(site))
    return site.id


def _site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"no site {site_id}")
    return site


def update_site(session: Session, site_id: int, changes: dict[str, Any], *, version: str | None, actor: str) -> None:
    """Change a site's fields if the form's version is still current.

    Raises:
        LookupError: no such site.  StaleEdit: changed since the form was filled.
        ValidationError: a value breaks a rule (name empty, coordinates out of range…).
    """
    site = _site(session, site_id)
    _check_version(site_values(site), version)
    before = _set(site, changes, SITE_FIELDS)
    session.flush()
    if before:
        log_change(session, actor, "update", "site", site_id, before, {k: getattr(site, k) for k in before})


def move_site(session: Session, site_id: int, latitude: float, longitude: float, *,
              seen_at: tuple[float | None, float | None], actor: str) -> None:
    """Move a site on the map, if it is still where the mover saw it (``seen_at``: latitude, longitude)."""
    site = _site(session, site_id)
    was = (site.latitude, site.longitude)
    same = all((a is None and b is None) or (a is not None and b is not None and abs(a - b) <= _SAME_PLACE)
               for a, b in zip(was, seen_at, strict=True))
    if not same:
        raise StaleEdit("latitude", "someone moved this site since the map was loaded; reload the map")
    site.latitude, site.longitude = latitude, longitude
    session.flush()
    log_change(session, actor, "move", "site", site_id, {"latitude": was[0], "longitude": was[1]},
               {"latitude": latitude, "longitude": longitude})


def update_device(session: Session, device_id: int, changes: dict[str, Any], *, version: str | None,
                  actor: str) -> int:
    """Change a device's name, kind, address, lifecycle status or notes; return its site id.

    The lifecycle follows ``inventory.choices.ALLOWED_TRANSITIONS`` (planned → active ⇄ offline → retired);
    a moved address re-bases the device's URIs (``sitescout.device_uris``); the credential is not touched.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise LookupError(f"no device {device_id}")
    _check_version(device_values(device), version)
    if "kind" in changes and changes["kind"] not in {k.value for k in DeviceKind}:
        raise ValidationError("kind", f"{changes['kind']!r} is not a kind of device")
    before = _set(device, changes, DEVICE_FIELDS)
    session.flush()
    if before:
        log_change(session, actor, "update", "device", device_id, before, {k: getattr(device, k) for k in before})
    return device.site_id
