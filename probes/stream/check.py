"""Stream health: open an RTSP or HTTP-MJPEG stream with OpenCV's FFmpeg backend and judge its picture.

How a check stays cheap: after the open the capture is switched to raw mode
(``CAP_PROP_FORMAT=-1``), so ``grab()`` only demuxes.  Every encoded frame is
counted (arrival time, size, PTS, key flag) for fps, bitrate and stalls, and
only a few *key* frames (one per `decode_every` frames, and the window's last)
are kept and decoded once the window is over, for the picture checks (black,
blur, frozen) and the JPEG snapshot.  A key frame needs no other frame, so
decoding it without its neighbours is exact; MJPEG frames are all key frames and
are decoded with ``imdecode``.

How a check stays bounded: open/read timeouts go to the ``VideoCapture``
constructor, a wall-clock "no new frame for `stall_s`" rule ends a stalled
stream, and each check runs in a worker process that is killed at `budget_s`
(a hung FFmpeg becomes ``up=False, error="timeout: ..."``).  The measuring
side (:mod:`sitescout.probes.stream.child`) runs only in that worker, which alone imports cv2.

``python -m sitescout.probes.stream.check --json URI`` checks one stream from a shell.
"""

from __future__ import annotations

import base64
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sitescout.probes.credentials import Credential
from sitescout.probes.errors import MalformedError, ProbeTimeout
from sitescout.probes.models import StreamCheck
from sitescout.probes.stream.child import serve
from sitescout.probes.stream.config import DEFAULT_STREAM, StreamConfig
from sitescout.probes.stream.memory import status_mb, wait_reply
from sitescout.probes.stream.redact import redact_uri, scrub, split_credentials

__all__ = [
    "StreamResult",
    "StreamJob",
    "StreamChecker",
    "check_stream",
    "check_streams",
]

log = logging.getLogger(__name__)


@dataclass
class StreamResult:
    """Everything one stream check measured; `to_check()` gives the survey document's record."""

    uri: str
    profile: str | None = None
    up: bool = False
    error: str | None = None
    #: The kind of ``error`` and its parameters (probes/errors.py); None when untyped or no error.
    error_code: dict[str, Any] | None = None
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
    #: RTSP lower transport the check used ("tcp", or "udp" when the server refused or ignored TCP; "http" only
    #: when asked for, StreamConfig.rtsp_transport); None for HTTP MJPEG streams.
    transport: str | None = None
    #: Peak resident-memory growth of the worker process during this check (MB).
    memory_growth_mb: float | None = None
    snapshot_jpeg: bytes | None = field(default=None, repr=False)

    def to_check(self) -> StreamCheck:
        """Return the contract record (no credentials, no snapshot bytes)."""
        return StreamCheck(
            uri=self.uri, profile=self.profile, up=self.up, open_s=self.open_s, fps=self.fps,
            width=self.width, height=self.height, frozen=self.frozen, black=self.black,
            sharpness=self.sharpness, bitrate_kbps=self.bitrate_kbps, error=self.error, error_code=self.error_code,
            profiles=[self.profile] if self.profile else [], codec=self.codec, first_frame_s=self.first_frame_s,
            expected_fps=self.expected_fps, expected_width=self.expected_width,
            expected_height=self.expected_height, stalled=self.stalled, blurred=self.blurred,
            decode_errors=self.decode_errors, problems=self.problems, transport=self.transport,
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


@dataclass(frozen=True)
class StreamJob:
    """One stream to check, with what its profile promises."""

    uri: str
    expected_fps: float | None = None
    expected_size: tuple[int, int] | None = None
    credentials: Credential | None = field(default=None, repr=False)
    profile: str | None = None
    #: Answer an RTSP or HTTP Basic challenge (the password in clear): off unless the operator
    #: allows plaintext (survey --allow-plaintext-auth, targets onvif.allow_plaintext_auth).
    allow_plaintext_auth: bool = False

    def __repr__(self) -> str:
        return (f"StreamJob(uri={redact_uri(self.uri)!r}, expected_fps={self.expected_fps!r}, "
                f"expected_size={self.expected_size!r}, profile={self.profile!r})")


# ---------------------------------------------------------------------------
# Worker processes: a check runs where a hang can be killed.


def _spawn_worker() -> tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]:
    # spawn, not fork: the parent may run threads (asyncio, the exporter), and a
    # fresh interpreter inherits no locks or sockets from it.
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

    def __init__(
        self, concurrency: int = 2, config: StreamConfig = DEFAULT_STREAM, *, start_timeout_s: float = 30.0
    ) -> None:
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
        uri, creds = split_credentials(job.uri, job.credentials)
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
                   "allow_basic": job.allow_plaintext_auth,
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
                killed = MalformedError(
                    shown,
                    f"undecodable: the check grew {over_mb:.0f} MB in {elapsed:.1f} s, "
                    f"past its {cfg.memory_cap_mb:.0f} MB memory cap (a frame that never ends, "
                    "or a flood); check killed",
                )
                base.error, base.error_code = killed.as_text(), killed.as_code()
                log.warning("%s: stream check killed at its %.0f MB memory cap", shown, cfg.memory_cap_mb)
            elif not ready:
                late = ProbeTimeout(shown, f"no result within the {cfg.budget_s:g} s budget; check killed")
                base.error, base.error_code = late.as_text(), late.as_code()
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
        if result.error_code:  # its parameters quote the device as the text does: scrubbed alike
            params = {k: scrub(v, creds) if isinstance(v, str) else v for k, v in result.error_code["params"].items()}
            result.error_code = {**result.error_code, "params": params}
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


#: Worker pid -> its resident size (MB) when its current check started (for the killed ones' figure).
_rss_start: dict[int, float] = {}
#: Worker pid -> the shared Value holding its current decode allowance (MB).
_decode_allowance: dict[int, Any] = {}


def _wait_reply(proc: Any, conn: multiprocessing.connection.Connection, budget_s: float,
                cap_mb: float) -> tuple[bool, float | None]:
    """Wait for the worker's reply within the budget, watching its memory (`stream.memory.wait_reply`).

    Returns (reply ready, growth in MB when the memory cap, plus the worker's
    current decode allowance, was passed).
    """
    waited = wait_reply(proc.pid, conn.fileno(), budget_s, cap_mb, _decode_allowance.get(proc.pid))
    if waited.start_mb is not None:
        _rss_start[proc.pid] = waited.start_mb
    return waited.ready, waited.over_mb


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


def check_streams(
    jobs: Sequence[StreamJob], *, concurrency: int = 2, config: StreamConfig = DEFAULT_STREAM
) -> list[StreamResult]:
    """Check many streams (every profile of every camera), `concurrency` at a time, results in order."""
    with StreamChecker(concurrency, config) as checker:
        return checker.check_many(jobs)


# ---------------------------------------------------------------------------
# Snapshots over HTTP.

def main(argv: list[str] | None = None) -> int:
    """Check streams given on the command line and print the results as JSON."""
    import argparse
    import json
    import sys

    from sitescout.probes.credentials import load_credentials

    parser = argparse.ArgumentParser(prog="python -m sitescout.probes.stream.check", description=main.__doc__)
    parser.add_argument("uri", nargs="+")
    parser.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    parser.add_argument("--expected-fps", type=float)
    parser.add_argument("--expected-size", help="WIDTHxHEIGHT")
    parser.add_argument("--credentials", help="TOML credentials file (first entry is used)")
    parser.add_argument("--window", type=float, default=DEFAULT_STREAM.window_s)
    parser.add_argument("--budget", type=float, default=DEFAULT_STREAM.budget_s)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--snapshot", action="store_true", help="include the JPEG snapshot as base64")
    parser.add_argument("--rtsp-transport", choices=("tcp", "udp", "http"), default="tcp",
                        help="RTSP lower transport to start with: tcp (falls back to udp when the server refuses "
                             "or ignores it), udp, or http (RTSP tunnelled over HTTP on the RTSP port; no fallback)")
    args = parser.parse_args(argv)
    size = None
    if args.expected_size:
        try:
            w, h = args.expected_size.lower().split("x")
            size = (int(w), int(h))
        except ValueError:
            parser.error("--expected-size must look like 1920x1080")
    creds = load_credentials(args.credentials)[0] if args.credentials else None
    config = replace(DEFAULT_STREAM, window_s=args.window, budget_s=args.budget, rtsp_transport=args.rtsp_transport)
    jobs = [StreamJob(u, args.expected_fps, size, creds) for u in args.uri]
    results = check_streams(jobs, concurrency=args.concurrency, config=config)
    json.dump([r.to_dict(snapshot=args.snapshot) for r in results], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if all(r.up for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
