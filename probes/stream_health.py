"""Stream health: open an RTSP or HTTP-MJPEG stream with OpenCV's FFmpeg backend and judge its picture.

How a check stays cheap: after the open the capture is switched to raw mode
(``CAP_PROP_FORMAT=-1``), so ``grab()`` only demuxes.  Every encoded frame is
counted (arrival time, size, PTS, key flag) for fps, bitrate and stalls, and
only a few *key* frames (one per `decode_every` frames) are decoded, alone, for
the picture checks (black, blur, frozen) and the JPEG snapshot.  A key frame
needs no other frame, so decoding it by itself is exact; MJPEG frames are all
key frames and are decoded with ``imdecode``.

How a check stays bounded: open/read timeouts go to the ``VideoCapture``
constructor, a wall-clock "no new frame for `stall_s`" rule ends a stalled
stream, and each check runs in a worker process that is killed at `budget_s`
(a hung FFmpeg becomes ``up=False, error="timeout: ..."``).  The measuring
side (``stream_worker``) runs only in that worker, which alone imports cv2.

``python -m sitescout.probes.stream_health --json URI`` checks one stream from a shell.
"""

from __future__ import annotations

import base64
import http.client
import logging
import multiprocessing
import multiprocessing.connection
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sitescout.probes.credentials import Credential
from sitescout.probes.errors import MalformedError, ProbeTimeout, UnreachableError, AuthError
from sitescout.probes.models import StreamCheck
from sitescout.probes.stream_metrics import jpeg_size

__all__ = [
    "StreamConfig",
    "DEFAULT_STREAM",
    "MONITORING_STREAM",
    "StreamResult",
    "SnapshotResult",
    "StreamJob",
    "StreamChecker",
    "check_stream",
    "check_streams",
    "check_snapshot",
    "redact_uri",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamConfig:
    """Bounds and thresholds of one stream check; every default says why it is what it is."""

    #: Seconds of stream watched after the open. 4 s holds 100 frames at 25 fps, two
    #: key frames at the common 2 s GOP (frozen needs two pictures), and a 2 s second
    #: half for the fps figure once the open's buffered burst is behind us.
    window_s: float = 4.0
    #: Given to the VideoCapture constructor; a silent server otherwise blocks 30 s.
    open_timeout_s: float = 3.0
    #: Per-read bound inside FFmpeg (constructor parameter too).
    read_timeout_s: float = 3.0
    #: Wall-clock "no new frame" limit. 2 s is Frigate's stall floor (max(2/fps, 2 s));
    #: a stalled stream keeps returning ok=True for a while, so we never trust ok.
    stall_s: float = 2.0
    #: Whole-check limit enforced by killing the worker: open + window + one read
    #: timeout + 2 s slack for process and decoder set-up.
    budget_s: float = 12.0
    #: Mean luma (0-255) at or below which a picture is black. OpenCV decodes black
    #: as 0 (full range); a night scene with a lit street lamp averages 15-40.
    black_luma_max: float = 10.0
    #: Variance of the Laplacian at 640 px width below which a picture is blurred.
    #: Lab: sharp test pattern 900-7000, Gaussian sigma=8 blur 2-3; outdoor scenes in
    #: focus read in the hundreds, fog or a smeared dome in the tens. Scene-dependent:
    #: the raw figure is reported so a per-camera baseline can replace this default.
    blur_laplacian_min: float = 30.0
    #: Mean absolute luma difference (0-255) between sampled pictures at or below
    #: which the stream is frozen. Re-encoded key frames of a still picture differ by
    #: ~0.1 at 640x480 and up to ~0.8 at 720p30 and 1080p25 (lab: x264's rate control
    #: re-quantises each key frame differently); sensor noise of a live static scene
    #: after encoding is expected to be above that (not measured on a real camera).
    frozen_diff_max: float = 1.0
    #: Decode a key frame at most once per this many frames (at 25 fps: one per 4 s);
    #: the first key frame and the last one of the window are always decoded, so a
    #: 4 s window at 25 fps costs two single-frame decodes (~6-15 ms CPU each at 1080p).
    decode_every: int = 100
    #: Measured fps within ±15 % of the expected rate is a match (a 2 s count at 25 fps
    #: is quantised to ±2 %, delivery jitter adds a few per cent; 10 vs 25 is far out).
    fps_tolerance: float = 0.15
    #: RTSP transport named in OPENCV_FFMPEG_CAPTURE_OPTIONS (setting that variable
    #: replaces OpenCV's default, so it is always named): tcp survives NAT and loss.
    rtsp_transport: str = "tcp"
    #: FFmpeg probing limits: 0.5 s / 32 KiB open in ~0.25 s instead of ~2 s (lab-notes).
    analyzeduration_us: int = 500_000
    probesize_bytes: int = 32_768
    #: Growth of the worker's resident memory (MB) over its size at the check's start
    #: beyond which the check is killed.  While a picture is decoded the worker is
    #: allowed `memory_per_pixel_bytes` more per pixel (of the stream's declared size,
    #: at least a 4K picture, at most 16 MP).  A stream that never ends a frame
    #: makes FFmpeg's parser join fragments without limit (lab: over 1 GB in 7 s on
    #: loopback) without decoding anything.  Legitimate checks grow 37 MB at 1080p and
    #: 123-144 MB at 4K (the latter on a loaded CI machine), at the key-frame decode
    #: (16 B/pixel: 48 + 127 MB at 4K, with room), and pass
    #: with a 40 MB cap outside it (lab, 320x240 to 4K; larger sensors not measured).
    #: The flood grows ~65 MB/s on loopback, and jumps by ~40 MB when FFmpeg's buffer
    #: passes 32 MB (a fresh mmap while the old block stays in the kept heap, growth
    #: ~65 MB -> ~105 MB): a 48 MB cap, polled every 20 ms, stops it before that jump.
    memory_cap_mb: float = 48.0
    memory_per_pixel_bytes: float = 16.0
    #: Width of the luma picture the image checks run on (thresholds assume it).
    analysis_width: int = 640
    #: Keep a full-size JPEG of the first decoded key frame (MJPEG: the frame as
    #: received). The survey keeps it; a monitoring check need not (1080p: ~6 ms CPU
    #: of JPEG encoding per check, see MONITORING_STREAM).
    snapshot: bool = True

    def __post_init__(self) -> None:
        for name in ("window_s", "open_timeout_s", "read_timeout_s", "stall_s", "budget_s", "memory_cap_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"StreamConfig.{name} must be > 0")
        if self.decode_every < 1:
            raise ValueError("StreamConfig.decode_every must be >= 1")
        if self.rtsp_transport not in ("tcp", "udp", "http"):
            raise ValueError("StreamConfig.rtsp_transport must be tcp, udp or http")


DEFAULT_STREAM = StreamConfig()
#: Repeated health checks (the worker/exporter): the same bounds and thresholds, no snapshot.
MONITORING_STREAM = StreamConfig(snapshot=False)


@dataclass
class StreamResult:
    """Everything one stream check measured; `to_check()` gives the survey document's record."""

    uri: str
    profile: str | None = None
    up: bool = False
    error: str | None = None
    open_s: float | None = None
    first_frame_s: float | None = None
    codec: str | None = None
    fps: float | None = None
    stream_fps: float | None = None
    expected_fps: float | None = None
    fps_ok: bool | None = None
    width: int | None = None
    height: int | None = None
    expected_width: int | None = None
    expected_height: int | None = None
    size_ok: bool | None = None
    frames: int = 0
    key_frames: int = 0
    decoded_frames: int = 0
    decode_errors: int = 0
    bitrate_kbps: float | None = None
    stalled: bool | None = None
    longest_gap_s: float | None = None
    frozen: bool | None = None
    black: bool | None = None
    mean_luma: float | None = None
    blurred: bool | None = None
    sharpness: float | None = None
    duration_s: float | None = None
    #: Peak resident-memory growth of the worker process during this check (MB).
    memory_growth_mb: float | None = None
    snapshot_jpeg: bytes | None = field(default=None, repr=False)

    def to_check(self) -> StreamCheck:
        """Return the contract record (no credentials, no snapshot bytes)."""
        return StreamCheck(
            uri=self.uri, profile=self.profile, up=self.up, open_s=self.open_s, fps=self.fps,
            width=self.width, height=self.height, frozen=self.frozen, black=self.black,
            sharpness=self.sharpness, bitrate_kbps=self.bitrate_kbps, error=self.error,
            profiles=[self.profile] if self.profile else [], codec=self.codec, first_frame_s=self.first_frame_s,
            expected_fps=self.expected_fps, expected_width=self.expected_width,
            expected_height=self.expected_height, stalled=self.stalled, blurred=self.blurred,
            decode_errors=self.decode_errors, problems=self.problems,
        )

    def to_dict(self, *, snapshot: bool = False) -> dict[str, Any]:
        """Return every field as JSON-ready values; the snapshot as base64 only when asked."""
        data = asdict(self)
        jpeg = data.pop("snapshot_jpeg")
        data["snapshot_bytes"] = len(jpeg) if jpeg else 0
        if snapshot:
            data["snapshot_jpeg_b64"] = base64.b64encode(jpeg).decode("ascii") if jpeg else None
        return data

    @property
    def problems(self) -> list[str]:
        """Return the findings a technician acts on, most severe first."""
        found = []
        if not self.up:
            found.append("down" if not self.stalled else "stalled")
        if self.black:
            found.append("black")
        elif self.frozen:
            found.append("frozen")
        if self.blurred:
            found.append("blurred")
        if self.fps_ok is False:
            found.append("fps_mismatch")
        if self.size_ok is False:
            found.append("size_mismatch")
        return found


@dataclass
class SnapshotResult:
    """One HTTP snapshot fetch: the JPEG bytes and what they hold."""

    url: str
    up: bool = False
    fetch_s: float | None = None
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    error: str | None = None
    jpeg: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StreamJob:
    """One stream to check, with what its profile promises."""

    uri: str
    expected_fps: float | None = None
    expected_size: tuple[int, int] | None = None
    credentials: Credential | None = field(default=None, repr=False)
    profile: str | None = None

    def __repr__(self) -> str:
        return (f"StreamJob(uri={redact_uri(self.uri)!r}, expected_fps={self.expected_fps!r}, "
                f"expected_size={self.expected_size!r}, profile={self.profile!r})")


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact_uri(uri: str) -> str:
    """Return `uri` without any user:password part."""
    return _USERINFO.sub("", uri)


def _split_credentials(uri: str, credentials: Credential | None) -> tuple[str, Credential | None]:
    """Strip userinfo from `uri`; when no credentials were given, use the ones the URI carried."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username is None:
        return uri, credentials
    if credentials is None:
        credentials = Credential(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    return redact_uri(uri), credentials


def scrub(text: str, credentials: Credential | None) -> str:
    """Remove credentials (raw and percent-encoded) and any URL userinfo from `text`."""
    text = _USERINFO.sub("", text)
    if credentials is not None and credentials.password:
        # A hostile server may echo what it was sent: the password itself, percent-
        # encoded, or inside a Basic Authorization value (base64 of "user:password").
        userpass = f"{credentials.username}:{credentials.password}".encode()
        basic = base64.b64encode(userpass).decode("ascii")
        secrets = {credentials.password, urllib.parse.quote(credentials.password, safe=""), basic, basic.rstrip("=")}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------------
# Worker processes: a check runs where a hang can be killed.


def _spawn_worker() -> tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]:
    # spawn, not fork: the parent may run threads (asyncio, the exporter), and a
    # fresh interpreter inherits no locks or sockets from it.
    # Imported here, not at the top: stream_worker imports this module (StreamConfig).
    from sitescout.probes.stream_worker import serve

    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    allowance = ctx.Value("d", 0.0, lock=False)  # MB the worker may use on top of the cap while decoding
    proc = ctx.Process(target=serve, args=(child_end, allowance), name="sitescout-stream-check", daemon=True)
    proc.start()
    child_end.close()
    if proc.pid is not None:
        _decode_allowance[proc.pid] = allowance
    return proc, parent_end


class StreamChecker:
    """A pool of worker processes that run stream checks, each killed at its budget.

    Usage::

        with StreamChecker(concurrency=2) as checker:
            results = checker.check_many(jobs)

    Workers are reused between checks (the OpenCV import costs ~0.3 CPU-s once);
    a worker that overruns its budget is killed and replaced.
    """

    def __init__(self, concurrency: int = 2, config: StreamConfig = DEFAULT_STREAM, *, start_timeout_s: float = 30.0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.config = config
        self.concurrency = concurrency
        self.start_timeout_s = start_timeout_s
        self._idle: list[tuple[Any, multiprocessing.connection.Connection]] = []
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> StreamChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every idle worker."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for proc, conn in idle:
            _stop(proc, conn, polite=True)

    def worker_pids(self) -> list[int]:
        """Return the process ids of the idle workers (for CPU accounting)."""
        with self._lock:
            return [p.pid for p, _ in self._idle if p.pid is not None]

    def check(self, job: StreamJob, config: StreamConfig | None = None) -> StreamResult:
        """Check one stream in a worker; never raises for device trouble, never outlives the budget."""
        cfg = config or self.config
        uri, creds = _split_credentials(job.uri, job.credentials)
        shown = redact_uri(uri)
        base = StreamResult(uri=shown, profile=job.profile, expected_fps=job.expected_fps)
        if job.expected_size:
            base.expected_width, base.expected_height = job.expected_size
        worker = self._take()
        if worker is None:
            base.error = "error: could not start a stream-check worker"
            return base
        proc, conn = worker
        request = {"uri": uri, "credentials": (creds.username, creds.password) if creds else None,
                   "config": asdict(cfg), "expected_fps": job.expected_fps, "expected_size": job.expected_size}
        started = time.monotonic()
        over_mb: float | None = None
        try:
            conn.send(request)
            ready, over_mb = _wait_reply(proc, conn, cfg.budget_s, cfg.memory_cap_mb)
            reply = conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError) as err:
            reply, ready = None, True
            log.debug("%s: stream worker died: %s", shown, err)
        elapsed = time.monotonic() - started
        if reply is None:
            if over_mb is not None:
                peak, start = status_mb(proc.pid, "VmHWM"), _rss_start.get(proc.pid)
                base.memory_growth_mb = round(peak - start if peak and start else over_mb, 1)
            _stop(proc, conn, polite=False)
            if over_mb is not None:
                base.error = MalformedError(shown, f"undecodable: the check grew {over_mb:.0f} MB in {elapsed:.1f} s, "
                                                   f"past its {cfg.memory_cap_mb:.0f} MB memory cap (a frame that never ends, "
                                                   "or a flood); check killed").as_text()
                log.warning("%s: stream check killed at its %.0f MB memory cap", shown, cfg.memory_cap_mb)
            elif not ready:
                base.error = ProbeTimeout(shown, f"no result within the {cfg.budget_s:g} s budget; check killed").as_text()
                log.warning("%s: stream check killed at its %.1f s budget", shown, cfg.budget_s)
            else:
                base.error = "error: stream-check worker exited unexpectedly"
            base.duration_s = round(elapsed, 3)
            return base
        self._give_back(proc, conn)
        for line in reply.pop("diagnostics", []):
            log.debug("%s: ffmpeg: %s", shown, scrub(line, creds))
        result = replace(base, **{k: v for k, v in reply.items() if k in _RESULT_FIELDS})
        result.uri = shown
        if result.error:
            result.error = scrub(result.error, creds)
            log.info("%s: stream check: %s", shown, result.error)
        result.duration_s = round(elapsed, 3)
        return result

    def check_many(self, jobs: Iterable[StreamJob], config: StreamConfig | None = None) -> list[StreamResult]:
        """Check every job, at most `concurrency` at a time; results in job order."""
        jobs = list(jobs)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(len(jobs), 1))) as pool:
            return list(pool.map(lambda j: self.check(j, config), jobs))

    def _take(self) -> tuple[Any, multiprocessing.connection.Connection] | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("StreamChecker is closed")
            while self._idle:
                proc, conn = self._idle.pop()
                if proc.is_alive():
                    return proc, conn
                conn.close()
        try:
            proc, conn = _spawn_worker()
        except (OSError, ValueError) as err:  # e.g. the interpreter cannot be executed again
            log.warning("cannot start a stream-check worker: %s", err)
            return None
        deadline = time.monotonic() + self.start_timeout_s
        # Poll in slices: a worker that dies at start-up fails the check now, not after the timeout.
        while time.monotonic() < deadline and proc.is_alive() and not conn.poll(0.1):
            pass
        if conn.poll(0):
            try:
                if conn.recv() == "ready":
                    return proc, conn
            except (EOFError, OSError):
                pass
        log.warning("stream-check worker did not start (exit code %s)", proc.exitcode)
        _stop(proc, conn, polite=False)
        return None

    def _give_back(self, proc: Any, conn: multiprocessing.connection.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.concurrency:
                self._idle.append((proc, conn))
                return
        _stop(proc, conn, polite=True)


_PAGE_BYTES = 4096
_POLL_S = 0.02


def _rss_mb(pid: int | None) -> float | None:
    """Return a process's resident size in MB (None where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_BYTES / 2**20
    except (OSError, ValueError, IndexError):
        return None


def status_mb(pid: int | None, field: str) -> float | None:
    """Return one memory figure (VmRSS, VmHWM …) of a process from /proc, in MB; None where unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(field.encode() + b":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


#: Worker pid -> its resident size (MB) when its current check started (for the killed ones' figure).
_rss_start: dict[int, float] = {}
#: Worker pid -> the shared Value holding its current decode allowance (MB).
_decode_allowance: dict[int, Any] = {}


def _wait_reply(proc: Any, conn: multiprocessing.connection.Connection, budget_s: float,
                cap_mb: float) -> tuple[bool, float | None]:
    """Wait for the worker's reply within the budget, watching its memory.

    Returns (reply ready, growth in MB when the memory cap, plus the worker's
    current decode allowance, was passed).
    """
    allowance = _decode_allowance.get(proc.pid)
    deadline = time.monotonic() + budget_s
    start_mb = _rss_mb(proc.pid)
    if start_mb is not None:
        _rss_start[proc.pid] = start_mb
    while True:
        left = deadline - time.monotonic()
        if conn.poll(max(0.0, min(_POLL_S, left))):
            return True, None
        if left <= 0:
            return False, None
        now_mb = _rss_mb(proc.pid) if start_mb is not None else None
        limit = cap_mb + (allowance.value if allowance is not None else 0.0)
        if now_mb is not None and start_mb is not None and now_mb - start_mb > limit:
            return False, now_mb - start_mb


def _stop(proc: Any, conn: multiprocessing.connection.Connection, *, polite: bool) -> None:
    """End one worker: ask it to exit, or kill it (a hung FFmpeg ignores requests)."""
    try:
        if polite:
            conn.send(None)
            proc.join(2.0)
    except (OSError, BrokenPipeError):
        pass
    if proc.is_alive():
        proc.kill()
        proc.join(2.0)
    _rss_start.pop(proc.pid, None)
    _decode_allowance.pop(proc.pid, None)
    conn.close()


_RESULT_FIELDS = frozenset(StreamResult.__dataclass_fields__) - {"uri", "profile", "expected_fps",
                                                                   "expected_width", "expected_height"}


def check_stream(
    uri: str,
    *,
    expected_fps: float | None,
    expected_size: tuple[int, int] | None,
    credentials: Credential | None = None,
    config: StreamConfig = DEFAULT_STREAM,
    profile: str | None = None,
) -> StreamResult:
    """Check one stream in a fresh worker process (use `StreamChecker` to reuse workers)."""
    with StreamChecker(1, config) as checker:
        return checker.check(StreamJob(uri, expected_fps, expected_size, credentials, profile))


def check_streams(jobs: Sequence[StreamJob], *, concurrency: int = 2, config: StreamConfig = DEFAULT_STREAM) -> list[StreamResult]:
    """Check many streams (every profile of every camera), `concurrency` at a time, results in order."""
    with StreamChecker(concurrency, config) as checker:
        return checker.check_many(jobs)


# ---------------------------------------------------------------------------
# Snapshots over HTTP.

_SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024


def _cut_sockets(sockets: list[socket.socket], cut: threading.Event) -> None:
    """Shut down every connection of a fetch that ran out of time (its blocked read returns)."""
    cut.set()
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    """Open HTTP connections and note their sockets, so a timer can cut them."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        class _Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        return self.do_open(_Connection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    """The HTTPS twin of `_DeadlineHTTPHandler`."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self._sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        class _Connection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        return self.do_open(_Connection, req, context=self._context)  # type: ignore[attr-defined]


def check_snapshot(
    url: str, *, credentials: Credential | None = None, timeout_s: float = 5.0, max_bytes: int = _SNAPSHOT_MAX_BYTES,
    allow_basic: bool = False,
) -> SnapshotResult:
    """Fetch a snapshot URI (digest auth; basic only with `allow_basic`), size-capped, and check that it is a JPEG.

    HTTP Basic sends the password in clear to whoever asks for it, so a device on the
    site network could collect it: it is answered only when the operator allows it.
    """
    url, creds = _split_credentials(url, credentials)
    result = SnapshotResult(url=redact_uri(url))
    handlers: list[urllib.request.BaseHandler] = []
    if creds is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, creds.username, creds.password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
        if allow_basic:
            handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
    # The socket timeout bounds each read, not the fetch: a camera that drips a byte a
    # second never trips it.  A timer cuts every connection of the fetch at timeout_s.
    sockets: list[socket.socket] = []
    cut = threading.Event()
    opener = urllib.request.build_opener(*handlers, _DeadlineHTTPHandler(sockets), _DeadlineHTTPSHandler(sockets))
    timer = threading.Timer(timeout_s, _cut_sockets, args=(sockets, cut))
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        with opener.open(url, timeout=timeout_s) as response:
            result.content_type = response.headers.get("Content-Type")
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as err:
        cls = AuthError if err.code in (401, 403) else UnreachableError
        detail = f"HTTP {err.code} {err.reason}"
        challenge = (err.headers.get("WWW-Authenticate") or "") if err.headers else ""
        if err.code == 401 and creds is not None and not allow_basic and challenge.lower().startswith("basic"):
            detail += " (the camera asks for HTTP Basic, which sends the password in clear: not answered " \
                      "without --allow-plaintext-auth)"
        result.error = cls(result.url, detail).as_text()
        return result
    except (TimeoutError, OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if cut.is_set():
            result.error = ProbeTimeout(result.url, f"no complete snapshot within {timeout_s:g} s").as_text()
            return result
        cls = ProbeTimeout if isinstance(reason, TimeoutError) or "timed out" in str(reason) else UnreachableError
        detail = scrub(str(reason), creds) or type(err).__name__
        result.error = cls(result.url, detail).as_text()
        return result
    finally:
        timer.cancel()
        result.fetch_s = round(time.monotonic() - started, 4)
    if cut.is_set():  # the cut read ends like a closed connection: what came is a fragment
        result.error = ProbeTimeout(result.url, f"no complete snapshot within {timeout_s:g} s "
                                                f"({len(data)} bytes came)").as_text()
        return result
    if len(data) > max_bytes:
        result.error = MalformedError(result.url, f"snapshot larger than {max_bytes} bytes").as_text()
        return result
    size = jpeg_size(data)
    if size is None:
        result.error = MalformedError(result.url, f"not a complete JPEG ({len(data)} bytes, {result.content_type})").as_text()
        return result
    result.up, result.jpeg, result.size_bytes = True, data, len(data)
    result.width, result.height = size
    return result


def main(argv: list[str] | None = None) -> int:
    """Check streams given on the command line and print the results as JSON."""
    import argparse
    import json
    import sys

    from sitescout.probes.credentials import load_credentials

    parser = argparse.ArgumentParser(prog="python -m sitescout.probes.stream_health", description=main.__doc__)
    parser.add_argument("uri", nargs="+")
    parser.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    parser.add_argument("--expected-fps", type=float)
    parser.add_argument("--expected-size", help="WIDTHxHEIGHT")
    parser.add_argument("--credentials", help="TOML credentials file (first entry is used)")
    parser.add_argument("--window", type=float, default=DEFAULT_STREAM.window_s)
    parser.add_argument("--budget", type=float, default=DEFAULT_STREAM.budget_s)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--snapshot", action="store_true", help="include the JPEG snapshot as base64")
    args = parser.parse_args(argv)
    size = None
    if args.expected_size:
        try:
            w, h = args.expected_size.lower().split("x")
            size = (int(w), int(h))
        except ValueError:
            parser.error("--expected-size must look like 1920x1080")
    creds = load_credentials(args.credentials)[0] if args.credentials else None
    config = replace(DEFAULT_STREAM, window_s=args.window, budget_s=args.budget)
    jobs = [StreamJob(u, args.expected_fps, size, creds) for u in args.uri]
    results = check_streams(jobs, concurrency=args.concurrency, config=config)
    json.dump([r.to_dict(snapshot=args.snapshot) for r in results], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if all(r.up for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
