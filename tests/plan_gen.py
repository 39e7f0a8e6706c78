"""Synthetic plan inputs of a chosen size, for the cost-model and limit tests."""

from __future__ import annotations

import math
from typing import Any

LAT0, LON0 = 21.7265, 105.3247  # the demo commune's Thôn Hướng Đạo, where the tests save plans
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


def _lonlat(x: float, y: float) -> list[float]:
    return [round(LON0 + x / _M_PER_DEG_LON, 8), round(LAT0 + y / _M_PER_DEG_LAT, 8)]


def synthetic_plan(*, area_m: float = 200.0, spacing_m: float = 5.0, mounts: int = 10, headings: int | None = None,
                   mount_headings: int = 0, obstacle_vertices: int = 0, zoom_steps: int = 1, models: int = 1,
                   resolution: int = 1920, mount_ring: float = 0.6) -> dict[str, Any]:
    """Return a plan input: one square demand area, mounts on a ring around it, an obstacle ring inside."""
    half = area_m / 2.0
    square = [_lonlat(-half, -half), _lonlat(half, -half), _lonlat(half, half), _lonlat(-half, half)]
    demand: list[dict[str, Any]] = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
        square + square[:1]]}, "properties": {"id": "area", "level": "Observe", "spacing_m": spacing_m}}]
    mount_list = []
    for i in range(mounts):
        angle = 2 * math.pi * i / mounts
        lon, lat = _lonlat(mount_ring * area_m * math.sin(angle), mount_ring * area_m * math.cos(angle))
        mount: dict[str, Any] = {"id": f"m{i}", "lat": lat, "lon": lon, "height_m": 6, "power": "mains",
                                 "cable_m": 30}
        if mount_headings:
            mount["headings_deg"] = [round(360.0 * h / mount_headings, 4) for h in range(mount_headings)]
        mount_list.append(mount)
    cameras = [{"model": f"cam-{c}", "resolution": [resolution, resolution * 9 // 16],
                "hfov_range_deg": [30 + c % 5, 100], "zoom_steps": zoom_steps, "price": 100 + c}
               if zoom_steps > 1 else {"model": f"cam-{c}", "resolution": [resolution, resolution * 9 // 16],
                                       "hfov_deg": 90 - c % 30, "price": 100 + c} for c in range(models)]
    plan: dict[str, Any] = {"site": "synthetic", "origin": [LAT0, LON0], "demand": demand, "mounts": mount_list,
                            "cameras": cameras}
    if headings is not None:
        plan["headings"] = headings
    if obstacle_vertices:
        r = area_m / 4.0
        ring = [
            _lonlat(
                r * math.sin(2 * math.pi * v / obstacle_vertices), r * math.cos(2 * math.pi * v / obstacle_vertices)
            )
            for v in range(obstacle_vertices)
        ]
        plan["obstacles"] = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                             "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}]}
    return plan
