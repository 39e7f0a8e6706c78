"""Stream health against the lab's real GStreamer RTSP server, a silent TCP server and an HTTP snapshot server."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from support import free_port

from sitescout.probes.credentials import Credential
from sitescout.probes.stream.check import StreamChecker, StreamJob, check_stream
from sitescout.probes.stream.config import DEFAULT_STREAM, MONITORING_STREAM
from sitescout.probes.stream.redact import redact_uri
from sitescout.probes.stream.snapshot import check_snapshot

SECRET = "s3cr3t p@ss/word"
CREDS = Credential("admin", SECRET)

# Lab mounts: (spec kwargs, expected fps given to the check, expected size given to the check).
MOUNTS = {
    "/h264": (dict(codec="h264", width=320, height=240, fps=15), 15, (320, 240)),
    "/mjpeg": (dict(codec="mjpeg", width=320, height=240, fps=15), 15, (320, 240)),
    "/frozen": (dict(codec="h264", width=320, height=240, fps=15, behaviour="frozen"), 15, (320, 240)),
    "/black": (dict(codec="h264", width=320, height=240, fps=15, behaviour="black"), 15, (320, 240)),
    "/stall": (dict(codec="h264", width=320, height=240, fps=15, behaviour="stall", stall_after_s=1.5), 15, (320, 240)),
    "/blur": (dict(codec="h264", width=320, height=240, fps=15, behaviour="blur"), None, (320, 240)),
    "/slow": (dict(codec="h264", width=320, height=240, fps=10), 25, (320, 240)),
    "/small": (dict(codec="h264", width=640, height=480, fps=15), 15, (1280, 720)),
}


@pytest.fixture(scope="module")
def rtsp() -> Iterator[object]:
    """One lab RTSP server on a free high port with every mount."""
    lab = pytest.importorskip("sitescout.infra.lab.rtsp")
    if not lab.gstreamer_available():
        pytest.skip("GStreamer RTSP server not available")
    mounts = {path: lab.StreamSpec(**spec) for path, (spec, _, _) in MOUNTS.items()}
    server = lab.RtspServer("127.0.0.1", free_port(), mounts)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


def _refused_port() -> int:
    port = free_port()  # bound then closed: nothing listens there now
    return port


def _mjpeg_http(spec_kwargs: dict) -> tuple[object, str] | None:
    try:
        from sitescout.infra.lab.mjpeg import MjpegHttpServer
        from sitescout.infra.lab.rtsp import StreamSpec
    except ImportError:
        return None
    server = MjpegHttpServer("127.0.0.1", free_port(), StreamSpec(**spec_kwargs))
    server.start()
    url = server.url() if callable(getattr(server, "url", None)) else server.url  # type: ignore[attr-defined]
    return server, str(url)


@pytest.mark.gstreamer
def test_every_lab_stream_is_classified_within_its_budget(rtsp: object, silent_server: int) -> None:
    jobs = [StreamJob(rtsp.url(path), fps, size, profile=path) for path, (_, fps, size) in MOUNTS.items()]  # type: ignore[attr-defined]
    jobs.append(StreamJob(f"rtsp://127.0.0.1:{silent_server}/hang", 15, None, profile="hang"))
    jobs.append(StreamJob(f"rtsp://127.0.0.1:{_refused_port()}/refused", 15, None, profile="refused"))
    http = _mjpeg_http(dict(codec="mjpeg", width=320, height=240, fps=10))
    if http is not None:
        jobs.append(StreamJob(http[1], 10, (320, 240), profile="http-mjpeg"))
    concurrency = 2
    started = time.monotonic()
    try:
        with StreamChecker(concurrency) as checker:
            results = {r.profile: r for r in checker.check_many(jobs)}
    finally:
        if http is not None:
            http[0].stop()  # type: ignore[attr-defined]
    total = time.monotonic() - started

    def problems(name: str) -> list[str]:
        return results[name].problems

    for name in ("/h264", "/mjpeg"):
        r = results[name]
        assert r.up and problems(name) == [], (name, r)
        assert r.fps_ok and r.size_ok and r.width == 320 and r.height == 240
        assert r.open_s is not None and r.open_s < DEFAULT_STREAM.open_timeout_s
        assert r.first_frame_s is not None and r.first_frame_s >= r.open_s
        assert r.bitrate_kbps and r.bitrate_kbps > 10
        assert r.snapshot_jpeg and r.snapshot_jpeg[:2] == b"\xff\xd8"
        assert r.decode_errors == 0 and r.stalled is False
    assert results["/mjpeg"].codec == "mjpeg" and results["/h264"].codec == "h264"
    assert problems("/frozen") == ["frozen"] and results["/frozen"].up
    assert results["/black"].black is True and problems("/black") == ["black"]
    assert results["/blur"].blurred is True and "blurred" in problems("/blur") and not results["/blur"].frozen
    stall = results["/stall"]
    assert stall.stalled is True and stall.up is False and stall.error and stall.error.startswith("timeout: stalled")
    assert 10 <= stall.frames <= 30  # 1.5 s at 15 fps, then nothing
    slow = results["/slow"]
    assert slow.up and problems("/slow") == ["fps_mismatch"] and 8.5 <= (slow.fps or 0) <= 11.5
    small = results["/small"]
    assert small.up and problems("/small") == ["size_mismatch"] and (small.width, small.height) == (640, 480)
    hang = results["hang"]
    assert not hang.up and hang.error and hang.error.startswith("timeout:")
    refused = results["refused"]
    assert not refused.up and refused.error == "unreachable: connection refused"
    if http is not None:
        r = results["http-mjpeg"]
        assert r.up and r.codec == "mjpeg" and problems("http-mjpeg") == [], r
    for r in results.values():
        assert r.duration_s is not None and r.duration_s <= DEFAULT_STREAM.budget_s + 0.5, r
        check = r.to_check()
        assert check.uri == r.uri and json.dumps(check.to_dict())
    # Worker starts (~1 s each) plus every check at its budget, spread over the workers.
    assert total <= 2 * 3 + len(jobs) * DEFAULT_STREAM.budget_s / concurrency
    # In practice much less: checks end at their window or on a clear failure.
    assert total <= 60, total


@pytest.mark.gstreamer
def test_monitoring_checks_skip_the_snapshot_and_judge_the_same(rtsp: object) -> None:
    assert replace(MONITORING_STREAM, snapshot=True) == DEFAULT_STREAM  # same bounds and thresholds
    paths = ("/h264", "/frozen", "/black", "/mjpeg")
    jobs = [StreamJob(rtsp.url(p), MOUNTS[p][1], MOUNTS[p][2], profile=p) for p in paths]  # type: ignore[attr-defined]
    with StreamChecker(2, MONITORING_STREAM) as checker:
        first = {r.profile: r for r in checker.check_many(jobs)}
        again = checker.check(jobs[0])  # a reused worker: its memory tuning and log file carry over
    for name, expected in (("/h264", []), ("/frozen", ["frozen"]), ("/black", ["black"]), ("/mjpeg", [])):
        r = first[name]
        assert r.up and r.problems == expected, (name, r)
        assert r.snapshot_jpeg is None and r.decoded_frames == 2 and r.decode_errors == 0
        assert r.width == 320 and r.height == 240 and r.fps_ok
    assert again.up and again.problems == [] and again.snapshot_jpeg is None and again.frames >= 50


@pytest.mark.gstreamer
def test_budget_kills_a_check_that_would_outlive_it(silent_server: int) -> None:
    config = replace(DEFAULT_STREAM, open_timeout_s=20, budget_s=1.5)
    started = time.monotonic()
    result = check_stream(f"rtsp://127.0.0.1:{silent_server}/x", expected_fps=None, expected_size=None, config=config)
    assert time.monotonic() - started < 8  # worker start + 1.5 s budget, never the 20 s open timeout
    assert result.up is False
    assert result.error == "timeout: no result within the 1.5 s budget; check killed"


@pytest.mark.gstreamer
def test_credentials_never_leave_the_check(rtsp: object, silent_server: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sitescout")
    good = rtsp.url("/h264")  # type: ignore[attr-defined]
    embedded = good.replace(
        "rtsp://", f"rtsp://admin:{SECRET.replace('@', '%40').replace('/', '%2F').replace(' ', '%20')}@"
    )
    jobs = [
        StreamJob(good, 15, (320, 240), CREDS, "good"),
        StreamJob(embedded, 15, (320, 240), None, "embedded"),
        StreamJob(f"rtsp://127.0.0.1:{_refused_port()}/x", 15, None, CREDS, "refused"),
        StreamJob(f"rtsp://127.0.0.1:{silent_server}/x", 15, None, CREDS, "hang"),
    ]
    config = replace(DEFAULT_STREAM, window_s=1.0, open_timeout_s=1.0)
    with StreamChecker(2, config) as checker:
        results = checker.check_many(jobs)
    assert results[0].up and results[1].up
    assert not results[2].up and not results[3].up and results[2].error and results[3].error
    dumped = " ".join(
        repr(r) + json.dumps(r.to_dict()) + json.dumps(r.to_check().to_dict()) + repr(j) for r, j in zip(results, jobs)
    ) + caplog.text
    for secret in (SECRET, "s3cr3t", "p%40ss", "admin:"):
        assert secret not in dumped, secret
    assert all("@" not in r.uri for r in results)
    assert results[1].uri == good


def test_redact_uri_strips_userinfo_only() -> None:
    assert redact_uri("rtsp://u:p%40w@10.0.0.1:554/a?x=1") == "rtsp://10.0.0.1:554/a?x=1"
    assert redact_uri("http://h/p") == "http://h/p"


# --- HTTP snapshots -----------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_server() -> Iterator[str]:
    """An HTTP server: /snap.jpg (basic auth), /open.jpg, /login (HTML), /big.jpg (over the cap), /slow, /drip."""
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    ok, encoded = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert ok
    jpeg = encoded.tobytes()
    token = "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", extra: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/snap.jpg" and self.headers.get("Authorization") != token:
                self._send(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="cam"'})
            elif self.path in ("/snap.jpg", "/open.jpg"):
                self._send(200, jpeg)
            elif self.path == "/big.jpg":
                self._send(200, jpeg[:-2] + b"\0" * 4096 + b"\xff\xd9")
            elif self.path == "/slow":
                time.sleep(3)
                self._send(200, jpeg)
            elif self.path == "/drip":  # a byte every 20 ms: each read is quick, the fetch never ends
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                try:
                    for i in range(len(jpeg) * 100):
                        self.wfile.write(jpeg[i % len(jpeg):i % len(jpeg) + 1])
                        self.wfile.flush()
                        time.sleep(0.02)
                except OSError:
                    return  # the client cut the fetch
            else:
                self._send(200, b"<html>login</html>", "text/html")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_snapshot_with_basic_auth_returns_jpeg_bytes_and_size(snapshot_server: str) -> None:
    result = check_snapshot(f"{snapshot_server}/snap.jpg", credentials=CREDS, timeout_s=3, allow_basic=True)
    assert result.up and result.error is None
    assert (result.width, result.height) == (160, 90)
    assert result.jpeg and result.size_bytes == len(result.jpeg)
    assert SECRET not in repr(result)


def test_snapshot_basic_auth_is_not_answered_unless_allowed(snapshot_server: str) -> None:
    # A device asking for Basic would read the password in clear: the default is to refuse.
    result = check_snapshot(f"{snapshot_server}/snap.jpg", credentials=CREDS, timeout_s=3)
    assert not result.up and result.error and result.error.startswith("auth: HTTP 401")
    assert "--allow-plaintext-auth" in result.error and SECRET not in result.error


def test_snapshot_failures_are_typed(snapshot_server: str) -> None:
    denied = check_snapshot(f"{snapshot_server}/snap.jpg", credentials=Credential("admin", "wrong"), timeout_s=3,
                            allow_basic=True)
    assert not denied.up and denied.error and denied.error.startswith("auth: HTTP 401")
    html = check_snapshot(f"{snapshot_server}/login", timeout_s=3)
    assert html.error and html.error.startswith("malformed: not a complete JPEG")
    big = check_snapshot(f"{snapshot_server}/big.jpg", timeout_s=3, max_bytes=1024)
    assert big.error and "larger than 1024 bytes" in big.error
    slow = check_snapshot(f"{snapshot_server}/slow", timeout_s=0.5)
    assert slow.error and slow.error.startswith("timeout:") and (slow.fetch_s or 9) < 2
    refused = check_snapshot(f"http://127.0.0.1:{_refused_port()}/x.jpg", timeout_s=1)
    assert refused.error and refused.error.startswith("unreachable:")


def test_snapshot_that_never_ends_is_cut_at_its_timeout(snapshot_server: str) -> None:
    started = time.monotonic()
    drip = check_snapshot(f"{snapshot_server}/drip", timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert not drip.up and drip.error and drip.error.startswith("timeout: no complete snapshot within 0.5 s"), drip
