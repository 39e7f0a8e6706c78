"""A hostile SNMPv2c agent for the lab: one broken behaviour per listening address.

Modes (``--serve MODE=IP`` repeated):

- ``slow``: every answer leaves 30 s after the request (a congested or dying agent).
- ``loop``: getnext/getbulk under ifTable always answer the same OID (breaks lexicographic order).
- ``million``: an ifTable of 1,000,000 rows, computed on demand (never held in memory).
- ``wrongtype``: sysObjectID as an INTEGER, ifIndex as OCTET STRING, ifHighSpeed as an OID,
  ifPhysAddress of 3 bytes, ifHCInOctets as NULL.
- ``community``: knows only the community ``hostile-own`` and, like a real agent, stays silent to any other.

It speaks just enough BER for GET, GETNEXT and GETBULK.  Prints ``ready`` when bound.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MODES", "main"]

OID = tuple[int, ...]
Var = tuple[OID, int, Any]  # oid, BER tag, value

MODES = ("slow", "loop", "million", "wrongtype", "community")
SLOW_S = 30.0
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
END_OF_MIB = 0x82
_MILLION = 1_000_000


# -- BER ---------------------------------------------------------------------

def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _int(n: int, tag: int = 0x02) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True) if tag == 0x02 \
        else n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return _tlv(tag, body)


def _oid(oid: OID) -> bytes:
    body = bytearray([oid[0] * 40 + oid[1]])
    for sub in oid[2:]:
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _value(tag: int, value: Any) -> bytes:
    if tag in (0x02, 0x41, 0x42, 0x43, 0x46):
        return _int(value, tag)
    if tag == 0x04:
        return _tlv(0x04, value if isinstance(value, bytes) else str(value).encode())
    if tag == 0x06:
        return _oid(value)
    return _tlv(tag, b"")  # NULL, endOfMibView


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


def _parse_oid(body: bytes) -> OID:
    out = [body[0] // 40, body[0] % 40]
    sub = 0
    for b in body[1:]:
        sub = (sub << 7) | (b & 0x7F)
        if not b & 0x80:
            out.append(sub)
            sub = 0
    return tuple(out)


def _parse_request(data: bytes) -> tuple[int, bytes, int, int, int, int, list[OID]]:
    _, msg, _ = _read(data, 0)
    _, version, p = _read(msg, 0)
    _, community, p = _read(msg, p)
    pdu_tag, pdu, _ = _read(msg, p)
    _, reqid, q = _read(pdu, 0)
    _, a, q = _read(pdu, q)
    _, b, q = _read(pdu, q)
    _, vbl, _ = _read(pdu, q)
    oids, r = [], 0
    while r < len(vbl):
        _, vb, r = _read(vbl, r)
        _, oid_body, _ = _read(vb, 0)
        oids.append(_parse_oid(oid_body))
    return (int.from_bytes(version, "big"), community, pdu_tag, int.from_bytes(reqid, "big", signed=True),
            int.from_bytes(a, "big"), int.from_bytes(b, "big"), oids)


def _response(version: int, community: bytes, reqid: int, varbinds: list[Var]) -> bytes:
    vbl = b"".join(_tlv(0x30, _oid(o) + _value(t, v)) for o, t, v in varbinds)
    pdu = _tlv(0xA2, _int(reqid) + _int(0) + _int(0) + _tlv(0x30, vbl))
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + pdu)


# -- what each mode serves -----------------------------------------------------

def _system(mode: str) -> list[Var]:
    sys_oid: Var = ((1, 3, 6, 1, 2, 1, 1, 2, 0), 0x02, 42) if mode == "wrongtype" \
        else ((1, 3, 6, 1, 2, 1, 1, 2, 0), 0x06, (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10))
    return [((1, 3, 6, 1, 2, 1, 1, 1, 0), 0x04, f"hostile agent ({mode})"), sys_oid,
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), 0x43, 100), ((1, 3, 6, 1, 2, 1, 1, 5, 0), 0x04, f"hostile-{mode}")]


def _small_if_table(mode: str) -> list[Var]:
    rows: list[Var] = []
    for col in (1, 2, 5, 6, 8):
        for i in (1, 2):
            value: tuple[int, Any] = {1: (0x02, i), 2: (0x04, f"eth{i}"), 5: (0x42, 100_000_000),
                                      6: (0x04, b"\x02\x00\x00\x00\x00" + bytes([i])), 8: (0x02, 1)}[col]
            if mode == "wrongtype":
                value = {1: (0x04, b"one"), 6: (0x04, b"\x01\x02\x03")}.get(col, value)
            rows.append((IF_TABLE + (col, i), *value))
    x = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
    for i in (1, 2):
        rows.append((x + (1, i), 0x04, f"eth{i}"))
        rows.append((x + (6, i), 0x05, None) if mode == "wrongtype" else (x + (6, i), 0x46, 12345))
        rows.append((x + (15, i), 0x06, (1, 3, 6)) if mode == "wrongtype" else (x + (15, i), 0x42, 100))
    return sorted(rows)


class _Mib:
    """The variables of one mode, with get and getnext."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.vars = sorted(_system(mode) + ([] if mode == "million" else _small_if_table(mode)))

    def getnext(self, oid: OID) -> Var:
        if self.mode == "loop" and oid[:len(IF_TABLE)] == IF_TABLE:
            return IF_TABLE + (1, 1), 0x02, 1  # the same OID, whatever was asked
        if self.mode == "million" and oid < IF_TABLE + (3,):
            if oid < IF_TABLE + (1, 1):
                return IF_TABLE + (1, 1), 0x02, 1
            col = oid[len(IF_TABLE)]
            row = oid[len(IF_TABLE) + 1] if len(oid) > len(IF_TABLE) + 1 else 0
            if row < _MILLION:
                return IF_TABLE + (col, row + 1), (0x02 if col == 1 else 0x04), (row + 1 if col == 1 else f"p{row + 1}")
            if col == 1:
                return IF_TABLE + (2, 1), 0x04, "p1"
        for var in self.vars:
            if var[0] > oid:
                return var
        return oid, END_OF_MIB, None

    def get(self, oid: OID) -> Var:
        for var in self.vars:
            if var[0] == oid:
                return var
        return oid, 0x81, None  # noSuchInstance


def _answer(mib: _Mib, pdu_tag: int, a: int, b: int, oids: list[OID]) -> list[Var]:
    if pdu_tag == 0xA0:
        return [mib.get(o) for o in oids]
    if pdu_tag == 0xA1:
        return [mib.getnext(o) for o in oids]
    if pdu_tag == 0xA5:  # GETBULK: a = non-repeaters, b = max-repetitions
        out = [mib.getnext(o) for o in oids[:a]]
        current = oids[a:]
        for _ in range(min(b, 100)):
            current_vars = [mib.getnext(o) for o in current]
            out += current_vars
            current = [v[0] for v in current_vars]
            if all(v[1] == END_OF_MIB for v in current_vars):
                break
        return out
    return []


def _serve(mode: str, ip: str, port: int, stop: threading.Event) -> Callable[[], None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.settimeout(0.2)
    mib = _Mib(mode)

    def loop() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                version, community, tag, reqid, a, b, oids = _parse_request(data)
            except (IndexError, ValueError):
                continue
            if mode == "community" and community != b"hostile-own":
                continue
            reply = _response(version, community, reqid, _answer(mib, tag, a, b, oids))
            if mode == "slow":
                threading.Timer(SLOW_S, sock.sendto, (reply, peer)).start()
            else:
                sock.sendto(reply, peer)
        sock.close()

    return loop


def main(argv: list[str] | None = None) -> int:
    """Serve each ``MODE=IP`` until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="append", required=True, metavar="MODE=IP")
    parser.add_argument("--port", type=int, default=161)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = []
    for item in args.serve:
        mode, ip = item.split("=", 1)
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        threads.append(threading.Thread(target=_serve(mode, ip, args.port, stop), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
