"""A survey document's URIs, bound to their hosts before the inventory keeps them.

Every URI a host record names — its ONVIF endpoint (when a URL), XAddrs and service XAddrs,
each profile's stream and snapshot URI, each stream check's URI and the snapshot's URI — must
point at the host's own address, because an accepted candidate turns them into the camera's
record and the worker sends the camera's password there.  One whose host differs is re-based
onto the host's address (path, query and port kept: the survey's own NAT repair); one that is
not a usable URI is dropped.  Userinfo is removed from every string of the document that
carries a ``scheme://user:password@`` (error texts included), and a URI quoted in such a text has its
password-like parameters (``?user=admin&password=…``, ``/user=admin_password=…``) redacted by the
same rule as the URI fields (``sitescout.device_uris.strip_credentials``).  Each change is a
:class:`UriFinding` — a code (``sitescout.device_uris.UriCode``) and its parameters — stored
with the survey; the removed userinfo itself is never kept.
"""

from __future__ import annotations

import ipaddress
import re
import dataclasses
from dataclasses import dataclass
from typing import Any

from sitescout.device_uris import BoundUri, UriCode, bind_to_device, strip_credentials_in_text
from sitescout.inventory.models import Finding

__all__ = ["UriFinding", "bind_survey_uris", "bind_identity_uris", "strip_userinfo_everywhere", "uri_findings"]

_HTTP = ("http", "https")
_STREAM = ("rtsp", "rtsps", "http", "https")
#: "scheme://user:pass@" anywhere in a text (an error message may quote a URI).
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\"'<>]*@")


@dataclass(frozen=True)
class UriFinding:
    """What binding did to one URI of host `index` (at `ip`): a code and its parameters."""

    index: int
    ip: str | None
    code: UriCode
    field: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)


def _strip_text(text: str) -> tuple[str, int]:
    if "://" not in text:
        return text, 0
    if "@" in text:
        text, removed = _USERINFO_IN_TEXT.subn(r"\1", text)
    else:
        removed = 0
    if "=" not in text:
        return text, removed
    text, redacted = strip_credentials_in_text(text)
    return text, removed + redacted


def strip_userinfo_everywhere(value: Any) -> tuple[Any, int]:
    """Return a copy of a JSON value with userinfo removed from every text in it, and how many were removed."""
    if isinstance(value, str):
        return _strip_text(value)
    if isinstance(value, dict):
        total, out = 0, {}
        for key, item in value.items():
            if key == "jpeg_base64":  # a picture, not text: no URI in it (and it is the bulk of a survey)
                out[key] = item
                continue
            out[key], n = strip_userinfo_everywhere(item)
            total += n
        return out, total
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            clean, n = strip_userinfo_everywhere(item)
            items.append(clean)
            total += n
        return items, total
    return value, 0


class _Binder:
    """Binds the URIs of one host record to its address, collecting findings."""

    def __init__(self, index: int, ip: str | None) -> None:
        self.index, self.ip = index, ip
        self.findings: list[UriFinding] = []

    def bind(self, value: Any, name: str, schemes: tuple[str, ...]) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        bound = bind_to_device(value, self.ip, schemes)
        self._note(bound, name)
        return bound.uri

    def _note(self, bound: BoundUri, name: str) -> None:
        for code in bound.codes:
            params = bound.params if code != UriCode.USERINFO_REMOVED else {}
            self.findings.append(UriFinding(self.index, self.ip, code, name, dict(params)))

    def bind_list(self, values: Any, name: str, schemes: tuple[str, ...]) -> Any:
        """Bind each URI of a list; one that re-bases onto a URI the list already has on the host is no finding.

        Cameras advertise one service on each of their addresses (IPv4 and link-local IPv6 XAddrs).
        """
        if not isinstance(values, list):
            return values
        bound = [(v, bind_to_device(v, self.ip, schemes) if isinstance(v, str) and v.strip() else None)
                 for v in values]
        kept = {b.uri for _, b in bound if b is not None and not b.codes}
        out = []
        for value, b in bound:
            if b is not None and not (b.codes == (UriCode.REBASED,) and b.uri in kept):
                self._note(b, name)
            uri = value if b is None else b.uri
            if uri is not None and uri not in out:
                out.append(uri)
        return out

    def host(self, h: dict[str, Any]) -> None:
        onvif = h.get("onvif")
        if isinstance(onvif, dict):
            if isinstance(onvif.get("endpoint"), str) and "//" in onvif["endpoint"]:
                onvif["endpoint"] = self.bind(onvif["endpoint"], "endpoint", _HTTP) or ""
            if "xaddrs" in onvif:
                onvif["xaddrs"] = self.bind_list(onvif["xaddrs"], "xaddr", _HTTP)
            if isinstance(onvif.get("services"), dict):
                onvif["services"] = {k: u for k, u in ((k, self.bind(v, "service", _HTTP))
                                                       for k, v in onvif["services"].items()) if u is not None}
            profiles = onvif.get("profiles")
            for profile in profiles if isinstance(profiles, list) else []:
                for key, schemes in (("stream_uri", _STREAM), ("snapshot_uri", _HTTP)):
                    if isinstance(profile, dict) and key in profile:
                        profile[key] = self.bind(profile[key], key, schemes)
        streams = h.get("streams")
        for stream in streams if isinstance(streams, list) else []:
            if isinstance(stream, dict) and isinstance(stream.get("uri"), str):
                stream["uri"] = self.bind(stream["uri"], "stream", _STREAM) or ""
        snap = h.get("snapshot")
        if isinstance(snap, dict) and isinstance(snap.get("uri"), str) and snap["uri"].strip():
            snap["uri"] = self.bind(snap["uri"], "snapshot", _STREAM) or ""


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def bind_survey_uris(document: dict[str, Any]) -> tuple[dict[str, Any], list[UriFinding]]:
    """Return a copy of a (type-checked) survey document with every URI bound to its host, and the findings."""
    clean = _copy(document)
    findings: list[UriFinding] = []
    hosts = clean.get("hosts") if isinstance(clean.get("hosts"), list) else []
    for index, h in enumerate(hosts):
        if not isinstance(h, dict):
            continue
        binder = _Binder(index, _ip(h.get("ip")))
        binder.host(h)
        findings += binder.findings
    clean, removed_elsewhere = strip_userinfo_everywhere(clean)
    if removed_elsewhere:
        findings.append(UriFinding(-1, None, UriCode.USERINFO_REMOVED, "text", {"count": str(removed_elsewhere)}))
    return clean, findings


def _copy(value: Any) -> Any:
    """Return a deep copy of a JSON value (its depth is already bounded by ingestion's checks)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def bind_identity_uris(identity: dict[str, Any], ip: str) -> dict[str, Any]:
    """Return a copy of a candidate's identity whose ONVIF URIs are bound to the candidate's address `ip`."""
    record = {"ip": ip, "onvif": _copy(identity.get("onvif")) if isinstance(identity.get("onvif"), dict) else None}
    _Binder(-1, _ip(ip)).host(record)
    clean, _ = strip_userinfo_everywhere({**_copy(identity), "onvif": record["onvif"]})
    return clean


#: The finding's text for today's site page; the code and parameters are what is kept and meant.
_URI_MESSAGES = {
    UriCode.REBASED: "{field} of {ip} pointed at host {host}, not the device's own address; re-based onto {ip} "
                     "(a camera's password goes only to the camera)",
    UriCode.REFUSED: "{field} of {ip} is not a usable URI ({reason}); left out",
    UriCode.USERINFO_REMOVED: "{field} of {ip} carried a user or password; removed (credentials are stored apart)",
}


def uri_findings(survey_id: int, index: int, found: list[UriFinding], device_id: int | None,
                 candidate_id: int | None) -> list[Finding]:
    """Return the findings of host `index` (-1: of no host) as rows: code in ``kind``, parameters in the values."""
    out = []
    for f in found:
        if f.index != index:
            continue
        value = f.params.get("host") or f.params.get("reason") or f.params.get("count")
        message = _URI_MESSAGES[f.code].format(field=f.field, ip=f.ip or "the survey", host=f.params.get("host", ""),
                                               reason=f.params.get("reason", ""))
        out.append(Finding(survey_id=survey_id, device_id=device_id, candidate_id=candidate_id, kind=f.code.value,
                           field=f.field, inventory_value=f.ip, observed_value=value, message=message))
    return out
