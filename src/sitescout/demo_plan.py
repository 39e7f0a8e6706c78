"""The demo's saved camera plan: one village drawn on the planners' workbench, optimised, with an alternative.

A newcomer who opens the surveyed village hall's workbench (``/sites/<id>/plan``) sees a
plan at work: the hall's yard and the lanes around it to watch, its gate and notice board to
identify, the houses the demo basemap draws there as obstacles, candidate mounts on the hall
and on poles along the lanes (the far ones too far for PoE, so the map shows why), and two
alternatives solved by the optimiser: four cameras (the plan of record, its cameras planned
devices of the site) and a cheaper two.  Everything is drawn from the demo data's made-up
positions, like the basemap; the instance is small so the optimiser adds well under a few
seconds to the demo's start (docs/planning.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.demo_basemap import demo_places, ground_near
from sitescout.demo_layout import SURVEYED_SITE
from sitescout.inventory.models import Plan, Site
from sitescout.inventory.planning import catalogue, workbench
from sitescout.inventory.planning.plan_cost import DEFAULT_LIMITS
from sitescout.inventory.planning.plans import adopt_plan, create_alternative

__all__ = ["DEMO_PLAN_SITE", "DEMO_PLANS", "DemoPlans", "village_design", "seed_demo_plan"]

log = logging.getLogger(__name__)

#: The village whose workbench ships a saved plan: the one the demo surveys.
DEMO_PLAN_SITE = SURVEYED_SITE
#: (name, cameras) of the alternatives, the last made the plan of record (and shown first).
DEMO_PLANS = (("Phương án B: 2 camera", 2), ("Phương án A: 4 camera", 4))
#: How far from the hall the design reaches (metres): the village centre.
_RADIUS_M = 140.0
_M_PER_DEG_LAT = 111_320.0
#: Seconds the optimiser may take per alternative (the demo's instance is proved optimal well within this).
_TIME_LIMIT_S = 2.0


@dataclass
class DemoPlans:
    """What seed_demo_plan made (or found): the site and its plans, the plan of record last."""

    site_id: int
    plan_ids: list[int]
    created: bool


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lat + north_m / _M_PER_DEG_LAT, lon + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))


def _east_north(lat: float, lon: float, lat2: float, lon2: float) -> tuple[float, float]:
    return (lon2 - lon) * _M_PER_DEG_LAT * math.cos(math.radians(lat)), (lat2 - lat) * _M_PER_DEG_LAT


def _metres(lat: float, lon: float, lat2: float, lon2: float) -> float:
    return math.hypot(*_east_north(lat, lon, lat2, lon2))


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


def _ring(corners: list[tuple[float, float]]) -> list[list[float]]:
    ring = [[round(lon, 7), round(lat, 7)] for lat, lon in corners]
    return ring + ring[:1]


def _inside(lat: float, lon: float, ring: list[tuple[float, float]]) -> bool:
    """Return whether a point lies inside a polygon (ray casting, in degrees: the polygons are a few metres)."""
    inside = False
    for (y1, x1), (y2, x2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _along(line: list[tuple[float, float]], step_m: float) -> list[tuple[float, float]]:
    """Return points every `step_m` along a polyline of (lat, lon), its first point left out."""
    points: list[tuple[float, float]] = []
    carried = 0.0
    for (lat1, lon1), (lat2, lon2) in zip(line, line[1:]):
        k_lon = _M_PER_DEG_LAT * math.cos(math.radians(lat1))
        length = math.hypot((lat2 - lat1) * _M_PER_DEG_LAT, (lon2 - lon1) * k_lon)
        at = step_m - carried
        while at <= length:
            t = at / length
            points.append((lat1 + t * (lat2 - lat1), lon1 + t * (lon2 - lon1)))
            at += step_m
        carried = length - (at - step_m)
    return points


def village_design(places: Any, lat: float, lon: float) -> dict[str, Any]:
    """Return the workbench design (GeoJSON) of the village around its hall at (lat, lon)."""
    ground = ground_near(places, lat, lon, _RADIUS_M)
    features: list[dict[str, Any]] = [{"type": "Feature", "geometry": _point(lat, lon), "properties": {
        "kind": "switch", "poe_budget_w": 120, "uplink_mbps": 40}}]
    yard = [_offset(lat, lon, e, n) for e, n in ((-18, -20), (18, -20), (18, 14), (-18, 14))]
    features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(yard)]},
                     "properties": {"kind": "demand", "name": "Sân nhà văn hóa", "level": "Observe",
                                    "spacing_m": 6, "weight": 6}})
    named = (("Cổng nhà văn hóa", "Identify", 0, -20, 3), ("Bảng tin thôn", "Recognise", 16, -8, 2))
    for name, level, east, north, weight in named:
        features.append({"type": "Feature", "geometry": _point(*_offset(lat, lon, east, north)),
                         "properties": {"kind": "poi", "name": name, "level": level, "weight": weight}})
    # The hall's yard and gate are open ground: houses the drawing scattered over them are left out.
    houses = [h for h in ground.houses if not any(-26 < e < 26 and -30 < n < 20 for e, n in
                                                    (_east_north(lat, lon, *p) for p in h))]
    lane_points = [p for line in ground.lanes for p in _along(line, 25.0)]
    lane_points = [p for p in lane_points if not any(_inside(p[0], p[1], h) for h in houses)]
    for n, (plat, plon) in enumerate(lane_points):
        features.append({"type": "Feature", "geometry": _point(plat, plon),
                         "properties": {"kind": "poi", "name": f"Đường thôn {n + 1}", "level": "Detect",
                                        "weight": 0.5}})
    for house in houses:
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(house)]},
                         "properties": {"kind": "obstacle"}})
    mounts = [(_offset(lat, lon, e, n), 5.0, "poe") for e, n in ((-12, -10), (12, -10), (12, 8), (-12, 8))]
    mounts.append((_offset(lat, lon, 2, -22), 4.0, "poe"))  # a short pole beside the gate
    poles = sorted((p for line in ground.lanes for p in _along(line, 40.0)), key=lambda p: _metres(lat, lon, *p))
    # Poles within an Ethernet cable's reach of the hall's switch, and the farthest one all the same,
    # so the map shows a mount the optimiser cannot use and says why.
    near = [p for p in poles if _metres(lat, lon, *p) < 80.0]
    mounts += [(p, 7.0, "poe" if n % 3 else "mains") for n, p in enumerate(near)]
    mounts += [(p, 7.0, "poe") for p in poles[len(near):][-1:]]
    number = 0
    for (mlat, mlon), height, power in mounts:
        if any(_inside(mlat, mlon, h) for h in houses):
            continue
        number += 1
        features.append({"type": "Feature", "geometry": _point(mlat, mlon), "properties": {
            "kind": "mount", "id": f"m{number}", "height_m": height, "power": power,
            "name": {5.0: "Tường nhà văn hóa", 4.0: "Cột cổng"}.get(height, "Cột điện")}})
    return {"type": "FeatureCollection", "features": features}


def seed_demo_plan(session: Session) -> DemoPlans:
    """Draw, optimise and save the demo village's plans (once: a second call returns what exists)."""
    places = demo_places(session)  # seeds the demo commune when needed
    site = session.scalar(select(Site).where(Site.name == DEMO_PLAN_SITE, Site.is_demo.is_(True)))
    if site is None or site.latitude is None or site.longitude is None:
        raise LookupError(f"the demo site {DEMO_PLAN_SITE!r} is missing or has no coordinates")
    existing = list(session.scalars(select(Plan.id).where(Plan.site_id == site.id).order_by(Plan.id)))
    if existing:
        return DemoPlans(site.id, existing, False)
    cameras = [catalogue.plan_camera(row) for row in catalogue.list_camera_models(session)]
    design = village_design(places, site.latitude, site.longitude)
    state = workbench.design_state(design, cameras, site_name=site.name, site=(site.latitude, site.longitude))
    plan_ids = []
    for name, k in DEMO_PLANS:
        solved = workbench.optimise_input(state["input"], k, None, _TIME_LIMIT_S, DEFAULT_LIMITS)
        record = create_alternative(session, site.id, workbench.optimised_state(state, solved, k, None), name=name)
        plan_ids.append(record.id)
    adopt_plan(session, plan_ids[-1])
    log.info("%s: demo plans %s saved", site.name, plan_ids)
    return DemoPlans(site.id, plan_ids, True)
