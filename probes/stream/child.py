"""The measuring side of the stream-health probe: runs only inside a worker process.

`serve` is the worker's main loop (``StreamChecker`` in :mod:`~sitescout.probes.stream.check` starts
it in a spawned process and kills it at the check's budget).  Each request is
measured by `_measure`: open the stream with OpenCV's FFmpeg backend, then
watch it (:func:`sitescout.probes.stream.window.watch`: count every encoded frame
for the window in raw mode, decode a few key frames, judge).  Only this process
imports cv2.  Credentials reach FFmpeg
only after `stream.auth.preflight`; RTSP falls back to UDP when the server
refuses TCP (461) or never answers SETUP over TCP; failed opens are put into words by `stream.errors`.
"""

from __future__ import annotations

import multiprocessing.connection
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sitescout.probes.errors import ProbeTimeout
from sitescout.probes.errors import ProbeError, error_fields
from sitescout.probes.stream.errors import no_video_error, open_error, udp_error
from sitescout.probes.stream.config import PROBE_DECODERS, PROBE_NOISE, USER_AGENT, StreamConfig
from sitescout.probes.stream.memory import status_mb
from sitescout.probes.stream.window import set_decode_allowance, watch

if TYPE_CHECKING:  # stream.auth (ssl, hashlib) is imported only by a check with credentials
    from sitescout.probes.stream.auth import Preflight

__all__ = ["serve"]


def serve(conn: multiprocessing.connection.Connection, decode_allowance: Any = None) -> None:
    """Worker main loop: receive check requests, send back plain dicts, exit on None or EOF."""
    import os
    import tempfile

    set_decode_allowance(decode_allowance)

    # FFmpeg and OpenCV print to fd 2 and may echo the URL (with credentials):
    # keep their text in a file, use it to classify errors, and scrub it before
    # it goes anywhere.  AV_LOG_ERROR (16) is enough to tell 401/404/refused apart.
    # (OpenCV's FFmpeg log callback writes to stdout, its own warnings to stderr.)
    stderr_file = tempfile.TemporaryFile()
    os.dup2(stderr_file.fileno(), 1)
    os.dup2(stderr_file.fileno(), 2)
    # AV_LOG_INFO (32): FFmpeg names each redirect only at this level ("Status 302:
    # Redirecting to ..."), and a healthy stream logs nothing at it.
    # AV_LOG_VERBOSE (40) adds three lines per open: "SDP:" (DESCRIBE answered) and "setting jitter
    # buffer size" (a SETUP answered) tell a server that swallows SETUP over TCP from a silent one.
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "40"
    _keep_freed_memory()
    import cv2

    # OpenCV's own thread pool (resize, cvtColor, imencode on one picture) spins
    # idle threads after each call: a few ms of CPU per check for no gain here.
    cv2.setNumThreads(1)
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        stderr_file.seek(0)
        stderr_file.truncate()  # fds 1 and 2 share this offset: a long-lived worker's file stays small
        start_mb = _reset_peak_rss()
        try:
            reply = _measure(cv2, request, lambda: _log_tail(stderr_file))
        except Exception as err:  # a bug or an unexpected library error: report it, keep serving
            reply = {"up": False, "error": f"error: {type(err).__name__}: {err}"}
        peak_mb = status_mb(os.getpid(), "VmHWM")
        if start_mb is not None and peak_mb is not None:
            reply["memory_growth_mb"] = round(peak_mb - start_mb, 1)
        log_text = _log_tail(stderr_file)
        lines = log_text.splitlines()[-30:]
        failed_after = reply.pop("_open_failed_after_s", None)
        error: ProbeError | None = reply.pop("_error", None)
        open_timeout_s = reply.get("_udp_open_timeout_s", request["config"]["open_timeout_s"])
        if failed_after is not None:
            error = open_error(request["uri"], log_text, failed_after, open_timeout_s,
                               has_credentials=bool(request.get("credentials")))
        elif reply.pop("_no_video", False):
            error = no_video_error(request["uri"], log_text, open_timeout_s)
        tcp_failure = reply.pop("_tcp_refused", None)
        udp_open_s = reply.pop("_udp_open_timeout_s", request["config"]["open_timeout_s"])
        if tcp_failure and error is not None:
            error = udp_error(error, udp_open_s, silent_setup=(
                request["config"]["open_timeout_s"] if tcp_failure == "silent" else None))
        if error is not None:
            reply.update(error_fields(error))  # the text and, beside it, the kind (probes/errors.py)
        reply["diagnostics"] = lines
        try:
            conn.send(reply)
        except (OSError, BrokenPipeError):
            return


def _reset_peak_rss() -> float | None:
    """Reset this process's peak resident size (VmHWM) and return its resident size now, in MB."""
    import os

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # 5: reset the peak RSS (Linux >= 4.0)
    except OSError:
        return None
    return status_mb(os.getpid(), "VmRSS")


def _keep_freed_memory() -> None:
    """Stop glibc from handing freed picture buffers back to the kernel between key frames.

    Each key-frame decode allocates and frees a few large buffers (decoder
    frame pool, the BGR picture: ~9 MB at 1080p).  With glibc's defaults those
    are mmap'ed and unmapped, or trimmed off the heap top, every time, and the
    next decode page-faults them in again (zeroed by the kernel): ~20 ms CPU per
    1080p check, a fifth of the check (docs/benchmarks.md).  Fixed thresholds
    keep them in the heap for reuse; the worker's resident size stays at its
    peak (tens of MB).  No-op where libc has no mallopt.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: blocks below 32 MB come from the heap
    mallopt(-1, 64 * 1024 * 1024)  # M_TRIM_THRESHOLD: keep up to 64 MB free at the heap top


#: Seconds of the check's budget kept free after a UDP re-open and its window (the process round
#: trip, the key-frame decodes): a UDP open after a silent SETUP is cut to fit.
_BUDGET_SLACK_S = 1.5

#: Bytes of FFmpeg's log read back after each check: a redirect loop logs a line
#: per redirect (thousands in an open timeout), and only the tail is needed.
_LOG_TAIL_BYTES = 64 * 1024

def _log_tail(log_file: Any) -> str:
    """Return the last `_LOG_TAIL_BYTES` of the worker's log file as text, without the `PROBE_NOISE` lines."""
    size = log_file.seek(0, 2)
    log_file.seek(max(0, size - _LOG_TAIL_BYTES))
    text = log_file.read().decode("utf-8", "replace")
    if any(noise in text for noise in PROBE_NOISE):
        text = "".join(ln for ln in text.splitlines(keepends=True) if not any(n in ln for n in PROBE_NOISE))
    return text


def _with_userinfo(uri: str, credentials: tuple[str, str] | None) -> str:
    """Return `uri` with percent-encoded credentials (used only for the open call)."""
    if not credentials:
        return uri
    parts = urllib.parse.urlsplit(uri)
    user, password = (urllib.parse.quote(c, safe="") for c in credentials)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def _capture_options(uri: str, cfg: StreamConfig) -> str:
    """Return OPENCV_FFMPEG_CAPTURE_OPTIONS for this URI (the transport is always named for RTSP)."""
    options = [f"analyzeduration;{cfg.analyzeduration_us}", f"probesize;{cfg.probesize_bytes}"]
    if uri.lower().startswith(("rtsp://", "rtsps://")):
        options.insert(0, f"rtsp_transport;{cfg.rtsp_transport}")
    # FFmpeg's own requests carry the pre-flight's User-Agent (RTSP and HTTP demuxers' user_agent option):
    # a server must not tell the pre-flight from FFmpeg by it (Digest to one, Basic to the other).
    options.append(f"user_agent;{USER_AGENT}")
    options.append(f"codec_whitelist;{PROBE_DECODERS}")  # no throw-away H.264/HEVC decode in FFmpeg's probe
    return "|".join(options)


def _measure(cv2: Any, request: dict[str, Any], read_log: Callable[[], str] | None = None) -> dict[str, Any]:
    """Open, watch and judge one stream; return StreamResult fields as a plain dict.

    RTSP goes over TCP first (it crosses NAT and firewalls); a server that refuses it
    with 461 is opened again over UDP within the same open timeout (`read_log` gives
    FFmpeg's lines so far), and the transport that was used is reported.

    With credentials, `stream.auth.preflight` first asks the server what it wants: FFmpeg
    gets them only for Digest (or Basic when allowed), and only if no redirect leaves the host.
    """
    import os
    import tempfile

    from sitescout.probes.stream import metrics as sm

    cfg = StreamConfig(**request["config"])
    uri: str = request["uri"]
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = _capture_options(uri, cfg)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000),
              cv2.CAP_PROP_N_THREADS, 1]  # raw mode decodes nothing here: no idle decoder threads
    decided: Preflight | None = None
    if request["credentials"]:
        from sitescout.probes.stream.auth import preflight

        decided = preflight(uri, tuple(request["credentials"]), allow_basic=bool(request.get("allow_basic")),
                            timeout_s=cfg.open_timeout_s)
        if decided.error:
            return {"up": False, "_error": decided.error}
        if not decided.send_credentials:
            request["credentials"] = None  # the server asked for none: FFmpeg gets none
    started = time.monotonic()
    try:
        cap = cv2.VideoCapture(_with_userinfo(uri, request["credentials"]), cv2.CAP_FFMPEG, params)
    finally:
        if decided is not None:
            decided.release()
    opened_at = time.monotonic()
    fell_back = None
    tcp_failure = _tcp_failure(uri, cfg, read_log()) if not cap.isOpened() and read_log is not None else None
    if tcp_failure is not None and read_log is not None:
        # The server refused RTP over TCP (461) or never answered SETUP over TCP (issue #19): UDP.
        # After a 461 it gets what is left of the open timeout; after a silent SETUP (which used
        # the whole open timeout) a fresh one, cut to what the check's budget leaves after the window.
        fell_back, cfg = tcp_failure, replace(cfg, rtsp_transport="udp")
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = _capture_options(uri, cfg)
        udp_started = time.monotonic()
        open_s = cfg.open_timeout_s if tcp_failure == "silent" else cfg.open_timeout_s - (udp_started - started)
        open_s = min(open_s, cfg.budget_s - (udp_started - started) - cfg.window_s - _BUDGET_SLACK_S)
        if open_s < 0.5:
            return {"up": False, "transport": "tcp", "_error": ProbeTimeout(uri, (
                f"the server did not answer SETUP over TCP within {cfg.open_timeout_s:g} s; "
                "no time left in the check's budget to try UDP"))}
        for _ in range(2):
            busy_before = _busy_replies(read_log())
            params[1] = max(500, int((open_s - (time.monotonic() - udp_started)) * 1000))
            again = _preflight_again(uri, request, params[1] / 1000)
            if again is not None and again.error:
                return {"up": False, "_error": again.error, "transport": "udp", "_tcp_refused": tcp_failure}
            try:
                cap = cv2.VideoCapture(_with_userinfo(uri, request["credentials"]), cv2.CAP_FFMPEG, params)
            finally:
                if again is not None:
                    again.release()
            opened_at = time.monotonic()
            # GStreamer's RTSP server answers 503 while it tears down the media our TCP attempt
            # described (lab: 2 opens in 12): once more, a moment later, if time is left.
            if cap.isOpened() or _busy_replies(read_log()) == busy_before or \
                    opened_at - udp_started > open_s - 0.8:
                break
            time.sleep(0.3)
        # Judged from the UDP open on: its open time, and "no video" after its own open timeout.
        started, cfg = udp_started, replace(cfg, open_timeout_s=round(open_s, 1))
    status: dict[str, Any] = {"transport": cfg.rtsp_transport if _is_rtsp(uri) else None}
    if fell_back:
        status["_tcp_refused"] = fell_back
        if fell_back == "silent":  # errors name the UDP open's own timeout (after a 461: the check's)
            status["_udp_open_timeout_s"] = cfg.open_timeout_s
    if not cap.isOpened():
        return {"up": False, "_open_failed_after_s": opened_at - started, **status}
    if opened_at - started >= 0.9 * cfg.open_timeout_s and not cap.get(cv2.CAP_PROP_FRAME_WIDTH):
        # The handshake worked but the open timed out probing: no picture size, no frame.
        # Reading on would only block another read timeout.
        cap.release()
        return {"up": False, "open_s": round(opened_at - started, 4), "_no_video": True, **status}
    try:
        return {**status, **watch(cv2, sm, cap, cfg, request, started, opened_at, tempfile.gettempdir())}
    finally:
        cap.release()


def _preflight_again(uri: str, request: dict[str, Any], timeout_s: float) -> Preflight | None:
    """Ask the server again before a re-open with credentials (it may answer differently now).

    Drops the credentials from `request` when the server asks for none this time.
    """
    if not request["credentials"]:
        return None
    from sitescout.probes.stream.auth import preflight

    decided = preflight(uri, tuple(request["credentials"]), allow_basic=bool(request.get("allow_basic")),
                        timeout_s=timeout_s)
    if not decided.error and not decided.send_credentials:
        request["credentials"] = None
    return decided


def _is_rtsp(uri: str) -> bool:
    return uri.lower().startswith(("rtsp://", "rtsps://"))


def _busy_replies(log_text: str) -> int:
    """Count FFmpeg's "DESCRIBE failed: 503" lines in the log so far."""
    return log_text.count("DESCRIBE failed: 503")


def _tcp_failure(uri: str, cfg: StreamConfig, log_text: str) -> str | None:
    """Say why this failed RTSP/TCP open failed at SETUP, from FFmpeg's own lines, or None.

    "refused": SETUP over TCP answered 461 Unsupported Transport.  "silent": the
    server answered DESCRIBE (FFmpeg logged the SDP) but the open ended waiting for
    an RTSP reply before any transport was set up (FFmpeg logs "setting jitter
    buffer size" once a SETUP is answered): SETUP over TCP was never answered.
    A server that answers nothing at all is neither (no SDP): it stays a timeout.
    """
    if not _is_rtsp(uri) or cfg.rtsp_transport != "tcp":
        return None
    ffmpeg = "\n".join(ln for ln in log_text.splitlines() if "FFMPEG:" in ln)
    if re.search(r"SETUP failed: 461\b", ffmpeg):
        return "refused"
    if "] SDP:" in ffmpeg and "setting jitter buffer size" not in ffmpeg and "Failed reading RTSP data" in ffmpeg \
            and not re.search(r"failed: \d{3}\b", ffmpeg):
        return "silent"
    return None
