"""The one rule on a device's URIs: they carry no userinfo, and they point at the device itself.

A camera's password goes only to the camera's own address, and only to the services its record
names (its ONVIF endpoint, its stream and snapshot URIs).  An outside review showed why: an
editor stored a camera at A whose ONVIF endpoint and stream URI were on host B, and the worker
then sent the camera's password to B on every interval.  Every entry (survey ingestion, accepted
candidates, imports, API writes through the inventory models, YAML targets, inventory-fed targets)
and every probe applies this module, so the rule has one home:

- :func:`has_credentials` / :func:`strip_credentials` — what counts as a credential in a URI:
  userinfo, and password-like query or path parameters (XMEye snapshot URIs carry
  ``?user=admin&password=…``, some RTSP paths ``/user=admin_password=…``), redacted to ``REDACTED``.
- :func:`bind_to_device` — strip credentials, then keep a URI whose host is the device's address,
  re-base one whose host differs (path, query and port kept: the NAT repair the survey already
  makes, ``probes/onvif/xaddr.py``), or refuse one that is not a usable absolute URI.  The verdict is a
  code and parameters (:class:`UriCode`), never a sentence.
- :func:`may_send_credentials` — the check made at probe time, just before a credential is
  attached: the URI's host is the device's address and its (scheme, port) is one of the record's.

Pure and standard-library only: ``inventory/`` and ``probes/`` both import it (neither imports
the other).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit, urlunsplit

__all__ = [
    "strip_credentials_in_text",
    "UriCode",
    "BoundUri",
    "DEFAULT_PORTS",
    "bind_to_device",
    "rebase_host",
    "rebase_onto",
    "has_userinfo",
    "strip_userinfo",
    "has_credentials",
    "strip_credentials",
    "REDACTED",
    "uri_host",
    "same_host",
    "service_of",
    "may_send_credentials",
]

#: Ports a scheme implies when the URI names none.
DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}
#: "scheme://userinfo@" even where urlsplit gives up (an unparsable host after the @, or no scheme: "://u:p@h").
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.\-]*)?:?)//[^/?#]*@")
#: Query parameters that carry credentials (XMEye puts user and password in snapshot URIs).
_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "pass", "user", "username", "usr", "loginuse", "loginpas",
                          "auth", "token"})
#: The same in a path ("rtsp://ip:554/user=admin_password=…_channel=1.sdp").
_PATH_SECRET = re.compile(r"(?i)(?<![a-z0-9])(password|passwd|pwd|user|username)=([^_&;/?#]*)")
#: What a credential parameter's value becomes.
REDACTED = "REDACTED"


class UriCode(enum.StrEnum):
    """What :func:`bind_to_device` did to a URI (stored as a finding's kind)."""

    KEPT = "uri_kept"
    #: Userinfo removed, or password-like parameters redacted; the rest kept (params: none — the removed
    #: part is never stored).
    USERINFO_REMOVED = "uri_userinfo_removed"
    #: The host differed from the device's address; re-based (params: host, device_ip).
    REBASED = "uri_rebased"
    #: Not an absolute URI of an allowed scheme with a host; dropped (params: reason).
    REFUSED = "uri_refused"


@dataclass(frozen=True)
class BoundUri:
    """The URI to keep (None when refused) and the codes of what was done to it, with parameters."""

    uri: str | None
    codes: tuple[UriCode, ...] = ()
    params: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Say whether the URI differs from what was given (stripped, re-based or refused)."""
        return bool(self.codes)


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    return parts


def has_userinfo(uri: str | None) -> bool:
    """Say whether `uri` carries a user or password (also in forms urlsplit cannot parse)."""
    if not uri:
        return False
    parts = _split(uri)
    if parts is not None and "@" in parts.netloc:
        return True
    return bool(_USERINFO.match(uri))


def strip_userinfo(uri: str) -> str:
    """Return `uri` without its ``user:password@`` part (unchanged when it has none)."""
    if not has_userinfo(uri):
        return uri
    parts = _split(uri)
    if parts is not None and parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return _USERINFO.sub(lambda m: (m.group(1) or "") + "//", uri, count=1)


def _secret_params(parts: SplitResult) -> bool:
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() in _SECRET_KEYS and v not in ("", REDACTED) for k, v in query):
        return True
    return any(m.group(2) not in ("", REDACTED) for m in _PATH_SECRET.finditer(parts.path))


def has_credentials(uri: str | None) -> bool:
    """Say whether `uri` carries a credential: userinfo, or a password-like query or path parameter with a value."""
    if not uri:
        return False
    if has_userinfo(uri):
        return True
    parts = _split(uri)
    if parts is None:
        return bool(_PATH_SECRET.search(uri))
    return _secret_params(parts)


def _redact_path(text: str) -> str:
    return _PATH_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}" if m.group(2) else m.group(0), text)


def strip_credentials(uri: str) -> str:
    """Return `uri` without userinfo and with password-like query and path parameters set to ``REDACTED``."""
    if not uri:
        return uri
    text = strip_userinfo(uri)
    try:
        parts = urlsplit(text)
    except ValueError:  # unparsable ("http://[::1"): the path rule still applies to the whole text
        return _redact_path(text)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_KEYS for k, _ in pairs):
            query = "&".join(
                f"{quote(k, safe='')}={REDACTED if k.lower() in _SECRET_KEYS else quote(v, safe='/:,')}"
                if v or k.lower() in _SECRET_KEYS
                else quote(k, safe="")
                for k, v in pairs
            )
    return urlunsplit(parts._replace(query=query, path=_redact_path(parts.path)))


#: A URI quoted in a text (an error message, a log line), up to the first blank or quote.
_URI_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+")


def strip_credentials_in_text(text: str) -> tuple[str, int]:
    """Return `text` with every URI it quotes passed through :func:`strip_credentials`, and how many changed."""
    if "://" not in text:
        return text, 0
    changed = 0

    def clean(match: re.Match[str]) -> str:
        nonlocal changed
        uri = strip_credentials(match.group(0))
        changed += uri != match.group(0)
        return uri

    return _URI_IN_TEXT.sub(clean, text), changed


def uri_host(uri: str | None) -> str | None:
    """Return the host of `uri` (IPv6 without brackets, lower case), or None when it has none."""
    parts = _split(uri or "")
    return parts.hostname if parts is not None else None


def same_host(host: str | None, ip: str | None) -> bool:
    """Say whether `host` is the address `ip` (IPv4/IPv6 compared as addresses; zone ids ignored)."""
    if not host or not ip:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]) == \
            ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
    except ValueError:
        return False  # a host name is never "the device's address": it can resolve anywhere


def _host_text(ip: str) -> str:
    return f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip


def rebase_host(uri: str, host: str, port: int | None = None, *, keep_userinfo: bool = False) -> str:
    """Return `uri` with its host (and port, when given) replaced; path and query kept, userinfo only if asked.

    The one re-basing of a URL: the survey's NAT repair (``probes/onvif/xaddr.py``) and :func:`bind_to_device`.

    Raises:
        ValueError: `uri` cannot be parsed (an invalid IPv6 host or port).
    """
    parts = urlsplit(uri)
    userinfo = parts.netloc.rpartition("@")[0] if keep_userinfo else ""
    keep_port = port if port is not None else parts.port
    netloc = _host_text(host) + (f":{keep_port}" if keep_port is not None else "")
    return urlunsplit(parts._replace(netloc=(userinfo + "@" if userinfo else "") + netloc))


def rebase_onto(uri: str, endpoint: str) -> str:
    """Return `uri` moved onto the scheme, host and port of `endpoint`; path and query kept, no userinfo.

    The ONVIF rule: a service URL a camera names (GetServices, GetCapabilities) is only ever the
    path of a service on the endpoint being interrogated, never another port or scheme of its address.

    Raises:
        ValueError: `uri` or `endpoint` cannot be parsed.
    """
    parts, base = urlsplit(uri), urlsplit(endpoint)
    base.port  # noqa: B018 - raises ValueError on a port that is not a number
    return urlunsplit(parts._replace(scheme=base.scheme, netloc=base.netloc.rpartition("@")[2]))


def service_of(uri: str | None) -> tuple[str, int] | None:
    """Return (scheme, port) of `uri`, the port defaulted by scheme; None when unparsable."""
    parts = _split(uri or "")
    if parts is None or not parts.scheme:
        return None
    scheme = parts.scheme.lower()
    port = parts.port if parts.port is not None else DEFAULT_PORTS.get(scheme)
    return (scheme, port) if port is not None else None


def bind_to_device(uri: str | None, device_ip: str | None, schemes: Iterable[str], *,
                   previous_ip: str | None = None) -> BoundUri:
    """Return `uri` bound to the device at `device_ip`: no userinfo, host re-based onto the device.

    A URI whose scheme is not in `schemes`, or that has no host, is refused (``uri`` None).  With no
    `device_ip` (a planned device) only the userinfo is removed.  `previous_ip` is the device's
    address before an edit: a URI on it follows the device silently (the camera moved).
    """
    text = (uri or "").strip()
    codes: list[UriCode] = []
    params: dict[str, str] = {}
    if has_credentials(text):
        text = strip_credentials(text)
        codes.append(UriCode.USERINFO_REMOVED)
    parts = _split(text)
    if parts is None or parts.scheme.lower() not in {s.lower() for s in schemes} or not parts.hostname:
        reason = "unparsable" if parts is None else ("scheme" if parts.hostname else "no_host")
        return BoundUri(None, (*codes, UriCode.REFUSED), {"reason": reason})
    if device_ip is None or same_host(parts.hostname, device_ip):
        return BoundUri(text, tuple(codes), params)
    rebased = rebase_host(text, device_ip)
    if previous_ip is not None and same_host(parts.hostname, previous_ip):
        return BoundUri(rebased, tuple(codes), params)  # the device moved: its URIs follow it
    params.update(host=parts.hostname, device_ip=device_ip)
    return BoundUri(rebased, (*codes, UriCode.REBASED), params)


def may_send_credentials(uri: str | None, device_ip: str | None, services: Iterable[str | None]) -> bool:
    """Say whether a credential may go with a request to `uri` for the device at `device_ip`.

    Only when the URI carries no credential of its own, its host is the device's address, and its (scheme, port) is
    that of one of `services` — the URIs the device's record names (ONVIF endpoint, stream URIs).
    """
    if not uri or has_credentials(uri) or not same_host(uri_host(uri), device_ip):
        return False
    wanted = service_of(uri)
    if wanted is None:
        return False
    return any(service_of(s) == wanted and same_host(uri_host(s), device_ip) for s in services if s)
