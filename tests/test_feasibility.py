"""Mount feasibility: cable, radio (Fresnel), power, uplink and PoE limits, with reasons."""

from __future__ import annotations

import pytest

from sitescout.inventory.planning.feasibility import (Bridge, CameraModel, Mount, Switch, Uplink, check_mount,
                                            earth_bulge_m, fresnel_radius_m, max_cameras_on_uplink,
                                            measured_bitrates_from_survey, planning_bitrate_kbps,
                                            resource_capacities, uplink_headroom_kbps)

CAM = CameraModel("cam-4mp", 2560, 1440, (90.0,), "h265", 15.0, price=100, power_w=9.0)
SWITCH = {"sw": Switch("sw", poe_budget_w=60.0)}
UPLINK = {"up": Uplink("up", capacity_kbps=10_000.0)}


def _mount(**kw: object) -> Mount:
    base: dict[str, object] = {"id": "m", "x": 0.0, "y": 0.0, "height_m": 5.0, "cable_m": 40.0, "switch": "sw",
                               "uplink": "up"}
    base.update(kw)
    return Mount(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("d_km,f_ghz,r", [(0.5, 5.8, 2.54), (1.0, 5.8, 3.60), (2.0, 5.8, 5.09), (2.0, 2.4, 7.91)])
def test_fresnel_radius_oracle(d_km: float, f_ghz: float, r: float) -> None:
    assert fresnel_radius_m(d_km, f_ghz) == pytest.approx(r, abs=0.006)
    assert 0.6 * fresnel_radius_m(d_km, f_ghz) == pytest.approx(0.6 * r, abs=0.006)


def test_earth_bulge_oracle() -> None:
    assert earth_bulge_m(2.0) == pytest.approx(0.06, abs=0.005)
    assert earth_bulge_m(5.0) == pytest.approx(0.37, abs=0.005)


def test_uplink_n_max_examples() -> None:
    # 10 Mb/s uplink, 4 MP H.265 at 15 fps (2.048 Mb/s), u 0.7, o 0.1 → 3; a 512 kb/s sub-stream → 12.
    assert max_cameras_on_uplink(10_000, planning_bitrate_kbps(2560, 1440, "h265", 15)) == 3
    assert max_cameras_on_uplink(10_000, 512) == 12
    assert uplink_headroom_kbps(Uplink("u", 10_000, existing_kbps=1_000)) == pytest.approx(7000 / 1.1 - 1000)


def test_planning_table() -> None:
    assert planning_bitrate_kbps(1920, 1080, "h264", 25) == 4096
    assert planning_bitrate_kbps(1920, 1080, "H.265", 15) == 1024
    assert planning_bitrate_kbps(3840, 2160, "h264", 30) == 16384
    assert planning_bitrate_kbps(2560, 1440, "h265", 20) == pytest.approx(3072)
    assert planning_bitrate_kbps(1280, 720, "h264", 25) == pytest.approx(4096 * 1280 * 720 / (1920 * 1080))


def test_feasible_mount_and_what_it_consumes() -> None:
    check = check_mount(_mount(), [CAM], uplinks=UPLINK, switches=SWITCH)
    assert check.is_feasible and check.link == "ethernet" and check.all_reasons() == []
    pose = check.poses[0]
    assert pose.bitrate_source == "table" and pose.bitrate_kbps == 2048
    assert pose.resources == {"uplink:up": 2048, "poe:sw": 9.0}
    caps = resource_capacities([_mount()], UPLINK, SWITCH)
    assert caps == {"uplink:up": pytest.approx(7000 / 1.1), "poe:sw": 60.0}


@pytest.mark.parametrize("kw,reason", [
    ({"cable_m": 95.0}, "cable route 95 m exceeds the 90 m permanent link"),
    ({"cable_m": 90.0, "patch_m": 12.0}, "exceeds the 100 m channel"),
    ({"cable_m": None}, "no cable route to a switch"),
    ({"power": "none"}, "no power at the mount"),
    ({"switch": None}, "PoE mount without a known switch"),
    ({"uplink": "elsewhere"}, "unknown uplink 'elsewhere'"),
])
def test_infeasible_mount_says_why(kw: dict[str, object], reason: str) -> None:
    check = check_mount(_mount(**kw), [CAM], uplinks=UPLINK, switches=SWITCH)
    assert not check.is_feasible
    assert any(reason in r for r in check.all_reasons()), check.all_reasons()


def test_cable_at_90_m_is_fine() -> None:
    assert check_mount(_mount(cable_m=90.0), [CAM], uplinks=UPLINK, switches=SWITCH).is_feasible


def test_radio_link_needs_fresnel_clearance() -> None:
    clear = Bridge(distance_m=1000, freq_ghz=5.8, height_m=6, peer_height_m=6, capacity_kbps=40_000)
    ok = check_mount(_mount(cable_m=150.0, power="mains", bridge=clear), [CAM], uplinks=UPLINK)
    assert ok.is_feasible and ok.link == "bridge"
    assert ok.poses[0].resources["bridge:m"] == 2048
    # 60 % of 3.60 m at mid-path over 1 km: antennas at 2 m do not clear the ground.
    low = Bridge(distance_m=1000, freq_ghz=5.8, height_m=2, peer_height_m=2)
    bad = check_mount(_mount(cable_m=None, power="mains", bridge=low), [CAM], uplinks=UPLINK)
    assert not bad.is_feasible
    assert any("60 % of the first Fresnel zone" in r and "the ground" in r for r in bad.all_reasons())
    house = Bridge(distance_m=200, height_m=6, peer_height_m=6, obstructions=((100.0, 5.5),))
    blocked = check_mount(_mount(cable_m=None, power="mains", bridge=house), [CAM], uplinks=UPLINK)
    assert any("obstruction 5.5 m high at 100 m" in r for r in blocked.all_reasons())


def test_model_too_big_for_the_uplink_or_switch() -> None:
    uhd = CameraModel("cam-4k", 3840, 2160, (90.0,), "h264", 30.0, power_w=30.0)
    check = check_mount(_mount(), [CAM, uhd], uplinks={"up": Uplink("up", 4_000.0)}, switches=SWITCH)
    assert check.is_feasible  # the 4 MP model still fits
    big = check.poses[1]
    assert not big.is_feasible
    assert any("kb/s of headroom" in r for r in big.reasons)
    assert any("switch port gives 25.5 W" in r for r in big.reasons)
    alone = check_mount(_mount(), [uhd], uplinks={"up": Uplink("up", 4_000.0)}, switches=SWITCH)
    assert not alone.is_feasible and alone.all_reasons()[0].startswith("cam-4k: ")


def test_sub_stream_uplink_and_measured_bitrate_win() -> None:
    sub = {"up": Uplink("up", 2_000.0, stream="sub", substream_kbps=512)}
    check = check_mount(_mount(), [CAM], uplinks=sub, switches=SWITCH, measured={"cam-4mp": 1500.0})
    assert check.is_feasible
    assert check.poses[0].bitrate_source == "measured" and check.poses[0].resources["uplink:up"] == 512


def test_measured_bitrates_from_a_survey_document() -> None:
    def host(model: str, main: float, sub: float) -> dict[str, object]:
        return {"onvif": {"model": model}, "streams": [
            {"up": True, "width": 1920, "height": 1080, "bitrate_kbps": main},
            {"up": True, "width": 640, "height": 360, "bitrate_kbps": sub},
            {"up": False, "width": 3840, "height": 2160, "bitrate_kbps": None}]}
    doc = {"hosts": [host("A", 1800.0, 300.0), host("A", 2200.0, 310.0), host("A", 2000.0, 320.0),
                     host("B", 900.0, 100.0), {"onvif": None, "streams": []}]}
    assert measured_bitrates_from_survey(doc) == {"A": 2000.0, "B": 900.0}
