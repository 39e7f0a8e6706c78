"""Exports of the inventory: sites and devices as CSV or GeoJSON, survey documents as JSON.

Text cells of a CSV export are guarded against spreadsheet formulas; credentials are never exported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.importexport_read import _CAMERA, _DEVICE_OWN, DEVICE_FIELDS, SITE_FIELDS, neutralise_formula
from sitescout.inventory.models import CameraDetails, Commune, Device, Region, Site, Survey

__all__ = [
    "export_sites_csv",
    "export_devices_csv",
    "export_sites_geojson",
    "export_devices_geojson",
    "export_surveys_json",
]


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


def _csv(
    rows: Iterable[dict[str, Any]], fields: tuple[str, ...], convert: Callable[[dict[str, Any]], dict[str, Any]]
) -> str:
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
    stmt = select(Survey.document).order_by(Survey.started_at, Survey.id)
    if site_id is not None:
        stmt = stmt.where(Survey.site_id == site_id)
    return json.dumps(list(session.scalars(stmt)), ensure_ascii=False, indent=1)
