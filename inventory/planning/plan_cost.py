"""What solving a plan will cost, estimated before anything big is allocated, and the limits it must fit.

The costly steps, read from the code (placement.build_coverage, coverage.segments_clear,
placement.optimise, plan_io.plan_geojson), per mount g with |g| candidate poses, n_g demand points
within its reach (a square, as build_coverage selects them) and e_g obstacle edges near it:

- line of sight: segments_clear builds about five float64 arrays of n_g × e_g at once
  (denominator, t, u and the temporaries of the cross products): ~40 bytes a cell;
- the wedge and range test: |g| × n_g float64 and boolean arrays, ~32 bytes a cell;
- the coverage matrix: at most n_g × (the mount's poses that can see one point) entries, kept as
  int64 row and column lists, concatenated, then converted to CSC: ~56 bytes an entry; the
  greedy and HiGHS then hold several float copies of it: ~110 bytes an entry;
- the dense (shared limits × poses) usage matrix, the Pose and Demand objects themselves, and
  the coverage bands of the chosen cameras (181 rays × e_g per camera).

Each bound is an upper bound computed in O(points + mounts + edges) time: points and edges are
counted in squares with a prefix-summed grid (whole grid cells, so never fewer than the truth), and
the entries of a mount's column block assume every point in its square is in range.  The
constants were checked against tracemalloc and the child's peak RSS (tests/test_plan_cost.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .coverage import Obstacles
from .dori import DoriProfile
from .feasibility import CameraModel, Mount, MountCheck

__all__ = ["PlanLimits", "PlanCost", "PlanTooLarge", "DEFAULT_LIMITS", "estimate_plan_cost", "check_checks",
           "check_sampling", "ground_range_m", "headings_in_window"]

#: Bytes, per unit, of what the solver and the coverage grid allocate (see the module docstring).
SIGHT_BYTES_PER_CELL = 40
WEDGE_BYTES_PER_CELL = 32
BUILD_BYTES_PER_ENTRY = 56
SOLVE_BYTES_PER_ENTRY = 110
POSE_BYTES = 900  # a Pose dataclass with its resources dict, and its slots in every per-pose array
DEMAND_BYTES = 700  # a Demand dataclass, its id string, and its slots in the per-point arrays
FEATURE_BYTES = 1000  # one demand point's GeoJSON Feature (dicts, lists, floats) and its pickled copy
BAND_RAYS = 181
#: Seconds of CPU per unit of work, measured on a 2-core 2.x GHz machine (rounded up).
SECONDS_PER_SIGHT_CELL = 2.5e-8
SECONDS_PER_WEDGE_CELL = 2.0e-8
SECONDS_PER_CHECK = 6e-5
SECONDS_PER_POSE = 4e-6


class PlanTooLarge(ValueError):
    """A plan input whose solving would cost more than the limits; the message names what is too big."""


@dataclass(frozen=True)
class PlanLimits:
    """The most one plan may cost: estimated peak memory and CPU seconds, and feasibility checks."""

    max_bytes: int = 768 * 1024 * 1024
    max_seconds: float = 60.0
    max_checks: int = 200_000  # mounts × camera models, each a feasibility check in Python
    max_points: int = 250_000  # demand points after sampling areas and the background grid
    max_sampling_cells: int = 300_000_000  # grid points × polygon vertices tested while sampling areas


DEFAULT_LIMITS = PlanLimits()


@dataclass(frozen=True)
class PlanCost:
    """The estimated cost of one plan, with the figures a refusal names."""

    points: int
    poses: int
    obstacle_edges: int
    sight_cells: int  # the largest single line-of-sight block, n_g × e_g
    sight_total: int  # Σ n_g × e_g
    wedge_cells: int  # Σ |g| × n_g
    entries: int  # upper bound of the coverage matrix's entries
    resources: int
    peak_bytes: int
    seconds: float
    biggest_mount: str | None
    biggest_mount_poses: int

    def refusal(self, limits: PlanLimits) -> str | None:
        """Return why the plan is refused under `limits` (what is too big, by how much), or None."""
        if self.peak_bytes <= limits.max_bytes and self.seconds <= limits.max_seconds:
            return None
        terms = {
            "line of sight (demand points near a mount × obstacle edges near it)":
                self.sight_cells * SIGHT_BYTES_PER_CELL,
            "camera poses × demand points in reach (mounts × headings × zoom steps × points)":
                self.wedge_cells * WEDGE_BYTES_PER_CELL,
            "coverage matrix entries": self.entries * (BUILD_BYTES_PER_ENTRY + SOLVE_BYTES_PER_ENTRY),
            "camera poses": self.poses * POSE_BYTES + self.resources * self.poses * 9,
            "demand points": self.points * (DEMAND_BYTES + FEATURE_BYTES),
        }
        worst = max(terms, key=lambda k: terms[k])
        what = (f"about {_size(self.peak_bytes)} of memory (at most {_size(limits.max_bytes)})"
                if self.peak_bytes > limits.max_bytes else
                f"about {self.seconds:.0f} s of CPU (at most {limits.max_seconds:g} s)")
        detail = (f"{self.points:,} demand points, {self.poses:,} camera poses, "
                  f"{self.obstacle_edges:,} obstacle edges")
        hint = ""
        if self.biggest_mount is not None and self.biggest_mount_poses > 1000:
            hint = f"; mount {self.biggest_mount!r} alone has {self.biggest_mount_poses:,} poses (fewer headings_deg)"
        return (f"the plan is too large to solve: it would need {what}, mostly for {worst} "
                f"({detail}){hint}; raise spacing_m, simplify obstacles, or give fewer mounts, headings or "
                "zoom steps")


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_checks(n_mounts: int, n_models: int, limits: PlanLimits = DEFAULT_LIMITS) -> None:
    """Refuse, before any feasibility check runs, more mount × model checks than `limits` allow."""
    if n_mounts * n_models > limits.max_checks:
        raise PlanTooLarge(f"the plan is too large to solve: {n_mounts:,} mounts × {n_models:,} camera models "
                           f"= {n_mounts * n_models:,} feasibility checks (at most {limits.max_checks:,}); "
                           "give fewer mounts or camera models")


def check_sampling(where: str, grid_points: float, vertices: int, points_so_far: int,
                   limits: PlanLimits = DEFAULT_LIMITS) -> None:
    """Refuse, before sampling, an area whose grid (or its test against the polygon) is beyond `limits`."""
    if points_so_far + grid_points > limits.max_points:
        raise PlanTooLarge(f"{where}: about {grid_points:,.0f} sample points (with {points_so_far:,} before it; "
                           f"at most {limits.max_points:,} in one plan); raise spacing_m or cover a smaller area")
    if grid_points * vertices > limits.max_sampling_cells:
        raise PlanTooLarge(f"{where}: a polygon of {vertices:,} vertices over {grid_points:,.0f} grid points is "
                           f"{grid_points * vertices:,.0f} tests (at most {limits.max_sampling_cells:,}); "
                           "simplify the polygon or raise spacing_m")


def ground_range_m(model: CameraModel, hfov_deg: float, ppm: float, height_m: float,
                   target_height_m: float) -> float:
    """Return how far (ground metres) a density of `ppm` reaches for this model, zoom step and height."""
    slant = model.width_px / (2.0 * ppm * math.tan(math.radians(hfov_deg) / 2.0))
    return math.sqrt(max(slant * slant - (height_m - target_height_m) ** 2, 0.0))


def headings_in_window(headings: tuple[float, ...], width_deg: float) -> int:
    """Return the most headings any closed window of `width_deg` holds (the poses that can see one point)."""
    if not headings:
        return 0
    if width_deg >= 360.0:
        return len(headings)
    h = np.sort(np.asarray(headings, dtype=float) % 360.0)
    wrapped = np.concatenate([h, h + 360.0])
    ends = np.searchsorted(wrapped, h + width_deg + 2e-9, side="right")
    return int(min(len(h), (ends - np.arange(len(h))).max()))


def _square_counts(xy: np.ndarray, centres: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Return, for each centre, at least how many points lie within its square (whole grid cells counted)."""
    if not len(xy) or not len(centres):
        return np.zeros(len(centres), dtype=np.int64)
    lo = np.minimum(xy.min(axis=0), centres.min(axis=0))
    hi = np.maximum(xy.max(axis=0), centres.max(axis=0))
    span = float(max(hi - lo)) + 1e-6
    cell = max(span / 512.0, 1e-3)
    n = int(span / cell) + 2
    ix = np.clip(((xy[:, 0] - lo[0]) / cell).astype(np.int64), 0, n - 1)
    iy = np.clip(((xy[:, 1] - lo[1]) / cell).astype(np.int64), 0, n - 1)
    grid = np.zeros((n + 1, n + 1), dtype=np.int64)
    np.add.at(grid, (iy + 1, ix + 1), 1)
    table = grid.cumsum(axis=0).cumsum(axis=1)

    def index(v: np.ndarray, axis: int, low: int) -> np.ndarray:
        return np.clip(np.floor((v - lo[axis]) / cell).astype(np.int64), low, n - 1)

    # First and last grid cell of each square; a square wholly below the grid has last = -1 (empty).
    x0, x1 = index(centres[:, 0] - halves, 0, 0), index(centres[:, 0] + halves, 0, -1)
    y0, y1 = index(centres[:, 1] - halves, 1, 0), index(centres[:, 1] + halves, 1, -1)
    counts = table[y1 + 1, x1 + 1] - table[y0, x1 + 1] - table[y1 + 1, x0] + table[y0, x0]
    return np.where((x1 >= x0) & (y1 >= y0), counts, 0)


def estimate_plan_cost(points_xy: np.ndarray, point_levels: np.ndarray, mounts: list[Mount],
                       checks: list[MountCheck], models: list[CameraModel], headings: list[tuple[float, ...]],
                       obstacles: Obstacles, profile: DoriProfile, target_height_m: float, *, n_resources: int,
                       k: int, features: int, time_limit_s: float) -> PlanCost:
    """Return the estimated cost of covering `points_xy` (levels as profile indices) from these mounts' poses.

    `features` is how many GeoJSON features the answer will hold per demand point (the non-background ones).
    """
    by_name = {m.model: m for m in models}
    ppm = np.array([level.ppm for level in profile.levels], dtype=float)
    poses_per_mount = np.zeros(len(mounts), dtype=np.int64)
    reach = np.zeros(len(mounts))
    # One row per (mount, model, zoom step): where, how many of its poses may see one point, reach per level.
    where, seers, reaches = [], [], []
    for i, (mount, check, mount_headings) in enumerate(zip(mounts, checks, headings)):
        if check.reasons:
            continue
        for pose_check in check.poses:
            if not pose_check.is_feasible:
                continue
            model = by_name[pose_check.model]
            for hfov in model.hfov_deg:
                poses_per_mount[i] += len(mount_headings)
                by_level = [ground_range_m(model, hfov, d, mount.height_m, target_height_m) for d in ppm]
                reach[i] = max(reach[i], max(by_level))
                where.append(i)
                seers.append(headings_in_window(mount_headings, hfov))
                reaches.append(by_level)
    used = np.flatnonzero(poses_per_mount > 0)
    xy = np.array([[m.x, m.y] for m in mounts], dtype=float).reshape(-1, 2)
    near_points = _square_counts(points_xy, xy[used], reach[used])
    if len(obstacles):
        mid = (obstacles.a + obstacles.b) / 2.0
        half = float(np.max(np.abs(obstacles.b - obstacles.a))) / 2.0
        near_edges = _square_counts(mid, xy[used], reach[used] + half)
    else:
        near_edges = np.zeros(len(used), dtype=np.int64)
    # Coverage entries: a point is seen by a pose only within that pose's reach at the point's own level.
    entries = 0
    rows, seer_counts, reach_table = np.array(where, dtype=np.int64), np.array(seers), np.array(reaches)
    for level in range(len(ppm)):
        at_level = points_xy[point_levels == level]
        if len(at_level) and len(rows):
            counts = _square_counts(at_level, xy[rows], reach_table[:, level])
            entries += int((seer_counts * counts).sum())
    sight = near_points * near_edges
    wedge = poses_per_mount[used] * near_points
    poses = int(poses_per_mount.sum())
    n_points = len(points_xy)
    base = n_points * DEMAND_BYTES + features * FEATURE_BYTES + poses * POSE_BYTES + len(obstacles) * 64
    block = int(max((sight * SIGHT_BYTES_PER_CELL).max(initial=0), (wedge * WEDGE_BYTES_PER_CELL).max(initial=0)))
    build = block + n_points * 48 + entries * BUILD_BYTES_PER_ENTRY
    solve = entries * SOLVE_BYTES_PER_ENTRY + n_resources * poses * 9 + poses * 64
    bands = BAND_RAYS * int(near_edges.max(initial=0)) * SIGHT_BYTES_PER_CELL
    seconds = (float(sight.sum()) * SECONDS_PER_SIGHT_CELL + float(wedge.sum()) * SECONDS_PER_WEDGE_CELL
               + len(mounts) * len(models) * SECONDS_PER_CHECK + poses * SECONDS_PER_POSE
               + k * entries * 2e-8 + time_limit_s)
    biggest = int(np.argmax(poses_per_mount)) if len(mounts) else -1
    return PlanCost(n_points, poses, len(obstacles), int(sight.max(initial=0)), int(sight.sum()), int(wedge.sum()),
                    entries, n_resources, base + max(build, solve, bands), seconds,
                    mounts[biggest].id if biggest >= 0 else None,
                    int(poses_per_mount[biggest]) if biggest >= 0 else 0)
