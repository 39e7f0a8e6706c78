"""Small helpers shared by tests that run the real web app and wait on real processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.2) -> Any:
    """Return the first truthy value of `check()`, polling; fail the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


class WebServer:
    """The real web app on a loopback port; can be stopped and started again on that port (an outage)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen (on the same port as before, after a stop) and serve in a thread."""
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the port (nothing when already stopped)."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)
        self.server = self.thread = None

    @property
    def up(self) -> bool:
        """Return True while serving."""
        return self.server is not None

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"
