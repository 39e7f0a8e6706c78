"""`sitescout import` and `sitescout export`: sites and devices as CSV or GeoJSON, surveys as JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sitescout.i18n import _, ngettext

__all__ = ["register"]

_KINDS = ("sites", "devices", "surveys")
_FORMATS = ("csv", "geojson", "json")
_ORDER = {"sites": 0, "devices": 1, "surveys": 2}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the import and export subcommands."""
    p = sub.add_parser(
        "import",
        help=_("import sites, devices (CSV, GeoJSON) or survey documents (JSON) into the inventory"),
        description=_("Import files into the inventory in one transaction: sites first, then devices, then "
        "surveys. Sites are keyed by region, commune and name; devices by site and name (existing ones "
        "are updated). If any row is bad, every bad row is listed and nothing changes."),
    )
    p.add_argument("files", nargs="+", type=Path, metavar=_("FILE"), help=_("a .csv, .geojson or .json file"))
    p.add_argument("--kind", choices=_KINDS, help=_("what the files hold (default: guessed from their content)"))
    p.add_argument("--format", choices=_FORMATS, help=_("file format (default: from the file name)"))
    p.add_argument("--db", metavar="URL",
                   help=_("inventory database URL (default: a SQLite file in the user's data dir)"))
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "export",
        help=_("export sites or devices (CSV, GeoJSON) or survey documents (JSON) from the inventory"),
        description=_("Write the inventory's sites or devices as CSV or GeoJSON, or its survey documents as "
        "a JSON list, in the form `sitescout import` reads back. Credentials are never exported."),
    )
    p.add_argument("kind", choices=_KINDS, help=_("what to export"))
    p.add_argument("--format", choices=_FORMATS,
                   help=_("csv or geojson for sites/devices (default csv); json for surveys"))
    p.add_argument("-o", "--output", default="-", metavar=_("PATH|-"), help=_("where to write (default: stdout)"))
    p.add_argument("--db", metavar="URL",
                   help=_("inventory database URL (default: a SQLite file in the user's data dir)"))
    p.set_defaults(func=_cmd_export)


def _open(url: str | None) -> Any:
    from sitescout.cmdutil import open_inventory

    return open_inventory(url)


def _format_of(path: Path, given: str | None) -> str:
    from sitescout.errors import UsageError

    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in (".csv", ".geojson", ".json"):
        return suffix[1:]
    raise UsageError(_("{path}: cannot tell the format from the name; add --format csv|geojson|json").format(path=path))


def _load(path: Path, fmt: str, kind: str | None) -> tuple[str, Any]:
    import json

    from sitescout.errors import CommandError, UsageError
    from sitescout.inventory.importexport import ImportFailed, detect_kind, read_rows

    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except OSError as err:
        raise CommandError(_("cannot read {path}: {reason}").format(path=path, reason=err.strerror)) from err
    except UnicodeDecodeError as err:
        raise CommandError(_("{path} is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in a spreadsheet)").format(
            path=path)) from err
    try:
        if fmt == "json":
            data = json.loads(text)
            if isinstance(data, dict) and data.get("type") == "FeatureCollection":
                fmt = "geojson"
            else:
                if kind not in (None, "surveys"):
                    raise UsageError(_("{path}: {kind} are imported from CSV or GeoJSON, not survey JSON").format(
                        path=path, kind=kind))
                return "surveys", data
        skipped: list[Any] = []
        rows = read_rows(text, fmt, source=str(path), skipped=skipped)
        for row in skipped:  # read_rows skips only empty rows
            print(_("{path}: row {row}: skipped: the row is empty").format(path=path, row=row.row), file=sys.stderr)
    except ImportFailed as err:
        _print_rows(err)
        raise CommandError(_failed(err)) from err
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        from sitescout.import_words import reason_text

        reason = _("nested too deeply") if isinstance(err, RecursionError) else (
            reason_text(err.args[0]) if err.args and hasattr(err.args[0], "code") else str(err))
        raise CommandError(f"{path}: {reason}") from err
    kind = kind or detect_kind(rows)
    if kind == "surveys":
        raise UsageError(_("{path}: survey documents are JSON files").format(path=path))
    return kind, rows


def _print_rows(err: Any) -> None:
    from sitescout.import_words import reason_text

    for row_error in err.errors:
        print(_("row {row}: {reason}").format(row=row_error.row, reason=reason_text(row_error.reason)),
              file=sys.stderr)


def _failed(err: Any) -> str:
    """Return the closing line of a refused import (its rows were printed above), in the command's language."""
    count = len(err.errors)
    return ngettext("{source}: {count} bad row, nothing imported; fix the row and import again",
                    "{source}: {count} bad rows, nothing imported; fix the rows and import again",
                    count).format(source=err.source, count=count)


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
                extra = _(", surveys {n}").format(n=report.surveys) if kind == "surveys" else ""
                lines.append(_("{path}: {kind}: {created} created, {updated} updated").format(
                    path=path, kind=kind, created=report.created, updated=report.updated) + extra)
    except ImportFailed as err:
        _print_rows(err)
        raise CommandError(_failed(err)) from err
    except (ConflictError, ValueError) as err:
        raise CommandError(_("{reason}; nothing imported").format(reason=err)) from err
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
        raise UsageError(_("{kind} cannot be exported as {format}; use {choices}").format(
            kind=args.kind, format=fmt, choices=" | ".join(f for k, f in exporters if k == args.kind)))
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
