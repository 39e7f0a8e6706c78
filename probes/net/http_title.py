"""The title of a host's web page: one bounded ``GET /`` per host, as evidence of what the device is.

A loudspeaker receiver's web UI, a router's or access point's login page, a switch's management
page name the product in their ``<title>``.  Rules (network safety and secrets):

- only addresses inside the surveyed networks, and only ports the port scan found open;
- no credentials, ever: the request carries no Authorization header, no cookie, no user info;
- a redirect is followed only to the same address (at most :data:`MAX_REDIRECTS`), on a port the scan
  found open; anything else ends the fetch with the status seen;
- every fetch has a deadline (``timeout_s``, connect and read together) and reads at most ``max_bytes``;
- HTTPS without certificate checks: the page is read only for its title, nothing is sent to it (devices
  have self-signed certificates).

HTTP/1.0 is asked, so the answer is not chunked.  Nothing here raises for device trouble: a host
whose page cannot be read has no title.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

__all__ = ["HttpTitle", "WEB_PORTS", "async_http_titles", "page_title", "MAX_TITLE", "MAX_REDIRECTS"]

log = logging.getLogger(__name__)

#: The web ports asked (of probes.net.ports.DEFAULT_PORTS), in this order, and their scheme; the first page with a
#: title wins.  8000 (Hikvision's SDK) and 9000 (Dahua media) are binary protocols, not asked.
WEB_PORTS: dict[int, str] = {80: "http", 443: "https", 8080: "http", 8443: "https", 81: "http", 88: "http",
                             5000: "http"}
#: Ports tried per host at most (a host with many open web ports costs at most this many fetches).
_MAX_PORTS_PER_HOST = 3
MAX_REDIRECTS = 2
#: Characters of a title kept (a page may carry a paragraph there).
MAX_TITLE = 128
_TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_CHARSET_RE = re.compile(rb"charset=[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)
_USER_AGENT = "sitescout-survey"
#: What a device's web port may do to a fetch: no answer in time, a refused or reset connection, a TLS
#: failure, an undecodable status line; each only means "no title from this port".
_FETCH_ERRORS = (TimeoutError, OSError, ssl.SSLError, UnicodeError, ValueError)


@dataclass(frozen=True)
class HttpTitle:
    """What one host's web page said: the port and scheme it came from, the HTTP status and the title."""

    ip: str
    port: int
    scheme: str  # http | https
    status: int | None
    title: str | None

    def to_dict(self) -> dict[str, object]:
        """Return the survey document's ``http`` field."""
        return {"port": self.port, "scheme": self.scheme, "status": self.status, "title": self.title}


def page_title(body: bytes, content_type: str = "") -> str | None:
    """Return the ``<title>`` of an HTML page (entities decoded, blanks folded, printable, bounded), or None."""
    match = _TITLE_RE.search(body)
    if match is None:
        return None
    charset = _CHARSET_RE.search(content_type.encode("latin-1", "replace")) or _CHARSET_RE.search(body[:2048])
    encoding = charset.group(1).decode("ascii") if charset else "utf-8"
    try:
        text = match.group(1).decode(encoding, "replace")
    except LookupError:
        text = match.group(1).decode("utf-8", "replace")
    text = " ".join(html.unescape(text).split())
    text = "".join(c for c in text if c.isprintable())[:MAX_TITLE].strip()
    return text or None


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a device's self-signed certificate; we send nothing secret
    return context


async def _get(ip: str, port: int, scheme: str, path: str, max_bytes: int) -> tuple[int | None, dict[str, str], bytes]:
    """One GET of ``path``; return (status, headers, body) with at most ``max_bytes`` read in all."""
    reader, writer = await asyncio.open_connection(ip, port, ssl=_ssl_context() if scheme == "https" else None,
                                                   server_hostname="" if scheme == "https" else None)
    try:
        host = ip if port == (443 if scheme == "https" else 80) else f"{ip}:{port}"
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {_USER_AGENT}\r\n"
                     "Accept: text/html\r\nConnection: close\r\n\r\n".encode("ascii"))
        await writer.drain()
        data = b""
        while len(data) < max_bytes:
            chunk = await reader.read(min(65536, max_bytes - len(data)))
            if not chunk:
                break
            data += chunk
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers, body


def _same_host_target(location: str, base: str, ip: str, open_ports: Sequence[int]) -> tuple[str, int, str] | None:
    """Return (scheme, port, path) of a redirect that stays on ``ip`` and an open port, else None."""
    try:
        url = urlsplit(urljoin(base, location))
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or url.hostname != ip or port not in open_ports \
            or url.username is not None or url.password is not None:
        return None
    return url.scheme, port, (url.path or "/") + (f"?{url.query}" if url.query else "")


async def _fetch_title(ip: str, port: int, scheme: str, open_ports: Sequence[int], max_bytes: int) -> HttpTitle:
    path = "/"
    status: int | None = None
    for _hop in range(MAX_REDIRECTS + 1):
        status, headers, body = await _get(ip, port, scheme, path, max_bytes)
        if status is not None and 300 <= status < 400 and headers.get("location"):
            target = _same_host_target(headers["location"], f"{scheme}://{ip}:{port}{path}", ip, open_ports)
            if target is None:
                log.debug("%s:%d: redirect off the host or to a closed port not followed", ip, port)
                break
            scheme, port, path = target
            continue
        return HttpTitle(ip, port, scheme, status, page_title(body, headers.get("content-type", "")))
    return HttpTitle(ip, port, scheme, status, None)


async def _title_of(ip: str, ports: Sequence[int], web_ports: Mapping[int, str], timeout_s: float,
                    max_bytes: int) -> HttpTitle | None:
    web = [p for p in web_ports if p in ports][:_MAX_PORTS_PER_HOST]
    first: HttpTitle | None = None
    for port in web:
        try:
            found = await asyncio.wait_for(_fetch_title(ip, port, web_ports[port], ports, max_bytes), timeout_s)
        except _FETCH_ERRORS as err:
            log.debug("%s:%d: no web page read: %s", ip, port, err or type(err).__name__)
            continue
        if found.title:
            return found
        first = first or found
    return first


async def async_http_titles(open_ports: Mapping[str, Sequence[int]], networks: Sequence[ipaddress.IPv4Network], *,
                            timeout_s: float = 3.0, max_bytes: int = 65536, concurrency: int = 32,
                            web_ports: Mapping[int, str] = WEB_PORTS) -> dict[str, HttpTitle]:
    """Return {ip: HttpTitle} of every host inside ``networks`` with an open web port (those that answered).

    ``open_ports``: what the port scan found open per host; ``web_ports``: the ports asked, in order, and their
    scheme (``http``/``https``); ``timeout_s`` bounds each port's fetch (redirects included).
    """
    semaphore = asyncio.Semaphore(concurrency)

    def inside(ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in networks)

    async def one(ip: str, ports: Sequence[int]) -> HttpTitle | None:
        async with semaphore:
            return await _title_of(ip, ports, web_ports, timeout_s, max_bytes)

    hosts = {ip: list(ports) for ip, ports in open_ports.items()
             if inside(ip) and any(p in web_ports for p in ports)}
    results = await asyncio.gather(*(one(ip, ports) for ip, ports in hosts.items()))
    return {ip: r for ip, r in zip(hosts, results) if r is not None}
