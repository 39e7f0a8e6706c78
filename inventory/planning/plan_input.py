"""Plan input: a JSON document (or file) of demand, mounts, cameras, network and obstacles, in local metres.

Positions are ``lat``/``lon`` fields or GeoJSON Features (GeoJSON order, [lon, lat]);
demand areas are Polygon Features sampled every `spacing_m`, their weight shared among
the samples.  `demand`, `mounts` and `obstacles` may instead name a GeoJSON file beside
the input file.  See docs/examples/plan_village.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sitescout.inventory.errors import Coded, InventoryError

from .coverage import LocalProjection, Obstacles, obstacles_from_geojson
from .dori import DoriProfile, get_profile, hfov_from_lens
from .feasibility import (OVERHEAD, UTILISATION_MAX, Bridge, CameraModel, Mount, Switch, Uplink,
                          measured_bitrates_from_survey)
from .network_facts import NETWORK_KEY
from .network_limits import apply_network
from .placement import Demand
from .plan_cost import DEFAULT_LIMITS, PlanLimits, check_sampling

__all__ = ["PlanInputError", "PlanInput", "parse_plan_input", "load_plan_input", "parse_model"]

class PlanInputError(InventoryError, ValueError):
    """A plan input file is wrong; the message names the key.

    Its message is coded (``field_problem``: the key as ``where``, the problem a :class:`Coded` of its own),
    so the command (src/sitescout/import_words.py) and the API (web/errors.py) say it in the reader's language.
    """


def _bad(where: str, code: str, template: str, **params: object) -> PlanInputError:
    """Return the error of the key `where`: problem `code` (its English `template`) with its parameters."""
    return PlanInputError(Coded("field_problem", "%(where)s: %(problem)s", where=where,
                                problem=Coded(code, template, **params)))


def _bad_detail(where: str, err: Exception) -> PlanInputError:
    """Return the error of the key `where` whose problem another rule said (coded when it is)."""
    detail = err.args[0] if err.args and isinstance(err.args[0], Coded) else str(err)
    return PlanInputError(Coded("field_problem", "%(where)s: %(problem)s", where=where, problem=detail))


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
    #: ISO 4217 code of every price of the input ("" when the input does not say).
    currency: str = ""
    #: Given names of points and areas of interest, by demand id (or area id), for labels.
    names: dict[str, str] = field(default_factory=dict)
    #: Where the PoE, port and uplink limits came from (`network_limits.apply_network`'s summary).
    network: dict[str, Any] = field(default_factory=lambda: {"source": "typed"})


def _section(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _bad(where, "plan_expected_object", "expected an object")
    extra = sorted(set(d) - allowed)
    if extra:
        raise _bad(where, "plan_unknown_key", "unknown key %(key)r; allowed: %(allowed)s", key=extra[0],
                   allowed=", ".join(sorted(allowed)))
    return d


def _num(d: dict[str, Any], key: str, where: str, default: Any = ..., *, minimum: float | None = None) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise _bad(where, "plan_missing", "missing %(key)r", key=key)
        return default
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"{where}.{key}", "plan_not_number", "expected a number, got %(value)r", value=value)
    if minimum is not None and value < minimum:
        raise _bad(f"{where}.{key}", "plan_at_least", "must be at least %(least)g", least=minimum)
    return value


def _load_ref(value: Any, base: Path, where: str) -> Any:
    if isinstance(value, str):
        path = (base / value).resolve()
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise _bad(where, "plan_cannot_read", "cannot read %(path)s: %(reason)s", path=value,
                       reason=err.strerror or str(err)) from err
        except json.JSONDecodeError as err:
            raise _bad(where, "plan_not_json", "%(path)s is not JSON: %(reason)s", path=value, reason=str(err)) from err
    return value


def _items(value: Any, where: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Return (properties, geometry or None) for a list of objects or a FeatureCollection."""
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        value = value.get("features", [])
    if not isinstance(value, list):
        raise _bad(where, "plan_list_or_collection", "expected a list or a FeatureCollection")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(f"{where}[{i}]", "plan_expected_object", "expected an object")
        if item.get("type") == "Feature":
            out.append((dict(item.get("properties") or {}), item.get("geometry")))
        else:
            out.append((dict(item), None))
    return out


def _point(props: dict[str, Any], geometry: dict[str, Any] | None, where: str) -> tuple[float, float]:
    if geometry is not None:
        if geometry.get("type") != "Point":
            raise _bad(where, "plan_point", "expected a Point geometry")
        lon, lat = geometry["coordinates"][:2]
        return float(lat), float(lon)
    lat, lon = _num(props, "lat", where), _num(props, "lon", where)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _bad(where, "plan_lat_lon", "lat/lon out of range")
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


def parse_plan_input(doc: dict[str, Any], base: Path = Path("."), *,
                     limits: PlanLimits | None = DEFAULT_LIMITS) -> PlanInput:
    """Return the plan input described by a parsed JSON document (files relative to `base`).

    Raises PlanTooLarge before sampling an area or the background grid beyond `limits`.
    """
    doc = _section(doc, {"site", "origin", "profile", "target_height_m", "headings", "utilisation", "overhead",
                         "demand", "background", "mounts", "switches", "uplinks", "cameras", "obstacles",
                         "measured_bitrates_kbps", "survey", "prices", "currency", NETWORK_KEY, "$comment"}, "plan")
    try:
        profile = get_profile(doc.get("profile"))
    except ValueError as err:
        raise _bad_detail("plan.profile", err) from err
    demand_items = _items(_load_ref(doc.get("demand", []), base, "demand"), "demand")
    mount_items = _items(_load_ref(doc.get("mounts", []), base, "mounts"), "mounts")
    if not mount_items:
        raise _bad("mounts", "plan_no_mounts", "at least one candidate mount is needed")
    # Origin: given, else the mean of the mounts.
    if "origin" in doc:
        o = doc["origin"]
        if not (isinstance(o, list) and len(o) == 2):
            raise _bad("plan.origin", "plan_origin", "expected [lat, lon]")
        projection = LocalProjection(float(o[0]), float(o[1]))
    else:
        lats, lons = zip(*(_point(p, g, f"mounts[{i}]") for i, (p, g) in enumerate(mount_items)))
        projection = LocalProjection(sum(lats) / len(lats), sum(lons) / len(lons))
    target_h = _num(doc, "target_height_m", "plan", 1.6, minimum=0)

    mounts = [_parse_mount(p, g, f"mounts[{i}]", projection) for i, (p, g) in enumerate(mount_items)]
    if len({m.id for m in mounts}) != len(mounts):
        raise _bad("mounts", "plan_mount_ids", "ids must be unique")
    demand: list[Demand] = []
    names: dict[str, str] = {}
    for i, (props, geometry) in enumerate(demand_items):
        demand += _parse_demand(props, geometry, f"demand[{i}]", projection, profile, limits, len(demand))
        if isinstance(props, dict) and props.get("name"):
            names[str(props.get("id", f"demand[{i}]"))] = str(props["name"])
    if "background" in doc:
        demand += _background(doc["background"], demand, mounts, profile, limits)
    if not demand:
        raise _bad("demand", "plan_no_demand", "at least one point or area of interest is needed")

    models = [parse_model(c, f"cameras[{i}]") for i, c in enumerate(doc.get("cameras", []))]
    if not models:
        raise _bad("cameras", "plan_no_cameras", "the catalogue is empty")
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
            raise _bad(f"{w}.stream", "plan_stream", "'main' or 'sub'")
        uplinks[str(u["id"])] = Uplink(str(u["id"]), _num(u, "capacity_mbps", w, minimum=0) * 1000.0,
                                       _num(u, "existing_kbps", w, 0.0, minimum=0), u.get("stream", "main"),
                                       _num(u, "substream_kbps", w, 512.0, minimum=0))
    obstacles = Obstacles.empty()
    if doc.get("obstacles"):
        try:
            obstacles = obstacles_from_geojson(_load_ref(doc["obstacles"], base, "obstacles"), projection)
        except (ValueError, KeyError, TypeError) as err:
            raise _bad_detail("obstacles", err) from err
    measured: dict[str, float] = {}
    if doc.get("survey"):
        measured.update(measured_bitrates_from_survey(_load_ref(doc["survey"], base, "survey")))
    measured.update({str(k): float(v) for k, v in (doc.get("measured_bitrates_kbps") or {}).items()})
    headings = int(_num(doc, "headings", "plan", 8, minimum=1))
    facts = doc.get(NETWORK_KEY)
    if facts is not None and not isinstance(facts, dict):
        raise _bad(f"plan.{NETWORK_KEY}", "plan_network", "expected the site's network facts (an object) or null")
    try:
        mounts, switches, uplinks, network = apply_network(facts, mounts, switches, uplinks)
    except (TypeError, ValueError, KeyError) as err:
        raise _bad_detail(f"plan.{NETWORK_KEY}", err) from err
    return PlanInput(str(doc.get("site", "site")), projection, profile, float(target_h), demand, mounts, models,
                     uplinks, switches, obstacles, measured, headings,
                     float(_num(doc, "utilisation", "plan", UTILISATION_MAX, minimum=0.01)),
                     float(_num(doc, "overhead", "plan", OVERHEAD, minimum=0)),
                     {str(k): float(v) for k, v in (doc.get("prices") or {}).items()}, _currency(doc), names, network)


def _currency(doc: dict[str, Any]) -> str:
    """Return the input's currency, an ISO 4217 code such as VND or USD ("" when not given)."""
    code = doc.get("currency") or ""
    if not isinstance(code, str) or (code and not (len(code) == 3 and code.isalpha())):
        raise _bad("plan.currency", "plan_currency", "a three-letter ISO 4217 code such as VND or USD")
    return code.upper()


def _parse_mount(p: dict[str, Any], g: dict[str, Any] | None, w: str, proj: LocalProjection) -> Mount:
    _section(p, {"id", "lat", "lon", "height_m", "power", "cable_m", "patch_m", "switch", "uplink", "bridge",
                 "headings_deg", "max_cameras", "name", "note"}, w)
    lat, lon = _point(p, g, w)
    x, y = proj.to_xy(lat, lon)
    if "id" not in p:
        raise _bad(w, "plan_missing", "missing %(key)r", key="id")
    if p.get("power", "poe") not in ("poe", "mains", "none"):
        raise _bad(f"{w}.power", "plan_power", "one of poe, mains, none")
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
                  profile: DoriProfile, limits: PlanLimits | None = None, so_far: int = 0) -> list[Demand]:
    _section(p, {"id", "lat", "lon", "level", "weight", "spacing_m", "name", "note"}, w)
    level = p.get("level", profile.headline[0])
    try:
        level = profile.level(str(level)).name
    except ValueError as err:
        raise _bad_detail(f"{w}.level", err) from err
    ident = str(p.get("id", w))
    weight = float(_num(p, "weight", w, 1.0, minimum=0))
    if g is not None and g.get("type") == "Polygon":
        ring = np.asarray(g["coordinates"][0], dtype=float)
        x, y = proj.to_xy(ring[:, 1], ring[:, 0])
        spacing = float(_num(p, "spacing_m", w, 5.0, minimum=0.5))
        if limits is not None and len(ring):
            span = np.ptp(np.column_stack([x, y]), axis=0) / spacing + 1
            check_sampling(w, float(span[0] * span[1]), len(ring), so_far, limits)
        pts = _sample_polygon(np.column_stack([x, y]), spacing)
        return [Demand(f"{ident}#{k}", float(px), float(py), level, weight / len(pts), ident)
                for k, (px, py) in enumerate(pts)]
    lat, lon = _point(p, g, w)
    x, y = proj.to_xy(lat, lon)
    return [Demand(ident, float(x), float(y), level, weight)]


def _background(b: Any, demand: list[Demand], mounts: list[Mount], profile: DoriProfile,
                limits: PlanLimits | None = None) -> list[Demand]:
    b = _section(b, {"spacing_m", "level", "weight", "margin_m"}, "background")
    spacing = float(_num(b, "spacing_m", "background", 20.0, minimum=1.0))
    margin = float(_num(b, "margin_m", "background", 20.0, minimum=0))
    try:
        level = profile.level(str(b.get("level", profile.headline[0]))).name
    except ValueError as err:
        raise _bad_detail("background.level", err) from err
    xy = np.array([[d.x, d.y] for d in demand] + [[m.x, m.y] for m in mounts])
    lo, hi = xy.min(axis=0) - margin, xy.max(axis=0) + margin
    if limits is not None:
        span = (hi - lo) / spacing + 1
        check_sampling("background", float(span[0] * span[1]), 0, len(demand), limits)
    xs, ys = np.arange(lo[0], hi[0] + 1e-9, spacing), np.arange(lo[1], hi[1] + 1e-9, spacing)
    weight = float(_num(b, "weight", "background", 0.05, minimum=0))
    return [Demand(f"grid#{i}", float(x), float(y), level, weight, "background")
            for i, (x, y) in enumerate((x, y) for y in ys for x in xs)]


def parse_model(c: Any, w: str) -> CameraModel:
    _section(c, {"model", "resolution", "hfov_deg", "hfov_range_deg", "zoom_steps", "focal_mm", "sensor_mm",
                 "codec", "fps", "bitrate_kbps", "power_w", "price", "note"}, w)
    res = c.get("resolution")
    if not (isinstance(res, list) and len(res) == 2 and all(isinstance(v, int) and v > 0 for v in res)):
        raise _bad(f"{w}.resolution", "plan_resolution", "expected [width, height] in pixels")
    if "hfov_deg" in c:
        hfov: tuple[float, ...] = (float(_num(c, "hfov_deg", w)),)
    elif "hfov_range_deg" in c:
        lo, hi = (float(v) for v in c["hfov_range_deg"])
        steps = int(_num(c, "zoom_steps", w, 3, minimum=1))
        hfov = tuple(float(v) for v in np.linspace(hi, lo, steps)) if steps > 1 else (hi,)
    elif "focal_mm" in c and "sensor_mm" in c:
        hfov = (hfov_from_lens(_num(c, "focal_mm", w, minimum=0.1), _num(c, "sensor_mm", w, minimum=0.1)),)
    else:
        raise _bad(w, "plan_field_of_view", "give hfov_deg, hfov_range_deg, or focal_mm and sensor_mm")
    if not all(0 < h < 180 for h in hfov):
        raise _bad(w, "plan_hfov_range", "field of view must be between 0 and 180 degrees")
    if "model" not in c:
        raise _bad(w, "plan_missing", "missing %(key)r", key="model")
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
