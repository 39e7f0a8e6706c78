"""CSV and GeoJSON import/export of sites and devices; survey documents as JSON.

Sites are keyed by (region, commune, name), devices by their site and name: an import
creates what is new and updates what exists.  Every row is checked first; if any row
is bad, ``ImportFailed`` lists each with its row number and reason and nothing changes
(the caller's transaction is rolled back).  Credentials are never exported.

Reading files is in ``importexport_read``, the exports in ``importexport_write``; both are
importable from here as before.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, insert, select
from sqlalchemy.orm import Session

from sitescout.inventory.changes import clean, record_change, snapshot
from sitescout.inventory.choices import SiteKind, Status
from sitescout.inventory.errors import Coded
from sitescout.inventory.ingest import ingest_survey
from sitescout.inventory.models import (
    CameraDetails, Change, Commune, Device, Region, Site, Survey, ValidationError, bind_camera_uris,
)
from sitescout.inventory.search import fold
# Reading files and exporting live in their own modules; every public name stays importable from here.
from sitescout.inventory.importexport_read import (  # re-exported
    _CAMERA,
    _DEVICE_OWN,
    _MAX_REPORTED,
    DEVICE_FIELDS,
    FORMULA_TRIGGERS as FORMULA_TRIGGERS,
    SITE_FIELDS,
    ImportFailed,
    RowError,
    detect_kind,
    neutralise_formula,
    read_rows,
    restore_formula,
    row_reason,
)
from sitescout.inventory.importexport_write import (  # re-exported
    export_devices_csv,
    export_devices_geojson,
    export_sites_csv,
    export_sites_geojson,
    export_surveys_json,
)

__all__ = [
    "SITE_FIELDS",
    "DEVICE_FIELDS",
    "RowError",
    "ImportFailed",
    "ImportReport",
    "export_sites_csv",
    "export_devices_csv",
    "export_sites_geojson",
    "export_devices_geojson",
    "export_surveys_json",
    "import_sites",
    "import_devices",
    "import_surveys",
    "read_rows",
    "detect_kind",
    "neutralise_formula",
    "restore_formula",
]

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    surveys: list[int] = field(default_factory=list)


#: Column lengths of the text fields an import fills (PostgreSQL refuses longer text).
_MAX_LEN = {**{c.key: c.type.length for c in Device.__table__.columns
               if isinstance(c.type, String) and c.type.length}, "region": 200, "commune": 200, "site": 200}


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise ValidationError(key, Coded("text_not_object", "must be text, not a JSON object")
                              if isinstance(value, dict) else Coded("text_not_list", "must be text, not a JSON list"))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(key, Coded("cell_not_finite", "%(value)s is not a finite number", value=value))
    value = str(value).strip()
    if "\x00" in value:
        raise ValidationError(key, Coded("cell_nul", "contains a NUL character"))
    limit = _MAX_LEN.get(key)
    if limit is not None and len(value) > limit:
        raise ValidationError(key, Coded("cell_too_long", "is longer than %(most)s characters", most=limit))
    return value or None


def _float(fields: dict[str, Any], key: str) -> float | None:
    value = _text(fields, key)
    if value is None:
        return None
    if isinstance(fields.get(key), bool):
        raise ValidationError(key, Coded("cell_not_number", "%(value)r is not a number", value=fields[key]))
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise ValidationError(key, Coded("cell_not_number", "%(value)r is not a number", value=value)) from None
    if not math.isfinite(number):
        raise ValidationError(key, Coded("cell_not_finite", "%(value)r is not a finite number", value=value))
    return number


def _bool(fields: dict[str, Any], key: str) -> bool:
    value = fields.get(key)
    if isinstance(value, bool):
        return value
    text = (str(value).strip().lower() if value is not None else "")
    if text in ("", "0", "false", "no", "n"):
        return False
    if text in ("1", "true", "yes", "y"):
        return True
    raise ValidationError(key, Coded("cell_not_boolean", "%(value)r is not true or false", value=value))


# ---------------------------------------------------------------- import


class _Places:
    """Regions, communes and sites by name, created on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.created: list[Region | Commune] = []  # new ones, for the change log
        self.regions = {r.name: r for r in session.scalars(select(Region))}
        self.communes = {
            (region, c.name): c
            for c, region in session.execute(select(Commune, Region.name).join(Region, Commune.region_id == Region.id))
        }
        stmt = (select(Site, Commune.name, Region.name).join(Commune, Site.commune_id == Commune.id)
                .join(Region, Commune.region_id == Region.id))
        self.sites = {(region, commune, s.name): s for s, commune, region in session.execute(stmt)}

    def commune(self, region: str, commune: str, is_demo: bool) -> Commune:
        if region not in self.regions:
            self.regions[region] = Region(name=region, name_folded=fold(region))
            self.session.add(self.regions[region])
            self.created.append(self.regions[region])
        if (region, commune) not in self.communes:
            c = Commune(name=commune, name_folded=fold(commune), region=self.regions[region], is_demo=is_demo)
            self.communes[(region, commune)] = c
            self.session.add(c)
            self.created.append(c)
        return self.communes[(region, commune)]


def _place_names(fields: dict[str, Any], site_key: str) -> tuple[str, str, str]:
    names = tuple(_text(fields, k) for k in ("region", "commune", site_key))
    for key, value in zip(("region", "commune", site_key), names):
        if not value:
            raise ValidationError(key, "must not be empty")
    return names  # type: ignore[return-value]


#: Who the change log names for an import from the command line (an import through the web would be
#: ``import:<user>``).
CLI_ACTOR = "import:cli"


def import_sites(session: Session, rows: list[tuple[int, dict[str, Any]]], *, source: str = "sites",
                 actor: str = CLI_ACTOR) -> ImportReport:
    """Create or update sites from rows, one change-log entry per record created or changed (`actor` names
    who); raise ImportFailed listing every bad row (and then nothing is logged: the caller rolls back)."""
    places = _Places(session)
    report = ImportReport()
    errors: list[RowError] = []
    logged: list[tuple[Site, dict[str, Any] | None]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for row, fields in rows:
        try:
            key = _place_names(fields, "name")
            if key in seen:
                raise ValidationError("name", Coded("same_site_row", "the same site is already on row %(row)s",
                                                    row=seen[key]))
            seen[key] = row
            lat = fields["_lat"] if "_lat" in fields else _float(fields, "latitude")
            lon = fields["_lon"] if "_lon" in fields else _float(fields, "longitude")
            values = {
                "kind": _text(fields, "kind") or SiteKind.OTHER.value,
                "latitude": lat, "longitude": lon,
                "address": _text(fields, "address") or "", "contact": _text(fields, "contact") or "",
                "is_demo": _bool(fields, "is_demo"),
            }
            if _text(fields, "status"):
                values["status"] = _text(fields, "status")
            site = places.sites.get(key)
            if site is None:
                site = Site(name=key[2], commune=places.commune(key[0], key[1], bool(values["is_demo"])), **values)
                site.validate()
                session.add(site)
                places.sites[key] = site
                logged.append((site, None))
                report.created += 1
            else:
                logged.append((site, snapshot(site)))
                for name, value in values.items():
                    setattr(site, name, value)
                site.validate()
                report.updated += 1
        except ValidationError as err:
            errors.append(RowError(row, row_reason(err)))
    if errors:
        raise ImportFailed(source, errors[:_MAX_REPORTED])
    session.flush()
    _log_places(session, actor, places)
    for site, before in logged:
        record_change(session, actor, site, "create" if before is None else "update", before)
    return report


def _log_places(session: Session, actor: str, places: _Places) -> None:
    for place in places.created:
        record_change(session, actor, place, "create")
    places.created.clear()


class _DeviceKeys:
    """Unique keys already taken, so a clash is reported with its row number before anything is written."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(select(Device.id, Device.site_id, Device.name, Device.ip, Device.mac,
                                      Device.manufacturer, Device.serial, Device.onvif_endpoint))
        self.owner: dict[tuple[Any, ...], tuple[int | None, int]] = {}
        self.by_name: dict[tuple[int, str], int] = {}
        for dev_id, site_id, name, ip, mac, manufacturer, serial, endpoint in rows:
            self.by_name[(site_id, name)] = dev_id
            for key in self._keys(site_id, name, ip, mac, manufacturer, serial, endpoint):
                self.owner[key] = (dev_id, 0)

    @staticmethod
    def _keys(
        site_id: int, name: str, ip: Any, mac: Any, manufacturer: Any, serial: Any, endpoint: Any
    ) -> list[tuple[Any, ...]]:
        keys: list[tuple[Any, ...]] = [("name", site_id, name)]
        if ip:
            keys.append(("ip", site_id, ip))
        if mac:
            keys.append(("mac", mac))
        if serial:
            keys.append(("serial", manufacturer, serial))
        if endpoint:
            keys.append(("endpoint", endpoint))
        return keys

    def claim(self, device_id: int | None, row: int, d: Device, site_id: int) -> None:
        keys = self._keys(site_id, d.name, d.ip, d.mac, d.manufacturer, d.serial, d.onvif_endpoint)
        for key in keys:
            holder = self.owner.get(key)
            if holder is not None and (device_id is None or holder[0] != device_id):
                raise ValidationError(key[0], Coded("used_by_row", "%(value)s is already used by row %(row)s",
                                                    value=key[-1], row=holder[1]) if holder[1] else
                                      Coded("used_by_device", "%(value)s is already used by a device already in "
                                            "the inventory", value=key[-1]))
        for key in keys:
            self.owner[key] = (device_id, row)


def _camera_values(fields: dict[str, Any]) -> dict[str, Any] | None:
    values: dict[str, Any] = {k: _float(fields, k) for k in _CAMERA}
    if "_lat" in fields:
        values["mount_latitude"], values["mount_longitude"] = fields["_lat"], fields["_lon"]
    uris = fields.get("stream_uris")
    if isinstance(uris, dict) or (isinstance(uris, list) and not all(isinstance(u, str) for u in uris)):
        raise ValidationError("stream_uris", "must be a list of URIs (or space-separated in CSV)")
    values["stream_uris"] = uris if isinstance(uris, list) else (str(uris).split() if uris else [])
    profiles = fields.get("profiles")
    if isinstance(profiles, str):
        try:
            profiles = json.loads(profiles) if profiles.strip() else []
        except json.JSONDecodeError:
            raise ValidationError("profiles", "is not a JSON list of profiles") from None
    values["profiles"] = profiles or []
    if not isinstance(values["profiles"], list) or not all(isinstance(p, dict) for p in values["profiles"]):
        raise ValidationError("profiles", "is not a JSON list of profiles")
    return values if any(v not in (None, []) for v in values.values()) else None


def import_devices(
    session: Session, rows: list[tuple[int, dict[str, Any]]], *, source: str = "devices", actor: str = CLI_ACTOR
) -> ImportReport:
    """Create or update devices (their sites must exist), one change-log entry per device and camera created
    or changed (`actor` names who); raise ImportFailed listing every bad row."""
    places = _Places(session)
    keys = _DeviceKeys(session)
    report = ImportReport()
    errors: list[RowError] = []
    logged: list[tuple[Any, dict[str, Any] | str]] = []  # (record, its snapshot before) or (device, "camera")
    new: list[tuple[Device, dict[str, Any] | None]] = []
    for row, fields in rows:
        try:
            region, commune, site_name = _place_names(fields, "site")
            site = places.sites.get((region, commune, site_name))
            if site is None:
                raise ValidationError("site", Coded(
                    "site_not_imported", "%(site)r (%(commune)s, %(region)s) is not in the inventory; import the "
                    "sites first", site=site_name, commune=commune, region=region))
            values = {k: _text(fields, k) for k in _DEVICE_OWN}
            values["kind"] = values["kind"] or "other"
            values["status"] = values["status"] or Status.ACTIVE.value
            values["notes"] = values["notes"] or ""
            camera = _camera_values(fields)
            existing_id = keys.by_name.get((site.id, values["name"] or ""))
            if existing_id is None:
                device = Device(site_id=site.id, **values)
                device.validate()
                if camera is not None:
                    details = CameraDetails(**camera)
                    details.validate()
                    bind_camera_uris(details, device.ip)  # a camera's URIs point at the camera itself
                keys.claim(None, row, device, site.id)
                new.append((device, camera))
            else:
                stored = session.get(Device, existing_id)
                assert stored is not None
                device = stored
                logged.append((device, snapshot(device)))
                for name, value in values.items():
                    setattr(device, name, value)
                device.validate()
                keys.claim(existing_id, row, device, site.id)
                if camera is not None:
                    logged.append((device.camera, snapshot(device.camera)) if device.camera is not None
                                  else (device, "camera"))
                    device.camera = device.camera or CameraDetails()
                    for name, value in camera.items():
                        setattr(device.camera, name, value)
                    device.camera.validate()
                report.updated += 1
        except ValidationError as err:
            errors.append(RowError(row, row_reason(err)))
    if errors:
        raise ImportFailed(source, errors[:_MAX_REPORTED])
    session.flush()
    for obj, before in logged:
        if isinstance(before, dict):
            record_change(session, actor, obj, "update", before)
        else:  # camera details added to a device that had none
            record_change(session, actor, obj.camera, "create")
    _insert_new(session, new, actor)
    report.created = len(new)
    return report


def _insert_new(session: Session, new: list[tuple[Device, dict[str, Any] | None]], actor: str,
                batch: int = 5000) -> None:
    # Bulk INSERT (rows were validated above): 100,000 devices in seconds rather than minutes.  Their
    # change-log entries go in bulk too, one per device (its camera details are part of its entry).
    columns = [c.key for c in Device.__table__.columns if c.key not in ("id", "created_at", "updated_at")]
    for start in range(0, len(new), batch):
        chunk = new[start : start + batch]
        values = [{c: getattr(d, c) for c in columns} for d, _ in chunk]
        ids = session.scalars(insert(Device).returning(Device.id, sort_by_parameter_order=True), values).all()
        cameras = [{"device_id": i, **cam} for i, (_, cam) in zip(ids, chunk) if cam is not None]
        if cameras:
            session.execute(insert(CameraDetails), cameras)
        entries = [_created_entry(actor, v, i, cam) for v, i, (_, cam) in zip(values, ids, chunk)]
        session.execute(insert(Change), entries)


def _created_entry(actor: str, values: dict[str, Any], device_id: int,
                   camera: dict[str, Any] | None) -> dict[str, Any]:
    """The change-log row of a device the import created, as ``record_change`` would write it (built from the
    inserted values: ``snapshot`` per device cost ~70 µs, 7 s for 100,000)."""
    after = {k: v for k, v in values.items() if k not in ("name_folded", "credential_encrypted")}
    after.update(id=device_id, has_credential=values.get("credential_encrypted") is not None)
    if camera is not None:
        after["camera"] = camera
    return {"actor": actor[:200], "action": "create", "object_type": "device", "object_id": device_id,
            "object_repr": str(values.get("name") or "")[:200], "site_id": values.get("site_id"), "before": None,
            "after": clean(after)}


def import_surveys(session: Session, documents: Any, *, source: str = "surveys",
                   actor: str = CLI_ACTOR) -> ImportReport:
    """Ingest one survey document or a list of them, each stored survey logged as created (`actor` names who);
    raise ImportFailed naming each bad document."""
    docs = documents if isinstance(documents, list) else [documents]
    report = ImportReport()
    errors: list[RowError] = []
    for n, doc in enumerate(docs, start=1):
        try:
            result = ingest_survey(session, doc)
        except ValidationError as err:
            errors.append(RowError(n, row_reason(err)))
            continue
        report.surveys.append(result.survey_id)
        report.created += 0 if result.duplicate else 1
        survey = None if result.duplicate else session.get(Survey, result.survey_id)
        if survey is not None:
            record_change(session, actor, survey, "create")
    if errors:
        raise ImportFailed(source, errors)
    return report

