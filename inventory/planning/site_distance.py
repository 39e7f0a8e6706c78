"""Is a plan where its site is?  The farthest point of a plan's GeoJSON from the site's coordinates.

A plan is drawn in latitude/longitude; a site has its own coordinates in the inventory.  A plan
saved for the wrong site (or made from an input whose positions were typed with a slip of a
degree) would put planned cameras kilometres away, on the map and in the inventory.  `save_plan`
refuses a plan any of whose points lies farther than `MAX_PLAN_DISTANCE_M` from its site; a site
without coordinates cannot be checked and takes any plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_PLAN_DISTANCE_M", "FarPoint", "farthest_point", "distance_m"]

#: Farthest a plan's point (camera, wedge corner, point of interest, building) may lie from its site.
MAX_PLAN_DISTANCE_M = 5000.0
_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class FarPoint:
    """The plan's point farthest from its site: how far, and which feature (its kind) it belongs to."""

    distance_m: float
    kind: str
    lat: float
    lon: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in metres between two points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _positions(coords: Any) -> Iterator[tuple[float, float]]:
    """Yield every [lon, lat] position of a GeoJSON coordinates array, however nested."""
    if isinstance(coords, (list, tuple)):
        if len(coords) >= 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2]):
            yield float(coords[0]), float(coords[1])
        else:
            for item in coords:
                yield from _positions(item)


def farthest_point(plan_geojson: dict[str, Any], lat: float, lon: float) -> FarPoint | None:
    """Return the plan's point farthest from (lat, lon), or None when the plan has no positions."""
    far: FarPoint | None = None
    for feature in plan_geojson.get("features") or []:
        if not isinstance(feature, dict):
            continue
        kind = str((feature.get("properties") or {}).get("kind") or "feature")
        for plon, plat in _positions((feature.get("geometry") or {}).get("coordinates")):
            d = distance_m(lat, lon, plat, plon)
            if far is None or d > far.distance_m:
                far = FarPoint(d, kind, plat, plon)
    return far
