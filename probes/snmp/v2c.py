"""A small, strict SNMPv2c client in pure Python: BER written and read here, one UDP socket, every wait bounded.

Why not net-snmp (ezsnmp) for v2c: it decodes every varbind into printed text (about 25 µs each,
measured) and keeps its print options process-wide, so the worker had to read each device in a
process of its own.  This client keeps no state outside its session, so a device can be read
from any thread, and its decoding costs a few µs per varbind (docs/snmp.md, "The worker's snmp
kind").  SNMPv3 stays with net-snmp.

Strict, because an agent may be broken or hostile (``infra/lab/snmp_hostile.py``):

- the socket is connected to the agent's address and port, so the kernel drops datagrams from any
  other; a datagram is the answer only when its version (v2c), community, PDU type (Response) and
  request-id are the request's; anything else is ignored (counted in the error when nothing else came);
- an answer that is ours but breaks BER (a length past its container, an indefinite length, bytes
  left over, an unknown type, an integer too long for its type, an OID of more than 128
  sub-identifiers) ends the device as ``MALFORMED``, as do an error-status, a GET answered with other
  names than asked, or a GETBULK answered with more varbinds than asked;
- every request waits at most ``timeout_s`` and never past the session's deadline; it is sent again
  (``retries``) with the same request-id, so a late answer to the first try still counts;
- the walks' order check and row cap are :class:`~sitescout.probes.snmp.session.SnmpSession`'s.

Nothing here raises anything but :class:`SnmpError` for what comes from the network
(``tests/test_snmp_v2c_fuzz.py`` feeds the decoder random and mutated datagrams).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence
from typing import NamedTuple

from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind
from sitescout.probes.snmp.session import OID, SnmpSession, Varbind

__all__ = ["GET", "GETNEXT", "GETBULK", "RESPONSE", "Response", "V2cSession", "decode_response", "encode_request",
           "DEFAULT_RETRIES", "MAX_OID_LENGTH"]

GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
#: A request not answered within its timeout is sent this many times more (within the deadline).
DEFAULT_RETRIES = 1
#: Sub-identifiers of an OID at most (net-snmp's MAX_OID_LEN).
MAX_OID_LENGTH = 128
_VERSION_2C = 1
#: The first sub-identifier carries the first two arcs (2.N: 80 + N), so it may pass 32 bits by 80.
_MAX_FIRST_SUB = 0xFFFFFFFF + 80
_MAX_DATAGRAM = 65535
_SEQUENCE, _INTEGER, _OCTETS, _NULL, _OBJECT_ID = 0x30, 0x02, 0x04, 0x05, 0x06
#: Type names as the walks know them (:data:`~sitescout.probes.snmp.session.ABSENT_TYPES` for the last four).
_TYPES = {0x02: "INTEGER", 0x04: "OCTETSTR", 0x06: "OBJECTID", 0x40: "IPADDR", 0x41: "COUNTER", 0x42: "GAUGE",
          0x43: "TICKS", 0x44: "OPAQUE", 0x46: "COUNTER64",
          0x05: "NULL", 0x80: "NOSUCHOBJECT", 0x81: "NOSUCHINSTANCE", 0x82: "ENDOFMIBVIEW"}
_UNSIGNED_BITS = {0x41: 32, 0x42: 32, 0x43: 32, 0x46: 64}
_ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
                 "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
                 "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
                 "inconsistentName")


class _Malformed(Exception):
    """A BER or SNMP rule broken at some position (turned into SnmpError by the public functions)."""


class Response(NamedTuple):
    """A decoded Response-PDU."""

    request_id: int
    error_status: int
    error_index: int
    varbinds: list[Varbind]


# -- writing --------------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _integer(n: int) -> bytes:
    return _tlv(_INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def _oid(oid: OID) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40) or len(oid) > MAX_OID_LENGTH \
            or not all(0 <= sub <= 0xFFFFFFFF for sub in oid):
        raise ValueError(f"not an OID to send: {oid!r}")
    body = bytearray()
    for sub in (oid[0] * 40 + oid[1], *oid[2:]):
        if sub < 0x80:
            body.append(sub)
            continue
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        body += bytes(reversed(chunk))
    return _tlv(_OBJECT_ID, bytes(body))


def encode_request(community: bytes, pdu_type: int, request_id: int, oids: Sequence[OID], *,
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """Return the datagram of a GET, GETNEXT or GETBULK (``non_repeaters``, ``max_repetitions``) of ``oids``.

    Raises ValueError for an OID that cannot be sent (our own bug, never the agent's).
    """
    varbinds = b"".join(_tlv(_SEQUENCE, _oid(o) + b"\x05\x00") for o in oids)
    pdu = _tlv(pdu_type, _integer(request_id) + _integer(non_repeaters if pdu_type == GETBULK else 0)
               + _integer(max_repetitions if pdu_type == GETBULK else 0) + _tlv(_SEQUENCE, varbinds))
    return _tlv(_SEQUENCE, _integer(_VERSION_2C) + _tlv(_OCTETS, community) + pdu)


# -- reading --------------------------------------------------------------------------------------

def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Return (tag, start of contents, end of contents) of the TLV at ``pos``, which must fit before ``end``."""
    if pos + 2 > end:
        raise _Malformed(f"truncated at byte {pos}")
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        count = n & 0x7F
        if not 1 <= count <= 4:
            raise _Malformed(f"length of {count} bytes at byte {pos - 1}" if count else "indefinite length")
        if pos + count > end:
            raise _Malformed(f"truncated length at byte {pos}")
        n = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + n > end:
        raise _Malformed(f"length {n} at byte {pos} runs past its container")
    return tag, pos, pos + n


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _header(data, pos, end)
    if got != tag:
        raise _Malformed(f"{what}: tag 0x{got:02x} where 0x{tag:02x} belongs")
    return start, stop


def _int_at(data: bytes, start: int, stop: int, what: str) -> int:
    if not 1 <= stop - start <= 8:
        raise _Malformed(f"{what}: an INTEGER of {stop - start} bytes")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _oid_at(data: bytes, start: int, stop: int) -> OID:
    body = data[start:stop]
    if not body or body[-1] & 0x80:
        raise _Malformed("an empty or truncated OID")
    one_byte_each = body.isascii()
    if len(body) > (MAX_OID_LENGTH - 1 if one_byte_each else 5 * MAX_OID_LENGTH):
        raise _Malformed(f"an OID of {len(body)} bytes: over {MAX_OID_LENGTH} sub-identifiers")
    if one_byte_each:  # every sub-identifier in one byte: the usual case, decoded in C
        first = body[0]
        return ((first // 40, first % 40) if first < 80 else (2, first - 80)) + tuple(body[1:])
    subs: list[int] = []
    sub = 0
    fresh = True
    for b in body:
        if fresh and b == 0x80:
            raise _Malformed("a sub-identifier with a leading 0x80")
        sub = (sub << 7) | (b & 0x7F)
        if sub > _MAX_FIRST_SUB:
            raise _Malformed("a sub-identifier over 32 bits")
        fresh = not b & 0x80
        if fresh:
            subs.append(sub)
            sub = 0
    first = subs[0]
    oid = ((first // 40, first % 40) if first < 80 else (2, first - 80)) + tuple(subs[1:])
    if len(oid) > MAX_OID_LENGTH or max(oid[1:]) > 0xFFFFFFFF:
        raise _Malformed("an OID of too many sub-identifiers, or one over 32 bits")
    return oid


def _value_at(data: bytes, tag: int, start: int, stop: int) -> int | bytes | str | None:
    if tag == _INTEGER:
        return _int_at(data, start, stop, "value")
    if tag == _OCTETS or tag == 0x44:  # OCTET STRING, Opaque
        return data[start:stop]
    bits = _UNSIGNED_BITS.get(tag)
    if bits is not None:
        if not 1 <= stop - start <= bits // 8 + 1:
            raise _Malformed(f"{_TYPES[tag]} of {stop - start} bytes")
        value = int.from_bytes(data[start:stop], "big", signed=True)
        if value < 0:  # sent without its leading zero byte: as net-snmp reads it
            value &= (1 << bits) - 1
        if value >> bits:
            raise _Malformed(f"{_TYPES[tag]} over {bits} bits")
        return value
    if tag == _OBJECT_ID:
        return ".".join(map(str, _oid_at(data, start, stop)))
    if tag == 0x40:
        if stop - start != 4:
            raise _Malformed(f"an IpAddress of {stop - start} bytes")
        return ".".join(map(str, data[start:stop]))
    if tag in _TYPES:  # NULL and the three exceptions carry nothing
        if stop != start:
            raise _Malformed(f"{_TYPES[tag]} with {stop - start} bytes of contents")
        return None
    raise _Malformed(f"unknown type 0x{tag:02x}")


def _varbinds(data: bytes, pos: int, end: int) -> list[Varbind]:
    out: list[Varbind] = []
    append = out.append
    while pos < end:
        # The usual varbind, under 128 bytes with a one-byte-per-arc name, is read inline (a third of the
        # cost of the general path below, which checks the same rules).
        if pos + 4 <= end and data[pos] == _SEQUENCE and data[pos + 2] == _OBJECT_ID:
            n, m = data[pos + 1], data[pos + 3]
            stop, oid_stop = pos + 2 + n, pos + 4 + m
            if n < 0x80 and m < 0x80 and 0 < m < MAX_OID_LENGTH and oid_stop + 2 <= stop <= end:
                tag, k = data[oid_stop], data[oid_stop + 1]
                name = data[pos + 4:oid_stop]
                if k < 0x80 and oid_stop + 2 + k == stop and name.isascii():
                    first = name[0]
                    oid = ((first // 40, first % 40) if first < 80 else (2, first - 80)) + tuple(name[1:])
                    if tag == _OCTETS:
                        value: int | bytes | str | None = data[oid_stop + 2:stop]
                    else:
                        value = _value_at(data, tag, oid_stop + 2, stop)
                    append(Varbind(oid, value, _TYPES[tag]))
                    pos = stop
                    continue
        start, stop = _expect(data, pos, end, _SEQUENCE, "varbind")
        oid_start, oid_stop = _expect(data, start, stop, _OBJECT_ID, "varbind name")
        tag, value_start, value_stop = _header(data, oid_stop, stop)
        if value_stop != stop:
            raise _Malformed(f"{stop - value_stop} bytes left over in a varbind")
        append(Varbind(_oid_at(data, oid_start, oid_stop), _value_at(data, tag, value_start, value_stop),
                       _TYPES.get(tag, "?")))
        pos = stop
    return out


def _pdu(data: bytes) -> tuple[int, bytes, int, int, int, int]:
    """Return (version, community, PDU tag, request-id, position after it, end of the PDU)."""
    end = len(data)
    start, stop = _expect(data, 0, end, _SEQUENCE, "message")
    if stop != end:
        raise _Malformed(f"{end - stop} bytes after the message")
    version_start, version_stop = _expect(data, start, stop, _INTEGER, "version")
    version = _int_at(data, version_start, version_stop, "version")
    community_start, community_stop = _expect(data, version_stop, stop, _OCTETS, "community")
    tag, pdu_start, pdu_stop = _header(data, community_stop, stop)
    if pdu_stop != stop:
        raise _Malformed(f"{stop - pdu_stop} bytes after the PDU")
    id_start, id_stop = _expect(data, pdu_start, pdu_stop, _INTEGER, "request-id")
    return (version, data[community_start:community_stop], tag, _int_at(data, id_start, id_stop, "request-id"),
            id_stop, pdu_stop)


def decode_response(data: bytes, community: bytes, request_id: int, device: str = "?") -> Response | None:
    """Decode ``data`` when it is the answer to ``request_id`` (v2c, ``community``, a Response-PDU), else None.

    Raises SnmpError (MALFORMED) when it is that answer but broken; nothing else, whatever ``data`` holds.
    """
    try:
        version, got_community, tag, got_id, pos, end = _pdu(data)
    except _Malformed:
        return None  # not even its header parses: not an answer to anything of ours
    if (version, got_community, tag, got_id) != (_VERSION_2C, community, RESPONSE, request_id):
        return None
    try:
        status_start, status_stop = _expect(data, pos, end, _INTEGER, "error-status")
        index_start, index_stop = _expect(data, status_stop, end, _INTEGER, "error-index")
        list_start, list_stop = _expect(data, index_stop, end, _SEQUENCE, "varbind list")
        if list_stop != end:
            raise _Malformed(f"{end - list_stop} bytes after the varbind list")
        return Response(got_id, _int_at(data, status_start, status_stop, "error-status"),
                        _int_at(data, index_start, index_stop, "error-index"), _varbinds(data, list_start, list_stop))
    except _Malformed as err:
        raise SnmpError(SnmpErrorKind.MALFORMED, device, f"undecodable answer: {err}") from None


# -- the session ----------------------------------------------------------------------------------

class V2cSession(SnmpSession):
    """An SNMPv2c session in pure Python on one UDP socket connected to the agent; close it when done."""

    def __init__(self, device: str, community: str, *, deadline: float, timeout_s: float, port: int = 161,
                 max_repetitions: int = 25, retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(device, deadline, timeout_s, "v2c")
        self.max_repetitions = max_repetitions
        self.retries = retries
        self._community = community.encode("utf-8")
        self._request_id = random.randrange(1, 0x7FFF0000)
        self._sock: socket.socket | None = None
        try:  # a numeric address only: no name lookup that could block past the deadline
            family, _, _, _, address = socket.getaddrinfo(device, port, type=socket.SOCK_DGRAM,
                                                          flags=socket.AI_NUMERICHOST)[0]
        except (OSError, UnicodeError) as err:
            raise SnmpError(SnmpErrorKind.UNREACHABLE, device, f"not an address to read: {err}") from None
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.connect(address)  # from now on the kernel drops datagrams from any other address or port
        except OSError as err:
            self.close()
            raise SnmpError(SnmpErrorKind.UNREACHABLE, device, f"cannot send: {err.strerror or err}") from None

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _get_raw(self, oids: list[OID]) -> Sequence[Varbind]:
        varbinds = self._request(GET, oids, 0)
        if [vb.oid for vb in varbinds] != oids:
            raise SnmpError(SnmpErrorKind.MALFORMED, self.device, "a GET answered with other names than asked")
        return varbinds

    def _bulk_raw(self, oids: list[OID], repetitions: int | None) -> Sequence[Varbind]:
        repetitions = repetitions or self.max_repetitions
        varbinds = self._request(GETBULK, oids, repetitions)
        if len(varbinds) > len(oids) * repetitions:
            raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                            f"a GETBULK of {len(oids)} × {repetitions} answered {len(varbinds)} varbinds")
        return varbinds

    def _name(self, raw: Varbind) -> tuple[OID, bool]:
        return raw.oid, raw.value is None

    def _varbind(self, raw: Varbind, oid: OID) -> Varbind:
        return raw

    def _request(self, pdu_type: int, oids: list[OID], repetitions: int) -> list[Varbind]:
        """Send one request (again up to ``retries`` times) and return the answer's varbinds."""
        if self._sock is None:
            raise SnmpError(SnmpErrorKind.UNREACHABLE, self.device, "session closed")
        self._request_id = self._request_id % 0x7FFFFFFF + 1
        request_id = self._request_id
        datagram = encode_request(self._community, pdu_type, request_id, oids, max_repetitions=repetitions)
        self.requests += 1
        ignored = 0
        for _ in range(1 + self.retries):
            until = time.monotonic() + min(self.timeout_s, self._remaining())
            try:
                self._sock.send(datagram)
                while (left := until - time.monotonic()) > 0:
                    self._sock.settimeout(left)
                    try:
                        data = self._sock.recv(_MAX_DATAGRAM)
                    except TimeoutError:
                        break
                    answer = decode_response(data, self._community, request_id, self.device)
                    if answer is None:
                        ignored += 1  # another request's late answer, or not SNMP at all
                        continue
                    if answer.error_status:
                        status = answer.error_status
                        name = _ERROR_STATUS[status] if 0 <= status < len(_ERROR_STATUS) else str(status)
                        raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                                        f"the agent answered {name} at varbind {answer.error_index}")
                    return answer.varbinds
            except ConnectionRefusedError:  # ICMP port unreachable
                raise SnmpError(SnmpErrorKind.UNREACHABLE, self.device, "no answer: nothing listens on the "
                                "agent's port (ICMP port unreachable)") from None
            except OSError as err:
                raise SnmpError(SnmpErrorKind.UNREACHABLE, self.device,
                                f"no answer: {err.strerror or type(err).__name__}") from None
        raise SnmpError(SnmpErrorKind.UNREACHABLE, self.device,
                        "no answer" + (f" ({ignored} other datagram(s) ignored)" if ignored else ""))
