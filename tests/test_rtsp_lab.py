"""The lab's GStreamer RTSP server, checked with real clients (ffprobe, ffmpeg)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from sitescout.infra.lab.rtsp import (
    HangingTcpServer,
    RtspServer,
    RtspServerError,
    StreamSpec,
    gstreamer_available,
)

pytestmark = [
    pytest.mark.gstreamer,
    pytest.mark.skipif(not shutil.which("ffprobe"), reason="needs ffmpeg/ffprobe"),
    pytest.mark.skipif(not gstreamer_available(), reason="needs Debian's GStreamer RTSP server"),
]

DAHUA_MAIN = "/cam/realmonitor?channel=1&subtype=0"
DAHUA_SUB = "/cam/realmonitor?channel=1&subtype=1"
HIKVISION = "/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
ODD = "/odd path/camêra 1"
MOUNTS = {
    "/h264": StreamSpec(),
    "/mjpeg": StreamSpec(codec="mjpeg", width=320, height=240, fps=10),
    DAHUA_MAIN: StreamSpec(width=640, height=480, fps=15),
    DAHUA_SUB: StreamSpec(width=352, height=288, fps=10),
    HIKVISION: StreamSpec(width=320, height=240, fps=12),
    ODD: StreamSpec(width=160, height=120),
    "/wrong_fps": StreamSpec(width=320, height=240, fps=5),
    "/wrong_size": StreamSpec(width=176, height=144),
    "/black": StreamSpec(behaviour="black"),
    "/frozen": StreamSpec(behaviour="frozen"),
    "/blur": StreamSpec(behaviour="blur"),
    "/stall": StreamSpec(behaviour="stall", stall_after_s=2.0, width=320, height=240),
    "/hang": StreamSpec(behaviour="hang", width=320, height=240),
}
# ffprobe as lab-notes give it, with a 1 s analysis window (1.4 s per call instead of 2.2 s).
FFPROBE = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
           "-analyzeduration", "1000000", "-select_streams", "v:0",
           "-show_entries", "stream=codec_name,width,height,avg_frame_rate", "-of", "json"]
FFMPEG_IN = ["ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp", "-timeout", "5000000"]


@pytest.fixture(scope="module")
def server() -> Iterator[RtspServer]:
    with RtspServer("127.0.0.1", 0, MOUNTS) as srv:
        yield srv


@pytest.fixture
def live(server: RtspServer) -> RtspServer:
    server.restart_if_dead()
    return server


def ffprobe(url: str, timeout_s: float = 15) -> dict[str, object]:
    done = subprocess.run([*FFPROBE, url], capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["streams"][0]


def gray_frame(url: str, width: int, height: int) -> bytes:
    cmd = [*FFMPEG_IN, "-v", "error", "-i", url, "-frames:v", "1", "-vf", "format=gray",
           "-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, capture_output=True, timeout=20).stdout
    assert len(raw) == width * height
    return raw


def laplacian_variance(raw: bytes, width: int, height: int) -> float:
    """Variance of the 4-neighbour Laplacian (the usual sharpness score)."""
    values: list[int] = []
    for y in range(1, height - 1):
        up, row, down = (raw[(y + d) * width:(y + d + 1) * width] for d in (-1, 0, 1))
        values.extend(up[x] + down[x] + row[x - 1] + row[x + 1] - 4 * row[x]
                      for x in range(1, width - 1))
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def picture_stats(url: str, seconds: float = 2.0) -> tuple[float, bool]:
    """Return (mean YAVG, whether freezedetect saw a freeze) over a few seconds.

    A read that decoded no frame at all is made once more: once in a clean-clone CI run a client of
    a fresh shared mount got one undecodable slice and then EOF (never reproduced in 55 rounds of
    this test's five clients at load 10). That is the lab server's start-up, not the picture this
    test checks; a second empty read still fails, with both reads' ffmpeg output.
    """
    vf = "signalstats,metadata=print:key=lavfi.signalstats.YAVG,freezedetect=n=-60dB:d=0.7"
    tries = []
    for _ in range(2):
        started = time.monotonic()
        done = subprocess.run([*FFMPEG_IN, "-i", url, "-t", str(seconds), "-vf", vf, "-f", "null", "-"],
                              capture_output=True, text=True, timeout=20)
        yavg = [float(line.rsplit("=", 1)[1]) for line in done.stderr.splitlines()
                if "lavfi.signalstats.YAVG=" in line]
        if yavg:
            return sum(yavg) / len(yavg), "freeze_start" in done.stderr
        tries.append(f"after {time.monotonic() - started:.1f} s, exit {done.returncode}:\n{done.stderr[-1500:]}")
    raise AssertionError(f"{url}: no frame decoded in two reads\n" + "\n---\n".join(tries))


@pytest.mark.parametrize(("path", "codec", "size", "fps"), [
    ("/h264", "h264", (640, 480), "15/1"),
    ("/mjpeg", "mjpeg", (320, 240), "10/1"),
    (DAHUA_MAIN, "h264", (640, 480), "15/1"),
    (DAHUA_SUB, "h264", (352, 288), "10/1"),
    (HIKVISION, "h264", (320, 240), "12/1"),
    (ODD, "h264", (160, 120), "15/1"),
    ("/wrong_fps", "h264", (320, 240), "5/1"),
    ("/wrong_size", "h264", (176, 144), "15/1"),
])
def test_ffprobe_sees_codec_size_and_rate(live: RtspServer, path: str, codec: str,
                                          size: tuple[int, int], fps: str) -> None:
    stream = ffprobe(live.url(path))
    assert (stream["codec_name"], stream["width"], stream["height"]) == (codec, *size)
    assert stream["avg_frame_rate"] == fps


def test_url_keeps_query_and_encodes_odd_characters(live: RtspServer) -> None:
    assert live.url(DAHUA_SUB).endswith(":%d/cam/realmonitor?channel=1&subtype=1" % live.port)
    assert live.url(ODD).endswith("/odd%20path/cam%C3%AAra%201")


def test_unknown_query_falls_back_to_the_bare_path(live: RtspServer) -> None:
    stream = ffprobe(live.url("/cam/realmonitor?subtype=0&channel=1&unicast=true"))
    assert (stream["width"], stream["height"]) == (640, 480)  # the first mount on that path


def test_unknown_path_is_refused(live: RtspServer) -> None:
    done = subprocess.run([*FFPROBE, live.url("/nope")], capture_output=True, text=True, timeout=15)
    assert done.returncode != 0 and "404" in done.stderr


def test_black_normal_frozen_and_blur_pictures(live: RtspServer) -> None:
    with ThreadPoolExecutor(5) as pool:  # five clients at once: 4 s instead of 12 s
        stats = {p: pool.submit(picture_stats, live.url(p)) for p in ("/h264", "/black", "/frozen")}
        frames = {p: pool.submit(gray_frame, live.url(p), 640, 480) for p in ("/h264", "/blur")}
        (normal_y, normal_frozen), (black_y, _), (frozen_y, frozen_frozen) = (
            stats[p].result() for p in ("/h264", "/black", "/frozen"))
        sharp, blurred = (laplacian_variance(frames[p].result(), 640, 480) for p in ("/h264", "/blur"))
    assert black_y == pytest.approx(16, abs=1)  # limited-range black
    assert normal_y > 60 and frozen_y > 60
    assert frozen_frozen and not normal_frozen
    assert blurred < 50 < 1000 < sharp, (blurred, sharp)


def test_stall_stops_frames_but_keeps_the_session(live: RtspServer) -> None:
    cmd = [*FFMPEG_IN, "-v", "error", "-threads", "1", "-analyzeduration", "500000",
           "-probesize", "32768", "-i", live.url("/stall"), "-f", "framemd5", "-flush_packets", "1", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    start, arrivals = time.monotonic(), []

    def read() -> None:
        assert proc.stdout
        for line in proc.stdout:
            if not line.startswith(b"#"):
                arrivals.append(time.monotonic() - start)

    threading.Thread(target=read, daemon=True).start()
    try:
        time.sleep(4.5)
        alive = proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=5)
    assert alive, "the client gave up: the RTSP session should stay open"
    assert len(arrivals) >= 15  # about 2 s at 15 fps
    assert arrivals[-1] < 3.2 < 4.5  # nothing in the last 1.3 s


def test_hang_mount_answers_options_but_describe_never_returns(live: RtspServer) -> None:
    start = time.monotonic()
    done = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "2000000",
                           live.url("/hang")], capture_output=True, text=True, timeout=15)
    assert done.returncode != 0
    assert 1.5 < time.monotonic() - start < 6


def test_hanging_tcp_server_accepts_and_never_answers() -> None:
    with HangingTcpServer("127.0.0.1", 0) as hang:
        with socket.create_connection(("127.0.0.1", hang.port), timeout=2) as sock:
            sock.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(1)
        start = time.monotonic()
        done = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout",
                               "2000000", hang.url("/live")], capture_output=True, timeout=15)
        assert done.returncode != 0
        assert time.monotonic() - start < 6


def test_restart_if_dead_brings_a_killed_server_back() -> None:
    with RtspServer("127.0.0.1", 0, {"/x": StreamSpec(codec="mjpeg", width=160, height=120)}) as srv:
        assert srv.restart_if_dead() is False
        port = srv.port
        assert srv._proc is not None
        os.killpg(srv._proc.pid, signal.SIGKILL)
        srv._proc.wait(timeout=5)
        assert not srv.is_alive()
        assert srv.restart_if_dead() is True
        assert srv.is_alive() and srv.port == port
        assert ffprobe(srv.url("/x"))["codec_name"] == "mjpeg"
    assert not srv.is_alive()


def test_bad_mount_is_a_clear_start_error() -> None:
    srv = RtspServer("127.0.0.1", 0, {"no-slash": StreamSpec()})
    with pytest.raises(RtspServerError, match="must start with '/'"):
        srv.start()
    assert not srv.is_alive()


def test_stream_spec_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="behaviour"):
        StreamSpec(behaviour="wobbly")
    with pytest.raises(ValueError, match="fps"):
        StreamSpec(fps=0)


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")
def test_server_runs_inside_a_network_namespace() -> None:
    ns = f"ss-rtsp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        with RtspServer("127.0.0.1", 8554, {"/ns": StreamSpec(width=320, height=240)}, netns=ns) as srv:
            inside = subprocess.run(["ip", "netns", "exec", ns, *FFPROBE, srv.url("/ns")],
                                    capture_output=True, text=True, timeout=15)
            assert json.loads(inside.stdout)["streams"][0]["width"] == 320, inside.stderr
        assert not srv.is_alive()
    finally:
        subprocess.run(["ip", "netns", "delete", ns], timeout=10)
