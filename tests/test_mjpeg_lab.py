"""The lab's MJPEG-over-HTTP camera fallback, read by real clients (http.client, ffprobe)."""

from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from test_rtsp_lab import laplacian_variance  # one pure-Python oracle for both lab servers

from sitescout.infra.lab.mjpeg import DATA_DIR, MjpegHttpServer
from sitescout.infra.lab.rtsp import StreamSpec

needs_ffmpeg = pytest.mark.skipif(not shutil.which("ffprobe"), reason="needs ffmpeg/ffprobe")
SPECS = {
    "normal": StreamSpec(codec="mjpeg", fps=10),
    "small": StreamSpec(codec="mjpeg", width=160, height=120, fps=5),
    "frozen": StreamSpec(codec="mjpeg", behaviour="frozen", fps=10),
    "black": StreamSpec(codec="mjpeg", behaviour="black", fps=10),
    "blur": StreamSpec(codec="mjpeg", behaviour="blur", fps=10),
    "stall": StreamSpec(codec="mjpeg", behaviour="stall", stall_after_s=1.0, fps=10),
    "hang": StreamSpec(codec="mjpeg", behaviour="hang"),
}


@pytest.fixture(scope="module")
def cams() -> Iterator[dict[str, MjpegHttpServer]]:
    servers = {name: MjpegHttpServer("127.0.0.1", 0, spec) for name, spec in SPECS.items()}
    try:
        for srv in servers.values():
            srv.start()
        yield servers
    finally:
        for srv in servers.values():
            srv.stop()


def read_parts(srv: MjpegHttpServer, seconds: float) -> tuple[str, list[tuple[float, bytes]]]:
    """Read multipart parts for a while; return the content type and (arrival s, JPEG) pairs."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=1.0)  # per read
    conn.request("GET", "/video.mjpg")
    resp = conn.getresponse()
    ctype = resp.getheader("Content-Type", "")
    boundary = ctype.split("boundary=", 1)[1].encode()
    start, parts = time.monotonic(), []
    try:
        while time.monotonic() - start < seconds:
            line = resp.fp.readline()
            if not line.strip():
                continue
            assert line.strip() == b"--" + boundary
            headers = {}
            while (header := resp.fp.readline().strip()):
                key, _, value = header.decode().partition(":")
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            jpeg = resp.fp.read(int(headers["content-length"]))
            parts.append((time.monotonic() - start, jpeg))
    except TimeoutError:
        pass
    finally:
        conn.close()
    return ctype, parts


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """Return (width, height) from a baseline JPEG's SOF0 marker; check the SOI/EOI markers."""
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    i = 2
    while i < len(jpeg):
        marker, length = jpeg[i + 1], int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(jpeg[i + 7:i + 9], "big"), int.from_bytes(jpeg[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker")


def test_shipped_frames_stay_small() -> None:
    files = list(DATA_DIR.glob("mjpeg-*.jpg"))
    assert len(files) >= 16
    assert sum(f.stat().st_size for f in files) < 300_000


def test_normal_stream_is_multipart_jpeg_at_the_asked_rate(cams: dict[str, MjpegHttpServer]) -> None:
    ctype, parts = read_parts(cams["normal"], 2.0)
    assert ctype == "multipart/x-mixed-replace; boundary=frame"
    assert {jpeg_size(jpeg) for _, jpeg in parts} == {(320, 240)}
    assert len({hashlib.md5(jpeg).digest() for _, jpeg in parts}) > 10  # a moving picture
    times = [t for t, _ in parts]
    fps = (len(times) - 1) / (times[-1] - times[0])
    assert fps == pytest.approx(10, rel=0.15)


def test_small_size_and_low_rate(cams: dict[str, MjpegHttpServer]) -> None:
    _, parts = read_parts(cams["small"], 2.0)
    assert {jpeg_size(jpeg) for _, jpeg in parts} == {(160, 120)}
    assert 9 <= len(parts) <= 12  # 5 fps for 2 s, plus the frame sent at once


def test_frozen_repeats_one_frame(cams: dict[str, MjpegHttpServer]) -> None:
    _, parts = read_parts(cams["frozen"], 1.0)
    assert len(parts) >= 8
    assert len({jpeg for _, jpeg in parts}) == 1


def test_stall_stops_frames_but_keeps_the_connection(cams: dict[str, MjpegHttpServer]) -> None:
    _, parts = read_parts(cams["stall"], 3.0)  # ends on the 1 s read timeout, not on EOF
    assert 8 <= len(parts) <= 12
    assert parts[-1][0] < 1.2


def test_hang_accepts_and_never_answers(cams: dict[str, MjpegHttpServer]) -> None:
    srv = cams["hang"]
    with socket.create_connection((srv.host, srv.port), timeout=2) as sock:
        sock.sendall(b"GET /video.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.7)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_snapshot_is_one_jpeg(cams: dict[str, MjpegHttpServer]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", cams["normal"].port, timeout=5)
    conn.request("GET", "/onvif/snapshot.jpg")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and resp.getheader("Content-Type") == "image/jpeg"
    assert jpeg_size(body) == (320, 240)


@needs_ffmpeg
def test_ffprobe_reads_the_http_stream(cams: dict[str, MjpegHttpServer]) -> None:
    done = subprocess.run(["ffprobe", "-v", "error", "-rw_timeout", "5000000", "-select_streams", "v:0",
                           "-show_entries", "stream=codec_name,width,height", "-of", "compact",
                           cams["normal"].url()], capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == "stream|codec_name=mjpeg|width=320|height=240", done.stderr




@needs_ffmpeg
def test_black_and_blur_read_as_such_by_ffmpeg(cams: dict[str, MjpegHttpServer]) -> None:
    def first_frame(url: str) -> tuple[float, float]:
        """Decode one frame with ffmpeg; return (mean luma, Laplacian variance)."""
        done = subprocess.run(["ffmpeg", "-v", "error", "-rw_timeout", "5000000", "-i", url,
                               "-frames:v", "1", "-vf", "format=gray", "-f", "rawvideo", "-"],
                              capture_output=True, timeout=20)
        assert len(done.stdout) == 320 * 240, done.stderr[-400:]
        return sum(done.stdout) / len(done.stdout), laplacian_variance(done.stdout, 320, 240)

    normal_y, normal_sharpness = first_frame(cams["normal"].url())
    black_y, _ = first_frame(cams["black"].url())
    blur_y, blur_sharpness = first_frame(cams["blur"].url())
    assert black_y < 17  # 0 in full-range JPEG (a camera's MJPEG), 16 in limited range
    assert normal_y > 60 and blur_y > 60
    assert blur_sharpness < 50 < 1000 < normal_sharpness, (blur_sharpness, normal_sharpness)
