"""An SNMP session on one device, whoever carries it: GET, and GETBULK walks with a deadline, row cap, order check.

The walks live here once; a client only sends a GET or a GETBULK and says what came back
(:class:`~sitescout.probes.snmp.client.NetsnmpSession` through ezsnmp,
:class:`~sitescout.probes.snmp.v2c.V2cSession` in pure Python).  Every walk checks strict
lexicographic progress itself (an agent whose next OID is not greater than the last one is
broken: an OID loop ends as ``MALFORMED``), stops at ``max_rows`` varbinds, and never asks past
the device's deadline.  Nothing here raises anything but :class:`SnmpError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind

__all__ = ["OID", "SnmpSession", "Varbind", "parse_oid", "ABSENT_TYPES"]

log = logging.getLogger(__name__)

OID = tuple[int, ...]
#: A request is not sent with less than this left of the device's budget (it is spent: TIMEOUT).
MIN_TIMEOUT_S = 0.05
#: Types that carry no value and end a walk's column: the v2c exceptions (noSuchObject, noSuchInstance,
#: endOfMibView) and NULL (the lab's wrong-type agent answers counters as NULL).
ABSENT_TYPES = frozenset({"NOSUCHOBJECT", "NOSUCHINSTANCE", "ENDOFMIBVIEW", "NULL"})


class Varbind(NamedTuple):
    """One decoded variable: its OID and a Python value (int, bytes, str for OIDs and addresses)."""

    # A NamedTuple, not a dataclass: thousands are made per walk and a frozen
    # dataclass costs several times more to build (measured in bench_snmp_walk).
    oid: OID
    value: int | bytes | str | None
    type: str


def parse_oid(text: str) -> OID:
    """Return the OID tuple of dotted ``text`` (leading dot optional)."""
    text = text.strip().strip(".")
    return tuple(map(int, text.split("."))) if text else ()


def _dotted(oid: OID) -> str:
    return ".".join(map(str, oid))


class SnmpSession:
    """An open session on one device with a deadline; walk and get tables within it.

    A subclass sends the requests: :meth:`_get_raw` and :meth:`_bulk_raw` return what the agent
    answered in the client's own form, :meth:`_name` gives an answer's OID (and whether it is an
    exception), :meth:`_varbind` decodes it.  Successors a walk does not keep are never decoded.
    """

    def __init__(self, device: str, deadline: float, timeout_s: float, label: str) -> None:
        self.device = device
        self.label = label  # "v2c" or "v3:<user>"; never the secret
        self.deadline = deadline
        self.timeout_s = timeout_s
        self.requests = 0

    # -- what a client provides ------------------------------------------------------------------

    def _get_raw(self, oids: list[OID]) -> Sequence[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _bulk_raw(self, oids: list[OID], repetitions: int | None) -> Sequence[Any]:  # pragma: no cover - abstract
        """GETBULK ``oids``, ``repetitions`` successors each (None: the session's max-repetitions)."""
        raise NotImplementedError

    def _name(self, raw: Any) -> tuple[OID, bool]:  # pragma: no cover - abstract
        """Return the OID of one answered variable and whether it is absent (:data:`ABSENT_TYPES`)."""
        raise NotImplementedError

    def _varbind(self, raw: Any, oid: OID) -> Varbind:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release what the session holds."""

    # -- shared ----------------------------------------------------------------------------------

    def _remaining(self) -> float:
        """Return the seconds left of the device's budget; raise TIMEOUT when it is spent."""
        left = self.deadline - time.monotonic()
        if left <= MIN_TIMEOUT_S:
            raise SnmpError(SnmpErrorKind.TIMEOUT, self.device, "time budget spent")
        return left

    def get(self, oids: Sequence[OID]) -> dict[OID, Varbind]:
        """GET ``oids``; absent ones are left out."""
        out: dict[OID, Varbind] = {}
        for raw in self._get_raw(list(oids)):
            oid, absent = self._name(raw)
            if absent:
                continue
            vb = self._varbind(raw, oid)
            if vb.value is not None:
                out[oid] = vb
        return out

    def walk(self, root: OID, max_rows: int = 10_000) -> list[Varbind]:
        """Return the varbinds under ``root`` (GETBULK), at most ``max_rows`` of them."""
        return list(self.iter_walk(root, max_rows))

    def iter_walk(self, root: OID, max_rows: int = 10_000) -> Iterator[Varbind]:
        """Yield the varbinds under ``root`` in order; raise MALFORMED on an OID that does not increase."""
        last: OID = root
        rows = 0
        n = len(root)
        while True:
            results = self._bulk_raw([last], None)
            if not results:
                return
            for raw in results:
                oid, absent = self._name(raw)
                if oid[:n] != root or absent:
                    return
                if oid <= last:
                    raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                                    f"OID not increasing after {_dotted(last)} (a loop)")
                last = oid
                rows += 1
                if rows > max_rows:
                    log.warning("%s: %s has more than %d rows; the rest is not read", self.device, _dotted(root),
                                max_rows)
                    return
                yield self._varbind(raw, oid)

    def walk_columns(self, columns: Sequence[OID], max_rows: int = 10_000,
                     rows_hint: int | None = None) -> tuple[dict[OID, list[Varbind]], bool]:
        """Walk several columns (or subtrees) together: one GETBULK carries every column still going.

        A GETBULK with N varbinds answers ``max_repetitions`` successors of each, interleaved
        (row 1 of every column, then row 2 …), so N columns of R rows take about R / max_repetitions
        requests instead of N times that.  Each column ends when its successor leaves it (or
        endOfMibView) and is left out of the next request; each checks strict OID order on its own
        (a loop is MALFORMED, as in :meth:`iter_walk`); ``max_rows`` caps the varbinds of all
        columns together.  An answer cut short by the agent (RFC 3416 lets it drop trailing
        varbinds) continues from each column's last OID; an answer that moves no column ends the walk.

        Every successor in an answer costs decoding (net-snmp's is about 25 µs each in ezsnmp,
        measured), those past a column's end too, so each request asks as many repetitions as a
        column still needs: ``rows_hint`` (e.g. ifNumber) minus the rows read + 1 while the hint
        holds, else the session's.

        Returns ({column: varbinds in order}, cut at ``max_rows``).
        """
        active = list(dict.fromkeys(columns))
        out: dict[OID, list[Varbind]] = {c: [] for c in active}
        last: dict[OID, OID] = {c: c for c in active}
        rows = 0
        while active:
            left = rows_hint - min(len(out[c]) for c in active) if rows_hint is not None else 0
            results = self._bulk_raw([last[c] for c in active], left + 1 if left > 0 else None)
            n = len(active)
            ended: set[OID] = set()
            moved = False
            for i, raw in enumerate(results or ()):
                col = active[i % n]
                if col in ended:
                    continue
                oid, absent = self._name(raw)
                if absent:  # endOfMibView (named as asked), noSuchObject …
                    ended.add(col)
                    continue
                if oid <= last[col]:  # even a successor outside the column
                    raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                                    f"OID not increasing after {_dotted(last[col])} (a loop)")
                if oid[:len(col)] != col:
                    ended.add(col)  # past the column's end: the rest of its repetitions are not read
                    continue
                last[col] = oid
                moved = True
                rows += 1
                if rows > max_rows:
                    log.warning("%s: columns under %s have more than %d rows together; the rest is not read",
                                self.device, _dotted(active[0]), max_rows)
                    return out, True
                out[col].append(self._varbind(raw, oid))
            if not moved:
                break
            active = [c for c in active if c not in ended]
        return out, False
