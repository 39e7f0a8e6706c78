"""Host discovery: which addresses of the given networks are alive, all probed at once.

Methods, chosen per address:

* ``arp`` — addresses on-link of an Ethernet interface, when root: ARP requests
  on an AF_PACKET socket; replies also give the MAC.
* ``icmp`` — routed addresses, when root: echo requests on a raw socket.
* ``icmp-dgram`` — not root but ``net.ipv4.ping_group_range`` admits us: the
  kernel's unprivileged ICMP datagram socket.
* ``tcp`` — neither: a TCP connect to a few common ports; an accepted or refused
  connection proves the host is there.  Loopback addresses always use this
  method and count only accepted connections, because the kernel answers ICMP
  and refuses TCP for every 127.x address.

Every request of a round is sent at once (paced at ``rate_pps``), replies are
collected until a quiet period or the deadline, then non-responders get
``retries`` more rounds.  Only the networks given are swept: this module never
picks a network on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import functools
import errno
import ipaddress
import json
import logging
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from sitescout.probes.net.icmp import (
    ICMP_ECHO_REPLY,
    IcmpSocket,
    IcmpUnavailableError,
    build_echo,
    open_icmp_socket,
    parse_echo,
)
from sitescout.probes.net.interfaces import LocalAddress, local_ipv4_addresses
from sitescout.probes.net.ports import DEFAULT_PORTS

__all__ = ["SweepHit", "sweep", "DEFAULT_MAX_ADDRESSES", "TCP_DISCOVERY_PORTS", "main"]

log = logging.getLogger(__name__)

DEFAULT_MAX_ADDRESSES = 65_536  # a /16
TCP_DISCOVERY_PORTS = (80, 443, 554, 22, 8000, 8080)

_ETH_P_ARP = 0x0806
_ARPHRD_ETHER = 1
_SO_RCVBUFFORCE = 33
_SO_ATTACH_FILTER = 26
_RCVBUF = 4 << 20
_BURST = 32
_SEND_RETRY_ERRNOS = {errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK}

Receiver = Callable[[float], list[tuple[str, str | None]]]


@dataclass
class SweepHit:
    """One live address: its MAC when learned at layer 2, and the method that found it."""

    ip: str
    mac: str | None
    method: str


# -- the round engine -------------------------------------------------------------


def _run_rounds(targets: Sequence[str], send: Callable[[str], None], receive: Receiver, *,
                wait_s: float, retries: int, rate_pps: float, quiet_s: float) -> dict[str, str | None]:
    """Send to every pending target, collect replies, repeat for non-responders; return ip -> mac."""
    found: dict[str, str | None] = {}
    wanted = set(targets)
    pending = list(targets)
    sent_at: dict[str, float] = {}
    slowest = 0.0

    def take(replies: Iterable[tuple[str, str | None]]) -> bool:
        nonlocal slowest
        got = False
        for ip, mac in replies:
            if ip in wanted and ip not in found:
                found[ip] = mac
                slowest = max(slowest, time.monotonic() - sent_at.get(ip, time.monotonic()))
                got = True
        return got

    for _round in range(retries + 1):
        if not pending:
            break
        start = time.monotonic()
        for i in range(0, len(pending), _BURST):
            due = start + i / rate_pps
            while (now := time.monotonic()) < due:
                take(receive(due - now))
            for ip in pending[i:i + _BURST]:
                send(ip)
                sent_at[ip] = time.monotonic()
            take(receive(0.0))
        last_send = last_reply = time.monotonic()
        deadline = last_send + wait_s
        while True:
            # Replies to the last requests arrive about one round trip after
            # them: wait at least a few times the slowest round trip seen.
            end = min(deadline, last_reply + max(quiet_s, 3 * slowest))
            now = time.monotonic()
            if now >= end:
                break
            if take(receive(end - now)):
                last_reply = time.monotonic()
        pending = [ip for ip in pending if ip not in found]
    return found


def _send_with_retry(sock: socket.socket, data: bytes, addr: tuple[str, int], target: str) -> None:
    for _ in range(50):
        try:
            sock.sendto(data, addr)
            return
        except OSError as err:
            if err.errno in _SEND_RETRY_ERRNOS:
                select.select([], [sock], [], 0.005)
                continue
            log.debug("%s: send failed: %s", target, err)
            return
    log.debug("%s: send buffer stayed full; skipped this round", target)


def _drain(sock: socket.socket, timeout_s: float, parse: Callable[[bytes, object], tuple[str, str | None] | None],
           ) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    readable, _, _ = select.select([sock], [], [], max(timeout_s, 0.0))
    if not readable:
        return out
    while True:
        try:
            data, addr = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return out
        except OSError as err:
            # ICMP errors (host unreachable) surface here on datagram sockets.
            log.debug("receive: %s", err)
            continue
        hit = parse(data, addr)
        if hit is not None:
            out.append(hit)


# -- ARP --------------------------------------------------------------------------


def _arp_reply_filter() -> bytes:
    # Classic BPF: keep ARP replies (opcode 2 at offset 20), drop the rest --
    # including our own outgoing requests, which packet sockets also see.
    insns = [(0x28, 0, 0, 20), (0x15, 0, 1, 2), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
    return b"".join(struct.pack("HBBI", *i) for i in insns)


def _arp_sweep(ifname: str, sources: dict[str, str], **opts: float) -> dict[str, str | None]:
    """ARP-sweep `sources` (target ip -> our source ip on `ifname`) on one interface."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ARP))
    with sock:
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        prog = _arp_reply_filter()
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
        sock.bind((ifname, _ETH_P_ARP))
        src_mac = sock.getsockname()[4]
        head = b"\xff" * 6 + src_mac + struct.pack("!HHHBBH", _ETH_P_ARP, 1, 0x0800, 6, 4, 1) + src_mac
        frames = {ip: (head + socket.inet_aton(spa) + b"\x00" * 6 + socket.inet_aton(ip)).ljust(60, b"\x00")
                  for ip, spa in sources.items()}
        ours = {socket.inet_aton(spa) for spa in sources.values()}

        def send(ip: str) -> None:
            _send_with_retry(sock, frames[ip], (ifname, _ETH_P_ARP), ip)

        def parse(data: bytes, _addr: object) -> tuple[str, str | None] | None:
            if len(data) < 42 or data[12:14] != b"\x08\x06" or data[20:22] != b"\x00\x02" or data[38:42] not in ours:
                return None
            return socket.inet_ntoa(data[28:32]), data[22:28].hex(":")

        return _run_rounds(list(sources), send, lambda t: _drain(sock, t, parse), **opts)  # type: ignore[arg-type]


# -- ICMP -------------------------------------------------------------------------


_SWEEP_PAYLOAD = b"sitescout-sweep\x00"


def _icmp_sweep(icmp: IcmpSocket, targets: Sequence[str], **opts: float) -> dict[str, str | None]:
    ident = os.getpid() & 0xFFFF
    with icmp.sock:
        index = {ip: i & 0xFFFF for i, ip in enumerate(targets)}

        def send(ip: str) -> None:
            _send_with_retry(icmp.sock, build_echo(ident, index[ip], _SWEEP_PAYLOAD), (ip, 0), ip)

        def parse(data: bytes, addr: object) -> tuple[str, str | None] | None:
            reply = parse_echo(data, addr[0], has_ip_header=icmp.is_raw)  # type: ignore[index]
            if reply is None or reply.icmp_type != ICMP_ECHO_REPLY:
                return None
            # Ping sockets: the kernel rewrote the identifier and matched it for us.
            if icmp.keeps_identifier and reply.ident != ident:
                return None
            return reply.source, None

        return _run_rounds(targets, send, lambda t: _drain(icmp.sock, t, parse), **opts)  # type: ignore[arg-type]


# -- TCP connect --------------------------------------------------------------------


async def _tcp_alive(ip: str, timeout_s: float, refused_counts: bool, sem: asyncio.Semaphore,
                     ports: Sequence[int]) -> bool:
    async def attempt(port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout_s)
        except ConnectionRefusedError:
            return refused_counts
        except (TimeoutError, OSError):
            return False
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), timeout_s)
        except (TimeoutError, OSError):
            pass
        return True

    async with sem:
        return any(await asyncio.gather(*(attempt(p) for p in ports)))


def _tcp_sweep(targets: Sequence[str], *, wait_s: float, refused_counts: bool) -> dict[str, str | None]:
    # A refused connect proves a host is there, so a few ports do; where only an
    # accepted one counts (loopback answers for every 127.x) try every device port.
    ports = TCP_DISCOVERY_PORTS if refused_counts else DEFAULT_PORTS

    async def run() -> list[bool]:
        sem = asyncio.Semaphore(64)
        return await asyncio.gather(*(_tcp_alive(ip, wait_s, refused_counts, sem, ports) for ip in targets))

    return {ip: None for ip, alive in zip(targets, asyncio.run(run())) if alive}


# -- entry point ----------------------------------------------------------------------


def _as_networks(networks: Sequence[ipaddress.IPv4Network | str], cap: int) -> list[ipaddress.IPv4Network]:
    nets = []
    for net in networks:
        parsed = ipaddress.ip_network(net, strict=False) if isinstance(net, str) else net
        if not isinstance(parsed, ipaddress.IPv4Network):
            raise ValueError(f"{net}: only IPv4 networks can be swept")
        nets.append(parsed)
    total = sum(n.num_addresses for n in nets)
    if total > cap:
        raise ValueError(f"{', '.join(map(str, nets))}: {total} addresses is over the sweep limit of {cap} "
                         "(a /16); sweep smaller networks or raise max_addresses")
    return nets


#: One part of a sweep: its method name ("arp", "icmp", "icmp-dgram", "tcp") and the call that runs it.
_SweepJob = tuple[str, Callable[[], dict[str, str | None]]]


def _sweep_targets(nets: Sequence[ipaddress.IPv4Network], own: set[str]) -> list[str]:
    """Return every host address of `nets` once, in order, without our own (loopback kept)."""
    targets: list[str] = []
    seen: set[str] = set()
    for net in nets:
        for addr in net.hosts():
            ip = str(addr)
            if ip not in seen and (ip not in own or addr.is_loopback):
                seen.add(ip)
                targets.append(ip)
    return targets


def _arp_jobs(rest: list[str], local: Sequence[LocalAddress], interface: str | None,
              opts: dict[str, float]) -> tuple[list[_SweepJob], list[str]]:
    """Return one ARP job per Ethernet interface holding some of `rest`, and the addresses left over."""
    jobs: list[_SweepJob] = []
    by_interface: dict[str, dict[str, str]] = {}
    usable = [a for a in local if (interface is None or a.interface == interface) and _is_ethernet(a.interface)]
    for ip in rest:
        for addr in usable:
            if ipaddress.IPv4Address(ip) in addr.network:
                by_interface.setdefault(addr.interface, {})[ip] = addr.ip
                break
    for ifname, sources in by_interface.items():
        log.info("%s: arp sweep of %d addresses", ifname, len(sources))
        jobs.append(("arp", functools.partial(_arp_sweep, ifname, sources, **opts)))
        rest = [ip for ip in rest if ip not in sources]
    return jobs, rest


def _routed_job(routed: list[str], interface: str | None, wait_s: float, opts: dict[str, float]) -> _SweepJob:
    """Return the job for routed addresses: an ICMP echo sweep, else TCP connects when ICMP is unavailable."""
    try:
        icmp = open_icmp_socket()
    except IcmpUnavailableError as err:
        log.info("%d addresses: tcp connect discovery (%s)", len(routed), err)
        return ("tcp", lambda: _tcp_sweep(routed, wait_s=wait_s, refused_counts=True))
    if interface:
        try:
            icmp.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        except OSError as err:
            log.debug("%s: cannot bind ICMP socket to the interface: %s", interface, err)
    kind = "icmp" if icmp.is_raw else "icmp-dgram"
    log.info("%d addresses: %s echo sweep", len(routed), kind)
    return (kind, functools.partial(_icmp_sweep, icmp, routed, **opts))


def _run_jobs(jobs: Sequence[_SweepJob]) -> dict[str, SweepHit]:
    """Run the parts side by side (each mostly waits for replies); return every hit by address."""
    hits: dict[str, SweepHit] = {}
    with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
        futures = [(method, pool.submit(job)) for method, job in jobs]
        for method, fut in futures:
            for ip, mac in fut.result().items():
                hits[ip] = SweepHit(ip, mac, method)
    return hits


def sweep(networks: Sequence[ipaddress.IPv4Network], *, interface: str | None = None, wait_s: float = 1.0,
          retries: int = 1, rate_pps: float = 5000.0, quiet_s: float = 0.2,
          max_addresses: int = DEFAULT_MAX_ADDRESSES) -> list[SweepHit]:
    """Return the live addresses of `networks` (sorted), excluding network, broadcast and our own addresses.

    Stages: the target list; loopback by TCP connect; on-link addresses by ARP; routed ones by
    ICMP echo (TCP connect without ICMP); then all parts run side by side.

    Raises:
        ValueError: the networks hold more than `max_addresses` addresses, or are not IPv4.
    """
    if wait_s <= 0 or quiet_s <= 0 or rate_pps <= 0 or retries < 0:
        raise ValueError("wait_s, quiet_s and rate_pps must be positive, retries at least 0")
    nets = _as_networks(networks, max_addresses)
    local = local_ipv4_addresses()
    targets = _sweep_targets(nets, {a.ip for a in local})
    loopback = [ip for ip in targets if ipaddress.IPv4Address(ip).is_loopback]
    rest = [ip for ip in targets if not ipaddress.IPv4Address(ip).is_loopback]
    opts = {"wait_s": wait_s, "retries": retries, "rate_pps": rate_pps, "quiet_s": quiet_s}

    jobs: list[_SweepJob] = []
    if loopback:
        log.info("%d loopback addresses: tcp connect (accepted connections only)", len(loopback))
        jobs.append(("tcp", lambda: _tcp_sweep(loopback, wait_s=wait_s, refused_counts=False)))
    if rest and _can_use_packet_sockets():
        arp, rest = _arp_jobs(rest, local, interface, opts)
        jobs += arp
    if rest:
        jobs.append(_routed_job(rest, interface, wait_s, opts))

    hits = _run_jobs(jobs)
    result = sorted(hits.values(), key=lambda h: ipaddress.IPv4Address(h.ip))
    log.info("sweep of %s: %d of %d addresses alive", ", ".join(map(str, nets)), len(result), len(targets))
    return result


def _can_use_packet_sockets() -> bool:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except (PermissionError, AttributeError):
        return False
    except OSError as err:
        log.debug("no packet sockets: %s", err)
        return False
    return True


def _is_ethernet(ifname: str) -> bool:
    try:
        with open(f"/sys/class/net/{ifname}/type") as f:
            return int(f.read().strip()) == _ARPHRD_ETHER
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep the networks given on the command line and print the hits as JSON lines (or one JSON list)."""
    p = argparse.ArgumentParser(
        prog="python -m sitescout.probes.net.sweep", description="Sweep networks for live hosts."
    )
    p.add_argument("networks", nargs="+", metavar="CIDR")
    p.add_argument("--interface")
    p.add_argument("--wait", type=float, default=1.0, help="seconds to wait for replies after each round")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--rate", type=float, default=5000.0, help="requests per second")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(name)s: %(message)s")
    try:
        hits = sweep(args.networks, interface=args.interface, wait_s=args.wait, retries=args.retries,
                     rate_pps=args.rate)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    json.dump([asdict(h) for h in hits], sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
