"""Find which live hosts run an SNMP agent, without sending any secret: one UDP pass over UDP 161.

Each host gets three datagrams at once: an SNMPv3 engine-discovery request
(empty user, noAuthNoPriv, reportable: every v3 agent answers it with a Report
and its engine ID, RFC 3414 §4) and two SNMPv2c GETs of sysObjectID with the
well-known default communities ``public`` and ``private``.  None of them
carries a configured credential, so a device that is not an agent learns
nothing.  An answer to the v3 probe or to a default community marks the host an
agent; an answer to a default community is also a security finding (anyone on
the network can read the device).  On agents that do not know them, the two
default communities cost two snmpInBadCommunityNames and no lockout (v2c has
none; no v3 user is tried here).

A tiny BER writer/reader, bounded and defensive: an answer that does not parse
is ignored, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["AgentProbe", "DEFAULT_COMMUNITIES", "async_detect_agents"]

log = logging.getLogger(__name__)

#: The factory-default communities checked on every host (read-only GET of sysObjectID).
DEFAULT_COMMUNITIES = ("public", "private")
_SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
_SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
#: sysDescr kept from a default-community answer (what the device says it is: its classification).
MAX_DESCR = 255
_MAX_DATAGRAM = 65507


@dataclass
class AgentProbe:
    """What one host answered to the credential-free probes."""

    ip: str
    answers_v3: bool = False
    default_communities: list[str] = field(default_factory=list)
    #: sysDescr as the default community read it (None when no default community answered).
    sys_descr: str | None = None

    @property
    def is_agent(self) -> bool:
        """Return True when the host answered any SNMP probe."""
        return self.answers_v3 or bool(self.default_communities)


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _int(n: int) -> bytes:
    return _tlv(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: Sequence[int]) -> bytes:
    body = bytearray([oid[0] * 40 + oid[1]])
    for sub in oid[2:]:
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def v2c_get(community: str, request_id: int) -> bytes:
    """Return an SNMPv2c GetRequest of sysObjectID.0 and sysDescr.0."""
    varbinds = _tlv(0x30, _tlv(0x30, _oid(_SYS_OBJECT_ID) + b"\x05\x00") + _tlv(0x30, _oid(_SYS_DESCR) + b"\x05\x00"))
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + varbinds)
    return _tlv(0x30, _int(1) + _tlv(0x04, community.encode()) + pdu)


def v3_discovery(message_id: int) -> bytes:
    """Return an SNMPv3 engine-discovery request (RFC 3414 §4: empty user and engine, reportable)."""
    header = _tlv(0x30, _int(message_id) + _int(_MAX_DATAGRAM) + _tlv(0x04, b"\x04") + _int(3))
    usm = _tlv(0x30, _tlv(0x04, b"") + _int(0) + _int(0) + _tlv(0x04, b"") + _tlv(0x04, b"") + _tlv(0x04, b""))
    pdu = _tlv(0xA0, _int(message_id) + _int(0) + _int(0) + _tlv(0x30, b""))
    scoped = _tlv(0x30, _tlv(0x04, b"") + _tlv(0x04, b"") + pdu)
    return _tlv(0x30, _int(3) + header + _tlv(0x04, usm) + scoped)


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """Return (tag, value, next position) of the TLV at ``pos``; ValueError/IndexError on garbage."""
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos:pos + length], pos + length


def _children(body: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body) and len(out) < 8:
        tag, value, pos = _read(body, pos)
        out.append((tag, value))
    return out


def answer_descr(data: bytes) -> str | None:
    """Return the sysDescr.0 OCTET STRING of a v2c GetResponse (printable text, bounded), or None."""
    try:
        _tag, body, _ = _read(data, 0)
        parts = _children(body)
        pdu = _children(parts[2][1])
        for tag, varbind in _children(pdu[3][1]):
            pair = _children(varbind) if tag == 0x30 else []
            if len(pair) == 2 and pair[0] == (0x06, _oid(_SYS_DESCR)[2:]) and pair[1][0] == 0x04:
                text = pair[1][1][:MAX_DESCR].decode("utf-8", "replace")
                return "".join(c for c in text if c.isprintable()).strip() or None
    except (ValueError, IndexError):
        return None
    return None


def parse_answer(data: bytes) -> tuple[str, int] | None:
    """Return ("v3", message id) for any v3 message, ("v2c", request id) for a clean v2c GetResponse."""
    try:
        tag, body, _ = _read(data, 0)
        if tag != 0x30:
            return None
        parts = _children(body)
        if len(parts) < 3 or parts[0][0] != 0x02:
            return None
        version = int.from_bytes(parts[0][1], "big")
        if version == 3 and parts[1][0] == 0x30:
            header = _children(parts[1][1])
            return ("v3", int.from_bytes(header[0][1], "big")) if header and header[0][0] == 0x02 else None
        if version == 1 and parts[2][0] == 0xA2:  # GetResponse
            pdu = _children(parts[2][1])
            if len(pdu) >= 3 and int.from_bytes(pdu[1][1], "big") == 0:  # error-status noError
                return "v2c", int.from_bytes(pdu[0][1], "big", signed=True)
    except (ValueError, IndexError):
        return None
    return None


class _Prober(asyncio.DatagramProtocol):
    def __init__(self, expected: dict[tuple[str, int], tuple[str, str]], found: dict[str, AgentProbe]) -> None:
        self.expected = expected  # (kind, id) -> (ip, label)
        self.found = found

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = parse_answer(data[:_MAX_DATAGRAM])
        if answer is None:
            return
        ip, label = self.expected.get(answer, ("", ""))
        if ip != addr[0]:  # an answer from another address than the one asked is not believed
            return
        probe = self.found[ip]
        if label == "v3":
            probe.answers_v3 = True
        elif label not in probe.default_communities:
            probe.default_communities.append(label)
            probe.sys_descr = probe.sys_descr or answer_descr(data[:_MAX_DATAGRAM])

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        return None


async def async_detect_agents(ips: Sequence[str], *, port: int = 161, wait_s: float = 1.0, retries: int = 1,
                              communities: Sequence[str] = DEFAULT_COMMUNITIES) -> dict[str, AgentProbe]:
    """Probe every address once (plus ``retries`` for the silent ones); return what each answered."""
    found = {ip: AgentProbe(ip) for ip in ips}
    if not ips:
        return found
    base = int.from_bytes(os.urandom(3), "big")
    expected: dict[tuple[str, int], tuple[str, str]] = {}
    packets: list[tuple[str, bytes]] = []
    for n, ip in enumerate(ips):
        ident = base + n * 4
        expected[("v3", ident)] = (ip, "v3")
        packets.append((ip, v3_discovery(ident)))
        for k, community in enumerate(communities, start=1):
            expected[("v2c", ident + k)] = (ip, community)
            packets.append((ip, v2c_get(community, ident + k)))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Prober(expected, found),
                                                       family=socket.AF_INET, local_addr=("0.0.0.0", 0))
    try:
        for attempt in range(retries + 1):
            for ip, packet in packets:
                if attempt == 0 or not found[ip].is_agent:
                    transport.sendto(packet, (ip, port))
            await asyncio.sleep(wait_s)
            if all(p.is_agent for p in found.values()):
                break
    finally:
        transport.close()
    log.debug("SNMP agents: %s", ", ".join(ip for ip, p in found.items() if p.is_agent) or "none")
    return found
