"""Simulated ONVIF camera: replays a persona's real captures over HTTP and WS-Discovery.

Run one per lab namespace::

    python -m sitescout.infra.lab.camera --persona hikvision_ds2cd2012i --ip 198.51.100.11

It prints one ``ready ...`` line once listening and runs until SIGTERM.

The HTTP handler is in ``camera_http``, authentication in ``camera_auth``, WS-Discovery
messages in ``camera_wsd`` and SOAP helpers in ``camera_soap``.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import logging
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
from http.server import ThreadingHTTPServer
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from lxml import etree

from sitescout.infra.lab.camera_auth import _AuthGuard
from sitescout.infra.lab.camera_hostile import HOSTILE_MODES, send_flood, send_spoof, spoof_phantoms
from sitescout.infra.lab.camera_http import _Handler
from sitescout.infra.lab.camera_soap import _NOPROFILE_FAULT, MEDIA2_NS as MEDIA2_NS, _find, _local, _with_time
from sitescout.infra.lab.camera_wsd import _template_scopes, _template_types, build_probematch
from sitescout.infra.lab.personas import PERSONAS, Persona, load_persona, parse_xml

__all__ = ["CameraServer", "HOSTILE_MODES", "build_probematch", "main"]

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
JPEG_PATH = Path(__file__).resolve().parent / "data" / "snapshot.jpg"
# ONVIF Core "PRE_AUTH" access class: answered without credentials.
PRE_AUTH = frozenset({
    "GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities",
    "GetWsdlUrl", "GetEndpointReference", "GetHostname",
})
# Multicast (Hello, group join) only on the lab's documentation ranges, never on a real network.
_MULTICAST_OK = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
_MAX_CONNECTIONS = 64


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
        self._phantoms = spoof_phantoms(self.spoof_victims)  # the same phantoms in every spoof burst
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
            body = re.sub(
                rb"(<(?:\w+:)?HwAddress>)[^<]*(<)", lambda m: m.group(1) + self.mac.encode() + m.group(2), body
            )
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
            except TimeoutError:
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
                # partial: the thread floods with this Probe's values, not the next loop turn's.
                self._spawn(functools.partial(self._flood, relates, addr), "flood")
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
                           lambda endpoint, ip: self._spoofed(relates, endpoint, ip), self._stop, self._phantoms)
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
