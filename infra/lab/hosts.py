"""Plain (non-camera) hosts for the lab: TCP listeners typical of a switch, loudspeaker, router, NVR or PC.

Run one inside a namespace::

    python -m sitescout.infra.lab.hosts --ip 198.51.100.20 --profile switch

It prints ``ready <ip> <ports>`` once every port listens, then serves until killed.
HTTP ports answer any request with a minimal page whose title names the device (the access point's
"/" redirects to its login page on the same host, which has the title);
SSH and RDP ports send a banner or just accept.  Port 443 speaks plain HTTP:
a port scan only needs the TCP handshake, and this keeps the lab free of certificates.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PLAIN_HOST_PROFILES", "PlainHost", "serve_plain_host", "main"]

log = logging.getLogger(__name__)

#: Which TCP ports each profile opens; every one is in probes.net.ports.DEFAULT_PORTS.
PLAIN_HOST_PROFILES: dict[str, tuple[int, ...]] = {
    "switch": (80, 443),  # managed PoE switch web UI
    "loudspeaker": (80, 8899),  # IP loudspeaker controller: web UI + control/stream port
    "router": (22, 80, 443, 8291),  # uplink router: SSH, web UI, MikroTik Winbox
    "nvr": (80, 554, 8000),  # recorder: web UI, RTSP, Hikvision SDK port
    "pc": (22, 3389),  # operator workstation: SSH, RDP
    "wifi_ap": (22, 80),  # Wi-Fi access point: its web UI sends "/" to a login page on the same host
}

_TITLES = {
    "switch": "TL-SG2210MP Managed PoE Switch",
    "loudspeaker": "IP-Speaker Controller",
    "router": "RouterOS router",
    "nvr": "Network Video Recorder",
    "pc": "Operator PC",
    "wifi_ap": "Wireless Access Point - Login",
}
#: Profiles whose "/" answers 302 to a page of the same host (as many login pages do); that page has the title.
_LOGIN_REDIRECTS = {"wifi_ap": "/cgi-bin/luci/login.html"}

_BANNERS = {22: b"SSH-2.0-dropbear_2020.81\r\n"}
_SILENT_PORTS = {3389, 8291}  # binary protocols: accept and wait for the client
_READ_TIMEOUT_S = 2.0


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(_READ_TIMEOUT_S)
        port = self.server.server_address[1]
        try:
            if port in _BANNERS:
                sock.sendall(_BANNERS[port])
                return
            if port in _SILENT_PORTS:
                sock.recv(1024)
                return
            request = sock.recv(4096).split(b" ")
            login = _LOGIN_REDIRECTS.get(self.server.profile)
            if login and len(request) > 1 and request[1] == b"/":
                sock.sendall(b"HTTP/1.0 302 Found\r\nLocation: " + login.encode()
                             + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            body = (f"<!DOCTYPE html><html><head><title>{self.server.title}</title></head>"
                    f"<body><h1>{self.server.title}</h1></body></html>").encode()
            sock.sendall(b"HTTP/1.0 200 OK\r\nServer: lab-" + self.server.profile.encode()
                         + b"\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        except OSError:
            pass  # clients (port scanners) hang up early; that is normal


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], profile: str) -> None:
        self.profile = profile
        self.title = _TITLES[profile]
        super().__init__(addr, _Handler)


@dataclass
class PlainHost:
    """Running listeners of one plain host; `close()` stops them."""

    ip: str
    profile: str
    ports: tuple[int, ...]
    _servers: list[_Server]

    def close(self) -> None:
        """Stop every listener."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self) -> PlainHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_plain_host(ip: str, profile: str, *, ports: Sequence[int] | None = None) -> PlainHost:
    """Open the profile's listeners (or only ``ports`` of them) on `ip` in background threads."""
    if profile not in PLAIN_HOST_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PLAIN_HOST_PROFILES)}")
    chosen = tuple(ports) if ports is not None else PLAIN_HOST_PROFILES[profile]
    servers: list[_Server] = []
    try:
        for port in chosen:
            srv = _Server((ip, port), profile)
            servers.append(srv)
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"{profile}:{port}", daemon=True).start()
    except OSError:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        raise
    return PlainHost(ip, profile, chosen, servers)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one plain host until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m sitescout.infra.lab.hosts", description=__doc__.splitlines()[0])
    parser.add_argument("--ip", required=True, help="address to listen on (inside the lab namespace)")
    parser.add_argument("--profile", required=True, choices=sorted(PLAIN_HOST_PROFILES))
    args = parser.parse_args(argv)
    try:
        host = serve_plain_host(args.ip, args.profile)
    except OSError as err:
        print(f"error: cannot listen on {args.ip}: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"ready {args.ip} {','.join(map(str, host.ports))}", flush=True)
    stop.wait()
    host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
