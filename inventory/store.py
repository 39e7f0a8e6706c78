"""The functions web/ and the command line call: plain records in and out, one session each.

Health comes from the latest observations (``DeviceHealth``), never from the curated
status: only devices meant to be running (active or offline) count towards a site's
health, and a site with no observation at all is "unknown".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sitescout.inventory.alerts import site_alert_health
from sitescout.inventory.auth import (
    TokenGrant,
    check_token,
    check_user,
    create_token,
    create_user,
    end_web_session,
    find_token,
    find_web_session,
    start_web_session,
)
from sitescout.inventory.candidates import accept_candidate, reject_candidate
from sitescout.inventory.choices import CandidateState, Health
from sitescout.inventory.ingest import ingest_survey
from sitescout.inventory.models import (
    CameraDetails,
    Candidate,
    Commune,
    Device,
    DeviceHealth,
    Finding,
    Observation,
    Region,
    Site,
    Survey,
    SurveySnapshot,
)
from sitescout.inventory.observations import Recorded, accept_observations, record_observations
from sitescout.inventory.health_evidence import device_reasons
from sitescout.inventory.records import (
    CameraSummary,
    CandidateRecord,
    DeviceSummary,
    FindingRecord,
    IngestResult,
    ObservationRecord,
    SiteDetail,
    SiteSummary,
    SurveySummary,
)
from sitescout.inventory.sd_targets import (
    MONITORED,
    camera_streams,
    prometheus_targets,
    prometheus_targets_json,
    target_device_ids,
)
from sitescout.inventory.search import LIKE_ESCAPE, contains_pattern, fold

__all__ = [
    "list_sites",
    "get_site",
    "list_devices",
    "ingest_survey",
    "record_observations",
    "accept_observations",
    "Recorded",
    "target_device_ids",
    "prometheus_targets",
    "prometheus_targets_json",
    "camera_streams",
    "accept_candidate",
    "reject_candidate",
    "list_candidates",
    "create_token",
    "check_token",
    "find_token",
    "TokenGrant",
    "start_web_session",
    "find_web_session",
    "end_web_session",
    "create_user",
    "check_user",
    "get_survey_document",
    "get_snapshot",
    "device_observations",
    "site_health",
    "IngestResult",
]

log = logging.getLogger(__name__)

_WORST_FIRST = (Health.PROBLEM.value, Health.WARNING.value, Health.OK.value)


def site_health(counts: dict[str, int]) -> str:
    """Return a site's health from the count of its monitored devices per health."""
    for health in _WORST_FIRST:
        if counts.get(health):
            return health
    return Health.UNKNOWN.value


def _health_counts(session: Session, site_ids: list[int] | None) -> dict[int, dict[str, int]]:
    health = func.coalesce(DeviceHealth.health, Health.UNKNOWN.value)
    stmt = (
        select(Device.site_id, health, func.count())
        .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
        .where(Device.status.in_(MONITORED))
        .group_by(Device.site_id, health)
    )
    if site_ids is not None:
        stmt = stmt.where(Device.site_id.in_(site_ids))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for site_id, h, n in session.execute(stmt):
        counts[site_id][h] = n
    return counts


def _site_rows(session: Session, *, query: str | None = None, site_id: int | None = None) -> list[Any]:
    stmt = (
        select(
            Site.id, Site.name, Site.kind, Site.status, Site.latitude, Site.longitude,
            Commune.name, Region.name, Site.is_demo, Site.address, Site.contact,
        )
        .join(Commune, Commune.id == Site.commune_id)
        .join(Region, Region.id == Commune.region_id)
        .order_by(Region.name, Commune.name, Site.name)
    )
    if site_id is not None:
        stmt = stmt.where(Site.id == site_id)
    if query and fold(query):
        # "%" or "_" typed in a search are letters, not wildcards (a "%" matched every site).
        pattern = contains_pattern(query)
        stmt = stmt.where(or_(Site.name_folded.like(pattern, escape=LIKE_ESCAPE),
                              Commune.name_folded.like(pattern, escape=LIKE_ESCAPE)))
    return list(session.execute(stmt))


def _summary(row: Any, counts: dict[str, int], alert_health: str | None = None) -> SiteSummary:
    # A firing alert makes its site a problem (or a warning) even before any observation arrives.
    health = site_health(counts) if alert_health is None else site_health({alert_health: 1, **counts})
    return SiteSummary(
        id=row[0], name=row[1], kind=row[2], status=row[3], latitude=row[4], longitude=row[5],
        commune=row[6], region=row[7], is_demo=bool(row[8]), health=health,
        device_count=sum(counts.values()),
        problem_count=counts.get(Health.PROBLEM.value, 0), warning_count=counts.get(Health.WARNING.value, 0),
    )


def list_sites(session: Session, *, query: str | None = None, problems_only: bool = False) -> list[SiteSummary]:
    """Return sites (search ignores case and diacritics); problems_only keeps problem sites only."""
    rows = _site_rows(session, query=query)
    ids = None if len(rows) > 500 else [r[0] for r in rows]
    counts, alerting = _health_counts(session, ids), site_alert_health(session, ids)
    sites = [_summary(row, counts.get(row[0], {}), alerting.get(row[0])) for row in rows]
    if problems_only:
        sites = [s for s in sites if s.health == Health.PROBLEM.value]
    return sites


def _camera(c: CameraDetails | None) -> CameraSummary | None:
    if c is None:
        return None
    return CameraSummary(
        mount_latitude=c.mount_latitude, mount_longitude=c.mount_longitude, height_m=c.height_m,
        heading_deg=c.heading_deg, hfov_deg=c.hfov_deg,
        profiles=list(c.profiles or []), stream_uris=list(c.stream_uris or []),
    )


def _device(d: Device, h: DeviceHealth | None, c: CameraDetails | None) -> DeviceSummary:
    return DeviceSummary(
        id=d.id, site_id=d.site_id, kind=d.kind, name=d.name, ip=d.ip, mac=d.mac, vendor=d.vendor,
        manufacturer=d.manufacturer, model=d.model, firmware=d.firmware, serial=d.serial,
        onvif_endpoint=d.onvif_endpoint, status=d.status,
        health=h.health if h else Health.UNKNOWN.value, health_reason=h.reason if h else "",
        observed_at=h.observed_at if h else None, has_credential=d.credential_encrypted is not None,
        camera=_camera(c),
    )


def list_devices(session: Session, *, site_id: int | None = None) -> list[DeviceSummary]:
    """Return devices (of one site, or all) with their latest observed health."""
    stmt = (
        select(Device, DeviceHealth, CameraDetails)
        .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
        .outerjoin(CameraDetails, CameraDetails.device_id == Device.id)
        .order_by(Device.site_id, Device.name)
    )
    if site_id is not None:
        stmt = stmt.where(Device.site_id == site_id)
    return [_device(d, h, c) for d, h, c in session.execute(stmt)]


def _finding(f: Finding) -> FindingRecord:
    return FindingRecord(
        id=f.id, survey_id=f.survey_id, device_id=f.device_id, candidate_id=f.candidate_id, kind=f.kind,
        field=f.field, inventory_value=f.inventory_value, observed_value=f.observed_value, message=f.message,
    )


def _candidate(c: Candidate) -> CandidateRecord:
    return CandidateRecord(
        id=c.id, survey_id=c.survey_id, site_id=c.site_id, ip=c.ip, state=c.state,
        device_id=c.device_id, identity=dict(c.identity or {}),
    )


def list_candidates(
    session: Session, *, site_id: int | None = None, state: str | None = "pending"
) -> list[CandidateRecord]:
    """Return candidates (pending by default; state=None for all)."""
    stmt = select(Candidate).order_by(Candidate.id)
    if site_id is not None:
        stmt = stmt.where(Candidate.site_id == site_id)
    if state is not None:
        stmt = stmt.where(Candidate.state == state)
    return [_candidate(c) for c in session.scalars(stmt)]


def _surveys(session: Session, site_id: int) -> list[SurveySummary]:
    findings = select(Finding.survey_id, func.count().label("n")).group_by(Finding.survey_id).subquery()
    pending = (
        select(Candidate.survey_id, func.count().label("n"))
        .where(Candidate.state == CandidateState.PENDING.value)
        .group_by(Candidate.survey_id)
        .subquery()
    )
    stmt = (
        select(Survey, findings.c.n, pending.c.n)
        .outerjoin(findings, findings.c.survey_id == Survey.id)
        .outerjoin(pending, pending.c.survey_id == Survey.id)
        .where(Survey.site_id == site_id)
        .order_by(Survey.started_at.desc())
    )
    return [
        SurveySummary(
            id=s.id, site_id=s.site_id, started_at=s.started_at, finished_at=s.finished_at,
            host_count=len(s.document.get("hosts") or []), finding_count=nf or 0, pending_candidates=np or 0,
        )
        for s, nf, np in session.execute(stmt)
    ]


def get_site(session: Session, site_id: int) -> SiteDetail | None:
    """Return one site with devices, surveys (newest first), pending candidates and the latest findings."""
    rows = _site_rows(session, site_id=site_id)
    if not rows:
        return None
    row = rows[0]
    summary = _summary(row, _health_counts(session, [site_id]).get(site_id, {}),
                       site_alert_health(session, [site_id]).get(site_id))
    surveys = _surveys(session, site_id)
    findings: list[FindingRecord] = []
    if surveys:
        stmt = select(Finding).where(Finding.survey_id == surveys[0].id).order_by(Finding.id)
        findings = [_finding(f) for f in session.scalars(stmt)]
    latest = (
        select(SurveySnapshot.device_id, func.max(SurveySnapshot.id))
        .join(Device, Device.id == SurveySnapshot.device_id)
        .where(Device.site_id == site_id)
        .group_by(SurveySnapshot.device_id)
    )
    return SiteDetail(
        site=summary, address=row[9] or "", contact=row[10] or "",
        devices=_with_reasons(session, list_devices(session, site_id=site_id)), surveys=surveys,
        candidates=list_candidates(session, site_id=site_id), findings=findings,
        snapshot_ids={d: s for d, s in session.execute(latest) if d is not None},
    )


def _with_reasons(session: Session, devices: list[DeviceSummary]) -> list[DeviceSummary]:
    """Attach what is wrong and since when to each unhealthy device."""
    for d in devices:
        if d.health in (Health.WARNING.value, Health.PROBLEM.value):
            d.reasons = device_reasons(session, d.id)
    return devices


def get_survey_document(session: Session, survey_id: int) -> dict[str, Any] | None:
    """Return a stored survey document exactly as received, or None."""
    survey = session.get(Survey, survey_id)
    return dict(survey.document) if survey else None


def get_snapshot(session: Session, snapshot_id: int) -> bytes | None:
    """Return a stored snapshot's JPEG bytes, or None."""
    return session.scalar(select(SurveySnapshot.jpeg).where(SurveySnapshot.id == snapshot_id))


def device_observations(
    session: Session, device_id: int, *, kind: str | None = None, limit: int = 200
) -> list[ObservationRecord]:
    """Return a device's observations, newest first (history of key figures)."""
    stmt = select(Observation).where(Observation.device_id == device_id)
    if kind is not None:
        stmt = stmt.where(Observation.kind == kind)
    stmt = stmt.order_by(Observation.observed_at.desc(), Observation.id.desc()).limit(limit)
    return [
        ObservationRecord(
            id=o.id, device_id=o.device_id, survey_id=o.survey_id, kind=o.kind,
            observed_at=o.observed_at, health=o.health, values=dict(o.values or {}),
        )
        for o in session.scalars(stmt)
    ]


def find_communes(session: Session, text: str) -> list[tuple[int, str, str]]:
    """Return the communes `text` names: an id, or a name (case and diacritics ignored) — (id, name, region).

    A name two regions share returns both; the caller decides whether that is ambiguous.
    """
    stmt = select(Commune.id, Commune.name, Region.name).join(Region, Region.id == Commune.region_id)
    text = text.strip()
    if text.isdigit():
        stmt = stmt.where(Commune.id == int(text))
    else:
        stmt = stmt.where(Commune.name_folded == fold(text))
    return [(cid, name, region) for cid, name, region in session.execute(stmt.order_by(Commune.id))]
