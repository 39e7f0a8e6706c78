"""Names in a plan's design are text on the planners' workbench, never HTML (headless Chromium).

An editor names a demand area, a point of interest and a mount with markup. Leaflet writes a
tooltip or popup given as a string into the page as HTML, so before the fix the workbench turned
those names into elements in every viewer's page (the CSP stops scripts, not injected links, forms
or look-alike text). Now each tooltip shows the name's characters and adds no element.
"""

from __future__ import annotations

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from support import bearer
from web_seed import HD, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")

MARKUP = '<b class="injected">hostile</b>'


def _design(lat: float, lon: float) -> dict:
    def square(dx: float, dy: float, half: float) -> list[list[float]]:
        k_lat, k_lon = 1 / 111_320.0, 1 / 103_000.0
        return [[lon + (dx + sx) * k_lon, lat + (dy + sy) * k_lat]
                for sx, sy in ((-half, -half), (half, -half), (half, half), (-half, half), (-half, -half))]

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 60)]},
         "properties": {"kind": "demand", "name": "area " + MARKUP, "level": "Detect", "spacing_m": 10}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon + 0.0008, lat + 0.0008]},
         "properties": {"kind": "poi", "name": "poi " + MARKUP, "level": "Observe"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon - 0.0008, lat - 0.0008]},
         "properties": {"kind": "mount", "id": "m " + MARKUP, "height_m": 6}},
    ]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Serve the seeded commune with one plan alternative whose names hold markup; yield (base, site id)."""
    tmp = tmp_path_factory.mktemp("browser-markup")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    with database.session() as session:
        token = store.create_token(session, "editor")
        site = store.get_site(session, ids[HD]).site
        lat, lon = site.latitude, site.longitude
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-markup-" + "k" * 32})
    created = app.test_client().post(f"/api/v1/sites/{ids[HD]}/plan-alternatives",
                                     json={"name": "A", "design": _design(lat, lon)}, headers=bearer(token))
    assert created.status_code == 201, created.text
    with serve_app(app) as base:
        yield base, ids[HD]
    database.close()


def test_design_names_are_shown_as_text_in_tooltips(served):
    from selenium.webdriver.common.by import By

    base, site_id = served
    with chromium("en") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/sites/{site_id}/plan")
        root = driver.find_element(By.ID, "workbench")
        wait_until(lambda: root.get_attribute("data-design-features") == "3", 30, "the design drawn")
        # Open every tooltip Leaflet bound (the same call a hover makes).
        driver.execute_script(
            "document.querySelectorAll('#plan-map .wb-demand, #plan-map .wb-poi, #plan-map .wb-mount')"
            ".forEach(function (n) { n.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); });")
        tips = wait_until(lambda: [t.get_attribute("textContent")
                                   for t in driver.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip")
                                   if "hostile" in (t.get_attribute("textContent") or "")] or None,
                          30, "the tooltips")
        assert driver.find_elements(By.CSS_SELECTOR, ".injected") == []
        assert all(MARKUP in text for text in tips), tips
