"""Placement plans in and out: JSON/GeoJSON inputs, GeoJSON, bill-of-materials CSV and an HTML report.

Input (one JSON file; `demand`, `mounts` and `obstacles` may instead name a GeoJSON
file beside it).  Positions are ``lat``/``lon`` fields or GeoJSON Features (GeoJSON
order, [lon, lat]); demand areas are Polygon Features sampled every `spacing_m`,
their weight shared among the samples.  See docs/examples/plan_village.json.

The GeoJSON output is one FeatureCollection whose features carry ``kind``:
``camera`` (Point; ``camera_id``, ``mount_id``, ``model``, ``heading_deg``,
``status: "planned"``), ``coverage`` (Polygon; ``camera_id``, ``dori_level``,
``colour``, ``min_m``/``max_m``, plus simplestyle ``fill``/``stroke``), ``demand``
(Point; ``covered``) and ``infeasible_mount`` (Point; ``reasons``).  The map draws
them as they are; the inventory can save every ``camera`` feature as a planned camera.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .coverage import CameraView, LocalProjection, Obstacles, level_bands, obstacles_from_geojson
from .dori import DoriProfile, get_profile, hfov_from_lens
from .feasibility import (OVERHEAD, UTILISATION_MAX, Bridge, CameraModel, Mount, MountCheck, Switch, Uplink,
                          check_mount, measured_bitrates_from_survey, resource_capacities)
from .placement import CoverageProblem, Demand, Pose, Solution, build_coverage, candidate_poses, optimise

__all__ = [
    "PlanInputError",
    "PlanInput",
    "PlanResult",
    "LEVEL_COLOURS",
    "load_plan_input",
    "parse_plan_input",
    "make_plan",
    "plan_geojson",
    "bom_rows",
    "bom_csv",
    "render_plan_html",
]

#: Band colours: JVSG's convention (identify red, recognise yellow, detect green, monitor blue),
#: with orange for observe; the 2025 levels run the same way from weakest to strongest.
LEVEL_COLOURS = {
    "Monitor": "#377eb8", "Detect": "#4daf4a", "Observe": "#ff7f00", "Recognise": "#ffd92f",
    "Identify": "#e41a1c", "Inspect": "#984ea3",
    "Overview": "#377eb8", "Outline": "#4daf4a", "Discern": "#a6d854", "Perceive": "#ffd92f",
    "Characterize": "#ff7f00", "Validate": "#e41a1c", "Scrutinize": "#984ea3",
}


class PlanInputError(ValueError):
    """A plan input file is wrong; the message names the key."""


@dataclass
class PlanInput:
    """Everything the planner needs, in local metres."""

    site: str
    projection: LocalProjection
    profile: DoriProfile
    target_height_m: float
    demand: list[Demand]
    mounts: list[Mount]
    models: list[CameraModel]
    uplinks: dict[str, Uplink]
    switches: dict[str, Switch]
    obstacles: Obstacles
    measured_kbps: dict[str, float] = field(default_factory=dict)
    n_headings: int = 8
    utilisation: float = UTILISATION_MAX
    overhead: float = OVERHEAD
    prices: dict[str, float] = field(default_factory=dict)


def _section(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise PlanInputError(f"{where}: expected an object")
    extra = sorted(set(d) - allowed)
    if extra:
        raise PlanInputError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")
    return d


def _num(d: dict[str, Any], key: str, where: str, default: Any = ..., *, minimum: float | None = None) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise PlanInputError(f"{where}: missing {key!r}")
        return default
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlanInputError(f"{where}.{key}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise PlanInputError(f"{where}.{key}: must be at least {minimum:g}")
    return value


def _load_ref(value: Any, base: Path, where: str) -> Any:
    if isinstance(value, str):
        path = (base / value).resolve()
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise PlanInputError(f"{where}: cannot read {value}: {err.strerror}") from err
        except json.JSONDecodeError as err:
            raise PlanInputError(f"{where}: {value} is not JSON: {err}") from err
    return value


def _items(value: Any, where: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Return (properties, geometry or None) for a list of objects or a FeatureCollection."""
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        value = value.get("features", [])
    if not isinstance(value, list):
        raise PlanInputError(f"{where}: expected a list or a FeatureCollection")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise PlanInputError(f"{where}[{i}]: expected an object")
        if item.get("type") == "Feature":
            out.append((dict(item.get("properties") or {}), item.get("geometry")))
        else:
            out.append((dict(item), None))
    return out


def _point(props: dict[str, Any], geometry: dict[str, Any] | None, where: str) -> tuple[float, float]:
    if geometry is not None:
        if geometry.get("type") != "Point":
            raise PlanInputError(f"{where}: expected a Point geometry")
        lon, lat = geometry["coordinates"][:2]
        return float(lat), float(lon)
    lat, lon = _num(props, "lat", where), _num(props, "lon", where)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlanInputError(f"{where}: lat/lon out of range")
    return float(lat), float(lon)


def _sample_polygon(ring_xy: np.ndarray, spacing_m: float) -> np.ndarray:
    """Return grid points (spacing_m apart) inside a ring, or its centroid if none fall inside."""
    lo, hi = ring_xy.min(axis=0), ring_xy.max(axis=0)
    xs = np.arange(lo[0] + spacing_m / 2, hi[0], spacing_m)
    ys = np.arange(lo[1] + spacing_m / 2, hi[1], spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    inside = np.zeros(len(pts), dtype=bool)
    x0, y0 = ring_xy[:, 0], ring_xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1):  # even-odd rule
        cond = (ay > pts[:, 1]) != (by > pts[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = ax + (pts[:, 1] - ay) * (bx - ax) / (by - ay)
        inside ^= cond & (pts[:, 0] < xcross)
    return pts[inside] if inside.any() else ring_xy.mean(axis=0, keepdims=True)


def parse_plan_input(doc: dict[str, Any], base: Path = Path(".")) -> PlanInput:
    """Return the plan input described by a parsed JSON document (files relative to `base`)."""
    doc = _section(doc, {"site", "origin", "profile", "target_height_m", "headings", "utilisation", "overhead",
                         "demand", "background", "mounts", "switches", "uplinks", "cameras", "obstacles",
                         "measured_bitrates_kbps", "survey", "prices", "$comment"}, "plan")
    try:
        profile = get_profile(doc.get("profile"))
    except ValueError as err:
        raise PlanInputError(f"plan.profile: {err}") from err
    demand_items = _items(_load_ref(doc.get("demand", []), base, "demand"), "demand")
    mount_items = _items(_load_ref(doc.get("mounts", []), base, "mounts"), "mounts")
    if not mount_items:
        raise PlanInputError("mounts: at least one candidate mount is needed")
    # Origin: given, else the mean of the mounts.
    if "origin" in doc:
        o = doc["origin"]
        if not (isinstance(o, list) and len(o) == 2):
            raise PlanInputError("plan.origin: expected [lat, lon]")
        projection = LocalProjection(float(o[0]), float(o[1]))
    else:
        lats, lons = zip(*(_point(p, g, f"mounts[{i}]") for i, (p, g) in enumerate(mount_items)))
        projection = LocalProjection(sum(lats) / len(lats), sum(lons) / len(lons))
    target_h = _num(doc, "target_height_m", "plan", 1.6, minimum=0)

    mounts = [_parse_mount(p, g, f"mounts[{i}]", projection) for i, (p, g) in enumerate(mount_items)]
    if len({m.id for m in mounts}) != len(mounts):
        raise PlanInputError("mounts: ids must be unique")
    demand = []
    for i, (props, geometry) in enumerate(demand_items):
        demand += _parse_demand(props, geometry, f"demand[{i}]", projection, profile)
    if "background" in doc:
        demand += _background(doc["background"], demand, mounts, profile)
    if not demand:
        raise PlanInputError("demand: at least one point or area of interest is needed")

    models = [_parse_model(c, f"cameras[{i}]") for i, c in enumerate(doc.get("cameras", []))]
    if not models:
        raise PlanInputError("cameras: the catalogue is empty")
    switches = {}
    for i, s in enumerate(doc.get("switches", [])):
        w = f"switches[{i}]"
        _section(s, {"id", "poe_budget_w", "used_w", "port_max_w"}, w)
        switches[str(s["id"])] = Switch(str(s["id"]), _num(s, "poe_budget_w", w, minimum=0),
                                        _num(s, "used_w", w, 0.0, minimum=0), _num(s, "port_max_w", w, 25.5))
    uplinks = {}
    for i, u in enumerate(doc.get("uplinks", [])):
        w = f"uplinks[{i}]"
        _section(u, {"id", "capacity_mbps", "existing_kbps", "stream", "substream_kbps", "measured"}, w)
        if u.get("stream", "main") not in ("main", "sub"):
            raise PlanInputError(f"{w}.stream: 'main' or 'sub'")
        uplinks[str(u["id"])] = Uplink(str(u["id"]), _num(u, "capacity_mbps", w, minimum=0) * 1000.0,
                                       _num(u, "existing_kbps", w, 0.0, minimum=0), u.get("stream", "main"),
                                       _num(u, "substream_kbps", w, 512.0, minimum=0))
    obstacles = Obstacles.empty()
    if doc.get("obstacles"):
        try:
            obstacles = obstacles_from_geojson(_load_ref(doc["obstacles"], base, "obstacles"), projection)
        except (ValueError, KeyError, TypeError) as err:
            raise PlanInputError(f"obstacles: {err}") from err
    measured: dict[str, float] = {}
    if doc.get("survey"):
        measured.update(measured_bitrates_from_survey(_load_ref(doc["survey"], base, "survey")))
    measured.update({str(k): float(v) for k, v in (doc.get("measured_bitrates_kbps") or {}).items()})
    headings = int(_num(doc, "headings", "plan", 8, minimum=1))
    return PlanInput(str(doc.get("site", "site")), projection, profile, float(target_h), demand, mounts, models,
                     uplinks, switches, obstacles, measured, headings,
                     float(_num(doc, "utilisation", "plan", UTILISATION_MAX, minimum=0.01)),
                     float(_num(doc, "overhead", "plan", OVERHEAD, minimum=0)),
                     {str(k): float(v) for k, v in (doc.get("prices") or {}).items()})


def _parse_mount(p: dict[str, Any], g: dict[str, Any] | None, w: str, proj: LocalProjection) -> Mount:
    _section(p, {"id", "lat", "lon", "height_m", "power", "cable_m", "patch_m", "switch", "uplink", "bridge",
                 "headings_deg", "max_cameras", "name", "note"}, w)
    lat, lon = _point(p, g, w)
    x, y = proj.to_xy(lat, lon)
    if "id" not in p:
        raise PlanInputError(f"{w}: missing 'id'")
    if p.get("power", "poe") not in ("poe", "mains", "none"):
        raise PlanInputError(f"{w}.power: one of poe, mains, none")
    bridge = None
    if p.get("bridge"):
        b = _section(p["bridge"], {"distance_m", "freq_ghz", "height_m", "peer_height_m", "capacity_mbps",
                                   "obstructions"}, f"{w}.bridge")
        obstructions = tuple((float(d), float(h)) for d, h in b.get("obstructions", []))
        bridge = Bridge(_num(b, "distance_m", f"{w}.bridge", minimum=1), _num(b, "freq_ghz", f"{w}.bridge", 5.8),
                        _num(b, "height_m", f"{w}.bridge", 6.0), _num(b, "peer_height_m", f"{w}.bridge", 6.0),
                        _num(b, "capacity_mbps", f"{w}.bridge", 50.0, minimum=0) * 1000.0, obstructions)
    headings = p.get("headings_deg")
    return Mount(str(p["id"]), float(x), float(y), float(_num(p, "height_m", w, minimum=0)), p.get("power", "poe"),
                 _num(p, "cable_m", w, None, minimum=0), _num(p, "patch_m", w, 5.0, minimum=0),
                 p.get("switch"), p.get("uplink"), bridge,
                 tuple(float(h) for h in headings) if headings else None,
                 int(_num(p, "max_cameras", w, 1, minimum=0)), lat, lon)


def _parse_demand(p: dict[str, Any], g: dict[str, Any] | None, w: str, proj: LocalProjection,
                  profile: DoriProfile) -> list[Demand]:
    _section(p, {"id", "lat", "lon", "level", "weight", "spacing_m", "name", "note"}, w)
    level = p.get("level", profile.headline[0])
    try:
        level = profile.level(str(level)).name
    except ValueError as err:
        raise PlanInputError(f"{w}.level: {err}") from err
    ident = str(p.get("id", w))
    weight = float(_num(p, "weight", w, 1.0, minimum=0))
    if g is not None and g.get("type") == "Polygon":
        ring = np.asarray(g["coordinates"][0], dtype=float)
        x, y = proj.to_xy(ring[:, 1], ring[:, 0])
        pts = _sample_polygon(np.column_stack([x, y]), float(_num(p, "spacing_m", w, 5.0, minimum=0.5)))
        return [Demand(f"{ident}#{k}", float(px), float(py), level, weight / len(pts), ident)
                for k, (px, py) in enumerate(pts)]
    lat, lon = _point(p, g, w)
    x, y = proj.to_xy(lat, lon)
    return [Demand(ident, float(x), float(y), level, weight)]


def _background(b: Any, demand: list[Demand], mounts: list[Mount], profile: DoriProfile) -> list[Demand]:
    b = _section(b, {"spacing_m", "level", "weight", "margin_m"}, "background")
    spacing = float(_num(b, "spacing_m", "background", 20.0, minimum=1.0))
    margin = float(_num(b, "margin_m", "background", 20.0, minimum=0))
    try:
        level = profile.level(str(b.get("level", profile.headline[0]))).name
    except ValueError as err:
        raise PlanInputError(f"background.level: {err}") from err
    xy = np.array([[d.x, d.y] for d in demand] + [[m.x, m.y] for m in mounts])
    lo, hi = xy.min(axis=0) - margin, xy.max(axis=0) + margin
    xs, ys = np.arange(lo[0], hi[0] + 1e-9, spacing), np.arange(lo[1], hi[1] + 1e-9, spacing)
    weight = float(_num(b, "weight", "background", 0.05, minimum=0))
    return [Demand(f"grid#{i}", float(x), float(y), level, weight, "background")
            for i, (x, y) in enumerate((x, y) for y in ys for x in xs)]


def _parse_model(c: Any, w: str) -> CameraModel:
    _section(c, {"model", "resolution", "hfov_deg", "hfov_range_deg", "zoom_steps", "focal_mm", "sensor_mm",
                 "codec", "fps", "bitrate_kbps", "power_w", "price", "note"}, w)
    res = c.get("resolution")
    if not (isinstance(res, list) and len(res) == 2 and all(isinstance(v, int) and v > 0 for v in res)):
        raise PlanInputError(f"{w}.resolution: expected [width, height] in pixels")
    if "hfov_deg" in c:
        hfov: tuple[float, ...] = (float(_num(c, "hfov_deg", w)),)
    elif "hfov_range_deg" in c:
        lo, hi = (float(v) for v in c["hfov_range_deg"])
        steps = int(_num(c, "zoom_steps", w, 3, minimum=1))
        hfov = tuple(float(v) for v in np.linspace(hi, lo, steps)) if steps > 1 else (hi,)
    elif "focal_mm" in c and "sensor_mm" in c:
        hfov = (hfov_from_lens(_num(c, "focal_mm", w, minimum=0.1), _num(c, "sensor_mm", w, minimum=0.1)),)
    else:
        raise PlanInputError(f"{w}: give hfov_deg, hfov_range_deg, or focal_mm and sensor_mm")
    if not all(0 < h < 180 for h in hfov):
        raise PlanInputError(f"{w}: field of view must be between 0 and 180 degrees")
    if "model" not in c:
        raise PlanInputError(f"{w}: missing 'model'")
    return CameraModel(str(c["model"]), res[0], res[1], hfov, str(c.get("codec", "h265")),
                       float(_num(c, "fps", w, 15.0, minimum=1)), float(_num(c, "price", w, 0.0, minimum=0)),
                       float(_num(c, "power_w", w, 6.0, minimum=0)), _num(c, "bitrate_kbps", w, None, minimum=1))


def load_plan_input(path: Path) -> PlanInput:
    """Read a plan input JSON file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise PlanInputError(f"cannot read {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise PlanInputError(f"{path} is not JSON: {err}") from err
    return parse_plan_input(doc, Path(path).parent)


@dataclass
class PlanResult:
    """A solved plan: the chosen poses, what they cover, and every mount's verdict."""

    input: PlanInput
    checks: list[MountCheck]
    poses: list[Pose]
    coverage: sparse.csc_matrix
    solution: Solution
    k: int
    budget: float | None
    timings_s: dict[str, float]

    @property
    def chosen(self) -> list[Pose]:
        """Return the chosen poses in solution order."""
        return [self.poses[j] for j in self.solution.chosen]

    @property
    def covered(self) -> np.ndarray:
        """Return, per demand point, whether a chosen pose sees it at its level."""
        if not self.solution.chosen:
            return np.zeros(len(self.input.demand), dtype=bool)
        return np.asarray(self.coverage[:, list(self.solution.chosen)].sum(axis=1)).ravel() > 0

    def camera_id(self, n: int) -> str:
        """Return the id of the n-th chosen camera."""
        return f"cam-{n + 1:02d}"


def _aim_points(inp: PlanInput) -> list[tuple[float, float]]:
    """Return each point of interest and the centre of each area: headings worth trying."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for d in inp.demand:
        if d.area != "background":
            groups.setdefault(d.area or d.id, []).append((d.x, d.y))
    return [tuple(np.mean(pts, axis=0)) for pts in groups.values()]  # type: ignore[misc]


def _max_reach(inp: PlanInput) -> float:
    """Return the farthest ground range any model reaches at the weakest level."""
    weakest = inp.profile.levels[0].ppm
    return max(m.width_px / (2.0 * weakest * math.tan(math.radians(min(m.hfov_deg)) / 2.0)) for m in inp.models)


def make_plan(inp: PlanInput, k: int, *, budget: float | None = None, time_limit_s: float = 1.5,
              use_milp: bool = True) -> PlanResult:
    """Check every mount, build the coverage matrix and choose up to `k` cameras."""
    t0 = time.perf_counter()
    checks = [check_mount(m, inp.models, uplinks=inp.uplinks, switches=inp.switches, measured=inp.measured_kbps,
                          utilisation=inp.utilisation, overhead=inp.overhead) for m in inp.mounts]
    poses = candidate_poses(inp.mounts, checks, inp.models, n_headings=inp.n_headings,
                            aim_at=_aim_points(inp), aim_within_m=_max_reach(inp))
    t1 = time.perf_counter()
    matrix = build_coverage(inp.demand, inp.mounts, poses, profile=inp.profile,
                            target_height_m=inp.target_height_m, obstacles=inp.obstacles)
    t2 = time.perf_counter()
    caps = resource_capacities(inp.mounts, inp.uplinks, inp.switches, utilisation=inp.utilisation,
                               overhead=inp.overhead)
    problem = CoverageProblem.from_poses(matrix, inp.demand, poses, inp.mounts, caps)
    solution = optimise(problem, k, budget, time_limit_s=time_limit_s, use_milp=use_milp)
    t3 = time.perf_counter()
    return PlanResult(inp, checks, poses, matrix, solution, k, budget,
                      {"feasibility": t1 - t0, "coverage": t2 - t1, "solve": t3 - t2})


def _lonlat_ring(proj: LocalProjection, ring: np.ndarray) -> list[list[float]]:
    lat, lon = proj.to_latlon(ring[:, 0], ring[:, 1])
    coords = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)]
    return coords + coords[:1]


def _bands(result: PlanResult, pose: Pose) -> list[Any]:
    inp = result.input
    mount = inp.mounts[pose.mount_index]
    view = CameraView(mount.x, mount.y, mount.height_m, pose.heading_deg, pose.hfov_deg, pose.width_px)
    return level_bands(view, profile=inp.profile, target_height_m=inp.target_height_m, obstacles=inp.obstacles,
                       levels=inp.profile.headline)


def plan_geojson(result: PlanResult) -> dict[str, Any]:
    """Return the plan as one GeoJSON FeatureCollection (cameras, coverage bands, demand, infeasible mounts)."""
    inp, proj, sol = result.input, result.input.projection, result.solution
    features: list[dict[str, Any]] = []
    for n, pose in enumerate(result.chosen):
        mount = inp.mounts[pose.mount_index]
        cam_id = result.camera_id(n)
        lat, lon = proj.to_latlon(mount.x, mount.y)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            round(float(lon), 7), round(float(lat), 7)]}, "properties": {
            "kind": "camera", "camera_id": cam_id, "mount_id": pose.mount_id, "model": pose.model,
            "heading_deg": pose.heading_deg, "hfov_deg": round(pose.hfov_deg, 2), "height_m": mount.height_m,
            "bitrate_kbps": round(pose.bitrate_kbps), "bitrate_source": pose.bitrate_source, "price": pose.price,
            "status": "planned", "site": inp.site}})
        for band in _bands(result, pose):
            colour = LEVEL_COLOURS.get(band.level, "#888888")
            features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
                _lonlat_ring(proj, band.ring)]}, "properties": {
                "kind": "coverage", "camera_id": cam_id, "dori_level": band.level,
                "min_m": round(band.inner_m, 2), "max_m": round(band.outer_m, 2), "colour": colour,
                "fill": colour, "fill-opacity": 0.35, "stroke": colour, "stroke-width": 1}})
    covered = result.covered
    for d, is_covered in zip(inp.demand, covered):
        if d.area == "background":
            continue
        lat, lon = proj.to_latlon(d.x, d.y)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            round(float(lon), 7), round(float(lat), 7)]}, "properties": {
            "kind": "demand", "demand_id": d.id, "area": d.area, "dori_level": d.level, "weight": d.weight,
            "covered": bool(is_covered)}})
    for mount, check in zip(inp.mounts, result.checks):
        reasons = check.all_reasons()
        if not reasons:
            continue
        lat, lon = proj.to_latlon(mount.x, mount.y)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            round(float(lon), 7), round(float(lat), 7)]}, "properties": {
            "kind": "infeasible_mount", "mount_id": mount.id, "reasons": reasons, "reason": "; ".join(reasons)}})
    return {"type": "FeatureCollection", "features": features, "plan": _summary(result)}


def _summary(result: PlanResult) -> dict[str, Any]:
    sol = result.solution
    return {"site": result.input.site, "profile": result.input.profile.name, "k": result.k,
            "budget": result.budget, "cameras": len(sol.chosen), "objective": round(sol.objective, 6),
            "total_weight": round(sol.total_weight, 6), "bound": None if sol.bound is None else round(sol.bound, 6),
            "gap": None if sol.gap is None else round(sol.gap, 6), "status": sol.status, "method": sol.method,
            "greedy_objective": round(sol.greedy_objective, 6),
            "cost": round(sum(p.price for p in result.chosen), 2),
            "timings_s": {k: round(v, 4) for k, v in {**result.timings_s, **sol.timings_s}.items()}}


def bom_rows(result: PlanResult) -> list[dict[str, Any]]:
    """Return the bill of materials: cameras by model, cable, patch cords and radio links."""
    rows: list[dict[str, Any]] = []
    models = {m.model: m for m in result.input.models}
    for model, qty in sorted(Counter(p.model for p in result.chosen).items()):
        price = models[model].price
        rows.append({"item": "camera", "model": model, "quantity": qty, "unit": "pcs",
                     "unit_price": price, "total_price": round(price * qty, 2),
                     "note": f"{models[model].width_px}x{models[model].height_px}, {models[model].codec}"})
    mounts = {result.input.mounts[p.mount_index].id: result.input.mounts[p.mount_index] for p in result.chosen}
    cable = sum(m.cable_m or 0.0 for m in mounts.values() if m.bridge is None or (m.cable_m or 1e9) <= 90)
    prices = result.input.prices
    if cable:
        unit = prices.get("cable_per_m", 0.0)
        rows.append({"item": "outdoor Cat6 cable", "model": "", "quantity": round(cable, 1), "unit": "m",
                     "unit_price": unit, "total_price": round(unit * cable, 2), "note": "routes from the survey"})
    radios = [m for m in mounts.values() if m.bridge is not None and (m.cable_m is None or m.cable_m > 90)]
    if radios:
        unit = prices.get("bridge_pair", 0.0)
        rows.append({"item": "wireless bridge pair", "model": "", "quantity": len(radios), "unit": "pairs",
                     "unit_price": unit, "total_price": round(unit * len(radios), 2),
                     "note": ", ".join(sorted(m.id for m in radios))})
    rows.append({"item": "TOTAL", "model": "", "quantity": "", "unit": "", "unit_price": "",
                 "total_price": round(sum(float(r["total_price"]) for r in rows), 2), "note": ""})
    return rows


def bom_csv(result: PlanResult) -> str:
    """Return the bill of materials as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["item", "model", "quantity", "unit", "unit_price", "total_price",
                                             "note"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(bom_rows(result))
    return out.getvalue()


def _svg(result: PlanResult) -> str:
    """Return a plan sketch (local metres, north up) as inline SVG."""
    inp = result.input
    pts = [[d.x, d.y] for d in inp.demand] + [[m.x, m.y] for m in inp.mounts]
    xy = np.array(pts)
    lo, hi = xy.min(axis=0) - 15, xy.max(axis=0) + 15
    span = float(max(hi - lo))
    scale = 640.0 / span

    def p(x: float, y: float) -> str:
        return f"{(x - lo[0]) * scale:.1f},{(hi[1] - y) * scale:.1f}"

    parts = []
    a, b = inp.obstacles.a, inp.obstacles.b
    for (ax, ay), (bx, by) in zip(a, b):
        parts.append(f'<line x1="{(ax - lo[0]) * scale:.1f}" y1="{(hi[1] - ay) * scale:.1f}" '
                     f'x2="{(bx - lo[0]) * scale:.1f}" y2="{(hi[1] - by) * scale:.1f}" stroke="#555" stroke-width="2"/>')
    for pose in result.chosen:
        for band in _bands(result, pose):
            pts_s = " ".join(p(x, y) for x, y in band.ring)
            colour = LEVEL_COLOURS.get(band.level, "#888")
            parts.append(f'<polygon points="{pts_s}" fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>')
    for d, cov in zip(inp.demand, result.covered):
        if d.area == "background":
            continue
        x, y = p(d.x, d.y).split(",")
        parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{"#222" if cov else "#fff"}" stroke="#222"/>')
    for m, check in zip(inp.mounts, result.checks):
        x, y = p(m.x, m.y).split(",")
        colour = "#1f78b4" if check.is_feasible else "#b2182b"
        parts.append(f'<rect x="{float(x) - 4:.1f}" y="{float(y) - 4:.1f}" width="8" height="8" fill="{colour}">'
                     f'<title>{escape(m.id)}</title></rect>')
    height = (hi[1] - lo[1]) * scale
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height:.0f}" '
            f'viewBox="0 0 640 {height:.0f}" role="img" aria-label="plan sketch">{"".join(parts)}</svg>')


def render_plan_html(result: PlanResult) -> str:
    """Return a printable, self-contained HTML plan report."""
    inp, sol = result.input, result.solution
    summary = _summary(result)
    gap = "unknown (no bound from the solver)" if sol.gap is None else f"{sol.gap:.2%}"
    rows = []
    for n, pose in enumerate(result.chosen):
        mount = inp.mounts[pose.mount_index]
        rows.append(f"<tr><td>{result.camera_id(n)}</td><td>{escape(pose.mount_id)}</td>"
                    f"<td>{escape(pose.model)}</td><td>{pose.heading_deg:.0f}°</td><td>{pose.hfov_deg:.1f}°</td>"
                    f"<td>{mount.height_m:g} m</td><td>{pose.bitrate_kbps:.0f} ({escape(pose.bitrate_source)})</td>"
                    f"<td>{pose.price:g}</td></tr>")
    covered = result.covered
    per_target: dict[str, list[Any]] = {}
    for d, cov in zip(inp.demand, covered):
        key = d.area or d.id
        entry = per_target.setdefault(key, [d.level, 0.0, 0.0])
        entry[1] += d.weight * cov
        entry[2] += d.weight
    demand_rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(v[0])}</td><td>{(v[1] / v[2] if v[2] else 0):.0%}</td></tr>"
        for k, v in per_target.items())
    infeasible = "".join(
        f"<tr><td>{escape(m.id)}</td><td>{'<br>'.join(escape(r) for r in c.all_reasons())}</td></tr>"
        for m, c in zip(inp.mounts, result.checks) if c.all_reasons()) or '<tr><td colspan="2">none</td></tr>'
    bom = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r.values()) + "</tr>"
                  for r in bom_rows(result))
    legend = " ".join(f'<span style="background:{LEVEL_COLOURS.get(n, "#888")};padding:0 .5em">{escape(n)}</span>'
                      for n in inp.profile.headline)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Camera plan — {escape(inp.site)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}@media print{{body{{margin:0}}}}</style></head>
<body><h1>Camera plan — {escape(inp.site)}</h1>
<p>Profile {escape(inp.profile.name)}; target height {inp.target_height_m:g} m; up to {result.k} cameras
{'' if result.budget is None else f'within a budget of {result.budget:g}'}.</p>
<table><tr><th>cameras chosen</th><td>{len(sol.chosen)}</td></tr>
<tr><th>weighted coverage</th><td>{sol.objective:.3f} of {sol.total_weight:.3f}
({(sol.objective / sol.total_weight if sol.total_weight else 0):.1%})</td></tr>
<tr><th>optimality gap</th><td>{gap} — solver status {escape(sol.status)}, answer from {escape(sol.method)},
greedy reached {sol.greedy_objective:.3f}</td></tr>
<tr><th>cost</th><td>{summary['cost']:g}</td></tr></table>
<h2>Plan sketch</h2><p>North up; squares are mounts (red: infeasible), dots are points of interest
(filled: seen at the required level). {legend}</p>{_svg(result)}
<h2>Cameras</h2><table><tr><th>camera</th><th>mount</th><th>model</th><th>heading</th><th>HFOV</th>
<th>height</th><th>bitrate kb/s</th><th>price</th></tr>{''.join(rows)}</table>
<h2>Points and areas of interest</h2><table><tr><th>target</th><th>level</th><th>covered</th></tr>{demand_rows}</table>
<h2>Mounts that cannot be used</h2><table><tr><th>mount</th><th>reasons</th></tr>{infeasible}</table>
<h2>Bill of materials</h2><table><tr><th>item</th><th>model</th><th>qty</th><th>unit</th><th>unit price</th>
<th>total</th><th>note</th></tr>{bom}</table>
</body></html>
"""
