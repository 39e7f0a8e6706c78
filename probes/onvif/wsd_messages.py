"""WS-Discovery messages: the Probe we send and the lenient reading of ProbeMatches and scopes.

Replies are parsed leniently (missing Types, capitalised scope keys, wrapped
values, unbound prefixes, 2004/08 addressing, MessageID reused as the
endpoint, invalid UUIDs) and bounded (matches per datagram, items per list).
Pure: no sockets (those are in :mod:`sitescout.probes.onvif.wsdiscovery`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape

from sitescout.probes.errors import MalformedError
from sitescout.probes.onvif.soapxml import find_local, findall_local, localname, parse_xml, soap_fault, text_local
from sitescout.probes.onvif.xaddr import split_xaddrs

__all__ = [
    "MAX_DATAGRAM_BYTES",
    "MAX_ITEMS",
    "PROBE_TYPES_VARIANTS",
    "WSD_GROUP",
    "WSD_PORT",
    "WsdMatch",
    "build_probe",
    "mac_from_scopes",
    "normalize_endpoint",
    "normalize_mac",
    "parse_probe_matches",
    "scope_value",
    "scope_values",
    "serial_from_scopes",
]

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
MAX_DATAGRAM_BYTES = 65_535
# Probe variants: with the ONVIF type (some devices ignore an untyped Probe, lumeohq/onvif-rs#61)
# and without Types (others only answer that; nmap wsdd.lua sends it).
PROBE_TYPES_VARIANTS: tuple[str | None, ...] = ("dn:NetworkVideoTransmitter", None)

_TYPE_NS = {
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
MAX_ITEMS = 64  # per list field of one device: bounds memory under hostile floods
_MAX_MATCHES_PER_DATAGRAM = 32
_SCOPE_PREFIX = re.compile(r"^onvif://www\.onvif\.org/", re.I)
_UUIDISH = re.compile(r"^[0-9a-z]{8}-?[0-9a-z]{4}-?[0-9a-z]{4}-?[0-9a-z]{4}-?[0-9a-z]{12}$")
_HEX = re.compile(r"[^0-9a-f]")


def build_probe(types: str | None, message_id: str) -> bytes:
    """Build a compact single-line Probe (Hikvision rejected newlines: edgex device-onvif-camera#134).

    Prefixes used in ``types`` (``dn``, ``tds``) are declared on the Types element
    itself, which some devices need (openhab/openhab-addons#9022).
    """
    if types:
        prefixes = {t.split(":", 1)[0] for t in types.split() if ":" in t}
        decls = "".join(f' xmlns:{p}="{_TYPE_NS[p]}"' for p in sorted(prefixes) if p in _TYPE_NS)
        types_el = f"<d:Types{decls}>{escape(types)}</d:Types>"
    else:
        types_el = ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        "<s:Header>"
        f"<a:MessageID>{escape(message_id)}</a:MessageID>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        '<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        "</s:Header>"
        f"<s:Body><d:Probe>{types_el}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


@dataclass
class WsdMatch:
    """One ProbeMatch (or Hello) as the device sent it; lists are split on whitespace."""

    endpoint: str
    types: list[str]
    scopes: list[str]
    xaddrs: list[str]
    source_ip: str
    message_id: str | None
    relates_to: str | None
    is_hello: bool
    metadata_version: int | None


def _split(text: str) -> list[str]:
    return text.split()[:MAX_ITEMS]


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_probe_matches(data: bytes, source_ip: str) -> list[WsdMatch]:
    """Parse a ProbeMatches, ResolveMatches or Hello datagram; other WS-Discovery messages give [].

    Raises MalformedError when the datagram is not a usable WS-Discovery message.
    """
    root = parse_xml(data, max_bytes=MAX_DATAGRAM_BYTES, target=source_ip)
    if localname(root) != "Envelope":
        raise MalformedError(source_ip, f"not a SOAP envelope (root element {localname(root)!r})")
    header = find_local(root, "Header")
    body = find_local(root, "Body")
    if body is None:
        raise MalformedError(source_ip, "SOAP envelope without Body")
    fault = soap_fault(root)
    if fault is not None:  # TP-Link answered wsdiscover with a Fault (python-ws-discovery#56)
        log.debug("%s: WS-Discovery fault %s %s", source_ip, fault.code, fault.reason)
        return []
    message_id = text_local(header, "MessageID") or None
    relates_to = text_local(header, "RelatesTo") or None
    kids = [c for c in body if isinstance(c.tag, str)]
    if not kids:
        raise MalformedError(source_ip, "empty SOAP Body")
    kind = localname(kids[0])
    if kind in ("Probe", "Resolve", "Bye"):  # our own looped-back Probes, other clients, departures
        return []
    if kind in ("ProbeMatches", "ResolveMatches"):
        elements = findall_local(kids[0], kind[:-2])
        # Wrapper-less replies (lab-notes "WS-Discovery": PyPI WSDiscovery drops them): the
        # ProbeMatches element itself carries EndpointReference/XAddrs.
        if not elements and find_local(kids[0], "EndpointReference") is not None:
            elements = [kids[0]]
    elif kind in ("ProbeMatch", "ResolveMatch", "Hello"):  # ProbeMatch straight in Body: no wrapper
        elements = [kids[0]]
    else:
        raise MalformedError(source_ip, f"not a WS-Discovery reply (Body holds {kind!r})")
    matches: list[WsdMatch] = []
    for el in elements[:_MAX_MATCHES_PER_DATAGRAM]:
        endpoint = text_local(el, "EndpointReference", "Address")
        if not endpoint:
            log.debug("%s: %s without EndpointReference/Address skipped", source_ip, kind)
            continue
        matches.append(
            WsdMatch(
                endpoint=endpoint,
                types=_split(text_local(el, "Types")),
                scopes=_split(text_local(el, "Scopes")),
                xaddrs=split_xaddrs(text_local(el, "XAddrs"))[:MAX_ITEMS],
                source_ip=source_ip,
                message_id=message_id,
                relates_to=relates_to,
                is_hello=kind == "Hello",
                metadata_version=_int_or_none(text_local(el, "MetadataVersion")),
            )
        )
    if elements and not matches:
        raise MalformedError(source_ip, f"{kind} without an EndpointReference Address")
    return matches


def normalize_endpoint(text: str) -> str:
    """Return the canonical ``urn:uuid:<lowercase>`` key for an endpoint address (braces, case, prefixes)."""
    s = text.strip().lower().strip("{}")
    for prefix in ("urn:uuid:", "uuid:"):
        if s.startswith(prefix):
            return "urn:uuid:" + s[len(prefix):].strip("{}")
    if _UUIDISH.match(s):
        return "urn:uuid:" + s
    return s


def scope_values(scopes: Sequence[str], key: str) -> list[str]:
    """Return every URL-decoded value of an ``onvif://www.onvif.org/<key>/<value>`` scope (key case-insensitive)."""
    want = [p for p in key.lower().strip("/").split("/") if p]
    out: list[str] = []
    for scope in scopes:
        rest = _SCOPE_PREFIX.sub("", scope.strip(), count=1)
        if rest == scope.strip():
            continue  # vendor schemes (dvtel://, flir://) and junk such as 'http:123'
        parts = rest.split("/")
        if [p.lower() for p in parts[: len(want)]] != want:
            continue
        value = unquote("/".join(parts[len(want):])).strip()
        if value:
            out.append(value)
    return out


def scope_value(scopes: Sequence[str], key: str) -> str | None:
    """Return the first value of a scope key (name, hardware, location, MAC, Model …), or None."""
    values = scope_values(scopes, key)
    return values[0] if values else None


def normalize_mac(text: str | None) -> str | None:
    """Return ``aa:bb:cc:dd:ee:ff`` for any separator style, or None when it is not a MAC."""
    if not text:
        return None
    digits = _HEX.sub("", text.lower())
    if len(digits) != 12 or len(re.sub(r"[\s:.\-]", "", text)) != 12:
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def mac_from_scopes(scopes: Sequence[str]) -> str | None:
    for key in ("MAC", "acc/mac", "hwaddress"):
        for value in scope_values(scopes, key):
            mac = normalize_mac(value)
            if mac:
                return mac
    return None


def serial_from_scopes(scopes: Sequence[str]) -> str | None:
    for key in ("serial", "serialnumber", "SerialNo", "acc/serial"):
        value = scope_value(scopes, key)
        if value:
            return value
    return None
