"""Records the probes produce; together they make the survey document of the brief.

Field names are a contract (BRIEF.md "Contracts"): extra fields are welcome,
these may not be renamed.  ``to_dict`` gives the JSON form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from sitescout.probes.errors import text_entry

__all__ = [
    "LinkStats",
    "MediaProfile",
    "OnvifInfo",
    "StreamCheck",
    "Snapshot",
    "HostRecord",
    "SurveyDocument",
]

AuthState = Literal["ok", "required", "failed", "not_needed"]


def _as_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


@dataclass
class LinkStats:
    """ICMP echo burst summary for one host (filled by the link-quality probe)."""

    sent: int
    received: int
    loss_ratio: float
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float
    jitter_ms: float
    #: Extra field: "icmp", or "tcp:PORT" for hosts that filter ICMP (connect times).
    method: str = "icmp"

    to_dict = _as_dict


@dataclass
class MediaProfile:
    """One ONVIF media profile with its stream and snapshot addresses (never with credentials)."""

    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps_limit: float | None = None
    bitrate_kbps: int | None = None
    stream_uri: str | None = None
    snapshot_uri: str | None = None

    to_dict = _as_dict


@dataclass
class OnvifInfo:
    """What ONVIF discovery and interrogation learned about one camera."""

    endpoint: str
    xaddrs: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""
    clock_offset_s: float | None = None
    auth: AuthState = "not_needed"
    profiles: list[MediaProfile] = field(default_factory=list)
    # Extra fields (allowed by the contract).
    mac: str | None = None
    services: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    #: Operations the camera failed that were done another way: each an ``error_codes``-style entry
    #: (probes/errors.py) whose params add ``used`` (the other operation) and ``text`` (its ``findings`` note).
    fallbacks: list[dict[str, Any]] = field(default_factory=list)

    to_dict = _as_dict


@dataclass
class StreamCheck:
    """Health of one stream (filled by the stream-health probe)."""

    uri: str
    profile: str | None = None
    up: bool = False
    open_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    frozen: bool | None = None
    black: bool | None = None
    sharpness: float | None = None
    bitrate_kbps: float | None = None
    error: str | None = None
    # Extra fields (allowed by the contract).
    #: The kind of ``error`` and its parameters (probes/errors.py, docs/survey.md); None when untyped or no error.
    error_code: dict[str, Any] | None = None
    #: Every profile token served by this URI (cameras often reuse one URI).
    profiles: list[str] = field(default_factory=list)
    codec: str | None = None
    first_frame_s: float | None = None
    expected_fps: float | None = None
    expected_width: int | None = None
    expected_height: int | None = None
    stalled: bool | None = None
    blurred: bool | None = None
    decode_errors: int | None = None
    #: Findings a technician acts on: down, stalled, black, frozen, blurred, fps_mismatch, size_mismatch.
    problems: list[str] = field(default_factory=list)
    #: RTSP lower transport the check used: "tcp", or "udp" when the server refused TCP; None for HTTP.
    transport: str | None = None

    to_dict = _as_dict


@dataclass
class Snapshot:
    """One picture of a camera, kept with the survey (extra field ``snapshot`` of a host)."""

    source: str  # "http" (the ONVIF snapshot URI) or "stream" (a frame of the stream check)
    uri: str
    width: int | None = None
    height: int | None = None
    size_bytes: int = 0
    jpeg_base64: str | None = None
    error: str | None = None
    #: The kind of ``error`` and its parameters (probes/errors.py, docs/survey.md).
    error_code: dict[str, Any] | None = None

    to_dict = _as_dict


@dataclass
class HostRecord:
    """Everything the survey learned about one address."""

    ip: str
    mac: str | None = None
    vendor: str | None = None
    open_ports: list[int] = field(default_factory=list)
    kind: Literal["camera", "host"] = "host"
    link: LinkStats | None = None
    onvif: OnvifInfo | None = None
    streams: list[StreamCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None
    #: Extra fields of the SNMP stage (docs/survey.md, "SNMP"): the agent's identity, interfaces,
    #: neighbours and PoE; and the switch port this host is cabled to.
    snmp: dict[str, Any] | None = None
    attached_to: dict[str, Any] | None = None
    #: What the host is from what it answered (SNMP sysDescr, forwarding table, SIP User-Agent): docs/survey.md.
    device_class: dict[str, Any] | None = None
    #: The host's web page as a bounded GET / read it: {port, scheme, status, title} (probes/net/http_title.py).
    http: dict[str, Any] | None = None
    #: The ``error_codes`` entry (probes/errors.py) of each typed entry of ``errors``, by its text;
    #: an entry not here is written with the code ``other``.
    error_codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_error(self, text: str, entry: dict[str, Any] | None = None) -> None:
        """Add one ``errors`` entry and, for a typed error, its code."""
        self.errors.append(text)
        if entry is not None:
            self.error_codes[text] = entry

    def add_errors(self, texts: list[str], entries: list[dict[str, Any]], prefix: str = "") -> None:
        """Add a stage's errors and their codes (same order; missing codes become ``other``), text prefixed."""
        for i, text in enumerate(texts):
            self.add_error(prefix + text, entries[i] if i < len(entries) else None)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, with the contract's key order."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "vendor": self.vendor,
            "open_ports": sorted(self.open_ports),
            "kind": self.kind,
            "link": self.link.to_dict() if self.link else None,
            "onvif": self.onvif.to_dict() if self.onvif else None,
            "streams": [s.to_dict() for s in self.streams],
            "errors": list(self.errors),
            "snapshot": self.snapshot.to_dict() if self.snapshot else None,
            "snmp": self.snmp,
            "attached_to": self.attached_to,
            "device_class": self.device_class,
            "http": self.http,
            # Extra field: each of "errors" as its code and parameters, in the same order (docs/survey.md).
            "error_codes": [self.error_codes.get(text) or text_entry(text) for text in self.errors],
        }


@dataclass
class SurveyDocument:
    """The result of one `sitescout survey` run."""

    site: str
    started_at: str
    finished_at: str
    networks: list[str]
    hosts: list[HostRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the brief's survey document."""
        return {
            "site": self.site,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "networks": list(self.networks),
            "hosts": [h.to_dict() for h in self.hosts],
        }
