"""Placement optimiser: brute-force optimum on small instances, honest gap, constraints, speed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from sitescout.inventory.planning.feasibility import CameraModel, Mount, check_mount
from sitescout.inventory.planning.placement import (CoverageProblem, Demand, build_coverage, candidate_poses,
                                           coverage_value, optimise, solve_greedy)


def _random_problem(rng: np.random.Generator, n_points: int, n_poses: int, *, density: float = 0.3,
                    n_groups: int | None = None, resource: bool = False) -> CoverageProblem:
    cov = sparse.csc_matrix(rng.random((n_points, n_poses)) < density)
    groups = rng.integers(0, n_groups or n_poses, n_poses)
    n_g = int(groups.max()) + 1
    usage = rng.integers(1, 4, (1, n_poses)).astype(float) if resource else np.zeros((0, n_poses))
    caps = np.array([float(rng.integers(2, 7))]) if resource else np.zeros(0)
    return CoverageProblem(cov, rng.integers(1, 10, n_points).astype(float), rng.integers(1, 5, n_poses).astype(float),
                           groups, rng.integers(1, 3, n_g), usage, caps)


def _brute_force(p: CoverageProblem, k: int, budget: float | None) -> float:
    best = 0.0
    n = p.coverage.shape[1]
    for size in range(1, k + 1):
        for combo in itertools.combinations(range(n), size):
            c = list(combo)
            if budget is not None and p.costs[c].sum() > budget + 1e-9:
                continue
            if (np.bincount(p.groups[c], minlength=len(p.group_caps)) > p.group_caps).any():
                continue
            if len(p.capacities) and (p.usage[:, c].sum(axis=1) > p.capacities + 1e-9).any():
                continue
            best = max(best, coverage_value(p, c))
    return best


def _feasible(p: CoverageProblem, chosen: tuple[int, ...], k: int, budget: float | None) -> bool:
    c = list(chosen)
    return (len(c) <= k and (budget is None or p.costs[c].sum() <= budget + 1e-9)
            and not (np.bincount(p.groups[c], minlength=len(p.group_caps)) > p.group_caps).any()
            and not (len(p.capacities) and (p.usage[:, c].sum(axis=1) > p.capacities + 1e-9).any()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_points=st.integers(1, 12), n_poses=st.integers(1, 8),
       k=st.integers(1, 3), budgeted=st.booleans(), resource=st.booleans(), grouped=st.booleans())
def test_optimum_equals_brute_force_and_gap_is_honest(seed: int, n_points: int, n_poses: int, k: int,
                                                      budgeted: bool, resource: bool, grouped: bool) -> None:
    rng = np.random.default_rng(seed)
    p = _random_problem(rng, n_points, n_poses, n_groups=max(1, n_poses // 2) if grouped else None,
                        resource=resource)
    budget = float(rng.integers(1, 8)) if budgeted else None
    sol = optimise(p, k, budget, time_limit_s=5.0)
    best = _brute_force(p, k, budget)
    assert _feasible(p, sol.chosen, k, budget)
    assert sol.objective == pytest.approx(coverage_value(p, sol.chosen))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert sol.greedy_objective <= sol.objective + 1e-9
    assert sol.bound is not None and sol.objective - 1e-9 <= sol.bound
    assert best <= sol.bound + 1e-6
    assert sol.gap == pytest.approx(0.0, abs=1e-6)
    assert _feasible(p, tuple(solve_greedy(p, k, budget)), k, budget)


def test_time_limited_solve_reports_a_consistent_gap() -> None:
    rng = np.random.default_rng(7)
    p = _random_problem(rng, 3000, 1500, density=0.02, n_groups=300)
    sol = optimise(p, 30, time_limit_s=0.3)
    assert sol.status in ("optimal", "time_limit", "greedy_only")
    assert sol.greedy_objective <= sol.objective + 1e-9
    assert sol.objective == pytest.approx(coverage_value(p, sol.chosen))
    if sol.bound is not None:
        assert sol.bound >= sol.objective - 1e-6
        assert sol.gap == pytest.approx((sol.bound - sol.objective) / sol.bound)
    else:
        assert sol.gap is None


def test_greedy_only_has_no_gap() -> None:
    p = _random_problem(np.random.default_rng(1), 50, 20)
    sol = optimise(p, 3, use_milp=False)
    assert sol.status == "greedy_only" and sol.gap is None and sol.bound is None
    assert sol.objective == sol.greedy_objective


def _village(n_points: int, n_mounts: int, seed: int = 0) -> tuple[list[Demand], list[Mount], list]:
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n_points) * 6.0)
    mounts = [Mount(f"m{i}", *map(float, rng.uniform(0, side, 2)), height_m=4.0, power="mains", cable_m=30.0)
              for i in range(n_mounts)]
    mounts[0] = Mount("dark", mounts[0].x, mounts[0].y, 4.0, power="none", cable_m=30.0)
    models = [CameraModel("2mp", 1920, 1080, (90.0,)), CameraModel("4mp-vf", 2560, 1440, (30.0, 90.0))]
    checks = [check_mount(m, models) for m in mounts]
    poses = candidate_poses(mounts, checks, models, n_headings=4)
    levels = rng.choice(["Detect", "Observe", "Recognise"], size=n_points, p=[0.6, 0.3, 0.1])
    demand = [Demand(str(i), *map(float, rng.uniform(0, side, 2)), level=str(levels[i]),
                     weight=float(rng.integers(1, 5))) for i in range(n_points)]
    return demand, mounts, poses


def test_infeasible_mount_is_never_proposed() -> None:
    demand, mounts, poses = _village(300, 40)
    assert poses and all(p.mount_id != "dark" for p in poses)
    matrix = build_coverage(demand, mounts, poses)
    sol = optimise(CoverageProblem.from_poses(matrix, demand, poses, mounts, {}), 10)
    assert all(poses[j].mount_id != "dark" for j in sol.chosen)
    assert len({poses[j].mount_id for j in sol.chosen}) == len(sol.chosen)  # one camera per mount


def test_coverage_matrix_matches_point_by_point_geometry() -> None:
    demand, mounts, poses = _village(200, 10, seed=3)
    matrix = build_coverage(demand, mounts, poses, target_height_m=1.6).toarray()
    from sitescout.inventory.planning.dori import DEFAULT_PROFILE, ground_range, max_distance
    for j in range(0, len(poses), 7):
        pose, mount = poses[j], mounts[poses[j].mount_index]
        for i in range(0, len(demand), 3):
            d = demand[i]
            reach = ground_range(max_distance(pose.width_px, pose.hfov_deg, DEFAULT_PROFILE.level(d.level).ppm),
                                 mount.height_m, 1.6)
            dist = np.hypot(d.x - mount.x, d.y - mount.y)
            bearing = np.degrees(np.arctan2(d.x - mount.x, d.y - mount.y)) % 360
            off = abs((bearing - pose.heading_deg + 180) % 360 - 180)
            expected = dist <= reach and off <= pose.hfov_deg / 2
            assert matrix[i, j] == expected, (i, j)


def test_2000_points_by_1200_poses_solves_within_its_time_limit() -> None:
    # Speed is measured by benchmarks/bench_placement.py (docs/benchmarks.md); here the
    # full-size instance must come back with an answer, an honest gap and its timings.
    demand, mounts, poses = _village(2000, 101, seed=5)
    assert len(poses) == 1200  # 100 feasible mounts × 4 headings × 3 (model, zoom) pairs
    matrix = build_coverage(demand, mounts, poses)
    sol = optimise(CoverageProblem.from_poses(matrix, demand, poses, mounts, {}), 12, time_limit_s=1.5)
    assert sol.greedy_objective <= sol.objective
