"""Camera personas: real ONVIF captures of one device, replayed with the lab's addresses.

A persona (``personas/<name>.json``) maps ONVIF actions to capture files of the
same device under ``captures/``.  Actions with no capture are listed under
``missing`` and answered with the ActionNotSupported fault a real camera sends;
nothing is invented.  ``expected_identity()`` parses the captures with a small
namespace-agnostic lxml reader, independent of the interrogator, so integration
tests can compare the two.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import unescape

from lxml import etree

__all__ = ["PERSONAS", "Persona", "load_persona", "ACTION_NOT_SUPPORTED_FAULT", "NOT_AUTHORIZED_FAULT"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
CAPTURES_DIR = _HERE / "captures"
PERSONAS_DIR = _HERE / "personas"

PERSONAS: tuple[str, ...] = (
    "hikvision_ds2df7276ael",
    "hikvision_ds2cd2012i",
    "trendnet_tvip320pi",
    "hikoem_enp1a14",
    "axis_q6045e",
    "bosch_flexidome5100i",
    "univiewoem_sunba_perf",
    "univiewoem_gx728mf",
    "generic_ipdh4k8m05",
    "xmeye_sunba405",
    "dlink_dcs6511",
)

# Standard ONVIF Core faults (SOAP 1.2), used only where no capture of the maker exists.
ACTION_NOT_SUPPORTED_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body>
<SOAP-ENV:Fault>
<SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:ActionNotSupported</SOAP-ENV:Value></SOAP-ENV:Subcode>
</SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Optional Action Not Implemented</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""

NOT_AUTHORIZED_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body>
<SOAP-ENV:Fault>
<SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode>
</SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Sender not Authorized</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""

# http(s)/rtsp URL with an IP-literal host (namespace URIs never use one).
_URL_RE = re.compile(
    rb"(?P<scheme>https?|rtsp)://(?P<host>\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3})(?P<port>:\d+)?"
)
_DEFAULT_PORTS = {b"http": 80, b"https": 443, b"rtsp": 554}
_GSOAP_METHOD_RE = re.compile(rb"Method '[^']*' not implemented")


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def parse_xml(data: bytes) -> etree._Element:
    """Parse device or client XML without entity expansion or network access."""
    return etree.fromstring(data, _safe_parser())


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find_all(root: etree._Element, name: str) -> list[etree._Element]:
    return [el for el in root.iter() if _local(el.tag) == name]


def _find(root: etree._Element, name: str) -> etree._Element | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def is_link_local(host: str) -> bool:
    """Tell whether a URL host (maybe bracketed IPv6) is link-local."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        return False


def rewrite_urls(data: bytes, ip: str, onvif_port: int, rtsp_port: int, stream_scheme: str = "rtsp") -> bytes:
    """Point every IP-literal http(s)/rtsp URL at the simulated camera; keep paths byte for byte.

    Link-local hosts are kept (realistic extras).  http URLs get ``onvif_port``,
    rtsp URLs ``rtsp_port``; https keeps its captured port (the lab serves no TLS).
    With ``stream_scheme="http"`` rtsp URLs become http URLs on ``rtsp_port``
    (the MJPEG-over-HTTP fallback where GStreamer is missing).
    An explicit port is written when the capture had one or the port is not the default.
    """
    host = ip.encode() if ":" not in ip else b"[" + ip.encode() + b"]"

    def sub(m: re.Match[bytes]) -> bytes:
        if is_link_local(m.group("host").decode()):
            return m.group(0)
        scheme = m.group("scheme")
        if scheme == b"https":
            return scheme + b"://" + host + (m.group("port") or b"")
        port = onvif_port if scheme == b"http" else rtsp_port
        if scheme == b"rtsp" and stream_scheme != "rtsp":
            return stream_scheme.encode() + b"://" + host + b":" + str(port).encode()
        if m.group("port") or port != _DEFAULT_PORTS[scheme]:
            return scheme + b"://" + host + b":" + str(port).encode()
        return scheme + b"://" + host

    return _URL_RE.sub(sub, data)


@lru_cache(maxsize=256)
def read_capture(rel: str) -> bytes:
    """Return the bytes of one capture file (relative to captures/)."""
    path = (CAPTURES_DIR / rel).resolve()
    if CAPTURES_DIR not in path.parents:
        raise ValueError(f"capture path escapes captures/: {rel}")
    return path.read_bytes()


@dataclass(frozen=True)
class Response:
    """One HTTP answer of the simulated camera: status and SOAP body."""

    status: int
    body: bytes
    captured: bool


@dataclass
class Persona:
    """One real device, as its captures show it."""

    name: str
    description: str
    actions: dict[str, dict[str, Any]]
    missing: dict[str, str]
    probematch: dict[str, Any]
    faults: dict[str, dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)

    def has(self, action: str) -> bool:
        """Tell whether the device answers ``action`` from a capture."""
        return action in self.actions

    def capture(self, action: str) -> bytes | None:
        """Return the raw capture for ``action``, or None when not captured."""
        entry = self.actions.get(action)
        return read_capture(entry["capture"]) if entry else None

    def response(self, action: str, *, ip: str, onvif_port: int, rtsp_port: int,
                 stream_scheme: str = "rtsp") -> Response:
        """Return status and body the device sends for ``action`` (fault when not captured)."""
        entry = self.actions.get(action)
        if entry is None:
            status, body = self.action_not_supported(action.split(".")[-1])
            return Response(status, body, False)
        body = rewrite_urls(read_capture(entry["capture"]), ip, onvif_port, rtsp_port, stream_scheme)
        return Response(int(entry.get("status", 200)), body, True)

    def reply(self, action: str, *, ip: str, onvif_port: int, rtsp_port: int) -> bytes:
        """Return the body the device sends for ``action``, addresses rewritten."""
        return self.response(action, ip=ip, onvif_port=onvif_port, rtsp_port=rtsp_port).body

    def action_not_supported(self, method: str) -> tuple[int, bytes]:
        """Return the device's fault for an action it does not implement."""
        entry = self.faults.get("action_not_supported", {})
        if not entry.get("capture"):
            return int(entry.get("status", 500)), ACTION_NOT_SUPPORTED_FAULT
        body = read_capture(entry["capture"])
        safe = re.sub(rb"[^A-Za-z0-9_.]", b"", method.encode())[:64]
        body = _GSOAP_METHOD_RE.sub(b"Method '" + safe + b"' not implemented", body)
        return int(entry.get("status", 500)), body

    def not_authorized(self) -> tuple[int, bytes]:
        """Return the device's NotAuthorized fault and HTTP status."""
        entry = self.faults.get("not_authorized", {})
        body = read_capture(entry["capture"]) if entry.get("capture") else NOT_AUTHORIZED_FAULT
        return int(entry.get("status", 400)), body

    def probematch_template(self) -> bytes:
        """Return the ProbeMatch capture used as the discovery envelope."""
        return read_capture(self.probematch["capture"])

    def service_paths(self) -> list[str]:
        """Return the path of every service XAddr the captures advertise."""
        paths = {"/onvif/device_service"}
        for action in ("GetCapabilities", "GetServices"):
            data = self.capture(action)
            if data is None:
                continue
            for m in _URL_RE.finditer(data):
                tail = data[m.end():]
                end = re.search(rb"[\s<]", tail)
                path = tail[: end.start() if end else len(tail)].decode("ascii", "replace")
                if path.startswith("/") and m.group("scheme") != b"rtsp":
                    paths.add(urlsplit(unescape(path)).path)
        return sorted(paths)

    def _uri(self, action: str) -> str | None:
        data = self.capture(action)
        if data is None or int(self.actions[action].get("status", 200)) != 200:
            return None
        return _text(_find(parse_xml(data), "Uri")) or None

    def stream_uris(self) -> list[str]:
        """Return every captured stream URI (as captured, XML-unescaped)."""
        uris = [self._uri(a) for a in ("GetStreamUri", "Media2.GetStreamUri")]
        return [u for u in uris if u]

    def snapshot_uris(self) -> list[str]:
        """Return every captured snapshot URI (as captured, XML-unescaped)."""
        uris = [self._uri(a) for a in ("GetSnapshotUri", "Media2.GetSnapshotUri")]
        return [u for u in uris if u]

    def stream_paths(self) -> list[str]:
        """Return the path part of every stream URI (RTSP server mount points)."""
        return sorted({urlsplit(u).path for u in self.stream_uris()})

    def snapshot_paths(self) -> list[str]:
        """Return the path part of every snapshot URI (served as JPEG over HTTP)."""
        return sorted({urlsplit(u).path for u in self.snapshot_uris()})

    def expected_identity(
        self, *, ip: str | None = None, onvif_port: int = 80, rtsp_port: int = 554, stream_scheme: str = "rtsp"
    ) -> dict[str, Any]:
        """Return the identity a correct interrogator must report, parsed from the captures.

        With ``ip``, stream and snapshot URIs are given as the camera serves them.
        """
        return _expected_identity(self, ip, onvif_port, rtsp_port, stream_scheme)


def _served_uri(uri: str | None, ip: str | None, onvif_port: int, rtsp_port: int,
                stream_scheme: str = "rtsp") -> str | None:
    if uri is None or ip is None:
        return uri
    return rewrite_urls(uri.encode(), ip, onvif_port, rtsp_port, stream_scheme).decode()


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# Manufacturer values these captures send for "no maker": a client shows no maker for them.
_PLACEHOLDER_MAKERS = {"h264", "none", "onvif"}


def _maker(text: str) -> str:
    return "" if text.strip().casefold() in _PLACEHOLDER_MAKERS else text


def _prefers_media2(persona: Persona) -> bool:
    # A correct interrogator uses Media2 where the device offers it (ONVIF Profile T).
    return persona.capture("Media2.GetProfiles") is not None


def _first_uri(persona: Persona, action: str) -> str | None:
    order = (f"Media2.{action}", action) if _prefers_media2(persona) else (action, f"Media2.{action}")
    for name in order:
        uri = persona._uri(name)
        if uri:
            return uri
    return None


def _profiles(persona: Persona) -> list[dict[str, Any]]:
    first, second = ("Media2.GetProfiles", "GetProfiles") if _prefers_media2(persona) else (
        "GetProfiles", "Media2.GetProfiles")
    # Media2 GetProfiles answered without Type=All carries no configurations
    # (hikoem_enp1a14): the encoder settings then come from Media1.
    for action in (first, second):
        data = persona.capture(action)
        if data is not None:
            profiles = _encoder_profiles(data)
            if profiles:
                return profiles
    return []


def _encoder_profiles(data: bytes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for prof in _find_all(parse_xml(data), "Profiles"):
        enc = _find(prof, "VideoEncoderConfiguration")
        if enc is None:
            enc = _find(prof, "VideoEncoder")
        if enc is None:
            continue
        res = _child(enc, "Resolution")
        rate = _child(enc, "RateControl")
        fps = _num(_text(_child(rate, "FrameRateLimit"))) if rate is not None else None
        bitrate = _num(_text(_child(rate, "BitrateLimit"))) if rate is not None else None
        encoding = _text(_child(enc, "Encoding")) or enc.get("Encoding", "")
        out.append({
            "token": prof.get("token", ""),
            "name": _text(_child(prof, "Name")),
            "encoding": encoding,
            "width": int(_text(_child(res, "Width")) or 0) if res is not None else 0,
            "height": int(_text(_child(res, "Height")) or 0) if res is not None else 0,
            "fps_limit": fps,
            # ONVIF: BitrateLimit 0 (Axis Q6045-E) means "no limit", so the bitrate is unknown.
            "bitrate_kbps": int(bitrate) if bitrate is not None and bitrate >= 1 else None,
        })
    return out


def _expected_identity(persona: Persona, ip: str | None, onvif_port: int, rtsp_port: int,
                       stream_scheme: str) -> dict[str, Any]:
    info = parse_xml(persona.capture("GetDeviceInformation") or b"<x/>")
    mac = None
    netif = persona.capture("GetNetworkInterfaces")
    if netif is not None:
        mac = _text(_find(parse_xml(netif), "HwAddress")) or None
    stream = _first_uri(persona, "GetStreamUri")
    snap = _first_uri(persona, "GetSnapshotUri")
    profiles = _profiles(persona)
    for p in profiles:
        p["stream_uri"] = _served_uri(stream, ip, onvif_port, rtsp_port, stream_scheme)
        p["snapshot_uri"] = _served_uri(snap, ip, onvif_port, rtsp_port)
    return {
        "persona": persona.name,
        "manufacturer": _maker(_text(_find(info, "Manufacturer"))),
        "model": _text(_find(info, "Model")),
        "firmware": _text(_find(info, "FirmwareVersion")),
        "serial": _text(_find(info, "SerialNumber")),
        "hardware_id": _text(_find(info, "HardwareId")),
        "mac": mac,
        "profiles": profiles,
        "stream_paths": persona.stream_paths(),
        "snapshot_paths": persona.snapshot_paths(),
        "missing_actions": sorted(persona.missing),
    }


@lru_cache(maxsize=64)
def load_persona(name: str) -> Persona:
    """Load one persona by name; raise KeyError for an unknown one."""
    if name not in PERSONAS:
        raise KeyError(f"unknown persona {name!r}; known: {', '.join(PERSONAS)}")
    raw = json.loads((PERSONAS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    known = {"name", "description", "actions", "missing", "probematch", "faults"}
    return Persona(
        name=raw["name"],
        description=raw["description"],
        actions=raw["actions"],
        missing=raw.get("missing", {}),
        probematch=raw["probematch"],
        faults=raw.get("faults", {}),
        notes={k: v for k, v in raw.items() if k not in known},
    )
