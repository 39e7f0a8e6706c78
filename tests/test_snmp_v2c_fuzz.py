"""Property tests for the pure-Python SNMPv2c decoder (probes/snmp/v2c.py): any datagram either decodes, is
ignored (None: not our answer) or raises SnmpError MALFORMED, never another exception.

Inputs: random bytes; Response-PDUs built by the lab's hostile agent's own BER writer (another
implementation: infra/lab/snmp_hostile.py) from random varbinds, checked to decode to what was
written, then mutated byte-wise (flip, cut, insert, length bytes made long) with the request's
community and request-id kept, so the mutations reach the body's decoding.  The walks (shared by both
clients) on random answers: they end, keep each column's rows in strict order under its root, cap
the rows, or raise MALFORMED for an OID that does not increase.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitescout.infra.lab import snmp_hostile
from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind
from sitescout.probes.snmp.session import SnmpSession, Varbind
from sitescout.probes.snmp.v2c import GETBULK, decode_response, encode_request

_SCALE = max(1, int(os.environ.get("SITESCOUT_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=300 * _SCALE, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])
COMMUNITY = b"lab-ro"
REQUEST_ID = 0x1234567

# -- strategies ---------------------------------------------------------------------------------------

_SUB = st.one_of(st.integers(0, 127), st.integers(128, 2**32 - 1))
OIDS = st.builds(lambda a, b, rest: (a, b, *rest), st.integers(0, 2), st.integers(0, 39),
                 st.lists(_SUB, max_size=20))
#: (BER tag, value written, value decoded, type name)
VALUES = st.one_of(
    st.integers(-2**62, 2**62).map(lambda n: (0x02, n, n, "INTEGER")),
    st.binary(max_size=300).map(lambda b: (0x04, b, b, "OCTETSTR")),
    st.integers(0, 2**32 - 1).map(lambda n: (0x41, n, n, "COUNTER")),
    st.integers(0, 2**32 - 1).map(lambda n: (0x42, n, n, "GAUGE")),
    st.integers(0, 2**32 - 1).map(lambda n: (0x43, n, n, "TICKS")),
    st.integers(0, 2**64 - 1).map(lambda n: (0x46, n, n, "COUNTER64")),
    OIDS.map(lambda o: (0x06, o, ".".join(map(str, o)), "OBJECTID")),
    st.sampled_from([(0x05, None, None, "NULL"), (0x80, None, None, "NOSUCHOBJECT"),
                     (0x81, None, None, "NOSUCHINSTANCE"), (0x82, None, None, "ENDOFMIBVIEW")]),
)
VARBINDS = st.lists(st.tuples(OIDS, VALUES), max_size=40)


def _response(varbinds: list[tuple[tuple[int, ...], tuple[int, object, object, str]]]) -> bytes:
    return snmp_hostile._response(1, COMMUNITY, REQUEST_ID, [(o, tag, v) for o, (tag, v, _, _) in varbinds])


def _decode_or_malformed(data: bytes) -> None:
    try:
        answer = decode_response(data, COMMUNITY, REQUEST_ID, "198.51.100.9")
    except SnmpError as err:
        assert err.kind is SnmpErrorKind.MALFORMED and err.device == "198.51.100.9"
        return
    if answer is not None:  # whatever decodes is well-typed
        assert answer.request_id == REQUEST_ID
        for vb in answer.varbinds:
            assert isinstance(vb, Varbind) and all(isinstance(x, int) and 0 <= x < 2**32 for x in vb.oid)
            assert 2 <= len(vb.oid) <= 128 and isinstance(vb.type, str)
            assert vb.value is None or isinstance(vb.value, int | bytes | str)


# -- properties ---------------------------------------------------------------------------------------

@FUZZ
@given(VARBINDS)
def test_what_the_hostile_agents_writer_writes_decodes_back(varbinds: list) -> None:  # type: ignore[type-arg]
    answer = decode_response(_response(varbinds), COMMUNITY, REQUEST_ID)
    assert answer is not None and (answer.error_status, answer.error_index) == (0, 0)
    assert answer.varbinds == [Varbind(o, decoded, name) for o, (_, _, decoded, name) in varbinds]


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    _decode_or_malformed(data)


@FUZZ
@given(VARBINDS, st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "long", "drop"]),
                                    st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_answers_never_raise_anything_else(varbinds: list, edits: list) -> None:  # type: ignore[type-arg]
    data = bytearray(_response(varbinds))
    for op, at, byte in edits:
        at %= len(data) + 1
        if op == "flip" and at < len(data):
            data[at] ^= byte or 1
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = bytes([byte])
        elif op == "long" and at < len(data):
            data[at:at + 1] = bytes([0x84, 0xFF, 0xFF, 0xFF, byte])  # a length of four bytes, far too long
        elif op == "drop" and at < len(data):
            del data[at]
        if not data:
            break
    _decode_or_malformed(bytes(data))


@FUZZ
@given(st.lists(OIDS, min_size=1, max_size=20), st.integers(1, 100), st.integers(1, 2**31 - 1))
def test_requests_read_back_by_the_hostile_agent(oids: list, repetitions: int, request_id: int) -> None:  # type: ignore[type-arg]
    datagram = encode_request(COMMUNITY, GETBULK, request_id, oids, max_repetitions=repetitions)
    assert snmp_hostile._parse_request(datagram) == (1, COMMUNITY, GETBULK, request_id, 0, repetitions, oids)


def test_the_header_decides_whose_answer_it_is() -> None:
    good = _response([((1, 3, 6, 1, 2, 1, 1, 5, 0), (0x04, b"sw1", b"sw1", "OCTETSTR"))])
    assert decode_response(good, COMMUNITY, REQUEST_ID) is not None
    assert decode_response(good, b"other", REQUEST_ID) is None  # another community
    assert decode_response(good, COMMUNITY, REQUEST_ID + 1) is None  # another request
    v1 = snmp_hostile._response(0, COMMUNITY, REQUEST_ID, [((1, 3, 6, 1), 0x02, 1)])
    assert decode_response(v1, COMMUNITY, REQUEST_ID) is None  # SNMPv1
    assert decode_response(good + b"\x00", COMMUNITY, REQUEST_ID) is None  # bytes after the message
    # ours, but broken inside: an unknown type, a Counter32 of 33 bits, an OID of 129 sub-identifiers
    for var in [((1, 3, 6, 1), 0x47, 1), ((1, 3, 6, 1), 0x41, 2**32), ((1, 3) + (1,) * 127, 0x02, 1)]:
        data = snmp_hostile._response(1, COMMUNITY, REQUEST_ID, [var])
        try:
            decode_response(data, COMMUNITY, REQUEST_ID)
        except SnmpError as err:
            assert err.kind is SnmpErrorKind.MALFORMED
        else:
            raise AssertionError(f"{var} decoded")


# -- the walks on whatever an agent answers -----------------------------------------------------------

class _Scripted(SnmpSession):
    """A session whose GETBULK answers come from a list (what a hostile agent could send), then nothing."""

    def __init__(self, answers: list[list[Varbind]]) -> None:
        super().__init__("198.51.100.9", float("inf"), 1.0, "v2c")
        self.answers = answers

    def _bulk_raw(self, oids: list[tuple[int, ...]], repetitions: int | None) -> list[Varbind]:
        self.requests += 1
        return self.answers.pop(0) if self.answers else []

    def _name(self, raw: Varbind) -> tuple[tuple[int, ...], bool]:
        return raw.oid, raw.value is None

    def _varbind(self, raw: Varbind, oid: tuple[int, ...]) -> Varbind:
        return raw


_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_NEAR = st.builds(lambda col, rest: _IF + (col, *rest), st.integers(0, 4), st.lists(st.integers(0, 3), max_size=2))
_ANSWER = st.lists(st.builds(lambda oid, v: Varbind(oid, v, "INTEGER" if v is not None else "ENDOFMIBVIEW"),
                             _NEAR, st.one_of(st.none(), st.integers(0, 9))), max_size=12)


@FUZZ
@given(st.lists(_ANSWER, max_size=8), st.integers(1, 30))
def test_walks_end_on_any_answers_with_rows_in_order(answers: list, max_rows: int) -> None:  # type: ignore[type-arg]
    columns = [_IF + (1,), _IF + (2,), _IF + (3,)]
    for walk in ("columns", "one"):
        session = _Scripted([list(a) for a in answers])
        try:
            if walk == "columns":
                got, cut = session.walk_columns(columns, max_rows, rows_hint=2)
                rows = [vb for c in columns for vb in got[c]]
                for c in columns:
                    assert all(vb.oid[:len(c)] == c and vb.oid > c for vb in got[c])
                    assert [vb.oid for vb in got[c]] == sorted({vb.oid for vb in got[c]})  # strictly increasing
            else:
                rows = session.walk(columns[0], max_rows)
                assert [vb.oid for vb in rows] == sorted({vb.oid for vb in rows})
            assert len(rows) <= max_rows and all(vb.value is not None for vb in rows)
        except SnmpError as err:
            assert err.kind is SnmpErrorKind.MALFORMED and "not increasing" in err.detail
        assert session.requests <= len(answers) + 1  # every request moved the walk, or it ended
