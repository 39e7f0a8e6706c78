"""`/probe` sends a configured camera's credentials only to that camera's configured endpoints (issue #11).

The worker knows one camera at 127.0.10.2: its ONVIF endpoint (the lab's real ONVIF simulator) and
one RTSP stream.  An open /probe asks for other ports and paths of that same address, and for a
configured target of kind ``host``.  Listeners there record every byte the worker sends.

What counts as a leak (decided for issue #11): not only the password and anything computed from it
(HTTP Basic, a WS-Security or HTTP digest — a digest with a known nonce can be attacked offline),
but any login attempt at all: the username, an ``Authorization`` header, a ``UsernameToken``.  An
unconfigured endpoint gets anonymous requests only.  Positive controls show the same recorders do
see the credentials when the request is for the configured endpoint, so the checks are not vacuous.
"""

from __future__ import annotations

import base64
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sitescout.infra.lab.camera import CameraServer
from sitescout.probes.credentials import Credential
from sitescout.probes.worker.exporter import serve_in_background
from sitescout.probes.worker.jobs import ProbeContext
from sitescout.probes.worker.scheduler import FileTargetSource, Worker

IP = "127.0.10.2"
HOST_IP = "127.0.10.4"
USER = "svc-onvif-7731"
PASSWORD = "pw-Leak-Canary-9051"


def _free(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def leaks(data: bytes) -> list[str]:
    """Return which credential traces `data` holds (empty: none)."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    marks = {"password": PASSWORD, "password (url-encoded)": urllib.parse.quote(PASSWORD, safe=""),
             "basic": basic.rstrip("="), "username": USER, "authorization header": "authorization:",
             "UsernameToken": "usernametoken"}
    text = data.decode("latin-1").lower()
    return [name for name, mark in marks.items() if mark.lower() in text]


class _Recorder:
    """A TCP listener that keeps every byte received, and per connection either relays to `upstream`
    (a real device) or answers each request with a 401 challenge (RTSP or HTTP, `challenge` scheme)."""

    def __init__(self, ip: str, *, upstream: tuple[str, int] | None = None, challenge: str = "Basic") -> None:
        self.sock = socket.create_server((ip, 0))
        self.port = int(self.sock.getsockname()[1])
        self.upstream = upstream
        self.challenge = challenge
        self.data = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def received(self) -> bytes:
        with self._lock:
            return bytes(self.data)

    def clear(self) -> None:
        with self._lock:
            self.data.clear()

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            self.data += chunk

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            target = self._relay if self.upstream else self._challenge
            threading.Thread(target=target, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        assert self.upstream is not None
        try:
            up = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            conn.close()
            return

        def back() -> None:
            try:
                while chunk := up.recv(65536):
                    conn.sendall(chunk)
            except OSError:
                pass
            conn.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while chunk := conn.recv(65536):
                self._keep(chunk)
                up.sendall(chunk)
        except OSError:
            pass
        up.close()

    def _challenge(self, conn: socket.socket) -> None:
        buf = b""
        challenge = ('Digest realm="lab", nonce="6b1f0d", qop="auth"' if self.challenge == "Digest"
                     else 'Basic realm="lab"')
        try:
            while chunk := conn.recv(65536):
                self._keep(chunk)
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    cseq = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq:")), "1")
                    if lines[0].endswith("RTSP/1.0"):
                        reply = f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: {challenge}\r\n\r\n"
                    else:
                        reply = (f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\n"
                                 "Content-Length: 0\r\n\r\n")
                    conn.sendall(reply.encode())
        except OSError:
            pass
        conn.close()

    def close(self) -> None:
        self.sock.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body) for s in f.samples}


class _Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.onvif_port = _free(IP)
        self.camera = CameraServer("hikvision_ds2cd2012i", IP, onvif_port=self.onvif_port, discovery="off",
                                   credentials=(USER, PASSWORD))
        self.camera.start()
        # The configured stream: answers Digest challenges (the positive control sees the username).
        self.stream = _Recorder(IP, challenge="Digest")
        # Hostile listeners on the camera's own address, on ports it was not configured with.
        self.onvif_relay = _Recorder(IP, upstream=(IP, self.onvif_port))
        self.hostile = _Recorder(IP)
        self.host_relay = _Recorder(HOST_IP, upstream=(IP, self.onvif_port))
        targets = tmp_path / "targets.yml"
        targets.write_text(f"""
defaults:
  link: {{interval_s: 86400}}
  onvif: {{interval_s: 86400, timeout_s: 3}}
  stream: {{interval_s: 86400, window_s: 1, timeout_s: 6}}
targets:
  - site: loop
    device: cam
    ip: {IP}
    onvif: {self.camera.device_url}
    streams:
      - uri: rtsp://{IP}:{self.stream.port}/live
        profile: main
  - site: loop
    device: switch
    ip: {HOST_IP}
    kind: host
""")
        # Scheduled probes a day apart: only /probe talks to these listeners during a test.
        self.worker = Worker(FileTargetSource(targets), poll_s=0.5,
                             ctx=ProbeContext(credentials=[Credential(USER, PASSWORD)]))

    def close(self) -> None:
        for rec in (self.stream, self.onvif_relay, self.hostile, self.host_relay):
            rec.close()
        self.camera.stop()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[_Setup, str]]:
    s = _Setup(tmp_path)
    try:
        with serve_in_background(s.worker) as exporter:
            host, port = exporter.address
            yield s, f"http://{host}:{port}"
    finally:
        s.close()


def _probe(base: str, module: str, target: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = _get(f"{base}/probe?module={module}&target={urllib.parse.quote(target, safe='')}")
    assert status == 200, body
    return _samples(body)


def test_configured_endpoints_get_the_credentials(setup: tuple[_Setup, str]) -> None:
    # Positive control: the same recorders and the camera see the login when it is theirs to see.
    s, base = setup
    got = _probe(base, "onvif", s.camera.device_url)
    assert got[("probe_success", ())] == 1.0
    assert any(k[0] == "sitescout_camera_info" and dict(k[1]).get("manufacturer") == "HIKVISION" for k in got)
    assert any(e["outcome"] == "ok" and e["username"] == USER for e in s.camera.auth_log)
    _probe(base, "stream", f"rtsp://{IP}:{s.stream.port}/live")
    assert "username" in leaks(s.stream.received())


@pytest.mark.parametrize("what", ["onvif-other-port", "onvif-other-path", "onvif-host-target",
                                  "stream-other-port", "stream-other-path", "stream-http-other-port",
                                  "stream-onvif-port"])
def test_no_credential_reaches_an_unconfigured_endpoint(setup: tuple[_Setup, str], what: str) -> None:
    s, base = setup
    module, target, recorder = {
        # A relay to the real camera on another port of its address: a working ONVIF device there.
        "onvif-other-port": ("onvif", f"http://{IP}:{s.onvif_relay.port}/onvif/device_service", s.onvif_relay),
        "onvif-other-path": ("onvif", f"http://{IP}:{s.onvif_port}/onvif/other_service", None),
        # A configured target of kind `host` (a switch) never gets camera credentials.
        "onvif-host-target": ("onvif", f"http://{HOST_IP}:{s.host_relay.port}/onvif/device_service", s.host_relay),
        "stream-other-port": ("stream", f"rtsp://{IP}:{s.hostile.port}/live", s.hostile),
        "stream-other-path": ("stream", f"rtsp://{IP}:{s.stream.port}/other", s.stream),
        "stream-http-other-port": ("stream", f"http://{IP}:{s.hostile.port}/video.mjpg", s.hostile),
        "stream-onvif-port": ("stream", f"rtsp://{IP}:{s.onvif_relay.port}/onvif/device_service", s.onvif_relay),
    }[what]
    if recorder is not None:
        recorder.clear()
    before = len(s.camera.auth_log)
    got = _probe(base, module, target)
    assert got[("probe_success", ())] == 0.0 or module == "onvif"
    if recorder is not None:
        data = recorder.received()
        assert recorder.connections >= 1 and data, "the worker never reached the listener"
        assert leaks(data) == [], leaks(data)
    # Whatever reached the real camera through a relay or another path was anonymous.
    assert all(e["outcome"] == "missing" for e in list(s.camera.auth_log)[before:]), list(s.camera.auth_log)[before:]
    if module == "onvif":  # no identity without the password
        assert not any(k[0] == "sitescout_camera_info" and dict(k[1]).get("manufacturer") for k in got)


def test_scope_matches_the_configured_endpoint_exactly() -> None:
    from sitescout.probes.worker.probe_scope import CredentialScope
    from sitescout.probes.worker.records import StreamTarget, Target
    from sitescout.probes.worker.targets import TargetsConfig

    cam = Target("s", "cam", "198.51.100.7", "camera", "http://198.51.100.7/onvif/device_service",
                 streams=(StreamTarget("rtsp://198.51.100.7/Streaming/Channels/101?transport=tcp", "main"),))
    moved = Target("s", "moved", "198.51.100.8", "camera", "http://203.0.113.9/onvif/device_service",
                   streams=(StreamTarget("rtsp://203.0.113.9/live", "main"),))
    v6 = Target("s", "v6", "2001:db8::7", "camera", "http://[2001:DB8:0::7]:8000/onvif/device_service")
    switch = Target("s", "sw", "198.51.100.9", "host", "http://198.51.100.9/onvif/device_service")
    config = TargetsConfig(targets=(cam, moved, v6, switch))
    scope = CredentialScope()
    assert scope.onvif_camera(config, "http://198.51.100.7/onvif/device_service") is cam
    assert scope.onvif_camera(config, "HTTP://198.51.100.7:80/onvif/device_service") is cam  # default port, case
    assert scope.onvif_camera(config, "http://[2001:db8::7]:8000/onvif/device_service") is v6
    for url in ("http://198.51.100.7:8080/onvif/device_service", "https://198.51.100.7/onvif/device_service",
                "http://198.51.100.7/onvif/device_service/", "http://198.51.100.7/onvif/device_service?x=1",
                "http://198.51.100.7/onvif/media_service",
                "http://203.0.113.9/onvif/device_service",  # configured, but not the camera's own address
                "http://198.51.100.9/onvif/device_service"):  # a `host` target
        assert scope.onvif_camera(config, url) is None, url
    assert scope.stream_camera(config, "rtsp://198.51.100.7:554/Streaming/Channels/101?transport=tcp") is cam
    for uri in ("rtsp://198.51.100.7/Streaming/Channels/101", "rtsp://198.51.100.7/Streaming/Channels/102",
                "rtsps://198.51.100.7/Streaming/Channels/101?transport=tcp", "rtsp://203.0.113.9/live"):
        assert scope.stream_camera(config, uri) is None, uri
