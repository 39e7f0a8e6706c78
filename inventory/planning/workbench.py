"""The planners' workbench: a drawn design to a plan input, and a hand-edited layout of cameras to its coverage.

A *design* is one GeoJSON FeatureCollection whose features carry ``properties.kind``:

- ``demand``: a Polygon with ``level`` (a DORI level) and an optional ``name``, ``weight``, ``spacing_m``;
- ``poi``: a Point of interest with ``name`` and ``level``;
- ``obstacle``: a Polygon (a building footprint), drawn or imported;
- ``mount``: a Point where cameras may go, with ``height_m``, ``power`` (poe, mains, none) and
  ``cable_m``; without ``cable_m`` the cable is measured along the map from the switch
  (straight, plus the run up the pole: a route drawn around houses is longer);
- ``switch``: the Point the cables start from, with ``poe_budget_w`` and ``uplink_mbps``;
  without one, the site's own coordinates.

A *layout* is the list of cameras placed (by the optimiser, then by hand): each on a mount,
or dragged to a point of its own, with a model, a heading and a field of view.
`evaluate_layout` answers a change to one camera by recomputing coverage, cost and
feasibility of the whole layout (a village: well under 200 ms, see benchmarks/bench_plan_workbench.py);
`evaluate_state` keeps, per process, the parsed input, its mounts' verdicts and the wedges of cameras
drawn before, so a move parses, checks and draws only the camera it changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .coverage import LocalProjection
from .feasibility import Mount, MountCheck, Reason, check_mount
from .placement import Pose, Solution, build_coverage
from .plan_input import PlanInput, PlanInputError, parse_plan_input
from .plan_io import PlanResult, coverage_features, infeasible_feature, make_plan, plan_geojson

__all__ = ["DESIGN_KINDS", "DEFAULT_POE_BUDGET_W", "cable_length_m", "design_input", "switch_point",
           "layout_from_result", "evaluate_layout", "layout_summary", "optimise_input", "design_state",
           "state_result", "evaluate_state", "empty_geojson", "optimised_state", "input_digest", "NETWORK_STAMP",
           "NETWORK_REFRESHED"]

DESIGN_KINDS = ("demand", "poi", "obstacle", "mount", "switch")
#: PoE budget of a switch drawn without one: a common 8-port 802.3at switch.
DEFAULT_POE_BUDGET_W = 120.0
#: Most features a design may hold (a village is a few dozen; the cost model bounds the rest).
MAX_FEATURES = 2000
#: The state's (and the plan summary's) stamp of the site when its network facts were taken (network_freshness).
NETWORK_STAMP = "network_stamp"
#: The state's (and the summary's) note of the facts it was evaluated with before the site's changed.
NETWORK_REFRESHED = "network_refreshed"


def cable_length_m(lat: float, lon: float, switch: tuple[float, float], height_m: float) -> float:
    """Return the cable from the switch to a mount: straight along the map, plus the run up the pole."""
    x, y = LocalProjection(switch[0], switch[1]).to_xy(lat, lon)
    return round(float(math.hypot(float(x), float(y))) + max(height_m, 0.0), 1)


def _features(design: Any) -> list[dict[str, Any]]:
    if not isinstance(design, dict) or design.get("type") != "FeatureCollection" \
            or not isinstance(design.get("features"), list):
        raise PlanInputError("design: expected a GeoJSON FeatureCollection")
    features = design["features"]
    if len(features) > MAX_FEATURES:
        raise PlanInputError(f"design: at most {MAX_FEATURES} features")
    for i, f in enumerate(features):
        if not isinstance(f, dict) or not isinstance(f.get("geometry"), dict) \
                or not isinstance(f.get("properties") or {}, dict):
            raise PlanInputError(f"design.features[{i}]: expected a Feature with a geometry")
        kind = (f.get("properties") or {}).get("kind")
        if kind not in DESIGN_KINDS:
            raise PlanInputError(f"design.features[{i}].kind: one of {', '.join(DESIGN_KINDS)}")
    return features


def switch_point(design: Any, site: tuple[float, float] | None) -> tuple[float, float] | None:
    """Return (lat, lon) of the design's switch, else the site's coordinates, else None."""
    for f in _features(design):
        if f["properties"]["kind"] == "switch" and f["geometry"].get("type") == "Point":
            lon, lat = f["geometry"]["coordinates"][:2]
            return float(lat), float(lon)
    return site


def _props(f: dict[str, Any], *keys: str) -> dict[str, Any]:
    p = f.get("properties") or {}
    return {k: p[k] for k in keys if p.get(k) not in (None, "")}


def design_input(design: Any, cameras: list[dict[str, Any]], *, site_name: str,
                 site: tuple[float, float] | None = None, headings: int = 8) -> dict[str, Any]:
    """Return the plan input (plan_input's format) of a drawn design and the catalogue's cameras."""
    features = _features(design)
    switch_at = switch_point(design, site)
    switch_props: dict[str, Any] = next((f["properties"] for f in features if f["properties"]["kind"] == "switch"), {})
    demand, mounts, obstacles = [], [], []
    for i, f in enumerate(features):
        kind, geometry = f["properties"]["kind"], f["geometry"]
        if kind in ("demand", "poi"):
            props = {"id": str(f["properties"].get("name") or f"{kind}-{i + 1}"),
                     **_props(f, "level", "weight", "spacing_m", "name")}
            if kind == "poi" and geometry.get("type") != "Point":
                raise PlanInputError(f"design.features[{i}]: a point of interest is a Point")
            demand.append({"type": "Feature", "geometry": geometry, "properties": props})
        elif kind == "obstacle":
            obstacles.append({"type": "Feature", "geometry": geometry, "properties": {}})
        elif kind == "mount":
            if geometry.get("type") != "Point":
                raise PlanInputError(f"design.features[{i}]: a mount is a Point")
            props = {"id": str(f["properties"].get("id") or f"m{i + 1}"), "height_m": 6.0,
                     **_props(f, "height_m", "power", "cable_m", "name")}
            props.setdefault("power", "poe")
            if "cable_m" not in props and switch_at is not None:
                lon, lat = geometry["coordinates"][:2]
                props["cable_m"] = cable_length_m(float(lat), float(lon), switch_at, float(props["height_m"]))
            if props["power"] == "poe":
                props["switch"] = "switch"
            if "uplink_mbps" in switch_props:
                props["uplink"] = "uplink"
            mounts.append({"type": "Feature", "geometry": geometry, "properties": props})
    doc: dict[str, Any] = {
        "site": site_name, "demand": demand, "mounts": mounts, "cameras": cameras, "headings": headings,
        "switches": [{"id": "switch", "poe_budget_w": float(switch_props.get("poe_budget_w") or DEFAULT_POE_BUDGET_W)}],
    }
    if "uplink_mbps" in switch_props:
        doc["uplinks"] = [{"id": "uplink", "capacity_mbps": switch_props["uplink_mbps"]}]
    if obstacles:
        doc["obstacles"] = {"type": "FeatureCollection", "features": obstacles}
    return doc


def layout_from_result(result: PlanResult) -> list[dict[str, Any]]:
    """Return the chosen cameras of a solved plan as a layout (mount, position, model, heading, field of view)."""
    proj, layout = result.input.projection, []
    for pose in result.chosen:
        mount = result.input.mounts[pose.mount_index]
        lat, lon = proj.to_latlon(mount.x, mount.y)
        layout.append({"mount_id": mount.id, "lat": round(float(lat), 7), "lon": round(float(lon), 7),
                       "model": pose.model, "heading_deg": round(pose.heading_deg, 1),
                       "hfov_deg": round(pose.hfov_deg, 2)})
    return layout


def _same_place(mount: Mount, lat: float, lon: float | None) -> bool:
    """Return whether a camera's position is its mount's own (within 1e-7 degrees)."""
    if lon is None or mount.lat is None or mount.lon is None:
        return False
    return abs(lat - mount.lat) < 1e-7 and abs(lon - mount.lon) < 1e-7


def _camera_mount(inp: PlanInput, cam: dict[str, Any], n: int, switch_at: tuple[float, float] | None) -> Mount:
    """Return the mount a camera sits on: its own, or a copy moved where the camera was dragged."""
    base = next((m for m in inp.mounts if m.id == cam.get("mount_id")), None)
    lat, lon = cam.get("lat"), cam.get("lon")
    if base is not None and (lat is None or _same_place(base, lat, lon)):
        return base
    if lat is None or lon is None:
        raise PlanInputError(f"cameras[{n}]: no mount {cam.get('mount_id')!r} and no position")
    x, y = inp.projection.to_xy(lat, lon)
    height = float(cam.get("height_m") or (base.height_m if base else 6.0))
    cable = cable_length_m(lat, lon, switch_at, height) if switch_at is not None else (base.cable_m if base else None)
    template = base or Mount("", 0.0, 0.0, height, switch="switch")
    return dataclasses.replace(template, id=f"{template.id or 'cam'}@{n + 1}", x=float(x), y=float(y),
                               height_m=height, cable_m=cable, lat=float(lat), lon=float(lon), headings_deg=None)


def evaluate_layout(inp: PlanInput, layout: list[dict[str, Any]], *, bound: float | None = None,
                    k: int | None = None, budget: float | None = None,
                    switch_at: tuple[float, float] | None = None,
                    known_checks: dict[str, MountCheck] | None = None,
                    coverage_of: Callable[[PlanInput, list[Mount], list[Pose]], sparse.csc_matrix] | None = None,
                    ) -> PlanResult:
    """Return the plan of a hand-edited layout: what it covers, what it costs, whether each camera can go there.

    `bound` is the optimiser's proven upper bound for the same input and number of cameras:
    the gap then says how far the hand layout is from the best possible one.  `known_checks`
    are verdicts already made on the input's own mounts (by mount id): a moved camera's
    mount is checked again, the others are not.  `coverage_of` returns the coverage matrix of the
    poses (default: `build_coverage` of them all).
    """
    t0 = time.perf_counter()
    models = {m.model: m for m in inp.models}
    mounts = list(inp.mounts)
    cam_mounts = []
    for n, cam in enumerate(layout):
        if cam.get("model") not in models:
            raise PlanInputError(f"cameras[{n}].model: {cam.get('model')!r} is not in the catalogue")
        mount = _camera_mount(inp, cam, n, switch_at)
        if mount not in mounts:
            mounts.append(mount)
        cam_mounts.append(mounts.index(mount))
    plan_in = dataclasses.replace(inp, mounts=mounts)
    known = known_checks or {}
    own = {id(m) for m in inp.mounts}
    checks = [known[m.id] if id(m) in own and m.id in known else _check(inp, m) for m in mounts]
    poses = [_pose(cam, models[cam["model"]], mounts[j], j, checks[j]) for cam, j in zip(layout, cam_mounts)]
    t1 = time.perf_counter()
    matrix = coverage_of(inp, mounts, poses) if coverage_of else _coverage(inp, mounts, poses)
    weights = np.array([d.weight for d in inp.demand], dtype=float)
    covered = np.asarray(matrix.sum(axis=1)).ravel() > 0 if poses else np.zeros(len(weights), dtype=bool)
    value = float(weights[covered].sum())
    gap = None if bound is None else (0.0 if bound <= 0 else max(bound - value, 0.0) / bound)
    t2 = time.perf_counter()
    solution = Solution(tuple(range(len(poses))), value, bound, gap, "edited", "hand", value,
                        float(weights.sum()), {})
    return PlanResult(plan_in, checks, poses, matrix, solution, k if k is not None else len(poses), budget,
                      {"feasibility": t1 - t0, "coverage": t2 - t1})


def _coverage(inp: PlanInput, mounts: list[Mount], poses: list[Pose]) -> sparse.csc_matrix:
    return build_coverage(inp.demand, mounts, poses, profile=inp.profile, target_height_m=inp.target_height_m,
                          obstacles=inp.obstacles)


def _check(inp: PlanInput, mount: Mount) -> MountCheck:
    return check_mount(mount, inp.models, uplinks=inp.uplinks, switches=inp.switches, measured=inp.measured_kbps,
                       utilisation=inp.utilisation, overhead=inp.overhead)


def _pose(cam: dict[str, Any], model: Any, mount: Mount, index: int, check: MountCheck) -> Pose:
    pose_check = next(p for p in check.poses if p.model == model.model)
    hfov = cam.get("hfov_deg")
    lo, hi = min(model.hfov_deg), max(model.hfov_deg)
    hfov = float(hfov) if isinstance(hfov, (int, float)) and lo - 1e-6 <= hfov <= hi + 1e-6 else model.hfov_deg[0]
    return Pose(mount.id, index, model.model, float(cam.get("heading_deg") or 0.0) % 360.0, hfov, model.width_px,
                model.price, pose_check.bitrate_kbps, pose_check.bitrate_source, dict(pose_check.resources))


def layout_summary(result: PlanResult) -> dict[str, Any]:
    """Return what a planner compares: coverage per DORI level, uncovered targets, cost, PoE and uplink load.

    ``camera_problems`` lists each camera that cannot go where it is: its mount's and model's
    reasons, and no switch port left for it (``no_free_poe_port``, ``no_free_port``).
    """
    inp = result.input
    covered = result.covered
    levels: dict[str, list[float]] = {}
    uncovered: dict[str, None] = {}
    for d, is_covered in zip(inp.demand, covered):
        if d.area == "background":
            continue
        entry = levels.setdefault(d.level, [0.0, 0.0])
        entry[0] += d.weight * bool(is_covered)
        entry[1] += d.weight
        if not is_covered:
            uncovered.setdefault(d.area or d.id, None)
    load: dict[str, float] = {}
    for pose in result.chosen:
        for key, value in pose.resources.items():
            load[key] = load.get(key, 0.0) + value
    problems = []
    ports = result.switch_ports()
    for n, pose in enumerate(result.chosen):
        check = result.checks[pose.mount_index]
        reasons = list(check.reasons) + [r for p in check.poses if p.model == pose.model for r in p.reasons]
        port = ports[n]
        if port is not None and port.reason is not None and all(
                not isinstance(r, Reason) or r.code != port.reason.code for r in reasons):
            reasons.append(port.reason)  # a hand layout needing more ports than the switch has free (#18)
        if reasons:
            problems.append({"camera_id": result.camera_id(n), "reasons": [str(r) for r in reasons],
                             "reason_codes": [r.to_dict() if isinstance(r, Reason) else {"code": "other", "text": r}
                                              for r in reasons]})
    return {
        "by_level": {name: round(c / t, 4) if t else None for name, (c, t) in levels.items()},
        "uncovered": list(uncovered), "cameras": len(result.chosen),
        "cost": round(sum(p.price for p in result.chosen), 2),
        "poe_w": round(sum(v for k, v in load.items() if k.startswith("poe:")), 1),
        "uplink_kbps": round(sum(p.bitrate_kbps for p in result.chosen)),
        "camera_problems": problems,
    }


def optimise_input(doc: dict[str, Any], k: int, budget: float | None, time_limit_s: float,
                   limits: Any) -> dict[str, Any]:
    """Solve a plan input for up to `k` cameras; return its GeoJSON, its layout, the proven bound and summary."""
    inp = parse_plan_input(doc, Path("/nonexistent"), limits=limits)
    result = make_plan(inp, k, budget=budget, time_limit_s=time_limit_s, limits=limits)
    geojson = plan_geojson(result)
    geojson["plan"].update(layout_summary(result))
    return {"geojson": geojson, "layout": layout_from_result(result), "bound": result.solution.bound}


# ---------------------------------------------------------------------------
# A plan's workbench state: its design, the plan input drawn from it, the layout kept so far.


def design_state(design: Any, cameras: list[dict[str, Any]], *, site_name: str, site: tuple[float, float] | None,
                 previous: dict[str, Any] | None = None,
                 network: Callable[[dict[str, Any]], Any] | None = None,
                 stamp: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the workbench state of a design: its plan input, switch point and the layout kept so far.

    `network` adds the site's surveyed network to the plan input (network_freshness.with_workbench_network)
    before the input's digest is taken; `stamp` is the site's stamp when it did (network_freshness.site_stamp).
    """
    doc = design_input(design, cameras, site_name=site_name, site=site)
    if network is not None:
        doc = network(doc)
    switch = switch_point(design, site)
    previous = previous or {}
    return {"design": design, "input": doc, "input_digest": input_digest(doc),
            "switch": list(switch) if switch else None, "layout": previous.get("layout") or [],
            "k": previous.get("k"), "budget": previous.get("budget"), "bound": None, NETWORK_STAMP: stamp}


@dataclass
class _Parsed:
    """A plan input read once per process: its parse, its own mounts' verdicts, and camera wedges drawn so far."""

    input: PlanInput
    checks: dict[str, MountCheck]
    wedges: OrderedDict[tuple[float, ...], list[dict[str, Any]]] = dataclasses.field(default_factory=OrderedDict)
    columns: OrderedDict[tuple[float, ...], sparse.csc_matrix] = dataclasses.field(default_factory=OrderedDict)
    infeasible: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)


#: Plan inputs read lately, by digest: a camera move reads, checks and draws only what it changed.
_PARSED: OrderedDict[str, _Parsed] = OrderedDict()
_PARSED_MAX = 8
_WEDGES_MAX = 256
_LOCK = threading.Lock()


def input_digest(doc: dict[str, Any]) -> str:
    """Return the digest of a plan input: the key its parse is kept under (kept in the state beside it)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _parsed(doc: dict[str, Any], limits: Any, digest: str | None = None) -> _Parsed:
    """Return the parse of a plan input (and its mounts' verdicts), from the cache when this input was read before."""
    key = f"{digest or input_digest(doc)}|{limits!r}"
    with _LOCK:
        hit = _PARSED.get(key)
        if hit is not None:
            _PARSED.move_to_end(key)
            return hit
    inp = parse_plan_input(doc, Path("/nonexistent"), limits=limits)
    parsed = _Parsed(inp, {m.id: _check(inp, m) for m in inp.mounts})
    with _LOCK:
        _PARSED[key] = parsed
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return parsed


def _pose_key(mount: Mount, pose: Pose) -> tuple[float, ...]:
    """Return what a camera's coverage depends on, beside the input: where it is and how it looks."""
    return (mount.x, mount.y, mount.height_m, pose.heading_deg, pose.hfov_deg, float(pose.width_px))


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    with _LOCK:
        cache[key] = value
        while len(cache) > _WEDGES_MAX:
            cache.popitem(last=False)


def _columns(parsed: _Parsed) -> Callable[[PlanInput, list[Mount], list[Pose]], sparse.csc_matrix]:
    """Return evaluate_layout's coverage builder that keeps each camera's column of the matrix."""
    def coverage_of(inp: PlanInput, mounts: list[Mount], poses: list[Pose]) -> sparse.csc_matrix:
        keys = [_pose_key(mounts[p.mount_index], p) for p in poses]
        with _LOCK:
            known = {key: parsed.columns[key] for key in keys if key in parsed.columns}
        missing = [j for j, key in enumerate(keys) if key not in known]
        if missing:
            fresh = _coverage(inp, mounts, [poses[j] for j in missing])
            for n, j in enumerate(missing):
                known[keys[j]] = fresh[:, n]
                _remember(parsed.columns, keys[j], fresh[:, n])
        if not poses:
            return sparse.csc_matrix((len(inp.demand), 0), dtype=bool)
        return sparse.hstack([known[key] for key in keys], format="csc")

    return coverage_of


def _infeasible(parsed: _Parsed) -> Callable[[Mount, MountCheck], dict[str, Any] | None]:
    """Return plan_geojson's unusable-mount drawer that keeps the features of the input's own mounts."""
    proj = parsed.input.projection

    def infeasible(mount: Mount, check: MountCheck) -> dict[str, Any] | None:
        own = parsed.checks.get(mount.id) is check
        if own and mount.id in parsed.infeasible:
            feature = parsed.infeasible[mount.id]
        else:
            feature = infeasible_feature(proj, mount, check)
            if own:
                with _LOCK:
                    parsed.infeasible[mount.id] = feature
        # Fresh properties for each answer (readers add their words to them).
        return None if feature is None else {**feature, "properties": dict(feature["properties"])}

    return infeasible


def _wedges(parsed: _Parsed) -> Callable[[PlanResult, Pose, str], list[dict[str, Any]]]:
    """Return plan_geojson's coverage drawer that keeps each camera's wedges, by where it is and how it looks."""
    def coverage(result: PlanResult, pose: Pose, cam_id: str) -> list[dict[str, Any]]:
        key = _pose_key(result.input.mounts[pose.mount_index], pose)
        with _LOCK:
            drawn = parsed.wedges.get(key)
        if drawn is None:
            drawn = coverage_features(result, pose, "")
            _remember(parsed.wedges, key, drawn)
        # Fresh properties for each answer (readers add their words to them); geometry is shared, never changed.
        return [{"type": "Feature", "geometry": f["geometry"], "properties": {**f["properties"], "camera_id": cam_id}}
                for f in drawn]

    return coverage


def _state_parsed(state: dict[str, Any], limits: Any) -> _Parsed:
    return _parsed(state["input"], limits, state.get("input_digest"))


def state_result(state: dict[str, Any], limits: Any) -> PlanResult:
    """Return the solved-plan view of a workbench state: its layout's coverage, checks and cost."""
    return _state_result(state, _state_parsed(state, limits))


def _state_result(state: dict[str, Any], parsed: _Parsed) -> PlanResult:
    switch = (float(state["switch"][0]), float(state["switch"][1])) if state.get("switch") else None
    return evaluate_layout(parsed.input, state.get("layout") or [], bound=state.get("bound"), k=state.get("k"),
                           budget=state.get("budget"), switch_at=switch, known_checks=parsed.checks,
                           coverage_of=_columns(parsed))


def empty_geojson(state: dict[str, Any]) -> dict[str, Any]:
    """Return the plan document of a design not yet ready to evaluate (no demand or no mount)."""
    return _stamped({"type": "FeatureCollection", "features": [], "plan": {"cameras": 0}, "workbench": state})


def _stamped(geojson: dict[str, Any]) -> dict[str, Any]:
    """Return the plan document with its state's network stamp (the plan list reads only the summary) and, when
    its facts changed since the design was drawn, what they were before (network_freshness), in the summary too."""
    for key in (NETWORK_STAMP, NETWORK_REFRESHED):
        value = geojson["workbench"].get(key)
        if value is not None:
            geojson["plan"][key] = value
    return geojson


def evaluate_state(state: dict[str, Any], limits: Any) -> dict[str, Any]:
    """Return the plan document of a state: the GeoJSON of its layout, with its summary and the state itself."""
    if not (state["input"]["demand"] and state["input"]["mounts"]):
        return empty_geojson(state)
    parsed = _state_parsed(state, limits)
    result = _state_result(state, parsed)
    geojson = plan_geojson(result, coverage=_wedges(parsed), infeasible=_infeasible(parsed))
    geojson["plan"].update(layout_summary(result))
    geojson["workbench"] = state
    return _stamped(geojson)


def optimised_state(state: dict[str, Any], solved: dict[str, Any], k: int, budget: float | None) -> dict[str, Any]:
    """Return the plan document of a state whose layout the optimiser chose (`solved`: `optimise_input`'s answer)."""
    state = {**state, "layout": solved["layout"], "bound": solved["bound"], "k": k, "budget": budget}
    geojson = solved["geojson"]
    geojson["workbench"] = state
    return _stamped(geojson)
