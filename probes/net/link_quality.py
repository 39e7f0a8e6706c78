"""Link quality: ICMP echo bursts to many targets at once over one socket, and TCP connect times.

One socket, one sender coroutine and one reader callback serve every target
(:class:`IcmpPinger` keeps the socket open for many bursts, e.g. the worker's
on-demand ``/probe`` requests);
replies are matched to what we sent by source address, identifier (raw
sockets only: ping sockets rewrite it) and sequence number, plus a random
per-run token at the start of the payload, so replies to other pingers on the
same host (fping, a second sitescout) are never counted.  The identifier and
every target's starting sequence number are random, so probers restarted
together do not send in lockstep (blackbox_exporter #411).  Each target's
echoes are spread over the interval (smokeping_prober #48) rather than sent
in one spike.

**Jitter** is the mean absolute difference of consecutive round-trip times
of the replies received, taken in sequence order:
``mean(|rtt[i] - rtt[i-1]|)``.  It is what RFC 3550 interarrival jitter
estimates, without that estimator's 1/16 smoothing (which needs many more
than 10-20 samples to settle), and unlike iputils' ``mdev`` (a standard
deviation) it does not grow with a slow drift.  Fewer than two replies give 0.

A failed probe is a measurement: a target that never answers is a result
with ``received == 0`` and ``loss_ratio == 1.0``; its RTT fields are None
here and 0.0 in :class:`~sitescout.probes.models.LinkStats` (whose fields are
floats; ``received == 0`` tells the truth).  Only a missing ICMP socket
raises (:class:`~sitescout.probes.net.icmp.IcmpUnavailableError`): that is the
operator's to fix, not a property of the link.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import logging
import math
import os
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sitescout.probes.net.icmp import (
    ICMP_ECHO_REPLY,
    EchoReply,
    IcmpSocket,
    SocketMode,
    build_echo,
    open_icmp_socket,
    receive_echo,
)
from sitescout.probes.errors import ErrorCode
from sitescout.probes.models import LinkStats

__all__ = [
    "LinkSettings",
    "LinkResult",
    "SURVEY_LINK",
    "IcmpPinger",
    "async_measure_links",
    "async_tcp_connect_time",
    "async_tcp_connect_burst",
    "jitter_ms",
    "summarize",
]

log = logging.getLogger(__name__)

_TOKEN_LEN = 8
_SEND_TICK_S = 0.005


@dataclass(frozen=True)
class LinkSettings:
    """Link probing, for the survey and the worker alike: one echo burst per target every `interval_s`.

    A burst is `count` echoes `echo_interval_s` apart per target (0: all at once), each reply
    awaited `timeout_s`.  `interval_s` and `concurrency` are the worker's schedule (the targets
    file's ``defaults.link``); a survey measures once and ignores them.
    """

    #: One ICMP socket serves every target that falls due in the same tick.
    batched: ClassVar[bool] = True
    interval_s: float = 15.0
    count: int = 10
    echo_interval_s: float = 0.2
    timeout_s: float = 1.0
    #: Bursts in flight at once (each one covers many targets).
    concurrency: int = 4
    #: ICMP payload bytes (a token included); not a targets-file key.
    payload_size: int = field(default=56, metadata={"targets_file": False})

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be at least 1, not {self.count}")
        if self.echo_interval_s < 0 or self.timeout_s <= 0:
            raise ValueError("echo_interval_s must be >= 0 and timeout_s > 0")
        if not _TOKEN_LEN <= self.payload_size <= 65000:
            raise ValueError(f"payload_size must be between {_TOKEN_LEN} and 65000, not {self.payload_size}")

    @property
    def budget_s(self) -> float:
        """Return how long one burst may take: echoes, the last reply's timeout, 1 s slack."""
        return self.count * self.echo_interval_s + self.timeout_s + 1.0


#: A technician on site: 20 echoes in one second resolve loss to 5 % and give 19
#: jitter differences, and the whole burst (plus 1 s for the slowest radio link)
#: costs about 2 s per survey however many hosts there are.
SURVEY_LINK = LinkSettings(count=20, echo_interval_s=0.05, timeout_s=1.0)


@dataclass
class LinkResult:
    """What one burst measured for one target; RTT fields are None when nothing answered."""

    target: str
    sent: int
    received: int
    loss_ratio: float
    rtt_min_ms: float | None
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    jitter_ms: float | None
    rtts_ms: list[float] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    send_errors: int = 0
    error: str | None = None
    #: The kind of ``error`` (probes/errors.py): ``unreachable`` when sending failed, ``other`` when the
    #: name did not resolve; None without error.
    error_code: ErrorCode | None = None
    #: ICMP identifier on the wire (the kernel's choice on ping sockets), for matching captures.
    ident: int | None = None

    def to_stats(self) -> LinkStats:
        """Return the survey document's form (no replies: RTT and jitter fields 0.0, loss 1.0)."""
        return LinkStats(sent=self.sent, received=self.received, loss_ratio=self.loss_ratio,
                         rtt_min_ms=self.rtt_min_ms or 0.0, rtt_avg_ms=self.rtt_avg_ms or 0.0,
                         rtt_max_ms=self.rtt_max_ms or 0.0, jitter_ms=self.jitter_ms or 0.0)


def jitter_ms(rtts_ms: Sequence[float]) -> float:
    """Return the mean absolute difference of consecutive RTTs (0.0 for fewer than two)."""
    if len(rtts_ms) < 2:
        return 0.0
    return sum(abs(b - a) for a, b in zip(rtts_ms, rtts_ms[1:])) / (len(rtts_ms) - 1)


def summarize(target: str, sent: int, rtts_ms: Sequence[float], **extra: int | str | None) -> LinkResult:
    """Build a result from the RTTs (in send order) of the replies received."""
    received = len(rtts_ms)
    loss = 1.0 if sent == 0 else (sent - received) / sent
    if not rtts_ms:
        return LinkResult(target, sent, 0, loss, None, None, None, None, [], **extra)  # type: ignore[arg-type]
    return LinkResult(target, sent, received, loss, min(rtts_ms), statistics.fmean(rtts_ms), max(rtts_ms),
                      jitter_ms(rtts_ms), list(rtts_ms), **extra)  # type: ignore[arg-type]


class _Target:
    __slots__ = ("name", "ip", "seq0", "sent_at", "sent_wall", "rtts", "duplicates", "late", "send_errors",
                 "error", "error_code")

    def __init__(self, name: str, ip: str | None, count: int) -> None:
        self.name = name
        self.ip = ip
        self.seq0 = secrets.randbelow(0x10000)
        self.sent_at: list[float | None] = [None] * count
        #: Wall-clock send times (ns), compared with the kernel's receive stamps (one clock for both ends).
        self.sent_wall: list[int] = [0] * count
        self.rtts: list[float | None] = [None] * count
        self.duplicates = self.late = self.send_errors = 0
        self.error: str | None = None
        self.error_code: ErrorCode | None = None

    def result(self) -> LinkResult:
        sent = sum(1 for t in self.sent_at if t is not None)
        rtts = [r for r in self.rtts if r is not None]
        return summarize(self.name, sent, rtts, duplicates=self.duplicates, late=self.late,
                         send_errors=self.send_errors, error=self.error, error_code=self.error_code)


class _Burst:
    """The state of one multi-target measurement; its replies reach it through :class:`IcmpPinger`."""

    def __init__(self, icmp: IcmpSocket, targets: list[_Target], config: LinkSettings) -> None:
        self.icmp = icmp
        self.config = config
        self.ident = secrets.randbelow(0x10000)
        self.token = secrets.token_bytes(_TOKEN_LEN)
        self.payload = self.token + bytes(config.payload_size - _TOKEN_LEN)
        self.by_ip = {t.ip: t for t in targets if t.ip}
        self.outstanding = 0
        self.sending_done = False
        self._waiter: asyncio.Future[None] | None = None

    def on_reply(self, reply: EchoReply, rx: float, stamp: int | None = None) -> None:
        """Count one echo reply that carries this burst's token.

        ``rx`` is the monotonic time the reply was read; ``stamp`` the kernel's
        wall-clock arrival stamp (ns), used when it is consistent with the monotonic
        reading (a clock step between send and receive falls back to ``rx``).
        """
        if self.icmp.keeps_identifier and reply.ident != self.ident:
            return
        target = self.by_ip.get(reply.source)
        if target is None:
            return
        k = (reply.seq - target.seq0) & 0xFFFF
        if k >= self.config.count or target.sent_at[k] is None:
            return
        rtt_s = rx - target.sent_at[k]  # type: ignore[operator]
        if stamp is not None:
            stamped = (stamp - target.sent_wall[k]) / 1e9
            if 0.0 < stamped <= rtt_s + 0.001:  # the stamp is earlier than the read, never later
                rtt_s = stamped
        if target.rtts[k] is not None:
            target.duplicates += 1
        elif rtt_s > self.config.timeout_s:
            target.late += 1
        else:
            target.rtts[k] = max(rtt_s, 1e-6) * 1000.0  # a measured echo took time: never 0
            self.outstanding -= 1
            if self.sending_done and self.outstanding == 0:
                self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _send(self, target: _Target, k: int) -> None:
        packet = build_echo(self.ident, target.seq0 + k, self.payload)
        now = time.monotonic()
        target.sent_wall[k] = time.time_ns()
        try:
            self.icmp.sock.sendto(packet, (target.ip, 0))
        except OSError as err:
            # Counted as sent and lost: a link that refuses packets is a lossy link.
            target.send_errors += 1
            target.sent_at[k] = now
            if target.error is None:
                target.error = f"send: {os.strerror(err.errno) if err.errno else err}"
                target.error_code = ErrorCode.UNREACHABLE
            return
        target.sent_at[k] = now
        self.outstanding += 1

    async def run(self, targets: list[_Target]) -> None:
        live = [t for t in targets if t.ip]
        cfg = self.config
        if cfg.echo_interval_s == 0:
            # Everything at once (on-demand /probe bursts): no schedule to keep.
            for k in range(cfg.count):
                for t in live:
                    self._send(t, k)
        else:
            start = time.monotonic()
            n = len(live)
            # Each target's echoes `interval_s` apart; targets staggered across one interval.
            schedule = [(start + k * cfg.echo_interval_s + (i * cfg.echo_interval_s / n), i, k)
                        for i in range(n) for k in range(cfg.count)]
            heapq.heapify(schedule)
            while schedule:
                now = time.monotonic()
                # Send everything due within the next tick: one wake-up per tick, not per packet
                # (RTTs use the actual send time, so sending a few ms early costs no accuracy).
                while schedule and schedule[0][0] <= now + _SEND_TICK_S:
                    _due, i, k = heapq.heappop(schedule)
                    self._send(live[i], k)
                if schedule:
                    await asyncio.sleep(max(0.0, schedule[0][0] - time.monotonic()))
        self.sending_done = True
        if self.outstanding == 0:
            return
        last_sent = max((t for tg in live for t in tg.sent_at if t is not None), default=time.monotonic())
        # Wait for the last reply or the last echo's timeout, whichever comes first (a bare
        # future and a timer: no task per burst, which counts at thousands of /probe requests a second).
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_later(max(0.0, last_sent + cfg.timeout_s - time.monotonic()), self._wake)
        try:
            await self._waiter
        finally:
            timer.cancel()


async def _resolve(name: str) -> tuple[str | None, str | None]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, family=socket.AF_INET), 5.0)
    except (TimeoutError, OSError) as err:
        return None, f"resolve: {err or 'timeout'}"
    return str(infos[0][4][0]), None


def _literal_ip(name: str) -> str | None:
    try:
        socket.inet_pton(socket.AF_INET, name)  # strict dotted quad: already canonical
        return name
    except OSError:
        pass
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        return None


class IcmpPinger:
    """One ICMP socket kept open on one event loop; any number of bursts share it at once.

    Each burst carries its own random token at the start of every payload (and,
    on raw sockets, its own identifier), and the socket's reader hands each
    reply to the burst whose token it echoes; so concurrent bursts never count
    each other's replies, and none pays for opening and tuning a socket.  The
    socket opens on first use; call :meth:`close` when done.
    """

    def __init__(self, socket_mode: SocketMode = "auto") -> None:
        self.socket_mode = socket_mode
        self._icmp: IcmpSocket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bursts: dict[bytes, _Burst] = {}

    def _socket(self) -> IcmpSocket:
        if self._icmp is None:
            icmp = open_icmp_socket(self.socket_mode)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(icmp.fileno(), self._on_readable)
            self._icmp = icmp
        return self._icmp

    def _on_readable(self) -> None:
        icmp = self._icmp
        if icmp is None:
            return
        while True:
            got = receive_echo(icmp)
            if got is None:
                return
            reply, rx, stamp = got
            if reply is None or reply.icmp_type != ICMP_ECHO_REPLY:
                continue
            burst = self._bursts.get(reply.payload[:_TOKEN_LEN])
            if burst is not None:
                burst.on_reply(reply, rx, stamp)

    async def async_measure_links(self, targets: Sequence[str],
                                  config: LinkSettings = SURVEY_LINK) -> dict[str, LinkResult]:
        """Send an echo burst to every target at once; return a result per target.

        Raises:
            IcmpUnavailableError: no ICMP socket can be opened (names ``net.ipv4.ping_group_range``).
        """
        names = list(dict.fromkeys(targets))
        literal = [_literal_ip(n) for n in names]
        resolved: list[tuple[str | None, str | None]] = [(ip, None) for ip in literal]
        if None in literal:
            looked_up = await asyncio.gather(*(_resolve(n) for n, ip in zip(names, literal) if ip is None))
            it = iter(looked_up)
            resolved = [(ip, None) if ip is not None else next(it) for ip in literal]
        tgts: list[_Target] = []
        seen: dict[str, _Target] = {}
        for name, (ip, err) in zip(names, resolved):
            if ip in seen:  # two names for one address: measure it once, report it twice
                tgts.append(seen[ip])
                continue
            t = _Target(name, ip, config.count)
            t.error = err
            t.error_code = ErrorCode.OTHER if err else None  # a name that did not resolve
            tgts.append(t)
            if ip:
                seen[ip] = t
        unique = list(seen.values())
        wire_ident = None
        if unique:
            icmp = self._socket()
            burst = _Burst(icmp, unique, config)
            self._bursts[burst.token] = burst
            try:
                await burst.run(unique)
            finally:
                del self._bursts[burst.token]
            # A ping socket gets its identifier (its "port") on the first send.
            wire_ident = burst.ident if icmp.is_raw else icmp.sock.getsockname()[1]
            log.debug("measured %d targets: ident %d, %s socket", len(unique), wire_ident,
                      "raw" if icmp.is_raw else "datagram")
        results = {}
        for name, t in zip(names, tgts):
            r = t.result()
            r.target = name
            if t.ip and unique:
                r.ident = wire_ident
            results[name] = r
        return results

    def close(self) -> None:
        """Stop reading and close the socket (a later burst opens a new one)."""
        icmp, self._icmp = self._icmp, None
        if icmp is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(icmp.fileno())
        icmp.close()


async def async_measure_links(targets: Sequence[str], config: LinkSettings = SURVEY_LINK, *,
                              socket_mode: SocketMode = "auto") -> dict[str, LinkResult]:
    """Send an echo burst to every target at once over a fresh ICMP socket; return a result per target.

    Raises:
        IcmpUnavailableError: no ICMP socket can be opened (names ``net.ipv4.ping_group_range``).
    """
    pinger = IcmpPinger(socket_mode)
    try:
        return await pinger.async_measure_links(targets, config)
    finally:
        pinger.close()


async def async_tcp_connect_time(ip: str, port: int, *, timeout_s: float) -> float | None:
    """Return the TCP handshake time in ms, or None if refused, unreachable or timed out."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        start = time.monotonic()
        await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), timeout_s)
        return (time.monotonic() - start) * 1000.0
    except (TimeoutError, OSError) as err:
        log.debug("%s:%d: tcp connect failed: %s", ip, port, err or "timeout")
        return None
    finally:
        sock.close()


async def async_tcp_connect_burst(ip: str, port: int, config: LinkSettings = SURVEY_LINK) -> LinkResult:
    """Time `count` TCP handshakes `interval_s` apart, for hosts that filter ICMP (e.g. RTSP 554, HTTP 80)."""
    async def one(k: int) -> float | None:
        await asyncio.sleep(k * config.echo_interval_s)
        return await async_tcp_connect_time(ip, port, timeout_s=config.timeout_s)

    times = await asyncio.gather(*(one(k) for k in range(config.count)))
    return summarize(f"{ip}:{port}", config.count, [t for t in times if t is not None and math.isfinite(t)])


def main(argv: Sequence[str] | None = None) -> int:
    """Measure targets from the command line and print one JSON object (used by the lab tests and benchmark)."""
    import argparse
    import json
    import resource

    parser = argparse.ArgumentParser(prog="python -m sitescout.probes.net.link_quality",
                                     description="ICMP echo bursts (or TCP connect times) to many targets at once.")
    parser.add_argument("targets", nargs="*", help="IPv4 addresses or names")
    parser.add_argument("--targets-file", help="file with one target per line")
    parser.add_argument("--count", type=int, default=SURVEY_LINK.count)
    parser.add_argument("--interval", type=float, default=SURVEY_LINK.echo_interval_s, help="seconds between echoes")
    parser.add_argument("--timeout", type=float, default=SURVEY_LINK.timeout_s, help="seconds per reply")
    parser.add_argument("--payload-size", type=int, default=56)
    parser.add_argument("--socket", choices=["auto", "raw", "dgram"], default="auto")
    parser.add_argument("--tcp-port", type=int, help="time TCP handshakes to this port instead of ICMP")
    parser.add_argument("--summary", action="store_true", help="omit per-echo RTT lists")
    args = parser.parse_args(argv)
    targets = list(args.targets)
    if args.targets_file:
        with open(args.targets_file) as fh:
            targets += [line.strip() for line in fh if line.strip()]
    if not targets:
        parser.error("give at least one target")
    try:
        config = LinkSettings(count=args.count, echo_interval_s=args.interval, timeout_s=args.timeout,
                              payload_size=args.payload_size)
    except ValueError as err:
        parser.error(str(err))

    async def run() -> dict[str, LinkResult]:
        if args.tcp_port is not None:
            got = await asyncio.gather(*(async_tcp_connect_burst(t, args.tcp_port, config) for t in targets))
            return dict(zip(targets, got))
        return await async_measure_links(targets, config, socket_mode=args.socket)

    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    try:
        results = asyncio.run(run())
    except PermissionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - wall0
    out = {"wall_s": wall, "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
           "results": {k: {f: v for f, v in vars(r).items() if not (args.summary and f == "rtts_ms")}
                       for k, r in results.items()}}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
