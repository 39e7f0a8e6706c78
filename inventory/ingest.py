"""Ingesting a survey document: match hosts to devices, record observations, findings and candidates.

Matching order (first hit wins, one device per host): ONVIF endpoint, then MAC, then
(manufacturer, serial), then IP at the survey's site — an IP match is refused when the
device's stronger identity contradicts the host's.  Differences are findings; curated
fields are never overwritten.  The same document pushed twice is stored once
(site, started_at, SHA-256 of the canonical JSON).  Everything happens in the caller's
transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitescout.device_names import maker_and_model
from sitescout.inventory.choices import CandidateState, Health, Status
from sitescout.inventory.models import (
    Candidate,
    Device,
    Finding,
    Observation,
    Site,
    Survey,
    SurveySnapshot,
    ValidationError,
    normalize_mac,
)
from sitescout.inventory import health
from sitescout.inventory.candidates import find_pending_duplicate, record_sighting
from sitescout.inventory.workflow_models import CandidateSighting
from sitescout.inventory.observations import note_latest, parse_time, update_health
from sitescout.inventory.records import CandidateRecord, FindingRecord, IngestResult
from sitescout.inventory.search import fold
from sitescout.inventory.survey_uris import bind_survey_uris, uri_findings

__all__ = ["ingest_survey", "content_sha256", "host_health", "SurveyError"]

log = logging.getLogger(__name__)

#: Stream problems that make a camera a problem (the rest only a warning); see inventory/health.py.
SEVERE_STREAM_PROBLEMS = frozenset(s for s, level in health.STREAM_LEVELS.items() if level == health.PROBLEM)


class SurveyError(ValidationError):
    """A survey document cannot be ingested; the message says what is wrong."""


def content_sha256(document: dict[str, Any]) -> str:
    """Return the SHA-256 of a document's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _Host:
    index: int
    raw: dict[str, Any]
    ip: str
    mac: str | None
    endpoint: str | None
    manufacturer: str | None
    serial: str | None
    onvif: dict[str, Any] = field(default_factory=dict)


def _time(value: Any, name: str) -> datetime:
    try:
        return parse_time(value, name)
    except ValidationError as err:
        raise SurveyError(err.field, err.message) from None


#: Deeper than any survey document nests; deeper input is refused before it reaches json.dumps' recursion.
MAX_DEPTH = 32
#: Identity fields copied into devices, findings and candidates, with their column lengths.
_ONVIF_TEXT = {"endpoint": 300, "manufacturer": 200, "model": 200, "firmware": 200, "serial": 200,
               "hardware_id": 200, "auth": 40}


def _check_values(document: Any) -> None:
    """Refuse non-finite numbers, NUL characters and absurd nesting anywhere in the document."""
    stack: list[tuple[Any, str, int]] = [(document, "document", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SurveyError(where, f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, float) and not math.isfinite(value):
            raise SurveyError(where, f"{value} is not a finite number")
        if isinstance(value, str) and "\x00" in value:
            raise SurveyError(where, "contains a NUL character")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise SurveyError(where, f"has a key that is not text: {key!r}")
                stack.append((item, f"{where}.{key}" if where != "document" else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def _kind_of(value: Any, kinds: tuple[type, ...], where: str, what: str) -> Any:
    """Return value if it is None or one of kinds (bool is never a number); raise SurveyError otherwise."""
    if value is None or (isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)):
        return value
    raise SurveyError(where, f"must be {what} or null, not {type(value).__name__}")


def _text_field(obj: dict[str, Any], key: str, where: str, max_len: int | None = None) -> str | None:
    value = _kind_of(obj.get(key), (str,), f"{where}.{key}", "text")
    if value is not None and max_len is not None and len(value) > max_len:
        raise SurveyError(f"{where}.{key}", f"is longer than {max_len} characters")
    return value


def _check_host_parts(h: dict[str, Any], where: str) -> dict[str, Any]:
    """Check the types of the parts ingestion reads (link, onvif, streams, snapshot); return the onvif object."""
    for key in ("vendor", "kind"):
        _text_field(h, key, where, 200)
    ports = _kind_of(h.get("open_ports"), (list,), f"{where}.open_ports", "a list")
    for i, port in enumerate(ports or []):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise SurveyError(f"{where}.open_ports[{i}]", f"{port!r} is not a port number")
    _kind_of(h.get("errors"), (list,), f"{where}.errors", "a list")
    link = _kind_of(h.get("link"), (dict,), f"{where}.link", "an object")
    for key in ("loss_ratio", "jitter_ms"):
        _kind_of((link or {}).get(key), (int, float), f"{where}.link.{key}", "a number")
    onvif = _kind_of(h.get("onvif"), (dict,), f"{where}.onvif", "an object") or {}
    for key, max_len in _ONVIF_TEXT.items():
        _text_field(onvif, key, f"{where}.onvif", max_len)
    _kind_of(onvif.get("clock_offset_s"), (int, float), f"{where}.onvif.clock_offset_s", "a number")
    for key in ("profiles", "xaddrs", "scopes"):
        _kind_of(onvif.get(key), (list,), f"{where}.onvif.{key}", "a list")
    for i, s in enumerate(_kind_of(h.get("streams"), (list,), f"{where}.streams", "a list") or []):
        at = f"{where}.streams[{i}]"
        if not isinstance(s, dict):
            raise SurveyError(at, "must be an object")
        _text_field(s, "profile", at)
        problems = _kind_of(s.get("problems"), (list,), f"{at}.problems", "a list")
        if any(not isinstance(p, str) for p in problems or []):
            raise SurveyError(f"{at}.problems", "must be a list of text")
    snap = _kind_of(h.get("snapshot"), (dict,), f"{where}.snapshot", "an object with jpeg_base64")
    if snap is not None:
        _text_field(snap, "jpeg_base64", f"{where}.snapshot")
        _text_field(snap, "source", f"{where}.snapshot", 20)
        _text_field(snap, "uri", f"{where}.snapshot")
        for key in ("width", "height"):
            size = _kind_of(snap.get(key), (int,), f"{where}.snapshot.{key}", "a whole number")
            if size is not None and not 0 <= size <= 1_000_000:
                raise SurveyError(f"{where}.snapshot.{key}", f"{size} is not a picture size")
    return onvif


def _check_document(document: Any) -> tuple[datetime, datetime | None, list[_Host]]:
    if not isinstance(document, dict):
        raise SurveyError("document", "a survey document is a JSON object (sitescout survey --json)")
    _check_values(document)
    if not isinstance(document.get("site"), str) or not document["site"].strip():
        raise SurveyError("site", "the document names no site")
    if len(document["site"]) > 200:
        raise SurveyError("site", "is longer than 200 characters")
    started = _time(document.get("started_at"), "started_at")
    finished = _time(document["finished_at"], "finished_at") if document.get("finished_at") else None
    hosts_raw = document.get("hosts")
    if not isinstance(hosts_raw, list):
        raise SurveyError("hosts", "must be a list of host records")
    hosts = []
    seen: set[str] = set()
    for i, h in enumerate(hosts_raw):
        where = f"hosts[{i}]"
        if not isinstance(h, dict):
            raise SurveyError(where, "must be an object")
        if not isinstance(h.get("ip"), str):
            raise SurveyError(f"{where}.ip", f"{h.get('ip')!r} is not an IP address")
        try:
            ip = str(ipaddress.ip_address(h["ip"].strip()))
        except ValueError:
            raise SurveyError(f"{where}.ip", f"{h.get('ip')!r} is not an IP address") from None
        if ip in seen:
            raise SurveyError(f"{where}.ip", f"{ip} appears twice in the survey")
        seen.add(ip)
        onvif = _check_host_parts(h, where)
        mac_text = _text_field(h, "mac", where) or _text_field(onvif, "mac", f"{where}.onvif")
        try:
            mac = normalize_mac(mac_text)
        except ValidationError as err:
            raise SurveyError(f"{where}.mac", err.message) from None
        hosts.append(_Host(
            index=i, raw=h, ip=ip, mac=mac, endpoint=(onvif.get("endpoint") or None),
            manufacturer=(onvif.get("manufacturer") or None), serial=(onvif.get("serial") or None), onvif=onvif,
        ))
    return started, finished, hosts


def _find_site(session: Session, document: dict[str, Any], site_id: int | None) -> Site:
    if site_id is not None:
        site = session.get(Site, site_id)
        if site is None:
            raise SurveyError("site_id", f"no site with id {site_id}")
        return site
    sites = list(session.scalars(select(Site).where(Site.name_folded == fold(document["site"]))))
    if len(sites) == 1:
        return sites[0]
    if not sites:
        raise SurveyError("site", f"no site named {document['site']!r} in the inventory; create it or give its id")
    raise SurveyError("site", f"{len(sites)} sites are named {document['site']!r}; give the site id")


def host_verdicts(host: dict[str, Any]) -> list[health.Verdict]:
    """Return the unhealthy verdicts of a survey host (streams, loss, jitter, clock skew, auth), as codes."""
    found: list[health.Verdict] = []
    for s in host.get("streams") or []:
        label = s.get("profile") or "stream"
        states = set(s.get("problems") or []) or ({"down"} if not s.get("up") else set())
        states |= {flag for flag in ("frozen", "black") if s.get(flag)}
        found += [health.stream_verdict(state, label) for state in sorted(states)]
    link = host.get("link") or {}
    found += [health.link_loss_verdict(link.get("loss_ratio")), health.jitter_verdict(link.get("jitter_ms"))]
    onvif = host.get("onvif") or {}
    found += [health.clock_skew_verdict(onvif.get("clock_offset_s")), health.auth_verdict(onvif.get("auth"))]
    return [v for v in found if v.level != health.OK]


def host_health(host: dict[str, Any]) -> tuple[str, list[str]]:
    """Return a host's health and its reasons in English (problems first), judged by inventory/health.py."""
    verdicts = sorted(host_verdicts(host), key=lambda v: v.level != health.PROBLEM)
    return health.level_of(verdicts), [health.render_reason(v.code, v.params) for v in verdicts]


class _Matcher:
    """Indexes of the inventory's devices by each identity key."""

    def __init__(self, session: Session, site: Site) -> None:
        keys = (Device.onvif_endpoint.is_not(None)) | (Device.mac.is_not(None)) | (Device.serial.is_not(None))
        devices = list(session.scalars(select(Device).where(keys | (Device.site_id == site.id))))
        self.by_endpoint = {d.onvif_endpoint: d for d in devices if d.onvif_endpoint}
        self.by_mac = {d.mac: d for d in devices if d.mac}
        self.by_serial = {((d.manufacturer or "").casefold(), d.serial): d for d in devices if d.serial}
        self.by_ip = {d.ip: d for d in devices if d.site_id == site.id and d.ip}
        self.site_devices = [d for d in devices if d.site_id == site.id]
        self.used: set[int] = set()

    def match(self, h: _Host) -> tuple[Device | None, str]:
        serial_key = ((h.manufacturer or "").casefold(), h.serial or "")
        for key, device in (
            ("onvif_endpoint", self.by_endpoint.get(h.endpoint) if h.endpoint else None),
            ("mac", self.by_mac.get(h.mac) if h.mac else None),
            ("serial", self.by_serial.get(serial_key) if h.serial else None),
            ("ip", self._by_ip(h)),
        ):
            if device is not None and device.id not in self.used:
                self.used.add(device.id)
                return device, key
        return None, ""

    def _by_ip(self, h: _Host) -> Device | None:
        d = self.by_ip.get(h.ip)
        if d is None:
            return None
        contradicts = (
            (d.mac and h.mac and d.mac != h.mac)
            or (d.onvif_endpoint and h.endpoint and d.onvif_endpoint != h.endpoint)
            or (d.serial and h.serial and d.serial != h.serial)
        )
        return None if contradicts else d


def _observed_fields(h: _Host) -> dict[str, str | None]:
    o = h.onvif
    return {
        "ip": h.ip, "mac": h.mac, "onvif_endpoint": h.endpoint, "manufacturer": h.manufacturer,
        "model": o.get("model") or None, "firmware": o.get("firmware") or None, "serial": h.serial,
    }


_CHANGE_KIND = {"ip": "moved_ip", "firmware": "new_firmware", "mac": "changed_mac", "model": "changed_model",
                "manufacturer": "changed_model", "serial": "changed_serial", "onvif_endpoint": "changed_endpoint"}


def _changes(survey: Survey, device: Device, h: _Host) -> list[Finding]:
    found = []
    for name, observed in _observed_fields(h).items():
        current = getattr(device, name)
        if observed is None or observed == current:
            continue
        kind = _CHANGE_KIND[name] if current else "new_identity"
        verb = f"changed from {current} to {observed}" if current else f"is {observed} (not in the inventory yet)"
        found.append(Finding(
            survey_id=survey.id, device_id=device.id, kind=kind, field=name, inventory_value=current,
            observed_value=observed, message=f"{device.name}: {name} {verb}; apply it if this is right",
        ))
    if device.site_id != survey.site_id:
        found.append(Finding(
            survey_id=survey.id, device_id=device.id, kind="other_site", field=None, inventory_value=None,
            observed_value=h.ip, message=f"{device.name} belongs to another site but was found here at {h.ip}",
        ))
    return found


def _identity(h: _Host) -> dict[str, Any]:
    raw = h.raw
    onvif = {k: v for k, v in h.onvif.items() if k in ("endpoint", "manufacturer", "model", "firmware", "serial",
                                                           "hardware_id", "profiles", "xaddrs")}
    return {"mac": h.mac, "vendor": raw.get("vendor"), "kind": raw.get("kind"),
            "open_ports": list(raw.get("open_ports") or []), "onvif": onvif or None}


def _identity_keys(identity: dict[str, Any], ip: str) -> set[str]:
    onvif = identity.get("onvif") or {}
    keys = {f"endpoint:{onvif['endpoint']}"} if onvif.get("endpoint") else set()
    if identity.get("mac"):
        keys.add(f"mac:{identity['mac']}")
    return keys or {f"ip:{ip}"}


def _snapshot(survey: Survey, h: _Host, device: Device | None, taken_at: datetime) -> SurveySnapshot | None:
    snap = h.raw.get("snapshot") or {}
    data = snap.get("jpeg_base64")
    if not data:
        return None
    try:
        jpeg = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SurveyError(f"hosts[{h.index}].snapshot.jpeg_base64", "is not valid base64") from None
    return SurveySnapshot(
        survey_id=survey.id, device_id=device.id if device else None, ip=h.ip, source=str(snap.get("source") or ""),
        uri=str(snap.get("uri") or ""), width=snap.get("width"), height=snap.get("height"), jpeg=jpeg,
        taken_at=taken_at,
    )


def _in_networks(ip: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if ip is None:
        return False
    addr = ipaddress.ip_address(ip)
    return any(addr in n for n in networks)


def _networks(document: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    networks = document.get("networks")
    if networks is not None and not isinstance(networks, list):
        raise SurveyError("networks", "must be a list of networks in CIDR form")
    for n in networks or []:
        if not isinstance(n, str):
            raise SurveyError("networks", f"{n!r} is not a network in CIDR form")
        try:
            nets.append(ipaddress.ip_network(str(n), strict=False))
        except ValueError:
            raise SurveyError("networks", f"{n!r} is not a network in CIDR form") from None
    return nets


def _result_of(session: Session, survey: Survey, duplicate: bool) -> IngestResult:
    findings = session.scalars(select(Finding).where(Finding.survey_id == survey.id).order_by(Finding.id))
    sighted = select(CandidateSighting.candidate_id).where(CandidateSighting.survey_id == survey.id)
    candidates = session.scalars(select(Candidate).where(
        (Candidate.survey_id == survey.id) | Candidate.id.in_(sighted)).order_by(Candidate.id))
    observations = list(session.scalars(select(Observation).where(Observation.survey_id == survey.id)))
    ips = {o.values["ip"]: o.device_id for o in observations if o.values.get("found")}
    keys = {o.values["ip"]: o.values["matched_by"] for o in observations if o.values.get("found")}
    return IngestResult(
        survey_id=survey.id, site_id=survey.site_id, duplicate=duplicate, matched=ips, match_keys=keys,
        findings=[FindingRecord(f.id, f.survey_id, f.device_id, f.candidate_id, f.kind, f.field,
                                f.inventory_value, f.observed_value, f.message) for f in findings],
        candidates=[CandidateRecord(c.id, c.survey_id, c.site_id, c.ip, c.state, c.device_id, dict(c.identity))
                    for c in candidates],
        observations=len(observations),
        snapshots=len(survey.snapshots),
    )


def _existing(session: Session, site_id: int, started: datetime, digest: str) -> Survey | None:
    return session.scalar(select(Survey).where(
        Survey.site_id == site_id, Survey.started_at == started, Survey.content_sha256 == digest))


def ingest_survey(session: Session, document: dict[str, Any], *, site_id: int | None = None) -> IngestResult:
    """Store a survey document and compare it with the inventory; return matches, findings and candidates."""
    _check_document(document)
    # Every URI of a host points at that host, without userinfo, before anything is kept (device_uris).
    document, found_uris = bind_survey_uris(document)
    started, finished, hosts = _check_document(document)
    networks = _networks(document)
    site = _find_site(session, document, site_id)
    digest = content_sha256(document)
    existing = _existing(session, site.id, started, digest)
    if existing is not None:
        return _result_of(session, existing, duplicate=True)
    survey = Survey(site_id=site.id, site_name=document["site"], started_at=started, finished_at=finished,
                    content_sha256=digest, document=document)
    try:
        with session.begin_nested():  # a concurrent push of the same survey: keep the stored one
            session.add(survey)
            session.flush()
    except IntegrityError:
        existing = _existing(session, site.id, started, digest)
        if existing is None:
            raise
        return _result_of(session, existing, duplicate=True)
    when = finished or started
    matcher = _Matcher(session, site)
    rejected = _rejected_keys(session, site.id)
    observed: list[Observation] = []
    for h in hosts:
        device, key = matcher.match(h)
        level, reasons = host_health(h.raw)
        candidate_id = None
        if device is not None:
            session.add_all(_changes(survey, device, h))
            values = _values(h, found=True, matched_by=key, reasons=reasons)
            values["verdicts"] = [v.to_dict() for v in host_verdicts(h.raw)]  # codes: words are made at the edge
            observed.append(Observation(device_id=device.id, survey_id=survey.id, kind="survey", observed_at=when,
                                        health=level, values=values))
            session.add(observed[-1])
            update_health(session, device.id, level, when, "; ".join(reasons))
        else:
            candidate_id = _add_candidate(session, survey, site, h, rejected)
        session.add_all(uri_findings(survey.id, h.index, found_uris, device.id if device else None, candidate_id))
        snap = _snapshot(survey, h, device, when)
        if snap is not None:
            session.add(snap)
    session.add_all(uri_findings(survey.id, -1, found_uris, None, None))
    for device in matcher.site_devices:
        if device.id in matcher.used or device.status not in (Status.ACTIVE.value, Status.OFFLINE.value):
            continue
        if not _in_networks(device.ip, networks):
            continue
        session.add(Finding(survey_id=survey.id, device_id=device.id, kind="missing_device", field="ip",
                            inventory_value=device.ip, observed_value=None,
                            message=f"{device.name} ({device.ip}) was not found by the survey; check power and cable"))
        observed.append(Observation(device_id=device.id, survey_id=survey.id, kind="survey", observed_at=when,
                                    health=Health.PROBLEM.value, values={"ip": device.ip, "found": False}))
        session.add(observed[-1])
        update_health(session, device.id, Health.PROBLEM.value, when, "not found by the survey")
    session.flush()
    note_latest(session, observed)  # the survey's verdict counts towards health with the worker's results
    session.flush()
    session.expire(survey, ["snapshots"])
    log.info("%s: survey %s stored (%d hosts)", site.name, survey.id, len(hosts))
    return _result_of(session, survey, duplicate=False)


def _values(h: _Host, *, found: bool, matched_by: str, reasons: list[str]) -> dict[str, Any]:
    raw = h.raw
    onvif = h.onvif
    return {
        "ip": h.ip, "found": found, "matched_by": matched_by, "reasons": reasons,
        "link": raw.get("link"), "open_ports": raw.get("open_ports") or [],
        "onvif": {k: onvif.get(k) for k in ("auth", "clock_offset_s", "firmware")} if onvif else None,
        "streams": [{k: s.get(k) for k in ("uri", "profile", "up", "fps", "width", "height", "frozen", "black",
                                            "bitrate_kbps", "problems", "error")} for s in raw.get("streams") or []],
        "errors": raw.get("errors") or [],
    }


def _rejected_keys(session: Session, site_id: int) -> set[str]:
    stmt = select(Candidate).where(Candidate.site_id == site_id, Candidate.state == CandidateState.REJECTED.value)
    keys: set[str] = set()
    for c in session.scalars(stmt):
        keys |= _identity_keys(c.identity or {}, c.ip)
    return keys


def _add_candidate(session: Session, survey: Survey, site: Site, h: _Host, rejected: set[str]) -> int:
    identity = _identity(h)
    was_rejected = bool(_identity_keys(identity, h.ip) & rejected)
    pending = None if was_rejected else find_pending_duplicate(session, site.id, identity, h.ip, survey.id)
    if pending is not None:  # found again while still pending: one candidate, one more sighting
        record_sighting(session, pending, survey.id, h.ip, identity)
        return pending.id
    candidate = Candidate(survey_id=survey.id, site_id=site.id, ip=h.ip, identity=identity,
                          state=CandidateState.REJECTED.value if was_rejected else CandidateState.PENDING.value)
    session.add(candidate)
    session.flush()
    if was_rejected:
        return candidate.id
    what = maker_and_model(h.manufacturer, h.onvif.get("model")) or h.raw.get("vendor") or "device"
    session.add(Finding(survey_id=survey.id, device_id=None, candidate_id=candidate.id, kind="unknown_device",
                        field=None, inventory_value=None, observed_value=h.ip,
                        message=f"unknown {what} at {h.ip}: accept it into the inventory or reject it"))
    return candidate.id
