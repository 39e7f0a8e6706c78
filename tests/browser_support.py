"""A real server thread and headless Debian Chromium for the browser tests and the map benchmark."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)


def have_chromium() -> bool:
    """Return True when Debian's chromium and chromedriver are installed."""
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve a Flask app on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium(lang: str = "vi") -> Iterator[Any]:
    """Yield a Selenium driver for headless Chromium with a fresh profile, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sitescout-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _page_moved(err: Exception) -> bool:
    """Whether a WebDriver error only says the page changed under the predicate (a form answered, a reload):
    an element found a moment ago is gone. Selenium's own WebDriverWait ignores these the same way."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    if isinstance(err, StaleElementReferenceException):
        return True
    return isinstance(err, WebDriverException) and any(
        words in str(err) for words in ("does not belong to the document", "stale element", "No node with given id"))


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Return the first truthy value of `predicate()`, polled every 50 ms; fail naming `what` after `timeout` s.

    A predicate that reads elements while the page is being replaced is asked again (see `_page_moved`);
    any other error goes to the test.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as err:  # noqa: BLE001 - only the page-moved kind is retried
            if not _page_moved(err):
                raise
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def click_to_next_page(driver: Any, element: Any, timeout: float = 20.0) -> None:
    """Click something that loads a new page (a link, a form's submit button) and wait until it has replaced
    the old one: reading right after `click()` can still find the old page's elements, or miss the new ones."""
    from selenium.webdriver.common.by import By

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced() -> bool:
        try:
            old.tag_name  # noqa: B018 - raises once the old document is gone
        except Exception as err:  # noqa: BLE001 - only the page-moved kind means "replaced"
            if _page_moved(err):
                return driver.execute_script("return document.readyState") == "complete"
            raise
        return False

    wait_until(replaced, timeout=timeout, what="the next page")


def log_in(driver: Any, base: str, user: str, password: str) -> None:
    """Log in through the form."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    # Wait for the answer: a page opened before the session cookie is set is sent to the login form.
    deadline = time.monotonic() + 20
    while "/login" in driver.current_url:
        assert time.monotonic() < deadline, f"login as {user} did not finish"
        time.sleep(0.05)
