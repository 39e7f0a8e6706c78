"""Choose a usable device-service XAddr and clean service/media URLs.

Discovery data are hints (onvif-anchors.md §4.3): cameras advertise several
XAddrs in one whitespace-separated string (agsh/onvif#93, AlexxIT/go2rtc#884),
link-local or loopback addresses (evercam-discovery-java#22,
Xiaomi-Dafang-Hacks#1752), ``0.0.0.0`` (go2rtc ``helpers.go``),
``host:port:port`` (home-assistant/core#92603) and private addresses that are
not the ones they answer on behind NAT (python-onvif-zeep#61).

:func:`choose_xaddr` returns an :class:`XAddrChoice`: the URL to use plus
findings, one human-readable line per repair or mismatch, for the survey
record.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from sitescout.device_uris import rebase_host
from sitescout.device_uris import strip_credentials as device_strip_credentials

__all__ = [
    "XAddrChoice",
    "choose_xaddr",
    "split_xaddrs",
    "repair_url",
    "rebase_url",
    "url_host",
    "strip_credentials",
    "normalize_uri",
]

log = logging.getLogger(__name__)

_WS = re.compile(r"\s+")
_DOUBLE_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:\[\]]*)(?P<ports>(?::\d*){2,})$")


@dataclass
class XAddrChoice:
    """The XAddr to use and the findings that explain it."""

    url: str
    findings: list[str] = field(default_factory=list)
    advertised: list[str] = field(default_factory=list)
    rebased: bool = False


def normalize_uri(text: str) -> str:
    """Remove whitespace and line breaks inside a URI (AlexxIT/go2rtc#638, #662; XMEye trailing space)."""
    return _WS.sub("", text or "")


def split_xaddrs(xaddrs: str | Iterable[str]) -> list[str]:
    """Split space/newline-separated XAddr lists into single URLs, keeping order, without duplicates."""
    parts = [xaddrs] if isinstance(xaddrs, str) else list(xaddrs)
    out: list[str] = []
    for part in parts:
        for url in _WS.split(part or ""):
            if url and url not in out:
                out.append(url)
    return out


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def repair_url(url: str) -> tuple[str, str | None]:
    """Repair ``http://host:8106:8106/path`` into ``http://host:8106/path``; return (url, finding or None)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" from a fuzzed or broken device: nothing to repair here
        return url, None
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    m = _DOUBLE_PORT.match(hostport)
    if not m:
        return url, None
    ports = [p for p in m.group("ports").split(":") if p]
    fixed = m.group("host") + (f":{ports[0]}" if ports else "")
    new_netloc = (userinfo + "@" if userinfo else "") + fixed
    fixed_url = urlunsplit(parts._replace(netloc=new_netloc))
    return fixed_url, f"repaired malformed XAddr port {hostport!r} -> {fixed!r}"


def url_host(url: str) -> str | None:
    """Return the host of a URL (IPv6 without brackets), or None when unparsable."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def rebase_url(url: str, host: str, port: int | None = None) -> str:
    """Return the URL with its host (and port, when given) replaced; path, query and userinfo kept."""
    try:
        return rebase_host(url, host, port, keep_userinfo=True)
    except ValueError:  # an unparsable port: replace the host, drop the port (as before)
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = _host_text(host) + (f":{port}" if port is not None else "")
        return urlunsplit(parts._replace(netloc=(userinfo + "@" if userinfo else "") + netloc))


def strip_credentials(url: str) -> str:
    """Remove userinfo and redact password-like query/path parameters (XMEye snapshot URIs): the one rule."""
    return device_strip_credentials(url)


def _classify(host: str | None, reply_is_loopback: bool) -> tuple[int, str | None]:
    """Rank a host: lower is better; second item names why it is suspect."""
    if not host:
        return 9, "no host"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return 2, None  # a host name: usable, below a literal IPv4
    if ip.is_unspecified:
        return 8, "unspecified address"
    if ip.is_loopback:
        return (0, None) if reply_is_loopback else (7, "loopback address")
    if ip.is_link_local:
        return 6, "link-local address"
    if ip.version == 4:
        return 0 if not ip.is_multicast else 8, None
    return 3, None


def choose_xaddr(
    xaddrs: Sequence[str] | str, reply_ip: str | None, *, fallback_host: str | None = None
) -> XAddrChoice | None:
    """Pick the device-service URL to talk to, re-basing it on the address that answered.

    Rules, in order: split lists and repair ``host:port:port``; prefer an XAddr
    whose host is the reply's source IP; otherwise take the best-ranked one
    (routable IPv4 > host name > IPv6 > link-local > loopback > 0.0.0.0;
    loopback counts as routable when the reply itself came from loopback, as
    in the demo on 127.0.0.x) and re-base it on ``reply_ip``.

    ``fallback_host`` is a host the operator supplied (add-by-IP, NAT/VPN
    address): it replaces ``reply_ip`` when that is None, and when nothing
    usable is advertised the result is ``http://fallback_host/onvif/device_service``.
    Returns None when there is neither an XAddr nor a host to use.
    """
    findings: list[str] = []
    candidates: list[str] = []
    for url in split_xaddrs(xaddrs):
        fixed, note = repair_url(url)
        if note:
            findings.append(note)
        try:
            parts = urlsplit(fixed)
            usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:  # "http://[" (hypothesis found it): not a URL we can use
            usable = False
        if not usable:
            findings.append(f"ignored unusable XAddr {strip_credentials(url)!r}")
            continue
        if fixed not in candidates:
            candidates.append(fixed)
    base_host = reply_ip or fallback_host
    if not candidates:
        if fallback_host:
            url = f"http://{_host_text(fallback_host)}/onvif/device_service"
            findings.append(f"no usable XAddr advertised; using the default path on {fallback_host}")
            return XAddrChoice(url=url, findings=findings, advertised=[], rebased=True)
        return None
    reply_is_loopback = _is_loopback(reply_ip)
    ranked = sorted(
        enumerate(candidates),
        key=lambda ic: (
            _classify(url_host(ic[1]), reply_is_loopback)[0],
            urlsplit(ic[1]).scheme.lower() != "http",
            ic[0],
        ),
    )
    if base_host:
        same = [u for u in candidates if _same_host(url_host(u), base_host)]
        if same:
            plain = [u for u in same if urlsplit(u).scheme.lower() == "http"]
            return XAddrChoice(url=(plain or same)[0], findings=findings, advertised=candidates)
    best = ranked[0][1]
    best_host = url_host(best)
    rank, why = _classify(best_host, reply_is_loopback)
    if base_host:
        source = "answered from" if reply_ip else "operator gave"
        note = f"advertised {best_host}, {source} {base_host}"
        if why:
            note += f" ({best_host}: {why})"
        findings.append(note + f"; using {base_host}")
        log.debug("%s: XAddr %s re-based: %s", base_host, best, note)
        return XAddrChoice(url=rebase_url(best, base_host), findings=findings, advertised=candidates, rebased=True)
    if why:
        findings.append(f"only suspect XAddrs advertised; using {best_host} ({why})")
    return XAddrChoice(url=best, findings=findings, advertised=candidates)


def _is_loopback(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _same_host(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.strip("[]").split("%", 1)[0])
    except ValueError:
        return a.lower() == b.lower()
