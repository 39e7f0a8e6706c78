"""Pure picture and packet math for the stream-health probe (numpy only, no I/O, no OpenCV).

Pictures are 2-D ``uint8`` luma arrays already reduced to the analysis width
(see `stream.child._analysis_gray`), so thresholds do not depend on the
stream's resolution.  Packet logs are lists of `PacketInfo`, one per encoded
frame, in arrival order.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PacketInfo",
    "mean_luma",
    "laplacian_variance",
    "mean_abs_diff",
    "is_frozen",
    "measured_fps",
    "stream_fps",
    "bitrate_kbps",
    "longest_gap_s",
    "fps_matches",
    "jpeg_size",
]


@dataclass(frozen=True)
class PacketInfo:
    """One encoded frame as it arrived: wall-clock arrival (monotonic s), size, stream time, key flag."""

    arrival_s: float
    size_bytes: int
    pts_ms: float
    is_key: bool


def mean_luma(gray: np.ndarray) -> float:
    """Return the mean 8-bit luma of a picture (OpenCV decodes black as 0, full range)."""
    return float(gray.mean()) if gray.size else 0.0


def laplacian_variance(gray: np.ndarray) -> float:
    """Return the variance of the 4-neighbour Laplacian of a luma picture (higher = sharper).

    Same kernel as ``cv2.Laplacian(gray, CV_64F)`` (ksize 1) on the picture's
    interior; computed with numpy so the metric is testable without OpenCV.
    The Laplacian of 8-bit luma lies in [-1020, 1020]: int16 holds it exactly, at a
    tenth of the float64 arithmetic's cost (640x360: 0.4 ms instead of 3.8 ms).
    """
    if gray.ndim != 2 or gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    g = gray.astype(np.int16)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(lap.var(dtype=np.float64))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Return the mean absolute luma difference of two same-size pictures (inf if sizes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def is_frozen(pictures: list[np.ndarray], diff_max: float) -> bool | None:
    """Say whether no sampled picture differs from the first by more than `diff_max` (None: < 2 pictures)."""
    if len(pictures) < 2:
        return None
    first = pictures[0]
    return all(mean_abs_diff(first, other) <= diff_max for other in pictures[1:])


def measured_fps(arrivals_s: list[float], start_s: float, end_s: float) -> float | None:
    """Return frames per wall-clock second over the second half of [start_s, end_s].

    The first half is left out on purpose: FFmpeg hands over the frames it
    buffered while probing the stream in a burst right after the open, which
    reads ~30 % high (lab-notes "OpenCV").  Counting arrivals in a fixed
    interval (not first-to-last) makes a stall or a slow camera read low.
    """
    span = end_s - start_s
    if span <= 0:
        return None
    half = start_s + span / 2.0
    count = sum(1 for t in arrivals_s if half <= t <= end_s)
    return count / (end_s - half)


def stream_fps(pts_ms: list[float]) -> float | None:
    """Return the frame rate the stream's own timestamps claim (median spacing), None if unusable."""
    deltas = [b - a for a, b in zip(pts_ms, pts_ms[1:]) if b > a]
    if len(deltas) < 2:
        return None
    step = statistics.median(deltas)
    return 1000.0 / step if step > 0 else None


def bitrate_kbps(packets: list[PacketInfo]) -> float | None:
    """Return the encoded bitrate in kbit/s: bytes over the stream-time span of the packets.

    Stream time (PTS) is used because the drained burst after the open would
    inflate a wall-clock rate; when timestamps are missing or absurd the
    wall-clock span of the packets is used instead.
    """
    if len(packets) < 2:
        return None
    total_bits = 8.0 * sum(p.size_bytes for p in packets)
    pts = [p.pts_ms for p in packets]
    fps = stream_fps(pts)
    wall = packets[-1].arrival_s - packets[0].arrival_s
    span_s = (pts[-1] - pts[0]) / 1000.0
    if fps and span_s > 0 and span_s < 2.0 * wall + 2.0:
        return total_bits / (span_s + 1.0 / fps) / 1000.0
    return total_bits / wall / 1000.0 if wall > 0 else None


def longest_gap_s(arrivals_s: list[float], start_s: float, end_s: float) -> float:
    """Return the longest wall-clock interval in [start_s, end_s] with no frame arriving."""
    points = [start_s, *(t for t in arrivals_s if start_s <= t <= end_s), end_s]
    return max(b - a for a, b in zip(points, points[1:]))


def fps_matches(fps: float | None, expected: float | None, tolerance: float) -> bool | None:
    """Say whether a measured rate is within ±tolerance (a fraction) of the expected one (None: unknown)."""
    if fps is None or not expected:
        return None
    return abs(fps - expected) <= tolerance * expected


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) from a JPEG's SOF header, or None when `data` is not a whole JPEG."""
    if len(data) < 4 or data[:2] != b"\xff\xd8" or b"\xff\xd9" not in data[-64:]:
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None
