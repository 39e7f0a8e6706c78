"""Solving a plan and its GeoJSON: check the mounts, build the coverage matrix, choose the cameras.

The GeoJSON output is one FeatureCollection whose features carry ``kind``:
``camera`` (Point; ``camera_id``, ``mount_id``, ``model``, ``heading_deg``,
``status: "planned"``), ``coverage`` (Polygon; ``camera_id``, ``dori_level``,
``colour``, ``min_m``/``max_m``, plus simplestyle ``fill``/``stroke``), ``demand``
(Point; ``covered``), ``infeasible_mount`` (Point; ``reasons``) and ``obstacle`` (Polygon: a building
footprint of the input, ``obstacle_id`` "obstacle-N").  The map draws
them as they are; the inventory can save every ``camera`` feature as a planned camera.
The input is read by `plan_input`; the bill of materials and the printable report are
in `plan_report`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .coverage import CameraView, LevelBand, LocalProjection, level_bands
from .feasibility import Mount, MountCheck, check_mount, resource_capacities
from .network_limits import PortAssignment, assign_ports
from .placement import CoverageProblem, Pose, Solution, build_coverage, candidate_poses, mount_headings, optimise
from .plan_cost import DEFAULT_LIMITS, PlanLimits, PlanTooLarge, check_checks, estimate_plan_cost
from .plan_input import PlanInput, parse_plan_input

__all__ = [
    "PlanTooLarge",
    "PlanResult",
    "LEVEL_COLOURS",
    "make_plan",
    "solve_to_geojson",
    "plan_geojson",
    "obstacle_features",
    "plan_summary",
    "camera_bands",
    "coverage_features",
    "infeasible_feature",
]

#: Band colours: JVSG's convention (identify red, recognise yellow, detect green, monitor blue),
#: with orange for observe; the 2025 levels run the same way from weakest to strongest.
LEVEL_COLOURS = {
    "Monitor": "#377eb8", "Detect": "#4daf4a", "Observe": "#ff7f00", "Recognise": "#ffd92f",
    "Identify": "#e41a1c", "Inspect": "#984ea3",
    "Overview": "#377eb8", "Outline": "#4daf4a", "Discern": "#a6d854", "Perceive": "#ffd92f",
    "Characterize": "#ff7f00", "Validate": "#e41a1c", "Scrutinize": "#984ea3",
}

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

    def switch_ports(self) -> list[PortAssignment | None]:
        """Return the switch port proposed for each chosen camera (None: on no surveyed switch)."""
        return assign_ports(self.input.mounts, self.input.switches, [p.mount_index for p in self.chosen])


def _aim_points(inp: PlanInput) -> list[tuple[float, float]]:
    """Return each point of interest and the centre of each area: headings worth trying."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for d in inp.demand:
        if d.area != "background":
            groups.setdefault(d.area or d.id, []).append((d.x, d.y))
    return [tuple(np.mean(pts, axis=0)) for pts in groups.values()]


def _max_reach(inp: PlanInput) -> float:
    """Return the farthest ground range any model reaches at the weakest level."""
    weakest = inp.profile.levels[0].ppm
    return max(m.width_px / (2.0 * weakest * math.tan(math.radians(min(m.hfov_deg)) / 2.0)) for m in inp.models)


def make_plan(inp: PlanInput, k: int, *, budget: float | None = None, time_limit_s: float = 1.5,
              use_milp: bool = True, limits: PlanLimits | None = DEFAULT_LIMITS) -> PlanResult:
    """Check every mount, build the coverage matrix and choose up to `k` cameras.

    Raises PlanTooLarge, before the costly steps, when the estimated cost exceeds `limits`
    (None: no limits, for callers that cap the process themselves).
    """
    t0 = time.perf_counter()
    if limits is not None:
        check_checks(len(inp.mounts), len(inp.models), limits)
    checks = [check_mount(m, inp.models, uplinks=inp.uplinks, switches=inp.switches, measured=inp.measured_kbps,
                          utilisation=inp.utilisation, overhead=inp.overhead) for m in inp.mounts]
    aims = np.asarray(_aim_points(inp), dtype=float).reshape(-1, 2)
    reach = _max_reach(inp)
    headings = [mount_headings(m, n_headings=inp.n_headings, aims=aims, aim_within_m=reach) for m in inp.mounts]
    caps = resource_capacities(inp.mounts, inp.uplinks, inp.switches, utilisation=inp.utilisation,
                               overhead=inp.overhead)
    if limits is not None:
        xy = np.array([[d.x, d.y] for d in inp.demand], dtype=float).reshape(-1, 2)
        levels = np.array([inp.profile.index(d.level) for d in inp.demand], dtype=int)
        features = sum(1 for d in inp.demand if d.area != "background")
        cost = estimate_plan_cost(xy, levels, inp.mounts, checks, inp.models, headings, inp.obstacles, inp.profile,
                                  inp.target_height_m, n_resources=len(caps), k=k, features=features,
                                  time_limit_s=time_limit_s if use_milp else 0.0)
        refusal = cost.refusal(limits)
        if refusal:
            raise PlanTooLarge(refusal)
    poses = candidate_poses(inp.mounts, checks, inp.models, headings=headings)
    t1 = time.perf_counter()
    matrix = build_coverage(inp.demand, inp.mounts, poses, profile=inp.profile,
                            target_height_m=inp.target_height_m, obstacles=inp.obstacles)
    t2 = time.perf_counter()
    problem = CoverageProblem.from_poses(matrix, inp.demand, poses, inp.mounts, caps)
    solution = optimise(problem, k, budget, time_limit_s=time_limit_s, use_milp=use_milp)
    t3 = time.perf_counter()
    return PlanResult(inp, checks, poses, matrix, solution, k, budget,
                      {"feasibility": t1 - t0, "coverage": t2 - t1, "solve": t3 - t2})


def solve_to_geojson(doc: dict[str, Any], k: int, budget: float | None = None, time_limit_s: float = 1.5,
                     limits: PlanLimits | None = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse a plan input given inline (no files), solve it within `limits`, and return its GeoJSON."""
    inp = parse_plan_input(doc, Path("/nonexistent"), limits=limits)
    return plan_geojson(make_plan(inp, k, budget=budget, time_limit_s=time_limit_s, limits=limits))


def _lonlat_ring(proj: LocalProjection, ring: np.ndarray) -> list[list[float]]:
    lat, lon = proj.to_latlon(ring[:, 0], ring[:, 1])
    coords = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)]
    return coords + coords[:1]


def camera_bands(result: PlanResult, pose: Pose) -> list[LevelBand]:
    """Return the DORI bands of one chosen pose, cut by the plan's obstacles."""
    inp = result.input
    mount = inp.mounts[pose.mount_index]
    view = CameraView(mount.x, mount.y, mount.height_m, pose.heading_deg, pose.hfov_deg, pose.width_px)
    return level_bands(view, profile=inp.profile, target_height_m=inp.target_height_m, obstacles=inp.obstacles,
                       levels=inp.profile.headline)


def coverage_features(result: PlanResult, pose: Pose, cam_id: str) -> list[dict[str, Any]]:
    """Return the coverage wedges (one Polygon per DORI band) of one chosen pose, in longitude/latitude."""
    proj, features = result.input.projection, []
    for band in camera_bands(result, pose):
        colour = LEVEL_COLOURS.get(band.level, "#888888")
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
            _lonlat_ring(proj, band.ring)]}, "properties": {
            "kind": "coverage", "camera_id": cam_id, "dori_level": band.level,
            "min_m": round(band.inner_m, 2), "max_m": round(band.outer_m, 2), "colour": colour,
            "fill": colour, "fill-opacity": 0.35, "stroke": colour, "stroke-width": 1}})
    return features


def plan_geojson(result: PlanResult, *,
                 coverage: Callable[[PlanResult, Pose, str], list[dict[str, Any]]] | None = None,
                 infeasible: Callable[[Mount, MountCheck], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """Return the plan as one GeoJSON FeatureCollection (cameras, coverage bands, demand, infeasible mounts).

    `coverage` returns a camera's wedges (default `coverage_features`) and `infeasible` a mount's
    feature when it cannot be used (default `infeasible_feature`): the workbench passes ones that
    keep what a camera move left unchanged.
    """
    inp, proj = result.input, result.input.projection
    coverage = coverage or coverage_features
    features: list[dict[str, Any]] = []
    ports = result.switch_ports()
    for n, pose in enumerate(result.chosen):
        mount = inp.mounts[pose.mount_index]
        cam_id = result.camera_id(n)
        port = {} if ports[n] is None else {"switch_port": ports[n].to_dict()}  # type: ignore[union-attr]
        lat, lon = proj.to_latlon(mount.x, mount.y)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            round(float(lon), 7), round(float(lat), 7)]}, "properties": {
            "kind": "camera", "camera_id": cam_id, "mount_id": pose.mount_id, "model": pose.model,
            "heading_deg": pose.heading_deg, "hfov_deg": round(pose.hfov_deg, 2), "height_m": mount.height_m,
            "bitrate_kbps": round(pose.bitrate_kbps), "bitrate_source": pose.bitrate_source, "price": pose.price,
            "status": "planned", "site": inp.site, **port}})
        features.extend(coverage(result, pose, cam_id))
    covered = result.covered
    lats, lons = proj.to_latlon(np.array([d.x for d in inp.demand], dtype=float),
                                np.array([d.y for d in inp.demand], dtype=float))
    for d, is_covered, lat, lon in zip(inp.demand, covered, np.round(lats, 7).tolist(), np.round(lons, 7).tolist()):
        if d.area == "background":
            continue
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {
            "kind": "demand", "demand_id": d.id, "area": d.area, "dori_level": d.level, "weight": d.weight,
            "covered": bool(is_covered)}})
    for mount, check in zip(inp.mounts, result.checks):
        feature = infeasible(mount, check) if infeasible else infeasible_feature(proj, mount, check)
        if feature is not None:
            features.append(feature)
    features.extend(obstacle_features(proj, inp.obstacles.rings))
    return {"type": "FeatureCollection", "features": features, "plan": plan_summary(result)}


def infeasible_feature(proj: LocalProjection, mount: Mount, check: MountCheck) -> dict[str, Any] | None:
    """Return a mount that cannot be used as a GeoJSON Point with its reasons (None when it can be used)."""
    reasons = check.all_reasons()
    if not reasons:
        return None
    lat, lon = proj.to_latlon(mount.x, mount.y)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [
        round(float(lon), 7), round(float(lat), 7)]}, "properties": {
        "kind": "infeasible_mount", "mount_id": mount.id, "reasons": [str(r) for r in reasons],
        "reason_codes": [_reason_code(r) for r in reasons], "reason": "; ".join(reasons)}}


def obstacle_features(proj: LocalProjection, rings: tuple[np.ndarray, ...]) -> list[dict[str, Any]]:
    """Return each obstacle footprint (local metres) as a GeoJSON Polygon feature of kind ``obstacle``."""
    return [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_lonlat_ring(proj, ring)]},
             "properties": {"kind": "obstacle", "obstacle_id": f"obstacle-{n + 1}", "fill": "#6b6b6b",
                            "fill-opacity": 0.6, "stroke": "#333333", "stroke-width": 1}}
            for n, ring in enumerate(_open(r) for r in rings) if len(ring) >= 3]


def _open(ring: np.ndarray) -> np.ndarray:
    """Return a ring without its closing point (GeoJSON repeats the first; `_lonlat_ring` adds it back)."""
    return ring[:-1] if len(ring) > 1 and np.allclose(ring[0], ring[-1]) else ring


def _reason_code(reason: str) -> dict[str, Any]:
    """Return a reason's code and parameters (readers render them in their language)."""
    to_dict = getattr(reason, "to_dict", None)
    return to_dict() if to_dict is not None else {"code": "other", "text": str(reason)}


def plan_summary(result: PlanResult) -> dict[str, Any]:
    """Return the plan's summary: cameras, objective, bound, gap, solver status, cost and timings."""
    sol = result.solution
    return {"site": result.input.site, "profile": result.input.profile.name, "k": result.k,
            "budget": result.budget, "cameras": len(sol.chosen), "objective": round(sol.objective, 6),
            "total_weight": round(sol.total_weight, 6), "bound": None if sol.bound is None else round(sol.bound, 6),
            "gap": None if sol.gap is None else round(sol.gap, 6), "status": sol.status, "method": sol.method,
            "greedy_objective": round(sol.greedy_objective, 6),
            "cost": round(sum(p.price for p in result.chosen), 2), "network": result.input.network,
            "timings_s": {k: round(v, 4) for k, v in {**result.timings_s, **sol.timings_s}.items()}}
