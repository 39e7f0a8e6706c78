"""The worker's targets file: typed, strict, with defaults in code and errors that name FILE:LINE.

Model: blackbox_exporter ``config/config.go`` — one frozen dataclass per probe
kind with a ``DEFAULT_*`` instance, defaults applied first, then range checks;
unknown keys are errors (``KnownFields(true)``).  PyYAML's node marks give the
line of every key, so each message points at the line to fix::

    targets.yml:7: targets[1].kind: must be one of camera, host, not 'cam'

Credentials never come from this file (``--credentials``): a stream URI that
carries a user or password is an error.  An ONVIF endpoint or stream URI whose host
is not the target's ``ip`` is re-based onto it with a warning naming FILE:LINE
(``sitescout.device_uris``: a camera's password goes only to the camera's own address).
Nothing here reads a file at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sitescout.device_uris import UriCode, bind_to_device, has_credentials, strip_credentials
from sitescout.probes.worker.jobs import Kind
from sitescout.probes.worker.kinds.link import DEFAULT_LINK, LinkSettings  # noqa: F401 - the one LinkSettings
from sitescout.probes.worker.records import SiteInfo, SnmpTarget, StreamTarget, Target, TargetsError
from sitescout.probes.worker.registry import KINDS

__all__ = [
    "DEFAULT_LINK",
    "Defaults",
    "LinkSettings",
    "TargetsConfig",
    "load_targets",
    "parse_targets",
]

log = logging.getLogger(__name__)


#: Per-key checks: (minimum, maximum) — inclusive; None means unbounded.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "interval_s": (0.1, 86400.0),
    "count": (1, 1000),
    "echo_interval_s": (0.0, 10.0),
    "timeout_s": (0.05, 600.0),
    "window_s": (0.5, 300.0),
    "concurrency": (1, 256),
    "request_timeout_s": (0.05, 30.0),
    "max_rows": (10, 1_000_000),
}


def _default_settings() -> dict[str, Any]:
    return {name: kind.default for name, kind in KINDS.items()}


@dataclass(frozen=True)
class Defaults:
    """The settings of each probe kind, by kind name (``defaults.link`` reads the link kind's)."""

    by_kind: Mapping[str, Any] = field(default_factory=_default_settings)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["by_kind"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class TargetsConfig:
    """A loaded targets file."""

    defaults: Defaults = Defaults()
    targets: tuple[Target, ...] = ()
    source: str = ""
    sites: tuple[SiteInfo, ...] = ()


# ---------------------------------------------------------------------------
# YAML with line numbers.


class _Map(dict):
    """A YAML mapping that remembers its own line and each key's line."""

    line: int = 0
    lines: dict[Any, int]


class _Seq(list):
    """A YAML sequence that remembers its line and each item's line."""

    line: int = 0
    lines: list[int]


class _DuplicateKey(Exception):
    def __init__(self, line: int, key: object, first: int) -> None:
        self.line, self.key, self.first = line, key, first


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in out.lines:
            raise _DuplicateKey(line, key, out.lines[key])
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class _Reader:
    """Turns the YAML tree into typed records, raising TargetsError with the line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> TargetsError:
        return TargetsError(self.path, line, message)

    def mapping(self, value: Any, line: int, where: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> _Map:
        if not isinstance(value, _Map):
            raise self.fail(line, f"{where}: must be a mapping, not {_type_name(value)}")
        for key in value:
            if key not in allowed:
                raise self.fail(value.lines[key], f"{where}: unknown key {key!r} (expected: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                raise self.fail(value.line, f"{where}: missing key {key!r}")
        return value

    def settings(self, kind: Kind, value: Any, line: int, where: str) -> Any:
        default = kind.default
        names = tuple(f.name for f in dataclasses.fields(kind.settings) if f.metadata.get("targets_file", True))
        raw = self.mapping(value, line, where, names)
        changes: dict[str, Any] = {}
        for key, item in raw.items():
            want = type(getattr(default, key))
            if want is bool:
                if not isinstance(item, bool):
                    raise self.fail(raw.lines[key], f"{where}.{key}: must be true or false, not {_type_name(item)}")
                changes[key] = item
                continue
            changes[key] = self.number(item, raw.lines[key], f"{where}.{key}", integer=want is int)
        try:
            built = dataclasses.replace(default, **changes)
        except (TypeError, ValueError) as err:  # pragma: no cover - fields are checked above
            raise self.fail(raw.line, f"{where}: {err}") from None
        problem = kind.check(built)
        if problem is not None:
            raise self.fail(raw.line, f"{where}: {problem}")
        return built

    def number(self, value: Any, line: int, where: str, *, integer: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            raise self.fail(line, f"{where}: must be {'an integer' if integer else 'a number'}, "
                                  f"not {_type_name(value)}")
        lo, hi = _RANGES.get(where.rsplit(".", 1)[-1], (None, None))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(line, f"{where}: must be between {lo:g} and {hi:g}, not {value:g}")
        return value

    def text(self, value: Any, line: int, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(line, f"{where}: must be a string, not {_type_name(value)}")
        if not value.strip():
            raise self.fail(line, f"{where}: must not be empty")
        return value.strip()

    def url(self, value: Any, line: int, where: str, schemes: tuple[str, ...]) -> str:
        text = self.text(value, line, where)
        try:
            parts = urlsplit(text)
        except ValueError:  # "rtsp://[::1": no host to read
            parts = urlsplit("")
        if parts.scheme.lower() not in schemes or not parts.hostname:
            shown = strip_credentials(text)  # a mistyped scheme must not print the password
            raise self.fail(line, f"{where}: must be a URL with scheme {', '.join(schemes)}, not {shown!r}")
        if has_credentials(text):  # userinfo, or ?password=… (sitescout.device_uris: the one rule)
            # Say that it carries credentials, never what they are.
            raise self.fail(line, f"{where}: must not carry a user or password (use --credentials)")
        return text


def _type_name(value: Any) -> str:
    if value is None:
        return "empty"
    return {_Map: "a mapping", _Seq: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


_TOP_KEYS = ("defaults", "targets", "sites")
_SITE_KEYS = ("latitude", "longitude")
_TARGET_KEYS = ("site", "device", "ip", "kind", "onvif", "tcp_port", "streams", "snmp")
_STREAM_KEYS = ("uri", "profile", "expected_fps", "expected_width", "expected_height")
_SNMP_KEYS = ("port", "uplinks", "camera_ports")
_DEVICE_KINDS = ("camera", "host", "switch", "router")


def _read_defaults(r: _Reader, value: Any, line: int) -> Defaults:
    if value is None:
        return Defaults()
    raw = r.mapping(value, line, "defaults", tuple(KINDS))
    settings = {name: r.settings(kind, raw[name], raw.lines[name], f"defaults.{name}") if name in raw
                else kind.default for name, kind in KINDS.items()}
    # One switch allows every password in clear: the stream kind copies the ONVIF one.
    stream, onvif = settings["stream"], settings["onvif"]
    if stream.allow_plaintext_auth != onvif.allow_plaintext_auth:
        settings["stream"] = dataclasses.replace(stream, allow_plaintext_auth=onvif.allow_plaintext_auth)
    return Defaults(settings)


def _read_sites(r: _Reader, value: Any, line: int) -> tuple[SiteInfo, ...]:
    if value is None:
        return ()
    if not isinstance(value, _Map):
        raise r.fail(line, f"sites: must be a mapping of site name to coordinates, not {_type_name(value)}")
    sites = []
    for name in value:
        where = f"sites[{name!r}]"
        raw = r.mapping(value[name], value.lines[name], where, _SITE_KEYS, _SITE_KEYS)
        lat = r.number(raw["latitude"], raw.lines["latitude"], f"{where}.latitude", integer=False)
        lon = r.number(raw["longitude"], raw.lines["longitude"], f"{where}.longitude", integer=False)
        if not -90 <= lat <= 90:
            raise r.fail(raw.lines["latitude"], f"{where}.latitude: must be between -90 and 90, not {lat:g}")
        if not -180 <= lon <= 180:
            raise r.fail(raw.lines["longitude"], f"{where}.longitude: must be between -180 and 180, not {lon:g}")
        sites.append(SiteInfo(str(name), float(lat), float(lon)))
    return tuple(sites)


def _read_stream(r: _Reader, value: Any, line: int, where: str, index: int) -> StreamTarget:
    raw = r.mapping(value, line, where, _STREAM_KEYS, ("uri",))
    uri = r.url(raw["uri"], raw.lines["uri"], f"{where}.uri", ("rtsp", "rtsps", "http", "https"))
    profile = r.text(raw["profile"], raw.lines["profile"], f"{where}.profile") if "profile" in raw \
        else f"stream{index}"
    fps = r.number(raw["expected_fps"], raw.lines["expected_fps"], f"{where}.expected_fps", integer=False) \
        if "expected_fps" in raw else None
    if fps is not None and not 0 < fps <= 240:
        raise r.fail(raw.lines["expected_fps"], f"{where}.expected_fps: must be between 0 and 240, not {fps:g}")
    size: list[int | None] = []
    for key in ("expected_width", "expected_height"):
        if key not in raw:
            size.append(None)
            continue
        n = int(r.number(raw[key], raw.lines[key], f"{where}.{key}", integer=True))
        if not 1 <= n <= 16384:
            raise r.fail(raw.lines[key], f"{where}.{key}: must be between 1 and 16384, not {n}")
        size.append(n)
    return StreamTarget(uri, profile, fps, size[0], size[1])


def _read_snmp(r: _Reader, value: Any, line: int, where: str) -> SnmpTarget | None:
    """Read a target's ``snmp``: true (port 161), false, or a mapping of ``port``, ``uplinks`` and
    ``camera_ports`` (port names)."""
    if isinstance(value, bool):
        return SnmpTarget() if value else None
    raw = r.mapping(value, line, where, _SNMP_KEYS)
    port = 161
    if "port" in raw:
        port = int(r.number(raw["port"], raw.lines["port"], f"{where}.port", integer=True))
        if not 1 <= port <= 65535:
            raise r.fail(raw.lines["port"], f"{where}.port: must be between 1 and 65535, not {port}")
    names: dict[str, tuple[str, ...]] = {}
    for key in ("uplinks", "camera_ports"):
        if key not in raw:
            continue
        items = raw[key]
        if not isinstance(items, _Seq):
            raise r.fail(raw.lines[key], f"{where}.{key}: must be a list of port names, not {_type_name(items)}")
        names[key] = tuple(r.text(item, item_line, f"{where}.{key}[{i}]")
                           for i, (item, item_line) in enumerate(zip(items, items.lines), start=1))
    return SnmpTarget(port, names.get("uplinks", ()), names.get("camera_ports", ()))


def _bind(r: _Reader, uri: str, ip: str, line: int, where: str, schemes: tuple[str, ...]) -> str:
    """Return `uri` re-based onto the target's `ip` when its host differs (warned with FILE:LINE)."""
    bound = bind_to_device(uri, ip, schemes)
    if bound.uri is None:  # pragma: no cover - r.url() has checked scheme and host
        raise r.fail(line, f"{where}: must be a URL with scheme {', '.join(schemes)}")
    if UriCode.REBASED in bound.codes:
        log.warning("%s:%d: %s: host %s is not the target's address %s; re-based onto %s (credentials go only "
                    "to the device's own address)", r.path, line, where, bound.params["host"], ip, ip)
    return bound.uri


def _read_target(r: _Reader, value: Any, line: int, where: str) -> Target:
    raw = r.mapping(value, line, where, _TARGET_KEYS, ("site", "device", "ip"))
    site = r.text(raw["site"], raw.lines["site"], f"{where}.site")
    device = r.text(raw["device"], raw.lines["device"], f"{where}.device")
    ip_text = raw["ip"]
    try:
        ip = str(ipaddress.ip_address(str(ip_text).strip()))
    except ValueError:
        raise r.fail(raw.lines["ip"], f"{where}.ip: {ip_text!r} is not an IPv4 or IPv6 address") from None
    kind = raw.get("kind", "camera")
    if kind not in _DEVICE_KINDS:
        raise r.fail(raw.lines["kind"], f"{where}.kind: must be one of {', '.join(_DEVICE_KINDS)}, not {kind!r}")
    onvif = r.url(raw["onvif"], raw.lines["onvif"], f"{where}.onvif", ("http", "https")) if "onvif" in raw else None
    if onvif is not None:
        onvif = _bind(r, onvif, ip, raw.lines["onvif"], f"{where}.onvif", ("http", "https"))
    tcp_port = None
    if "tcp_port" in raw:
        tcp_port = int(r.number(raw["tcp_port"], raw.lines["tcp_port"], f"{where}.tcp_port", integer=True))
        if not 1 <= tcp_port <= 65535:
            raise r.fail(raw.lines["tcp_port"], f"{where}.tcp_port: must be between 1 and 65535, not {tcp_port}")
    streams: list[StreamTarget] = []
    if "streams" in raw:
        items = raw["streams"]
        if not isinstance(items, _Seq):
            raise r.fail(raw.lines["streams"], f"{where}.streams: must be a list, not {_type_name(items)}")
        seen: dict[str, int] = {}
        for i, (item, item_line) in enumerate(zip(items, items.lines), start=1):
            stream = _read_stream(r, item, item_line, f"{where}.streams[{i}]", i)
            stream = dataclasses.replace(stream, uri=_bind(r, stream.uri, ip, item_line, f"{where}.streams[{i}].uri",
                                                           ("rtsp", "rtsps", "http", "https")))
            if stream.profile in seen:
                raise r.fail(item_line, f"{where}.streams[{i}]: duplicate profile {stream.profile!r} "
                                        f"(first at line {seen[stream.profile]})")
            seen[stream.profile] = item_line
            streams.append(stream)
    snmp = _read_snmp(r, raw["snmp"], raw.lines["snmp"], f"{where}.snmp") if "snmp" in raw else None
    return Target(site, device, ip, kind, onvif, tcp_port, tuple(streams), line, snmp)


def parse_targets(text: str, path: str = "<targets>") -> TargetsConfig:
    """Parse and check a targets document.

    Raises:
        TargetsError: ``FILE:LINE: message`` for the first problem found.
    """
    r = _Reader(path)
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as err:
        raise r.fail(err.line, f"duplicate key {err.key!r} (first at line {err.first})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        # A mark at the end of the stream sits one past the last line: name the last line.
        line = min(mark.line + 1, max(text.count("\n"), 1)) if mark else 1
        raise r.fail(line, f"invalid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise r.fail(1, f"invalid YAML: {err}") from None
    if doc is None:
        raise r.fail(1, "empty file: expected a mapping with 'targets' (and optional 'defaults', 'sites')")
    top = r.mapping(doc, 1, "top level", _TOP_KEYS, ("targets",))
    defaults = _read_defaults(r, top.get("defaults"), top.lines.get("defaults", 1))
    items = top["targets"]
    if items is None:
        items = _Seq()
        items.line, items.lines = top.lines["targets"], []
    if not isinstance(items, _Seq):
        raise r.fail(top.lines["targets"], f"targets: must be a list, not {_type_name(items)}")
    targets: list[Target] = []
    first: dict[tuple[str, str], int] = {}
    for i, (item, line) in enumerate(zip(items, items.lines), start=1):
        target = _read_target(r, item, line, f"targets[{i}]")
        if target.key in first:
            raise r.fail(line, f"targets[{i}]: duplicate device {target.device!r} in site {target.site!r} "
                               f"(first at line {first[target.key]})")
        first[target.key] = line
        targets.append(target)
    sites = _read_sites(r, top.get("sites"), top.lines.get("sites", 1))
    return TargetsConfig(defaults, tuple(targets), path, sites)


def load_targets(path: str | Path) -> TargetsConfig:
    """Read and check a targets file.

    Raises:
        TargetsError: unreadable file, or ``FILE:LINE: message`` for the first problem.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise TargetsError(name, 0, f"cannot read: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TargetsError(name, line, "not UTF-8 text") from None
    return parse_targets(text, name)
