"""A site's findings as resources: what its surveys noticed, each open, applied or dismissed by a person.

A site's findings are read afresh each time from three sources:

- the rows ingestion wrote (``Finding``: firmware, address, MAC… changed; a device not found; URI
  rules), the newest survey's copy of each;
- the newest survey document's coded findings (``inventory.findings.coded_findings``: link loss,
  clock skew, frozen picture…), which are facts to deal with on site, never applied;
- what a survey says about planned devices and stream addresses: a planned device the survey found
  ("planned camera found", by its planned IP, or a camera candidate at a site with a planned camera
  that has no IP yet), and a camera whose surveyed streams the inventory does not have.

Each has an id ``<survey id>-<key>``, the key a digest of what the finding is about (never of its
words), so a decision (``FindingDecision``) stays attached however often the survey is read again.
Applying changes the inventory as the finding says and nothing else; everything is in the caller's
transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitescout.inventory import changes
from sitescout.inventory.candidates import CHANGE_FIELDS, merge_candidate
from sitescout.inventory.choices import CandidateState, DeviceKind, Status
from sitescout.inventory.db import conflict_message
from sitescout.inventory.errors import Coded
from sitescout.inventory.findings import CodedFinding, coded_findings
from sitescout.inventory.lenient import as_dict, as_list
from sitescout.inventory.network_proposals import apply_network_proposal, network_proposals
from sitescout.inventory.models import (
    CameraDetails, Candidate, Device, Finding, Observation, Site, Survey, ValidationError,
)
from sitescout.inventory.workflow_models import FindingDecision

__all__ = ["SiteFinding", "FindingStateError", "site_findings", "apply_site_finding", "dismiss_site_finding",
           "apply_survey_findings", "log_change", "FINDING_ID"]

log = logging.getLogger(__name__)

#: What a finding id looks like in a URL: the survey id, a dash, 24 hex digits.
FINDING_ID = re.compile(r"^(?P<survey>[1-9][0-9]{0,18})-(?P<key>[0-9a-f]{24})$")

#: Row kinds that say a device field differs from what the survey saw (apply: take the surveyed value).
_CHANGE_KINDS = frozenset({"moved_ip", "new_firmware", "changed_mac", "changed_model", "changed_serial",
                           "changed_endpoint", "new_identity"})
_ROW_SEVERITY = {"missing_device": "problem", "other_site": "warning"}


class FindingStateError(ValidationError):
    """The finding cannot be applied or dismissed as it stands (already decided, not a change, stale)."""


@dataclass(frozen=True)
class SiteFinding:
    """One finding of a site's surveys: a code and parameters (no words), and what a person decided."""

    id: str
    survey_id: int
    code: str
    severity: str
    host: str
    params: dict[str, Any]
    text: str  # stored English words, used only for a code that has no sentence
    status: str  # open | applied | dismissed
    applicable: bool
    device_id: int | None = None
    candidate_id: int | None = None
    reason: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None

    def coded(self) -> CodedFinding:
        """Return the finding as ``inventory.findings`` renders it."""
        return CodedFinding(self.code, self.severity, self.host, dict(self.params), self.text)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (no words: the web adds them in the reader's language)."""
        return {"id": self.id, "survey_id": self.survey_id, "code": self.code, "severity": self.severity,
                "host": self.host, "params": self.params, "status": self.status, "applicable": self.applicable,
                "device_id": self.device_id, "candidate_id": self.candidate_id, "reason": self.reason,
                "decided_by": self.decided_by,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None}


@dataclass
class _Open:
    """A finding as read from the surveys, with what applying it does (None: nothing to apply)."""

    survey_id: int
    key: str
    code: str
    severity: str
    host: str
    params: dict[str, Any]
    text: str = ""
    action: str | None = None  # set_field | offline | activate | streams | merge | network
    device_id: int | None = None
    candidate_id: int | None = None
    row_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.survey_id}-{self.key}"


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def log_change(session: Session, actor: str, action: str, obj: str, obj_id: int | str,
               before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Record who decided what (before and after) in the inventory's change log (``GET /api/v1/changes``).

    ``obj`` is ``site``, ``device``, ``candidate`` or ``finding`` (whose id is ``<survey>-<digest>``);
    the change is filed under the record's site so a site's history shows it.
    """
    site_id, name = _site_of(session, obj, obj_id)
    changes.record_event(session, actor or "-", obj, obj_id, action, before, after, site_id=site_id,
                         object_repr=name)


def _site_of(session: Session, obj: str, obj_id: int | str) -> tuple[int | None, str]:
    """The site a workflow record belongs to (None when it cannot be told), and the record's name."""
    if obj == "finding":
        match = FINDING_ID.match(str(obj_id))
        survey = session.get(Survey, int(match["survey"])) if match else None
        return (survey.site_id if survey is not None else None), ""
    model = {"site": Site, "device": Device, "candidate": Candidate}.get(obj)
    row = session.get(model, int(obj_id)) if model is not None and str(obj_id).isdigit() else None
    name = str(getattr(row, "name", None) or getattr(row, "ip", None) or "")
    if obj == "site" and isinstance(obj_id, int):
        return obj_id, name
    return getattr(row, "site_id", None), name


# ---------------------------------------------------------------------------
# Reading.


def _site_surveys(session: Session, site_id: int) -> list[Survey]:
    stmt = select(Survey).where(Survey.site_id == site_id).order_by(Survey.started_at.desc(), Survey.id.desc())
    return list(session.scalars(stmt))


def _row_findings(session: Session, surveys: list[Survey], devices: dict[int, Device]) -> list[_Open]:
    """The rows ingestion wrote, newest survey first, each finding once (candidates are their own resource)."""
    order = {s.id: n for n, s in enumerate(surveys)}
    if not order:
        return []
    rows = session.scalars(select(Finding).where(Finding.survey_id.in_(list(order)), Finding.kind != "unknown_device"))
    seen_at = {(survey_id, device_id): values.get("ip") for survey_id, device_id, values in session.execute(
        select(Observation.survey_id, Observation.device_id, Observation.values)
        .where(Observation.survey_id.in_(list(order)), Observation.kind == "survey"))}
    found: dict[str, _Open] = {}
    said: dict[tuple[Any, ...], int] = {}  # (device, field or kind) → the newest survey that spoke of it
    for row in sorted(rows, key=lambda r: (order[r.survey_id], r.id)):
        device = devices.get(row.device_id) if row.device_id is not None else None
        if (
            row.kind in _CHANGE_KINDS
            and device is not None
            and getattr(device, row.field or "", None) == row.observed_value
        ):
            continue  # the inventory says so already: nothing left to decide
        subject = (row.device_id, row.candidate_id, row.field if row.kind in _CHANGE_KINDS else row.kind)
        if said.setdefault(subject, row.survey_id) != row.survey_id:
            continue  # an older survey's word on what a newer one says again
        key = _key("row", row.kind, row.field, row.device_id, row.candidate_id, row.inventory_value, row.observed_value)
        if key in found:
            continue
        host = str(
            seen_at.get((row.survey_id, row.device_id)) or _row_address(row) or (device.ip if device else "") or ""
        )
        params = {"device": device.name if device else "", "field": row.field or "", "old": row.inventory_value,
                  "new": row.observed_value, "ip": host}
        action = None
        if row.kind in _CHANGE_KINDS and row.field in CHANGE_FIELDS and device is not None:
            action = "set_field"
        elif row.kind == "missing_device" and device is not None and device.status == Status.ACTIVE.value:
            action = "offline"
        severity = _ROW_SEVERITY.get(row.kind, "warning" if row.kind.startswith("uri_") else "info")
        found[key] = _Open(row.survey_id, key, row.kind, severity, host, params, row.message, action, row.device_id,
                           row.candidate_id, row.id)
    return list(found.values())


def _row_address(row: Finding) -> str | None:
    """The address a row speaks of, where the row itself holds it.

    Not found: the inventory's; URI rules: the host's.
    """
    if row.kind in ("moved_ip", "other_site"):
        return row.observed_value
    if row.kind == "missing_device" or row.kind.startswith("uri_"):
        return row.inventory_value
    return None


def _document_findings(survey: Survey) -> list[_Open]:
    found: dict[str, _Open] = {}
    for f in coded_findings(survey.document or {}):
        key = _key("doc", f.code, f.host, f.params)
        found.setdefault(key, _Open(survey.id, key, f.code, f.severity, f.host, dict(f.params), f.text))
    return list(found.values())


def _surveyed_profiles(survey: Survey, ip: str) -> list[dict[str, Any]]:
    for host in map(as_dict, as_list((survey.document or {}).get("hosts"))):
        if host.get("ip") == ip:
            return [p for p in map(as_dict, as_list(as_dict(host.get("onvif")).get("profiles"))) if p]
    return []


def _found_devices(session: Session, survey: Survey, devices: dict[int, Device]) -> list[_Open]:
    """Planned devices the newest survey found, and cameras whose surveyed streams the inventory lacks."""
    found = []
    stmt = select(Observation).where(Observation.survey_id == survey.id, Observation.kind == "survey")
    for obs in session.scalars(stmt):
        values = obs.values or {}
        device = devices.get(obs.device_id)
        if device is None or not values.get("found"):
            continue
        ip = str(values.get("ip") or "")
        is_camera = device.kind == DeviceKind.CAMERA.value
        if device.status == Status.PLANNED.value:
            code = "planned_camera_found" if is_camera else "planned_device_found"
            found.append(_Open(survey.id, _key("planned", device.id, ip), code, "info", ip,
                               {"device": device.name, "ip": ip}, action="activate", device_id=device.id,
                               extra={"ip": ip}))
        camera = device.camera
        has_streams = camera is not None and (camera.stream_uris or any(
            as_dict(p).get("stream_uri") for p in as_list(camera.profiles)))
        profiles = _surveyed_profiles(survey, ip)
        uris = sorted({str(p["stream_uri"]) for p in profiles if p.get("stream_uri")})
        if is_camera and not has_streams and uris:
            found.append(_Open(survey.id, _key("streams", device.id, uris), "new_streams", "info", ip,
                               {"device": device.name, "count": len(uris)}, action="streams",
                               device_id=device.id, extra={"ip": ip}))
    return found


def _is_camera(candidate: Candidate) -> bool:
    identity = candidate.identity or {}
    return bool(identity.get("onvif")) or identity.get("kind") == "camera"


def _planned_candidates(session: Session, site_id: int, devices: dict[int, Device]) -> list[_Open]:
    """A camera candidate at a site with a planned camera: its planned IP, else the planned cameras without one."""
    planned = sorted((d for d in devices.values() if d.site_id == site_id and d.status == Status.PLANNED.value
                      and d.kind == DeviceKind.CAMERA.value), key=lambda d: (d.name, d.id))
    if not planned:
        return []
    stmt = select(Candidate).where(Candidate.site_id == site_id, Candidate.state == CandidateState.PENDING.value)
    cameras = [c for c in session.scalars(stmt.order_by(Candidate.id)) if _is_camera(c)]
    by_ip = {d.ip: d for d in planned if d.ip}
    free = [d for d in planned if not d.ip]
    found = []
    for candidate in cameras:
        device = by_ip.pop(candidate.ip, None) or (free.pop(0) if free else None)
        if device is None:
            continue
        found.append(_Open(candidate.survey_id, _key("planned_candidate", device.id, candidate.id),
                           "planned_camera_found", "info", candidate.ip, {"device": device.name, "ip": candidate.ip},
                           action="merge", device_id=device.id, candidate_id=candidate.id))
    return found


def _open_findings(session: Session, site_id: int) -> list[_Open]:
    surveys = _site_surveys(session, site_id)
    if not surveys:
        return []
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.site_id == site_id))}
    found = _row_findings(session, surveys, devices)
    found += _found_devices(session, surveys[0], devices)
    found += _planned_candidates(session, site_id, devices)
    found += _document_findings(surveys[0])
    found += [_Open(surveys[0].id, _key("network", p.key), p.code, p.severity, p.host, p.params, action="network",
                    device_id=p.device_id, extra=p.spec) for p in network_proposals(session, surveys[0], devices)]
    return found


def _decisions(session: Session, site_id: int) -> dict[str, FindingDecision]:
    rows = session.scalars(select(FindingDecision).where(FindingDecision.site_id == site_id))
    return {f"{d.survey_id}-{d.finding_key}": d for d in rows}


def _view(f: _Open, decision: FindingDecision | None) -> SiteFinding:
    status = decision.state if decision is not None else "open"
    return SiteFinding(
        id=f.id, survey_id=f.survey_id, code=f.code, severity=f.severity, host=f.host, params=f.params, text=f.text,
        status=status, applicable=f.action is not None and status == "open", device_id=f.device_id,
        candidate_id=f.candidate_id, reason=decision.reason if decision else "",
        decided_by=decision.decided_by if decision else "", decided_at=decision.decided_at if decision else None)


def _decided_view(d: FindingDecision) -> SiteFinding:
    return SiteFinding(id=f"{d.survey_id}-{d.finding_key}", survey_id=d.survey_id, code=d.code, severity=d.severity,
                       host=d.host, params=dict(d.params or {}), text=d.text, status=d.state, applicable=False,
                       reason=d.reason, decided_by=d.decided_by, decided_at=d.decided_at)


_SEVERITY_ORDER = {"problem": 0, "warning": 1, "info": 2}
#: The order "apply all" applies a survey's changes in (by what applying does).
_APPLY_ORDER = ("set_field", "activate", "merge", "streams", "offline", "network")


def site_findings(session: Session, site_id: int, *, status: str | None = None) -> list[SiteFinding]:
    """Return a site's findings: open ones first (problems first), then the decided ones, newest decision first."""
    decisions = _decisions(session, site_id)
    views = [_view(f, decisions.pop(f.id, None)) for f in _open_findings(session, site_id)]
    views += [_decided_view(d) for d in decisions.values()]
    views.sort(key=lambda v: (v.status != "open", _SEVERITY_ORDER.get(v.severity, 3),
                              -(v.decided_at.timestamp() if v.decided_at else 0)))
    return [v for v in views if status is None or v.status == status]


# ---------------------------------------------------------------------------
# Deciding.


def _decided_already(state: str) -> str:
    return Coded("finding_decided", "this finding is already %(state)s", state=state)


def _find_open(session: Session, site_id: int, finding_id: str) -> tuple[_Open, FindingDecision | None]:
    if not FINDING_ID.match(finding_id or ""):
        raise LookupError(Coded("no_finding", "no finding %(id)r at this site", id=(finding_id or "")[:40]))
    for f in _open_findings(session, site_id):
        if f.id == finding_id:
            return f, _decisions(session, site_id).get(finding_id)
    decided = _decisions(session, site_id).get(finding_id)
    if decided is not None:
        raise FindingStateError("finding", _decided_already(decided.state))
    raise LookupError(Coded("no_finding", "no finding %(id)r at this site", id=finding_id[:40]))


def _decide(session: Session, site_id: int, f: _Open, state: str, actor: str, reason: str) -> SiteFinding:
    decision = FindingDecision(site_id=site_id, survey_id=f.survey_id, finding_key=f.key, code=f.code,
                               severity=f.severity, host=f.host[:45], params=f.params, text=f.text, state=state,
                               reason=reason, decided_by=actor[:100])
    session.add(decision)
    session.flush()
    log_change(session, actor, state, "finding", f.id, {"status": "open"}, {"status": state, "reason": reason})
    return _view(f, decision)


def dismiss_site_finding(session: Session, site_id: int, finding_id: str, *, actor: str, reason: str) -> SiteFinding:
    """Dismiss an open finding with the reason a person gives (it stays dismissed).

    Raises:
        LookupError: no such finding at this site.
        FindingStateError: already applied or dismissed.
        ValidationError: no reason given.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason", Coded("dismiss_reason_empty", "say why this finding is dismissed (e.g. "
                                                                       "\"camera replaced on purpose\")"))
    f, decided = _find_open(session, site_id, finding_id)
    if decided is not None:
        raise FindingStateError("finding", _decided_already(decided.state))
    return _decide(session, site_id, f, "dismissed", actor, reason)


def apply_site_finding(session: Session, site_id: int, finding_id: str, *, actor: str) -> SiteFinding:
    """Change the inventory as an open finding says, and mark it applied.

    Raises:
        LookupError: no such finding at this site.
        FindingStateError: already decided, not a change that can be applied, or the inventory changed since.
        ValidationError: the change breaks a rule of the inventory (an address, a URI binding…).
    """
    f, decided = _find_open(session, site_id, finding_id)
    if decided is not None:
        raise FindingStateError("finding", _decided_already(decided.state))
    if f.action is None:
        raise FindingStateError("finding", Coded("finding_not_a_change", "this finding is not a change to the "
                                                 "inventory; deal with it on site, then dismiss it with what was done"))
    device = session.get(Device, f.device_id) if f.device_id is not None else None
    if device is None:
        raise FindingStateError("finding", Coded("finding_device_gone", "the device of this finding no longer exists"))
    before = {"status": device.status}
    if f.action == "set_field":
        _apply_field(session, f, device)
    elif f.action == "offline":
        device.status = Status.OFFLINE.value
    elif f.action == "activate":
        _activate(device, str(f.extra.get("ip") or ""))
    elif f.action == "streams":
        _record_streams(session, f, device)
    elif f.action == "merge":
        assert f.candidate_id is not None
        merge_candidate(session, f.candidate_id, device.id)
    elif f.action == "network":  # interfaces and cables from the survey's SNMP stage
        apply_network_proposal(session, f.extra, actor)
    session.flush()
    log_change(session, actor, f"apply {f.code}", "device", device.id, before, {"status": device.status})
    return _decide(session, site_id, f, "applied", actor, "")


def _apply_field(session: Session, f: _Open, device: Device) -> None:
    row = session.get(Finding, f.row_id)
    assert row is not None and row.field is not None
    current = getattr(device, row.field)
    if current is not None and current != row.inventory_value:
        raise FindingStateError(row.field, Coded("finding_outdated", "the device's %(field)s is now %(current)s, not "
                                                 "%(surveyed)s as when surveyed; survey again or edit the device",
                                                 field=row.field, current=current, surveyed=row.inventory_value))
    setattr(device, row.field, row.observed_value)


def _activate(device: Device, ip: str) -> None:
    if device.status != Status.PLANNED.value:
        raise FindingStateError("status", Coded("finding_not_planned", "the device is %(state)s now, no longer planned",
                                                state=device.status))
    if device.ip is None and ip:
        device.ip = ip
    device.status = Status.ACTIVE.value


def _record_streams(session: Session, f: _Open, device: Device) -> None:
    survey = session.get(Survey, f.survey_id)
    assert survey is not None
    profiles = _surveyed_profiles(survey, str(f.extra.get("ip") or ""))
    if device.camera is None:
        device.camera = CameraDetails()
    device.camera.profiles = profiles
    device.camera.stream_uris = sorted({str(p["stream_uri"]) for p in profiles if p.get("stream_uri")})


def apply_survey_findings(session: Session, site_id: int, survey_id: int, *,
                          actor: str) -> tuple[list[SiteFinding], dict[str, str]]:
    """Apply every open change of one survey of the site ("apply all from this survey").

    Each is applied on its own (a savepoint each): one the inventory refuses is left open and named
    in the second value (finding id → why), the others are applied.

    Raises:
        LookupError: the site has no such survey.
    """
    survey = session.get(Survey, survey_id)
    if survey is None or survey.site_id != site_id:
        raise LookupError(Coded("no_survey", "this site has no survey %(id)s", id=survey_id))
    # An address first: the camera's streams, found at its new address, are bound to it afterwards.
    opened = [f for f in _open_findings(session, site_id) if f.action is not None and f.survey_id == survey_id]
    decided = _decisions(session, site_id)
    opened.sort(key=lambda f: _APPLY_ORDER.index(f.action) if f.code != "moved_ip" else -1)
    wanted = [f.id for f in opened if f.id not in decided]
    applied: list[SiteFinding] = []
    refused: dict[str, str] = {}
    for finding_id in wanted:
        try:
            with session.begin_nested():
                applied.append(apply_site_finding(session, site_id, finding_id, actor=actor))
        except (ValidationError, LookupError) as err:
            refused[finding_id] = getattr(err, "message", str(err))
        except IntegrityError as err:
            refused[finding_id] = conflict_message(err) or "this conflicts with another record"
    return applied, refused
