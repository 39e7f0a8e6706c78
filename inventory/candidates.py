"""Deciding about candidates (surveyed devices that matched nothing) and about survey findings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sitescout.inventory.choices import CandidateState, DeviceKind, Status
from sitescout.inventory.models import CameraDetails, Candidate, Device, Finding, ValidationError, normalize_mac, utcnow

__all__ = ["accept_candidate", "reject_candidate", "apply_finding", "CHANGE_FIELDS"]

#: Device fields a survey may propose to change (findings of kind "changed").
CHANGE_FIELDS = ("ip", "mac", "firmware", "model", "manufacturer", "serial", "onvif_endpoint")


def _pending(session: Session, candidate_id: int) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise ValidationError("candidate", f"no candidate with id {candidate_id}")
    if candidate.state != CandidateState.PENDING.value:
        raise ValidationError("candidate", f"candidate {candidate_id} is already {candidate.state}")
    return candidate


def accept_candidate(
    session: Session, candidate_id: int, *, name: str | None = None, kind: str | None = None,
    status: str = Status.ACTIVE.value,
) -> int:
    """Create a Device from a pending candidate (identity as surveyed) and return the device id."""
    candidate = _pending(session, candidate_id)
    ident: dict[str, Any] = candidate.identity or {}
    onvif = ident.get("onvif") or {}
    is_camera = bool(onvif) or ident.get("kind") == "camera"
    device = Device(
        site_id=candidate.site_id,
        kind=kind or (DeviceKind.CAMERA.value if is_camera else DeviceKind.OTHER.value),
        name=name or " ".join(p for p in (onvif.get("manufacturer"), onvif.get("model"), candidate.ip) if p),
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
