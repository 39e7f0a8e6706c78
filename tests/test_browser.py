"""The UI in headless Debian Chromium: map markers and health, clusters never hiding a problem, site page, report,
languages."""

from __future__ import annotations

import os
import re
import time

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from web_seed import FROZEN_SITE, seed_commune

from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32})
    with serve_app(app) as base:
        yield base, ids
    database.close()


@pytest.fixture(scope="module")
def browser(site):
    base, _ids = site
    with chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        yield driver


def _open_map(driver, base):
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/map")
    el = driver.find_element(By.ID, "map")
    wait_until(lambda: el.get_attribute("data-loaded") or el.get_attribute("data-error"), what="sites loaded")
    assert el.get_attribute("data-error") is None
    time.sleep(0.5)  # let clusters settle after fitBounds
    return el


def _visible_sites(driver):
    """Return (site ids drawn as single markers, sites counted inside cluster icons)."""
    from selenium.webdriver.common.by import By

    singles = {m.get_attribute("data-site-id") for m in driver.find_elements(By.CSS_SELECTOR, ".site-marker")}
    clustered = sum(int(c.text or 0) for c in driver.find_elements(By.CSS_SELECTOR, ".site-cluster"))
    return singles, clustered


def test_map_shows_every_site_and_the_frozen_camera_site_as_a_problem(site, browser):
    from selenium.webdriver.common.by import By

    base, ids = site
    el = _open_map(browser, base)
    assert el.get_attribute("data-loaded") == str(len(ids))
    singles, clustered = _visible_sites(browser)
    assert len(singles) + clustered == len(ids)
    problem = browser.find_element(By.CSS_SELECTOR, f'.site-marker[data-site-id="{ids[FROZEN_SITE]}"]')
    assert problem.get_attribute("data-health") == "problem" and problem.is_displayed()
    assert "health-problem" in problem.get_attribute("class")
    shot = os.environ.get("SITESCOUT_SCREENSHOT_DIR")
    if shot:
        browser.save_screenshot(os.path.join(shot, "map.png"))
    # Zoomed right out, everything else folds into clusters, the problem site still stands alone.
    for _ in range(6):
        browser.find_element(By.CSS_SELECTOR, ".leaflet-control-zoom-out").click()
        time.sleep(0.35)
    singles, clustered = _visible_sites(browser)
    assert clustered >= len(ids) - 1 and str(ids[FROZEN_SITE]) in singles
    problem = browser.find_element(By.CSS_SELECTOR, f'.site-marker[data-site-id="{ids[FROZEN_SITE]}"]')
    assert problem.is_displayed()
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not errors, errors  # no CSP violation, no script error


def test_search_without_diacritics_and_problems_only(site, browser):
    from selenium.webdriver.common.by import By

    base, ids = site
    el = _open_map(browser, base)
    box = browser.find_element(By.ID, "site-search")
    box.send_keys("huong dao")
    expected = sorted(name for name in ids if "Hướng Đạo" in name)
    wait_until(lambda: el.get_attribute("data-shown") == str(len(expected)), what="the Hướng Đạo sites")
    results = browser.find_element(By.ID, "search-results")
    assert sorted(results.text.splitlines()) == expected and "Nhà văn hóa Thôn Hướng Đạo" in expected
    box.clear()
    box.send_keys("DONG BUA")
    wait_until(lambda: el.get_attribute("data-shown") == "2", what="Đồng Bùa sites")
    box.clear()
    box.send_keys(" ")  # an input event with an empty query
    wait_until(lambda: el.get_attribute("data-shown") == str(len(ids)), what="all sites again")
    browser.find_element(By.ID, "problems-only").click()
    wait_until(lambda: el.get_attribute("data-shown") == "1", what="problems only")
    singles, clustered = _visible_sites(browser)
    assert clustered == 0 and len(singles) == 1


def test_clicking_the_problem_site_opens_its_page_and_report(site, browser):
    from selenium.webdriver.common.by import By

    base, ids = site
    _open_map(browser, base)
    browser.find_element(By.CSS_SELECTOR, f'.site-marker[data-site-id="{ids[FROZEN_SITE]}"]').click()
    wait_until(lambda: browser.current_url.endswith(f"/sites/{ids[FROZEN_SITE]}"), what="site page")
    assert browser.find_element(By.ID, "site-name").text == FROZEN_SITE
    assert browser.find_element(By.ID, "site-health").text == "Sự cố"
    assert "hình bị đứng (main) từ 15:01" in browser.find_element(By.ID, "device-table").text
    snapshot = browser.find_element(By.CSS_SELECTOR, "img.snapshot")
    assert browser.execute_script("return arguments[0].naturalWidth", snapshot) == 160
    browser.find_element(By.ID, "report-link").click()
    wait_until(lambda: "/report" in browser.current_url, what="report")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert f"Báo cáo khảo sát — {FROZEN_SITE}" in body and "hình bị đứng" in body  # the browser's language
    img = browser.find_element(By.CSS_SELECTOR, "img.snap")
    assert browser.execute_script("return arguments[0].naturalWidth", img) == 160
    # The report's own <style> is allowed by hash: it is styled, not blocked.
    th = browser.find_element(By.CSS_SELECTOR, "table.findings th")
    assert th.value_of_css_property("background-color") in ("rgba(238, 238, 238, 1)", "rgb(238, 238, 238)")


def test_language_follows_the_browser_and_switches(site, browser):
    from selenium.webdriver.common.by import By

    base, _ids = site
    browser.delete_cookie("sitescout_lang")
    browser.get(f"{base}/map")
    nav = browser.find_element(By.CSS_SELECTOR, ".topbar nav")
    assert "Bản đồ" in nav.text  # Chromium started with Accept-Language vi
    browser.find_element(By.ID, "lang-en").click()
    wait_until(lambda: "Map" in browser.find_element(By.CSS_SELECTOR, ".topbar nav").text, what="English")
    assert re.search(r"/map$", browser.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "label.problems-only").text.strip() == "Problems only"
    browser.find_element(By.ID, "lang-vi").click()
    wait_until(lambda: "Bản đồ" in browser.find_element(By.CSS_SELECTOR, ".topbar nav").text, what="Vietnamese")


def test_tooltip_says_what_is_wrong_at_the_frozen_site(site, browser):
    """Hovering the red site fetches its reasons from the API and shows them in words (vi)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, ids = site
    _open_map(browser, base)
    marker = browser.find_element(By.CSS_SELECTOR, f'.site-marker[data-site-id="{ids[FROZEN_SITE]}"]')
    ActionChains(browser).move_to_element(marker).perform()
    tip = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-tooltip [data-reasons='1']"),
                what="the tooltip's reasons")[0]
    assert "Camera cổng: hình bị đứng (main) từ 15:01" in tip.text
    if os.environ.get("SITESCOUT_SCREENSHOTS"):
        browser.save_screenshot(os.path.join(os.environ["SITESCOUT_SCREENSHOTS"], "map-tooltip-vi.png"))
        browser.get(f"{base}/sites/{ids[FROZEN_SITE]}")
        browser.save_screenshot(os.path.join(os.environ["SITESCOUT_SCREENSHOTS"], "site-vi.png"))
