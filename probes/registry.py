"""The worker's probe kinds: one function per kind, one signature, one registry (``PROBERS``).

Model: blackbox_exporter ``prober/prober.go`` (``ProbeFn``) and ``handler.go``
(``Probers``).  Every prober takes the jobs that fell due together, the kind's
settings and the shared :class:`ProbeContext`, and returns one
:class:`ProbeResult` per job.  A failed probe is a measurement — ``up=False``
with a ``reason`` (timeout, unreachable, auth, unsupported, malformed, error) —
never an exception.  Link probes take every due target at once over one ICMP
socket (:func:`~sitescout.probes.link_quality.async_measure_links`); ONVIF and
stream probes get one job per call and are bounded by their own budgets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sitescout.probes.credentials import Credential
from sitescout.probes.icmp import IcmpUnavailableError, SocketMode
from sitescout.probes.link_quality import LinkConfig, LinkResult, async_measure_links, async_tcp_connect_burst
from sitescout.probes.onvif import async_interrogate
from sitescout.probes.onvif_types import AuthMemory, OnvifConfig, OnvifTarget
from sitescout.probes.stream_health import MONITORING_STREAM, StreamChecker, StreamJob, redact_uri
from sitescout.probes.targets import LinkSettings, OnvifSettings, StreamSettings, StreamTarget, Target

__all__ = [
    "REASONS",
    "ProbeContext",
    "ProbeFn",
    "ProbeJob",
    "ProbeResult",
    "PROBERS",
    "classify_reason",
    "probe_link",
    "probe_onvif",
    "probe_stream",
]

log = logging.getLogger(__name__)

#: Every value of ``sitescout_probe_errors_total{reason}``; the first five are probes/errors.py kinds.
REASONS = ("timeout", "unreachable", "auth", "unsupported", "malformed", "error")
_REASON_RE = re.compile(r"\b(timeout|unreachable|auth|unsupported|malformed): ")


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
    _checker: StreamChecker | None = field(default=None, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    def stream_runner(self) -> tuple[StreamChecker, ThreadPoolExecutor]:
        """Return the stream checker and the threads that wait on it (made on first use)."""
        if self._checker is None or self._executor is None:
            self._checker = StreamChecker(concurrency=self.stream_concurrency, start_timeout_s=10.0)
            self._executor = ThreadPoolExecutor(self.stream_concurrency, thread_name_prefix="stream-check")
        return self._checker, self._executor

    def stream_credential(self, target: Target) -> Credential | None:
        """Return the credential ONVIF found for this camera, else the first one given."""
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


Settings = LinkSettings | StreamSettings | OnvifSettings
ProbeFn = Callable[[Sequence[ProbeJob], Any, ProbeContext], Awaitable[list[ProbeResult]]]


def classify_reason(text: str | None) -> str:
    """Return the reason label for an error text such as ``"GetSystemDateAndTime: timeout: ..."``."""
    m = _REASON_RE.search(text or "")
    return m.group(1) if m else "error"


# ---------------------------------------------------------------------------
# link


def link_result(job: ProbeJob, got: LinkResult, started: float) -> ProbeResult:
    """Turn one link measurement into a result: up when any echo came back, else the reason."""
    up = got.received > 0
    reason = None if up else ("unreachable" if got.error is None or "send" in got.error else classify_reason(got.error))
    values = {"loss_ratio": got.loss_ratio, "jitter_seconds": (got.jitter_ms or 0.0) / 1000.0,
              "rtt_avg_seconds": (got.rtt_avg_ms or 0.0) / 1000.0, "sent": float(got.sent),
              "received": float(got.received)}
    detail = got.error or (None if up else f"no reply to {got.sent} probe(s)")
    return ProbeResult(job, up, reason, detail, time.monotonic() - started, values=values,
                       rtts_s=[r / 1000.0 for r in got.rtts_ms])


async def probe_link(jobs: Sequence[ProbeJob], settings: LinkSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Measure loss, RTT and jitter of every job at once: ICMP over one socket, TCP connects where asked."""
    started = time.monotonic()
    config = LinkConfig(settings.count, settings.echo_interval_s, settings.timeout_s)
    icmp_ips = list(dict.fromkeys(j.target.ip for j in jobs if j.target.tcp_port is None))
    tcp_jobs = [j for j in jobs if j.target.tcp_port is not None]
    by_ip: dict[str, LinkResult] = {}
    failure: str | None = None
    tcp_task = asyncio.gather(*(async_tcp_connect_burst(j.target.ip, j.target.tcp_port or 0, config)
                                for j in tcp_jobs))
    try:
        if icmp_ips:
            by_ip = await async_measure_links(icmp_ips, config, socket_mode=ctx.socket_mode)
    except IcmpUnavailableError as err:
        failure = str(err)
        log.warning("link probes: %s", failure)
    tcp_results = dict(zip((j.key for j in tcp_jobs), await tcp_task))
    out = []
    for job in jobs:
        got = tcp_results.get(job.key) if job.target.tcp_port is not None else by_ip.get(job.target.ip)
        if got is None:
            out.append(ProbeResult(job, False, "error", failure or "not measured", time.monotonic() - started,
                                   values={"loss_ratio": 1.0}))
        else:
            out.append(link_result(job, got, started))
    return out


# ---------------------------------------------------------------------------
# onvif


async def probe_onvif(jobs: Sequence[ProbeJob], settings: OnvifSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Read each camera's identity and clock offset over ONVIF (read-only), within `timeout_s`."""
    budget = settings.timeout_s
    config = OnvifConfig(connect_timeout_s=min(3.0, budget), read_timeout_s=min(10.0, budget),
                         device_budget_s=budget, allow_plaintext_auth=settings.allow_plaintext_auth)
    out = []
    for job in jobs:
        started = time.monotonic()
        target = job.target
        got = await async_interrogate(OnvifTarget(target.ip, target.onvif or ""), ctx.credentials, config,
                                      memory=ctx.auth_memory)
        elapsed = time.monotonic() - started
        if got.info is None:
            first = got.errors[0] if got.errors else "no answer"
            log.info("%s/%s: onvif: %s", target.site, target.device, first)
            out.append(ProbeResult(job, False, classify_reason(first), first, elapsed))
            continue
        values = {"clock_offset_seconds": got.info.clock_offset_s} if got.info.clock_offset_s is not None else {}
        if got.info.auth == "failed":
            # The camera answers but refuses every credential: the NOC must see it (an `auth` error),
            # not a camera "up" with an empty identity.  Its clock was still measured.
            detail = "; ".join(got.errors) or "no credential set accepted"
            log.info("%s/%s: onvif: %s", target.site, target.device, detail)
            out.append(ProbeResult(job, False, "auth", detail, elapsed, values=values))
            continue
        info = {"manufacturer": got.info.manufacturer, "model": got.info.model, "firmware": got.info.firmware}
        out.append(ProbeResult(job, True, None, "; ".join(got.errors) or None, elapsed, values=values, info=info))
    return out


# ---------------------------------------------------------------------------
# stream


def _stream_values(result: Any, stream: StreamTarget) -> dict[str, float]:
    def num(value: Any) -> float:
        return float(value) if value is not None else 0.0

    return {"fps": num(result.fps), "expected_fps": num(stream.expected_fps), "width_pixels": num(result.width),
            "height_pixels": num(result.height), "bitrate_bits_per_second": num(result.bitrate_kbps) * 1000.0,
            "frozen": 1.0 if result.frozen else 0.0, "black": 1.0 if result.black else 0.0,
            "open_seconds": num(result.open_s)}


async def probe_stream(jobs: Sequence[ProbeJob], settings: StreamSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Watch each stream for `window_s` in a stream-check process that is killed at `timeout_s`."""
    # The check's own budget leaves 0.5 s of the kind's timeout for the worker round trip.
    config = dataclasses.replace(MONITORING_STREAM, window_s=settings.window_s,
                                 budget_s=max(settings.timeout_s - 0.5, settings.window_s + 0.5),
                                 open_timeout_s=min(MONITORING_STREAM.open_timeout_s, settings.timeout_s / 3),
                                 read_timeout_s=min(MONITORING_STREAM.read_timeout_s, settings.timeout_s / 3))
    checker, executor = ctx.stream_runner()
    loop = asyncio.get_running_loop()
    out = []
    for job in jobs:
        stream = job.stream
        assert stream is not None, "stream jobs carry a stream"
        size = (stream.expected_width, stream.expected_height) \
            if stream.expected_width and stream.expected_height else None
        check = StreamJob(stream.uri, stream.expected_fps, size, ctx.stream_credential(job.target), stream.profile)
        started = time.monotonic()
        result = await loop.run_in_executor(executor, checker.check, check, config)
        reason = None if result.up else classify_reason(result.error)
        out.append(ProbeResult(job, result.up, reason, result.error, time.monotonic() - started,
                               values=_stream_values(result, stream)))
        if not result.up:
            log.info("%s/%s %s: stream: %s", job.target.site, job.target.device, redact_uri(stream.uri), result.error)
    return out


#: The only switch between probe kinds (STYLE rule 2): kind name -> prober.
PROBERS: dict[str, ProbeFn] = {
    "link": probe_link,
    "onvif": probe_onvif,
    "stream": probe_stream,
}
