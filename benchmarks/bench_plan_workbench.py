"""Workbench benchmark: answering a camera move (PATCH /api/v1/plans/<id>/cameras/<n>) and a full optimisation.

Run: .venv/bin/python -m benchmarks.bench_plan_workbench [--moves 30] [--pois 200] [--mounts 50]
     [--large] [--time-limit 1.5] [--repeats 1] [--json OUT]

Village: a village-sized design (issue #18: at most 200 points of interest and 50 mounts, plus
four demand areas and a dozen building footprints) is drawn around a site of the seeded
demo commune, optimised once for 6 cameras through the API, then one camera is dragged
`--moves` times; each move is timed from the request to the answer (Flask's test client
on a temporary SQLite inventory: the server's own work, no network).  The goal is 200 ms.

Large (`--large`): the placement benchmark's 2,000 points × 1,200 poses instance (K = 12,
benchmarks/bench_placement.py), in process: a full optimisation (coverage matrix, greedy,
HiGHS under `--time-limit`, then the workbench's GeoJSON and summary of the answer; the gap
is reported, as the placement code does) and `--moves` moves of one camera through the
workbench's evaluation (`evaluate_layout`, GeoJSON, summary: what a PATCH computes, without
the request and the database).  A design that size is not drawn by hand on the workbench.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

GOAL_S = 0.2


def _square(lat: float, lon: float, dx: float, dy: float, half_m: float) -> list[list[float]]:
    """Return a closed square ring ([lon, lat]) of half-side `half_m` centred dx, dy metres from (lat, lon)."""
    k_lat, k_lon = 1 / 111_320.0, 1 / (111_320.0 * math.cos(math.radians(lat)))
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    return [[round(lon + (dx + sx * half_m) * k_lon, 7), round(lat + (dy + sy * half_m) * k_lat, 7)]
            for sx, sy in corners]


def village_design(lat: float, lon: float, *, pois: int = 200, mounts: int = 50, areas: int = 4,
                   buildings: int = 12, seed: int = 7) -> dict[str, Any]:
    """Return a village-sized workbench design (GeoJSON) around (lat, lon): ~300 m across."""
    rng = np.random.default_rng(seed)
    k_lat, k_lon = 1 / 111_320.0, 1 / (111_320.0 * math.cos(math.radians(lat)))

    def point(x: float, y: float) -> dict[str, Any]:
        return {"type": "Point", "coordinates": [round(lon + x * k_lon, 7), round(lat + y * k_lat, 7)]}

    levels = ["Detect", "Observe", "Recognise", "Identify"]
    features: list[dict[str, Any]] = [{"type": "Feature", "geometry": point(0, 0),
                                       "properties": {"kind": "switch", "poe_budget_w": 240}}]
    for i in range(areas):
        dx, dy = rng.uniform(-100, 100, 2)
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
            _square(lat, lon, float(dx), float(dy), 15.0)]},
            "properties": {"kind": "demand", "name": f"Khu {i + 1}", "level": levels[i % 2], "spacing_m": 5}})
    for i in range(pois):
        x, y = rng.uniform(-140, 140, 2)
        features.append({"type": "Feature", "geometry": point(float(x), float(y)),
                         "properties": {"kind": "poi", "name": f"Điểm {i + 1}", "level": levels[i % 4]}})
    for _ in range(buildings):
        dx, dy = rng.uniform(-120, 120, 2)
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
            _square(lat, lon, float(dx), float(dy), 5.0)]}, "properties": {"kind": "obstacle"}})
    for i in range(mounts):
        x, y = rng.uniform(-130, 130, 2)
        features.append({"type": "Feature", "geometry": point(float(x), float(y)),
                         "properties": {"kind": "mount", "id": f"m{i + 1}", "height_m": 6,
                                        "power": "poe" if i % 5 else "mains"}})
    return {"type": "FeatureCollection", "features": features}


def run(moves: int, pois: int, mounts: int, k: int = 6, freeze: bool = True) -> dict[str, Any]:
    """Return the figures: optimisation seconds and the median/p95/max of `moves` camera moves."""
    from sitescout.cmd_serve import freeze_startup_objects
    from sitescout.inventory import store
    from sitescout.inventory.db import open_database
    from sitescout.inventory.demo_data import seed_demo
    from sitescout.web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        database = open_database(f"sqlite:///{Path(tmp) / 'inventory.sqlite3'}")
        with database.session() as session:
            seed = seed_demo(session)
            token = store.create_token(session, "editor")
            site = store.get_site(session, seed.site_ids[0]).site
        app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "bench-" + "k" * 32})
        if freeze:
            freeze_startup_objects()  # as `sitescout serve` and the demo do once the app is built
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        design = village_design(site.latitude, site.longitude, pois=pois, mounts=mounts)
        created = client.post(f"/api/v1/sites/{site.id}/plan-alternatives", json={"name": "bench", "design": design},
                              headers=auth)
        assert created.status_code == 201, created.text
        plan_id = created.get_json()["saved"]["plan_id"]
        t0 = time.perf_counter()
        solved = client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": k, "time_limit_s": 1.5}, headers=auth)
        optimise_s = time.perf_counter() - t0
        assert solved.status_code == 200, solved.text
        camera = solved.get_json()["workbench"]["layout"][0]
        times, cpu = [], []
        for i in range(moves):
            angle = 2 * math.pi * i / max(moves, 1)
            body = {"lat": camera["lat"] + 0.0001 * math.sin(angle), "lon": camera["lon"] + 0.0001 * math.cos(angle),
                    "heading_deg": (camera["heading_deg"] + 15 * i) % 360}
            t, c = time.perf_counter(), time.thread_time()
            moved = client.patch(f"/api/v1/plans/{plan_id}/cameras/1", json=body, headers=auth)
            cpu.append(time.thread_time() - c)  # the server's own CPU: what the neighbours' load does not change
            times.append(time.perf_counter() - t)
            assert moved.status_code == 200, moved.text
        answer = moved.get_json()
        database.close()
    times.sort()
    demand_points = sum(1 for f in answer["features"] if f["properties"]["kind"] == "demand")
    return {"pois": pois, "mounts": mounts, "demand_points": demand_points, "k": k, "moves": moves,
            "optimise_s": round(optimise_s, 3), "move_median_s": round(statistics.median(times), 4),
            "move_p95_s": round(times[min(len(times) - 1, int(0.95 * len(times)))], 4),
            "move_max_s": round(times[-1], 4), "goal_s": GOAL_S,
            **{f"move_cpu_{key}": v for key, v in _percentiles(cpu).items()},
            "answer_bytes": len(moved.data), "gap": answer["plan"].get("gap")}


def _percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"median_s": round(statistics.median(times), 4),
            "p95_s": round(times[min(len(times) - 1, int(0.95 * len(times)))], 4), "max_s": round(times[-1], 4)}


def large(moves: int, time_limit: float, seed: int = 0) -> dict[str, Any]:
    """Return the figures of the 2,000 × 1,200 instance: full optimisation and camera moves, in process."""
    try:
        from benchmarks.bench_placement import instance
    except ImportError:  # run as a script (the ledger does): benchmarks/ itself is on the path
        from bench_placement import instance  # type: ignore[import-not-found,no-redef]
    from sitescout.inventory.planning.coverage import LocalProjection, Obstacles
    from sitescout.inventory.planning.dori import DEFAULT_PROFILE
    from sitescout.inventory.planning.feasibility import CameraModel, check_mount
    from sitescout.inventory.planning.placement import CoverageProblem, build_coverage, optimise
    from sitescout.inventory.planning.plan_input import PlanInput
    from sitescout.inventory.planning.plan_io import PlanResult, plan_geojson
    from sitescout.inventory.planning.workbench import evaluate_layout, layout_from_result, layout_summary

    demand, mounts, poses = instance(2000, 1200, seed)
    models = [CameraModel("2mp", 1920, 1080, (90.0,)), CameraModel("4mp-vf", 2560, 1440, (30.0, 90.0))]
    inp = PlanInput("bench", LocalProjection(21.73, 105.31), DEFAULT_PROFILE, 1.6, demand, mounts, models, {}, {},
                    Obstacles.empty())
    k = 12
    t0 = time.perf_counter()
    checks = [check_mount(m, models) for m in mounts]
    matrix = build_coverage(demand, mounts, poses)
    problem = CoverageProblem.from_poses(matrix, demand, poses, mounts, {})
    solution = optimise(problem, k, time_limit_s=time_limit)
    result = PlanResult(inp, checks, poses, matrix, solution, k, None, {})
    geojson = plan_geojson(result)
    geojson["plan"].update(layout_summary(result))
    optimise_s = time.perf_counter() - t0
    layout = [{key: v for key, v in cam.items() if key not in ("lat", "lon")} for cam in layout_from_result(result)]
    known = {m.id: c for m, c in zip(mounts, checks)}
    mount = inp.mounts[result.chosen[0].mount_index]
    times, cpu = [], []
    for i in range(moves):
        angle = 2 * math.pi * i / max(moves, 1)
        lat, lon = inp.projection.to_latlon(mount.x + 10 * math.cos(angle), mount.y + 10 * math.sin(angle))
        layout[0] = {**layout[0], "lat": float(lat), "lon": float(lon), "heading_deg": (15.0 * i) % 360}
        t, c = time.perf_counter(), time.thread_time()
        moved = evaluate_layout(inp, layout, bound=solution.bound, k=k, known_checks=known)
        answer = plan_geojson(moved)
        answer["plan"].update(layout_summary(moved))
        cpu.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
    return {"points": len(demand), "poses": len(poses), "k": k, "time_limit_s": time_limit,
            "optimise_s": round(optimise_s, 3), "status": solution.status, "gap": solution.gap,
            "moves": moves, **{f"move_{key}": v for key, v in _percentiles(times).items()},
            **{f"move_cpu_{key}": v for key, v in _percentiles(cpu).items()}}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (or write) its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--pois", type=int, default=200)
    parser.add_argument("--mounts", type=int, default=50)
    parser.add_argument("--large", action="store_true", help="also the 2,000 × 1,200 instance, in process")
    parser.add_argument("--time-limit", type=float, default=1.5, help="HiGHS's limit for the large instance (s)")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the startup objects in the full garbage collections (servers before #18)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each case (a fresh inventory each)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.repeats):
        entry: dict[str, Any] = {"village": run(args.moves, args.pois, args.mounts, freeze=not args.no_freeze)}
        if args.large:
            entry["large"] = large(args.moves, args.time_limit)
        runs.append(entry)
    text = json.dumps(runs, indent=1)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if all(r["village"]["move_p95_s"] <= GOAL_S for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
