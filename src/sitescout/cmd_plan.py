"""`sitescout plan`: DORI ranges of a camera, and camera placement for a site."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sitescout.cmdutil import write_text_atomic
from sitescout.errors import CommandError, UsageError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `plan` command and its `dori` and `place` subcommands."""
    plan = subparsers.add_parser(
        "plan", help="camera planning: DORI ranges and automatic placement",
        description="Camera planning per IEC 62676-4: DORI ranges of a camera, and the best cameras for a site.")
    sub = plan.add_subparsers(dest="plan_command", metavar="SUBCOMMAND")
    sub.required = True

    dori = sub.add_parser("dori", help="print the DORI ranges of a camera",
                          description="Print how far each DORI level reaches for a horizontal resolution and "
                          "field of view (or focal length and sensor width).")
    dori.add_argument("--resolution", type=int, required=True, metavar="PX", help="horizontal pixels, e.g. 1920")
    dori.add_argument("--hfov", type=float, metavar="DEG", help="horizontal field of view in degrees")
    dori.add_argument("--focal-mm", type=float, metavar="MM", help="focal length (with --sensor-mm)")
    dori.add_argument("--sensor-mm", type=float, metavar="MM", help="sensor width (with --focal-mm)")
    dori.add_argument("--profile", default="iec62676-4:2014",
                      help="threshold profile: iec62676-4:2014 (default) or iec62676-4:2025")
    dori.add_argument("--height", type=float, default=0.0, metavar="M", help="camera mounting height (m)")
    dori.add_argument("--target-height", type=float, default=None, metavar="M",
                      help="height of the target (m; default 1.6 when --height is given, else 0)")
    dori.add_argument("--all", action="store_true", help="also print Monitor and Inspect (2014 profile)")
    dori.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dori.set_defaults(func=_cmd_dori)

    place = sub.add_parser("place", help="choose up to K cameras for a site",
                           description="Check every candidate mount (power, cable, radio, uplink, PoE), then "
                           "choose up to K cameras maximising weighted DORI coverage: greedy, then an exact "
                           "MILP (HiGHS) within a time limit, with its optimality gap.")
    place.add_argument("--input", type=Path, required=True, metavar="FILE",
                       help="plan input JSON (see docs/examples/plan_village.json)")
    place.add_argument("--k", type=int, required=True, metavar="N", help="at most this many cameras")
    place.add_argument("--budget", type=float, metavar="AMOUNT", help="at most this total camera price")
    place.add_argument("--time-limit", type=float, default=1.5, metavar="S",
                       help="solver time limit in seconds (default 1.5)")
    place.add_argument("--greedy-only", action="store_true", help="skip the MILP (no optimality gap)")
    place.add_argument("--geojson", type=Path, metavar="OUT", help="write cameras, coverage bands and mounts")
    place.add_argument("--bom", type=Path, metavar="OUT.csv", help="write the bill of materials")
    place.add_argument("--report", type=Path, metavar="OUT.html", help="write the printable plan report")
    place.add_argument("--site", metavar="NAME_OR_ID",
                       help="save the plan in the inventory for this site (its cameras become planned devices)")
    place.add_argument("--db", metavar="URL",
                       help="inventory database URL for --site (default: a SQLite file in the user's data dir)")
    place.add_argument("--name", metavar="TEXT", help="name of the saved plan (default: the date and K)")
    place.set_defaults(func=_cmd_place)


def _cmd_dori(args: argparse.Namespace) -> int:
    from sitescout.inventory.dori import dori_ranges, get_profile, hfov_from_lens

    if args.resolution <= 0:
        raise UsageError("--resolution must be a positive pixel count")
    try:
        profile = get_profile(args.profile)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.hfov is not None and (args.focal_mm is not None or args.sensor_mm is not None):
        raise UsageError("give either --hfov or --focal-mm with --sensor-mm, not both")
    if args.hfov is None:
        if args.focal_mm is None or args.sensor_mm is None:
            raise UsageError("give --hfov, or --focal-mm and --sensor-mm")
        if args.focal_mm <= 0 or args.sensor_mm <= 0:
            raise UsageError("--focal-mm and --sensor-mm must be positive")
        hfov = hfov_from_lens(args.focal_mm, args.sensor_mm)
    else:
        hfov = args.hfov
    if not 0 < hfov < 180:
        raise UsageError("--hfov must be between 0 and 180 degrees")
    if args.height < 0:
        raise UsageError("--height must not be negative")
    target = args.target_height if args.target_height is not None else (1.6 if args.height else 0.0)
    ranges = dori_ranges(args.resolution, hfov, profile=profile, camera_height_m=args.height,
                         target_height_m=target)
    if not args.all:
        ranges = [r for r in ranges if r.level in profile.headline]
    if args.json:
        print(json.dumps({"profile": profile.name, "resolution_px": args.resolution, "hfov_deg": round(hfov, 4),
                          "camera_height_m": args.height, "target_height_m": target,
                          "ranges": [{"level": r.level, "ppm": r.ppm, "slant_m": round(r.slant_m, 4),
                                      "ground_m": round(r.ground_m, 4)} for r in ranges]}, indent=2))
        return 0
    print(f"{profile.name}: {args.resolution} px across {hfov:.2f}°"
          + (f", camera at {args.height:g} m, target {target:g} m" if args.height else ""))
    print(f"{'level':<13}{'px/m':>8}{'range m':>10}{'ground m':>10}")
    for r in reversed(ranges):
        print(f"{r.level:<13}{r.ppm:>8g}{r.slant_m:>10.2f}{r.ground_m:>10.2f}")
    return 0


def _cmd_place(args: argparse.Namespace) -> int:
    from sitescout.inventory import plan_io

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must not be negative")
    if not 0 < args.time_limit <= 600:
        raise UsageError("--time-limit must be between 0 and 600 seconds")
    if (args.db or args.name) and not args.site:
        raise UsageError("--db and --name save a plan: give --site NAME_OR_ID too")
    try:
        inp = plan_io.load_plan_input(args.input)
    except plan_io.PlanInputError as err:
        raise UsageError(f"--input: {err}") from err
    result = plan_io.make_plan(inp, args.k, budget=args.budget, time_limit_s=args.time_limit,
                               use_milp=not args.greedy_only)
    sol = result.solution
    gap = "unknown" if sol.gap is None else f"{sol.gap:.2%}"
    print(f"{inp.site}: {len(sol.chosen)} camera(s), weighted coverage {sol.objective:.3f} of "
          f"{sol.total_weight:.3f}, gap {gap} ({sol.status}; answer from {sol.method}; "
          f"greedy {sol.greedy_objective:.3f})")
    for n, pose in enumerate(result.chosen):
        print(f"  {result.camera_id(n)}  {pose.mount_id:<20} {pose.model:<24} heading {pose.heading_deg:5.0f}°  "
              f"HFOV {pose.hfov_deg:5.1f}°  {pose.bitrate_kbps:.0f} kb/s ({pose.bitrate_source})")
    for mount, check in zip(inp.mounts, result.checks):
        for reason in check.all_reasons():
            print(f"  not used: {mount.id}: {reason}", file=sys.stderr)
    if args.geojson:
        write_text_atomic(args.geojson, json.dumps(plan_io.plan_geojson(result), ensure_ascii=False, indent=1) + "\n")
    if args.bom:
        write_text_atomic(args.bom, plan_io.bom_csv(result))
    if args.report:
        write_text_atomic(args.report, plan_io.render_plan_html(result))
    if args.site:
        _save(args, plan_io.plan_geojson(result))
    return 0


def _save(args: argparse.Namespace, geojson: dict) -> None:
    from datetime import datetime

    from sqlalchemy.exc import SQLAlchemyError

    from sitescout.inventory.db import ConflictError, DatabaseError, default_database_url, open_database
    from sitescout.inventory.plans import PlanError, find_site, save_plan

    url = args.db or default_database_url()
    name = args.name or f"{datetime.now():%Y-%m-%d %H:%M} K={args.k}"
    try:
        database = open_database(url)
    except DatabaseError as err:
        raise CommandError(f"{err}; check --db") from err
    try:
        with database.session() as session:
            site_id = find_site(session, args.site)
            record = save_plan(session, site_id, geojson, name=name)
    except PlanError as err:
        raise CommandError(f"--site: {err.message}") from err
    except (ConflictError, ValueError, SQLAlchemyError) as err:
        raise CommandError(f"--db: cannot save the plan in the inventory: {err}") from err
    finally:
        database.close()
    print(f"saved as plan {record.id} ({record.name!r}) of site {site_id}: {len(record.device_ids)} planned "
          f"camera(s); on the map: /map?plan={record.id}")
