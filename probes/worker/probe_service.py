"""On-demand probes for the worker's blackbox-style ``/probe?target=…&module=…``.

Each request runs one probe on the worker's event loop and answers with its
own exposition, like blackbox_exporter's fresh registry per request
(``handler.go``): :func:`probe_exposition` is a pure function of that
request's :class:`~sitescout.probes.worker.registry.ProbeResult` and writes the few
lines straight to the text format, so nothing is carried from one request to
the next and no ``CollectorRegistry`` has to be built and walked per request
(a test checks the lines equal what a fresh registry would give).

``module=icmp`` sends the request's own echoes (``count``, default the
targets file's link count; ``interval`` seconds apart) over one ICMP socket
kept open for all requests (:class:`~sitescout.probes.net.link_quality.IcmpPinger`):
concurrent requests run their bursts side by side, each counting only
replies that carry its own token, so no request shares another's echoes.
The reply names the same link series as ``/metrics`` (``sitescout_device_up``,
``sitescout_link_loss_ratio``, ``sitescout_link_jitter_seconds``; Prometheus
adds ``site``/``device`` from service discovery), so the alert rules cover
devices that are only probed this way.

``module=onvif`` and ``module=stream`` send the worker's camera credentials only
to a configured camera's own ONVIF endpoint or stream URI, exactly as configured
(:mod:`sitescout.probes.worker.probe_scope`); any other port or path, even of a
configured address, is probed without them, so an open ``/probe`` cannot be
used to collect the passwords.

No request costs more than its share (issue #11): /probe runs on a context of
its own (its own stream-check processes, ``limits["stream"]`` of them), so the
scheduled probes never wait behind it; each module has a limit of requests in
flight (:data:`DEFAULT_PROBE_LIMITS`) and one more is refused at once
(:class:`ProbeBusyError`, HTTP 503) rather than queued; every parameter is
bounded (:class:`ProbeRequestError`, HTTP 400, its text starting with the
parameter's name), and the scrape-timeout header is capped at
:data:`MAX_PROBE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.utils import floatToGoString

from sitescout.inventory.errors import Coded
from sitescout.probes.errors import ProbeBusyError
from sitescout.probes.net.icmp import IcmpUnavailableError
from sitescout.probes.net.link_quality import IcmpPinger, LinkSettings
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob, ProbeResult
from sitescout.probes.worker.kinds.link import link_result  # one classification for both models
from sitescout.probes.worker.probe_request import MAX_TARGET_CHARS, ProbeRequestError, shown
from sitescout.probes.worker.probe_scope import CredentialScope
from sitescout.probes.worker.records import Target
from sitescout.probes.worker.registry import KINDS, PROBE_MODULES
from sitescout.probes.worker.scheduler import Worker

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROBE_LIMITS", "MAX_PROBE_TIMEOUT_S", "MODULES", "ProbeBusyError",
           "ProbeService", "parse_probe_limits", "probe_exposition", "probe_timeout_s"]

#: Subtracted from Prometheus's scrape timeout, as blackbox_exporter's --timeout-offset.
TIMEOUT_OFFSET_S = 0.5
#: Probe budget without the header (blackbox uses 120 s; a hung camera should not hold a request that long).
DEFAULT_PROBE_TIMEOUT_S = 10.0
#: Cap of the budget a scrape-timeout header may ask for (blackbox's own default budget).
MAX_PROBE_TIMEOUT_S = 120.0
MODULES = tuple(PROBE_MODULES)
#: /probe requests in flight per module; one more is refused with 503.  A stream check is a
#: process decoding frames (2 fit a 2-core box beside the scheduled ones); ONVIF and link probes
#: are sockets on the event loop.
DEFAULT_PROBE_LIMITS: Mapping[str, int] = {m: n for kind in KINDS.values() for m, n in kind.modules.items()}
_LIMIT_RANGE = (1, 1024)

def probe_timeout_s(header: str | None, default: float = DEFAULT_PROBE_TIMEOUT_S) -> float:
    """Return the probe budget: Prometheus's scrape timeout minus the offset, else `default`."""
    try:
        scrape = float(header) if header else None
    except ValueError:
        scrape = None
    if scrape is None or not math.isfinite(scrape) or scrape <= 0:
        return default
    return min(max(scrape - TIMEOUT_OFFSET_S, 0.1), MAX_PROBE_TIMEOUT_S)


def parse_probe_limits(items: list[str]) -> dict[str, int]:
    """Parse ``MODULE=N`` items (``--probe-limit stream=4``) over the defaults.

    Raises:
        ValueError: naming the item and the expected form.
    """
    limits = dict(DEFAULT_PROBE_LIMITS)
    for item in items:
        module, sep, value = item.partition("=")
        low, high = _LIMIT_RANGE
        if not sep or module not in MODULES or not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(Coded("probe_limit_form", "--probe-limit %(value)r: expected MODULE=N with MODULE one "
                                   "of %(modules)s and N %(least)s-%(most)s", value=item, modules=", ".join(MODULES),
                                   least=low, most=high))
        limits[module] = int(value)
    return limits


class ProbeService:
    """Runs /probe requests on the worker's event loop, apart from its scheduled probes.

    Its own :class:`ProbeContext` (own stream-check processes; the ONVIF auth memory is shared, so
    a camera is not asked every credential again) and per-module limits of requests in flight.
    """

    def __init__(self, worker: Worker, limits: Mapping[str, int] | None = None) -> None:
        self.worker = worker
        self.limits = {**DEFAULT_PROBE_LIMITS, **(limits or {})}
        self._in_flight = dict.fromkeys(MODULES, 0)
        #: /probe requests refused (503) per module since start (``md.PROBE_REQUESTS_REFUSED``).
        self.refused = dict.fromkeys(MODULES, 0)
        self._pinger: IcmpPinger | None = None
        self._scope = CredentialScope()
        self._ctx = ProbeContext(auth_memory=worker.ctx.auth_memory, socket_mode=worker.ctx.socket_mode,
                                 stream_concurrency=self.limits["stream"])

    def build(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> tuple[ProbeJob, Any]:
        """Return the job and settings for one request.

        Raises:
            ProbeRequestError: unknown module, bad target or parameter.
        """
        if len(target) > MAX_TARGET_CHARS:
            raise ProbeRequestError(f"target: longer than {MAX_TARGET_CHARS} characters")
        kind = PROBE_MODULES.get(module)
        if kind is None:
            raise ProbeRequestError(f"module: unknown module {shown(module)} (expected: {', '.join(MODULES)})")
        defaults = self.worker.config.defaults if self.worker.config else None
        return kind.build(module, target, budget_s, params, defaults.by_kind[kind.name] if defaults else kind.default)

    async def _async_icmp(self, job: ProbeJob, settings: LinkSettings) -> ProbeResult:
        started = time.monotonic()
        if self._pinger is None:
            self._pinger = IcmpPinger(self.worker.ctx.socket_mode)
        ip = job.target.ip
        try:
            got = (await self._pinger.async_measure_links([ip], settings))[ip]
        except IcmpUnavailableError as err:
            return ProbeResult(job, False, "error", str(err), time.monotonic() - started, values={"loss_ratio": 1.0})
        return link_result(job, got, started)

    def credentialed_camera(self, job: ProbeJob) -> Target | None:
        """Return the configured camera whose own endpoint `job` asks for exactly, else None (no credentials)."""
        config = self.worker.config
        if job.kind == "onvif" and job.target.onvif:
            return self._scope.onvif_camera(config, job.target.onvif)
        if job.kind == "stream" and job.stream is not None:
            return self._scope.stream_camera(config, job.stream.uri)
        return None

    def _snmp_context(self, job: ProbeJob) -> tuple[ProbeJob, ProbeContext]:
        """Return the job and context of an SNMP request: credentials only for a configured SNMP target."""
        port = job.target.snmp.port if job.target.snmp is not None else 161
        device = self._scope.snmp_device(self.worker.config, job.target.ip, port)
        if device is None or device.snmp is None:
            log.info("/probe snmp %s:%d: not a configured SNMP target, probed without credentials", job.target.ip,
                     port)
            return job, self._ctx  # its own context holds no SNMP credentials
        bound = dataclasses.replace(job, target=dataclasses.replace(job.target, snmp=device.snmp))
        return bound, dataclasses.replace(self._ctx, snmp_credentials=self.worker.ctx.snmp_credentials)

    def _context(self, job: ProbeJob) -> tuple[ProbeJob, ProbeContext]:
        """Return the job (bound to its camera when credentialed) and the context to run it with."""
        if job.kind == "snmp":
            return self._snmp_context(job)
        if job.kind == "stream":
            self._ctx.stream_runner()  # made once: the variants below share its processes
        camera = self.credentialed_camera(job) if self.worker.ctx.credentials else None
        if camera is None:
            if job.kind in ("onvif", "stream") and self.worker.ctx.credentials:
                log.info("/probe %s %s: not a configured camera endpoint, probed without credentials", job.kind,
                         job.target.ip)
            return job, dataclasses.replace(self._ctx, credentials=())
        # The camera's own record: stream_credential() recalls what ONVIF found for its address.
        bound = dataclasses.replace(job, target=dataclasses.replace(job.target, ip=camera.ip))
        return bound, dataclasses.replace(self._ctx, credentials=tuple(self.worker.ctx.credentials))

    async def async_probe(self, job: ProbeJob, settings: Any) -> ProbeResult:
        """Run one on-demand probe within its budget; a failure is a result."""
        started = time.monotonic()
        if job.kind == "link" and job.target.tcp_port is None:
            # Bounded by itself: count x interval + timeout fit the budget (see build()).
            return await self._async_icmp(job, settings)
        job, ctx = self._context(job)
        try:
            got = await asyncio.wait_for(KINDS[job.kind].probe([job], settings, ctx), settings.budget_s + 0.5)
            return got[0]
        except TimeoutError:
            return ProbeResult(job, False, "timeout", "probe timed out", time.monotonic() - started)

    @contextlib.contextmanager
    def _slot(self, module: str) -> Iterator[None]:
        """Hold one of `module`'s in-flight places, or raise ProbeBusyError at once (no queue)."""
        limit = self.limits[module]
        if self._in_flight[module] >= limit:
            self.refused[module] += 1
            raise ProbeBusyError(module, limit)
        self._in_flight[module] += 1
        try:
            yield
        finally:
            self._in_flight[module] -= 1

    async def async_request(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> bytes:
        """Answer one /probe request (on the worker's loop): the text exposition of its own result.

        Raises:
            ProbeRequestError: the request cannot be run (HTTP 400).
            ProbeBusyError: its module's limit of requests in flight is reached (HTTP 503).
        """
        job, settings = self.build(module, target, budget_s, params)
        with self._slot(module):
            started = time.monotonic()
            result = await self.async_probe(job, settings)
        return probe_exposition(result, time.monotonic() - started)

    def exposition(self) -> bytes:
        """Return the /probe service's own series for /metrics: refusals and the limits, per module."""
        out: list[str] = []
        for d, counts in ((md.PROBE_REQUESTS_REFUSED, self.refused), (md.PROBE_REQUESTS_LIMIT, self.limits)):
            out.append(f"# HELP {d.name} {d.help}\n# TYPE {d.name} {d.type}\n")
            out += [f'{d.name}{{{d.labels[0]}="{m}"}} {float(counts[m])!r}\n' for m in MODULES]
        return "".join(out).encode("utf-8")

    def close(self) -> None:
        """Close the ICMP socket and the stream-check processes (a later request opens new ones)."""
        if self._pinger is not None:
            self._pinger.close()
            self._pinger = None
        self._ctx.close()


# ---------------------------------------------------------------------------
# The reply: a fresh exposition per request, written directly.


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _gauge(out: list[str], d: md.MetricDef, value: float, labels: dict[str, str] | None = None,
           header: bool = True) -> None:
    if header:  # once per family: a kind may write many labelled samples of one metric in a row
        out.append(f"# HELP {d.name} {d.help}\n# TYPE {d.name} {d.type}\n")
    if labels:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))  # as prometheus_client
        out.append(f"{d.name}{{{text}}} {floatToGoString(value)}\n")
    else:
        out.append(f"{d.name} {floatToGoString(value)}\n")


def probe_exposition(result: ProbeResult, elapsed_s: float) -> bytes:
    """Return the text exposition of one probe's result: what a fresh registry holding its gauges would give."""
    out: list[str] = []
    up = 1.0 if result.up else 0.0
    _gauge(out, md.PROBE_SUCCESS, up)
    _gauge(out, md.PROBE_ELAPSED, elapsed_s)
    last: md.MetricDef | None = None
    for d, value, labels in KINDS[result.job.kind].gauges(result):
        _gauge(out, d, value, labels, header=d is not last)
        last = d
    if result.reason:
        _gauge(out, md.PROBE_FAILED, 1.0, {"reason": result.reason})
    return "".join(out).encode("utf-8")
