"""Plain records the store hands to web/ and the command line (never ORM objects, never credentials)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "SiteSummary",
    "SiteDetail",
    "DeviceSummary",
    "CameraSummary",
    "SurveySummary",
    "FindingRecord",
    "CandidateRecord",
    "ObservationRecord",
    "IngestResult",
]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (timestamps as ISO 8601)."""
        return {f.name: _jsonable(_plain(getattr(self, f.name))) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class SiteSummary(_Record):
    """One site with its health from the latest observations (ok|warning|problem|unknown)."""

    id: int
    name: str
    kind: str
    status: str
    latitude: float | None
    longitude: float | None
    commune: str
    region: str
    is_demo: bool
    health: str
    device_count: int = 0
    problem_count: int = 0
    warning_count: int = 0


@dataclass
class CameraSummary(_Record):
    """Mounting and stream facts of a camera (URIs without credentials)."""

    mount_latitude: float | None
    mount_longitude: float | None
    height_m: float | None
    heading_deg: float | None
    hfov_deg: float | None
    profiles: list[dict[str, Any]] = field(default_factory=list)
    stream_uris: list[str] = field(default_factory=list)


@dataclass
class DeviceSummary(_Record):
    """One curated device with its latest observed health; ``has_credential`` only, never the secret."""

    id: int
    site_id: int
    kind: str
    name: str
    ip: str | None
    mac: str | None
    vendor: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    onvif_endpoint: str | None
    status: str
    health: str
    health_reason: str
    observed_at: datetime | None
    has_credential: bool
    camera: CameraSummary | None = None
    #: What is wrong and since when (inventory/health_evidence.py), codes and parameters; filled for one site's page.
    reasons: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SurveySummary(_Record):
    """One stored survey of a site."""

    id: int
    site_id: int
    started_at: datetime
    finished_at: datetime | None
    host_count: int
    finding_count: int
    pending_candidates: int


@dataclass
class FindingRecord(_Record):
    """A change or problem a survey noticed."""

    id: int
    survey_id: int
    device_id: int | None
    candidate_id: int | None
    kind: str
    field: str | None
    inventory_value: str | None
    observed_value: str | None
    message: str


@dataclass
class CandidateRecord(_Record):
    """A surveyed device waiting for a person to accept or reject it."""

    id: int
    survey_id: int
    site_id: int
    ip: str
    state: str
    device_id: int | None
    identity: dict[str, Any]


@dataclass
class ObservationRecord(_Record):
    """One stored observation."""

    id: int
    device_id: int
    survey_id: int | None
    kind: str
    observed_at: datetime
    health: str
    values: dict[str, Any]


@dataclass
class SiteDetail(_Record):
    """A site page's data: the site, its devices, surveys, pending candidates and latest findings."""

    site: SiteSummary
    address: str
    contact: str
    devices: list[DeviceSummary] = field(default_factory=list)
    surveys: list[SurveySummary] = field(default_factory=list)
    candidates: list[CandidateRecord] = field(default_factory=list)
    findings: list[FindingRecord] = field(default_factory=list)
    snapshot_ids: dict[int, int] = field(default_factory=dict)  # device id → latest snapshot id


@dataclass
class IngestResult(_Record):
    """What one survey ingestion did; ``duplicate`` is True when it was already stored."""

    survey_id: int
    site_id: int
    duplicate: bool
    matched: dict[str, int] = field(default_factory=dict)  # host ip → device id
    match_keys: dict[str, str] = field(default_factory=dict)  # host ip → onvif_endpoint|mac|serial|ip
    findings: list[FindingRecord] = field(default_factory=list)
    candidates: list[CandidateRecord] = field(default_factory=list)
    observations: int = 0
    snapshots: int = 0
