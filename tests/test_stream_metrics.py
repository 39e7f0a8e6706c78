"""Pure stream metrics on synthetic numpy pictures and packet logs."""

from __future__ import annotations

import numpy as np
import pytest

from sitescout.probes.stream import metrics as sm
from sitescout.probes.stream.config import DEFAULT_STREAM, StreamConfig

RNG = np.random.default_rng(7)


def _scene(h: int = 360, w: int = 640) -> np.ndarray:
    """A sharp picture: a checkerboard of 16 px squares with mild noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((yy // 16) + (xx // 16)) % 2) * 160 + 40
    return np.clip(board + RNG.normal(0, 2, (h, w)), 0, 255).astype(np.uint8)


def _box_blur(picture: np.ndarray, k: int) -> np.ndarray:
    """Blur with a k×k box (separable cumulative sums), like a defocused lens."""
    out = picture.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (k // 2, k - 1 - k // 2)
        padded = np.pad(out, pad, mode="edge")
        c = np.cumsum(padded, axis=axis)
        c = np.insert(c, 0, 0, axis=axis)
        out = (np.take(c, range(k, c.shape[axis]), axis=axis) - np.take(c, range(0, c.shape[axis] - k), axis=axis)) / k
    return out.astype(np.uint8)


def test_black_picture_reads_below_threshold_and_a_dark_scene_does_not() -> None:
    black = np.zeros((360, 640), np.uint8)
    night = np.full((360, 640), 25, np.uint8)
    assert sm.mean_luma(black) == 0.0
    assert sm.mean_luma(black) <= DEFAULT_STREAM.black_luma_max < sm.mean_luma(night)


def test_laplacian_matches_opencv_and_separates_sharp_from_blurred() -> None:
    cv2 = pytest.importorskip("cv2")
    sharp = _scene()
    blurred = _box_blur(sharp, 17)
    ours = sm.laplacian_variance(sharp)
    theirs = cv2.Laplacian(sharp, cv2.CV_64F)[1:-1, 1:-1].var()
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert sm.laplacian_variance(sharp) > 10 * DEFAULT_STREAM.blur_laplacian_min
    assert sm.laplacian_variance(blurred) < DEFAULT_STREAM.blur_laplacian_min
    assert sm.laplacian_variance(np.zeros((2, 2), np.uint8)) == 0.0


def test_frozen_needs_two_pictures_and_tolerates_requantisation_only() -> None:
    scene = _scene()
    # Re-encoding a still picture moves a few pixels by one level (lab: MAD ~0.1).
    nudge = (RNG.random(scene.shape) < 0.1) * RNG.choice([-1, 1], scene.shape)
    requantised = np.clip(scene.astype(np.int16) + nudge, 0, 255).astype(np.uint8)
    moved = np.roll(scene, 8, axis=1)
    noisy_live = np.clip(scene + RNG.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
    limit = DEFAULT_STREAM.frozen_diff_max
    assert sm.is_frozen([scene], limit) is None
    assert sm.is_frozen([scene, scene, scene], limit) is True
    assert sm.mean_abs_diff(scene, requantised) < limit
    assert sm.is_frozen([scene, requantised], limit) is True
    assert sm.is_frozen([scene, moved], limit) is False
    assert sm.is_frozen([scene, noisy_live], limit) is False
    assert sm.mean_abs_diff(scene, scene[:10]) == float("inf")


def test_fps_counts_only_the_second_half_so_the_open_burst_is_ignored() -> None:
    burst = [0.001 * i for i in range(50)]  # 2 s of frames buffered during the open, handed over at once
    steady = [0.05 + i / 25 for i in range(99)]  # then 25 fps until t=4.0
    fps = sm.measured_fps(burst + steady, 0.0, 4.0)
    naive = len(burst + steady) / 4.0
    assert fps == pytest.approx(25.0, abs=0.6)
    assert naive > 1.1 * 25  # what the whole window would have said
    assert sm.measured_fps([], 0.0, 4.0) == 0.0
    assert sm.measured_fps([1.0], 2.0, 2.0) is None


def test_stall_shows_as_a_long_gap_and_low_fps() -> None:
    arrivals = [i / 15 for i in range(23)]  # 1.5 s of 15 fps, then nothing
    assert sm.longest_gap_s(arrivals, 0.0, 4.0) == pytest.approx(4.0 - 22 / 15)
    assert sm.measured_fps(arrivals, 0.0, 4.0) == 0.0


def test_stream_fps_from_timestamps_and_fps_match_tolerance() -> None:
    assert sm.stream_fps([i * 40.0 for i in range(10)]) == pytest.approx(25.0)
    assert sm.stream_fps([0.0, 0.0]) is None
    tol = DEFAULT_STREAM.fps_tolerance
    assert sm.fps_matches(24.0, 25.0, tol) is True
    assert sm.fps_matches(10.0, 25.0, tol) is False
    assert sm.fps_matches(None, 25.0, tol) is None
    assert sm.fps_matches(25.0, None, tol) is None


def test_bitrate_uses_stream_time_not_the_open_burst() -> None:
    # 4 Mbit/s at 25 fps = 20,000 bytes per frame; the first 10 arrive in a burst.
    packets = [sm.PacketInfo(0.001 * i if i < 10 else 0.4 + i / 25, 20_000, i * 40.0, i % 50 == 0) for i in range(100)]
    assert sm.bitrate_kbps(packets) == pytest.approx(4000.0, rel=0.01)
    no_pts = [sm.PacketInfo(i / 25, 20_000, 0.0, False) for i in range(100)]
    assert sm.bitrate_kbps(no_pts) == pytest.approx(8 * 20_000 * 100 / (99 / 25) / 1000)
    assert sm.bitrate_kbps(packets[:1]) is None


def test_jpeg_size_reads_sof_and_rejects_non_jpeg() -> None:
    cv2 = pytest.importorskip("cv2")
    ok, jpeg = cv2.imencode(".jpg", _scene(120, 200))
    assert ok
    assert sm.jpeg_size(jpeg.tobytes()) == (200, 120)
    assert sm.jpeg_size(b"<html>login</html>") is None
    assert sm.jpeg_size(jpeg.tobytes()[: len(jpeg) // 2]) is None  # truncated: no EOI


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="budget_s"):
        StreamConfig(budget_s=0)
    with pytest.raises(ValueError, match="decode_every"):
        StreamConfig(decode_every=0)
    with pytest.raises(ValueError, match="rtsp_transport"):
        StreamConfig(rtsp_transport="sctp")


@pytest.mark.parametrize("h, w", [(1080, 1920), (1088, 1920), (720, 1280), (2160, 3840), (240, 320)])
def test_analysis_picture_is_the_area_average_whatever_the_path(h: int, w: int) -> None:
    """The 3:1 box-mean shortcut gives INTER_AREA's picture bit for bit; other sizes take INTER_AREA itself."""
    cv2 = pytest.importorskip("cv2")
    from sitescout.probes.stream.window import _analysis_gray

    for bgr in (RNG.integers(0, 256, (h, w, 3), dtype=np.uint8),
                cv2.GaussianBlur(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        expected = gray if w <= 640 else cv2.resize(gray, (640, round(h * 640 / w)), interpolation=cv2.INTER_AREA)
        ours = _analysis_gray(cv2, bgr, 640)
        assert ours.flags["C_CONTIGUOUS"] and ours.dtype == np.uint8
        assert np.array_equal(ours, expected)
        assert np.array_equal(_analysis_gray(cv2, gray, 640), expected)
