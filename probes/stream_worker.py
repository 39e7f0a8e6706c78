"""The measuring side of the stream-health probe: runs only inside a worker process.

`serve` is the worker's main loop (``StreamChecker`` in ``stream_health`` starts
it in a spawned process and kills it at the check's budget).  Each request is
measured by `_measure`: open the stream with OpenCV's FFmpeg backend, count
every encoded frame for the window in raw (demux-only) mode (`_watch`), decode
a few key frames on their own, and turn the packet log and pictures into
verdicts (`_judge`).  Only this module imports cv2.
"""

from __future__ import annotations

import multiprocessing.connection
import re
import time
import urllib.parse
from typing import Any

from sitescout.probes.errors import AuthError, MalformedError, ProbeTimeout, UnreachableError
from sitescout.probes.stream_health import StreamConfig, redact_uri, status_mb

__all__ = ["serve"]

_H264 = frozenset({"h264", "avc1", "x264"})
_HEVC = frozenset({"hevc", "hev1", "hvc1", "h265"})
_MJPEG = frozenset({"mjpg", "mjpeg", "jpeg"})


#: Shared with the parent (a multiprocessing Value, MB): memory the parent allows on top
#: of the check's cap once a picture is decoded.  Decoding a 4K key frame legitimately
#: takes ~120 MB; a stream that floods the demuxer before any picture gets no allowance.
_decode_allowance: Any = None


def _allow_decoding(mb: float) -> None:
    if _decode_allowance is not None:
        _decode_allowance.value = mb


def serve(conn: multiprocessing.connection.Connection, decode_allowance: Any = None) -> None:
    """Worker main loop: receive check requests, send back plain dicts, exit on None or EOF."""
    import os
    import tempfile

    global _decode_allowance
    _decode_allowance = decode_allowance

    # FFmpeg and OpenCV print to fd 2 and may echo the URL (with credentials):
    # keep their text in a file, use it to classify errors, and scrub it before
    # it goes anywhere.  AV_LOG_ERROR (16) is enough to tell 401/404/refused apart.
    # (OpenCV's FFmpeg log callback writes to stdout, its own warnings to stderr.)
    stderr_file = tempfile.TemporaryFile()
    os.dup2(stderr_file.fileno(), 1)
    os.dup2(stderr_file.fileno(), 2)
    # AV_LOG_INFO (32): FFmpeg names each redirect only at this level ("Status 302:
    # Redirecting to ..."), and a healthy stream logs nothing at it.
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "32"
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
            reply = _measure(cv2, request)
        except Exception as err:  # a bug or an unexpected library error: report it, keep serving
            reply = {"up": False, "error": f"error: {type(err).__name__}: {err}"}
        peak_mb = status_mb(os.getpid(), "VmHWM")
        if start_mb is not None and peak_mb is not None:
            reply["memory_growth_mb"] = round(peak_mb - start_mb, 1)
        log_text = _log_tail(stderr_file)
        lines = log_text.splitlines()[-30:]
        failed_after = reply.pop("_open_failed_after_s", None)
        if failed_after is not None:
            reply["error"] = _open_error(request["uri"], log_text, failed_after, request["config"]["open_timeout_s"],
                                         has_credentials=bool(request.get("credentials")))
        elif reply.pop("_no_video", False):
            reply["error"] = _no_video_error(request["uri"], log_text, request["config"]["open_timeout_s"])
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


#: Bytes of FFmpeg's log read back after each check: a redirect loop logs a line
#: per redirect (thousands in an open timeout), and only the tail is needed.
_LOG_TAIL_BYTES = 64 * 1024
_REDIRECT = "Redirecting to "
#: FFmpeg messages that mean bytes arrived but were not a stream it could parse.
_GARBAGE_MARKERS = ("expected, 0 received", "Invalid data", "No start code", "Error splitting the input",
                    "missing picture in access unit", "Unsupported RTP version", "bad cseq")


def _log_tail(log_file: Any) -> str:
    """Return the last `_LOG_TAIL_BYTES` of the worker's log file as text."""
    size = log_file.seek(0, 2)
    log_file.seek(max(0, size - _LOG_TAIL_BYTES))
    return log_file.read().decode("utf-8", "replace")


def _printable(text: str, limit: int = 160) -> str:
    """Return device-controlled text as one short printable line."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _open_error(uri: str, text: str, elapsed_s: float, open_timeout_s: float, *, has_credentials: bool = True) -> str:
    """Classify a failed open from FFmpeg's messages (the log's tail) and how long it took."""
    lines = text.splitlines()
    redirects = [ln.split(_REDIRECT, 1)[1] for ln in lines if _REDIRECT in ln]
    # The line written as the open was interrupted can be cut short: name the last whole target.
    last = next((_printable(redact_uri(r)) for r in reversed(redirects) if "://" in r), "")
    if len(redirects) >= 2:
        # FFmpeg follows RTSP 301/302 without a limit; only the open timeout ends a loop.
        return MalformedError(uri, f"redirect loop: at least {len(redirects)} RTSP redirects in {elapsed_s:.1f} s"
                                   + (f", last to {last}" if last else "")).as_text()
    # Status codes only from FFmpeg's own lines ("method DESCRIBE failed: 401 ..."): OpenCV's
    # timeout warnings carry digits ("after 3000.401234 ms") that once read as a 401.
    ffmpeg = "\n".join(ln for ln in lines if "FFMPEG:" in ln)
    status = set(re.findall(r"(?:failed: |HTTP error )(\d{3})\b", ffmpeg))
    if "401" in status:
        if not has_credentials:
            return AuthError(uri, "the camera requires credentials (RTSP 401) and none were given").as_text()
        return AuthError(uri, "the camera refused the credentials (RTSP 401)").as_text()
    if "403" in status:
        return AuthError(uri, "access forbidden (403)").as_text()
    if "404" in status:
        return UnreachableError(uri, "no stream at this path (404 Not Found)").as_text()
    if "refused" in text.lower():
        return UnreachableError(uri, "connection refused").as_text()
    if "timeout" in text.lower() or elapsed_s >= 0.9 * open_timeout_s:
        return ProbeTimeout(uri, f"stream did not open within {open_timeout_s:g} s").as_text()
    if redirects:
        return UnreachableError(uri, f"redirected to {last or 'another URL'}, which could not be opened").as_text()
    detail = next((ln.split("] ", 1)[-1] for ln in reversed(lines) if "FFMPEG" in ln or "@" in ln), "")
    return UnreachableError(uri, f"could not open stream{': ' + _printable(detail) if detail else ''}").as_text()


def _no_video_error(uri: str, text: str, open_timeout_s: float) -> str:
    """Classify an open that completed the RTSP handshake but found no decodable video."""
    garbage = next((ln for ln in reversed(text.splitlines()) if any(m in ln for m in _GARBAGE_MARKERS)), None)
    if garbage is not None:
        detail = _printable(garbage.split("] ", 1)[-1])
        return MalformedError(uri, f"undecodable: the server sent data that is not a video stream (FFmpeg: {detail})").as_text()
    # Silence and RTP with broken headers look the same from here: FFmpeg drops such packets without a word.
    return ProbeTimeout(uri, f"no video within {open_timeout_s:g} s after the RTSP handshake: nothing, "
                             "or no valid RTP, arrived").as_text()


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
    return "|".join(options)


def _analysis_gray(cv2: Any, picture: Any, width: int) -> Any:
    """Return the luma of a BGR or gray picture scaled to `width` columns (area averaging)."""
    gray = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    if w > width:
        gray = cv2.resize(gray, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return gray


def _decode_key_frame(cv2: Any, family: str, extradata: bytes, packet: Any, scratch: str) -> Any:
    """Decode one key frame on its own: MJPEG with imdecode, H.264/HEVC from a one-frame Annex B file.

    `packet` is the 1-D uint8 array `retrieve()` gave (a copy, safe to keep).
    """
    import os

    if family == "mjpeg":
        return cv2.imdecode(packet, cv2.IMREAD_COLOR)
    with open(scratch, "wb") as fh:
        fh.write(extradata)  # parameter sets first: not every camera repeats them in-band
        fh.write(packet)
    # Name the raw demuxer: no format probing of the scratch file.  (The RTSP
    # options set for the stream's open are read again by this open.)
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"input_format;{family}"
    # One thread: for a single frame, frame threads only add set-up cost (6 vs 9-30 ms CPU at 1080p).
    one = cv2.VideoCapture(scratch, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        ok, picture = one.read()
    finally:
        one.release()
    return picture if ok else None


def _snapshot(cv2: Any, picture: Any, jpeg: Any) -> bytes | None:
    """Return the snapshot JPEG: an MJPEG frame as received, anything else encoded at quality 80."""
    if jpeg is not None:
        return bytes(jpeg.tobytes())
    done, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return encoded.tobytes() if done else None


def _measure(cv2: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Open, watch and judge one stream; return StreamResult fields as a plain dict."""
    import os
    import tempfile

    from sitescout.probes import stream_metrics as sm

    cfg = StreamConfig(**request["config"])
    uri: str = request["uri"]
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = _capture_options(uri, cfg)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000),
              cv2.CAP_PROP_N_THREADS, 1]  # raw mode decodes nothing here: no idle decoder threads
    started = time.monotonic()
    cap = cv2.VideoCapture(_with_userinfo(uri, request["credentials"]), cv2.CAP_FFMPEG, params)
    opened_at = time.monotonic()
    if not cap.isOpened():
        return {"up": False, "_open_failed_after_s": opened_at - started}
    if opened_at - started >= 0.9 * cfg.open_timeout_s and not cap.get(cv2.CAP_PROP_FRAME_WIDTH):
        # The handshake worked but the open timed out probing: no picture size, no frame.
        # Reading on would only block another read timeout.
        cap.release()
        return {"up": False, "open_s": round(opened_at - started, 4), "_no_video": True}
    try:
        return _watch(cv2, sm, cap, cfg, request, started, opened_at, tempfile.gettempdir())
    finally:
        cap.release()


def _watch(cv2: Any, sm: Any, cap: Any, cfg: StreamConfig, request: dict[str, Any],
           started: float, opened_at: float, tmpdir: str) -> dict[str, Any]:
    """Count every encoded frame for the window and decode a few key frames."""
    import os

    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").strip("\x00 ").lower()
    family = "h264" if fourcc in _H264 else "hevc" if fourcc in _HEVC else "mjpeg" if fourcc in _MJPEG else ""
    raw = bool(family) and cap.set(cv2.CAP_PROP_FORMAT, -1)
    extradata = b""
    if raw and family != "mjpeg":
        ok, blob = cap.retrieve(None, int(cap.get(cv2.CAP_PROP_CODEC_EXTRADATA_INDEX)))
        extradata = blob.tobytes() if ok and blob is not None else b""
    scratch = os.path.join(tmpdir, f"sitescout-key-{os.getpid()}.{family or 'bin'}")
    out: dict[str, Any] = {"open_s": round(opened_at - started, 4), "codec": family or fourcc or None}
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    # At least a 4K picture's allowance (the size OpenCV reports at open is not always the decoded
    # one: a 4K check was killed on a loaded CI machine), at most 16 MP.  Floods never get it: it
    # starts with the first decode.
    pixels = min(max(width * height, 3840 * 2160), 16_000_000)
    allowance_mb = pixels * cfg.memory_per_pixel_bytes / 2**20
    if not raw:
        _allow_decoding(allowance_mb)  # every grab decodes a whole picture
    try:
        return _watch_loop(cv2, sm, cap, cfg, request, started, opened_at, tmpdir, family, raw, extradata, scratch,
                           out, allowance_mb)
    finally:
        _allow_decoding(0.0)


def _watch_loop(cv2: Any, sm: Any, cap: Any, cfg: StreamConfig, request: dict[str, Any], started: float,
                opened_at: float, tmpdir: str, family: str, raw: bool, extradata: bytes, scratch: str,
                out: dict[str, Any], allowance_mb: float) -> dict[str, Any]:
    """The frame loop of `_watch` (decoding steps run under the decode allowance)."""
    import os

    packets: list[Any] = []
    pictures: list[Any] = []
    full_size: tuple[int, int] | None = None
    since_decode, decode_errors, stalled, read_failed = cfg.decode_every, 0, False, False
    pending: Any = None
    # Bound once: this loop runs for every frame of every check (~100 per check).
    grab, retrieve, get, monotonic, packet_info = cap.grab, cap.retrieve, cap.get, time.monotonic, sm.PacketInfo
    key_prop, pos_prop, mjpeg = cv2.CAP_PROP_LRF_HAS_KEY_FRAME, cv2.CAP_PROP_POS_MSEC, family == "mjpeg"
    end = opened_at + cfg.window_s
    now = last = opened_at
    while now < end:
        ok = grab()
        now = monotonic()
        if now - last > cfg.stall_s:
            stalled = True  # wall-clock rule: a late "ok" may be a held-back frame
            break
        if not ok:
            read_failed = True
            break
        last = now
        since_decode += 1
        packet = None
        if raw:
            got, packet = retrieve()
            if not got:
                packet = None
            is_key = mjpeg or get(key_prop) != 0
        else:
            is_key = True
        packets.append(packet_info(now, packet.size if packet is not None else 0, get(pos_prop), is_key))
        if not is_key:
            continue
        pending = packet  # the latest key frame not decoded yet
        if since_decode < cfg.decode_every:
            continue
        if raw:
            # From the first decode on: the decoder's buffers, freed, stay in the heap
            # (see _keep_freed_memory), so the allowance lasts to the check's end.
            _allow_decoding(allowance_mb)
            picture = _decode_key_frame(cv2, family, extradata, packet, scratch) if packet is not None else None
        else:
            got, picture = retrieve()
            picture = picture if got else None
        pending = None
        if picture is None or picture.size == 0:
            decode_errors += 1
            continue
        since_decode = 0
        if not pictures:
            out["first_frame_s"] = round(monotonic() - started, 4)
            full_size = (int(picture.shape[1]), int(picture.shape[0]))
            if cfg.snapshot:
                out["snapshot_jpeg"] = _snapshot(cv2, picture, packet if mjpeg else None)
        pictures.append(_analysis_gray(cv2, picture, cfg.analysis_width))
    if pending is not None and pictures and raw:
        # The window's last key frame, so "frozen" compares pictures a window apart.
        _allow_decoding(allowance_mb)
        picture = _decode_key_frame(cv2, family, extradata, pending, scratch)
        if picture is None or picture.size == 0:
            decode_errors += 1
        else:
            pictures.append(_analysis_gray(cv2, picture, cfg.analysis_width))
    if os.path.exists(scratch):
        os.unlink(scratch)
    stop = min(now, end)
    arrivals = [p.arrival_s for p in packets]
    out.update(_judge(sm, cfg, request, packets, pictures, full_size, opened_at, stop))
    out["frames"], out["decode_errors"], out["decoded_frames"] = len(packets), decode_errors, len(pictures)
    out["key_frames"] = sum(1 for p in packets if p.is_key)
    out["stalled"] = stalled
    out["longest_gap_s"] = round(sm.longest_gap_s(arrivals, opened_at, now), 3)
    if full_size is None:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        out["width"], out["height"] = (w or None), (h or None)
    if stalled:
        out["error"] = ProbeTimeout(request["uri"], f"stalled: no new frame for {now - (arrivals[-1] if arrivals else opened_at):.1f} s "
                                    f"after {len(packets)} frames").as_text()
    elif read_failed:
        out["error"] = UnreachableError(request["uri"], f"stream ended after {len(packets)} frames").as_text()
    elif not packets:
        out["error"] = ProbeTimeout(request["uri"], f"no frame within {cfg.window_s:g} s").as_text()
    elif not pictures:
        out["error"] = MalformedError(request["uri"], f"no decodable key frame in {len(packets)} frames").as_text()
    out["up"] = bool(packets) and not stalled and not read_failed
    return out


def _judge(sm: Any, cfg: StreamConfig, request: dict[str, Any], packets: list[Any], pictures: list[Any],
           full_size: tuple[int, int] | None, start: float, stop: float) -> dict[str, Any]:
    """Turn the packet log and sampled pictures into rates, sizes and picture verdicts."""
    fps = sm.measured_fps([p.arrival_s for p in packets], start, stop) if packets else None
    out: dict[str, Any] = {
        "fps": round(fps, 2) if fps is not None else None,
        "stream_fps": _round(sm.stream_fps([p.pts_ms for p in packets]), 2),
        "bitrate_kbps": _round(sm.bitrate_kbps(packets) if packets and packets[0].size_bytes else None, 1),
        "fps_ok": sm.fps_matches(fps, request["expected_fps"], cfg.fps_tolerance),
    }
    if full_size is not None:
        out["width"], out["height"] = full_size
        expected = request["expected_size"]
        out["size_ok"] = None if not expected else tuple(expected) == full_size
    if pictures:
        lumas = [sm.mean_luma(p) for p in pictures]
        sharpness = sorted(sm.laplacian_variance(p) for p in pictures)[len(pictures) // 2]
        black = max(lumas) <= cfg.black_luma_max
        out.update(mean_luma=round(sum(lumas) / len(lumas), 2), black=black, sharpness=round(sharpness, 2),
                   blurred=None if black else sharpness < cfg.blur_laplacian_min,
                   frozen=sm.is_frozen(pictures, cfg.frozen_diff_max))
    return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


