"""Placement planner benchmark: coverage build, greedy and HiGHS MILP on village-like instances.

Run: .venv/bin/python benchmarks/bench_placement.py [--seeds 3] [--time-limit 1.5] [--long 10] [--size 2000x1200]
     [--json OUT]

Instances: demand points uniform over a square of side 6·sqrt(P) m with required
levels Detect 60 % / Observe 30 % / Recognise 10 % and integer weights 1–4; mounts
uniform over the same square, 4 m high; two models (2 MP 90°, 4 MP varifocal 30°/90°)
and 4 headings, so each mount yields 12 poses.  One camera per mount.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from sitescout.inventory.planning.feasibility import CameraModel, Mount, check_mount
from sitescout.inventory.planning.placement import CoverageProblem, Demand, build_coverage, candidate_poses, optimise

SIZES = [(500, 300, 8), (2000, 1200, 12), (4000, 2400, 25)]


def instance(n_points: int, n_poses: int, seed: int) -> tuple[list[Demand], list[Mount], list]:
    """Return a village-like instance with exactly `n_poses` candidate poses."""
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n_points) * 6.0)
    mounts = [Mount(f"m{i}", *map(float, rng.uniform(0, side, 2)), height_m=4.0, power="mains", cable_m=30.0)
              for i in range(n_poses // 12)]
    models = [CameraModel("2mp", 1920, 1080, (90.0,)), CameraModel("4mp-vf", 2560, 1440, (30.0, 90.0))]
    poses = candidate_poses(mounts, [check_mount(m, models) for m in mounts], models, n_headings=4)
    levels = rng.choice(["Detect", "Observe", "Recognise"], size=n_points, p=[0.6, 0.3, 0.1])
    demand = [Demand(str(i), *map(float, rng.uniform(0, side, 2)), level=str(levels[i]),
                     weight=float(rng.integers(1, 5))) for i in range(n_points)]
    return demand, mounts, poses


def run(n_points: int, n_poses: int, k: int, seed: int, time_limit: float) -> dict:
    """Return timings and quality of one solve."""
    demand, mounts, poses = instance(n_points, n_poses, seed)
    t0 = time.perf_counter()
    matrix = build_coverage(demand, mounts, poses)
    problem = CoverageProblem.from_poses(matrix, demand, poses, mounts, {})
    t1 = time.perf_counter()
    sol = optimise(problem, k, time_limit_s=time_limit)
    t2 = time.perf_counter()
    return {"points": n_points, "poses": len(poses), "k": k, "seed": seed, "nnz": int(matrix.nnz),
            "time_limit_s": time_limit, "build_s": t1 - t0, "greedy_s": sol.timings_s["greedy"],
            "milp_s": sol.timings_s.get("milp"), "total_s": t2 - t0, "status": sol.status, "method": sol.method,
            "objective": sol.objective, "greedy": sol.greedy_objective, "bound": sol.bound, "gap": sol.gap,
            "greedy_fraction": sol.greedy_objective / sol.objective if sol.objective else 1.0}


def main() -> None:
    """Run every size and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=1.5)
    ap.add_argument("--long", type=float, default=0.0, help="also run seed 0 with this longer limit")
    ap.add_argument("--size", action="append", metavar="POINTSxPOSES",
                    help="only this size (e.g. 2000x1200); repeatable; default: every size")
    ap.add_argument("--json")
    args = ap.parse_args()
    sizes = [s for s in SIZES if args.size is None or f"{s[0]}x{s[1]}" in args.size]
    if not sizes:
        ap.error(f"--size: pick from {', '.join(f'{p}x{q}' for p, q, _ in SIZES)}")
    rows = []
    for n_points, n_poses, k in sizes:
        for seed in range(args.seeds):
            rows.append(run(n_points, n_poses, k, seed, args.time_limit))
        if args.long:
            rows.append(run(n_points, n_poses, k, 0, args.long))
    print("| points × poses | K | limit s | seed | nnz | build s | greedy s | MILP s | total s | status | gap | "
          "greedy / MILP |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gap = "—" if r["gap"] is None else f"{r['gap']:.2%}"
        print(f"| {r['points']} × {r['poses']} | {r['k']} | {r['time_limit_s']:g} | {r['seed']} | {r['nnz']} | "
              f"{r['build_s']:.3f} | {r['greedy_s']:.4f} | {r['milp_s']:.2f} | {r['total_s']:.2f} | "
              f"{r['status']} | {gap} | {r['greedy_fraction']:.4f} |")
    for n_points, n_poses, _ in sizes:
        sel = [r for r in rows if r["points"] == n_points and r["time_limit_s"] == args.time_limit]
        print(f"median total {n_points}×{n_poses}: {statistics.median(r['total_s'] for r in sel):.2f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
