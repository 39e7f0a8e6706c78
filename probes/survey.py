"""One site survey, end to end: sweep, ports, WS-Discovery, ONVIF interrogation.

The stages run in order because each feeds the next (live hosts are the
unicast WS-Discovery targets; discovered endpoints are interrogated), but
within a stage everything runs at once with bounded concurrency.  A device
that fails any stage still appears in the document, with its errors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sitescout.probes.credentials import Credential
from sitescout.probes.errors import ProbeError
from sitescout.probes.icmp import IcmpUnavailableError
from sitescout.probes.link_quality import SURVEY_LINK, LinkConfig, LinkResult, async_measure_links, async_tcp_connect_burst
from sitescout.probes.models import HostRecord, LinkStats, SurveyDocument
from sitescout.probes.netif import LocalAddress, local_ipv4_addresses, parse_networks
from sitescout.probes.onvif import DEFAULT_ONVIF, OnvifConfig, OnvifTarget, async_interrogate
from sitescout.probes.oui import vendor_for_mac
from sitescout.probes.ports import DEFAULT_PORTS, async_scan_ports
from sitescout.probes.survey_streams import StreamStageConfig, async_check_streams
from sitescout.probes.sweep import sweep
from sitescout.probes.wsdiscovery import DiscoveredDevice, async_discover
from sitescout.probes.xaddr import choose_xaddr, url_host

__all__ = ["SurveyConfig", "DEFAULT_SURVEY", "async_run_survey", "parse_networks", "Progress"]

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``; ``total`` 0 means "unknown yet".
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class SurveyConfig:
    """Knobs of one survey; defaults suit a technician on a site LAN."""

    sweep_wait_s: float = 0.8
    sweep_retries: int = 1
    ports: tuple[int, ...] = DEFAULT_PORTS
    port_timeout_s: float = 1.0
    port_concurrency: int = 512
    wsd_wait_s: float = 3.0
    wsd_repeats: int = 3
    multicast: bool = True
    interrogate_concurrency: int = 32
    link: LinkConfig = SURVEY_LINK
    measure_links: bool = True
    streams: StreamStageConfig = StreamStageConfig()
    check_streams: bool = True
    onvif: OnvifConfig = DEFAULT_ONVIF
    max_addresses: int = 65536


DEFAULT_SURVEY = SurveyConfig()


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _multicast_source(
    networks: Sequence[ipaddress.IPv4Network], local: Sequence[LocalAddress], interface: str | None
) -> LocalAddress | None:
    """Pick our address for multicast: on the given interface, inside a surveyed network.

    Never an address outside the networks we were told to survey: the tool must
    not pick a network to scan on its own.
    """
    for addr in local:
        if interface and addr.interface != interface:
            continue
        if any(ipaddress.ip_address(addr.ip) in net for net in networks):
            return addr
    return None


def _in_networks(ip: str, networks: Sequence[ipaddress.IPv4Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


def _names_host(device: DiscoveredDevice, ip: str) -> bool:
    """Return True when one of the device's XAddrs names ``ip`` as its host."""
    return any(url_host(x) == ip for x in device.xaddrs)


@dataclass
class _Draft:
    """Mutable per-address state while the survey runs."""

    record: HostRecord
    device: DiscoveredDevice | None = None
    started: float = field(default_factory=time.monotonic)


#: Ports tried, in order, for a TCP connect-time burst when a host filters ICMP.
_TCP_LINK_PORTS = (554, 80, 8000, 443, 8080)


def _link_stats(result: LinkResult, method: str) -> LinkStats:
    stats = result.to_stats()
    stats.method = method
    for name in ("rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "jitter_ms"):
        setattr(stats, name, round(getattr(stats, name), 3))
    stats.loss_ratio = round(stats.loss_ratio, 4)
    return stats


async def _async_measure(live: Sequence[str], open_ports: dict[str, list[int]], config: LinkConfig,
                         drafts: dict[str, _Draft]) -> None:
    """Fill ``link`` of every live host: ICMP bursts, TCP connect times where ICMP gets no answer."""
    icmp: dict[str, LinkResult] = {}
    try:
        icmp = await async_measure_links(live, config)
    except IcmpUnavailableError as err:
        log.warning("ICMP link quality unavailable (%s); measuring TCP connect times only", err)
    tcp_jobs = {}
    for ip in live:
        result = icmp.get(ip)
        if result is not None and result.received > 0:
            drafts[ip].record.link = _link_stats(result, "icmp")
            continue
        port = next((p for p in _TCP_LINK_PORTS if p in open_ports.get(ip, [])), None)
        if port is None and open_ports.get(ip):
            port = open_ports[ip][0]
        if port is not None:
            tcp_jobs[ip] = async_tcp_connect_burst(ip, port, config)
        elif result is not None:
            drafts[ip].record.link = _link_stats(result, "icmp")
    for ip, tcp in zip(tcp_jobs, await asyncio.gather(*tcp_jobs.values())):
        drafts[ip].record.link = _link_stats(tcp, f"tcp:{tcp.target.rsplit(':', 1)[1]}")


async def async_run_survey(
    site: str,
    networks: Sequence[str],
    *,
    interface: str | None = None,
    credentials: Sequence[Credential] = (),
    config: SurveyConfig = DEFAULT_SURVEY,
    progress: Progress = _no_progress,
) -> SurveyDocument:
    """Survey ``networks`` and return the survey document; raise ValueError for bad input only."""
    nets = parse_networks(networks, config.max_addresses)
    started_at = _utc_now()
    local = local_ipv4_addresses()
    own_ips = {a.ip for a in local}
    drafts: dict[str, _Draft] = {}

    def draft(ip: str) -> _Draft:
        if ip not in drafts:
            drafts[ip] = _Draft(HostRecord(ip=ip))
        return drafts[ip]

    progress("sweep", 0, 0)
    hits = await asyncio.to_thread(
        sweep, nets, interface=interface, wait_s=config.sweep_wait_s, retries=config.sweep_retries
    )
    for hit in hits:
        if hit.ip in own_ips:
            continue
        rec = draft(hit.ip).record
        rec.mac = hit.mac
        rec.vendor = vendor_for_mac(hit.mac) if hit.mac else None
    progress("sweep", len(drafts), len(drafts))

    live = sorted(drafts, key=ipaddress.ip_address)
    progress("ports", 0, len(live))
    open_ports = await async_scan_ports(
        live, config.ports, timeout_s=config.port_timeout_s, concurrency=config.port_concurrency
    )
    for ip, ports in open_ports.items():
        draft(ip).record.open_ports = sorted(ports)
    progress("ports", len(live), len(live))

    link_task = (asyncio.create_task(_async_measure(live, open_ports, config.link, drafts))
                 if config.measure_links else None)

    source = _multicast_source(nets, local, interface)
    multicast = config.multicast and source is not None
    if config.multicast and source is None:
        log.info("no local address inside %s: multicast WS-Discovery skipped, unicast only",
                 ", ".join(map(str, nets)))
    progress("ws-discovery", 0, 0)
    devices = await async_discover(
        interface_ip=source.ip if source else None,
        unicast_targets=live,
        wait_s=config.wsd_wait_s,
        multicast=multicast,
        repeats=config.wsd_repeats,
    )
    by_ip: dict[str, list[DiscoveredDevice]] = {}
    claims: dict[str, list[str]] = {}
    for device in devices:
        ips = [s for s in device.source_ips if _in_networks(s, nets) and s not in own_ips]
        if not ips:
            log.info("%s: answered from %s, outside the surveyed networks; ignored",
                     device.endpoint, ", ".join(device.source_ips))
            continue
        # Every address that answered is a candidate of its own: a spoofer that
        # answers first with another camera's endpoint must not take that
        # camera's place (it used to: the first source address won).
        for ip in ips:
            by_ip.setdefault(ip, []).append(device)
        if len(ips) > 1:
            owners = [ip for ip in ips if _names_host(device, ip)]
            for ip in ips:
                if len(owners) == 1 and ip == owners[0]:
                    continue
                elsewhere = ", ".join(i for i in ips if i != ip)
                text = (f"ws-discovery: answered as {device.endpoint}, whose XAddrs name {owners[0]} (spoofed reply?)"
                        if len(owners) == 1 else
                        f"ws-discovery: endpoint {device.endpoint} also answered from {elsewhere} (spoofed or multi-homed?)")
                claims.setdefault(ip, []).append(text)
    for ip, candidates in by_ip.items():
        d = draft(ip)
        # Prefer an endpoint whose XAddrs name this address, then the steadiest: a
        # real camera answers every Probe we send, a flood of spoofed endpoints
        # from one address answers each once.  (Not "answered from one address
        # only": a spoofer claiming a camera's endpoint would then demote it.)
        d.device = max(candidates, key=lambda dev: (_names_host(dev, ip), dev.replies))
        d.record.kind = "camera"
        if len(candidates) > 1:
            d.record.errors.append(
                f"ws-discovery: {len(candidates)} distinct endpoints answered from this address "
                f"(flood or spoofing?); kept {d.device.endpoint}, which answered {d.device.replies} times")
        mine = claims.get(ip, [])
        d.record.errors.extend(mine[:3])
        if len(mine) > 3:
            d.record.errors.append(f"ws-discovery: {len(mine) - 3} more endpoints claimed by this address and others")
    cameras = [d for d in drafts.values() if d.device is not None]
    progress("ws-discovery", len(cameras), len(cameras))

    progress("onvif", 0, len(cameras))
    semaphore = asyncio.Semaphore(config.interrogate_concurrency)
    done = 0
    credential_of: dict[str, Credential] = {}

    async def interrogate(d: _Draft) -> None:
        nonlocal done
        assert d.device is not None
        rec = d.record
        # An endpoint heard from several addresses (spoofed, or multi-homed): use only what
        # this address said, so another address's scopes never land on this record.
        scopes, xaddrs = d.device.said_by(rec.ip) if len(d.device.source_ips) > 1 \
            else (d.device.scopes, d.device.xaddrs)
        choice = choose_xaddr(xaddrs, rec.ip)
        if choice is None or not choice.url:
            rec.errors.append("onvif: no usable XAddr in the discovery reply")
        else:
            target = OnvifTarget(
                ip=rec.ip,
                xaddr=choice.url,
                endpoint=d.device.endpoint,
                scopes=list(scopes),
                xaddrs=list(xaddrs),
            )
            async with semaphore:
                try:
                    result = await async_interrogate(target, credentials, config.onvif)
                except ProbeError as err:  # the interrogator should not raise; keep the host anyway
                    rec.errors.append(f"onvif: {err.as_text()}")
                else:
                    rec.onvif = result.info
                    rec.errors.extend(f"onvif: {e}" for e in result.errors)
                    if rec.onvif is not None:
                        rec.onvif.findings.extend(choice.findings)
                        if rec.mac is None and rec.onvif.mac:
                            rec.mac = rec.onvif.mac
                            rec.vendor = vendor_for_mac(rec.mac)
                    if result.credential_used is not None:
                        credential_of[rec.ip] = credentials[result.credential_used]
        done += 1
        progress("onvif", done, len(cameras))

    await asyncio.gather(*(interrogate(d) for d in cameras))
    if config.check_streams:
        await async_check_streams(
            [d.record for d in cameras], lambda rec: credential_of.get(rec.ip), config.streams,
            lambda done_, total: progress("streams", done_, total),
        )
    if link_task is not None:
        progress("links", 0, len(live))
        await link_task
        progress("links", len(live), len(live))

    hosts = [drafts[ip].record for ip in sorted(drafts, key=ipaddress.ip_address)]
    return SurveyDocument(
        site=site,
        started_at=started_at,
        finished_at=_utc_now(),
        networks=[str(n) for n in nets],
        hosts=hosts,
    )
