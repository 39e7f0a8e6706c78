"""CSV and GeoJSON import/export of sites and devices; survey documents as JSON.

Sites are keyed by (region, commune, name), devices by their site and name: an import
creates what is new and updates what exists.  Every row is checked first; if any row
is bad, ``ImportFailed`` lists each with its row number and reason and nothing changes
(the caller's transaction is rolled back).  Credentials are never exported.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, insert, select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import SiteKind, Status
from sitescout.inventory.ingest import ingest_survey
from sitescout.inventory.models import CameraDetails, Commune, Device, Region, Site, ValidationError
from sitescout.inventory.search import fold

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

SITE_FIELDS = ("region", "commune", "name", "kind", "status", "latitude", "longitude", "address", "contact", "is_demo")
_DEVICE_OWN = ("name", "kind", "status", "ip", "mac", "vendor", "manufacturer", "model", "firmware", "serial",
               "onvif_endpoint", "notes")
_CAMERA = ("mount_latitude", "mount_longitude", "height_m", "heading_deg", "hfov_deg")
DEVICE_FIELDS = ("region", "commune", "site", *_DEVICE_OWN, *_CAMERA, "stream_uris", "profiles")
_MAX_REPORTED = 200


@dataclass(frozen=True)
class RowError:
    """One bad row: its number (CSV line, or GeoJSON feature counted from 1) and the reason."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class ImportFailed(Exception):
    """An import found bad rows; nothing was changed."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{source}: {len(errors)} bad row(s), nothing imported: {shown}{more}")
        self.errors = errors


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    surveys: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- reading files


#: A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection"):
#: exported text cells get a leading apostrophe, which read_rows takes off again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Return a CSV text cell a spreadsheet will not run: a leading ' before =, +, -, @, tab or CR (and before '' runs)."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_TRIGGERS) else value


def restore_formula(value: str) -> str:
    """Undo neutralise_formula (a cell read from CSV)."""
    return value[1:] if value.startswith("'") and value.lstrip("'").startswith(FORMULA_TRIGGERS) else value


def _csv_rows(text: str, source: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows = []
    try:
        for record in reader:
            fields = {k.strip(): (restore_formula(v.strip()) if isinstance(v, str) else v)
                      for k, v in record.items() if k}
            rows.append((reader.line_num, fields))
    except csv.Error as err:  # e.g. a field past csv's 128 KiB limit, a stray quote at the end
        raise ImportFailed(source, [RowError(reader.line_num + 1, f"not readable as CSV: {err}")]) from None
    return rows


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _feature(n: int, feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        raise ValidationError("feature", "must be a GeoJSON Feature object")
    props = feature.get("properties")
    if props is not None and not isinstance(props, dict):
        raise ValidationError("properties", "must be an object")
    props = dict(props or {})
    geometry = feature.get("geometry")
    if geometry is not None and not isinstance(geometry, dict):
        raise ValidationError("geometry", "must be a GeoJSON geometry object or null")
    if geometry and geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2 or not all(_number(c) for c in coords[:2]):
            raise ValidationError("geometry", "a Point needs coordinates [longitude, latitude] as numbers")
        props["_lon"], props["_lat"] = float(coords[0]), float(coords[1])
    return props


def read_rows(text: str, fmt: str, *, source: str = "import") -> list[tuple[int, dict[str, Any]]]:
    """Return (row number, fields) from CSV (numbered by line) or a GeoJSON FeatureCollection.

    Raises:
        ValueError: the text is not CSV / a FeatureCollection at all.
        ImportFailed: rows or features that cannot be read, each with its number.
    """
    if fmt == "csv":
        return _csv_rows(text, source)
    if fmt == "geojson":
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ValueError("a GeoJSON import must be a FeatureCollection")
        features = data.get("features")
        if features is not None and not isinstance(features, list):
            raise ValueError("a FeatureCollection's features must be a list")
        rows, errors = [], []
        for n, feature in enumerate(features or [], start=1):
            try:
                rows.append((n, _feature(n, feature)))
            except ValidationError as err:
                errors.append(RowError(n, str(err)))
        if errors:
            raise ImportFailed(source, errors[:_MAX_REPORTED])
        return rows
    raise ValueError(f"unknown format {fmt!r}; use csv or geojson")


def detect_kind(rows: list[tuple[int, dict[str, Any]]]) -> str:
    """Return "devices" when rows name a site, else "sites"."""
    return "devices" if rows and "site" in rows[0][1] else "sites"


#: Column lengths of the text fields an import fills (PostgreSQL refuses longer text).
_MAX_LEN = {**{c.key: c.type.length for c in Device.__table__.columns
               if isinstance(c.type, String) and c.type.length}, "region": 200, "commune": 200, "site": 200}


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise ValidationError(key, "must be text, not a JSON " + ("object" if isinstance(value, dict) else "list"))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(key, f"{value} is not a finite number")
    value = str(value).strip()
    if "\x00" in value:
        raise ValidationError(key, "contains a NUL character")
    limit = _MAX_LEN.get(key)
    if limit is not None and len(value) > limit:
        raise ValidationError(key, f"is longer than {limit} characters")
    return value or None


def _float(fields: dict[str, Any], key: str) -> float | None:
    value = _text(fields, key)
    if value is None:
        return None
    if isinstance(fields.get(key), bool):
        raise ValidationError(key, f"{fields[key]!r} is not a number")
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise ValidationError(key, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValidationError(key, f"{value!r} is not a finite number")
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
    raise ValidationError(key, f"{value!r} is not true or false")


# ---------------------------------------------------------------- import


class _Places:
    """Regions, communes and sites by name, created on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
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
        if (region, commune) not in self.communes:
            c = Commune(name=commune, name_folded=fold(commune), region=self.regions[region], is_demo=is_demo)
            self.communes[(region, commune)] = c
            self.session.add(c)
        return self.communes[(region, commune)]


def _place_names(fields: dict[str, Any], site_key: str) -> tuple[str, str, str]:
    names = tuple(_text(fields, k) for k in ("region", "commune", site_key))
    for key, value in zip(("region", "commune", site_key), names):
        if not value:
            raise ValidationError(key, "must not be empty")
    return names  # type: ignore[return-value]


def import_sites(session: Session, rows: list[tuple[int, dict[str, Any]]], *, source: str = "sites") -> ImportReport:
    """Create or update sites from rows; raise ImportFailed listing every bad row."""
    places = _Places(session)
    report = ImportReport()
    errors: list[RowError] = []
    seen: dict[tuple[str, str, str], int] = {}
    for row, fields in rows:
        try:
            key = _place_names(fields, "name")
            if key in seen:
                raise ValidationError("name", f"the same site is already on row {seen[key]}")
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
                site = Site(name=key[2], commune=places.commune(key[0], key[1], values["is_demo"]), **values)
                site.validate()
                session.add(site)
                places.sites[key] = site
                report.created += 1
            else:
                for name, value in values.items():
                    setattr(site, name, value)
                site.validate()
                report.updated += 1
        except ValidationError as err:
            errors.append(RowError(row, str(err)))
    if errors:
        raise ImportFailed(source, errors[:_MAX_REPORTED])
    session.flush()
    return report


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
    def _keys(site_id: int, name: str, ip: Any, mac: Any, manufacturer: Any, serial: Any, endpoint: Any) -> list[tuple[Any, ...]]:
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
                where = f"row {holder[1]}" if holder[1] else "a device already in the inventory"
                raise ValidationError(key[0], f"{key[-1]} is already used by {where}")
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


def import_devices(session: Session, rows: list[tuple[int, dict[str, Any]]], *, source: str = "devices") -> ImportReport:
    """Create or update devices (their sites must exist); raise ImportFailed listing every bad row."""
    places = _Places(session)
    keys = _DeviceKeys(session)
    report = ImportReport()
    errors: list[RowError] = []
    new: list[tuple[Device, dict[str, Any] | None]] = []
    for row, fields in rows:
        try:
            region, commune, site_name = _place_names(fields, "site")
            site = places.sites.get((region, commune, site_name))
            if site is None:
                raise ValidationError("site", f"{site_name!r} ({commune}, {region}) is not in the inventory; import the sites first")
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
                    CameraDetails(**camera).validate()
                keys.claim(None, row, device, site.id)
                new.append((device, camera))
            else:
                device = session.get(Device, existing_id)
                assert device is not None
                for name, value in values.items():
                    setattr(device, name, value)
                device.validate()
                keys.claim(existing_id, row, device, site.id)
                if camera is not None:
                    device.camera = device.camera or CameraDetails()
                    for name, value in camera.items():
                        setattr(device.camera, name, value)
                    device.camera.validate()
                report.updated += 1
        except ValidationError as err:
            errors.append(RowError(row, str(err)))
    if errors:
        raise ImportFailed(source, errors[:_MAX_REPORTED])
    session.flush()
    _insert_new(session, new)
    report.created = len(new)
    return report


def _insert_new(session: Session, new: list[tuple[Device, dict[str, Any] | None]], batch: int = 5000) -> None:
    # Bulk INSERT (rows were validated above): 100,000 devices in seconds rather than minutes.
    columns = [c.key for c in Device.__table__.columns if c.key not in ("id", "created_at", "updated_at")]
    for start in range(0, len(new), batch):
        chunk = new[start : start + batch]
        ids = session.scalars(
            insert(Device).returning(Device.id, sort_by_parameter_order=True),
            [{c: getattr(d, c) for c in columns} for d, _ in chunk],
        ).all()
        cameras = [{"device_id": i, **cam} for i, (_, cam) in zip(ids, chunk) if cam is not None]
        if cameras:
            session.execute(insert(CameraDetails), cameras)


def import_surveys(session: Session, documents: Any, *, source: str = "surveys") -> ImportReport:
    """Ingest one survey document or a list of them; raise ImportFailed naming each bad document."""
    docs = documents if isinstance(documents, list) else [documents]
    report = ImportReport()
    errors: list[RowError] = []
    for n, doc in enumerate(docs, start=1):
        try:
            result = ingest_survey(session, doc)
        except ValidationError as err:
            errors.append(RowError(n, str(err)))
            continue
        report.surveys.append(result.survey_id)
        report.created += 0 if result.duplicate else 1
    if errors:
        raise ImportFailed(source, errors)
    return report


# ---------------------------------------------------------------- export


def _site_rows(session: Session) -> Iterable[dict[str, Any]]:
    stmt = (select(Site, Commune.name, Region.name).join(Commune, Site.commune_id == Commune.id)
            .join(Region, Commune.region_id == Region.id).order_by(Region.name, Commune.name, Site.name))
    for site, commune, region in session.execute(stmt):
        yield {"region": region, "commune": commune, "name": site.name, "kind": site.kind, "status": site.status,
               "latitude": site.latitude, "longitude": site.longitude, "address": site.address,
               "contact": site.contact, "is_demo": site.is_demo}


def _device_rows(session: Session) -> Iterable[dict[str, Any]]:
    stmt = (select(Device, CameraDetails, Site.name, Commune.name, Region.name)
            .join(Site, Device.site_id == Site.id).join(Commune, Site.commune_id == Commune.id)
            .join(Region, Commune.region_id == Region.id)
            .outerjoin(CameraDetails, CameraDetails.device_id == Device.id)
            .order_by(Region.name, Commune.name, Site.name, Device.name))
    for d, cam, site, commune, region in session.execute(stmt):
        row: dict[str, Any] = {"region": region, "commune": commune, "site": site}
        row.update({k: getattr(d, k) for k in _DEVICE_OWN})
        row.update({k: getattr(cam, k) if cam else None for k in _CAMERA})
        row["stream_uris"] = list(cam.stream_uris or []) if cam else []
        row["profiles"] = list(cam.profiles or []) if cam else []
        yield row


def _csv(rows: Iterable[dict[str, Any]], fields: tuple[str, ...], convert: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(convert(row))
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return neutralise_formula(value)
    return value


def export_sites_csv(session: Session) -> str:
    """Return every site as CSV (header: SITE_FIELDS)."""
    return _csv(_site_rows(session), SITE_FIELDS, lambda r: {k: _csv_cell(v) for k, v in r.items()})


def export_devices_csv(session: Session) -> str:
    """Return every device as CSV (header: DEVICE_FIELDS; stream URIs space-separated, profiles as JSON)."""
    def convert(r: dict[str, Any]) -> dict[str, Any]:
        out = {k: _csv_cell(v) for k, v in r.items()}
        out["stream_uris"] = neutralise_formula(" ".join(r["stream_uris"]))
        out["profiles"] = json.dumps(r["profiles"], ensure_ascii=False) if r["profiles"] else ""
        return out
    return _csv(_device_rows(session), DEVICE_FIELDS, convert)


def _point(lat: float | None, lon: float | None) -> dict[str, Any] | None:
    return {"type": "Point", "coordinates": [lon, lat]} if lat is not None and lon is not None else None


def export_sites_geojson(session: Session) -> str:
    """Return every site as a GeoJSON FeatureCollection (Point geometry, or null without coordinates)."""
    features = []
    for r in _site_rows(session):
        geometry = _point(r.pop("latitude"), r.pop("longitude"))
        features.append({"type": "Feature", "geometry": geometry, "properties": r})
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1)


def export_devices_geojson(session: Session) -> str:
    """Return every device as GeoJSON (geometry: the camera's mount point, or null)."""
    features = []
    for r in _device_rows(session):
        geometry = _point(r.pop("mount_latitude"), r.pop("mount_longitude"))
        features.append({"type": "Feature", "geometry": geometry, "properties": r})
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1)


def export_surveys_json(session: Session, *, site_id: int | None = None) -> str:
    """Return stored survey documents (as received) as a JSON list, oldest first."""
    from sitescout.inventory.models import Survey

    stmt = select(Survey.document).order_by(Survey.started_at, Survey.id)
    if site_id is not None:
        stmt = stmt.where(Survey.site_id == site_id)
    return json.dumps(list(session.scalars(stmt)), ensure_ascii=False, indent=1)
