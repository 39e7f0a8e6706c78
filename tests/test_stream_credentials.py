"""Stream credentials go only where they belong: Digest, never Basic unless allowed, never to a redirect's other host.

Real servers that record every Authorization header they receive: the hostile RTSP
server (`infra/lab/rtsp_hostile.py`, modes basic-only, digest-only, redirect-other,
redirect-other-basic) on 127.0.0.1 and a second one on 127.0.0.2 (another host, as a
redirect target), and an HTTP MJPEG server that asks for Basic.
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
from sitescout.probes.credentials import Credential
from sitescout.probes.stream.check import StreamChecker, StreamJob

USER, SECRET = "admin", "r3direct-Secret"
CREDS = Credential(USER, SECRET)
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


@pytest.fixture(scope="module")
def other_host() -> Iterator[HostileRtspServer]:
    """The redirect target: another host (127.0.0.2) that asks for Basic and keeps what it gets."""
    pytest.importorskip("cv2")
    with HostileRtspServer("127.0.0.2", 0, default_mode="basic-only") as server:
        yield server


@pytest.fixture(scope="module")
def camera(other_host: HostileRtspServer) -> Iterator[HostileRtspServer]:
    with HostileRtspServer("127.0.0.1", 0, credentials=(USER, SECRET),
                           redirect_to=other_host.url("basic-only", "stolen")) as server:
        yield server


@pytest.fixture(scope="module")
def checker() -> Iterator[StreamChecker]:
    with StreamChecker(1) as c:
        yield c


def _since(server: HostileRtspServer, before: int) -> list[tuple[str, str]]:
    return server.authorizations[before:]


def test_basic_challenge_gets_no_password_unless_allowed(camera: HostileRtspServer, checker: StreamChecker) -> None:
    before = len(camera.authorizations)
    refused = checker.check(StreamJob(camera.url("basic-only"), 15, (320, 240), CREDS))
    assert not refused.up and refused.error is not None
    assert refused.error.startswith("auth: ") and "Basic" in refused.error and "--allow-plaintext-auth" in refused.error
    assert _since(camera, before) == []  # not one Authorization header, Basic or other
    allowed = checker.check(StreamJob(camera.url("basic-only"), 15, (320, 240), CREDS, allow_plaintext_auth=True))
    assert allowed.up and allowed.error is None, allowed.error
    assert any(value == f"Basic {BASIC}" for _, value in _since(camera, before))


def test_digest_challenge_gets_digest_and_never_the_password(camera: HostileRtspServer, checker: StreamChecker) -> None:
    before = len(camera.authorizations)
    result = checker.check(StreamJob(camera.url("digest-only"), 15, (320, 240), CREDS))
    assert result.up and result.error is None and result.fps_ok, result
    sent = _since(camera, before)
    assert sent and all(value.startswith("Digest ") for _, value in sent), sent
    assert not any(SECRET in value or BASIC in value for _, value in sent)


def test_wrong_password_is_refused_by_digest(camera: HostileRtspServer, checker: StreamChecker) -> None:
    result = checker.check(StreamJob(camera.url("digest-only"), 15, None, Credential(USER, "wrong")))
    assert result.error == "auth: the camera refused the credentials (RTSP 401)"


def test_no_credentials_go_to_a_stream_that_asks_for_none(camera: HostileRtspServer, checker: StreamChecker) -> None:
    before = len(camera.authorizations)
    result = checker.check(StreamJob(camera.url("healthy"), 15, (320, 240), CREDS))
    assert result.up and result.error is None
    assert _since(camera, before) == []


@pytest.mark.parametrize("mode, allow", [("redirect-other", False), ("redirect-other-basic", True)])
def test_a_redirect_to_another_host_gets_no_credentials(camera: HostileRtspServer, other_host: HostileRtspServer,
                                                         checker: StreamChecker, mode: str, allow: bool) -> None:
    """The camera authenticates the check, then redirects it to 127.0.0.2, which asks for Basic."""
    before = len(other_host.authorizations)
    result = checker.check(StreamJob(camera.url(mode), 15, None, CREDS, allow_plaintext_auth=allow))
    assert not result.up and result.error is not None
    assert "another host" in result.error and "127.0.0.2" in result.error, result.error
    assert _since(other_host, before) == []  # neither the password nor a digest of it
    assert SECRET not in result.error


# ---------------------------------------------------------------------------
# HTTP MJPEG streams: the same rule as ONVIF snapshots.


class _BasicMjpeg(http.server.BaseHTTPRequestHandler):
    """An MJPEG stream behind HTTP Basic; every Authorization header is kept on the server."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        server: _MjpegServer = self.server  # type: ignore[assignment]
        value = self.headers.get("Authorization")
        if value:
            server.authorizations.append(value)
        if value != f"Basic {BASIC}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        started = time.monotonic()
        index = 0
        try:
            while time.monotonic() - started < 8:
                jpeg = server.frames[index % len(server.frames)]
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                                 + jpeg + b"\r\n")
                index += 1
                time.sleep(max(0.0, started + index / 10 - time.monotonic()))
        except OSError:
            return


class _MjpegServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        cv2 = pytest.importorskip("cv2")
        np = pytest.importorskip("numpy")
        super().__init__(("127.0.0.1", 0), _BasicMjpeg)
        self.authorizations: list[str] = []
        self.frames = []
        for i in range(10):
            picture = np.full((240, 320, 3), 60, np.uint8)
            cv2.rectangle(picture, (i * 20, 40), (i * 20 + 60, 120), (255, 255, 255), -1)
            self.frames.append(cv2.imencode(".jpg", picture)[1].tobytes())


@pytest.fixture(scope="module")
def mjpeg_basic() -> Iterator[_MjpegServer]:
    server = _MjpegServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_stream_basic_only_when_allowed(mjpeg_basic: _MjpegServer, checker: StreamChecker) -> None:
    url = "http://127.0.0.1:%d/video.mjpg" % mjpeg_basic.server_address[1]
    refused = checker.check(StreamJob(url, 10, (320, 240), CREDS))
    assert not refused.up and refused.error is not None and "--allow-plaintext-auth" in refused.error, refused.error
    assert mjpeg_basic.authorizations == []
    allowed = checker.check(StreamJob(url, 10, (320, 240), CREDS, allow_plaintext_auth=True))
    assert allowed.up and allowed.error is None, allowed.error
    assert mjpeg_basic.authorizations and all(v == f"Basic {BASIC}" for v in mjpeg_basic.authorizations)


def test_worker_stream_probe_answers_basic_only_when_the_targets_file_allows_plaintext(
        camera: HostileRtspServer, tmp_path) -> None:
    """The worker's stream probe takes the switch from the targets file (defaults.onvif.allow_plaintext_auth)."""
    import asyncio

    from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
    from sitescout.probes.worker.kinds.stream import probe_stream
    from sitescout.probes.worker.targets import load_targets

    uri = camera.url("basic-only")
    port = uri.split("//", 1)[1].split("/", 1)[0].split(":")[1]

    def run(allow: bool) -> tuple[bool, str | None]:
        path = tmp_path / f"targets-{allow}.yml"
        path.write_text(
            "defaults:\n"
            f"  onvif: {{allow_plaintext_auth: {'true' if allow else 'false'}}}\n"
            "targets:\n"
            "  - site: lab\n"
            "    device: cam\n"
            "    ip: 127.0.0.1\n"
            f"    onvif: http://127.0.0.1:{port}/onvif/device_service\n"
            "    streams:\n"
            f"      - {{uri: '{uri}', profile: main, expected_fps: 15}}\n",
            encoding="utf-8")
        config = load_targets(path)
        assert config.defaults.stream.allow_plaintext_auth is allow
        target = config.targets[0]
        ctx = ProbeContext(credentials=(CREDS,))
        try:
            [result] = asyncio.run(probe_stream([ProbeJob("stream", target, target.streams[0])],
                                                config.defaults.stream, ctx))
        finally:
            ctx.close()
        return result.up, result.detail

    before = len(camera.authorizations)
    up, detail = run(False)
    assert not up and detail is not None and "--allow-plaintext-auth" in detail, detail
    assert _since(camera, before) == []
    up, detail = run(True)
    assert up, detail
    assert any(value == f"Basic {BASIC}" for _, value in _since(camera, before))


def test_stream_allow_plaintext_auth_is_not_a_key_of_its_own(tmp_path) -> None:
    from sitescout.probes.worker.records import TargetsError
    from sitescout.probes.worker.targets import load_targets

    path = tmp_path / "targets.yml"
    path.write_text("defaults:\n  stream: {allow_plaintext_auth: true}\ntargets: []\n", encoding="utf-8")
    with pytest.raises(TargetsError, match="allow_plaintext_auth"):
        load_targets(path)


def test_password_parameters_are_shown_redacted_but_requested_as_given() -> None:
    """An XMEye-style URI carries its login in the query or the path: the camera needs it in the request,
    and no log line, error or label may show it (device_uris' one rule)."""
    from sitescout.probes.credentials import Credential
    from sitescout.probes.stream.redact import redact_uri, scrub, split_credentials

    query = "http://198.51.100.7/webcapture.jpg?command=snap&user=admin&password=Pw-9"
    path = "rtsp://u:Pw-8@198.51.100.7:554/user=admin_password=Pw-9_channel=1_stream=0.sdp"
    assert redact_uri(query) == "http://198.51.100.7/webcapture.jpg?command=snap&user=REDACTED&password=REDACTED"
    assert redact_uri(path) == "rtsp://198.51.100.7:554/user=REDACTED_password=REDACTED_channel=1_stream=0.sdp"
    requested, creds = split_credentials(path, None)
    assert requested == "rtsp://198.51.100.7:554/user=admin_password=Pw-9_channel=1_stream=0.sdp"
    assert creds == Credential("u", "Pw-8")
    said = scrub(f"could not open {query}: 401; then {requested}", Credential("u", "Pw-8"))
    assert "Pw-9" not in said and "Pw-8" not in said and "command=snap" in said
