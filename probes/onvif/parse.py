"""Read ONVIF reply bodies namespace-agnostically into plain values; missing fields become defaults, never errors."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from lxml import etree

from sitescout.probes.models import MediaProfile
from sitescout.probes.onvif.soapxml import find_local, findall_local, iter_local, text_local

__all__ = [
    "SERVICE_NAMESPACES",
    "PLACEHOLDER_MANUFACTURERS",
    "DeviceIdentity",
    "manufacturer_or_empty",
    "parse_camera_utc",
    "parse_capabilities",
    "parse_device_information",
    "parse_mac",
    "parse_profile_tokens",
    "parse_profiles",
    "parse_scopes",
    "parse_services",
    "parse_uri",
]

# GetServices namespaces we name; others are kept under their namespace URI.
SERVICE_NAMESPACES = {
    "http://www.onvif.org/ver10/device/wsdl": "device",
    "http://www.onvif.org/ver10/media/wsdl": "media",
    "http://www.onvif.org/ver20/media/wsdl": "media2",
    "http://www.onvif.org/ver20/ptz/wsdl": "ptz",
    "http://www.onvif.org/ver20/imaging/wsdl": "imaging",
    "http://www.onvif.org/ver10/events/wsdl": "events",
    "http://www.onvif.org/ver10/deviceIO/wsdl": "deviceio",
    "http://www.onvif.org/ver20/analytics/wsdl": "analytics",
    "http://www.onvif.org/ver10/recording/wsdl": "recording",
    "http://www.onvif.org/ver10/search/wsdl": "search",
    "http://www.onvif.org/ver10/replay/wsdl": "replay",
}
_MAX_PIXELS = 1_000_000
#: Manufacturer values that name no maker: firmware defaults of unbranded and OEM cameras, compared
#: case-folded with whitespace squeezed.  Captures: Xiongmai/XMEye "H264", a Uniview OEM "NONE", a
#: Hikvision OEM "ONVIF", a gSOAP IPC "" (shared/fixtures/onvif/device_info/).
PLACEHOLDER_MANUFACTURERS = frozenset({
    "", "h264", "none", "onvif", "manufacturer", "ipcam", "ip camera", "ipc", "unknown", "null", "n/a", "-",
})
_MAX_KBPS = 10**9
# GetCapabilities element names (under Capabilities or Capabilities/Extension) -> service name.
_CAPABILITY_NAMES = {
    "Device": "device", "Media": "media", "PTZ": "ptz", "Imaging": "imaging", "Events": "events",
    "Analytics": "analytics", "DeviceIO": "deviceio", "Recording": "recording", "Search": "search",
    "Replay": "replay",
}


@dataclass
class DeviceIdentity:
    """GetDeviceInformation fields."""

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""


def parse_camera_utc(reply: etree._Element) -> dt.datetime | None:
    """Return the camera's UTC clock from a GetSystemDateAndTime reply, or None when it gives none."""
    sdt = find_local(reply, "SystemDateAndTime")
    utc = find_local(sdt, "UTCDateTime")
    if utc is None:
        return None
    try:
        date = dt.datetime(
            int(text_local(utc, "Date", "Year")), int(text_local(utc, "Date", "Month")),
            int(text_local(utc, "Date", "Day")), tzinfo=dt.timezone.utc,
        )
        # Some cameras overflow fields (hour 24, second 60): add them as a duration.
        return date + dt.timedelta(
            hours=int(text_local(utc, "Time", "Hour") or 0),
            minutes=int(text_local(utc, "Time", "Minute") or 0),
            seconds=int(text_local(utc, "Time", "Second") or 0),
        )
    except (ValueError, OverflowError):
        return None


def parse_device_information(reply: etree._Element) -> DeviceIdentity:
    """Return identity fields from a GetDeviceInformation reply ('' for missing ones and placeholder makers)."""
    return DeviceIdentity(
        manufacturer=manufacturer_or_empty(text_local(reply, "Manufacturer")),
        model=text_local(reply, "Model"),
        firmware=text_local(reply, "FirmwareVersion"),
        serial=text_local(reply, "SerialNumber"),
        hardware_id=text_local(reply, "HardwareId"),
    )


def manufacturer_or_empty(text: str) -> str:
    """Return the manufacturer as reported, or '' when it is a placeholder ("H264", "NONE", "ONVIF" …)."""
    return "" if " ".join(text.split()).casefold() in PLACEHOLDER_MANUFACTURERS else text


def parse_services(reply: etree._Element) -> dict[str, str]:
    """Return {service name: XAddr} from a GetServices reply."""
    out: dict[str, str] = {}
    for svc in findall_local(reply, "Service"):
        ns = text_local(svc, "Namespace")
        xaddr = text_local(svc, "XAddr")
        if ns and xaddr:
            out.setdefault(SERVICE_NAMESPACES.get(ns, ns), xaddr)
    return out


def parse_capabilities(reply: etree._Element) -> dict[str, str]:
    """Return {service name: XAddr} from a GetCapabilities reply (Extension entries included)."""
    caps = find_local(reply, "Capabilities")
    out: dict[str, str] = {}
    if caps is None:
        return out
    groups = [caps, *findall_local(caps, "Extension")]
    for group in groups:
        for el in group:
            if not isinstance(el.tag, str):
                continue
            name = etree.QName(el).localname if "}" in el.tag else el.tag.rsplit(":", 1)[-1]
            xaddr = text_local(el, "XAddr")
            if name in _CAPABILITY_NAMES and xaddr:
                out.setdefault(_CAPABILITY_NAMES[name], xaddr)
    return out


def parse_mac(reply: etree._Element) -> str | None:
    """Return the HwAddress of the first enabled interface (else the first one), lower-case with colons."""
    interfaces = findall_local(reply, "NetworkInterfaces")
    enabled = [i for i in interfaces if text_local(i, "Enabled").lower() in ("true", "1")]
    for iface in enabled + interfaces:
        mac = text_local(iface, "Info", "HwAddress")
        if mac:
            return _format_mac(mac)
    return None


def _format_mac(text: str) -> str:
    digits = "".join(c for c in text if c in "0123456789abcdefABCDEF")
    if len(digits) != 12:
        return text.strip().lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).lower()


def parse_scopes(reply: etree._Element) -> list[str]:
    """Return the scope URIs of a GetScopes reply."""
    return [s for s in (text_local(el, "ScopeItem") for el in findall_local(reply, "Scopes")) if s]


def parse_uri(reply: etree._Element) -> str:
    """Return the Uri of a GetStreamUri/GetSnapshotUri reply (Media1 MediaUri/Uri or Media2 Uri)."""
    uri = iter_local(reply, "Uri")
    return "".join(uri[0].itertext()) if uri else ""


def _number(text: str) -> float | None:
    """Return a finite, non-negative number, or None ("inf", "nan", "-1" and junk are what broken devices send)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _pixels(text: str) -> int:
    """Return a frame dimension; 0 when missing or absurd (over a million pixels a side)."""
    value = _number(text)
    return int(value) if value is not None and value <= _MAX_PIXELS else 0


def parse_profile_tokens(reply: etree._Element) -> list[str]:
    """Return every profile token of a GetProfiles reply, video or not."""
    return [p.get("token", "") for p in findall_local(reply, "Profiles") if p.get("token")]


def parse_profiles(reply: etree._Element, *, limit: int) -> list[MediaProfile]:
    """Return the video profiles of a Media1 or Media2 GetProfiles reply, tolerating missing fields."""
    out: list[MediaProfile] = []
    for prof in findall_local(reply, "Profiles")[:limit]:
        enc = find_local(prof, "VideoEncoderConfiguration")
        if enc is None:
            enc = find_local(prof, "Configurations", "VideoEncoder")
        if enc is None:
            enc = next(iter(iter_local(prof, "VideoEncoderConfiguration") + iter_local(prof, "VideoEncoder")), None)
        if enc is None:
            continue  # audio or metadata only: no video stream to report
        encoding = text_local(enc, "Encoding") or enc.get("Encoding", "")
        width = _pixels(text_local(enc, "Resolution", "Width"))
        height = _pixels(text_local(enc, "Resolution", "Height"))
        fps = _number(text_local(enc, "RateControl", "FrameRateLimit"))
        kbps = _number(text_local(enc, "RateControl", "BitrateLimit"))
        # ONVIF's BitrateLimit 0 means "no limit" (Axis Q6045-E sends it): unknown, not 0 kbit/s.
        bitrate = int(kbps) if kbps is not None and 1 <= kbps < _MAX_KBPS else None
        out.append(
            MediaProfile(
                token=prof.get("token", ""),
                name=text_local(prof, "Name"),
                encoding=encoding,
                width=width,
                height=height,
                fps_limit=fps,
                bitrate_kbps=bitrate,
            )
        )
    return out
