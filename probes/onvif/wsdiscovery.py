"""WS-Discovery client: multicast and unicast Probes, Hello listening, lenient parsing, dedup.

Channels (onvif-anchors.md §4.1): multicast Probes to 239.255.255.250:3702 on
one interface, repeated with 50–250 ms jitter like python-ws-discovery
``udp.py``; unicast Probes to every given address for routed VLANs where
multicast does not reach (edgexfoundry/device-onvif-camera#134 "netscan");
passive Hello listening on 0.0.0.0:3702.

Never picks a network by itself: multicast is sent only when the caller gives
``interface_ip`` (the survey always does) or passes ``multicast=True``
explicitly, which then uses the OS default multicast interface.  Unicast
Probes go only to ``unicast_targets``.

Replies are parsed leniently (:mod:`sitescout.probes.onvif.wsd_messages`) and accepted whatever their RelatesTo says
(python-ws-discovery#38); a mismatch is recorded as a finding.  Devices are
deduplicated as replies arrive: one per endpoint UUID, then merged by MAC,
then by serial (agsh/onvif#6, vicmaeg/onvif-discovery#20).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import random
import socket
import struct
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sitescout.probes.errors import MalformedError
from sitescout.probes.onvif.wsd_messages import (
    MAX_DATAGRAM_BYTES,
    MAX_ITEMS,
    PROBE_TYPES_VARIANTS,
    WSD_GROUP,
    WSD_PORT,
    WsdMatch,
    build_probe,
    mac_from_scopes,
    normalize_endpoint,
    parse_probe_matches,
    scope_value,
    serial_from_scopes,
)
from sitescout.probes.onvif.xaddr import XAddrChoice, choose_xaddr

__all__ = [
    "DiscoveredDevice",
    "DiscoveryReport",
    "DiscoveryCollector",
    "async_discover",
    "async_discover_report",
]

log = logging.getLogger(__name__)

_MAX_FINDINGS = 16
_RCVBUF_BYTES = 16 * 1024 * 1024  # kernel memory for reply bursts; ours stays bounded by max_replies

@dataclass
class DiscoveredDevice:
    """One device, however many replies, NICs or Probe variants it answered."""

    endpoint: str
    types: list[str]
    scopes: list[str]
    xaddrs: list[str]
    source_ips: list[str]
    mac: str | None
    name: str | None
    hardware: str | None
    is_hello: bool
    replies: int
    serial: str | None = None
    metadata_version: int | None = None
    aliases: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    #: What each source address said first: (scopes, xaddrs).  The merged lists mix every
    #: address's claims; a spoofer's scopes must not end up on the camera it impersonates.
    by_source: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    def said_by(self, source_ip: str) -> tuple[list[str], list[str]]:
        """Return (scopes, xaddrs) as ``source_ip`` sent them, or the merged lists when it is not known."""
        return self.by_source.get(source_ip, (self.scopes, self.xaddrs))

    def choose_xaddr(self, *, fallback_host: str | None = None) -> XAddrChoice | None:
        """Choose the device-service URL, re-based on the first address that answered."""
        return choose_xaddr(self.xaddrs, self.source_ips[0] if self.source_ips else None, fallback_host=fallback_host)


def _add_bounded(target: list[str], items: Sequence[str], limit: int = MAX_ITEMS) -> None:
    for item in items:
        if len(target) >= limit:
            return
        if item not in target:
            target.append(item)


def _new_device(key: str, m: WsdMatch) -> DiscoveredDevice:
    return DiscoveredDevice(
        endpoint=key, types=list(m.types), scopes=list(m.scopes), xaddrs=list(m.xaddrs),
        source_ips=[m.source_ip], mac=None, name=None, hardware=None, is_hello=m.is_hello,
        replies=0, metadata_version=m.metadata_version, by_source={m.source_ip: (m.scopes, m.xaddrs)},
    )


def _set_identity(dev: DiscoveredDevice) -> None:
    dev.mac = mac_from_scopes(dev.scopes)
    dev.serial = serial_from_scopes(dev.scopes)
    dev.name = scope_value(dev.scopes, "name")
    dev.hardware = scope_value(dev.scopes, "hardware") or scope_value(dev.scopes, "model")


def _merge_into(dst: DiscoveredDevice, src: DiscoveredDevice) -> None:
    _add_bounded(dst.types, src.types)
    _add_bounded(dst.scopes, src.scopes)
    _add_bounded(dst.xaddrs, src.xaddrs)
    _add_bounded(dst.source_ips, src.source_ips)
    _add_bounded(dst.aliases, [src.endpoint, *src.aliases])
    _add_bounded(dst.findings, src.findings, _MAX_FINDINGS)
    for ip, said in src.by_source.items():
        if len(dst.by_source) < MAX_ITEMS:
            dst.by_source.setdefault(ip, said)
    dst.replies += src.replies
    dst.is_hello = dst.is_hello and src.is_hello
    dst.mac = dst.mac or src.mac
    dst.serial = dst.serial or src.serial
    dst.name = dst.name or src.name
    dst.hardware = dst.hardware or src.hardware


class DiscoveryCollector:
    """Dedup replies as they arrive: identical datagrams are counted, not re-parsed; parsing stops at max_replies."""

    def __init__(self, *, max_replies: int = 5000, our_message_ids: Sequence[str] = ()) -> None:
        self.max_replies = max_replies
        self.our_ids = {normalize_endpoint(i) for i in our_message_ids}
        self.datagrams = 0
        self.parsed = 0
        self.duplicates = 0
        self.malformed = 0
        self.oversize = 0
        self.dropped = 0
        self._seen: dict[bytes, tuple[str, ...]] = {}
        self._devices: dict[str, DiscoveredDevice] = {}

    @property
    def truncated(self) -> bool:
        """True once replies were dropped because max_replies was reached."""
        return self.dropped > 0

    def add_datagram(self, data: bytes, source_ip: str) -> None:
        """Account for one datagram; parse it unless it is a duplicate or the budget is spent."""
        self.datagrams += 1
        if len(data) > MAX_DATAGRAM_BYTES:
            self.oversize += 1
            return
        digest = hashlib.blake2b(data + b"\0" + source_ip.encode(), digest_size=16).digest()
        keys = self._seen.get(digest)
        if keys is not None:
            self.duplicates += 1
            for key in keys:
                self._devices[key].replies += 1
            return
        if self.parsed >= self.max_replies:
            if not self.dropped:
                log.warning("WS-Discovery: %d replies parsed, ignoring further new replies", self.parsed)
            self.dropped += 1
            return
        self.parsed += 1
        try:
            matches = parse_probe_matches(data, source_ip)
        except MalformedError as err:
            self.malformed += 1
            self._seen[digest] = ()
            log.debug("%s", err)
            return
        self._seen[digest] = tuple(self.add_match(m) for m in matches)

    def add_match(self, m: WsdMatch) -> str:
        """Merge one parsed match into its endpoint's device; return the endpoint key."""
        key = normalize_endpoint(m.endpoint)
        dev = self._devices.get(key)
        if dev is None:
            dev = self._devices[key] = _new_device(key, m)
            _set_identity(dev)
        else:
            _add_bounded(dev.types, m.types)
            n_scopes = len(dev.scopes)
            _add_bounded(dev.scopes, m.scopes)
            if len(dev.scopes) != n_scopes:
                _set_identity(dev)
            _add_bounded(dev.xaddrs, m.xaddrs)
            _add_bounded(dev.source_ips, [m.source_ip])
            if m.source_ip not in dev.by_source and len(dev.by_source) < MAX_ITEMS:
                dev.by_source[m.source_ip] = (m.scopes, m.xaddrs)
            dev.is_hello = dev.is_hello and m.is_hello
            if m.metadata_version is not None:
                dev.metadata_version = max(dev.metadata_version or 0, m.metadata_version)
        dev.replies += 1
        if not m.is_hello and self.our_ids:
            if m.relates_to is None or normalize_endpoint(m.relates_to) not in self.our_ids:
                _add_bounded(
                    dev.findings,
                    [f"RelatesTo {m.relates_to!r} matches none of our Probes (accepted anyway)"],
                    _MAX_FINDINGS,
                )
            if m.message_id and normalize_endpoint(m.message_id) in self.our_ids:
                _add_bounded(
                    dev.findings, ["reply reuses our Probe MessageID as its own (accepted anyway)"], _MAX_FINDINGS
                )
        return key

    def devices(self) -> list[DiscoveredDevice]:
        """Return devices merged by endpoint, then MAC, then serial, in first-seen order."""
        merged: list[DiscoveredDevice] = []
        by_mac: dict[str, DiscoveredDevice] = {}
        by_serial: dict[str, DiscoveredDevice] = {}
        for dev in self._devices.values():
            out = DiscoveredDevice(**{**dev.__dict__, "types": list(dev.types), "scopes": list(dev.scopes),
                                      "xaddrs": list(dev.xaddrs), "source_ips": list(dev.source_ips),
                                      "aliases": list(dev.aliases), "findings": list(dev.findings),
                                      "by_source": dict(dev.by_source)})
            target = (by_mac.get(out.mac) if out.mac else None) or (by_serial.get(out.serial) if out.serial else None)
            if target is not None:
                _merge_into(target, out)
                continue
            merged.append(out)
            if out.mac:
                by_mac[out.mac] = out
            if out.serial:
                by_serial[out.serial] = out
        return merged


@dataclass
class DiscoveryReport:
    """Devices plus what happened on the wire: counts, truncation, send errors."""

    devices: list[DiscoveredDevice]
    datagrams: int = 0
    parsed: int = 0
    duplicates: int = 0
    malformed: int = 0
    dropped: int = 0
    probes_sent: int = 0
    probes_unsent: int = 0
    hello_listening: bool = False
    findings: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        """True when replies were ignored because max_replies was reached."""
        return self.dropped > 0


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, collector: DiscoveryCollector, errors: list[str], deadline: float) -> None:
        self.collector = collector
        self.errors = errors
        self.deadline = deadline
        self.late = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # A backlog of queued datagrams must not keep us past the deadline.
        if asyncio.get_running_loop().time() >= self.deadline:
            self.late += 1
            return
        self.collector.add_datagram(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        if len(self.errors) < _MAX_FINDINGS:
            self.errors.append(f"socket error: {exc}")
        log.debug("WS-Discovery socket error: %s", exc)


def _probe_socket(interface_ip: str | None, multicast: bool, ttl: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        # SO_RCVBUFFORCE (33 on Linux, absent from the socket module) lifts rmem_max when we are root,
        # so a burst of thousands of replies waits in the kernel instead of being dropped.
        force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
        for opt in (force, socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, _RCVBUF_BYTES)
                break
            except OSError:
                continue
        sock.bind((interface_ip or "0.0.0.0", 0))
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            if interface_ip:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip))
    except OSError:
        sock.close()
        raise
    return sock


def _hello_socket(interface_ip: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", WSD_PORT))
        mreq = struct.pack("4s4s", socket.inet_aton(WSD_GROUP), socket.inet_aton(interface_ip or "0.0.0.0"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError:
        sock.close()
        raise
    return sock


def _validate_targets(targets: Sequence[str]) -> list[str]:
    out: list[str] = []
    for t in targets:
        ip = ipaddress.ip_address(str(t).strip())  # ValueError on a bad target: a config error
        if ip.version != 4:
            raise ValueError(f"unicast WS-Discovery target {t!r}: only IPv4 is supported")
        if str(ip) not in out:
            out.append(str(ip))
    return out


async def async_discover_report(
    *,
    interface_ip: str | None = None,
    unicast_targets: Sequence[str] = (),
    wait_s: float = 3.0,
    multicast: bool | None = None,
    repeats: int = 3,
    listen_hello: bool = True,
    max_replies: int = 5000,
    multicast_ttl: int = 1,
    unicast_rate_pps: float = 2000.0,
    probe_types: Sequence[str | None] = PROBE_TYPES_VARIANTS,
) -> DiscoveryReport:
    """Probe, listen for wait_s seconds, and return devices with wire statistics.

    ``multicast=None`` means "multicast on interface_ip when one is given";
    ``True`` without interface_ip uses the OS default multicast interface.
    Hello listening (bind 0.0.0.0:3702, join the group) happens only with
    multicast on; failing to bind (simulated cameras own 3702 on loopback)
    is logged and skipped.  The whole call lasts ``wait_s``: unicast Probes
    are paced at ``unicast_rate_pps``, and any not sent by then are counted
    in ``probes_unsent`` (a /24 with two variants and three repeats takes
    about 0.8 s).
    """
    loop = asyncio.get_running_loop()
    targets = _validate_targets(unicast_targets)
    do_multicast = multicast if multicast is not None else interface_ip is not None
    report = DiscoveryReport(devices=[])
    if not do_multicast and not targets:
        report.findings.append("nothing to probe: give interface_ip, unicast_targets or multicast=True")
        log.warning("WS-Discovery: %s", report.findings[-1])
        return report
    if do_multicast and interface_ip is None:
        log.info("WS-Discovery: multicast requested without interface_ip: using the OS default multicast interface")
    messages = [(f"uuid:{uuid.uuid4()}", t) for t in probe_types]
    probes = [build_probe(t, mid) for mid, t in messages]
    collector = DiscoveryCollector(max_replies=max_replies, our_message_ids=[mid for mid, _ in messages])
    errors: list[str] = []
    deadline = loop.time() + wait_s
    sock = _probe_socket(interface_ip, do_multicast, multicast_ttl)
    receiver = _Receiver(collector, errors, deadline)
    transport, _ = await loop.create_datagram_endpoint(lambda: receiver, sock=sock)
    hello_transport = None
    if do_multicast and listen_hello:
        try:
            hsock = _hello_socket(interface_ip)
            hello_transport, _ = await loop.create_datagram_endpoint(lambda: receiver, sock=hsock)
            report.hello_listening = True
        except OSError as err:
            log.debug("WS-Discovery: Hello listener on 0.0.0.0:%d not started: %s", WSD_PORT, err)
            report.findings.append(f"Hello listener not started: {err}")
    planned = repeats * len(probes) * ((1 if do_multicast else 0) + len(targets))
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        gap = 1.0 / unicast_rate_pps if unicast_rate_pps > 0 else 0.0
        for round_no in range(repeats):
            if round_no:
                await asyncio.sleep(random.uniform(0.05, 0.25))
            if do_multicast:
                for probe in probes:
                    transport.sendto(probe, (WSD_GROUP, WSD_PORT))
                    sent += 1
            for i, target in enumerate(targets):
                for probe in probes:
                    transport.sendto(probe, (target, WSD_PORT))
                    sent += 1
                if gap and (i + 1) % 16 == 0:
                    await asyncio.sleep(16 * len(probes) * gap)
                if loop.time() >= deadline:
                    return

    sender = asyncio.ensure_future(send_all())
    try:
        remaining = deadline - loop.time()
        if remaining > 0:
            await asyncio.wait({sender}, timeout=remaining)
        remaining = deadline - loop.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
    finally:
        sender.cancel()
        transport.close()
        if hello_transport is not None:
            hello_transport.close()
    report.devices = collector.devices()
    report.datagrams, report.parsed = collector.datagrams, collector.parsed
    report.duplicates, report.malformed, report.dropped = collector.duplicates, collector.malformed, collector.dropped
    report.probes_sent, report.probes_unsent = sent, max(0, planned - sent)
    report.findings.extend(errors)
    if report.probes_unsent:
        report.findings.append(f"{report.probes_unsent} of {planned} Probes not sent before the {wait_s:g} s deadline")
    if receiver.late:
        report.findings.append(f"{receiver.late} datagrams arrived after the {wait_s:g} s window and were ignored")
    if report.truncated:
        report.findings.append(f"stopped parsing after {max_replies} replies; {collector.dropped} more ignored")
    log.debug("WS-Discovery: %d devices from %d datagrams (%d duplicate, %d malformed, %d dropped)",
              len(report.devices), report.datagrams, report.duplicates, report.malformed, report.dropped)
    return report


async def async_discover(
    *,
    interface_ip: str | None = None,
    unicast_targets: Sequence[str] = (),
    wait_s: float = 3.0,
    multicast: bool | None = None,
    repeats: int = 3,
    listen_hello: bool = True,
    max_replies: int = 5000,
) -> list[DiscoveredDevice]:
    """Discover WS-Discovery devices; see async_discover_report for the channels and bounds."""
    report = await async_discover_report(
        interface_ip=interface_ip, unicast_targets=unicast_targets, wait_s=wait_s, multicast=multicast,
        repeats=repeats, listen_hello=listen_hello, max_replies=max_replies,
    )
    return report.devices
