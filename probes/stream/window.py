"""The window of a stream check, inside the worker process: count frames, decode key frames, judge.

:func:`watch` runs on an opened ``cv2.VideoCapture`` in stages: collect every
encoded frame for the window in raw (demux-only) mode (`_collect_frames`), decode
the chosen key frames on their own once the window is over (`_decode_chosen`),
and turn the packet log and pictures into verdicts (`_finish`, `_judge`).  Decoding
is allowed memory above the check's cap only while it runs (the parent's shared
allowance, :func:`set_decode_allowance`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from sitescout.probes.errors import MalformedError, ProbeTimeout, UnreachableError
from sitescout.probes.stream.config import PROBE_DECODERS, StreamConfig

__all__ = ["set_decode_allowance", "watch"]

_H264 = frozenset({"h264", "avc1", "x264"})
_HEVC = frozenset({"hevc", "hev1", "hvc1", "h265"})
_MJPEG = frozenset({"mjpg", "mjpeg", "jpeg"})


#: Shared with the parent (a multiprocessing Value, MB): memory the parent allows on top
#: of the check's cap once a picture is decoded.  Decoding a 4K key frame legitimately
#: takes ~120 MB; a stream that floods the demuxer before any picture gets no allowance.
_decode_allowance: Any = None


def set_decode_allowance(value: Any) -> None:
    """Adopt the parent's shared allowance (a multiprocessing Value, MB; None: none)."""
    global _decode_allowance
    _decode_allowance = value


def _allow_decoding(mb: float) -> None:
    if _decode_allowance is not None:
        _decode_allowance.value = mb


def _analysis_gray(cv2: Any, picture: Any, width: int) -> Any:
    """Return the luma of a BGR or gray picture scaled to `width` columns (area averaging).

    At exactly 3:1 (1920x1080 to 640x360, the common case) the area average is a 3x3 box
    mean taken at every third pixel: OpenCV's INTER_AREA has no vectorised path for a
    factor of 3 and its `blur` has, so that is 1.4 instead of 1.9 ms per 1080p picture,
    bit for bit the same picture (tests/test_stream_metrics.py).
    """
    gray = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    if w > width:
        if w == 3 * width and h % 3 == 0:
            return cv2.blur(gray, (3, 3))[1::3, 1::3].copy()
        gray = cv2.resize(gray, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return gray


def _decode_key_frames(
    cv2: Any, family: str, extradata: bytes, packets: list[Any], scratch: str
) -> Generator[Any, None, None]:
    """Yield each key frame decoded (None where it would not), one picture alive at a time.

    MJPEG frames go through imdecode; H.264/HEVC key frames, which need no other
    frame, are written after the parameter sets into one Annex B file, opened once.
    (A one-frame file per picture cost an open and a probing decode each: 1080p,
    6.3 ms per picture against 8.3 ms for two from one file; docs/benchmarks.md.)
    `packets` are the 1-D uint8 arrays `retrieve()` gave (copies, safe to keep).
    A frame that does not decode is skipped by the reader, so its None comes last.
    """
    import os

    if family == "mjpeg":
        for packet in packets:
            yield cv2.imdecode(packet, cv2.IMREAD_COLOR)
        return
    with open(scratch, "wb") as fh:
        fh.write(extradata)  # parameter sets first: not every camera repeats them in-band
        for packet in packets:
            fh.write(packet)
    # Name the raw demuxer: no format probing of the scratch file; probesize 32: stream
    # probing stops after the first frame (else it decodes every frame once more); the
    # codec whitelist keeps H.264/HEVC out of the probe, which decoded that first frame
    # only to throw it away (config.PROBE_DECODERS: 1080p, 2.1 of 3 decodes' time).
    # (The RTSP options set for the stream's open are read again by this open.)
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"input_format;{family}|probesize;32|codec_whitelist;{PROBE_DECODERS}"
    # One thread: for single frames, frame threads only add set-up cost (6 vs 9-30 ms CPU at 1080p).
    reader = cv2.VideoCapture(scratch, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        for _ in packets:
            ok, picture = reader.read() if reader.isOpened() else (False, None)
            yield picture if ok else None
    finally:
        reader.release()
        os.unlink(scratch)


def _snapshot(cv2: Any, picture: Any, jpeg: Any) -> bytes | None:
    """Return the snapshot JPEG: an MJPEG frame as received, anything else encoded at quality 80."""
    if jpeg is not None:
        return bytes(jpeg.tobytes())
    done, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return encoded.tobytes() if done else None


def watch(cv2: Any, sm: Any, cap: Any, cfg: StreamConfig, request: dict[str, Any],
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
        return _watch_loop(cv2, sm, cap, cfg, request, started, opened_at, family, raw, extradata, scratch,
                           out, allowance_mb)
    finally:
        _allow_decoding(0.0)


@dataclass
class _Window:
    """What the frame loop gathers: one entry per packet, the key frames chosen, the pictures analysed."""

    arrivals: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    pts: list[float] = field(default_factory=list)
    keys: list[bool] = field(default_factory=list)
    #: (arrival, packet) of the key frames to decode after the window (raw mode).
    chosen: list[tuple[float, Any]] = field(default_factory=list)
    #: The latest key frame not chosen yet (raw mode).
    pending: tuple[float, Any] | None = None
    pictures: list[Any] = field(default_factory=list)
    #: Of the first decoded picture.
    full_size: tuple[int, int] | None = None
    decode_errors: int = 0
    stalled: bool = False
    read_failed: bool = False
    #: When the loop last looked at the clock.
    now: float = 0.0


def _watch_loop(cv2: Any, sm: Any, cap: Any, cfg: StreamConfig, request: dict[str, Any], started: float,
                opened_at: float, family: str, raw: bool, extradata: bytes, scratch: str,
                out: dict[str, Any], allowance_mb: float) -> dict[str, Any]:
    """The frame loop of `_watch`, in stages: log every packet for the window, decode the key frames, judge.

    In raw mode the chosen key frames (the first, then one per `decode_every`
    frames, and the window's last) are kept as packets and decoded together once
    the window is over (`_decode_key_frames`), under the decode allowance.
    """
    window = _Window()
    end = opened_at + cfg.window_s
    _collect_frames(cv2, cap, cfg, window, started, opened_at, end, family, raw, out)
    if raw and window.chosen:
        _decode_chosen(cv2, cfg, window, started, family, extradata, scratch, out, allowance_mb)
    packets = [sm.PacketInfo(*p) for p in zip(window.arrivals, window.sizes, window.pts, window.keys)]
    return _finish(cv2, sm, cap, cfg, request, out, packets, window.pictures, window.full_size,
                   window.decode_errors, opened_at, min(window.now, end), window.now, window.stalled,
                   window.read_failed)


def _collect_frames(cv2: Any, cap: Any, cfg: StreamConfig, window: _Window, started: float, opened_at: float,
                    end: float, family: str, raw: bool, out: dict[str, Any]) -> None:
    """Grab every frame until `end` (or a stall or failed read): log it and keep or decode its key frames."""
    w = window
    arrivals, sizes, pts, keys, chosen, pictures = w.arrivals, w.sizes, w.pts, w.keys, w.chosen, w.pictures
    since_decode = cfg.decode_every
    # Bound once: this loop runs for every frame of every check (~100 per check).
    grab, retrieve, get, monotonic = cap.grab, cap.retrieve, cap.get, time.monotonic
    key_prop, pos_prop, mjpeg = cv2.CAP_PROP_LRF_HAS_KEY_FRAME, cv2.CAP_PROP_POS_MSEC, family == "mjpeg"
    now = last = opened_at
    try:
        while now < end:
            ok = grab()
            now = monotonic()
            if now - last > cfg.stall_s:
                w.stalled = True  # wall-clock rule: a late "ok" may be a held-back frame
                break
            if not ok:
                w.read_failed = True
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
            arrivals.append(now)
            sizes.append(packet.size if packet is not None else 0)
            pts.append(get(pos_prop))
            keys.append(is_key)
            if not is_key:
                continue
            if raw:
                if packet is None:
                    continue
                w.pending = (now, packet)  # the latest key frame not chosen yet
                if since_decode >= cfg.decode_every:
                    chosen.append(w.pending)
                    w.pending, since_decode = None, 0
                continue
            if since_decode < cfg.decode_every:
                continue
            got, picture = retrieve()
            if not got or picture is None or picture.size == 0:
                w.decode_errors += 1
                continue
            since_decode = 0
            if w.full_size is None:
                w.full_size = _first_picture(cv2, cfg, out, picture, None, monotonic() - started)
            pictures.append(_analysis_gray(cv2, picture, cfg.analysis_width))
    finally:
        w.now = now


def _decode_chosen(cv2: Any, cfg: StreamConfig, window: _Window, started: float, family: str, extradata: bytes,
                   scratch: str, out: dict[str, Any], allowance_mb: float) -> None:
    """Decode the chosen key frames (and the window's last) together, under the decode allowance."""
    w = window
    if w.pending is not None:
        w.chosen.append(w.pending)  # the window's last key frame: "frozen" compares pictures a window apart
    _allow_decoding(allowance_mb)  # decoder buffers, freed, stay in the heap (_keep_freed_memory)
    packets = [p for _, p in w.chosen]
    with contextlib.closing(_decode_key_frames(cv2, family, extradata, packets, scratch)) as decoded:
        for (arrival, packet), picture in zip(w.chosen, decoded):
            if picture is None or picture.size == 0:
                w.decode_errors += 1
                continue
            if w.full_size is None:
                w.full_size = _first_picture(cv2, cfg, out, picture, packet if family == "mjpeg" else None,
                                             arrival - started)
            w.pictures.append(_analysis_gray(cv2, picture, cfg.analysis_width))


def _first_picture(cv2: Any, cfg: StreamConfig, out: dict[str, Any], picture: Any, jpeg: Any,
                   after_s: float) -> tuple[int, int]:
    """Note when the first picture came and keep its snapshot; return its (width, height)."""
    out["first_frame_s"] = round(after_s, 4)
    if cfg.snapshot:
        out["snapshot_jpeg"] = _snapshot(cv2, picture, jpeg)
    return int(picture.shape[1]), int(picture.shape[0])


def _finish(cv2: Any, sm: Any, cap: Any, cfg: StreamConfig, request: dict[str, Any], out: dict[str, Any],
            packets: list[Any], pictures: list[Any], full_size: tuple[int, int] | None, decode_errors: int,
            opened_at: float, stop: float, now: float, stalled: bool, read_failed: bool) -> dict[str, Any]:
    """Judge the window and name what went wrong, if anything (the end of `_watch_loop`)."""
    arrivals = [p.arrival_s for p in packets]
    out.update(_judge(sm, cfg, request, packets, pictures, full_size, opened_at, stop))
    out["frames"], out["decode_errors"], out["decoded_frames"] = len(packets), decode_errors, len(pictures)
    out["key_frames"] = sum(1 for p in packets if p.is_key)
    out["stalled"] = stalled
    out["longest_gap_s"] = round(sm.longest_gap_s(arrivals, opened_at, now), 3)
    if full_size is None:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        out["width"], out["height"] = (w or None), (h or None)
    # The typed error; the child (child.py) writes its text and code into the reply.
    if stalled:
        out["_error"] = ProbeTimeout(
            request["uri"],
            f"stalled: no new frame for {now - (arrivals[-1] if arrivals else opened_at):.1f} s "
            f"after {len(packets)} frames",
        )
    elif read_failed:
        out["_error"] = UnreachableError(request["uri"], f"stream ended after {len(packets)} frames")
    elif not packets:
        out["_error"] = ProbeTimeout(request["uri"], f"no frame within {cfg.window_s:g} s")
    elif not pictures:
        out["_error"] = MalformedError(request["uri"], f"no decodable key frame in {len(packets)} frames")
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
