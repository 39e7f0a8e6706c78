"""`sitescout demo`'s saved camera plan: after the demo's data step the surveyed village has an optimised plan
(and an alternative) that the workbench opens with coverage wedges, on the demo basemap (real Chromium)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from support import bearer

from sitescout.demo_plan import DEMO_PLAN_SITE, DEMO_PLANS, seed_demo_plan
from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Device
from sitescout.inventory.planning.plans import get_plan, list_plans
from sitescout.web import create_app


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """An inventory after the demo's data step (demo commune, then its plans); yield (database, plans, seconds)."""
    tmp = tmp_path_factory.mktemp("demo-plan")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    started = time.perf_counter()
    with database.session() as session:
        plans = seed_demo_plan(session)
    seconds = time.perf_counter() - started
    with database.session() as session:
        store.create_user(session, "editor", "editor-password", "editor")
    yield database, plans, seconds
    database.close()


def test_the_demo_village_has_a_saved_optimised_plan_and_an_alternative(demo_db) -> None:
    database, plans, seconds = demo_db
    assert plans.created and len(plans.plan_ids) == len(DEMO_PLANS)
    print(f"demo plans drawn, optimised and saved in {seconds:.2f} s")
    with database.session() as session:
        site = store.get_site(session, plans.site_id).site
        assert site.name == DEMO_PLAN_SITE and site.is_demo
        listed = list_plans(session, plans.site_id)
        assert {p.name for p in listed} == {name for name, _k in DEMO_PLANS}
        assert listed[0].id == plans.plan_ids[-1]  # the plan of record is the newest: the workbench opens it
        records = [get_plan(session, i) for i in plans.plan_ids]
        for record, (_name, k) in zip(records, DEMO_PLANS):
            doc = record.geojson
            summary = doc["plan"]
            kinds = [f["properties"]["kind"] for f in doc["features"]]
            assert kinds.count("camera") == k == len(doc["workbench"]["layout"])
            assert kinds.count("coverage") >= k  # at least one DORI wedge per camera
            assert kinds.count("obstacle") > 5  # the basemap's houses around the hall
            assert "infeasible_mount" in kinds  # the far pole, out of an Ethernet cable's reach
            assert summary["status"] == "optimal" and summary["gap"] is not None and summary["gap"] <= 1e-6
            assert 0 < summary["objective"] < summary["total_weight"]
            assert summary["cost"] > 0 and summary["poe_w"] > 0
            assert set(summary["by_level"]) == {"Observe", "Identify", "Recognise", "Detect"}
        best, cheaper = records[-1].geojson["plan"], records[0].geojson["plan"]
        assert best["objective"] > cheaper["objective"] and best["cost"] > cheaper["cost"]
        assert best["by_level"]["Observe"] >= 0.9 and best["by_level"]["Identify"] == 1.0  # the yard and the gate
        assert records[-1].device_ids and len(records[-1].device_ids) == DEMO_PLANS[-1][1]
        assert not records[0].device_ids  # the alternative is not the plan of record
        planned = [session.get(Device, i) for i in records[-1].device_ids]
        assert all(d is not None and d.status == "planned" and d.ip is None for d in planned)
        again = seed_demo_plan(session)
        assert not again.created and again.plan_ids == plans.plan_ids  # a second demo run adds nothing


def test_the_demo_plan_is_editable_on_the_workbench(demo_db) -> None:
    """The saved plan is a workbench plan: a camera move is answered with the recomputed summary."""
    database, plans, _seconds = demo_db
    with database.session() as session:
        token = store.create_token(session, "editor")
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "demo-plan-" + "k" * 32})
    client = app.test_client()
    plan_id = plans.plan_ids[0]  # the alternative: moving its camera leaves the plan of record as it is
    shown = client.get(f"/api/v1/plans/{plan_id}", headers=bearer(token)).get_json()
    camera = shown["workbench"]["layout"][0]
    moved = client.patch(f"/api/v1/plans/{plan_id}/cameras/1", headers=bearer(token),
                         json={"heading_deg": (camera["heading_deg"] + 180) % 360})
    assert moved.status_code == 200, moved.text
    assert moved.get_json()["plan"]["objective"] != shown["plan"]["objective"]


@pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")
def test_the_demo_workbench_shows_coverage_wedges_on_the_demo_basemap(demo_db, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    from sitescout.demo_basemap import demo_basemap_file, demo_places

    database, plans, _seconds = demo_db
    with database.session() as session:
        places = demo_places(session)
    tiles = demo_basemap_file(places, tmp_path)
    app = create_app({"DATABASE": database, "SECRET_KEY": "demo-plan-browser-" + "k" * 32, "TILES_FILE": str(tiles)})
    with serve_app(app) as base, chromium("vi") as driver:
        log_in(driver, base, "editor", "editor-password")
        driver.get(f"{base}/sites/{plans.site_id}/plan")
        root = driver.find_element(By.ID, "workbench")
        wait_until(lambda: int(root.get_attribute("data-wedges") or 0) > 0, 30, "coverage wedges")
        map_el = driver.find_element(By.ID, "plan-map")
        assert map_el.get_attribute("data-basemap") == "demo"
        wait_until(lambda: map_el.get_attribute("data-tiles-settled"), 30, "the basemap's tiles")
        assert int(map_el.get_attribute("data-tiles-loaded") or 0) > 0
        assert root.get_attribute("data-cameras") == str(DEMO_PLANS[-1][1])
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.wb-coverage")) == int(root.get_attribute("data-wedges"))
        assert len(driver.find_elements(By.CSS_SELECTOR, "path.wb-obstacle")) > 5
        summary = driver.find_element(By.ID, "wb-summary").text
        assert "100 %" in summary  # the yard, the gate and the notice board
        compare = driver.find_element(By.ID, "wb-compare").text
        assert all(name in compare for name, _k in DEMO_PLANS)
        shot = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
        if shot:
            driver.save_screenshot(str(Path(shot) / "demo-workbench.png"))
