"""WS-Discovery messages of the simulated camera: a captured ProbeMatch rewritten as its own answer or Hello."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from sitescout.infra.lab.personas import is_link_local

__all__ = ["build_probematch"]


def _device_name(identity: dict[str, Any]) -> str:
    maker, model = identity["manufacturer"], identity["model"]
    if not maker or model.upper().startswith(maker.upper()):
        return model
    return f"{maker} {model}"


def build_probematch(
    template: bytes, *, relates_to: str, endpoint: str, ip: str, onvif_port: int,
    identity: dict[str, Any], mac: str | None, message_number: int, hello: bool = False,
) -> bytes:
    """Rewrite a captured ProbeMatch into this camera's answer (or Hello)."""
    out = template
    msg_style = re.search(rb"<(?:\w+:)?MessageID>\s*(urn:)?uuid:", out)
    prefix = b"urn:uuid:" if (msg_style and msg_style.group(1)) else b"uuid:"
    fresh = prefix + str(uuid.uuid4()).encode()
    out = re.sub(rb"(<(?:\w+:)?MessageID>)[^<]*(<)", lambda m: m.group(1) + fresh + m.group(2), out, count=1)
    out = re.sub(rb"(<(?:\w+:)?EndpointReference>\s*<(?:\w+:)?Address>)[^<]*(<)",
                 lambda m: m.group(1) + endpoint.encode() + m.group(2), out, count=1)
    out = re.sub(rb'(MessageNumber=")\d+(")', lambda m: m.group(1) + str(message_number).encode() + m.group(2), out)
    device_url = f"http://{ip}:{onvif_port}/onvif/device_service".encode()

    def xaddr(m: re.Match[bytes]) -> bytes:
        url = m.group(0).decode("ascii", "replace")
        parts = urlsplit(url)
        if parts.hostname and is_link_local(parts.hostname):
            return m.group(0)
        if parts.scheme == "https":
            return f"https://{ip}/onvif/device_service".encode()
        return device_url

    out = re.sub(rb"(<(?:\w+:)?XAddrs>)([^<]*)(<)",
                 lambda m: m.group(1) + re.sub(rb"\S+", xaddr, m.group(2)) + m.group(3), out, count=1)
    name = quote(_device_name(identity)).encode()
    model = quote(identity["model"]).encode()

    def scope(m: re.Match[bytes]) -> bytes:
        token = m.group(0)
        sm = re.match(rb"(onvif://www\.onvif\.org/)([A-Za-z]+)/", token)
        if not sm:
            return token
        key = sm.group(2).lower()
        if key in (b"hardware", b"model"):
            return sm.group(0) + model
        if key == b"name":
            return sm.group(0) + name
        if key == b"mac":
            return sm.group(0) + mac.encode() if mac else b""
        return token

    out = re.sub(rb"(<(?:\w+:)?Scopes>)([^<]*)(<)",
                 lambda m: m.group(1) + re.sub(rb"\S+", scope, m.group(2)) + m.group(3), out, count=1)
    if hello:
        out = re.sub(rb"\s*<(\w+:)?RelatesTo>[^<]*</(\w+:)?RelatesTo>", b"", out, count=1)
        out = re.sub(rb"(<(?:\w+:)?To\b[^>]*>)[^<]*(<)",
                     lambda m: m.group(1) + b"urn:schemas-xmlsoap-org:ws:2005:04:discovery" + m.group(2), out, count=1)
        out = re.sub(rb"(discovery/)ProbeMatches(\s*<)", rb"\1Hello\2", out, count=1)
        out = re.sub(rb"<(\w+:)?ProbeMatches>\s*<(\w+:)?ProbeMatch>", rb"<\2Hello>", out, count=1)
        out = re.sub(rb"</(\w+:)?ProbeMatch>\s*</(\w+:)?ProbeMatches>", rb"</\1Hello>", out, count=1)
    else:
        out = re.sub(rb"(<(?:\w+:)?RelatesTo>)[^<]*(<)",
                     lambda m: m.group(1) + relates_to.encode() + m.group(2), out, count=1)
    return out


def _template_types(template: bytes) -> set[str]:
    m = re.search(rb"<(?:\w+:)?Types>([^<]*)<", template)
    if not m:
        return {"NetworkVideoTransmitter"}
    return {t.rsplit(":", 1)[-1] for t in m.group(1).decode().split()}


def _template_scopes(template: bytes) -> list[str]:
    m = re.search(rb"<(?:\w+:)?Scopes>([^<]*)<", template)
    return m.group(1).decode("utf-8", "replace").split() if m else []

