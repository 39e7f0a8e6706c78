"""Small helpers shared by tests that run the real web app and wait on real processes."""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from pathlib import Path
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


def free_port(ip: str = "127.0.0.1") -> int:
    """Return a TCP port free on `ip` now (a loopback address, or one inside a test's namespace)."""
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


#: The web app's test configuration (flaskr's ``create_app({"TESTING": True, ...})``).
TEST_CONFIG: dict[str, Any] = {"TESTING": True, "SECRET_KEY": "test-key-" + "x" * 32}


def make_app(database: Any, **config: Any) -> Any:
    """Return the web app on `database` with TEST_CONFIG, overridden by `config`."""
    from sitescout.web import create_app

    return create_app({"DATABASE": database, **TEST_CONFIG, **config})


def csrf_token(client: Any, path: str = "/login") -> str:
    """Return the CSRF token of the form on `path`."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def login(client: Any, user: str = "viewer", password: str | None = None) -> Any:
    """Log `client` in through the form (web_seed's users have the password "<user>-password")."""
    token = csrf_token(client)
    return client.post("/login", data={"username": user, "password": password or f"{user}-password",
                                       "csrf_token": token})


def bearer(token: str) -> dict[str, str]:
    """Return the header that authenticates with an API token."""
    return {"Authorization": f"Bearer {token}"}


def editor_with_a_site(tmp_path: Path) -> Any:
    """Yield (client, editor headers, site id): a fresh SQLite inventory, an editor token and one site made through
    the API; the database is closed afterwards. For a fixture: ``yield from editor_with_a_site(tmp_path)``."""
    from sitescout.inventory import store
    from sitescout.inventory.db import open_database
    from sitescout.web import create_app

    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with database.session() as session:
        token = store.create_token(session, "editor")
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64, "SITES_CACHE_SECONDS": 0})
    client = app.test_client()
    editor = bearer(token)
    region = client.post("/api/v1/regions", json={"name": "Tuyên Quang"}, headers=editor).get_json()["id"]
    commune = client.post("/api/v1/communes", json={"name": "Xã Hùng Lợi", "region_id": region},
                          headers=editor).get_json()["id"]
    site = client.post("/api/v1/sites", json={"name": "Thôn Đồng Bùa", "commune_id": commune}, headers=editor)
    assert site.status_code == 201, site.text
    yield client, editor, site.get_json()["id"]
    database.close()


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


def _b64_needles(secret: bytes) -> set[str]:
    """Return the base64 forms of `secret` at each of the three byte alignments (inside any larger blob)."""
    import base64

    needles = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret).decode().rstrip("=")
        start = 4 if pad else 0
        end = len(encoded) - (len(encoded) % 4 or 4) if (pad + len(secret)) % 3 else len(encoded)
        needles.add(encoded[start:end])
    return {n for n in needles if len(n) >= 12}


def secret_forms(password: str, username: str = "admin") -> dict[str, bytes]:
    """Return every form in which a leaked password would show: plain, URL-encoded, base64, Basic auth."""
    from urllib.parse import quote, quote_plus

    forms = {"plain": password, "url": quote(password, safe=""), "url+": quote_plus(password),
             "url-path": quote(password)}
    for i, needle in enumerate(
        sorted(_b64_needles(password.encode()) | _b64_needles(f"{username}:{password}".encode()))
    ):
        forms[f"base64-{i}"] = needle
    return {k: v.encode() for k, v in forms.items()}


class Recorder:
    """Host B: TCP listeners that ask for credentials like a camera would and record every byte received."""

    def __init__(self, ip: str, ports: dict[str, int], log: Path | None = None) -> None:
        self.ip = ip
        self.log = log  # every byte received is also appended here (a recorder in another namespace)
        self.ports = ports  # protocol ("http" or "rtsp") -> port
        self.received: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()

    def start(self) -> None:
        for proto, port in self.ports.items():
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ip, port))
            sock.listen(16)
            sock.settimeout(0.2)
            self._socks.append(sock)
            threading.Thread(target=self._accept, args=(sock, proto), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        for sock in self._socks:
            sock.close()

    @property
    def data(self) -> bytes:
        with self._lock:
            return b"".join(self.received)

    def _accept(self, sock: socket.socket, proto: str) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn, proto), daemon=True).start()

    def _serve(self, conn: socket.socket, proto: str) -> None:
        conn.settimeout(3.0)
        buf = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    self.received.append(chunk)
                    if self.log is not None:
                        with open(self.log, "ab") as out:
                            out.write(chunk)
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    buf = buf[length:]
                    try:
                        conn.sendall(self._answer(proto, head))
                    except OSError:
                        return

    @staticmethod
    def _answer(proto: str, head: bytes) -> bytes:
        if proto == "rtsp":
            cseq = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                         if line.lower().startswith(b"cseq:")), b"1")
            return (b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq +
                    b'\r\nWWW-Authenticate: Basic realm="cam"\r\n\r\n')
        return (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="cam", nonce="abc123", qop="auth"\r\n'
                b'WWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n')


def _record(argv: list[str]) -> None:
    """Run a Recorder on IP with an HTTP and an RTSP port, appending what it receives to FILE, until killed."""
    ip, http_port, rtsp_port, log = argv
    recorder = Recorder(ip, {"http": int(http_port), "rtsp": int(rtsp_port)}, Path(log))
    recorder.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":  # python tests/support.py IP HTTP_PORT RTSP_PORT FILE (inside a lab namespace)
    _record(sys.argv[1:])
