"""The admin's token workflow in headless Debian Chromium: create a worker token, use it, revoke it."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from web_seed import seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_admin_creates_a_worker_token_uses_it_and_revokes_it(tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    seed_commune(database)
    with database.session() as session:
        store.create_user(session, "admin", "admin-password", "admin")
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32})
    try:
        with serve_app(app) as base, chromium("en") as driver:
            log_in(driver, base, "admin", "admin-password")
            driver.find_element(By.ID, "nav-tokens").click()  # the admin's nav link
            wait_until(lambda: driver.current_url.endswith("/admin/tokens"), what="the tokens page")
            form = driver.find_element(By.ID, "add-token")
            form.find_element(By.NAME, "label").send_keys("browser worker")
            Select(form.find_element(By.NAME, "role")).select_by_value("worker")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            field = wait_until(lambda: driver.find_elements(By.ID, "new-token"), what="the new token")[0]
            assert "shown only this once" in driver.page_source
            secret = field.get_attribute("value")  # what the admin copies
            assert secret.startswith("sst_")

            sd = f"{base}/sd/prometheus"
            assert _status(sd, secret) == 200

            driver.get(f"{base}/admin/tokens")  # looked at again: the secret is gone for good
            assert secret not in driver.page_source and not driver.find_elements(By.ID, "new-token")
            row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#token-table tr")
                       if "browser worker" in r.text)
            row.find_element(By.CSS_SELECTOR, "button.revoke").click()
            wait_until(lambda: "refused from now on" in driver.page_source, what="the revocation")
            assert "browser worker" not in driver.find_element(By.ID, "token-table").text
            assert _status(sd, secret) == 401  # the very next request with it is refused

            # A viewer has neither the link nor the page.
            driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
            wait_until(lambda: "/login" in driver.current_url, what="logout")
            log_in(driver, base, "viewer", "viewer-password")
            driver.get(f"{base}/map")
            assert not driver.find_elements(By.ID, "nav-tokens")
    finally:
        database.close()
