"""The planners' workbench in headless Debian Chromium.

An editor draws, optimises and drags a camera (in Vietnamese).
"""

from __future__ import annotations

import os
import time

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from web_seed import HD, seed_commune

from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


def _wait(predicate, timeout=30.0, what="condition"):
    return wait_until(predicate, timeout, what)  # browser pages here get 30 s, not the default 15


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Serve the seeded commune; yield (base URL, id of the site planned)."""
    tmp = tmp_path_factory.mktemp("browser-planner")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-planner-" + "k" * 32})
    with serve_app(app) as base:
        yield base, ids[HD]
    database.close()


def _click_map(driver, element, points):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(element).perform()
    for dx, dy in points:
        ActionChains(driver).move_to_element_with_offset(element, dx, dy).click().perform()
        time.sleep(0.05)


def _press(driver, button):
    """Click a button with the pointer that clicks the map."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(button).click().perform()


def _shape(driver, root, map_el, tool, points):
    from selenium.webdriver.common.by import By

    _press(driver, driver.find_element(By.CSS_SELECTOR, f'button[data-tool="{tool}"]'))
    _click_map(driver, map_el, points)
    _wait(lambda: root.get_attribute("data-vertices") == str(len(points)), what=f"{tool} vertices")
    features = int(root.get_attribute("data-design-features") or 0)
    _press(driver, driver.find_element(By.ID, "wb-finish"))
    _wait(lambda: int(root.get_attribute("data-design-features") or 0) == features + 1, what=f"the {tool} drawn")


def test_editor_draws_optimises_and_drags_a_camera(served):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, site_id = served
    with chromium("vi") as driver:
        log_in(driver, base, "editor", "editor-password")
        driver.get(f"{base}/sites/{site_id}/plan")
        root = driver.find_element(By.ID, "workbench")
        map_el = driver.find_element(By.ID, "plan-map")
        _wait(lambda: root.get_attribute("data-ready"), what="the workbench")
        revision = lambda: int(root.get_attribute("data-revision") or 0)  # noqa: E731

        # A market to observe beside the switch (the site's point, the map's centre),
        # two buildings in it, four mounts around it.
        from selenium.webdriver.support.select import Select

        driver.find_element(By.ID, "wb-name").send_keys("Chợ")
        Select(driver.find_element(By.ID, "wb-level")).select_by_value("Observe")
        _shape(driver, root, map_el, "demand", [(-100, -70), (0, -70), (0, 30), (-100, 30)])
        _wait(lambda: revision() >= 1, what="the design saved")
        _shape(driver, root, map_el, "obstacle", [(-70, -40), (-55, -40), (-55, -25), (-70, -25)])
        _shape(driver, root, map_el, "obstacle", [(-40, 0), (-25, 0), (-25, 15), (-40, 15)])
        _press(driver, driver.find_element(By.CSS_SELECTOR, 'button[data-tool="mount"]'))
        for n, point in enumerate([(-115, -85), (15, -85), (15, 45), (-115, 45)], start=1):
            before = revision()
            _click_map(driver, map_el, [point])
            _wait(lambda before=before: revision() > before, what=f"mount {n} saved")
        assert root.get_attribute("data-design-features") == "7"

        # Optimise for three cameras: wedges by DORI level, a gap, a summary.
        k = driver.find_element(By.ID, "wb-k")
        k.clear()
        k.send_keys("3")
        before = revision()
        _press(driver, driver.find_element(By.ID, "wb-run"))
        _wait(lambda: revision() > before, timeout=90, what="the optimiser")
        assert driver.find_element(By.ID, "wb-status").get_attribute("class") == "wb-status", \
            driver.find_element(By.ID, "wb-status").text
        assert root.get_attribute("data-cameras") == "3"
        wedges = int(root.get_attribute("data-wedges"))
        assert wedges > 0
        assert len(driver.find_elements(By.CSS_SELECTOR, "#plan-map path.wb-coverage")) == wedges
        summary = driver.find_element(By.ID, "wb-summary").text
        assert "Quan sát" in summary and "%" in summary
        objective = root.get_attribute("data-objective")
        shapes = driver.execute_script(
            "return Array.from(document.querySelectorAll('#plan-map path.wb-coverage')).map(p => p.getAttribute('d'))")

        # Drag camera 1: its wedges move, the totals are recomputed and the answer time is shown.
        marker = driver.find_element(By.CSS_SELECTOR, '.wb-camera[data-camera="1"]')
        before = revision()
        ActionChains(driver).drag_and_drop_by_offset(marker, 60, 40).perform()
        _wait(lambda: revision() > before, what="the camera move answered")
        moved = driver.execute_script(
            "return Array.from(document.querySelectorAll('#plan-map path.wb-coverage')).map(p => p.getAttribute('d'))")
        assert moved != shapes
        status = driver.find_element(By.ID, "wb-status").text
        assert "Đã lưu" in status and "ms" in status, status
        assert root.get_attribute("data-objective") != objective or moved != shapes

        shot = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
        if shot:
            driver.save_screenshot(os.path.join(shot, "plan-workbench-vi.png"))

        # A second alternative of the same design, compared side by side.
        before = revision()
        _press(driver, driver.find_element(By.ID, "wb-new"))
        _wait(lambda: revision() > before, what="the second alternative")
        rows = driver.find_elements(By.CSS_SELECTOR, "#wb-compare tr")
        assert len(rows) == 3  # header and two alternatives

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert not errors, errors  # no CSP violation, no script error

        # The chosen alternative printed, in Vietnamese: every sector in the sketch, the bill of materials.
        before = revision()
        rows[2].click()  # the newest alternative is listed first
        _wait(lambda: revision() > before and root.get_attribute("data-cameras") == "3", what="the first alternative")
        wedges = int(root.get_attribute("data-wedges"))
        driver.get(driver.find_element(By.ID, "wb-print").get_attribute("href"))
        assert "Danh mục vật tư" in driver.page_source
        assert len(driver.find_elements(By.CSS_SELECTOR, ".plan-print-sketch polygon")) == wedges
        if shot:
            driver.save_screenshot(os.path.join(shot, "plan-print-vi.png"))
