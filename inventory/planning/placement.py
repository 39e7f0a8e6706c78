"""Camera placement as a maximal covering problem: greedy, then an exact MILP with an honest gap.

The model (research: planning-anchors.md §3, Church & ReVelle's MCLP):
``max Σ w_i·y_i`` subject to ``y_i ≤ Σ_{j∈N_i} x_j``, ``Σ x_j ≤ K``, optionally
``Σ c_j·x_j ≤ B``, at most `max_cameras` poses per mount, and every shared limit
(uplink headroom, PoE budget, radio capacity) ``Σ u_rj·x_j ≤ U_r``; x binary,
0 ≤ y ≤ 1.  A pose j is (mount, heading, model, zoom step); N_i are the poses that
see point i at its required DORI level with a clear line of sight.  Infeasible
mounts and models are dropped before the solver sees them.

Greedy runs first (coverage is monotone submodular: ≥ 1 − 1/e of the optimum
under a camera count alone).  Then HiGHS (``scipy.optimize.milp``) runs within a
time limit.  The answer is the better of the two; its gap is measured against
HiGHS's own dual bound, never assumed.  The objective is always recomputed
from the chosen poses, not read from the solver.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .coverage import Obstacles, segments_clear
from .dori import DEFAULT_PROFILE, DoriProfile
from .feasibility import CameraModel, Mount, MountCheck

__all__ = [
    "Demand",
    "Pose",
    "CoverageProblem",
    "Solution",
    "candidate_poses",
    "mount_headings",
    "build_coverage",
    "solve_greedy",
    "solve_milp",
    "optimise",
    "coverage_value",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Demand:
    """A point that should be seen at a DORI level, with its weight (areas are sampled into points)."""

    id: str
    x: float
    y: float
    level: str
    weight: float = 1.0
    area: str | None = None


@dataclass(frozen=True)
class Pose:
    """One way to use a mount: a model pointed at a heading with a zoom step."""

    mount_id: str
    mount_index: int
    model: str
    heading_deg: float
    hfov_deg: float
    width_px: int
    price: float
    bitrate_kbps: float
    bitrate_source: str
    resources: dict[str, float] = field(default_factory=dict)


def mount_headings(mount: Mount, *, n_headings: int = 8, aims: np.ndarray | None = None,
                   aim_within_m: float = 0.0) -> tuple[float, ...]:
    """Return the distinct headings to try at a mount (degrees).

    The mount's own headings, else `n_headings` evenly spaced plus (rounded to 1°) the bearing
    to every aim point within `aim_within_m` of the mount.  A heading given twice is one pose:
    a list that repeats itself costs nothing more.
    """
    if mount.headings_deg:
        return tuple(dict.fromkeys(round(float(h) % 360.0, 9) for h in mount.headings_deg))  # given order
    headings = {360.0 * i / n_headings for i in range(n_headings)}
    if aims is not None and len(aims):
        d = np.hypot(aims[:, 0] - mount.x, aims[:, 1] - mount.y)
        near = aims[(d <= aim_within_m) & (d > 0)]
        extra = np.round(np.degrees(np.arctan2(near[:, 0] - mount.x, near[:, 1] - mount.y))) % 360.0
        headings |= {float(h) for h in extra}
    return tuple(sorted(headings))


def candidate_poses(mounts: list[Mount], checks: list[MountCheck], models: list[CameraModel],
                    *, n_headings: int = 8, aim_at: list[tuple[float, float]] | None = None,
                    aim_within_m: float = 0.0, headings: list[tuple[float, ...]] | None = None) -> list[Pose]:
    """Return every feasible (mount, heading, model, zoom) pose; infeasible ones never appear.

    Headings per mount are `headings` when given (as `mount_headings` returns them), else
    `mount_headings` of each mount with `n_headings`, `aim_at` and `aim_within_m`.
    """
    by_name = {m.model: m for m in models}
    aims = np.asarray(aim_at or [], dtype=float).reshape(-1, 2)
    poses = []
    for index, (mount, check) in enumerate(zip(mounts, checks)):
        if check.reasons:
            continue
        tried = headings[index] if headings is not None else mount_headings(
            mount, n_headings=n_headings, aims=aims, aim_within_m=aim_within_m)
        for pose_check in check.poses:
            if not pose_check.is_feasible:
                continue
            model = by_name[pose_check.model]
            for hfov in model.hfov_deg:
                for heading in tried:
                    poses.append(Pose(mount.id, index, model.model, float(heading) % 360.0, float(hfov),
                                      model.width_px, model.price, pose_check.bitrate_kbps,
                                      pose_check.bitrate_source, dict(pose_check.resources)))
    return poses


def build_coverage(demand: list[Demand], mounts: list[Mount], poses: list[Pose], *,
                   profile: DoriProfile = DEFAULT_PROFILE, target_height_m: float = 1.6,
                   obstacles: Obstacles | None = None) -> sparse.csc_matrix:
    """Return the P×J boolean matrix: does pose j see point i at i's required level."""
    n_points, n_poses = len(demand), len(poses)
    if not n_points or not n_poses:
        return sparse.csc_matrix((n_points, n_poses), dtype=bool)
    pts = np.array([[d.x, d.y] for d in demand], dtype=float)
    levels = np.array([profile.index(d.level) for d in demand], dtype=int)
    ppm = np.array([lv.ppm for lv in profile.levels])
    obstacles = obstacles or Obstacles.empty()
    pose_mount = np.array([p.mount_index for p in poses])
    width = np.array([p.width_px for p in poses], dtype=float)
    hfov = np.array([p.hfov_deg for p in poses], dtype=float)
    heading = np.array([p.heading_deg for p in poses], dtype=float)
    # Slant range of every level for every pose, then the ground range at the mount's height.
    slant = width[:, None] / (2.0 * ppm[None, :] * np.tan(np.radians(hfov) / 2.0)[:, None])
    heights = np.array([mounts[i].height_m for i in pose_mount])
    drop2 = ((heights - target_height_m) ** 2)[:, None]
    ground = np.sqrt(np.maximum(slant * slant - drop2, 0.0))  # (J, L)
    rows, cols = [], []
    order = np.argsort(pose_mount, kind="stable")
    bounds = np.flatnonzero(np.diff(pose_mount[order])) + 1
    for group in np.split(order, bounds):
        mount = mounts[pose_mount[group[0]]]
        reach = ground[group].max()
        dx, dy = pts[:, 0] - mount.x, pts[:, 1] - mount.y
        near = np.flatnonzero((np.abs(dx) <= reach) & (np.abs(dy) <= reach))
        if not len(near):
            continue
        dist = np.hypot(dx[near], dy[near])
        close = dist <= reach
        near, dist = near[close], dist[close]
        if not len(near):
            continue
        if len(obstacles):
            seen = segments_clear((mount.x, mount.y), pts[near], obstacles.near(mount.x, mount.y, reach))
            near, dist = near[seen], dist[seen]
        bearing = np.degrees(np.arctan2(dx[near], dy[near])) % 360.0
        diff = np.abs((bearing[None, :] - heading[group][:, None] + 180.0) % 360.0 - 180.0)
        ok = (diff <= hfov[group][:, None] / 2.0 + 1e-9) & (dist[None, :] <= ground[group][:, levels[near]])
        g, p = np.nonzero(ok)
        rows.append(near[p])
        cols.append(group[g])
    if not rows:
        return sparse.csc_matrix((n_points, n_poses), dtype=bool)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csc_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(n_points, n_poses))


@dataclass
class CoverageProblem:
    """The solver's view: coverage matrix, weights and every constraint, geometry-free."""

    coverage: sparse.csc_matrix  # P×J bool
    weights: np.ndarray  # (P,)
    costs: np.ndarray  # (J,)
    groups: np.ndarray  # (J,) mount index of each pose
    group_caps: np.ndarray  # (G,) max poses per mount
    usage: np.ndarray  # (R, J) consumption of each shared limit
    capacities: np.ndarray  # (R,)
    resource_names: tuple[str, ...] = ()

    @classmethod
    def from_poses(cls, coverage: sparse.csc_matrix, demand: list[Demand], poses: list[Pose],
                   mounts: list[Mount], capacities: dict[str, float]) -> CoverageProblem:
        """Return the problem for poses built by `candidate_poses`."""
        names = tuple(sorted({r for p in poses for r in p.resources if r in capacities}))
        usage = np.zeros((len(names), len(poses)))
        for j, pose in enumerate(poses):
            for r, name in enumerate(names):
                usage[r, j] = pose.resources.get(name, 0.0)
        return cls(
            coverage=coverage,
            weights=np.array([d.weight for d in demand], dtype=float),
            costs=np.array([p.price for p in poses], dtype=float),
            groups=np.array([p.mount_index for p in poses], dtype=int),
            group_caps=np.array([m.max_cameras for m in mounts], dtype=int),
            usage=usage,
            capacities=np.array([capacities[n] for n in names], dtype=float),
            resource_names=names,
        )


def coverage_value(problem: CoverageProblem, chosen: list[int] | tuple[int, ...]) -> float:
    """Return the weighted coverage of a set of poses."""
    if not len(chosen):
        return 0.0
    covered = np.asarray(problem.coverage[:, list(chosen)].sum(axis=1)).ravel() > 0
    return float(problem.weights[covered].sum())


def _fits(problem: CoverageProblem, chosen: list[int], budget: float | None) -> np.ndarray:
    """Return which poses can still be added to `chosen` without breaking a constraint."""
    n = problem.coverage.shape[1]
    ok = np.ones(n, dtype=bool)
    ok[chosen] = False
    if chosen:
        counts = np.bincount(problem.groups[chosen], minlength=len(problem.group_caps))
        ok &= counts[problem.groups] < problem.group_caps[problem.groups]
    else:
        ok &= problem.group_caps[problem.groups] > 0
    if budget is not None:
        ok &= problem.costs <= budget - problem.costs[chosen].sum() + 1e-9
    if len(problem.capacities):
        left = problem.capacities - problem.usage[:, chosen].sum(axis=1)
        ok &= (problem.usage <= left[:, None] + 1e-9).all(axis=0)
    return ok


def _greedy(problem: CoverageProblem, k: int, budget: float | None, per_cost: bool) -> list[int]:
    at = problem.coverage.T.tocsr().astype(float)  # J×P
    left = problem.weights.astype(float).copy()
    chosen: list[int] = []
    if not at.shape[0]:
        return chosen
    for _ in range(k):
        gains = at @ left
        if per_cost:
            gains = gains / np.maximum(problem.costs, 1e-9)
        gains[~_fits(problem, chosen, budget)] = -1.0
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        left[problem.coverage[:, j].indices] = 0.0
    return chosen


def solve_greedy(problem: CoverageProblem, k: int, budget: float | None = None) -> list[int]:
    """Return a greedy choice of at most `k` poses (best of gain and gain-per-cost when budgeted)."""
    best = _greedy(problem, k, budget, per_cost=False)
    if budget is not None and problem.costs.any():
        other = _greedy(problem, k, budget, per_cost=True)
        if coverage_value(problem, other) > coverage_value(problem, best):
            best = other
    return best


def _merge_rows(problem: CoverageProblem) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Return the covered, de-duplicated rows of the coverage matrix with their summed weights."""
    a = problem.coverage.tocsr()
    a.sort_indices()
    keys: dict[bytes, int] = {}
    target = np.full(a.shape[0], -1)
    for i in range(a.shape[0]):
        idx = a.indices[a.indptr[i]:a.indptr[i + 1]]
        if len(idx) and problem.weights[i] > 0:
            target[i] = keys.setdefault(idx.tobytes(), len(keys))
    keep = np.flatnonzero(target >= 0)
    first = np.zeros(len(keys), dtype=int)
    first[target[keep][::-1]] = keep[::-1]
    weights = np.bincount(target[keep], weights=problem.weights[keep], minlength=len(keys))
    return a[first], weights


@dataclass(frozen=True)
class MilpResult:
    """What HiGHS returned: a choice (maybe none), its status and its dual bound."""

    chosen: list[int] | None
    status: str  # "optimal" | "time_limit" | "failed"
    dual_bound: float | None  # an upper bound on the optimum (maximisation), None when unknown
    message: str


def solve_milp(problem: CoverageProblem, k: int, budget: float | None = None, *, time_limit_s: float = 1.5,
               mip_rel_gap: float = 0.0) -> MilpResult:
    """Solve the covering MILP with HiGHS within a time limit."""
    a, w = _merge_rows(problem)
    n_x, n_y = problem.coverage.shape[1], a.shape[0]
    if n_x == 0 or n_y == 0:
        return MilpResult([], "optimal", 0.0, "nothing to cover")
    blocks = [sparse.hstack([-a.astype(float), sparse.identity(n_y, format="csr")], format="csr")]
    lower: list[np.ndarray] = [np.full(n_y, -np.inf)]
    upper: list[np.ndarray] = [np.zeros(n_y)]

    def add(row: sparse.spmatrix, ub: np.ndarray) -> None:
        blocks.append(sparse.hstack([row, sparse.csr_matrix((row.shape[0], n_y))], format="csr"))
        lower.append(np.full(row.shape[0], -np.inf))
        upper.append(ub)

    add(sparse.csr_matrix(np.ones((1, n_x))), np.array([float(k)]))
    if budget is not None:
        add(sparse.csr_matrix(problem.costs[None, :]), np.array([float(budget)]))
    groups = sparse.csr_matrix((np.ones(n_x), (problem.groups, np.arange(n_x))),
                               shape=(len(problem.group_caps), n_x))
    used = np.flatnonzero(np.asarray(groups.sum(axis=1)).ravel() > problem.group_caps)
    if len(used):
        add(groups[used], problem.group_caps[used].astype(float))
    if len(problem.capacities):
        add(sparse.csr_matrix(problem.usage), problem.capacities.astype(float))
    constraint = LinearConstraint(sparse.vstack(blocks, format="csr"), np.concatenate(lower), np.concatenate(upper))
    c = np.concatenate([np.zeros(n_x), -w])
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    res = milp(c, constraints=constraint, integrality=integrality, bounds=Bounds(0.0, 1.0),
               options={"time_limit": max(time_limit_s, 0.01), "mip_rel_gap": mip_rel_gap, "disp": False})
    bound = getattr(res, "mip_dual_bound", None)
    dual = -float(bound) if bound is not None and np.isfinite(bound) else None
    chosen = None if res.x is None else [int(j) for j in np.flatnonzero(res.x[:n_x] > 0.5)]
    status = "optimal" if res.status == 0 else "time_limit" if res.status == 1 else "failed"
    if status == "optimal" and dual is None:
        dual = float(w @ np.clip(res.x[n_x:], 0, 1)) if res.x is not None else None
    return MilpResult(chosen, status, dual, str(res.message))


@dataclass(frozen=True)
class Solution:
    """The chosen poses, their weighted coverage and how far from optimal they may be."""

    chosen: tuple[int, ...]
    objective: float
    bound: float | None  # upper bound on the optimum from HiGHS's dual bound; None if unknown
    gap: float | None  # (bound − objective) / bound
    status: str  # "optimal" | "time_limit" | "greedy_only"
    method: str  # which answer was kept: "milp" | "greedy"
    greedy_objective: float
    total_weight: float
    timings_s: dict[str, float]


def optimise(problem: CoverageProblem, k: int, budget: float | None = None, *, time_limit_s: float = 1.5,
             mip_rel_gap: float = 0.0, use_milp: bool = True) -> Solution:
    """Choose up to `k` poses maximising weighted coverage: greedy, then HiGHS within the time limit."""
    if k < 0:
        raise ValueError("k must not be negative")
    t0 = time.perf_counter()
    greedy = solve_greedy(problem, k, budget)
    greedy_value = coverage_value(problem, greedy)
    t1 = time.perf_counter()
    timings = {"greedy": t1 - t0}
    chosen, value, method, bound, status = greedy, greedy_value, "greedy", None, "greedy_only"
    if use_milp:
        result = solve_milp(problem, k, budget, time_limit_s=max(time_limit_s - (t1 - t0), 0.01),
                            mip_rel_gap=mip_rel_gap)
        timings["milp"] = time.perf_counter() - t1
        bound = result.dual_bound
        status = result.status if result.status != "failed" else "greedy_only"
        if result.chosen is not None:
            milp_value = coverage_value(problem, result.chosen)
            if milp_value > value + 1e-9:
                chosen, value, method = result.chosen, milp_value, "milp"
            elif result.status == "optimal":
                method = "milp" if math.isclose(milp_value, value, rel_tol=1e-9, abs_tol=1e-9) else method
        log.debug("milp %s: %s (bound %s)", status, result.message, bound)
    if bound is not None and bound < value:
        # HiGHS's bound holds within its tolerances; beyond them it is not a bound we can report.
        if value - bound <= 1e-6 * max(1.0, abs(value)):
            bound = value
        else:
            log.warning("dual bound %.6g below the objective %.6g: gap unknown", bound, value)
            bound = None
    gap = None if bound is None else (0.0 if bound <= 0 else (bound - value) / bound)
    return Solution(tuple(sorted(chosen)), value, bound, gap, status, method, greedy_value,
                    float(problem.weights.sum()), timings)
