"""Creating, changing and deleting curated records, each write checked, versioned and logged.

One set of field rules per resource (`RESOURCES`): the API parses request bodies with it and
publishes it as the OpenAPI schema, so the document cannot drift from what is accepted.  Every
write keeps the models' own rules (``validate()`` before each flush, the device URI binding of
``sitescout.device_uris``), checks the row version the caller read (optimistic locking:
`StaleError`), and adds a change-log entry in the same transaction (`inventory.changes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitescout.inventory.changes import record_change, snapshot
from sitescout.inventory.choices import CableStatus, DeviceKind, InterfaceKind, SiteKind, Status
from sitescout.inventory.db import ConflictError, conflict_message
from sitescout.inventory.errors import (
    Coded,
    InventoryError,
    StaleError,
)  # defined with the package's other errors; kept importable here
from sitescout.inventory.models import Base, Cable, CameraDetails, Commune, Device, Interface, Region, Site
from sitescout.inventory.secrets import clear_device_credential, set_device_credential

__all__ = [
    "Field", "Resource", "RESOURCES", "InvalidFields", "StaleError", "parse_fields", "create_record",
    "update_record", "delete_record", "put_camera", "set_credentials", "clear_credentials", "MAX_ID",
]

#: Largest id a database integer holds (a bigger one names no row).
MAX_ID = 2**63 - 1


class InvalidFields(InventoryError, ValueError):
    """A body with wrong fields: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Field:
    """One writable field: its JSON type, whether null is allowed, a length limit, a closed set of values."""

    kind: str  # "string" | "number" | "integer" | "boolean" | "strings" (list of text) | "objects" (list of objects)
    nullable: bool = False
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    parent: type[Base] | None = None  # an id that must name a row of this model
    minimum: int = 1  # an "integer" field's range (an id's by default)
    maximum: int = MAX_ID


@dataclass(frozen=True)
class Resource:
    """A curated record the API edits: its model and writable fields."""

    name: str
    model: type[Base]
    fields: dict[str, Field] = field(default_factory=dict)


def _text(n: int, *, nullable: bool = True, required: bool = False) -> Field:
    return Field("string", nullable=nullable, required=required, max_length=n)


def _enum(values: Any) -> Field:
    return Field("string", choices=tuple(v.value for v in values))


_COORD = Field("number", nullable=True)
RESOURCES: dict[str, Resource] = {
    "region": Resource("region", Region, {"name": _text(200, nullable=False, required=True)}),
    "commune": Resource(
        "commune",
        Commune,
        {
            "region_id": Field("integer", required=True, parent=Region),
            "name": _text(200, nullable=False, required=True),
            "is_demo": Field("boolean"),
        },
    ),
    "site": Resource(
        "site",
        Site,
        {
            "commune_id": Field("integer", required=True, parent=Commune),
            "name": _text(200, nullable=False, required=True),
            "kind": _enum(SiteKind),
            "status": _enum(Status),
            "latitude": _COORD,
            "longitude": _COORD,
            "address": _text(2000, nullable=False),
            "contact": _text(2000, nullable=False),
            "is_demo": Field("boolean"),
        },
    ),
    "device": Resource(
        "device",
        Device,
        {
            "site_id": Field("integer", required=True, parent=Site),
            "name": _text(200, nullable=False, required=True),
            "kind": _enum(DeviceKind),
            "status": _enum(Status),
            "ip": _text(45),
            "mac": _text(64),
            "vendor": _text(200),
            "manufacturer": _text(200),
            "model": _text(200),
            "firmware": _text(200),
            "serial": _text(200),
            "onvif_endpoint": _text(300),
            "notes": _text(5000, nullable=False),
            "snmp_port": Field("integer", nullable=True, maximum=65535),
        },
    ),
    "camera": Resource(
        "camera",
        CameraDetails,
        {
            "mount_latitude": _COORD,
            "mount_longitude": _COORD,
            "height_m": Field("number", nullable=True),
            "heading_deg": Field("number", nullable=True),
            "hfov_deg": Field("number", nullable=True),
            "profiles": Field("objects"),
            "stream_uris": Field("strings"),
        },
    ),
    # A device's ports and the cables between them (issue #15; inventory/network.py).
    "interface": Resource(
        "interface",
        Interface,
        {
            "name": _text(64, nullable=False, required=True),
            "if_index": Field("integer", nullable=True, maximum=2**31 - 1),
            "description": _text(200, nullable=False),
            "kind": _enum(InterfaceKind),
            "speed_bps": Field("integer", nullable=True, minimum=0, maximum=10**13),
            "mac": _text(64),
            "poe": Field("boolean"),
            "uplink": Field("boolean"),
            "enabled": Field("boolean"),
        },
    ),
    "cable": Resource(
        "cable",
        Cable,
        {
            "a_interface_id": Field("integer", required=True, parent=Interface),
            "b_interface_id": Field("integer", required=True, parent=Interface),
            "status": _enum(CableStatus),
        },
    ),
}

#: Each problem is Coded (code and parameters) so the web can say it in the reader's language (web/errors.py).
_TYPE_WORDS = {"string": "text", "number": "a number", "integer": "a whole number", "boolean": "true or false",
               "strings": "a list of text", "objects": "a list of objects"}


def _storable(text: str) -> str | None:
    if "\x00" in text:
        return Coded("nul_character", "must not contain the NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Coded("lone_surrogate", "is not valid Unicode (a lone surrogate)")
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e300


def _check_value(spec: Field, value: Any) -> str | None:
    """Return what is wrong with a value, or None."""
    if value is None:
        return None if spec.nullable else Coded("not_null", "must not be null")
    wrong = Coded(f"must_be_{spec.kind}" + ("_or_null" if spec.nullable else ""),
                  f"must be {_TYPE_WORDS[spec.kind]}" + (" or null" if spec.nullable else ""))
    if spec.kind == "string":
        if not isinstance(value, str):
            return wrong
        if spec.max_length is not None and len(value) > spec.max_length:
            return Coded("too_long", "at most %(most)s characters", most=spec.max_length)
        if spec.choices and value not in spec.choices:
            return Coded("not_a_choice", "one of: %(choices)s", choices=", ".join(spec.choices))
        return _storable(value)
    if spec.kind == "number":
        return None if _is_number(value) else wrong
    if spec.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return wrong
        if spec.minimum == 1 and spec.maximum == MAX_ID:
            return None if 0 < value <= MAX_ID else Coded("not_an_id", "not an id (a whole number from 1)")
        return None if spec.minimum <= value <= spec.maximum else Coded(
            "out_of_range", "from %(least)s to %(most)s", least=spec.minimum, most=spec.maximum)
    if spec.kind == "boolean":
        return None if isinstance(value, bool) else wrong
    if not isinstance(value, list) or len(value) > 100:
        return Coded("too_many_items", "must be a list of at most %(most)s items", most=100)
    item_type = str if spec.kind == "strings" else dict
    if not all(isinstance(v, item_type) for v in value):
        return wrong
    if spec.kind == "strings":
        return next((p for p in map(_storable, value) if p), None)
    return None


def parse_fields(session: Session, resource: str, body: Any, *, partial: bool) -> dict[str, Any]:
    """Return the writable fields of a JSON body for `resource`; InvalidFields naming each wrong one.

    `partial` (PATCH): any subset; otherwise (POST, PUT) every required field must be there.
    Fields absent from a PUT keep their value (as NetBox's PUT does).
    """
    spec = RESOURCES[resource]
    if not isinstance(body, dict):
        raise InvalidFields({"body": Coded("body_not_object", "send a JSON object with the %(resource)s's fields",
                                           resource=resource)})
    errors: dict[str, str] = {}
    for key in body:
        if key not in spec.fields:
            errors[str(key)[:100]] = Coded("unknown_field", "unknown field (or not writable)")
    if not partial:
        for key, f in spec.fields.items():
            if f.required and key not in body:
                errors[key] = Coded("required", "required")
    wanted: dict[str, Any] = {}
    for key, f in spec.fields.items():
        if key not in body or key in errors:
            continue
        problem = _check_value(f, body[key])
        if problem is None and f.parent is not None and session.get(f.parent, body[key]) is None:
            problem = Coded(f"no_{RESOURCES_BY_MODEL.get(f.parent, f.parent.__name__.lower())}",
                            "no %(kind)s with id %(id)s", kind=RESOURCES_BY_MODEL.get(f.parent, "record"),
                            id=body[key])
        if problem:
            errors[key] = problem
        else:
            wanted[key] = body[key]
    if errors:
        raise InvalidFields(errors)
    return wanted


RESOURCES_BY_MODEL: dict[type[Base], str] = {r.model: r.name for r in RESOURCES.values()}


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as err:
        raise ConflictError(conflict_message(err) or Coded("conflict", "this conflicts with another record")) from err


def _check_version(obj: Base, if_version: int | None) -> None:
    current = getattr(obj, "version", None)
    if if_version is not None and current != if_version:
        raise StaleError(Coded("stale", "%(kind)s was changed since it was read (version %(current)s, not "
                                        "%(asked)s); read it again and redo the change",
                               kind=RESOURCES_BY_MODEL.get(type(obj), "record"), current=current, asked=if_version))


def create_record(session: Session, actor: str, resource: str, fields: dict[str, Any]) -> Base:
    """Create a record from parsed fields, log it; ValidationError or ConflictError when a rule refuses it."""
    obj = RESOURCES[resource].model(**fields)
    session.add(obj)
    _flush(session)
    record_change(session, actor, obj, "create")
    return obj


def update_record(session: Session, actor: str, obj: Base, fields: dict[str, Any], *, if_version: int | None) -> Base:
    """Change a record's fields if its version is still `if_version` (None: any), and log the change."""
    _check_version(obj, if_version)
    before = snapshot(obj)
    for key, value in fields.items():
        setattr(obj, key, value)
    _flush(session)
    record_change(session, actor, obj, "update", before)
    return obj


_CHILDREN: dict[type[Base], tuple[Any, str]] = {
    Region: (Commune.region_id, Coded("region_in_use", "it still has communes; delete or move them first")),
    Commune: (Site.commune_id, Coded("commune_in_use", "it still has sites; delete or move them first")),
    Site: (Device.site_id, Coded("site_in_use", "it still has devices; retire the site (status retired) or "
                                                "delete its devices first")),
}


def delete_record(session: Session, actor: str, obj: Base, *, if_version: int | None) -> None:
    """Delete a record if its version is still `if_version`; ConflictError when it still holds others."""
    _check_version(obj, if_version)
    child = _CHILDREN.get(type(obj))
    if child is not None and isinstance(obj, (Region, Commune, Site)) \
            and session.scalar(select(exists().where(child[0] == obj.id))):
        raise ConflictError(child[1])
    record_change(session, actor, obj, "delete", snapshot(obj))
    if isinstance(obj, CameraDetails) and obj.device is not None:
        obj.device.camera = None
    session.delete(obj)
    _flush(session)


def put_camera(session: Session, actor: str, device: Device, fields: dict[str, Any], *,
               if_version: int | None) -> tuple[CameraDetails, bool]:
    """Create or change a device's camera details; return them and whether they were created."""
    camera = device.camera
    if camera is None:
        camera = CameraDetails(**fields)
        device.camera = camera
        _flush(session)
        record_change(session, actor, camera, "create")
        return camera, True
    return update_record(session, actor, camera, fields, if_version=if_version), False  # type: ignore[return-value]


def set_credentials(session: Session, actor: str, device: Device, username: str, password: str, *, key: bytes,
                    if_version: int | None) -> None:
    """Store a device's login encrypted; the log says a credential was set, never which."""
    _check_version(device, if_version)
    before = snapshot(device)
    set_device_credential(session, device.id, username, password, key=key)
    _flush(session)
    after = {**snapshot(device), "credential_changed_at": datetime.now(UTC).isoformat()}
    record_change(session, actor, device, "update", before, after)


def clear_credentials(session: Session, actor: str, device: Device, *, if_version: int | None) -> None:
    """Forget a device's login, and log that it was forgotten."""
    _check_version(device, if_version)
    before = snapshot(device)
    clear_device_credential(session, device.id)
    _flush(session)
    record_change(session, actor, device, "update", before)
