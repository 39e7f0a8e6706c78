"""The ``link`` kind: loss, RTT and jitter of every device (ICMP over one socket, or TCP connects).

Its settings are :class:`~sitescout.probes.net.link_quality.LinkSettings` (one class, shared with
the survey); every target gets a link job.  All due link jobs are measured at once over one ICMP
socket (:func:`~sitescout.probes.net.link_quality.async_measure_links`); a target with a
``tcp_port`` is measured by TCP connect times instead.  ``/probe`` modules: ``icmp`` and ``tcp``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from sitescout.probes.net.icmp import IcmpUnavailableError
from sitescout.probes.net.link_quality import LinkResult, LinkSettings, async_measure_links, async_tcp_connect_burst
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.jobs import Family, Gauge, Kind, ProbeContext, ProbeJob, ProbeResult, reason_of
from sitescout.probes.worker.probe_request import (MAX_COUNT, MAX_INTERVAL_S, ProbeRequestError, check_ip,
                                                   float_param, int_param, shown)
from sitescout.probes.worker.records import Target

if TYPE_CHECKING:
    from sitescout.probes.worker.store import StoreSnapshot

__all__ = ["DEFAULT_LINK", "KIND", "LinkSettings", "link_result", "probe_link"]

log = logging.getLogger(__name__)

DEFAULT_LINK = LinkSettings()


def check_link(settings: LinkSettings) -> str | None:
    """Return why a burst does not fit in its interval, or None."""
    if settings.budget_s - 1.0 > settings.interval_s:
        return (f"a burst ({settings.count} x {settings.echo_interval_s:g} s + {settings.timeout_s:g} s timeout) "
                f"does not fit in interval_s {settings.interval_s:g}")
    return None


def link_result(job: ProbeJob, got: LinkResult, started: float) -> ProbeResult:
    """Turn one link measurement into a result: up when any echo came back, else the reason."""
    up = got.received > 0
    reason = None if up else ("unreachable" if got.error is None else reason_of(got.error_code))
    values = {"loss_ratio": got.loss_ratio, "jitter_seconds": (got.jitter_ms or 0.0) / 1000.0,
              "rtt_avg_seconds": (got.rtt_avg_ms or 0.0) / 1000.0, "sent": float(got.sent),
              "received": float(got.received)}
    detail = got.error or (None if up else f"no reply to {got.sent} probe(s)")
    return ProbeResult(job, up, reason, detail, time.monotonic() - started, values=values,
                       rtts_s=[r / 1000.0 for r in got.rtts_ms])


async def probe_link(jobs: Sequence[ProbeJob], settings: LinkSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Measure loss, RTT and jitter of every job at once: ICMP over one socket, TCP connects where asked."""
    started = time.monotonic()
    config = settings
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


def plan(target: Target) -> list[ProbeJob]:
    """Return a target's link job: every target gets one."""
    return [ProbeJob("link", target)]


def families(snap: StoreSnapshot) -> Iterator[Family]:
    """Yield the link families of /metrics: device up, the RTT histogram, jitter and loss."""
    targets = snap.targets
    links = [(t, snap.latest.get(("link", t.site, t.device, ""))) for t in targets]
    yield md.DEVICE_UP, [((t.site, t.device), 1.0 if r is not None and r.up else 0.0) for t, r in links], ()
    empty = ([0] * (len(md.RTT_BUCKETS) + 1), 0.0, 0)
    yield md.LINK_RTT, [((t.site, t.device), snap.rtt.get(t.key, empty)) for t in targets], md.RTT_BUCKETS
    for d, value in ((md.LINK_JITTER, "jitter_seconds"), (md.LINK_LOSS, "loss_ratio")):
        yield d, [((t.site, t.device), r.values.get(value, 0.0) if r is not None else 0.0) for t, r in links], ()


def build(module: str, target: str, budget_s: float, params: dict[str, str],
          link: LinkSettings) -> tuple[ProbeJob, LinkSettings]:
    """Return the job and settings of a /probe ``icmp`` (IP) or ``tcp`` (IP:PORT) request within `budget_s`."""
    ip, port = target, None
    if module == "tcp":
        ip, _, port_s = target.rpartition(":")
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise ProbeRequestError(f"target: a tcp target is IP:PORT, not {shown(target)}")
        port = int(port_s)
    count = int_param(params, "count", min(link.count, MAX_COUNT), 1, MAX_COUNT)
    interval = float_param(params, "interval", min(link.echo_interval_s, MAX_INTERVAL_S), 0.0, MAX_INTERVAL_S)
    timeout = min(link.timeout_s, budget_s / 2)
    # Fit the burst in the budget: squeeze the spacing, never the count.
    interval = min(interval, max(budget_s - 1.0 - timeout, 0.0) / count)
    settings = dataclasses.replace(link, count=count, echo_interval_s=interval, timeout_s=timeout)
    return ProbeJob("link", Target("", target, check_ip(ip), "host", tcp_port=port)), settings


def gauges(result: ProbeResult) -> Iterator[Gauge]:
    """Yield the link gauges of a /probe answer (the same series as /metrics)."""
    v = result.values
    yield md.DEVICE_UP, 1.0 if result.up else 0.0, None
    yield md.LINK_LOSS, v.get("loss_ratio", 1.0), None
    yield md.LINK_JITTER, v.get("jitter_seconds", 0.0), None
    yield md.LINK_RTT_AVERAGE, v.get("rtt_avg_seconds", 0.0), None
    yield md.LINK_SENT, v.get("sent", 0.0), None


KIND = Kind("link", LinkSettings, DEFAULT_LINK, probe_link, plan, families, {"icmp": 32, "tcp": 32}, build, gauges,
            check=check_link, failed_values={"loss_ratio": 1.0})
