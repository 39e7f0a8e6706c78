"""Reading import files: CSV (any spreadsheet's delimiter) and GeoJSON into numbered rows.

Also the columns of sites and devices, the errors an import reports (``RowError``,
``ImportFailed``) and the CSV-injection guard shared with the exports
(``neutralise_formula``/``restore_formula``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from sitescout.inventory.errors import Coded, InventoryError
from sitescout.inventory.models import ValidationError

__all__ = [
    "SITE_FIELDS",
    "DEVICE_FIELDS",
    "FORMULA_TRIGGERS",
    "RowError",
    "ImportFailed",
    "read_rows",
    "detect_kind",
    "neutralise_formula",
    "restore_formula",
    "row_reason",
]

SITE_FIELDS = ("region", "commune", "name", "kind", "status", "latitude", "longitude", "address", "contact", "is_demo")
_DEVICE_OWN = ("name", "kind", "status", "ip", "mac", "vendor", "manufacturer", "model", "firmware", "serial",
               "onvif_endpoint", "notes")
_CAMERA = ("mount_latitude", "mount_longitude", "height_m", "heading_deg", "hfov_deg")
DEVICE_FIELDS = ("region", "commune", "site", *_DEVICE_OWN, *_CAMERA, "stream_uris", "profiles")
_MAX_REPORTED = 200


@dataclass(frozen=True)
class RowError:
    """One bad row: its number (CSV line, or GeoJSON feature counted from 1) and the reason."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


def row_reason(err: ValidationError) -> str:
    """Return why a row was refused, coded when the rule's message is (the command says it in its language)."""
    if isinstance(err.message, Coded):
        return Coded("field_problem", "%(where)s: %(problem)s", where=err.field, problem=err.message)
    return str(err)


class ImportFailed(InventoryError):
    """An import found bad rows; nothing was changed."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        self.source = source
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{source}: {len(errors)} bad row(s), nothing imported: {shown}{more}")
        self.errors = errors


#: A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection"):
#: exported text cells get a leading apostrophe, which read_rows takes off again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Spreadsheets skip these before a formula (" =1+1", NBSP "=1+1" run too): a trigger after them counts.
_BLANKS = "\u200b\u2060\ufeff"


def _is_formula(value: str) -> bool:
    """Say whether a cell (past any apostrophes) starts with a formula trigger, maybe after blanks."""
    rest = value.lstrip("'")
    if rest.startswith(FORMULA_TRIGGERS):
        return True
    body = rest.lstrip().lstrip(_BLANKS).lstrip()  # str.lstrip() takes NBSP and every Unicode space
    return len(body) < len(rest) and body.startswith(FORMULA_TRIGGERS)


def neutralise_formula(value: str) -> str:
    """Return a CSV text cell a spreadsheet will not run: a leading ' before =, +, -, @, tab, CR or LF,
    also after leading spaces, non-breaking spaces or zero-width characters (and before '' runs)."""
    return "'" + value if _is_formula(value) else value


def restore_formula(value: str) -> str:
    """Undo neutralise_formula (a cell read from CSV)."""
    return value[1:] if value.startswith("'") and _is_formula(value) else value


#: Delimiters a spreadsheet's CSV may use: Excel in a Vietnamese (or French, German…) locale writes ';'.
_DELIMITERS = (",", ";", "\t")


_DECIMAL_COLUMNS = frozenset({"latitude", "longitude", *_CAMERA})


def _delimiter(header: str) -> str:
    """Return the delimiter of a CSV file from its header line (the one used most, ',' on a tie)."""
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _check_columns(columns: list[str], source: str) -> None:
    """Refuse a header with columns no import reads (a typo would otherwise drop that column silently)."""
    expected = DEVICE_FIELDS if "site" in columns else SITE_FIELDS
    unknown = [c for c in columns if c not in expected]
    blank = [n for n, c in enumerate(columns, 1) if not c]
    if unknown or blank:
        if unknown:
            raise ValueError(Coded("unknown_columns", "%(source)s: unknown column(s) %(columns)s; the columns are: "
                                   "%(expected)s", source=source, columns=", ".join(repr(c) for c in unknown),
                                   expected=", ".join(expected)))
        raise ValueError(Coded("unnamed_column", "%(source)s: column %(column)s has no name; the columns are: "
                               "%(expected)s", source=source, column=blank[0], expected=", ".join(expected)))


def _csv_rows(text: str, source: str, skipped: list[RowError] | None = None) -> list[tuple[int, dict[str, Any]]]:
    text = text.lstrip("\ufeff")  # the BOM of Excel's "CSV UTF-8"
    delimiter = _delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    done = 0  # the last line read whole: a row that cannot be read starts after it
    try:
        header = [c.strip() for c in next(reader, [])]
        done = reader.line_num
        _check_columns(header, source)
        for record in reader:
            done = reader.line_num
            if not any(cell.strip() for cell in record):  # blank, or only delimiters (";;;;" from Excel)
                if skipped is not None and record:
                    skipped.append(RowError(reader.line_num, "skipped: the row is empty"))
                continue
            if len(record) > len(header):
                errors.append(RowError(reader.line_num, Coded(
                    "cells_columns", "%(cells)s cells but %(columns)s columns; put quotes around a value that "
                    "holds %(delimiter)r", cells=len(record), columns=len(header), delimiter=delimiter)))
                continue
            fields: dict[str, Any] = {k: restore_formula(v.strip()) for k, v in zip(header, record)}
            if delimiter == ";":  # the same locales write a decimal comma: 21,77
                fields.update({k: v.replace(",", ".", 1) for k, v in fields.items()
                               if k in _DECIMAL_COLUMNS and v.count(",") == 1 and "." not in v})
            fields.update({k: None for k in header[len(record):]})  # a short row: as DictReader did
            rows.append((reader.line_num, fields))
    except csv.Error as err:  # e.g. a field past csv's 128 KiB limit, a stray quote at the end
        raise ImportFailed(source, [RowError(done + 1, Coded("not_csv", "not readable as CSV: %(reason)s",
                                                                  reason=str(err)))]) from None
    if errors:
        raise ImportFailed(source, errors[:_MAX_REPORTED])
    return rows


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _feature(n: int, feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        raise ValidationError("feature", "must be a GeoJSON Feature object")
    props = feature.get("properties")
    if props is not None and not isinstance(props, dict):
        raise ValidationError("properties", "must be an object")
    props = dict(props or {})
    geometry = feature.get("geometry")
    if geometry is not None and not isinstance(geometry, dict):
        raise ValidationError("geometry", "must be a GeoJSON geometry object or null")
    if geometry and geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2 or not all(_number(c) for c in coords[:2]):
            raise ValidationError("geometry", "a Point needs coordinates [longitude, latitude] as numbers")
        props["_lon"], props["_lat"] = float(coords[0]), float(coords[1])
    return props


def read_rows(text: str, fmt: str, *, source: str = "import",
              skipped: list[RowError] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Return (row number, fields) from CSV (numbered by line) or a GeoJSON FeatureCollection.

    CSV: the delimiter (',', ';' or tab) is taken from the header line, a UTF-8 BOM is dropped,
    and empty rows are skipped (added to `skipped`, when given, with their line number).

    Raises:
        ValueError: the text is not CSV / a FeatureCollection at all, or the CSV has unknown columns.
        ImportFailed: rows or features that cannot be read, each with its number.
    """
    if fmt == "csv":
        return _csv_rows(text, source, skipped)
    if fmt == "geojson":
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ValueError(Coded("not_feature_collection", "a GeoJSON import must be a FeatureCollection"))
        features = data.get("features")
        if features is not None and not isinstance(features, list):
            raise ValueError(Coded("features_not_list", "a FeatureCollection's features must be a list"))
        rows, errors = [], []
        for n, feature in enumerate(features or [], start=1):
            try:
                rows.append((n, _feature(n, feature)))
            except ValidationError as err:
                errors.append(RowError(n, row_reason(err)))
        if errors:
            raise ImportFailed(source, errors[:_MAX_REPORTED])
        return rows
    raise ValueError(f"unknown format {fmt!r}; use csv or geojson")


def detect_kind(rows: list[tuple[int, dict[str, Any]]]) -> str:
    """Return "devices" when rows name a site, else "sites"."""
    return "devices" if rows and "site" in rows[0][1] else "sites"
