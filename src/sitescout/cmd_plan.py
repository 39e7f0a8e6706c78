"""`sitescout plan`: DORI ranges of a camera, and camera placement for a site."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sitescout.cmdutil import write_text_atomic
from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `plan` command and its `dori` and `place` subcommands."""
    # Imported here, not at the top: this change touches parser construction only (the module's imports
    # are being reorganised elsewhere); hoist it with them.

    plan = subparsers.add_parser(
        "plan", help=_("camera planning: DORI ranges and automatic placement"),
        description=_("Camera planning per IEC 62676-4: DORI ranges of a camera, and the best cameras for a site."))
    sub = plan.add_subparsers(dest="plan_command", metavar=_("SUBCOMMAND"))
    sub.required = True

    dori = sub.add_parser("dori", help=_("print the DORI ranges of a camera"),
                          description=_("Print how far each DORI level reaches for a horizontal resolution and "
                          "field of view (or focal length and sensor width)."))
    dori.add_argument("--resolution", type=int, required=True, metavar="PX", help=_("horizontal pixels, e.g. 1920"))
    dori.add_argument("--hfov", type=float, metavar="DEG", help=_("horizontal field of view in degrees"))
    dori.add_argument("--focal-mm", type=float, metavar="MM", help=_("focal length (with --sensor-mm)"))
    dori.add_argument("--sensor-mm", type=float, metavar="MM", help=_("sensor width (with --focal-mm)"))
    dori.add_argument("--profile", default="iec62676-4:2014", metavar=_("PROFILE"),
                      help=_("threshold profile: iec62676-4:2014 (default) or iec62676-4:2025"))
    dori.add_argument("--height", type=float, default=0.0, metavar="M", help=_("camera mounting height (m)"))
    dori.add_argument("--target-height", type=float, default=None, metavar="M",
                      help=_("height of the target (m; default 1.6 when --height is given, else 0)"))
    dori.add_argument("--all", action="store_true", help=_("also print Monitor and Inspect (2014 profile)"))
    dori.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    dori.set_defaults(func=_cmd_dori)

    place = sub.add_parser("place", help=_("choose up to K cameras for a site"),
                           description=_("Check every candidate mount (power, cable, radio, uplink, PoE), then "
                           "choose up to K cameras maximising weighted DORI coverage: greedy, then an exact "
                           "MILP (HiGHS) within a time limit, with its optimality gap."))
    place.add_argument("--input", type=Path, required=True, metavar=_("FILE"),
                       help=_("plan input JSON (see docs/examples/plan_village.json)"))
    place.add_argument("--k", type=int, required=True, metavar="N", help=_("at most this many cameras"))
    place.add_argument("--budget", type=float, metavar=_("AMOUNT"), help=_("at most this total camera price"))
    place.add_argument("--time-limit", type=float, default=1.5, metavar="S",
                       help=_("solver time limit in seconds (default 1.5)"))
    place.add_argument("--greedy-only", action="store_true", help=_("skip the MILP (no optimality gap)"))
    place.add_argument("--no-cost-limit", action="store_true",
                       help=_("solve even when the estimated cost is beyond the limits the server uses "
                       "(about 768 MiB of memory or 60 s of CPU); this machine's memory is then the limit"))
    place.add_argument("--geojson", type=Path, metavar=_("OUT"), help=_("write cameras, coverage bands and mounts"))
    place.add_argument("--bom", type=Path, metavar=_("OUT.csv"), help=_("write the bill of materials"))
    place.add_argument("--report", type=Path, metavar=_("OUT.html"), help=_("write the printable plan report"))
    place.add_argument("--site", metavar=_("NAME_OR_ID"),
                       help=_("save the plan in the inventory for this site (its cameras become planned devices)"))
    place.add_argument("--db", metavar="URL",
                       help=_("inventory database URL for --site (default: a SQLite file in the user's data dir)"))
    place.add_argument("--name", metavar=_("TEXT"), help=_("name of the saved plan (default: the date and K)"))
    place.set_defaults(func=_cmd_place)


def _cmd_dori(args: argparse.Namespace) -> int:
    from sitescout.inventory.planning.dori import dori_ranges, get_profile, hfov_from_lens

    if args.resolution <= 0:
        raise UsageError(_("--resolution must be a positive pixel count"))
    try:
        profile = get_profile(args.profile)
    except ValueError as err:
        from sitescout.inventory.planning.dori import PROFILES

        raise UsageError(_("unknown DORI profile {name!r}; use one of: {profiles}").format(
            name=args.profile, profiles=", ".join(PROFILES))) from err
    if args.hfov is not None and (args.focal_mm is not None or args.sensor_mm is not None):
        raise UsageError(_("give either --hfov or --focal-mm with --sensor-mm, not both"))
    if args.hfov is None:
        if args.focal_mm is None or args.sensor_mm is None:
            raise UsageError(_("give --hfov, or --focal-mm and --sensor-mm"))
        if args.focal_mm <= 0 or args.sensor_mm <= 0:
            raise UsageError(_("--focal-mm and --sensor-mm must be positive"))
        hfov = hfov_from_lens(args.focal_mm, args.sensor_mm)
    else:
        hfov = args.hfov
    if not 0 < hfov < 180:
        raise UsageError(_("--hfov must be between 0 and 180 degrees"))
    if args.height < 0:
        raise UsageError(_("--height must not be negative"))
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
    from sitescout.plan_words import level_text, number

    print(_("{profile}: {pixels} px across {hfov}°").format(profile=profile.name, pixels=args.resolution,
                                                            hfov=number(hfov, 2))
          + (_(", camera at {height} m, target {target} m").format(height=number(args.height, -1),
                                                                   target=number(target, -1)) if args.height else ""))
    level, range_m, ground_m = _("level"), _("range m"), _("ground m")
    width = max([13] + [len(level_text(r.level)) + 2 for r in ranges])
    print(f"{level:<{width}}{'px/m':>8}{range_m:>10}{ground_m:>10}")
    for r in reversed(ranges):
        print(f"{level_text(r.level):<{width}}{number(r.ppm, -1):>8}{number(r.slant_m, 2):>10}"
              f"{number(r.ground_m, 2):>10}")
    return 0


def _read_input(path: Path) -> dict:
    """Return the parsed plan input file; a file that cannot be read or parsed is a PlanInputError."""
    from sitescout.inventory.planning import plan_input

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise plan_input.PlanInputError(_("cannot read {path}: {reason}").format(
            path=path, reason=err.strerror)) from err
    except json.JSONDecodeError as err:
        raise plan_input.PlanInputError(_("{path} is not JSON: {reason}").format(path=path, reason=err)) from err


def _cmd_place(args: argparse.Namespace) -> int:
    from sitescout.inventory.planning import plan_input, plan_io, plan_report

    if args.k < 1:
        raise UsageError(_("--k must be at least 1"))
    if args.budget is not None and args.budget < 0:
        raise UsageError(_("--budget must not be negative"))
    if not 0 < args.time_limit <= 600:
        raise UsageError(_("--time-limit must be between 0 and 600 seconds"))
    if (args.db or args.name) and not args.site:
        raise UsageError(_("--db and --name save a plan: give --site NAME_OR_ID too"))
    from sitescout.inventory.planning.plan_cost import DEFAULT_LIMITS, PlanTooLarge

    limits = None if args.no_cost_limit else DEFAULT_LIMITS
    try:
        doc = _read_input(args.input)
        if args.site:
            doc = _with_site_network(args, doc)
        inp = plan_input.parse_plan_input(doc, args.input.parent, limits=limits)
        result = plan_io.make_plan(inp, args.k, budget=args.budget, time_limit_s=args.time_limit,
                                   use_milp=not args.greedy_only, limits=limits)
    except PlanTooLarge as err:
        raise CommandError(_("--input: {reason} (or pass --no-cost-limit)").format(reason=err)) from err
    except plan_input.PlanInputError as err:
        from sitescout.cmdutil import coded_text

        raise UsageError(f"--input: {coded_text(err)}") from err
    from sitescout.plan_words import camera_text, network_text, port_text, reason_text, solution_text

    sol = result.solution
    print(solution_text(inp.site, len(sol.chosen), sol))
    ports = result.switch_ports()
    for n, pose in enumerate(result.chosen):
        print(f"  {result.camera_id(n)}  {pose.mount_id:<20} {pose.model:<24} "
              + camera_text(pose.heading_deg, pose.hfov_deg, pose.bitrate_kbps, pose.bitrate_source)
              + ("" if ports[n] is None else f"  {port_text(ports[n])}"))
    print(network_text(inp.network))

    for mount, check in zip(inp.mounts, result.checks):
        for reason in check.all_reasons():
            print(_("  not used: {mount}: {reason}").format(mount=mount.id, reason=reason_text(reason)),
                  file=sys.stderr)
    if args.geojson:
        write_text_atomic(args.geojson, json.dumps(plan_io.plan_geojson(result), ensure_ascii=False, indent=1) + "\n")
    if args.bom:
        write_text_atomic(args.bom, plan_report.bom_csv(result))
    if args.report:
        write_text_atomic(args.report, plan_report.render_plan_html(result))
    if args.site:
        _save(args, plan_io.plan_geojson(result))
    return 0


def _with_site_network(args: argparse.Namespace, doc: Any) -> Any:
    """Return the plan input with the site's surveyed switches, ports and uplink (`--site`), over its typed numbers."""
    from sqlalchemy.exc import SQLAlchemyError

    from sitescout.cmdutil import open_inventory
    from sitescout.import_words import reason_text
    from sitescout.inventory.planning.network_facts import with_site_network
    from sitescout.inventory.planning.plans import PlanError, find_site

    database = open_inventory(args.db)
    try:
        with database.session() as session:
            return with_site_network(session, find_site(session, args.site), doc)
    except PlanError as err:
        raise CommandError(f"--site: {reason_text(err.message)}") from err
    except SQLAlchemyError as err:
        raise CommandError(_("--db: cannot read the site's network from the inventory: {reason}").format(
            reason=err)) from err
    finally:
        database.close()


def _too_far(err: Any) -> str:
    """Return why a plan kilometres from its site is not saved, in the reader's language."""
    from babel.numbers import format_decimal

    from sitescout.i18n import language

    return _("--site: the plan lies {distance} km from the site {site}; every point of a plan must be within "
             "{limit} km of its site. Check that this is the right site and that the plan's latitude and "
             "longitude are right.").format(
        distance=format_decimal(round(err.distance_m / 1000, 1), format="#,##0.0", locale=language()),
        site=err.site_name, limit=format_decimal(err.limit_m / 1000, locale=language()))


def _save(args: argparse.Namespace, geojson: dict) -> None:
    from datetime import datetime

    from sqlalchemy.exc import SQLAlchemyError

    from sitescout.cmdutil import open_inventory
    from sitescout.import_words import reason_text
    from sitescout.inventory.db import ConflictError
    from sitescout.inventory.planning.plans import PlanError, PlanTooFar, find_site, save_plan

    name = args.name or f"{datetime.now():%Y-%m-%d %H:%M} K={args.k}"
    database = open_inventory(args.db)
    try:
        with database.session() as session:
            site_id = find_site(session, args.site)
            record = save_plan(session, site_id, geojson, name=name)
    except PlanTooFar as err:
        raise CommandError(_too_far(err)) from err
    except PlanError as err:
        raise CommandError(f"--site: {reason_text(err.message)}") from err
    except (ConflictError, ValueError, SQLAlchemyError) as err:
        raise CommandError(_("--db: cannot save the plan in the inventory: {reason}").format(reason=err)) from err
    finally:
        database.close()
    print(_("saved as plan {id} ({name!r}) of site {site}: {n} planned camera(s); on the map: /map?plan={id}").format(
        id=record.id, name=record.name, site=site_id, n=len(record.device_ids)))
