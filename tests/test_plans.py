"""Saved placement plans on SQLite and PostgreSQL: the GeoJSON kept whole, its cameras as planned devices."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sitescout.inventory import store
from sitescout.inventory.planning import plan_input, plan_io
from sitescout.inventory.models import Commune, Device, Plan, Region, Site
from sitescout.inventory.planning.plans import PlanError, find_site, get_plan, list_plans, save_plan

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "plan_village.json"


@pytest.fixture(scope="module")
def sample_geojson() -> dict:
    """Return the sample village plan (4 cameras, 3 infeasible mounts), solved once."""
    result = plan_io.make_plan(plan_input.load_plan_input(SAMPLE), 4, time_limit_s=5.0)
    return plan_io.plan_geojson(result)


def _site(database, name: str = "Thôn Đồng Bùa") -> int:
    with database.session() as session:
        region = Region(name="Tuyên Quang")
        commune = Commune(region=region, name="Hùng Lợi")
        site = Site(commune=commune, name=name, latitude=21.7310, longitude=105.3123)
        session.add(site)
        session.flush()
        return site.id


def test_save_plan_keeps_the_geojson_and_creates_planned_cameras(database, sample_geojson) -> None:
    site_id = _site(database)
    with database.session() as session:
        record = save_plan(session, site_id, copy.deepcopy(sample_geojson), name="Sample plan")
    cameras = [f for f in sample_geojson["features"] if f["properties"]["kind"] == "camera"]
    assert record.camera_count == len(cameras) == 4 and len(record.device_ids) == 4
    assert record.objective == pytest.approx(sample_geojson["plan"]["objective"])
    assert record.gap == pytest.approx(sample_geojson["plan"]["gap"])
    with database.session() as session:
        devices = {d.id: d for d in store.list_devices(session, site_id=site_id)}
        assert sorted(devices) == sorted(record.device_ids)
        for feature in cameras:
            props = feature["properties"]
            device = next(d for d in devices.values() if d.name == f"{props['camera_id']} {props['model']}")
            assert (device.kind, device.status, device.ip, device.model) == ("camera", "planned", None, props["model"])
            assert device.camera.heading_deg == pytest.approx(props["heading_deg"])
            assert device.camera.hfov_deg == pytest.approx(props["hfov_deg"])
            assert device.camera.height_m == pytest.approx(props["height_m"])
            assert device.camera.mount_latitude == pytest.approx(feature["geometry"]["coordinates"][1])
            assert device.camera.mount_longitude == pytest.approx(feature["geometry"]["coordinates"][0])
        # Planned cameras are not monitored and do not count in the site's health.
        assert store.prometheus_targets(session) == []
        summary = store.get_site(session, site_id).site
        assert summary.health == "unknown" and summary.problem_count == 0
        loaded = get_plan(session, record.id)
    assert loaded is not None and loaded.geojson == sample_geojson
    assert loaded.to_dict()["created_at"].startswith("20")
    kinds = {f["properties"]["kind"] for f in loaded.geojson["features"]}
    assert kinds == {"camera", "coverage", "demand", "infeasible_mount", "obstacle"}


def test_saving_twice_keeps_both_plans_and_unique_device_names(database, sample_geojson) -> None:
    site_id = _site(database)
    with database.session() as session:
        first = save_plan(session, site_id, sample_geojson, name="first")
    with database.session() as session:
        second = save_plan(session, site_id, sample_geojson, name="second")
    with database.session() as session:
        plans = list_plans(session, site_id)
        names = [d.name for d in store.list_devices(session, site_id=site_id)]
    assert [p.id for p in plans] == [second.id, first.id]
    assert all(p.geojson is None for p in plans) and plans[0].summary["cameras"] == 4
    assert len(names) == 8 == len(set(names))
    assert sum(f"(second, #{second.id})" in n for n in names) == 4


def test_get_plan_skips_deleted_devices_and_unknown_ids(database, sample_geojson) -> None:
    site_id = _site(database)
    with database.session() as session:
        record = save_plan(session, site_id, sample_geojson, name="p")
    with database.session() as session:
        session.delete(session.get(Device, record.device_ids[0]))
    with database.session() as session:
        assert get_plan(session, record.id).device_ids == record.device_ids[1:]
        assert get_plan(session, record.id + 1000) is None


def test_bad_input_is_refused_with_a_reason(database, sample_geojson) -> None:
    site_id = _site(database)
    with database.session() as session:
        with pytest.raises(PlanError, match="no site with id 999"):
            save_plan(session, 999, sample_geojson, name="p")
        with pytest.raises(PlanError, match="FeatureCollection"):
            save_plan(session, site_id, {"type": "Feature"}, name="p")
        broken = copy.deepcopy(sample_geojson)
        next(f for f in broken["features"] if f["properties"]["kind"] == "camera")["geometry"] = None
        with pytest.raises(PlanError, match="Point geometry"):
            save_plan(session, site_id, broken, name="p")
    with pytest.raises(ValueError, match="plan name: must not be empty"):
        with database.session() as session:
            save_plan(session, site_id, sample_geojson, name="  ")
    with database.session() as session:
        assert session.query(Plan).count() == 0 and session.query(Device).count() == 0


def test_deleting_the_site_deletes_its_plans(database, sample_geojson) -> None:
    site_id = _site(database)
    with database.session() as session:
        save_plan(session, site_id, sample_geojson, name="p")
    with database.session() as session:
        session.delete(session.get(Site, site_id))
    with database.session() as session:
        assert session.query(Plan).count() == 0


def test_find_site_by_name_without_diacritics_or_by_id(database) -> None:
    site_id = _site(database)
    with database.session() as session:
        assert find_site(session, "thon dong bua") == site_id
        assert find_site(session, str(site_id)) == site_id
        with pytest.raises(PlanError, match="no site named 'Nowhere'"):
            find_site(session, "Nowhere")
        with pytest.raises(PlanError, match="no site with id 4242"):
            find_site(session, 4242)


def test_plan_place_command_saves_the_plan_for_a_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sitescout.cli import main
    from sitescout.inventory.db import open_database

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    database = open_database(url)
    try:
        site_id = _site(database)
    finally:
        database.close()
    args = ["plan", "place", "--input", str(SAMPLE), "--k", "4", "--db", url]
    assert main([*args, "--site", "thon dong bua", "--name", "từ dòng lệnh"]) == 0
    assert "/map?plan=1" in capsys.readouterr().out
    assert main([*args, "--site", "Nowhere"]) == 1
    assert "--site: no site named 'Nowhere'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["plan", "place", "--input", str(SAMPLE), "--k", "4", "--db", url])
    assert exc.value.code == 2 and "give --site" in capsys.readouterr().err
    database = open_database(url)
    try:
        with database.session() as session:
            plans = list_plans(session, site_id)
            devices = store.list_devices(session, site_id=site_id)
    finally:
        database.close()
    assert [p.name for p in plans] == ["từ dòng lệnh"] and plans[0].camera_count == 4
    assert sorted(d.id for d in devices) == sorted(plans[0].device_ids)
    assert {d.status for d in devices} == {"planned"}


def test_plan_geojson_carries_the_obstacles_as_footprints(sample_geojson) -> None:
    """Every building of the input comes back as an `obstacle` Polygon, at the input's own corners."""
    import json

    buildings = json.loads(SAMPLE.with_name("plan_village_buildings.geojson").read_text(encoding="utf-8"))
    given = [f["geometry"]["coordinates"][0] for f in buildings["features"]]
    obstacles = [f for f in sample_geojson["features"] if f["properties"]["kind"] == "obstacle"]
    assert len(obstacles) == len(given) > 0
    assert [f["properties"]["obstacle_id"] for f in obstacles] == [f"obstacle-{n + 1}" for n in range(len(given))]
    for feature, ring in zip(obstacles, given):
        assert feature["geometry"]["type"] == "Polygon"
        drawn = feature["geometry"]["coordinates"][0]
        assert drawn[0] == drawn[-1] and len(drawn) == len(ring)  # closed once, as GeoJSON wants
        assert all(abs(a - b) < 1e-6 for p, q in zip(drawn, ring) for a, b in zip(p, q)), (drawn, ring)


def test_a_plan_farther_than_5_km_from_its_site_is_refused(database, sample_geojson) -> None:
    """The bound is 5 km from the site's coordinates to any point of the plan; a site without coordinates takes any."""
    from sitescout.inventory.planning.plans import PlanTooFar, check_near_site
    from sitescout.inventory.planning.site_distance import distance_m

    site = Site(name="Thôn Xa", latitude=21.7, longitude=105.3)
    one_km_lat = 1000.0 / distance_m(21.7, 105.3, 21.71, 105.3) * 0.01

    def at(km_north: float) -> dict:
        ring = [[105.3, 21.7], [105.3, 21.7 + km_north * one_km_lat], [105.301, 21.7], [105.3, 21.7]]
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [105.3, 21.7]},
             "properties": {"kind": "camera"}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
             "properties": {"kind": "coverage"}}]}

    check_near_site(site, at(4.9))
    with pytest.raises(PlanTooFar) as refused:
        check_near_site(site, at(5.1))
    assert refused.value.field == "site" and refused.value.kind == "coverage"
    assert refused.value.distance_m == pytest.approx(5100, abs=1) and "5.1 km" in refused.value.message
    check_near_site(Site(name="Không tọa độ"), at(500))
    # save_plan checks it: the sample village saved for a site 20 km south is refused, nothing kept.
    far_id = _site(database, "Thôn Xa")
    with database.session() as session:
        far = session.get(Site, far_id)
        far.latitude = 21.55
    with database.session() as session, pytest.raises(PlanTooFar):
        save_plan(session, far_id, copy.deepcopy(sample_geojson), name="wrong site")
    with database.session() as session:
        assert list_plans(session, far_id) == [] and store.list_devices(session, site_id=far_id) == []


@pytest.mark.parametrize("lang, words", [("en", "--site: the plan lies 2"), ("vi", "--site: phương án nằm cách điểm")])
def test_plan_place_refuses_a_site_kilometres_away(tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str,
                                                    words: str) -> None:
    """`plan place --site` for a site 20 km from the plan's village: an error in the reader's language, no plan."""
    from sitescout.cli import main
    from sitescout.inventory.db import open_database

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    database = open_database(url)
    try:
        site_id = _site(database, "Thôn Xa")
        with database.session() as session:
            session.get(Site, site_id).latitude = 21.55
    finally:
        database.close()
    code = main(["--lang", lang, "plan", "place", "--input", str(SAMPLE), "--k", "2", "--time-limit", "0.5",
                 "--db", url, "--site", "Thôn Xa"])
    err = capsys.readouterr().err
    assert code == 1 and words in err and "Thôn Xa" in err and "5 km" in err, err
    database = open_database(url)
    try:
        with database.session() as session:
            assert list_plans(session, site_id) == []
    finally:
        database.close()
