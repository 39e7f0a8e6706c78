"""The editor's workflow in headless Debian Chromium, and what a viewer is refused (issue #13).

An editor applies a finding, dismisses one with a reason, merges a candidate into a device, edits a
site's name and sees it, creates a site by clicking on the map and moves a site by dragging it; a
viewer sees no edit control and the same posts are refused (403).  Set SITESCOUT_SCREENSHOT_DIR to
keep screenshots of the site page in Vietnamese.
"""

from __future__ import annotations

import copy
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from web_seed import FROZEN_SITE, frozen_survey, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Device, Site
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


def _wait(predicate, timeout=20.0, what="condition"):
    return wait_until(predicate, timeout, what)


@pytest.fixture()
def world(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    frozen = ids[FROZEN_SITE]
    with database.session() as session:
        session.add(Device(site_id=frozen, kind="camera", name="Camera sân", ip="127.77.99.3", status="active"))
        tokens = {role: store.create_token(session, role) for role in ("editor", "viewer")}
    # A later survey of the frozen site finds an unknown camera: the candidate to merge.
    doc = copy.deepcopy(frozen_survey())
    doc["started_at"], doc["finished_at"] = "2026-03-02T08:00:00+00:00", None
    new = copy.deepcopy(doc["hosts"][0])
    new.update(ip="198.51.100.31", mac="00:12:34:56:78:bb", snapshot=None)
    new["onvif"].update(endpoint="urn:uuid:browser-candidate", serial="SAN-1",
                        xaddrs=["http://198.51.100.31/onvif/device_service"])
    new["onvif"]["profiles"][0]["stream_uri"] = "rtsp://198.51.100.31:554/main"
    new["streams"][0]["uri"] = "rtsp://198.51.100.31:554/main"
    doc["hosts"].append(new)
    with database.session() as session:
        store.ingest_survey(session, doc, site_id=frozen)
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32, "SITES_CACHE_SECONDS": 0})
    with serve_app(app) as base:
        yield {"base": base, "ids": ids, "db": database, "tokens": tokens}
    database.close()


def _flash(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "p.flash"))


def _finding_row(driver: Any, code: str, contains: str = "") -> Any:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f'#findings tr.finding[data-code="{code}"]')
    return next(r for r in rows if contains in r.text)


def _shot(driver: Any, name: str) -> None:
    directory = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
    if directory:
        driver.set_window_size(1280, 2200)
        driver.save_screenshot(os.path.join(directory, name))
        driver.set_window_size(1280, 900)


def test_editor_applies_dismisses_merges_edits_creates_and_moves(world) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, frozen = world["base"], world["ids"][FROZEN_SITE]
    with chromium("vi") as driver:
        log_in(driver, base, "editor", "editor-password")
        driver.get(f"{base}/sites/{frozen}")
        assert "Ghi nhận của các lần khảo sát" in driver.page_source
        _shot(driver, "site-workflow-vi-before.png")

        # Apply "firmware is V5.5.0, not in the inventory yet".
        row = _finding_row(driver, "new_identity", "firmware")
        finding_id = row.get_attribute("data-finding-id")
        row.find_element(By.CSS_SELECTOR, "button.apply").click()
        _wait(lambda: "Đã áp dụng ghi nhận." in _flash(driver), what="the finding applied")
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-finding-id="{finding_id}"]')
        assert "finding-applied" in row.get_attribute("class") and "đã áp dụng" in row.text
        with world["db"].session() as session:
            camera = session.query(Device).filter_by(site_id=frozen, name="Camera cổng").one()
            assert camera.firmware == "V5.5.0"

        # Dismiss the frozen picture with what was done on site.
        row = _finding_row(driver, "frozen")
        row.find_element(By.NAME, "reason").send_keys("đã khởi động lại encoder")
        row.find_element(By.CSS_SELECTOR, "button.dismiss").click()
        _wait(lambda: "Đã bỏ qua ghi nhận." in _flash(driver), what="the finding dismissed")
        assert "đã khởi động lại encoder" in driver.find_element(By.ID, "findings").text

        # Merge the surveyed camera into "Camera sân".
        from selenium.webdriver.support.ui import Select

        form = driver.find_element(By.CSS_SELECTOR, "#candidate-table form.merge")
        Select(form.find_element(By.NAME, "device_id")).select_by_visible_text(
            "Camera sân (127.77.99.3) · Đang hoạt động"
        )
        form.find_element(By.CSS_SELECTOR, "button.merge").click()
        _wait(lambda: "Đã gộp thiết bị chờ duyệt vào thiết bị." in _flash(driver), what="the merge")
        with world["db"].session() as session:
            merged = session.query(Device).filter_by(site_id=frozen, name="Camera sân").one()
            assert (merged.ip, merged.mac, merged.serial) == ("198.51.100.31", "00:12:34:56:78:bb", "SAN-1")
        assert not driver.find_elements(By.ID, "candidate-table")  # nothing left pending
        _shot(driver, "site-workflow-vi.png")

        # Edit the site's name and see it on the page.
        driver.find_element(By.ID, "edit-site").click()
        name = _wait(lambda: driver.find_elements(By.ID, "name"), what="the site form")[0]
        name.clear()
        name.send_keys("Thôn Nà Khà (đã sửa)")
        driver.find_element(By.ID, "save").click()
        _wait(lambda: driver.find_elements(By.ID, "site-name")
              and driver.find_element(By.ID, "site-name").text == "Thôn Nà Khà (đã sửa)", what="the new name")

        # Create a site by clicking on the map: the form opens with the coordinates filled.
        driver.get(f"{base}/map")
        map_el = driver.find_element(By.ID, "map")
        _wait(lambda: map_el.get_attribute("data-edit-ready"), what="the map's edit tools")
        driver.find_element(By.ID, "add-site").click()
        ActionChains(driver).move_to_element_with_offset(map_el, -200, 150).click().perform()
        _wait(lambda: "/sites/new?lat=" in driver.current_url, what="the new-site form")
        latitude = float(driver.find_element(By.ID, "latitude").get_attribute("value"))
        longitude = float(driver.find_element(By.ID, "longitude").get_attribute("value"))
        driver.find_element(By.ID, "name").send_keys("Điểm mới trên bản đồ")
        driver.find_element(By.ID, "save").click()
        _wait(lambda: driver.find_elements(By.ID, "site-name")
              and driver.find_element(By.ID, "site-name").text == "Điểm mới trên bản đồ", what="the created site")
        with world["db"].session() as session:
            created = session.query(Site).filter_by(name="Điểm mới trên bản đồ").one()
            assert (created.latitude, created.longitude) == (latitude, longitude)

        # Move the frozen site (a problem: never clustered) by dragging its marker, and confirm.
        driver.get(f"{base}/map")
        map_el = driver.find_element(By.ID, "map")
        _wait(lambda: map_el.get_attribute("data-edit-ready"), what="the map's edit tools")
        time.sleep(0.5)
        with world["db"].session() as session:
            before = (session.get(Site, frozen).latitude, session.get(Site, frozen).longitude)
        driver.find_element(By.ID, "move-sites").click()
        marker = driver.find_element(By.CSS_SELECTOR, f'.site-marker[data-site-id="{frozen}"]')
        ActionChains(driver).click_and_hold(marker).move_by_offset(20, 10).move_by_offset(30, 20).release().perform()
        alert = _wait(lambda: _alert(driver), what="the confirmation")
        alert.accept()
        _wait(lambda: map_el.get_attribute("data-moved-site") == str(frozen), what="the move saved")
        with world["db"].session() as session:
            after = (session.get(Site, frozen).latitude, session.get(Site, frozen).longitude)
        assert after != before and abs(after[0] - before[0]) < 1 and abs(after[1] - before[1]) < 1


def _alert(driver: Any) -> Any:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def _status(url: str, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_viewer_sees_no_edit_controls_and_is_refused(world) -> None:
    from selenium.webdriver.common.by import By

    base, frozen = world["base"], world["ids"][FROZEN_SITE]
    with world["db"].session() as session:
        from sitescout.inventory.workflow import site_findings

        finding = next(f for f in site_findings(session, frozen) if f.applicable)
        candidate = store.list_candidates(session, site_id=frozen)[0]
    with chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/sites/{frozen}")
        assert driver.find_elements(By.ID, "findings")  # the viewer reads the findings…
        for selector in ("button.apply", "button.dismiss", "form.merge", "#edit-site", "a.edit-device",
                         "#candidate-table button"):
            assert not driver.find_elements(By.CSS_SELECTOR, selector), selector  # …and has no control
        driver.get(f"{base}/map")
        _wait(lambda: driver.find_element(By.ID, "map").get_attribute("data-loaded"), what="the map")
        assert not driver.find_elements(By.ID, "map-edit") and not driver.find_elements(By.ID, "add-site")
        # Posts the controls would make, sent from the viewer's own logged-in page with its CSRF token: 403.
        token = driver.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf_token]").get_attribute("value")
        script = """
            var done = arguments[arguments.length - 1];
            var posts = arguments[0], token = arguments[1], out = [];
            Promise.all(posts.map(function (p) {
              var body = new URLSearchParams(Object.assign({csrf_token: token}, p[1]));
              return fetch(p[0], {method: "POST", body: body, credentials: "same-origin", redirect: "manual"})
                .then(function (r) { return r.status; });
            })).then(done);
        """
        posts = [
            [f"/sites/{frozen}/findings/{finding.id}/apply", {}],
            [f"/sites/{frozen}/findings/{finding.id}/dismiss", {"reason": "x"}],
            [f"/candidates/{candidate.id}/merge", {"device_id": "1"}],
            [f"/sites/{frozen}/edit", {"name": "viewer was here"}],
            [f"/sites/{frozen}/move", {"latitude": "1", "longitude": "1", "seen_latitude": "21.71",
                                       "seen_longitude": "105.3"}],
            ["/sites/new", {"name": "viewer site", "commune_id": "1"}],
        ]
        statuses = driver.execute_async_script(script, posts, token)
        assert statuses == [403] * len(posts), statuses
        driver.get(f"{base}/sites/{frozen}/edit")
        assert "403" in driver.title or "403" in driver.page_source
    api = f"{base}/api/v1/sites/{frozen}/findings/{finding.id}/apply"
    assert _status(api, world["tokens"]["viewer"], {}) == 403
    assert _status(f"{base}/api/v1/candidates/{candidate.id}/merge", world["tokens"]["viewer"], {"device_id": 1}) == 403
    with world["db"].session() as session:
        assert session.get(Site, frozen).name == FROZEN_SITE
        assert site_findings(session, frozen, status="open")[0].status == "open"
        assert len(site_findings(session, frozen, status="applied")) == 0
