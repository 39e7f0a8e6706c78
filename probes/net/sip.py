"""Ask live hosts over SIP what they are: one OPTIONS request on UDP 5060 each, answers read for a bounded time.

Loudspeaker receivers of rural public-address systems are often SIP endpoints (paging
receivers registered to a PBX); their ``User-Agent`` or ``Server`` header names the product.
One datagram per host, sent only to the live hosts of the networks the survey was told to
scan, no credentials, no retries beyond ``retries``.  An answer is believed only from the
address asked and with the Call-ID we sent; headers are bounded and stripped of control
characters.  A host that is silent (no SIP, or a closed port: ICMP unreachable) is simply absent.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SipAnswer", "async_sip_options", "options_request", "parse_response"]

MAX_DATAGRAM = 8192
MAX_HEADER = 200


@dataclass(frozen=True)
class SipAnswer:
    """What a host answered to OPTIONS: status code and the product it names (User-Agent, else Server)."""

    status: int
    agent: str | None


def options_request(ip: str, port: int, call_id: str) -> bytes:
    """Return a SIP OPTIONS request for ``sip:ip`` (RFC 3261 §11) with our Call-ID."""
    branch = "z9hG4bK" + call_id[:16]
    lines = [f"OPTIONS sip:{ip}:{port} SIP/2.0", f"Via: SIP/2.0/UDP sitescout.invalid;branch={branch};rport",
             "Max-Forwards: 70", f"From: <sip:sitescout@sitescout.invalid>;tag={call_id[:8]}",
             f"To: <sip:{ip}:{port}>", f"Call-ID: {call_id}", "CSeq: 1 OPTIONS", "Accept: application/sdp",
             "User-Agent: sitescout survey", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _clean(text: str) -> str:
    return "".join(c for c in text if c.isprintable()).strip()[:MAX_HEADER]


def parse_response(data: bytes) -> tuple[str, SipAnswer] | None:
    """Return (Call-ID, answer) of a SIP response, or None for anything else."""
    head = data[:MAX_DATAGRAM].split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2 or first[0] != "SIP/2.0" or not first[1].isdigit():
        return None
    headers: dict[str, str] = {}
    for line in lines[1:64]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), _clean(value))
    call_id = headers.get("call-id") or headers.get("i")
    if not call_id:
        return None
    agent = headers.get("user-agent") or headers.get("server") or None
    return call_id, SipAnswer(int(first[1]), agent)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, expected: dict[str, str], found: dict[str, SipAnswer]) -> None:
        self.expected = expected  # call id → ip
        self.found = found

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        parsed = parse_response(data)
        if parsed is not None and self.expected.get(parsed[0]) == addr[0]:
            self.found[addr[0]] = parsed[1]

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: no SIP there
        return None


async def async_sip_options(ips: Sequence[str], *, port: int = 5060, wait_s: float = 1.0,
                            retries: int = 1) -> dict[str, SipAnswer]:
    """Send OPTIONS to every address (again to the silent ones, ``retries`` times); return the answers by address."""
    found: dict[str, SipAnswer] = {}
    if not ips:
        return found
    expected = {f"{os.urandom(8).hex()}@sitescout": ip for ip in ips}
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(expected, found), family=socket.AF_INET,
                                                       local_addr=("0.0.0.0", 0))
    try:
        for _attempt in range(retries + 1):
            for call_id, ip in expected.items():
                if ip not in found:
                    transport.sendto(options_request(ip, port, call_id), (ip, port))
            await asyncio.sleep(wait_s)
            if len(found) == len(expected):
                break
    finally:
        transport.close()
    return found
