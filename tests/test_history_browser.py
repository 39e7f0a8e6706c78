"""The site page's change log in a real browser (issue #13): an editor edits a camera and sets its login
in Chromium, in Vietnamese; the site page's "Lịch sử thay đổi" then lists both, the password nowhere.

The screenshot is kept at $SITESCOUT_SCREENSHOT_DIR/history-vi.png when that variable is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from cryptography.fernet import Fernet
from sqlalchemy import select
from support import make_app
from web_seed import FROZEN_SITE

from sitescout.inventory.models import Device

DATABASE_BACKENDS = ("sqlite",)
pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromedriver")

PASSWORD = "Mk-4417!đèo-cao"


def test_an_editor_sees_the_change_in_the_site_history(database, site_ids, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    app = make_app(database, CREDENTIAL_KEY=Fernet.generate_key().decode(), SITES_CACHE_SECONDS=0)
    site_id = site_ids[FROZEN_SITE]
    with database.session() as session:
        device = session.scalars(select(Device).where(Device.name == "Camera cổng", Device.site_id == site_id)).one()
    with serve_app(app) as base, chromium("vi") as driver:
        log_in(driver, base, "editor", "editor-password")
        driver.get(f"{base}/devices/{device.id}/edit")
        notes = driver.find_element(By.ID, "notes")
        notes.clear()
        notes.send_keys("Dời lên cột điện cạnh nhà văn hóa")
        driver.find_element(By.ID, "save").click()
        wait_until(lambda: f"/sites/{site_id}" in driver.current_url, what="the device saved")
        driver.get(f"{base}/devices/{device.id}/edit")
        driver.find_element(By.ID, "cred-username").send_keys("admin")
        driver.find_element(By.ID, "cred-password").send_keys(PASSWORD)
        driver.find_element(By.ID, "cred-save").click()
        wait_until(lambda: "Đã lưu tài khoản camera." in driver.page_source, what="the login saved")
        assert driver.find_element(By.ID, "has-credentials").text == "có"
        driver.get(f"{base}/sites/{site_id}")
        heading = driver.find_element(By.ID, "history-heading")
        assert heading.text == "Lịch sử thay đổi"
        history = driver.find_element(By.ID, "history").text
        assert "Ghi chú: — → Dời lên cột điện cạnh nhà văn hóa" in history
        assert "Đã đặt tài khoản: không → có" in history and "editor" in history
        assert PASSWORD not in driver.page_source
        driver.execute_script("arguments[0].scrollIntoView()", heading)
        shot = Path(os.environ.get("SITESCOUT_SCREENSHOT_DIR") or tmp_path) / "history-vi.png"
        assert driver.save_screenshot(str(shot))
