"""Shape checks of JSON bodies at the web boundary: a wrong type is a 400 naming the field, never a 500.

The inventory checks meaning (a known site, a valid IP, an ISO time); these checks
come first and make sure every field it reads has the type the contract (BRIEF.md)
gives it, that every string can be stored (UTF-8), every number is finite and fits a
database integer, and nesting is bounded.  Extra fields are welcome, as the contract says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import abort, request
from flask_babel import gettext as _

from sitescout.inventory.ids import NotAnId, parse_id
from sitescout.inventory.search import MAX_QUERY_CHARS, fold
from sitescout.web.errors import BodyError  # defined with the package's other errors; kept importable here
from sitescout.web.errors import coded

__all__ = [
    "BodyError", "check_json", "check_survey", "check_observations", "check_plan_size", "query_id", "printable",
]

#: Deeper than any survey, plan or observation batch: bounds recursion in everything after us.
MAX_DEPTH = 40
#: SQLite and PostgreSQL BIGINT both hold 64-bit integers; JSON numbers beyond 2**53 lose precision anyway.
MAX_INT = 2**53


def query_id(name: str) -> int | None:
    """Return query argument `name` as a database id, None when absent or empty.

    Only ASCII digits make an id ("²" and "٣" are digits to Python, and int() takes "+3" and
    " 3"): anything else is a 400; a number beyond 64 bits can name no row, so it is a 404,
    as a path integer is.  The parsing is `sitescout.inventory.ids.parse_id` (alert labels use it too).
    """
    text = request.args.get(name)
    if text is None or text == "":
        return None
    try:
        found = parse_id(text)
    except NotAnId:
        abort(400, description=_("%(name)s must be a whole number such as 3.", name=name))
    if found is None:
        abort(404, description=_("Nothing has this number."))
    return found


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")


def printable(text: str) -> str:
    """Return text fit for one log line: control characters, line separators and backslashes escaped.

    A path with %0A would otherwise end the line and forge the next one.
    """
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def search_query() -> str | None:
    """Return the ``?q=`` search folded (case and diacritics ignored), None when absent or blank.

    Longer than MAX_QUERY_CHARS is a 400: no place name is that long, and each distinct search is
    a full pass over the sites.
    """
    text = request.args.get("q", "")
    if len(text) > MAX_QUERY_CHARS:
        abort(400, description=_("A search is at most %(count)d characters.", count=MAX_QUERY_CHARS))
    return fold(text) or None


def check_json(value: Any, where: str = "", depth: int = 0) -> None:
    """Check that a parsed JSON value is storable: UTF-8 strings, finite numbers, bounded depth."""
    if depth > MAX_DEPTH:
        raise BodyError(where, coded("nested_too_deep", most=MAX_DEPTH))
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            raise BodyError(where, coded("number_too_large", most=MAX_INT))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BodyError(where, coded("not_finite"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{where} key")
            check_json(item, f"{where}.{key}" if where else str(key), depth + 1)


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(where, coded("lone_surrogate")) from None


# --- typed fields -----------------------------------------------------------------------------

Check = Callable[[Any, str], None]


def _wrong(code: str, value: Any) -> str:
    """Return the problem `code` (a type the field needs), saying in English which type it got."""
    got = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")
    return coded(code, got=got)


def _text(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise BodyError(where, _wrong("expected_text", value))


def _number(value: Any, where: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BodyError(where, _wrong("expected_number", value))


def _flag(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise BodyError(where, _wrong("expected_boolean", value))


def _list_of(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise BodyError(where, _wrong("expected_list", value))
        for i, entry in enumerate(value):
            item(entry, f"{where}[{i}]")

    return check


def _object(fields: Mapping[str, Check], *, required: tuple[str, ...] = ()) -> Check:
    def check(value: Any, where: str) -> None:
        if value is None and not required:
            return
        if not isinstance(value, dict):
            raise BodyError(where, _wrong("expected_object", value))
        for key in required:
            if value.get(key) is None:
                raise BodyError(f"{where}.{key}" if where else key, coded("required"))
        for key, field_check in fields.items():
            if key in value:
                field_check(value[key], f"{where}.{key}" if where else key)

    return check


def _integer(value: Any, where: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BodyError(where, _wrong("expected_integer", value))


_PROFILE = _object({
    "token": _text, "name": _text, "encoding": _text, "width": _integer, "height": _integer, "fps_limit": _number,
    "bitrate_kbps": _number, "stream_uri": _text, "snapshot_uri": _text,
})
_ONVIF = _object({
    "endpoint": _text, "xaddrs": _list_of(_text), "scopes": _list_of(_text), "manufacturer": _text, "model": _text,
    "firmware": _text, "serial": _text, "hardware_id": _text, "clock_offset_s": _number, "auth": _text,
    "profiles": _list_of(_PROFILE), "mac": _text, "findings": _list_of(_text),
})
_LINK = _object({
    "sent": _integer, "received": _integer, "loss_ratio": _number, "rtt_min_ms": _number, "rtt_avg_ms": _number,
    "rtt_max_ms": _number, "jitter_ms": _number, "method": _text,
})
_STREAM = _object({
    "uri": _text, "profile": _text, "up": _flag, "open_s": _number, "fps": _number, "width": _integer,
    "height": _integer, "frozen": _flag, "black": _flag, "sharpness": _number, "bitrate_kbps": _number,
    "error": _text, "problems": _list_of(_text),
})
_HOST = _object({
    "ip": _text, "mac": _text, "vendor": _text, "open_ports": _list_of(_integer), "kind": _text, "link": _LINK,
    "onvif": _ONVIF, "streams": _list_of(_STREAM), "errors": _list_of(_text),
    "snapshot": _object({"jpeg_base64": _text, "source": _text}),
}, required=("ip",))
_SURVEY = _object({
    "site": _text, "started_at": _text, "finished_at": _text, "networks": _list_of(_text), "hosts": _list_of(_HOST),
}, required=("site", "hosts"))
_OBSERVATION = _object({
    "device_id": _integer, "kind": _text, "health": _text, "observed_at": _text, "reason": _text,
    "values": _object({}),
}, required=("device_id", "kind"))


def check_survey(doc: Any) -> None:
    """Check a survey document's field types (the contract of BRIEF.md); raise BodyError naming the field."""
    check_json(doc)
    _SURVEY(doc, "")


def check_observations(items: Any) -> None:
    """Check a batch of observations from a worker; raise BodyError naming the item and field."""
    check_json(items)
    _list_of(_OBSERVATION)(items, "observations")


# --- plan inputs: bounded work ------------------------------------------------------------------

#: A plan is for one site (a village, a crossroads): its points lie within this many metres.
MAX_PLAN_SPAN_M = 20_000.0
#: Demand points the solver may be asked to weigh (polygons and the background grid are sampled).
MAX_PLAN_SAMPLES = 200_000
#: Headings per mount, zoom steps per camera model, list lengths.
MAX_PLAN_HEADINGS = 72
MAX_PLAN_ITEMS = 5_000
_M_PER_DEG = 111_320.0


def _coordinate(value: Any, where: str) -> float | None:
    """Return a coordinate as the plan parser will read it (numbers, numeric text), None if it cannot."""
    if isinstance(value, bool):
        raise BodyError(where, coded("coordinates_not_flags"))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _coordinates(value: Any, found: list[tuple[float, float]]) -> None:
    """Collect (lat, lon) from lat/lon keys and GeoJSON "coordinates" arrays ([lon, lat], nested)."""
    if isinstance(value, dict):
        lat, lon = _coordinate(value.get("lat"), "lat"), _coordinate(value.get("lon"), "lon")
        if lat is not None and lon is not None:
            found.append((lat, lon))
        for key, item in value.items():
            if key == "coordinates":
                _positions(item, found)
            elif isinstance(item, (dict, list)):
                _coordinates(item, found)
    elif isinstance(value, list):
        for item in value:
            _coordinates(item, found)


def _positions(value: Any, found: list[tuple[float, float]]) -> None:
    if not isinstance(value, list):
        return
    if value and not isinstance(value[0], list):
        xy = [_coordinate(v, "coordinates") for v in value[:2]]
        if len(xy) == 2 and xy[0] is not None and xy[1] is not None:
            found.append((xy[1], xy[0]))
        return
    for item in value:
        _positions(item, found)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _spacing(props: Any, key: str, default: float, least: float) -> float:
    value = _coordinate(props.get(key), key) if isinstance(props, dict) else None
    return max(least, value) if value is not None and math.isfinite(value) else default


def _box_m(points: list[tuple[float, float]]) -> tuple[float, float]:
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    scale = math.cos(math.radians(max(-89.0, min(89.0, sum(lats) / len(lats)))))
    return (max(lons) - min(lons)) * _M_PER_DEG * scale, (max(lats) - min(lats)) * _M_PER_DEG


def check_plan_size(plan: Any) -> None:
    """Refuse a plan input whose solving would need unbounded memory or time (the solver's own limit is time)."""
    if not isinstance(plan, dict):
        return  # the plan parser names the problem
    for key in ("demand", "mounts", "cameras", "switches", "uplinks"):
        items = plan.get(key)
        if isinstance(items, dict):
            items = items.get("features")
        if isinstance(items, list) and len(items) > MAX_PLAN_ITEMS:
            raise BodyError(key, coded("too_many_entries", count=len(items), most=MAX_PLAN_ITEMS))
    if _is_number(plan.get("headings")) and plan["headings"] > MAX_PLAN_HEADINGS:
        raise BodyError("headings", coded("at_most", most=MAX_PLAN_HEADINGS))
    for i, camera in enumerate(plan.get("cameras") or []):
        if isinstance(camera, dict) and _is_number(camera.get("zoom_steps")) and camera["zoom_steps"] > 100:
            raise BodyError(f"cameras[{i}].zoom_steps", coded("at_most", most=100))
    points: list[tuple[float, float]] = []
    for key in ("demand", "mounts"):
        _coordinates(plan.get(key), points)
    origin = plan.get("origin")
    if isinstance(origin, list) and len(origin) == 2:
        lat, lon = _coordinate(origin[0], "origin"), _coordinate(origin[1], "origin")
        if lat is not None and lon is not None:
            points.append((lat, lon))
    if not points:
        return
    width, height = _box_m(points)
    if not max(width, height) <= MAX_PLAN_SPAN_M:  # also NaN
        raise BodyError("plan", coded("plan_too_wide", span=f"{max(width, height) / 1000:.0f}",
                                      most=f"{MAX_PLAN_SPAN_M / 1000:.0f}"))
    samples = 0.0
    demand = plan.get("demand")
    features = demand.get("features") if isinstance(demand, dict) else demand
    for item in features if isinstance(features, list) else []:
        geometry = item.get("geometry") if isinstance(item, dict) else None
        if isinstance(geometry, dict) and geometry.get("type") == "Polygon":
            ring: list[tuple[float, float]] = []
            _positions(geometry.get("coordinates"), ring)
            if ring:
                w, h = _box_m(ring)
                s = _spacing(item.get("properties"), "spacing_m", 5.0, 0.5)
                samples += (w / s + 1) * (h / s + 1)
    background = plan.get("background")
    if isinstance(background, dict):
        s = _spacing(background, "spacing_m", 20.0, 1.0)
        margin = _coordinate(background.get("margin_m", 20.0), "background.margin_m")
        margin = margin if margin is not None else 20.0
        samples += ((width + 2 * margin) / s + 1) * ((height + 2 * margin) / s + 1)
    if not samples <= MAX_PLAN_SAMPLES:
        raise BodyError("demand", coded("plan_too_dense", count=f"{samples:,.0f}", most=f"{MAX_PLAN_SAMPLES:,}"))
