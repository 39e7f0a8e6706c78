"""Simulated ONVIF camera: replays a persona's real captures over HTTP and WS-Discovery.

Run one per lab namespace::

    python -m sitescout.infra.lab.camera --persona hikvision_ds2cd2012i --ip 198.51.100.11

It prints one ``ready ...`` line once listening and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import queue
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from lxml import etree

from sitescout.infra.lab.camera_hostile import (
    HOSTILE_MODES,
    hostile_reply,
    send_flood,
    send_spoof,
    stream_huge,
    stream_slow,
    stream_snapshot_forever,
)
from sitescout.infra.lab.personas import PERSONAS, Persona, is_link_local, load_persona, parse_xml

__all__ = ["CameraServer", "HOSTILE_MODES", "build_probematch", "main"]

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
JPEG_PATH = Path(__file__).resolve().parent / "data" / "snapshot.jpg"
MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"
# ONVIF Core "PRE_AUTH" access class: answered without credentials.
PRE_AUTH = frozenset({
    "GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities",
    "GetWsdlUrl", "GetEndpointReference", "GetHostname",
})
# Multicast (Hello, group join) only on the lab's documentation ranges, never on a real network.
_MULTICAST_OK = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
_MAX_BODY = 1 << 20
_MAX_CONNECTIONS = 64
_WSSE_WINDOW_S = 5.0
_NONCE_TTL_S = 300.0

_SOAP_CT = "application/soap+xml; charset=utf-8"
_WELLFORMED_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:WellFormed</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Well-formed Error</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>
"""
_NOPROFILE_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:InvalidArgVal</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NoProfile</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Subcode></SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">The requested profile token ProfileToken does not exist.</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>
"""
def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find(root: etree._Element, name: str) -> etree._Element | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _with_time(body: bytes, now: datetime) -> bytes:
    """Set the UTC and local date/time fields of a GetSystemDateAndTime capture to ``now``."""

    def read(block: bytes) -> datetime | None:
        vals = {k: re.search(rb"<(?:[\w.-]+:)?" + k + rb">\s*(\d+)\s*<", block) for k in
                (b"Year", b"Month", b"Day", b"Hour", b"Minute", b"Second")}
        if not all(vals.values()):
            return None
        try:
            y, mo, d, h, mi, s = (int(v.group(1)) for v in vals.values())  # type: ignore[union-attr]
            return datetime(y, mo, d, h, mi, min(s, 59), tzinfo=timezone.utc)
        except ValueError:
            return None

    def write(block: bytes, t: datetime) -> bytes:
        for k, v in ((b"Year", t.year), (b"Month", t.month), (b"Day", t.day),
                     (b"Hour", t.hour), (b"Minute", t.minute), (b"Second", t.second)):
            block = re.sub(rb"(<(?:[\w.-]+:)?" + k + rb">)\s*\d+\s*(<)",
                           lambda m, v=v: m.group(1) + str(v).encode() + m.group(2), block)
        return block

    pat = {k: re.compile(rb"(<(?:[\w.-]+:)?" + k + rb">)(.*?)(</(?:[\w.-]+:)?" + k + rb">)", re.S)
           for k in (b"UTCDateTime", b"LocalDateTime")}
    mu, ml = pat[b"UTCDateTime"].search(body), pat[b"LocalDateTime"].search(body)
    offset = timedelta(0)
    if mu and ml:
        cu, cl = read(mu.group(2)), read(ml.group(2))
        if cu and cl:
            offset = cl - cu
    out = body
    if ml:
        out = pat[b"LocalDateTime"].sub(lambda m: m.group(1) + write(m.group(2), now + offset) + m.group(3), out, 1)
    if mu:
        out = pat[b"UTCDateTime"].sub(lambda m: m.group(1) + write(m.group(2), now) + m.group(3), out, 1)
    return out


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
    out = re.sub(rb"(<(?:\w+:)?MessageID>)[^<]*(<)", lambda m: m.group(1) + fresh + m.group(2), out, 1)
    out = re.sub(rb"(<(?:\w+:)?EndpointReference>\s*<(?:\w+:)?Address>)[^<]*(<)",
                 lambda m: m.group(1) + endpoint.encode() + m.group(2), out, 1)
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
                 lambda m: m.group(1) + re.sub(rb"\S+", xaddr, m.group(2)) + m.group(3), out, 1)
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
                 lambda m: m.group(1) + re.sub(rb"\S+", scope, m.group(2)) + m.group(3), out, 1)
    if hello:
        out = re.sub(rb"\s*<(\w+:)?RelatesTo>[^<]*</(\w+:)?RelatesTo>", b"", out, 1)
        out = re.sub(rb"(<(?:\w+:)?To\b[^>]*>)[^<]*(<)",
                     lambda m: m.group(1) + b"urn:schemas-xmlsoap-org:ws:2005:04:discovery" + m.group(2), out, 1)
        out = re.sub(rb"(discovery/)ProbeMatches(\s*<)", rb"\1Hello\2", out, 1)
        out = re.sub(rb"<(\w+:)?ProbeMatches>\s*<(\w+:)?ProbeMatch>", rb"<\2Hello>", out, 1)
        out = re.sub(rb"</(\w+:)?ProbeMatch>\s*</(\w+:)?ProbeMatches>", rb"</\1Hello>", out, 1)
    else:
        out = re.sub(rb"(<(?:\w+:)?RelatesTo>)[^<]*(<)",
                     lambda m: m.group(1) + relates_to.encode() + m.group(2), out, 1)
    return out


def _template_types(template: bytes) -> set[str]:
    m = re.search(rb"<(?:\w+:)?Types>([^<]*)<", template)
    if not m:
        return {"NetworkVideoTransmitter"}
    return {t.rsplit(":", 1)[-1] for t in m.group(1).decode().split()}


def _template_scopes(template: bytes) -> list[str]:
    m = re.search(rb"<(?:\w+:)?Scopes>([^<]*)<", template)
    return m.group(1).decode("utf-8", "replace").split() if m else []


class _AuthGuard:
    """WS-UsernameToken and HTTP Digest checks, with a bounded failure lockout."""

    def __init__(self, server: CameraServer) -> None:
        self.cam = server
        self.secret = os.urandom(16)
        self.failures: deque[float] = deque(maxlen=1000)
        self.locked_until = 0.0
        self.lock = threading.Lock()

    def is_locked(self) -> bool:
        return time.monotonic() < self.locked_until

    def record(self, username: str, method: str, outcome: str) -> None:
        with self.lock:
            self.cam.auth_log.append({"time": time.time(), "username": username[:64],
                                      "method": method, "outcome": outcome})
            if outcome == "ok":
                return
            self.cam.failed_auth_attempts += 1
            if outcome == "locked":
                return
            now = time.monotonic()
            self.failures.append(now)
            recent = [t for t in self.failures if now - t <= 60.0]
            if len(recent) >= self.cam.lockout_threshold:
                self.locked_until = now + self.cam.lockout_seconds
                log.info("%s: locked out after %d failed attempts", self.cam.ip, len(recent))

    def check_wsse(self, root: etree._Element) -> tuple[bool | None, str]:
        """Return (None, "") without a token, else (valid, username)."""
        token = _find(root, "UsernameToken")
        if token is None:
            return None, ""
        user = _find(token, "Username")
        pwd = _find(token, "Password")
        nonce = _find(token, "Nonce")
        created = _find(token, "Created")
        username = (user.text or "").strip() if user is not None else ""
        assert self.cam.credentials is not None
        good_user, good_pass = self.cam.credentials
        if pwd is None or username != good_user:
            return False, username
        given = (pwd.text or "").strip()
        created_text = (created.text or "").strip() if created is not None else ""
        if pwd.get("Type", "").endswith("#PasswordText"):
            ok = hmac.compare_digest(given.encode(), good_pass.encode())
        else:
            try:
                raw_nonce = base64.b64decode((nonce.text or "").strip()) if nonce is not None else b""
            except ValueError:
                return False, username
            want = base64.b64encode(hashlib.sha1(raw_nonce + created_text.encode() + good_pass.encode()).digest())
            ok = hmac.compare_digest(given.encode(), want)
        if ok and created_text:
            try:
                stamp = datetime.fromisoformat(created_text.replace("Z", "+00:00"))
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=timezone.utc)
            except ValueError:
                return False, username
            if abs((stamp - self.cam.now()).total_seconds()) > _WSSE_WINDOW_S:
                return False, username
        return ok, username

    def challenge(self) -> str:
        stamp = f"{int(time.time()):x}"
        sig = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return (f'Digest realm="{self.cam.realm}", qop="auth", nonce="{stamp}{sig}", '
                f'opaque="{self.secret.hex()[:16]}", algorithm=MD5')

    def check_digest(self, header: str, method: str) -> tuple[bool, str]:
        params = dict((k.lower(), v1 or v2) for k, v1, v2 in
                      re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', header[len("Digest"):]))
        username = params.get("username", "")
        assert self.cam.credentials is not None
        good_user, good_pass = self.cam.credentials
        nonce = params.get("nonce", "")
        stamp, sig = nonce[:-24], nonce[-24:]
        want_sig = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        try:
            fresh = abs(time.time() - int(stamp, 16)) <= _NONCE_TTL_S
        except ValueError:
            fresh = False
        if username != good_user or not fresh or not hmac.compare_digest(sig, want_sig):
            return False, username
        ha1 = _md5(f"{good_user}:{params.get('realm', '')}:{good_pass}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        if params.get("qop"):
            want = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{params.get('qop')}:{ha2}")
        else:
            want = _md5(f"{ha1}:{nonce}:{ha2}")
        ok = params.get("realm") == self.cam.realm and hmac.compare_digest(params.get("response", ""), want)
        return ok, username


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webs"
    sys_version = ""
    timeout = 15
    cam: CameraServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s: %s", self.cam.ip, format % args)

    def handle(self) -> None:
        if not self.cam._conn_slots.acquire(blocking=False):
            return
        try:
            if self.cam.hostile == "hang":
                self.cam._stop.wait(600)
                return
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            pass
        finally:
            self.cam._conn_slots.release()

    # -- plumbing -------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = _SOAP_CT, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _challenge(self) -> None:
        self._send(401, b"<html><body><h1>401 Unauthorized</h1></body></html>", "text/html",
                   {"WWW-Authenticate": self.cam._guard.challenge()})

    # -- snapshot -------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path not in self.cam.snapshot_paths:
            self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        if self.cam.credentials is not None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Digest "):
                self._challenge()
                return
            ok, user = self.cam._guard.check_digest(header, "GET")
            if self.cam._guard.is_locked():
                self.cam._guard.record(user, "digest", "locked")
                self._challenge()
                return
            self.cam._guard.record(user, "digest", "ok" if ok else "failed")
            if not ok:
                self._challenge()
                return
        if self.cam.hostile in ("snapshot_endless", "snapshot_drip"):
            stream_snapshot_forever(self, self.cam.jpeg, drip=self.cam.hostile == "snapshot_drip", stop=self.cam._stop)
            return
        self._send(200, self.cam.jpeg, "image/jpeg")

    # -- SOAP -----------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in self.cam.service_paths:
            self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, b"", "text/plain")
            return
        if length > _MAX_BODY or length < 0:
            self._send(413, b"", "text/plain")
            self.close_connection = True
            return
        data = self.rfile.read(length)
        try:
            root = parse_xml(data)
        except etree.XMLSyntaxError:
            self._send(400, _WELLFORMED_FAULT)
            return
        action, token = self._action(root, path)
        status, body = self.cam._dispatch(action, root, token, self.headers.get("Authorization", ""))
        if status == 401 and body == b"":
            self._challenge()
            return
        self._reply(action, status, body)

    def _auth_headers(self, status: int) -> dict[str, str]:
        if status == 401 and "digest" in self.cam.auth and self.cam.credentials is not None:
            return {"WWW-Authenticate": self.cam._guard.challenge()}
        return {}

    def _action(self, root: etree._Element, path: str) -> tuple[str, str | None]:
        body = _find(root, "Body")
        first = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if first is not None:
            name, ns = _local(first.tag), etree.QName(first.tag).namespace or ""
        else:
            m = re.search(r'action="?([^";]+)', self.headers.get("Content-Type", ""))
            url = m.group(1) if m else ""
            name, ns = url.rstrip("/").rsplit("/", 1)[-1], url
        media2 = MEDIA2_NS in ns or (not ns and path.lower().endswith("media2"))
        token_el = _find(first, "ProfileToken") if first is not None else None
        token = (token_el.text or "").strip() if token_el is not None else None
        return (f"Media2.{name}" if media2 else name), token

    def _reply(self, action: str, status: int, body: bytes) -> None:
        mode = self.cam.hostile
        if mode in ("huge", "huge_chunked"):
            stream_huge(self, status, body, chunked=mode == "huge_chunked", stop=self.cam._stop)
        elif mode == "slow":
            stream_slow(self, status, body, stop=self.cam._stop)
        else:
            status, body, ctype = hostile_reply(mode, action, status, body)
            self._send(status, body, ctype, extra=self._auth_headers(status))


class CameraServer:
    """One simulated ONVIF camera (HTTP SOAP + snapshot + WS-Discovery) on one address."""

    def __init__(
        self,
        persona: str,
        ip: str,
        *,
        onvif_port: int = 80,
        rtsp_port: int = 554,
        credentials: tuple[str, str] | None = None,
        auth: str = "wsse+digest",
        clock_skew_s: float = 0.0,
        endpoint_uuid: str | None = None,
        mac: str | None = None,
        discovery: str = "multicast",
        hostile: str | None = None,
        wsd_port: int = WSD_PORT,
        lockout_threshold: int = 5,
        lockout_seconds: float = 60.0,
        stream_scheme: str = "rtsp",
        spoof_victims: Sequence[tuple[str, str]] = (),
    ) -> None:
        if auth not in ("wsse+digest", "wsse", "digest"):
            raise ValueError(f"auth must be wsse+digest, wsse or digest, not {auth!r}")
        if discovery not in ("multicast", "unicast", "off"):
            raise ValueError(f"discovery must be multicast, unicast or off, not {discovery!r}")
        if stream_scheme not in ("rtsp", "http"):
            raise ValueError(f"stream_scheme must be rtsp or http (MJPEG fallback), not {stream_scheme!r}")
        if hostile is not None and hostile not in HOSTILE_MODES:
            raise ValueError(f"hostile must be one of {', '.join(HOSTILE_MODES)}, not {hostile!r}")
        if discovery == "multicast" and not any(ipaddress.ip_address(ip) in n for n in _MULTICAST_OK):
            raise ValueError(f"multicast discovery only on 198.51.100.0/24 or 203.0.113.0/24 (lab namespaces), "
                             f"not {ip}; use discovery='unicast' on loopback")
        self.persona: Persona = load_persona(persona)
        self.ip = ip
        self.onvif_port = onvif_port
        self.rtsp_port = rtsp_port
        self.credentials = credentials
        self.auth = auth
        self.clock_skew_s = clock_skew_s
        self.endpoint_uuid = endpoint_uuid or str(uuid.uuid4())
        self.discovery = discovery
        self.hostile = hostile
        self.wsd_port = wsd_port
        self.lockout_threshold = lockout_threshold
        self.lockout_seconds = lockout_seconds
        self.stream_scheme = stream_scheme
        # (endpoint, ip) of other devices that the wsd_spoof mode claims to be.
        self.spoof_victims = list(spoof_victims)
        self.identity = self.persona.expected_identity(ip=ip, onvif_port=onvif_port, rtsp_port=rtsp_port,
                                                       stream_scheme=stream_scheme)
        self.mac = mac or self.identity["mac"]
        self.realm = "IP Camera"
        self.failed_auth_attempts = 0
        self.auth_log: deque[dict[str, Any]] = deque(maxlen=1000)
        self.service_paths = frozenset(self.persona.service_paths())
        self.snapshot_paths = frozenset(self.persona.snapshot_paths())
        self.profile_tokens = frozenset(p["token"] for p in self.identity["profiles"])
        self.jpeg = JPEG_PATH.read_bytes()
        self._guard = _AuthGuard(self)
        self._stop = threading.Event()
        self._conn_slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._threads: list[threading.Thread] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._udp: socket.socket | None = None
        self._outq: queue.Queue[tuple[float, bytes, tuple[str, int]]] = queue.Queue(maxsize=256)
        self._msg_number = 0
        self._flooding = threading.Lock()

    # -- public ------------------------------------------------------------------
    @property
    def device_url(self) -> str:
        """Return the device service address."""
        return f"http://{self.ip}:{self.onvif_port}/onvif/device_service"

    @property
    def endpoint(self) -> str:
        """Return the WS-Discovery endpoint reference."""
        return f"urn:uuid:{self.endpoint_uuid}"

    def now(self) -> datetime:
        """Return the camera's (skewed) UTC clock."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_skew_s)

    def start(self) -> None:
        """Start listening; return once the sockets are bound."""
        handler = type("Handler", (_Handler,), {"cam": self})
        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer((self.ip, self.onvif_port), handler)
        self._httpd.daemon_threads = True
        self._spawn(self._httpd.serve_forever, "http")
        if self.discovery != "off":
            self._udp = self._open_udp()
            self._spawn(self._wsd_loop, "wsd")
            self._spawn(self._send_loop, "wsd-send")
            if self.discovery == "multicast":
                self._send_hello()
        log.info("%s: camera %s listening on %s", self.ip, self.persona.name, self.device_url)

    def stop(self) -> None:
        """Stop every thread and close the sockets."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._udp is not None:
            self._udp.close()
        for t in self._threads:
            t.join(timeout=3)

    def __enter__(self) -> CameraServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        user = self.credentials[0] if self.credentials else None
        return f"CameraServer({self.persona.name!r}, {self.ip!r}, onvif_port={self.onvif_port}, user={user!r})"

    # -- SOAP ------------------------------------------------------------------
    def _dispatch(self, action: str, root: etree._Element, token: str | None, authz: str) -> tuple[int, bytes]:
        """Return (status, body); (401, b"") asks the handler for a Digest challenge."""
        if self.credentials is not None and action not in PRE_AUTH:
            verdict = self._authorize(root, authz)
            if verdict is not None:
                return verdict
        if action == "GetSystemDateAndTime" and self.persona.has(action):
            return 200, _with_time(self._response(action).body, self.now())
        if (action.split(".")[-1] in ("GetStreamUri", "GetSnapshotUri") and self.persona.has(action)
                and token is not None and self.profile_tokens and token not in self.profile_tokens):
            return 400, _NOPROFILE_FAULT
        resp = self._response(action)
        if action == "GetNetworkInterfaces" and resp.captured:
            return resp.status, self._own_netif(resp.body)
        return resp.status, resp.body

    def _response(self, action: str) -> Any:
        return self.persona.response(action, ip=self.ip, onvif_port=self.onvif_port, rtsp_port=self.rtsp_port,
                                     stream_scheme=self.stream_scheme)

    def _own_netif(self, body: bytes) -> bytes:
        """Report this camera's address (and MAC when given) in GetNetworkInterfaces."""
        def addr(m: re.Match[bytes]) -> bytes:
            if ipaddress.ip_address(m.group(2).decode()).is_link_local or ":" in self.ip:
                return m.group(0)
            return m.group(1) + self.ip.encode() + m.group(3)
        body = re.sub(rb"(<(?:\w+:)?Address>\s*)(\d{1,3}(?:\.\d{1,3}){3})(\s*<)", addr, body)
        if self.mac:
            body = re.sub(rb"(<(?:\w+:)?HwAddress>)[^<]*(<)", lambda m: m.group(1) + self.mac.encode() + m.group(2), body)
        return body

    def _authorize(self, root: etree._Element, authz: str) -> tuple[int, bytes] | None:
        guard = self._guard
        if "digest" in self.auth and authz.startswith("Digest "):
            ok, user = guard.check_digest(authz, "POST")
            method = "digest"
        elif self.auth != "digest":
            valid, user = guard.check_wsse(root)
            password = _find(root, "Password")
            plain = password is not None and password.get("Type", "").endswith("#PasswordText")
            method = "wsse-text" if plain else "wsse"
            if valid is None:
                if "digest" in self.auth:
                    return 401, b""
                guard.record("", "wsse", "missing")
                return self.persona.not_authorized()
            ok = valid
        else:
            return 401, b""
        if guard.is_locked():
            guard.record(user, method, "locked")
            return self.persona.not_authorized()
        guard.record(user, method, "ok" if ok else "failed")
        if ok:
            return None
        log.info("%s: %s auth failed for user %r", self.ip, method, user)
        return (401, b"") if method == "digest" else self.persona.not_authorized()

    # -- WS-Discovery ------------------------------------------------------------
    def _open_udp(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.discovery == "multicast":
            sock.bind(("0.0.0.0", self.wsd_port))
            mreq = socket.inet_aton(WSD_GROUP) + socket.inet_aton(self.ip)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.ip))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
        else:
            sock.bind((self.ip, self.wsd_port))
        sock.settimeout(0.3)
        return sock

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=f"cam-{self.ip}-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _next_number(self) -> int:
        self._msg_number += 1
        return self._msg_number

    def _probematch(self, relates_to: str, endpoint: str | None = None) -> bytes:
        return build_probematch(
            self.persona.probematch_template(), relates_to=relates_to, endpoint=endpoint or self.endpoint,
            ip=self.ip, onvif_port=self.onvif_port, identity=self.identity, mac=self.mac,
            message_number=self._next_number())

    def _send_hello(self) -> None:
        hello = build_probematch(
            self.persona.probematch_template(), relates_to="", endpoint=self.endpoint, ip=self.ip,
            onvif_port=self.onvif_port, identity=self.identity, mac=self.mac,
            message_number=self._next_number(), hello=True)
        assert self._udp is not None
        try:
            self._udp.sendto(hello, (WSD_GROUP, self.wsd_port))
        except OSError as err:
            log.warning("%s: Hello not sent: %s", self.ip, err)

    def _matches(self, probe: etree._Element) -> bool:
        template = self.persona.probematch_template()
        types_el = _find(probe, "Types")
        wanted = {t.rsplit(":", 1)[-1] for t in (types_el.text or "").split()} if types_el is not None else set()
        if not wanted <= _template_types(template):
            return False
        scopes_el = _find(probe, "Scopes")
        wanted_scopes = (scopes_el.text or "").split() if scopes_el is not None else []
        have = _template_scopes(template)
        return all(any(h == s or h.startswith(s.rstrip("/") + "/") for h in have) for s in wanted_scopes)

    def _wsd_loop(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                data, addr = self._udp.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                root = parse_xml(data)
            except etree.XMLSyntaxError:
                continue
            body = _find(root, "Body")
            probe = next((c for c in body if _local(c.tag) == "Probe"), None) if body is not None else None
            if probe is None or not self._matches(probe):
                continue
            msg = _find(root, "MessageID")
            relates = (msg.text or "").strip()[:256] if msg is not None else ""
            # In flood mode the device still answers every Probe itself, as a real
            # camera would while something on its address floods the scanner.
            if self.hostile in ("wsd_flood", "wsd_spoof") and self._flooding.acquire(blocking=False):
                self._spawn(lambda: self._flood(relates, addr), "flood")
            due = time.monotonic() + random.uniform(0.0, 0.1)
            try:
                self._outq.put_nowait((due, self._probematch(relates), addr))
            except queue.Full:
                log.debug("%s: discovery send queue full, probe dropped", self.ip)

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            try:
                due, data, addr = self._outq.get(timeout=0.3)
            except queue.Empty:
                continue
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                assert self._udp is not None
                self._udp.sendto(data, addr)
            except OSError as err:
                log.debug("%s: ProbeMatch to %s failed: %s", self.ip, addr, err)

    def _flood(self, relates: str, addr: tuple[str, int]) -> None:
        """Run the wsd_flood or wsd_spoof burst for one Probe (one burst at a time)."""
        try:
            assert self._udp is not None
            if self.hostile == "wsd_flood":
                send_flood(self._udp, addr, lambda endpoint: self._probematch(relates, endpoint=endpoint), self._stop)
            else:
                send_spoof(self._udp, addr, self.spoof_victims,
                           lambda endpoint, ip: self._spoofed(relates, endpoint, ip), self._stop)
        finally:
            self._flooding.release()

    def _spoofed(self, relates_to: str, endpoint: str, ip: str) -> bytes:
        return build_probematch(
            self.persona.probematch_template(), relates_to=relates_to, endpoint=endpoint, ip=ip,
            onvif_port=self.onvif_port, identity=self.identity, mac=None, message_number=self._next_number())


def main(argv: list[str] | None = None) -> int:
    """Run one simulated camera until SIGTERM."""
    ap = argparse.ArgumentParser(prog="python -m sitescout.infra.lab.camera", description=__doc__.splitlines()[0])
    ap.add_argument("--persona", required=True, choices=PERSONAS)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--onvif-port", type=int, default=80)
    ap.add_argument("--rtsp-port", type=int, default=554)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--auth", default="wsse+digest", choices=("wsse+digest", "wsse", "digest"))
    ap.add_argument("--clock-skew", type=float, default=0.0, help="seconds added to the camera's clock")
    ap.add_argument("--discovery", default="multicast", choices=("multicast", "unicast", "off"))
    ap.add_argument("--hostile", choices=HOSTILE_MODES)
    ap.add_argument("--endpoint-uuid")
    ap.add_argument("--mac")
    ap.add_argument("--wsd-port", type=int, default=WSD_PORT)
    ap.add_argument("--spoof", action="append", default=[], metavar="ENDPOINT@IP",
                    help="with --hostile wsd_spoof: an endpoint and address to claim (repeatable)")
    args = ap.parse_args(argv)
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        cam = CameraServer(
            args.persona, args.ip, onvif_port=args.onvif_port, rtsp_port=args.rtsp_port,
            credentials=(args.user, args.password) if args.user is not None else None, auth=args.auth,
            clock_skew_s=args.clock_skew, endpoint_uuid=args.endpoint_uuid, mac=args.mac,
            discovery=args.discovery, hostile=args.hostile, wsd_port=args.wsd_port,
            spoof_victims=[tuple(v.rsplit("@", 1)) for v in args.spoof])
        cam.start()
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"ready persona={args.persona} device_url={cam.device_url} endpoint={cam.endpoint} "
          f"discovery={args.discovery}", flush=True)
    done.wait()
    cam.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
