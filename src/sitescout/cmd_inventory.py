"""`sitescout import` and `sitescout export`: sites and devices as CSV or GeoJSON, surveys as JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

_KINDS = ("sites", "devices", "surveys")
_FORMATS = ("csv", "geojson", "json")
_ORDER = {"sites": 0, "devices": 1, "surveys": 2}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the import and export subcommands."""
    p = sub.add_parser(
        "import",
        help="import sites, devices (CSV, GeoJSON) or survey documents (JSON) into the inventory",
        description="Import files into the inventory in one transaction: sites first, then devices, then "
        "surveys. Sites are keyed by region, commune and name; devices by site and name (existing ones "
        "are updated). If any row is bad, every bad row is listed and nothing changes.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a .csv, .geojson or .json file")
    p.add_argument("--kind", choices=_KINDS, help="what the files hold (default: guessed from their content)")
    p.add_argument("--format", choices=_FORMATS, help="file format (default: from the file name)")
    p.add_argument("--db", metavar="URL", help="inventory database URL (default: a SQLite file in the user's data dir)")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "export",
        help="export sites or devices (CSV, GeoJSON) or survey documents (JSON) from the inventory",
        description="Write the inventory's sites or devices as CSV or GeoJSON, or its survey documents as "
        "a JSON list, in the form `sitescout import` reads back. Credentials are never exported.",
    )
    p.add_argument("kind", choices=_KINDS, help="what to export")
    p.add_argument("--format", choices=_FORMATS, help="csv or geojson for sites/devices (default csv); json for surveys")
    p.add_argument("-o", "--output", default="-", metavar="PATH|-", help="where to write (default: stdout)")
    p.add_argument("--db", metavar="URL", help="inventory database URL (default: a SQLite file in the user's data dir)")
    p.set_defaults(func=_cmd_export)


def _open(url: str | None) -> Any:
    from sitescout.errors import CommandError
    from sitescout.inventory.db import DatabaseError, default_database_url, open_database

    try:
        return open_database(url or default_database_url())
    except DatabaseError as err:
        raise CommandError(f"{err}; check --db") from err


def _format_of(path: Path, given: str | None) -> str:
    from sitescout.errors import UsageError

    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in (".csv", ".geojson", ".json"):
        return suffix[1:]
    raise UsageError(f"{path}: cannot tell the format from the name; add --format csv|geojson|json")


def _load(path: Path, fmt: str, kind: str | None) -> tuple[str, Any]:
    import json

    from sitescout.errors import CommandError, UsageError
    from sitescout.inventory.importexport import ImportFailed, detect_kind, read_rows

    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except OSError as err:
        raise CommandError(f"cannot read {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise CommandError(f"{path} is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in a spreadsheet)") from err
    try:
        if fmt == "json":
            data = json.loads(text)
            if isinstance(data, dict) and data.get("type") == "FeatureCollection":
                fmt = "geojson"
            else:
                if kind not in (None, "surveys"):
                    raise UsageError(f"{path}: {kind} are imported from CSV or GeoJSON, not survey JSON")
                return "surveys", data
        rows = read_rows(text, fmt, source=str(path))
    except ImportFailed as err:
        _print_rows(err)
        raise CommandError(f"{err}; fix the rows and import again") from err
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise CommandError(f"{path}: {reason}") from err
    kind = kind or detect_kind(rows)
    if kind == "surveys":
        raise UsageError(f"{path}: survey documents are JSON files")
    return kind, rows


def _print_rows(err: Any) -> None:
    for row_error in err.errors:
        print(f"{row_error}", file=sys.stderr)


def _cmd_import(args: argparse.Namespace) -> int:
    from sitescout.errors import CommandError
    from sitescout.inventory.db import ConflictError
    from sitescout.inventory.importexport import ImportFailed, import_devices, import_sites, import_surveys

    loaded = [(path, *_load(path, _format_of(path, args.format), args.kind)) for path in args.files]
    loaded.sort(key=lambda item: _ORDER[item[1]])
    db = _open(args.db)
    lines = []
    try:
        with db.session() as session:
            for path, kind, data in loaded:
                importer = {"sites": import_sites, "devices": import_devices, "surveys": import_surveys}[kind]
                report = importer(session, data, source=str(path))
                extra = f", surveys {report.surveys}" if kind == "surveys" else ""
                lines.append(f"{path}: {kind}: {report.created} created, {report.updated} updated{extra}")
    except ImportFailed as err:
        _print_rows(err)
        raise CommandError(f"{err}; fix the rows and import again") from err
    except (ConflictError, ValueError) as err:
        raise CommandError(f"{err}; nothing imported") from err
    finally:
        db.close()
    print("\n".join(lines))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from sitescout.cmdutil import write_text_atomic
    from sitescout.errors import UsageError
    from sitescout.inventory import importexport as ie

    fmt = args.format or ("json" if args.kind == "surveys" else "csv")
    exporters = {
        ("sites", "csv"): ie.export_sites_csv, ("sites", "geojson"): ie.export_sites_geojson,
        ("devices", "csv"): ie.export_devices_csv, ("devices", "geojson"): ie.export_devices_geojson,
        ("surveys", "json"): ie.export_surveys_json,
    }
    exporter = exporters.get((args.kind, fmt))
    if exporter is None:
        raise UsageError(f"{args.kind} cannot be exported as {fmt}; use " +
                         " or ".join(f for k, f in exporters if k == args.kind))
    db = _open(args.db)
    try:
        with db.session() as session:
            text = exporter(session)
    finally:
        db.close()
    if args.output == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    write_text_atomic(Path(args.output), text)
    return 0
