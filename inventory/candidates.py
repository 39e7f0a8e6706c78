"""Deciding about candidates (surveyed devices that matched nothing) and about survey findings.

A candidate is accepted as a new device, merged into an existing one (the device takes the
surveyed facts; its credential is left alone; its URIs follow ``sitescout.device_uris``), or
rejected.  The same unknown device found again by a later survey while its candidate is still
pending (same MAC, same ONVIF endpoint, or the same IP at the same site when neither survey saw a
MAC) is that candidate with one more sighting (``find_pending_duplicate``, ``record_sighting``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitescout.device_names import maker_and_model
from sitescout.inventory.choices import CandidateState, DeviceKind, Status
from sitescout.inventory.errors import Coded
from sitescout.inventory.models import CameraDetails, Candidate, Device, Finding, ValidationError, normalize_mac, utcnow
from sitescout.inventory.survey_uris import bind_identity_uris
from sitescout.inventory.workflow_models import CandidateSighting

__all__ = ["accept_candidate", "reject_candidate", "merge_candidate", "apply_finding", "find_pending_duplicate",
           "record_sighting", "sighting_counts", "CHANGE_FIELDS", "IDENTITY_FIELDS"]

#: Device fields a merge copies from the candidate's surveyed identity.
IDENTITY_FIELDS = ("ip", "mac", "vendor", "manufacturer", "model", "firmware", "serial", "onvif_endpoint")

#: Device fields a survey may propose to change (findings of kind "changed").
CHANGE_FIELDS = ("ip", "mac", "firmware", "model", "manufacturer", "serial", "onvif_endpoint")


def _pending(session: Session, candidate_id: int) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise ValidationError("candidate", Coded("no_candidate", "no candidate with id %(id)s", id=candidate_id))
    if candidate.state != CandidateState.PENDING.value:
        raise ValidationError("candidate", Coded("candidate_decided", "candidate %(id)s is already %(state)s",
                                                 id=candidate_id, state=candidate.state))
    return candidate


def accept_candidate(
    session: Session, candidate_id: int, *, name: str | None = None, kind: str | None = None,
    status: str = Status.ACTIVE.value,
) -> int:
    """Create a Device from a pending candidate (identity as surveyed) and return the device id."""
    candidate = _pending(session, candidate_id)
    # The URIs the camera record gets point at the candidate's own address (re-based if a row says otherwise).
    ident: dict[str, Any] = bind_identity_uris(candidate.identity or {}, candidate.ip)
    onvif = ident.get("onvif") or {}
    is_camera = bool(onvif) or ident.get("kind") == "camera"
    device = Device(
        site_id=candidate.site_id,
        kind=kind or (DeviceKind.CAMERA.value if is_camera else DeviceKind.OTHER.value),
        name=name or " ".join(p for p in (maker_and_model(onvif.get("manufacturer"), onvif.get("model")), candidate.ip)
                              if p),
        ip=candidate.ip,
        mac=normalize_mac(ident.get("mac")),
        vendor=ident.get("vendor"),
        manufacturer=onvif.get("manufacturer") or None,
        model=onvif.get("model") or None,
        firmware=onvif.get("firmware") or None,
        serial=onvif.get("serial") or None,
        onvif_endpoint=onvif.get("endpoint") or None,
        status=status,
    )
    if is_camera:
        profiles = onvif.get("profiles") or []
        uris = sorted({p["stream_uri"] for p in profiles if p.get("stream_uri")})
        device.camera = CameraDetails(profiles=profiles, stream_uris=uris)
    session.add(device)
    session.flush()
    candidate.state = CandidateState.ACCEPTED.value
    candidate.device_id = device.id
    candidate.decided_at = utcnow()
    session.flush()
    return device.id


def reject_candidate(session: Session, candidate_id: int) -> None:
    """Mark a pending candidate rejected; later surveys finding the same device will not ask again."""
    candidate = _pending(session, candidate_id)
    candidate.state = CandidateState.REJECTED.value
    candidate.decided_at = utcnow()
    session.flush()


def apply_finding(session: Session, finding_id: int) -> None:
    """Copy a finding's observed value into its device (a person's decision, never automatic)."""
    finding = session.get(Finding, finding_id)
    if finding is None or finding.device_id is None or finding.field not in CHANGE_FIELDS:
        raise ValidationError("finding", f"finding {finding_id} is not a change that can be applied to a device")
    device = session.get(Device, finding.device_id)
    assert device is not None
    setattr(device, finding.field, finding.observed_value)
    session.flush()


def _surveyed_facts(candidate: Candidate) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the device fields a candidate's survey saw, and its identity with URIs bound to its address."""
    ident: dict[str, Any] = bind_identity_uris(candidate.identity or {}, candidate.ip)
    onvif = ident.get("onvif") or {}
    facts = {
        "ip": candidate.ip, "mac": normalize_mac(ident.get("mac")), "vendor": ident.get("vendor") or None,
        "manufacturer": onvif.get("manufacturer") or None, "model": onvif.get("model") or None,
        "firmware": onvif.get("firmware") or None, "serial": onvif.get("serial") or None,
        "onvif_endpoint": onvif.get("endpoint") or None,
    }
    return facts, ident


def merge_candidate(session: Session, candidate_id: int, device_id: int) -> int:
    """Merge a pending candidate into an existing device of its site and return the device id.

    The device takes the surveyed facts (address, MAC, maker, model, firmware, serial, ONVIF endpoint
    and, for a camera, the surveyed profiles and stream URIs, bound to the device's address); its name,
    notes and credential are left as they were.  A planned device becomes active: it is there.

    Raises:
        ValidationError: no such device, a device of another site, a retired device, or a URI that does
            not point at the device (``sitescout.device_uris``).  A MAC or endpoint another device has
            is a ConflictError when the transaction commits.
    """
    candidate = _pending(session, candidate_id)
    device = session.get(Device, device_id)
    if device is None:
        raise ValidationError("device_id", Coded("no_device", "no device with id %(id)s", id=device_id))
    if device.site_id != candidate.site_id:
        raise ValidationError("device_id", Coded("merge_other_site", "this device belongs to another site; merge a "
                                                 "candidate into a device of the site where it was found"))
    if device.status == Status.RETIRED.value:
        raise ValidationError("device_id", Coded("merge_retired", "this device is retired; accept the candidate as a "
                                                 "new device instead"))
    facts, ident = _surveyed_facts(candidate)
    for name, value in facts.items():
        if value is not None and getattr(device, name) != value:
            setattr(device, name, value)
    if device.status == Status.PLANNED.value:
        device.status = Status.ACTIVE.value
    onvif = ident.get("onvif") or {}
    profiles = onvif.get("profiles") or []
    if profiles:
        if device.camera is None:
            device.camera = CameraDetails()
        device.camera.profiles = profiles
        device.camera.stream_uris = sorted({p["stream_uri"] for p in profiles if p.get("stream_uri")})
    session.flush()
    candidate.state = CandidateState.ACCEPTED.value
    candidate.device_id = device.id
    candidate.decided_at = utcnow()
    session.flush()
    return device.id


def find_pending_duplicate(session: Session, site_id: int, identity: dict[str, Any], ip: str,
                           survey_id: int) -> Candidate | None:
    """Return the pending candidate of an earlier survey at this site that is the same device, or None.

    The same device: the same MAC, or the same ONVIF endpoint, or — when neither has a MAC — the same IP.
    """
    stmt = (select(Candidate)
            .where(Candidate.site_id == site_id, Candidate.state == CandidateState.PENDING.value,
                   Candidate.survey_id != survey_id)
            .order_by(Candidate.id))
    mac = identity.get("mac")
    endpoint = (identity.get("onvif") or {}).get("endpoint")
    for candidate in session.scalars(stmt):
        known = candidate.identity or {}
        if mac and known.get("mac") == mac:
            return candidate
        if endpoint and (known.get("onvif") or {}).get("endpoint") == endpoint:
            return candidate
        if not mac and not known.get("mac") and candidate.ip == ip:
            return candidate
    return None


def record_sighting(session: Session, candidate: Candidate, survey_id: int, ip: str,
                    identity: dict[str, Any]) -> None:
    """Count one more survey that found this candidate's device; keep its newest surveyed identity and address."""
    session.add(CandidateSighting(candidate_id=candidate.id, survey_id=survey_id, ip=ip))
    candidate.identity = dict(identity)
    taken = session.scalar(select(Candidate.id).where(Candidate.survey_id == candidate.survey_id,
                                                      Candidate.ip == ip, Candidate.id != candidate.id))
    if taken is None and candidate.ip != ip:  # the device moved: the newest address is the one to use
        candidate.ip = ip
    session.flush()


def sighting_counts(session: Session, candidate_ids: Collection[int]) -> dict[int, int]:
    """Return how many surveys found each candidate (its own survey and every later sighting)."""
    ids = sorted(set(candidate_ids))
    counts = {c: 1 for c in ids}
    if ids:
        stmt = (select(CandidateSighting.candidate_id, func.count())
                .where(CandidateSighting.candidate_id.in_(ids)).group_by(CandidateSighting.candidate_id))
        for candidate_id, n in session.execute(stmt):
            counts[candidate_id] += n
    return counts
