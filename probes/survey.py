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
from sitescout.probes.net.icmp import IcmpUnavailableError
from sitescout.probes.net.link_quality import (SURVEY_LINK, LinkResult, LinkSettings, async_measure_links,
                                            async_tcp_connect_burst)
from sitescout.probes.models import HostRecord, LinkStats, SurveyDocument
from sitescout.probes.net.interfaces import LocalAddress, local_ipv4_addresses, parse_networks
from sitescout.probes.onvif.interrogate import DEFAULT_ONVIF, OnvifConfig, OnvifTarget, async_interrogate
from sitescout.probes.net.oui import vendor_for_mac
from sitescout.probes.net.ports import DEFAULT_PORTS, async_scan_ports
from sitescout.probes.stream.survey_stage import StreamStageConfig, async_check_streams
from sitescout.probes.net.sweep import sweep
from sitescout.probes.snmp.client import SnmpCredentials
from sitescout.probes.snmp.survey_stage import DEFAULT_SNMP_STAGE, SnmpStageConfig, async_survey_snmp
from sitescout.probes.onvif.wsdiscovery import DiscoveredDevice, async_discover
from sitescout.probes.onvif.xaddr import choose_xaddr, url_host

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
    link: LinkSettings = SURVEY_LINK
    measure_links: bool = True
    streams: StreamStageConfig = StreamStageConfig()
    check_streams: bool = True
    onvif: OnvifConfig = DEFAULT_ONVIF
    snmp: SnmpStageConfig = DEFAULT_SNMP_STAGE
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


async def _async_measure(live: Sequence[str], open_ports: dict[str, list[int]], config: LinkSettings,
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


def _sort_discoveries(devices: Sequence[DiscoveredDevice], nets: Sequence[ipaddress.IPv4Network],
                      own_ips: set[str]) -> tuple[dict[str, list[DiscoveredDevice]], dict[str, list[str]]]:
    """Sort WS-Discovery answers by the address that sent them; say which look spoofed.

    Returns (candidates per address, findings per address).  Every address that answered is
    a candidate of its own: a spoofer that answers first with another camera's endpoint must
    not take that camera's place (it used to: the first source address won).  Answers from
    outside the surveyed networks, or from this machine, are ignored.
    """
    by_ip: dict[str, list[DiscoveredDevice]] = {}
    claims: dict[str, list[str]] = {}
    for device in devices:
        ips = [s for s in device.source_ips if _in_networks(s, nets) and s not in own_ips]
        if not ips:
            log.info("%s: answered from %s, outside the surveyed networks; ignored",
                     device.endpoint, ", ".join(device.source_ips))
            continue
        for ip in ips:
            by_ip.setdefault(ip, []).append(device)
        if len(ips) > 1:
            owners = [ip for ip in ips if _names_host(device, ip)]
            for ip in ips:
                if len(owners) == 1 and ip == owners[0]:
                    continue
                elsewhere = ", ".join(i for i in ips if i != ip)
                text = (
                    f"ws-discovery: answered as {device.endpoint}, whose XAddrs name {owners[0]} (spoofed reply?)"
                    if len(owners) == 1
                    else f"ws-discovery: endpoint {device.endpoint} also answered from {elsewhere} "
                    "(spoofed or multi-homed?)"
                )
                claims.setdefault(ip, []).append(text)
    return by_ip, claims


def _adopt_camera(d: _Draft, candidates: Sequence[DiscoveredDevice], claims: Sequence[str]) -> None:
    """Make an address a camera: keep its most believable endpoint and note floods and claims."""
    # Prefer an endpoint whose XAddrs name this address, then the steadiest: a
    # real camera answers every Probe we send, a flood of spoofed endpoints
    # from one address answers each once.  (Not "answered from one address
    # only": a spoofer claiming a camera's endpoint would then demote it.)
    ip = d.record.ip
    d.device = max(candidates, key=lambda dev: (_names_host(dev, ip), dev.replies))
    d.record.kind = "camera"
    if len(candidates) > 1:
        d.record.errors.append(
            f"ws-discovery: {len(candidates)} distinct endpoints answered from this address "
            f"(flood or spoofing?); kept {d.device.endpoint}, which answered {d.device.replies} times")
    d.record.errors.extend(claims[:3])
    if len(claims) > 3:
        d.record.errors.append(f"ws-discovery: {len(claims) - 3} more endpoints claimed by this address and others")


class _Survey:
    """One survey run: its input, the per-address drafts, and one method per stage."""

    def __init__(self, nets: list[ipaddress.IPv4Network], interface: str | None, credentials: Sequence[Credential],
                 config: SurveyConfig, progress: Progress) -> None:
        self.nets = nets
        self.interface = interface
        self.credentials = credentials
        self.config = config
        self.progress = progress
        self.local = local_ipv4_addresses()
        self.own_ips = {a.ip for a in self.local}
        self.drafts: dict[str, _Draft] = {}
        #: The credential each camera accepted over ONVIF (its streams get the same one).
        self.credential_of: dict[str, Credential] = {}

    def draft(self, ip: str) -> _Draft:
        """Return the draft of `ip`, made on first use."""
        if ip not in self.drafts:
            self.drafts[ip] = _Draft(HostRecord(ip=ip))
        return self.drafts[ip]

    async def async_sweep(self) -> list[str]:
        """Find the live hosts (ARP/ICMP sweep) and their vendors; return their addresses in order."""
        self.progress("sweep", 0, 0)
        config = self.config
        hits = await asyncio.to_thread(
            sweep, self.nets, interface=self.interface, wait_s=config.sweep_wait_s, retries=config.sweep_retries
        )
        for hit in hits:
            if hit.ip in self.own_ips:
                continue
            rec = self.draft(hit.ip).record
            rec.mac = hit.mac
            rec.vendor = vendor_for_mac(hit.mac) if hit.mac else None
        self.progress("sweep", len(self.drafts), len(self.drafts))
        return sorted(self.drafts, key=ipaddress.ip_address)

    async def async_scan_ports(self, live: list[str]) -> dict[str, list[int]]:
        """Record the device ports each live host has open."""
        self.progress("ports", 0, len(live))
        open_ports = await async_scan_ports(
            live, self.config.ports, timeout_s=self.config.port_timeout_s, concurrency=self.config.port_concurrency
        )
        for ip, ports in open_ports.items():
            self.draft(ip).record.open_ports = sorted(ports)
        self.progress("ports", len(live), len(live))
        return open_ports

    async def async_discover(self, live: list[str]) -> list[_Draft]:
        """Ask for ONVIF devices (multicast on a surveyed network, unicast to every live host); return the cameras."""
        source = _multicast_source(self.nets, self.local, self.interface)
        multicast = self.config.multicast and source is not None
        if self.config.multicast and source is None:
            log.info("no local address inside %s: multicast WS-Discovery skipped, unicast only",
                     ", ".join(map(str, self.nets)))
        self.progress("ws-discovery", 0, 0)
        devices = await async_discover(
            interface_ip=source.ip if source else None,
            unicast_targets=live,
            wait_s=self.config.wsd_wait_s,
            multicast=multicast,
            repeats=self.config.wsd_repeats,
        )
        by_ip, claims = _sort_discoveries(devices, self.nets, self.own_ips)
        for ip, candidates in by_ip.items():
            _adopt_camera(self.draft(ip), candidates, claims.get(ip, []))
        cameras = [d for d in self.drafts.values() if d.device is not None]
        self.progress("ws-discovery", len(cameras), len(cameras))
        return cameras

    async def async_interrogate(self, cameras: list[_Draft]) -> None:
        """Interrogate every camera over ONVIF, a bounded number at once."""
        self.progress("onvif", 0, len(cameras))
        semaphore = asyncio.Semaphore(self.config.interrogate_concurrency)
        done = 0

        async def one(d: _Draft) -> None:
            nonlocal done
            await self._async_interrogate_one(d, semaphore)
            done += 1
            self.progress("onvif", done, len(cameras))

        await asyncio.gather(*(one(d) for d in cameras))

    async def _async_interrogate_one(self, d: _Draft, semaphore: asyncio.Semaphore) -> None:
        """Interrogate one camera at the XAddr it gave for its own address; fill its record."""
        assert d.device is not None
        rec = d.record
        # An endpoint heard from several addresses (spoofed, or multi-homed): use only what
        # this address said, so another address's scopes never land on this record.
        scopes, xaddrs = d.device.said_by(rec.ip) if len(d.device.source_ips) > 1 \
            else (d.device.scopes, d.device.xaddrs)
        choice = choose_xaddr(xaddrs, rec.ip)
        if choice is None or not choice.url:
            rec.errors.append("onvif: no usable XAddr in the discovery reply")
            return
        target = OnvifTarget(ip=rec.ip, xaddr=choice.url, endpoint=d.device.endpoint, scopes=list(scopes),
                             xaddrs=list(xaddrs))
        async with semaphore:
            try:
                result = await async_interrogate(target, self.credentials, self.config.onvif)
            except ProbeError as err:  # the interrogator should not raise; keep the host anyway
                rec.add_error(f"onvif: {err.as_text()}", err.as_code())
                return
        rec.onvif = result.info
        rec.add_errors(result.errors, result.error_codes, prefix="onvif: ")
        if rec.onvif is not None:
            rec.onvif.findings.extend(choice.findings)
            if rec.mac is None and rec.onvif.mac:
                rec.mac = rec.onvif.mac
                rec.vendor = vendor_for_mac(rec.mac)
        if result.credential_used is not None:
            self.credential_of[rec.ip] = self.credentials[result.credential_used]

    async def async_check_streams(self, cameras: list[_Draft]) -> None:
        """Check every camera's streams with the credential its ONVIF answer accepted."""
        await async_check_streams(
            [d.record for d in cameras], lambda rec: self.credential_of.get(rec.ip), self.config.streams,
            lambda done_, total: self.progress("streams", done_, total),
        )

    async def async_finish_links(self, link_task: asyncio.Task[None], live: list[str]) -> None:
        """Wait for the link measurements started after the port scan."""
        self.progress("links", 0, len(live))
        await link_task
        self.progress("links", len(live), len(live))

    async def async_snmp(self, live: list[str], credentials: SnmpCredentials) -> None:
        """Read the SNMP agents and place every host on its switch port (probes/snmp/survey_stage.py)."""
        self.progress("snmp", 0, len(live))
        macs = {ip: self.drafts[ip].record.mac for ip in live}
        ports = {ip: self.drafts[ip].record.open_ports for ip in live}
        result = await async_survey_snmp(live, macs, credentials, self.config.snmp, open_ports=ports,
                                         networks=self.nets)
        for ip, value in result.snmp.items():
            self.draft(ip).record.snmp = value
        for ip, value in result.attached_to.items():
            self.draft(ip).record.attached_to = value
        for ip, value in result.device_class.items():
            self.draft(ip).record.device_class = value
        for ip, value in result.http.items():
            self.draft(ip).record.http = value
        self.progress("snmp", len(live), len(live))

    def hosts(self) -> list[HostRecord]:
        """Return every host's record, in address order."""
        return [self.drafts[ip].record for ip in sorted(self.drafts, key=ipaddress.ip_address)]


async def async_run_survey(
    site: str,
    networks: Sequence[str],
    *,
    interface: str | None = None,
    credentials: Sequence[Credential] = (),
    snmp_credentials: SnmpCredentials | None = None,
    config: SurveyConfig = DEFAULT_SURVEY,
    progress: Progress = _no_progress,
) -> SurveyDocument:
    """Survey ``networks`` and return the survey document; raise ValueError for bad input only.

    Stages: sweep, ports, then link measurement in the background while WS-Discovery,
    ONVIF interrogation and the stream checks run; the links are awaited, then SNMP runs last
    (it reads agents in forked processes, best started with no other stage in flight).
    """
    nets = parse_networks(networks, config.max_addresses)
    started_at = _utc_now()
    survey = _Survey(nets, interface, credentials, config, progress)
    live = await survey.async_sweep()
    open_ports = await survey.async_scan_ports(live)
    link_task = (asyncio.create_task(_async_measure(live, open_ports, config.link, survey.drafts))
                 if config.measure_links else None)
    cameras = await survey.async_discover(live)
    await survey.async_interrogate(cameras)
    if config.check_streams:
        await survey.async_check_streams(cameras)
    if link_task is not None:
        await survey.async_finish_links(link_task, live)
    if config.snmp.enabled:
        await survey.async_snmp(live, snmp_credentials or SnmpCredentials())
    return SurveyDocument(
        site=site,
        started_at=started_at,
        finished_at=_utc_now(),
        networks=[str(n) for n in nets],
        hosts=survey.hosts(),
    )
