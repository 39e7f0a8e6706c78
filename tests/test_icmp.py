"""ICMP primitives: checksum, echo packets, socket opening and its error (loopback only)."""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from sitescout.probes.net import icmp
from sitescout.probes.net.icmp import (
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    IcmpUnavailableError,
    build_echo,
    checksum,
    open_icmp_socket,
    parse_echo,
    receive_echo,
)


def _ip_header(src: str, dst: str, length: int) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 1, 0, 61, 1, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement); checksum = ~ddf2.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length is padded with a zero byte


def test_checksum_equals_the_word_by_word_sum() -> None:
    def by_words(data: bytes) -> int:
        data += b"\0" * (len(data) % 2)
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        return ~total & 0xFFFF

    rng = random.Random(4)
    cases = [b"", b"\0\0\0", b"\xff\xff", b"\xff\xff\xff\xff", b"\x00\xff\xff\x00"]
    cases += [rng.randbytes(rng.randrange(0, 120)) for _ in range(3000)]
    for data in cases:
        assert checksum(data) == by_words(data), data.hex()


def test_echo_round_trip_and_valid_checksum() -> None:
    pkt = build_echo(0x1234, 0x10005, b"payload!")  # sequence wraps to 16 bits
    assert checksum(pkt) == 0
    assert pkt[0] == ICMP_ECHO_REQUEST and struct.unpack("!HH", pkt[4:8]) == (0x1234, 5)
    parsed = parse_echo(pkt, "198.51.100.7", has_ip_header=False)
    assert parsed is not None
    assert (parsed.icmp_type, parsed.ident, parsed.seq, parsed.payload) == (ICMP_ECHO_REQUEST, 0x1234, 5, b"payload!")


def test_parse_with_ip_header_reads_ttl_and_destination() -> None:
    body = build_echo(7, 9, b"x" * 16, icmp_type=ICMP_ECHO_REPLY)
    parsed = parse_echo(_ip_header("198.51.100.9", "198.51.100.2", len(body)) + body, "198.51.100.9",
                        has_ip_header=True)
    assert parsed is not None
    assert (parsed.icmp_type, parsed.ttl, parsed.destination, parsed.seq) == (ICMP_ECHO_REPLY, 61, "198.51.100.2", 9)


@pytest.mark.parametrize("mangle", ["truncated", "corrupt", "unreachable", "not_ipv4"])
def test_parse_rejects_bad_packets(mangle: str) -> None:
    body = build_echo(7, 9, b"abcd", icmp_type=ICMP_ECHO_REPLY)
    if mangle == "corrupt":
        body = body[:-1] + b"X"
    elif mangle == "unreachable":
        body = b"\x03\x01" + body[2:]
    elif mangle == "truncated":
        body = body[:5]
    pkt = _ip_header("198.51.100.9", "198.51.100.2", len(body)) + body
    if mangle == "not_ipv4":
        pkt = b"\x60" + pkt[1:]
    assert parse_echo(pkt, "198.51.100.9", has_ip_header=True) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")
def test_raw_socket_echo_to_loopback() -> None:
    sock = open_icmp_socket("raw")
    try:
        assert sock.is_raw and sock.keeps_identifier
        sock.sock.sendto(build_echo(0x4242, 77, b"sitescout-test"), ("127.0.0.1", 0))
        got = None
        for _ in range(20):  # other pingers' replies may arrive too: wait for ours
            select.select([sock.sock], [], [], 1.0)
            item = receive_echo(sock)
            if item and item[0] and item[0].ident == 0x4242:
                got = item
                break
        assert got is not None and got[0] is not None
        assert (got[0].icmp_type, got[0].seq, got[0].payload, got[0].source) == (ICMP_ECHO_REPLY, 77,
                                                                                  b"sitescout-test", "127.0.0.1")
    finally:
        sock.close()


def test_no_socket_error_names_ping_group_range() -> None:
    """As an unprivileged user outside ping_group_range, opening fails with the sysctl's name."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    if os.geteuid() != 0 or low <= 65534 <= high:
        pytest.skip("needs root to drop to nobody, and nobody outside net.ipv4.ping_group_range")
    # Debian's python, loading icmp.py by path (it needs only the standard library).
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('icmp', {icmp.__file__!r})\n"
            "m = importlib.util.module_from_spec(spec); sys.modules['icmp'] = m; spec.loader.exec_module(m)\n"
            "try:\n    m.open_icmp_socket()\nexcept m.IcmpUnavailableError as e:\n    print(e); sys.exit(3)\n")
    cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                         "-c", code], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 3, cp.stderr
    assert "net.ipv4.ping_group_range" in cp.stdout and "gid 65534" in cp.stdout
    assert issubclass(IcmpUnavailableError, PermissionError)
