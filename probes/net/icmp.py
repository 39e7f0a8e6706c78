"""ICMP echo primitives shared by the link-quality probe and the host sweep.

Checksum, echo request building, reply parsing, and opening an ICMP socket:
a raw socket when we have CAP_NET_RAW (root), else Linux's unprivileged
"ping socket" (``SOCK_DGRAM, IPPROTO_ICMP``), allowed only to groups listed in
``net.ipv4.ping_group_range``.  With a ping socket the kernel rewrites the
identifier to the socket's own "port" and delivers only replies to that
socket, so callers must match replies by source and sequence there
(see :attr:`IcmpSocket.keeps_identifier`).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal

try:
    from sitescout.probes.errors import ProbesError as _ProbesError
except ImportError:  # loaded by path with the standard library only (tests/test_icmp.py runs it as nobody)
    class _ProbesError(Exception):  # type: ignore[no-redef]
        """Stand-in for sitescout.probes.errors.ProbesError when loaded alone."""

__all__ = [
    "ICMP_ECHO_REPLY",
    "ICMP_ECHO_REQUEST",
    "EchoReply",
    "IcmpSocket",
    "IcmpUnavailableError",
    "SocketMode",
    "build_echo",
    "checksum",
    "open_icmp_socket",
    "parse_echo",
    "receive_echo",
]

log = logging.getLogger(__name__)

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_SOL_RAW = 255
_ICMP_FILTER = 1  # linux/icmp.h: bitmask of ICMP types a raw socket does NOT receive
_SO_RCVBUFFORCE = 33
_TIMESPEC = struct.Struct("@qq")
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Python 3.11 lacks the name; 35 on Linux

SocketMode = Literal["auto", "raw", "dgram"]


class IcmpUnavailableError(_ProbesError, PermissionError):
    """Neither a raw nor an unprivileged ICMP socket could be opened; the message says how to fix it.

    Defined here, not in probes/errors.py, because this module must load on its own (standard library only).
    """


def checksum(data: bytes) -> int:
    """Return the Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    # The one's complement sum of the 16-bit words is the whole packet read as one big number
    # modulo 0xFFFF (2**16 = 1 mod 0xFFFF), written 0xFFFF rather than 0 unless all words are 0
    # (RFC 1071 section 2): four times faster than summing the words, for every echo sent and read.
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


def build_echo(ident: int, seq: int, payload: bytes = b"", *, icmp_type: int = ICMP_ECHO_REQUEST) -> bytes:
    """Return an ICMP echo request (or reply, with `icmp_type=0`) with a valid checksum."""
    header = _HEADER.pack(icmp_type, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    csum = checksum(header + payload)
    return _HEADER.pack(icmp_type, 0, csum, ident & 0xFFFF, seq & 0xFFFF) + payload


@dataclass(frozen=True)
class EchoReply:
    """One parsed ICMP echo message (reply or request) and where it came from."""

    source: str
    icmp_type: int
    ident: int
    seq: int
    payload: bytes
    ttl: int | None = None
    destination: str | None = None


def parse_echo(data: bytes, source: str, *, has_ip_header: bool) -> EchoReply | None:
    """Parse an echo request/reply; return None for other ICMP types, truncated or corrupt packets."""
    ttl = destination = None
    if has_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or len(data) < ihl + _HEADER.size:
            return None
        ttl = data[8]
        destination = socket.inet_ntoa(data[16:20])
        data = data[ihl:]
    if len(data) < _HEADER.size:
        return None
    icmp_type, code, _csum, ident, seq = _HEADER.unpack_from(data)
    if icmp_type not in (ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST) or code != 0:
        return None
    # Raw sockets hand us what the wire carried: drop corrupted packets.  (On ping
    # sockets the kernel has already verified the checksum.)
    if has_ip_header and checksum(data) != 0:
        return None
    return EchoReply(source, icmp_type, ident, seq, bytes(data[_HEADER.size:]), ttl, destination)


@dataclass
class IcmpSocket:
    """An open ICMP socket (non-blocking) and how replies on it must be matched."""

    sock: socket.socket
    is_raw: bool
    #: The kernel stamps each datagram on arrival (SO_TIMESTAMPNS): reading late costs no accuracy.
    has_timestamps: bool = False

    @property
    def keeps_identifier(self) -> bool:
        """Say whether replies carry the identifier we sent (False on ping sockets)."""
        return self.is_raw

    def fileno(self) -> int:
        """Return the socket's file descriptor."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def _ping_group_hint() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as fh:
            current = " ".join(fh.read().split())
    except OSError:
        current = "unknown"
    return (f"cannot open an ICMP socket: a raw socket needs root or CAP_NET_RAW, and unprivileged "
            f"ICMP sockets are not allowed for this process's group (gid {os.getegid()}): "
            f"net.ipv4.ping_group_range is '{current}'. Run as root, grant CAP_NET_RAW, or widen it, "
            f"e.g. `sysctl -w net.ipv4.ping_group_range='0 2147483647'`")


def _tune(sock: socket.socket, is_raw: bool, rcvbuf: int) -> bool:
    sock.setblocking(False)
    if is_raw:
        # Only echo replies reach us: a raw socket otherwise gets every ICMP packet
        # the host receives (requests, errors), which costs CPU on busy hosts.
        blocked = 0xFFFFFFFF & ~(1 << ICMP_ECHO_REPLY)
        try:
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", blocked))
        except OSError as err:  # not fatal: parse_echo filters too
            log.debug("ICMP_FILTER unavailable: %s", err)
    # Bursts to many targets come back at once: a small buffer silently drops replies.
    for opt in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
            break
        except OSError:
            continue
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError as err:
        log.debug("SO_TIMESTAMPNS unavailable: %s", err)
        return False
    return True


def open_icmp_socket(mode: SocketMode = "auto", *, rcvbuf: int = 4 << 20) -> IcmpSocket:
    """Open a raw ICMP socket, else an unprivileged one ("auto"), or exactly the mode asked for.

    Raises:
        IcmpUnavailableError: no usable socket; the message names ``net.ipv4.ping_group_range``.
    """
    kinds = {"auto": [True, False], "raw": [True], "dgram": [False]}[mode]
    last: OSError | None = None
    for is_raw in kinds:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW if is_raw else socket.SOCK_DGRAM,
                                 socket.IPPROTO_ICMP)
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT):
                raise
            last = err
            continue
        stamped = _tune(sock, is_raw, rcvbuf)
        log.debug("opened %s ICMP socket", "raw" if is_raw else "unprivileged datagram")
        return IcmpSocket(sock, is_raw, stamped)
    raise IcmpUnavailableError(_ping_group_hint()) from last


def receive_echo(icmp: IcmpSocket) -> tuple[EchoReply | None, float, int | None] | None:
    """Read one datagram without blocking; return (parsed echo or None, monotonic time, kernel stamp).

    Returns None when nothing is waiting.  The kernel stamp is the wall-clock time
    (``CLOCK_REALTIME``, integer nanoseconds) at which the datagram arrived (SO_TIMESTAMPNS), or
    None where the kernel gives none.  Compare it with a wall-clock send time taken
    just before ``sendto``: both are then on one clock, so time spent queued behind a
    busy event loop does not inflate round-trip times, and a preemption between two
    clock reads cannot shrink one to zero.
    """
    try:
        data, anc, _flags, addr = icmp.sock.recvmsg(65535, 64)
    except (BlockingIOError, InterruptedError):
        return None
    mono = time.monotonic()
    stamp: int | None = None
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(value)
            stamp = sec * 1_000_000_000 + nsec
    return parse_echo(data, addr[0], has_ip_header=icmp.is_raw), mono, stamp
