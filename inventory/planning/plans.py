"""Saved camera placement plans: the planner's GeoJSON kept with its site, its cameras as planned devices.

`save_plan` takes the FeatureCollection of ``plan_io.plan_geojson`` and stores it
whole (the map draws it as it is), with the objective and optimality gap of its
``plan`` summary; every ``camera`` feature becomes a Device in status *planned*
(kind camera) with CameraDetails for its mount position, height, heading and HFOV.
Planned devices carry no IP, so they are neither monitored nor counted in health.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import DeviceKind, Status
from sitescout.inventory.errors import Coded
from sitescout.inventory.models import CameraDetails, Device, Plan, Site, ValidationError
from sitescout.inventory.records import _Record
from sitescout.inventory.search import fold

from .site_distance import MAX_PLAN_DISTANCE_M, farthest_point

__all__ = ["PlanError", "PlanTooFar", "check_near_site",
           "PlanRecord", "save_plan", "list_plans", "get_plan", "find_site", "create_alternative",
           "update_plan", "adopt_plan"]

log = logging.getLogger(__name__)

_NAME_MAX = 200


class PlanError(ValidationError):
    """A plan cannot be saved: unknown site or a document that is not a plan.

    Its ``message`` is a :class:`Coded` (code and parameters, English as its text): the command and
    the API say it in the reader's language (src/sitescout/import_words.py, web/errors.py API_WORDS).
    """


class PlanTooFar(PlanError):
    """A plan whose points lie kilometres from its site: made for another place, or typed with a slip.

    ``distance_m`` is the farthest point's distance, ``limit_m`` the bound, ``kind`` that point's feature
    kind; readers render the words in their language from these.
    """

    def __init__(self, site_name: str, distance_m: float, limit_m: float, kind: str) -> None:
        super().__init__("site", Coded("plan_too_far", "the plan lies %(distance_km).1f km from site %(site)r (its "
                                       "%(kind)s farthest; at most %(limit_km)g km allowed): is it the right site, "
                                       "and are the plan's latitude and longitude right?",
                                       distance_km=distance_m / 1000, site=site_name, kind=kind,
                                       limit_km=limit_m / 1000))
        self.site_name, self.distance_m, self.limit_m, self.kind = site_name, distance_m, limit_m, kind


def check_near_site(site: Site, plan_geojson: dict[str, Any], limit_m: float = MAX_PLAN_DISTANCE_M) -> None:
    """Raise PlanTooFar when a point of the plan lies farther than `limit_m` from the site's coordinates."""
    if site.latitude is None or site.longitude is None:
        return  # nothing to compare with
    far = farthest_point(plan_geojson, float(site.latitude), float(site.longitude))
    if far is not None and far.distance_m > limit_m:
        raise PlanTooFar(site.name, far.distance_m, limit_m, far.kind)


@dataclass
class PlanRecord(_Record):
    """A saved plan; `geojson` is filled by `get_plan` and `save_plan`, None in `list_plans`."""

    id: int
    site_id: int
    name: str
    created_at: datetime
    objective: float | None
    gap: float | None
    camera_count: int
    device_ids: list[int]
    summary: dict[str, Any]
    geojson: dict[str, Any] | None = None


def _no_site(site_id: int) -> Coded:
    return Coded("no_site", "no site with id %(id)s", id=site_id)


def find_site(session: Session, name_or_id: str | int) -> int:
    """Return the id of the site with this id, or this name (diacritics and case ignored)."""
    if isinstance(name_or_id, int) or str(name_or_id).strip().isdigit():
        site_id = int(name_or_id)
        if session.get(Site, site_id) is None:
            raise PlanError("site", _no_site(site_id))
        return site_id
    ids = list(session.scalars(select(Site.id).where(Site.name_folded == fold(str(name_or_id)))))
    if not ids:
        raise PlanError("site", Coded("no_site_named", "no site named %(name)r in the inventory; create it or give its "
                                      "id", name=str(name_or_id)))
    if len(ids) > 1:
        raise PlanError("site", Coded("sites_named", "%(count)s sites are named %(name)r; give the site id",
                                      count=len(ids), name=str(name_or_id)))
    return ids[0]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cameras(plan_geojson: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(plan_geojson, dict) or plan_geojson.get("type") != "FeatureCollection" \
            or not isinstance(plan_geojson.get("features"), list):
        raise PlanError("geojson", Coded("not_a_plan", "expected the FeatureCollection of a plan (sitescout plan place "
                                         "--geojson)"))
    cameras = []
    for i, feature in enumerate(plan_geojson["features"]):
        props = (feature or {}).get("properties") or {}
        if props.get("kind") != "camera":
            continue
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point" or len(geometry.get("coordinates") or []) < 2:
            raise PlanError("geojson", Coded("camera_not_point", "features[%(index)s]: a camera needs a Point geometry",
                                             index=i))
        cameras.append(feature)
    return cameras


def _device_name(session: Session, site_id: int, plan: Plan, props: dict[str, Any]) -> str:
    """Return '<camera id> <model>', or with the plan name when a device of the site already has it."""
    base = " ".join(str(p) for p in (props.get("camera_id"), props.get("model")) if p) or "planned camera"
    taken = session.scalar(select(Device.id).where(Device.site_id == site_id, Device.name == base))
    if taken is None:
        return base[:_NAME_MAX]
    suffix = f" ({plan.name}, #{plan.id})"
    return base[: _NAME_MAX - len(suffix)] + suffix


def _heading(value: Any) -> float | None:
    heading = _number(value)
    return None if heading is None else heading % 360.0


def _record(plan: Plan, *, with_geojson: bool) -> PlanRecord:
    summary = dict((plan.geojson or {}).get("plan") or {})
    cameras = sum(1 for f in plan.geojson.get("features", []) if (f.get("properties") or {}).get("kind") == "camera")
    return PlanRecord(plan.id, plan.site_id, plan.name, plan.created_at, plan.objective, plan.gap, cameras,
                      [int(d) for d in plan.device_ids or []], summary, plan.geojson if with_geojson else None)


def _planned_devices(session: Session, site: Site, plan: Plan, cameras: list[dict[str, Any]]) -> list[int]:
    """Create one planned camera device per camera feature; return their ids."""
    device_ids = []
    for feature in cameras:
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][:2]
        device = Device(site_id=site.id, kind=DeviceKind.CAMERA.value, status=Status.PLANNED.value,
                        name=_device_name(session, site.id, plan, props), model=props.get("model") or None,
                        notes=f"plan {plan.id} ({plan.name}): mount {props.get('mount_id', '?')}")
        device.camera = CameraDetails(mount_latitude=float(lat), mount_longitude=float(lon),
                                      height_m=_number(props.get("height_m")),
                                      heading_deg=_heading(props.get("heading_deg")),
                                      hfov_deg=_number(props.get("hfov_deg")))
        session.add(device)
        session.flush()
        device_ids.append(device.id)
    return device_ids


def save_plan(session: Session, site_id: int, plan_geojson: dict[str, Any], *, name: str) -> PlanRecord:
    """Store a plan for a site and create one planned camera device per chosen camera."""
    site = session.get(Site, site_id)
    if site is None:
        raise PlanError("site", _no_site(site_id))
    cameras = _cameras(plan_geojson)
    check_near_site(site, plan_geojson)
    summary = plan_geojson.get("plan") or {}
    plan = Plan(site_id=site.id, name=(name or "").strip()[:_NAME_MAX], geojson=plan_geojson,
                objective=_number(summary.get("objective")), gap=_number(summary.get("gap")), device_ids=[])
    session.add(plan)
    session.flush()  # the plan id names devices whose plain name is taken
    plan.device_ids = _planned_devices(session, site, plan, cameras)
    session.flush()
    log.info("%s: plan %s (%r) saved with %d planned camera(s)", site.name, plan.id, plan.name, len(plan.device_ids))
    return _record(plan, with_geojson=True)


def list_plans(session: Session, site_id: int) -> list[PlanRecord]:
    """Return a site's plans, newest first, without their GeoJSON."""
    plans = session.scalars(select(Plan).where(Plan.site_id == site_id).order_by(Plan.created_at.desc(),
                                                                                 Plan.id.desc()))
    return [_record(p, with_geojson=False) for p in plans]


def get_plan(session: Session, plan_id: int) -> PlanRecord | None:
    """Return one plan with its GeoJSON (device ids of planned cameras still in the inventory), or None."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        return None
    # Hold the row for the session: the session's identity map is weak, and a plan read to be edited
    # (the workbench's camera moves) would otherwise be read and its large GeoJSON decoded again to update it.
    session.info.setdefault("plans_read", {})[plan.id] = plan
    record = _record(plan, with_geojson=True)
    if record.device_ids:
        alive = set(session.scalars(select(Device.id).where(Device.id.in_(record.device_ids))))
        record.device_ids = [d for d in record.device_ids if d in alive]
    return record


def create_alternative(session: Session, site_id: int, plan_geojson: dict[str, Any], *, name: str) -> PlanRecord:
    """Store a workbench plan for a site without planned devices (an alternative, not yet the plan of record)."""
    site = session.get(Site, site_id)
    if site is None:
        raise PlanError("site", _no_site(site_id))
    _cameras(plan_geojson)
    summary = plan_geojson.get("plan") or {}
    plan = Plan(site_id=site.id, name=(name or "").strip()[:_NAME_MAX], geojson=plan_geojson,
                objective=_number(summary.get("objective")), gap=_number(summary.get("gap")), device_ids=[])
    session.add(plan)
    session.flush()
    return _record(plan, with_geojson=True)


def update_plan(session: Session, plan_id: int, plan_geojson: dict[str, Any]) -> PlanRecord | None:
    """Replace a plan's GeoJSON (the workbench's edits); None when there is no such plan."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        return None
    _cameras(plan_geojson)
    summary = plan_geojson.get("plan") or {}
    plan.geojson = plan_geojson
    plan.objective, plan.gap = _number(summary.get("objective")), _number(summary.get("gap"))
    session.flush()
    return _record(plan, with_geojson=True)


def adopt_plan(session: Session, plan_id: int) -> PlanRecord | None:
    """Make a workbench plan the plan of record: its cameras become planned devices (once)."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        return None
    if not plan.device_ids:
        site = session.get(Site, plan.site_id)
        assert site is not None  # the foreign key holds
        plan.device_ids = _planned_devices(session, site, plan, _cameras(plan.geojson))
        session.flush()
        log.info("%s: plan %s (%r) adopted with %d planned camera(s)", site.name, plan.id, plan.name,
                 len(plan.device_ids))
    return get_plan(session, plan_id)
