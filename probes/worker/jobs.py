"""What every probe kind shares: a job, its result, the context probes run in, and :class:`Kind`.

A failed probe is a measurement — ``up=False`` with a ``reason`` (timeout, unreachable, auth,
unsupported, malformed, error) — never an exception.  A credential is attached only for a camera
target and only to a URI on the target's own address and one of its services
(:func:`credentials_allowed`; the rule lives in ``sitescout.device_uris``).  :class:`Kind` is
everything the worker needs to know about one probe kind; the kinds themselves are in
:mod:`sitescout.probes.worker.kinds` and the one switch between them is
:data:`sitescout.probes.worker.registry.KINDS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sitescout.device_uris import may_send_credentials
from sitescout.probes.credentials import Credential
from sitescout.probes.errors import ErrorCode, reason_label
from sitescout.probes.net.icmp import SocketMode
from sitescout.probes.onvif.types import AuthMemory
from sitescout.probes.snmp.client import SnmpCredentials
from sitescout.probes.stream.check import StreamChecker
from sitescout.probes.worker.metric_defs import MetricDef
from sitescout.probes.worker.records import StreamTarget, Target

if TYPE_CHECKING:
    from sitescout.probes.worker.store import StoreSnapshot

__all__ = [
    "REASONS",
    "Family",
    "Gauge",
    "Kind",
    "ProbeContext",
    "ProbeFn",
    "ProbeJob",
    "ProbeResult",
    "reason_of",
    "credentials_allowed",
]

log = logging.getLogger(__name__)

#: Every value of ``sitescout_probe_errors_total{reason}``; the first five are probes/errors.py kinds.
REASONS = ("timeout", "unreachable", "auth", "unsupported", "malformed", "error")


@dataclass(frozen=True)
class ProbeJob:
    """One thing to probe: a kind, a target and (for streams) one of its streams."""

    kind: str
    target: Target
    stream: StreamTarget | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Return (kind, site, device, profile): what the results and phases are keyed by."""
        return (self.kind, self.target.site, self.target.device, self.stream.profile if self.stream else "")


@dataclass
class ProbeResult:
    """What one probe of one job measured; `values` are gauges in base units."""

    job: ProbeJob
    up: bool
    reason: str | None = None
    detail: str | None = None
    duration_s: float = 0.0
    finished_at: float = field(default_factory=time.time)
    values: dict[str, float] = field(default_factory=dict)
    #: Link probes: every echo's round-trip time, for the RTT histogram.
    rtts_s: list[float] = field(default_factory=list)
    #: ONVIF probes: manufacturer, model, firmware (for sitescout_camera_info).
    info: dict[str, str] = field(default_factory=dict)

    def to_observation(self) -> dict[str, Any]:
        """Return the JSON form sent to the inventory as an observation (no credentials, no URIs)."""
        t = self.job.target
        return {"site": t.site, "device": t.device, "kind": self.job.kind,
                "profile": self.job.stream.profile if self.job.stream else None,
                "observed_at": round(self.finished_at, 3), "up": self.up, "reason": self.reason,
                "duration_s": round(self.duration_s, 4), "values": dict(self.values), "info": dict(self.info)}


@dataclass
class ProbeContext:
    """What probes share: credentials, the ONVIF auth memory, the stream-check processes."""

    credentials: Sequence[Credential] = ()
    auth_memory: AuthMemory = field(default_factory=AuthMemory)
    socket_mode: SocketMode = "auto"
    stream_concurrency: int = 2
    #: SNMP communities and v3 users: sent only to targets configured with ``snmp`` (kinds/snmp.py).
    snmp_credentials: SnmpCredentials = field(default_factory=SnmpCredentials)
    _checker: StreamChecker | None = field(default=None, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    def stream_runner(self) -> tuple[StreamChecker, ThreadPoolExecutor]:
        """Return the stream checker and the threads that wait on it (made on first use)."""
        if self._checker is None or self._executor is None:
            self._checker = StreamChecker(concurrency=self.stream_concurrency, start_timeout_s=10.0)
            self._executor = ThreadPoolExecutor(self.stream_concurrency, thread_name_prefix="stream-check")
        return self._checker, self._executor

    def stream_credential(self, target: Target, uri: str | None = None) -> Credential | None:
        """Return the credential ONVIF found for this camera, else the first one given.

        None when `uri` (default: the target's first stream) may not carry the target's credentials.
        """
        if not credentials_allowed(target, uri if uri is not None else (target.streams[0].uri if target.streams
                                                                          else None)):
            return None
        known = self.auth_memory.recall(target.ip)
        if known is not None and known[0] < len(self.credentials):
            return self.credentials[known[0]]
        return self.credentials[0] if self.credentials else None

    def close(self) -> None:
        """Stop the stream-check processes and threads."""
        if self._checker is not None:
            self._checker.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._checker = self._executor = None


def credentials_allowed(target: Target, uri: str | None) -> bool:
    """Say whether a request to `uri` may carry the worker's camera credentials for `target`.

    Only a camera (a ``host`` target never gets them), only on the target's own address, and only
    to a service its record names: its ONVIF endpoint or one of its stream URIs.
    """
    services = (target.onvif, *(s.uri for s in target.streams))
    allowed = target.kind == "camera" and may_send_credentials(uri, target.ip, services)
    if not allowed and uri:
        log.debug("%s/%s: credentials withheld from a URI that is not one of the device's services",
                  target.site, target.device)
    return allowed


ProbeFn = Callable[[Sequence[ProbeJob], Any, ProbeContext], Awaitable[list[ProbeResult]]]


def reason_of(code: ErrorCode | str | dict[str, Any] | None) -> str:
    """Return the ``reason`` label of an error's code or ``error_codes`` entry (one of :data:`REASONS`).

    Read from the code the probe recorded, never from the error's words (STYLE.md §20).  It replaces
    ``classify_reason`` (a regex over the text); a code's value also works (``SnmpErrorKind.AUTH.value``).
    """
    return reason_label(code)


#: One /metrics family of a kind: its definition, its samples (label values, value) and histogram buckets.
Family = tuple[MetricDef, list[tuple[tuple[str, ...], Any]], Sequence[float]]
#: One /probe gauge of a kind: its definition, value and the labels /probe writes itself (or None).
Gauge = tuple[MetricDef, float, "dict[str, str] | None"]


def _no_check(settings: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Kind:
    """Everything the worker needs to know about one probe kind (one file in ``kinds/``).

    - ``settings``/``default``: its frozen settings class and the instance used when the targets
      file has no ``defaults.<name>`` section; ``check`` returns a message for settings that are
      valid key by key but not together (None when fine).
    - ``probe``: the prober (:data:`ProbeFn`); ``plan``: the jobs one target gets of this kind.
    - ``families``: its ``/metrics`` families from a store snapshot.
    - ``modules``: its ``/probe`` modules and each one's default limit of requests in flight;
      ``build`` turns a request into a job and its settings; ``gauges`` writes the answer.
    - ``failed_values``: the values a result carries when the probe itself failed (timeout, bug).
    """

    name: str
    settings: type
    default: Any
    probe: ProbeFn
    plan: Callable[[Target], list[ProbeJob]]
    families: Callable[[StoreSnapshot], Iterator[Family]]
    modules: Mapping[str, int]
    build: Callable[[str, str, float, dict[str, str], Any], tuple[ProbeJob, Any]]
    gauges: Callable[[ProbeResult], Iterator[Gauge]]
    check: Callable[[Any], str | None] = _no_check
    failed_values: Mapping[str, float] = field(default_factory=dict)
