"""Stream a simulated camera as MJPEG over HTTP where GStreamer is missing.

`sitescout demo` must run after a bare `pip install .`, with no encoder at all.
So instead of encoding, this server cycles through small JPEG frames rendered
once and shipped in `data/` (about 210 KB in all):

    ffmpeg -f lavfi -i testsrc=size=320x240:rate=15 -frames:v 15 -q:v 10 mjpeg-normal-320x240-%02d.jpg
    ffmpeg -f lavfi -i testsrc=size=160x120:rate=15 -frames:v 15 -q:v 10 mjpeg-normal-160x120-%02d.jpg
    ffmpeg -f lavfi -i testsrc=size=320x240:rate=15 -frames:v 5 -vf gblur=sigma=6 -q:v 10 mjpeg-blur-320x240-%02d.jpg
    ffmpeg -f lavfi -i color=black:size=320x240 -frames:v 1 -q:v 10 mjpeg-black-320x240-01.jpg

Any GET answers `multipart/x-mixed-replace; boundary=frame` at `spec.fps`; a
path ending in `.jpg` or `/snapshot` answers one JPEG. `spec.codec` and
`bitrate_kbps` are ignored (always JPEG). Size: 160x120 when asked for exactly
that (the "wrong resolution" case), else 320x240. Behaviours as in the RTSP
lab: frozen repeats one frame, black sends a black frame, blur cycles blurred
frames, stall stops sending after `stall_after_s` but keeps the connection,
hang accepts and never answers.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from sitescout.infra.lab.rtsp import StreamSpec, lab_url

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).with_name("data")
BOUNDARY = "frame"
_WRITE_TIMEOUT_S = 10.0


def load_frames(spec: StreamSpec) -> list[bytes]:
    """Return the shipped JPEG frames that play `spec` (one frame when still)."""
    size = "160x120" if (spec.width, spec.height) == (160, 120) else "320x240"
    kind = {"black": "black", "blur": "blur"}.get(spec.behaviour, "normal")
    if kind != "normal":
        size = "320x240"
    files = sorted(DATA_DIR.glob(f"mjpeg-{kind}-{size}-*.jpg"))
    if not files:
        raise FileNotFoundError(f"no frames for {kind} {size} in {DATA_DIR}")
    frames = [f.read_bytes() for f in files]
    return frames[:1] if spec.behaviour == "frozen" else frames


def _mover(frames: list[bytes]) -> Any:
    """Return index -> JPEG with a box sliding across the cycled frames, or None without OpenCV.

    A short loop of shipped frames repeats every second, so two pictures sampled a
    whole number of seconds apart would be identical and a live stream would read
    as frozen; the box's path has another period, so no two samples of a check match.
    """
    try:
        import cv2
        import numpy as np
    except ImportError:
        return None
    decoded = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    pictures = [p for p in decoded if p is not None]
    if len(pictures) < len(decoded):
        return None
    height, width = pictures[0].shape[:2]
    side = max(height // 4, 8)

    def stamp(index: int) -> bytes:
        picture = pictures[index % len(pictures)].copy()
        x = (index * 7) % max(width - side, 1)
        cv2.rectangle(picture, (x, side // 2), (x + side, side // 2 + side), (255, 255, 255), -1)
        ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return data.tobytes() if ok else frames[index % len(frames)]

    return stamp


class _Handler(BaseHTTPRequestHandler):
    server: _MjpegHTTPServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        if srv.spec.behaviour == "hang":
            srv.stopping.wait()  # accepted, request read, never answered
            return
        self.connection.settimeout(_WRITE_TIMEOUT_S)
        path = self.path.split("?", 1)[0]
        if path.endswith(".jpg") or path.endswith("/snapshot"):
            self._send_snapshot(srv.frames[0])
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            self._stream(srv)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            log.debug("%s: client left", self.address_string())

    def _send_snapshot(self, jpeg: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(jpeg)))
        self.end_headers()
        self.wfile.write(jpeg)

    def _stream(self, srv: _MjpegHTTPServer) -> None:
        spec, frames = srv.spec, srv.frames
        stamp = _mover(frames) if spec.behaviour == "normal" else None
        period = 1.0 / spec.fps
        start = deadline = time.monotonic()
        index = 0
        while not srv.stopping.is_set():
            if spec.behaviour == "stall" and time.monotonic() - start >= spec.stall_after_s:
                srv.stopping.wait()  # keep the connection, send nothing more
                return
            jpeg = stamp(index) if stamp else frames[index % len(frames)]
            self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                             f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            self.wfile.flush()
            index += 1
            deadline += period
            delay = deadline - time.monotonic()
            if delay < -period:  # fell behind (slow client): restart the clock
                deadline = time.monotonic()
            elif delay > 0:
                srv.stopping.wait(delay)


class _MjpegHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], spec: StreamSpec, frames: list[bytes]) -> None:
        super().__init__(address, _Handler)
        self.spec = spec
        self.frames = frames
        self.stopping = threading.Event()


class MjpegHttpServer:
    """An HTTP server streaming one simulated camera as multipart MJPEG.

    Usage::

        with MjpegHttpServer("127.0.0.1", 0, StreamSpec(fps=10)) as cam:
            url = cam.url("/video.mjpg")
    """

    def __init__(self, host: str, port: int, spec: StreamSpec) -> None:
        self.host = host
        self.port = port
        self.spec = spec
        self._httpd: _MjpegHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"MjpegHttpServer({self.host}:{self.port}, {self.spec.behaviour})"

    def start(self) -> None:
        """Load the frames, listen, and serve in a daemon thread."""
        httpd = _MjpegHTTPServer((self.host, self.port), self.spec, load_frames(self.spec))
        self._httpd, self.port = httpd, httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name=repr(self))
        self._thread.start()
        log.debug("%s: serving", self)

    def stop(self) -> None:
        """Stop serving and release every waiting client."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def url(self, path: str = "/video.mjpg") -> str:
        """Return the http:// URL of the stream (or of a snapshot, for a .jpg path)."""
        return lab_url("http", self.host, self.port, path)

    def __enter__(self) -> MjpegHttpServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
