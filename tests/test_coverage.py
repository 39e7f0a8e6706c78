"""Coverage geometry: projection, line of sight through obstacles, DORI bands."""

from __future__ import annotations

import numpy as np
import pytest

from sitescout.inventory.planning.coverage import (CameraView, LocalProjection, Obstacles, bearing_deg, in_wedge,
                                          level_bands, obstacles_from_geojson, ray_depths, segments_clear)
from sitescout.inventory.planning.dori import get_profile

SQUARE = np.array([[10.0, -5.0], [20.0, -5.0], [20.0, 5.0], [10.0, 5.0]])


def test_projection_matches_wgs84_degree_lengths_at_30_degrees() -> None:
    proj = LocalProjection(30.0, 105.0)
    x, _ = proj.to_xy(30.0, 106.0)
    _, y = proj.to_xy(31.0, 105.0)
    # One degree at 30°N on WGS84: longitude 96,486 m; latitude about 110,852 m (Δφ centred on 30.5°).
    assert float(x) == pytest.approx(96_486, abs=2)
    assert float(y) == pytest.approx(110_852, rel=2e-4)


def test_projection_round_trip() -> None:
    proj = LocalProjection(21.5, 105.3)
    lat, lon = proj.to_latlon(*proj.to_xy(np.array([21.501, 21.499]), np.array([105.302, 105.297])))
    assert np.allclose(lat, [21.501, 21.499], atol=1e-12)
    assert np.allclose(lon, [105.302, 105.297], atol=1e-12)


def test_building_blocks_the_line_of_sight() -> None:
    obstacles = Obstacles.from_rings([SQUARE])
    points = np.array([[30.0, 0.0], [30.0, 20.0], [5.0, 0.0]])
    assert segments_clear((0.0, 0.0), points, obstacles).tolist() == [False, True, True]


def test_camera_on_its_own_wall_and_gate_on_a_wall_are_seen() -> None:
    obstacles = Obstacles.from_rings([SQUARE])
    # Camera on the building's west wall looking away; a gate point on the same wall.
    assert segments_clear((10.0, 0.0), np.array([[0.0, 0.0]]), obstacles).tolist() == [True]
    assert segments_clear((0.0, 0.0), np.array([[10.0, 2.0]]), obstacles).tolist() == [True]


def test_ray_depths_stop_at_the_first_wall() -> None:
    depth = ray_depths((0.0, 0.0), np.array([90.0, 0.0]), 50.0, Obstacles.from_rings([SQUARE]))
    assert depth[0] == pytest.approx(10.0)
    assert depth[1] == pytest.approx(50.0)


def test_wedge_uses_compass_bearings() -> None:
    b = bearing_deg((0.0, 0.0), np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]))
    assert b.tolist() == pytest.approx([0.0, 90.0, 180.0, 270.0])
    assert in_wedge(b, 350.0, 40.0).tolist() == [True, False, False, False]


def test_bands_are_nested_at_the_dori_ranges() -> None:
    view = CameraView(0.0, 0.0, 0.0, 90.0, 90.0, 1920)
    bands = level_bands(view, target_height_m=0.0, levels=("Detect", "Observe", "Recognise", "Identify"))
    assert [b.level for b in bands] == ["Detect", "Observe", "Recognise", "Identify"]
    assert [round(b.outer_m, 2) for b in bands] == [38.4, 15.36, 7.68, 3.84]
    assert [round(b.inner_m, 2) for b in bands] == [15.36, 7.68, 3.84, 0.0]
    detect = bands[0].ring
    radius = np.hypot(detect[:, 0], detect[:, 1])
    assert radius.max() == pytest.approx(38.4)
    assert radius.min() == pytest.approx(15.36)
    assert (detect[:, 0] >= -1e-9).all()  # facing east: nothing west of the camera


def test_obstacle_clips_the_band() -> None:
    view = CameraView(0.0, 0.0, 0.0, 90.0, 40.0, 1920)
    clear = level_bands(view, target_height_m=0.0, levels=("Detect",))
    cut = level_bands(view, target_height_m=0.0, levels=("Detect",), obstacles=Obstacles.from_rings([SQUARE]))
    r_clear = np.hypot(*clear[0].ring.T).max()
    assert r_clear == pytest.approx(1920 / (2 * 25 * np.tan(np.radians(20.0))))
    # The ±20° wedge meets the wall x = 10 within its extent (|y| ≤ 3.64 < 5): all of it is cut there.
    assert cut[0].ring[:, 0].max() == pytest.approx(10.0)


def test_mounting_height_shrinks_the_ground_range() -> None:
    high = level_bands(CameraView(0, 0, 5.0, 0, 90, 1920), target_height_m=1.6, levels=("Identify",))
    assert high[0].outer_m == pytest.approx(np.sqrt(3.84**2 - 3.4**2))
    assert level_bands(CameraView(0, 0, 8.0, 0, 90, 1920), target_height_m=1.6,
                       profile=get_profile("iec62676-4:2014"), levels=("Identify",)) == []


def test_obstacles_from_geojson() -> None:
    proj = LocalProjection(21.5, 105.3)
    lat, lon = proj.to_latlon(SQUARE[:, 0], SQUARE[:, 1])
    ring = [[float(a), float(b)] for a, b in zip(lon, lat)]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}]}
    obstacles = obstacles_from_geojson(fc, proj)
    assert len(obstacles) == 5
    assert segments_clear((0.0, 0.0), np.array([[30.0, 0.0]]), obstacles).tolist() == [False]
    with pytest.raises(ValueError, match="at least 3"):
        obstacles_from_geojson({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}, proj)
