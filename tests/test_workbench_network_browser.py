"""The workbench page shows the site's surveyed network (#18), in Vietnamese, in headless Debian Chromium.

A plan of five cameras is chosen on a typed switch, then the site's survey (sw1: free PoE ports p3 and
p4, free port p5) is ingested and the design redrawn: the page's network panel says where the limits
come from (the survey's date and age, sw1's PoE use and uplink), the camera list each camera's port,
and the cameras left without one say why.
"""

from __future__ import annotations

import os

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from support import bearer
from test_plan_network_api import _cameras, _ingest
from test_workbench_network_api import _alternative, _design, _optimise, _redraw
from web_seed import HD, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Serve the seeded commune with a plan redrawn on its survey; yield (base URL, site id, the plan's answer)."""
    tmp = tmp_path_factory.mktemp("browser-workbench-network")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    with database.session() as session:
        token = store.create_token(session, "editor")
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-wbnet-" + "k" * 32})
    client, site_id = app.test_client(), ids[HD]
    design = _design(database, site_id)
    plan_id = _alternative(client, token, site_id, design, "A")["saved"]["plan_id"]
    _optimise(client, token, plan_id, 5)
    _ingest(client, token)
    answer = _redraw(client, token, plan_id, design, "vi")
    assert client.get(f"/api/v1/plans/{plan_id}", headers=bearer(token)).status_code == 200
    with serve_app(app) as base:
        yield base, site_id, answer
    database.close()


def test_the_network_panel_and_the_switch_ports_in_vietnamese(served):
    from selenium.webdriver.common.by import By

    base, site_id, answer = served
    cams = _cameras(answer)
    placed = [c for c in cams if c["switch_port"]["port"]]
    left_out = [c for c in cams if not c["switch_port"]["port"]]
    assert placed and left_out  # the fixture's layout needs more ports than sw1 has free
    with chromium("vi") as driver:
        log_in(driver, base, "editor", "editor-password")
        driver.get(f"{base}/sites/{site_id}/plan")
        root = driver.find_element(By.ID, "workbench")
        wait_until(lambda: root.get_attribute("data-ready") and root.get_attribute("data-cameras") == "5",
                   30, "the workbench with its plan")
        section = driver.find_element(By.ID, "wb-network-section")
        wait_until(section.is_displayed, 30, "the network panel")
        lines = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#wb-network li")]
        # The server's words, shown as they are: the survey's date and age, then sw1's PoE, ports and uplink.
        assert lines == answer["plan"]["network_lines"]
        assert lines[0].startswith("Số liệu mạng từ khảo sát ngày") and "2026" in lines[0]
        sw1 = next(line for line in lines if line.startswith("sw1: "))
        assert "PoE" in sw1 and "p8" in sw1 and "100 Mb/s" in sw1, sw1
        assert section.find_element(By.TAG_NAME, "h2").text == "Mạng"

        table = driver.find_element(By.ID, "wb-cameras")
        assert "Cổng switch" in table.find_element(By.TAG_NAME, "tr").text
        cells = driver.find_elements(By.CSS_SELECTOR, "#wb-cameras .wb-port")
        assert len(cells) == 5
        by_camera = {c["camera_id"]: cell.text for c, cell in zip(cams, cells)}
        for cam in placed:
            assert by_camera[cam["camera_id"]] == f"sw1 {cam['switch_port']['port']}"
        for cam in left_out:
            assert "không còn cổng" in by_camera[cam["camera_id"]], by_camera
        assert len(driver.find_elements(By.CSS_SELECTOR, "#wb-cameras .wb-port.no-port")) == len(left_out)

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert not errors, errors  # no CSP violation, no script error
        shot = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
        if shot:
            driver.execute_script("document.getElementById('wb-cameras').scrollIntoView()")
            driver.save_screenshot(os.path.join(shot, "plan-workbench-network-vi.png"))
