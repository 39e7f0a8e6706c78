"""A saved placement plan on the map, in headless Debian Chromium: coverage wedges and unusable mounts with reasons."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from test_web_plans import sample_input
from web_seed import HD, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Serve the seeded commune and save the sample plan for a site through the API; yield (base, plan doc)."""
    tmp = tmp_path_factory.mktemp("browser-plan")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    with database.session() as session:
        token = store.create_token(session, "editor")
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-plan-" + "k" * 32})
    with serve_app(app) as base:
        request = urllib.request.Request(
            f"{base}/api/v1/sites/{ids[HD]}/plans?k=4", data=json.dumps(sample_input()).encode(), method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            doc = json.load(response)
        yield base, doc
    database.close()


def test_plan_wedges_and_unusable_mount_reasons_on_the_map(planned):
    from selenium.webdriver.common.by import By

    base, doc = planned
    features = [f["properties"] for f in doc["features"]]
    coverage = sum(p["kind"] == "coverage" for p in features)
    infeasible = [p for p in features if p["kind"] == "infeasible_mount"]
    assert coverage > 0 and infeasible
    with chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}{doc['saved']['map']}")
        el = driver.find_element(By.ID, "map")
        wait_until(
            lambda: el.get_attribute("data-plan-loaded") or el.get_attribute("data-plan-error"),
            timeout=40.0,
            what="plan",
        )
        assert el.get_attribute("data-plan-error") is None
        drawn = driver.execute_script("return document.querySelectorAll('#map path.plan-coverage').length")
        assert drawn == coverage > 0
        assert el.get_attribute("data-plan-polygons") == str(coverage)
        # Each wedge is filled with its DORI level's colour.
        fills = set(driver.execute_script(
            "return Array.from(document.querySelectorAll('#map path.plan-coverage')).map(p => p.getAttribute('fill'))"))
        assert fills == {p["colour"] for p in features if p["kind"] == "coverage"}
        cameras = driver.find_elements(By.CSS_SELECTOR, ".plan-camera")
        assert len(cameras) == sum(p["kind"] == "camera" for p in features)
        legend = driver.find_element(By.CSS_SELECTOR, ".plan-legend").text
        assert "Nhận dạng" in legend and doc["saved"]["name"] in legend
        # An unusable mount says why, in a popup on click.
        mount = infeasible[0]
        marker = driver.find_element(By.CSS_SELECTOR, f'.plan-infeasible[data-mount-id="{mount["mount_id"]}"]')
        assert marker.is_displayed()
        driver.execute_script("arguments[0].scrollIntoView(); arguments[0].click()", marker)
        def popup_text():  # visible text only: empty while the popup fades in
            popups = driver.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content")
            return popups[0].text if popups else ""

        text = wait_until(popup_text, what="the mount's popup")
        assert mount["mount_id"] in text and "Điểm lắp không dùng được" in text
        for reason in mount["reasons"]:
            assert reason in text
        shot = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
        if shot:
            driver.save_screenshot(os.path.join(shot, "map-plan.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert not errors, errors  # no CSP violation, no script error
