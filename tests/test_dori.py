"""DORI ranges against the worked examples in the planning research (planning-anchors.md §1)."""

from __future__ import annotations

import math

import pytest

from sitescout.inventory.planning.dori import (DEFAULT_PROFILE, PROFILES, dori_ranges, get_profile, ground_range,
                                      hfov_from_lens, max_distance, pixel_density)


def _ranges(resolution: int, hfov: float, profile: str = "iec62676-4:2014") -> dict[str, float]:
    return {r.level: r.slant_m for r in dori_ranges(resolution, hfov, profile=get_profile(profile))}


def test_1920_px_at_90_degrees_gives_the_oracle() -> None:
    r = _ranges(1920, 90.0)
    assert r["Identify"] == pytest.approx(3.84)
    assert r["Recognise"] == pytest.approx(7.68)
    assert r["Observe"] == pytest.approx(15.36)
    assert r["Detect"] == pytest.approx(38.40)
    assert r["Monitor"] == pytest.approx(76.80)
    assert r["Inspect"] == pytest.approx(0.96)


def test_lens_and_sensor_give_the_same_as_hfov() -> None:
    assert hfov_from_lens(2.8, 5.6) == pytest.approx(90.0)
    hfov = hfov_from_lens(4.0, 5.6)
    assert hfov == pytest.approx(69.98, abs=0.01)
    assert max_distance(2560, hfov, 250) == pytest.approx(7.314, abs=5e-4)
    assert max_distance(2560, hfov, 250) == pytest.approx(2560 * 4.0 / (5.6 * 250))


def test_4k_doubles_every_range() -> None:
    hd, uhd = _ranges(1920, 90.0), _ranges(3840, 90.0)
    assert set(hd) == set(uhd)
    for level in hd:
        assert uhd[level] == pytest.approx(2 * hd[level])
    assert uhd["Detect"] == pytest.approx(76.8)


def test_2025_profile_table() -> None:
    r = _ranges(1920, 90.0, "iec62676-4:2025")
    assert [round(v, 2) for v in r.values()] == [48.0, 24.0, 12.0, 7.68, 3.84, 1.92, 0.64]
    assert [lv.ppm for lv in PROFILES["iec62676-4:2025"].levels] == [20, 40, 80, 125, 250, 500, 1500]


def test_pixel_density_at_10_m_and_observe_at_62() -> None:
    assert pixel_density(1920, 90.0, 10.0) == pytest.approx(96.0)
    # Vendors' "62 PPM" gives a 0.8 % longer Observe range than the standard's 62.5.
    assert max_distance(1920, 90.0, 62.0) == pytest.approx(15.48, abs=0.005)


def test_slant_range_corrected_for_heights() -> None:
    assert ground_range(5.0, camera_height_m=4.6, target_height_m=1.6) == pytest.approx(4.0)
    assert ground_range(2.0, camera_height_m=6.0, target_height_m=1.6) == 0.0
    r = dori_ranges(1920, 90.0, camera_height_m=5.0, target_height_m=1.6)
    identify = next(x for x in r if x.level == "Identify")
    assert identify.ground_m == pytest.approx(math.sqrt(3.84**2 - 3.4**2))


def test_profiles_and_levels_by_name() -> None:
    assert get_profile(None) is DEFAULT_PROFILE
    assert DEFAULT_PROFILE.name == "iec62676-4:2014"
    assert DEFAULT_PROFILE.level("recognize").name == "Recognise"
    assert DEFAULT_PROFILE.index("Detect") < DEFAULT_PROFILE.index("Identify")
    with pytest.raises(ValueError, match="unknown DORI profile"):
        get_profile("iec62676-4:1999")
    with pytest.raises(ValueError, match="unknown DORI level 'Stare'"):
        DEFAULT_PROFILE.level("Stare")


@pytest.mark.parametrize("args", [(0, 90.0, 25.0), (1920, 0.0, 25.0), (1920, 180.0, 25.0), (1920, 90.0, 0.0)])
def test_bad_inputs_raise_value_error(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        max_distance(*args)
