"""The web page title as classification evidence (probes/net/http_title.py), against real servers on loopback.

Each server is a real TCP (or TLS) listener on 127.0.0.x:0 that records what it was sent; the fetcher is pointed
at it through ``web_ports`` (the seam: production asks 80, 443, 8080 …).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tls_support import make_pair

from sitescout.probes.net.http_title import HttpTitle, async_http_titles, page_title
from sitescout.probes.snmp.survey_stage import classify_hosts

LOOP = [ipaddress.ip_network("127.0.0.0/8")]
Answer = Callable[[str], bytes]


def _page(title: str, status: str = "200 OK", extra: str = "", body_prefix: bytes = b"") -> bytes:
    body = body_prefix + f"<html><head><title>{title}</title></head><body>x</body></html>".encode()
    return (f"HTTP/1.0 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ip: str, answer: Answer | None, context: ssl.SSLContext | None = None) -> None:
        self.answer, self.context, self.requests = answer, context, []  # type: ignore[var-annotated]
        super().__init__((ip, 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            if self.server.context is not None:
                sock = self.server.context.wrap_socket(sock, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
            request = data.decode("latin-1")
            self.server.requests.append(request)
            if self.server.answer is None:  # never answers: the fetch must give up on its own
                sock.recv(1)
                return
            sock.sendall(self.server.answer(request.split()[1]))
        except OSError:
            pass


@pytest.fixture
def serve() -> Iterator[Callable[..., _Server]]:
    servers: list[_Server] = []

    def start(ip: str, answer: Answer | None, context: ssl.SSLContext | None = None) -> _Server:
        server = _Server(ip, answer, context)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _titles(open_ports: dict[str, list[int]], web: dict[int, str], **kw: Any) -> dict[str, HttpTitle]:
    return asyncio.run(async_http_titles(open_ports, kw.pop("networks", LOOP), web_ports=web, **kw))


def test_the_title_is_read_with_no_credentials_and_plain_http_1_0(serve: Callable[..., _Server]) -> None:
    server = serve("127.0.0.1", lambda _path: _page("IP-Speaker &amp; Paging\n  Controller"))
    found = _titles({"127.0.0.1": [server.port]}, {server.port: "http"})
    assert found["127.0.0.1"] == HttpTitle("127.0.0.1", server.port, "http", 200, "IP-Speaker & Paging Controller")
    (request,) = server.requests
    assert request.startswith("GET / HTTP/1.0\r\n") and f"Host: 127.0.0.1:{server.port}\r\n" in request
    assert not {"authorization", "cookie", "proxy-authorization"} & {
        line.split(":")[0].lower() for line in request.split("\r\n")[1:] if ":" in line}
    assert found["127.0.0.1"].to_dict() == {"port": server.port, "scheme": "http", "status": 200,
                                            "title": "IP-Speaker & Paging Controller"}


def test_a_redirect_is_followed_on_the_same_host_only(serve: Callable[..., _Server]) -> None:
    elsewhere = serve("127.0.0.3", lambda _path: _page("Somebody else"))
    other_port = serve("127.0.0.2", lambda _path: _page("Closed port's page"))

    def login(path: str) -> bytes:
        if path == "/":
            return b"HTTP/1.0 302 Found\r\nLocation: /cgi-bin/login.html\r\n\r\n"
        return _page("Wireless Access Point - Login")

    same = serve("127.0.0.2", login)
    found = _titles({"127.0.0.2": [same.port]}, {same.port: "http"})
    assert found["127.0.0.2"].title == "Wireless Access Point - Login" and same.requests[1].startswith(
        "GET /cgi-bin/login.html HTTP/1.0")

    off = serve("127.0.0.4", lambda _p: f"HTTP/1.0 301 Moved\r\nLocation: http://127.0.0.3:{elsewhere.port}/\r\n\r\n"
                .encode())
    to_closed = serve("127.0.0.5", lambda _p: f"HTTP/1.0 302 Found\r\nLocation: http://127.0.0.5:{other_port.port}/"
                      "\r\n\r\n".encode())
    with_user = serve("127.0.0.6", lambda _p: b"HTTP/1.0 302 Found\r\nLocation: http://admin:admin@127.0.0.6/\r\n\r\n")
    found = _titles({"127.0.0.4": [off.port], "127.0.0.5": [to_closed.port], "127.0.0.6": [with_user.port]},
                    {off.port: "http", to_closed.port: "http", with_user.port: "http"})
    assert (found["127.0.0.4"].status, found["127.0.0.4"].title) == (301, None)  # another address: not followed
    assert (found["127.0.0.5"].status, found["127.0.0.5"].title) == (302, None)  # a port the scan did not find open
    assert (found["127.0.0.6"].status, found["127.0.0.6"].title) == (302, None)  # user info in the URL
    assert elsewhere.requests == [] and other_port.requests == [] and len(with_user.requests) == 1


def test_a_redirect_loop_ends(serve: Callable[..., _Server]) -> None:
    loop = serve("127.0.0.7", lambda _p: b"HTTP/1.0 302 Found\r\nLocation: /again\r\n\r\n")
    found = _titles({"127.0.0.7": [loop.port]}, {loop.port: "http"})
    assert (found["127.0.0.7"].status, found["127.0.0.7"].title) == (302, None) and len(loop.requests) == 3


def test_reading_stops_at_the_size_cap_and_a_silent_server_at_the_deadline(serve: Callable[..., _Server]) -> None:
    big = serve("127.0.0.8", lambda _p: _page("Too far down", body_prefix=b"<!-- " + b"x" * 200_000 + b" -->"))
    silent = serve("127.0.0.9", None)
    found = _titles({"127.0.0.8": [big.port], "127.0.0.9": [silent.port]}, {big.port: "http", silent.port: "http"},
                    timeout_s=0.5, max_bytes=65536)
    assert (found["127.0.0.8"].status, found["127.0.0.8"].title) == (200, None)
    assert "127.0.0.9" not in found and len(silent.requests) == 1


def test_only_open_web_ports_of_hosts_inside_the_networks_are_asked(serve: Callable[..., _Server]) -> None:
    server = serve("127.0.0.10", lambda _p: _page("RouterOS router"))
    found = _titles({"127.0.0.10": [server.port]}, {server.port: "http"},
                    networks=[ipaddress.ip_network("198.51.100.0/24")])
    assert found == {} and server.requests == []  # outside the surveyed networks
    found = _titles({"127.0.0.10": [22, 554]}, {server.port: "http"})
    assert found == {} and server.requests == []  # the scan found no web port open
    found = _titles({"127.0.0.10": [server.port]}, {server.port + 1 if server.port < 65535 else 1: "http"})
    assert found == {} and server.requests == []  # an open port that is no web port


def test_https_with_a_self_signed_certificate_gives_its_title(serve: Callable[..., _Server], tmp_path: Path) -> None:
    pair = make_pair(tmp_path, "device", cn="192.168.1.1", ips=("192.168.1.1",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server = serve("127.0.0.11", lambda _p: _page("UniFi Network"), context)
    found = _titles({"127.0.0.11": [server.port]}, {server.port: "https"})
    assert found["127.0.0.11"] == HttpTitle("127.0.0.11", server.port, "https", 200, "UniFi Network")


def test_page_title_decodes_and_bounds() -> None:
    assert page_title("<TITLE lang=vi>Loa truyền thanh</TITLE>".encode()) == "Loa truyền thanh"
    assert page_title("<title>Cà phê</title>".encode("cp1258"), "text/html; charset=windows-1258") == "Cà phê"
    assert page_title(b'<meta charset="iso-8859-1"><title>Caf\xe9</title>') == "Café"
    assert page_title(b"<title>" + b"A" * 500 + b"</title>") == "A" * 128
    assert page_title(b"<title>\x1b[31mred\x07</title>") == "[31mred"  # no control characters
    assert page_title(b"<title>  </title>") is None and page_title(b"<html>no title</html>") is None
    assert page_title(b"<title>x</title>", "text/html; charset=no-such-codec") == "x"


def test_the_title_classifies_a_host_that_said_nothing_else() -> None:
    pages = {"198.51.100.30": HttpTitle("198.51.100.30", 80, "http", 200, "IP-Speaker Controller"),
             "198.51.100.31": HttpTitle("198.51.100.31", 80, "http", 200, "Login"),
             "198.51.100.3": HttpTitle("198.51.100.3", 80, "http", 200, "IP-Speaker Controller")}
    snmp = {"198.51.100.3": {"device_class": "switch", "class_from": "fdb", "sys_descr": "HPE 1820"}}
    classes = classify_hosts(snmp, {}, pages)
    assert classes["198.51.100.30"] == {"kind": "loudspeaker", "from": "http_title", "detail": "IP-Speaker Controller"}
    assert "198.51.100.31" not in classes  # a bare login page says nothing of the kind
    assert classes["198.51.100.3"]["from"] == "fdb"  # the agent's own answer comes first


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_report_shows_the_title_in_the_readers_language(lang: str) -> None:
    import gettext

    from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
    from sitescout.inventory.survey_report import Reader, render_survey_html

    page = {"port": 80, "scheme": "http", "status": 200, "title": "IP-Speaker <Controller>"}
    doc = {"site": "lab", "networks": ["198.51.100.0/24"], "hosts": [
        {"ip": "198.51.100.40", "kind": "host", "open_ports": [80], "errors": [], "http": page,
         "device_class": {"kind": "loudspeaker", "from": "http_title", "detail": page["title"]}},
        {"ip": "198.51.100.41", "kind": "host", "open_ports": [], "errors": [], "http": None}]}
    reader = Reader(gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang]).gettext, lang)
    html = render_survey_html(doc, reader)
    words = "trang web" if lang == "vi" else "web page"
    assert f"{words}: “IP-Speaker &lt;Controller&gt;”" in html and html.count(f"{words}: ") == 1
