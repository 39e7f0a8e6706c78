"""An SNMP session on one device: credentials tried in order, GETBULK walks with a time budget and row caps.

Built on ezsnmp (net-snmp's C library through SWIG): measured on a lab switch it
walks ifTable + ifXTable (2,040 varbinds) in 85 ms where pysnmp 7's asyncio
API took 580 ms and ``snmpbulkwalk`` 50 ms (two processes); it releases the GIL
while it waits for the network, but net-snmp's print options are process-wide,
so devices are read in parallel processes, one session at a time in each.

Every walk checks strict lexicographic progress itself (an agent whose next OID
is not greater than the last one is broken: an OID loop ends as
``MALFORMED``), stops at ``max_rows`` varbinds, and never waits past the
device's deadline.  Nothing here raises anything but :class:`SnmpError`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind

__all__ = ["V2cCommunity", "V3User", "SnmpScope", "SnmpCredentials", "SnmpSession", "Varbind", "open_session",
           "DEFAULT_MAX_ATTEMPTS", "parse_oid", "init_netsnmp"]

log = logging.getLogger(__name__)

OID = tuple[int, ...]
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
#: At most this many credentials are tried per device (an agent may lock a v3 user out after a few failures).
DEFAULT_MAX_ATTEMPTS = 3
_MIN_TIMEOUT_S = 0.05
# One net-snmp session at a time per process: net-snmp's output options are
# process-global and ezsnmp sets and resets them around every call, so two
# threads walking at once garble each other's values (seen in the lab: a
# Timeticks printed as text in the middle of a numeric walk).  Devices are read
# in parallel *processes* (collect.collect_devices); this lock guards the rest.
_NETSNMP_LOCK = threading.RLock()
#: net-snmp reads only this directory's snmp.conf: no system or user configuration, no persistent state
#: (the client's engineID and boots) loaded or saved; why in that file and docs/snmp.md, "Known issues".
NETSNMP_CONF_DIR = Path(__file__).with_name("netsnmp")


@dataclass(frozen=True)
class V2cCommunity:
    """An SNMPv2c community (read-only)."""

    community: str

    def __repr__(self) -> str:
        return "V2cCommunity(<redacted>)"


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user; ``auth_protocol`` SHA/SHA-256/MD5, ``priv_protocol`` AES/AES-256/DES."""

    username: str
    auth_key: str = field(repr=False)
    priv_key: str = field(default="", repr=False)
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"

    @property
    def security_level(self) -> str:
        """Return authPriv when a privacy key is set, else authNoPriv."""
        return "authPriv" if self.priv_key else "authNoPriv"


@dataclass(frozen=True)
class SnmpScope:
    """Credentials for the devices of one network only (``[[snmp.scope]]``)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    v3_users: tuple[V3User, ...] = ()
    communities: tuple[V2cCommunity, ...] = ()


@dataclass(frozen=True)
class SnmpCredentials:
    """What to try on a device, in order: v3 users first (they fail loudly), then v2c communities.

    ``scopes`` add credentials for some networks: :meth:`for_device` gives one device's list.
    """

    v3_users: tuple[V3User, ...] = ()
    communities: tuple[V2cCommunity, ...] = ()
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    scopes: tuple[SnmpScope, ...] = ()

    def candidates(self) -> list[V2cCommunity | V3User]:
        """Return the credentials to try, capped at ``max_attempts`` (the global ones: see :meth:`for_device`)."""
        tried: list[V2cCommunity | V3User] = [*self.v3_users, *self.communities]
        return tried[: self.max_attempts]

    def for_device(self, ip: str) -> SnmpCredentials:
        """Return the credentials for the device at ``ip``, without scopes.

        v3 users, then communities; within each, those of the scopes whose network holds ``ip``
        (longest prefix first), then the global ones; each credential once.  ``max_attempts`` still caps
        the whole list.  An address that does not parse gets the global credentials only.
        """
        if not self.scopes:
            return self
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return replace(self, scopes=())
        held = sorted((s for s in self.scopes if address.version == s.network.version and address in s.network),
                      key=lambda s: s.network.prefixlen, reverse=True)
        users = dict.fromkeys([*(u for s in held for u in s.v3_users), *self.v3_users])
        communities = dict.fromkeys([*(c for s in held for c in s.communities), *self.communities])
        return SnmpCredentials(tuple(users), tuple(communities), self.max_attempts)


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


_INT_TYPES = {"INTEGER", "INTEGER32", "Counter32", "Counter64", "Gauge32", "UInteger32", "UNSIGNED32",
              "TICKS", "Timeticks", "Unsigned32"}
_ABSENT = {"NOSUCHOBJECT", "NOSUCHINSTANCE", "ENDOFMIBVIEW", "NULL"}


def _kind_of(kind: str) -> str:
    # ezsnmp reports exceptions (endOfMibView, noSuchObject …) as a sentence in the type field.
    if " " not in kind:
        return kind
    if "No more variables" in kind:
        return "ENDOFMIBVIEW"
    if "No Such Object" in kind:
        return "NOSUCHOBJECT"
    if "No Such Instance" in kind:
        return "NOSUCHINSTANCE"
    return kind


def _decode(kind: str, value: str) -> int | bytes | str | None:
    if kind == "Hex-STRING":
        return bytes.fromhex(value)  # fromhex skips the spaces and line breaks net-snmp prints
    if kind in _INT_TYPES:
        return int(value)
    if kind in _ABSENT or " " in kind:
        return None
    if kind == "STRING":
        return value.encode("utf-8", "surrogateescape")
    if kind.isdigit() and value.isdigit():  # timeticks print numerically, type included
        return int(value)
    if kind == "OID":
        return value.strip(".")
    return value


def _error_of(err: Exception, device: str) -> SnmpError:
    text = str(err)
    name = type(err).__name__
    if "Authentication failure" in text or "Unknown user name" in text or "Unsupported security level" in text \
            or "Decryption error" in text:
        return SnmpError(SnmpErrorKind.AUTH, device, "the agent rejected the v3 user or its keys")
    if name == "TimeoutError" or "Timeout" in text:
        return SnmpError(SnmpErrorKind.UNREACHABLE, device, "no answer")
    if "not increasing" in text.lower():
        return SnmpError(SnmpErrorKind.MALFORMED, device, "OID not increasing")
    return SnmpError(SnmpErrorKind.MALFORMED, device, f"{name}: {text[:200]}")


class SnmpSession:
    """An open session on one device with a deadline; walk and get tables within it."""

    def __init__(self, device: str, session: Any, deadline: float, timeout_s: float, label: str) -> None:
        self.device = device
        self.label = label  # "v2c" or "v3:<user>"; never the secret
        self._session = session
        self.deadline = deadline
        self.timeout_s = timeout_s
        self.requests = 0

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= _MIN_TIMEOUT_S:
            raise SnmpError(SnmpErrorKind.TIMEOUT, self.device, "time budget spent")
        return left

    def _call(self, method: str, oids: list[str], repetitions: int | None = None) -> Sequence[Any]:
        self._session.timeout = f"{min(self.timeout_s, self._remaining()):.2f}"
        self.requests += 1
        try:
            with _NETSNMP_LOCK:
                if repetitions is None:
                    return getattr(self._session, method)(oids)
                return self._bulk_with(oids, repetitions)
        except Exception as err:  # ezsnmp raises its own tree; map every one to a kind
            raise _error_of(err, self.device) from err

    def _bulk_with(self, oids: list[str], repetitions: int) -> Sequence[Any]:
        # ezsnmp's bulk_get sets max-repetitions from the value the session was made with, kept in a private
        # attribute; where a later ezsnmp has none, the request goes with the session's own (only more varbinds).
        key = "_Session__set_max_repeaters_to_num"
        kept = getattr(self._session, key, None)
        if kept is None:
            return self._session.bulk_get(oids)
        setattr(self._session, key, str(repetitions))
        try:
            return self._session.bulk_get(oids)
        finally:
            setattr(self._session, key, kept)

    def get(self, oids: Sequence[OID]) -> dict[OID, Varbind]:
        """GET ``oids``; absent ones are left out."""
        out: dict[OID, Varbind] = {}
        for r in self._call("get", [".".join(map(str, o)) for o in oids]):
            vb = _to_varbind(r)
            if vb.value is not None:
                out[vb.oid] = vb
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
            results = self._call("bulk_get", [".".join(map(str, last))])
            if not results:
                return
            for r in results:
                vb = _to_varbind(r)
                if vb.oid[:n] != root or vb.type in _ABSENT:
                    return
                if vb.oid <= last:
                    raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                                    f"OID not increasing after {'.'.join(map(str, last))} (a loop)")
                last = vb.oid
                rows += 1
                if rows > max_rows:
                    log.warning("%s: %s has more than %d rows; the rest is not read", self.device,
                                ".".join(map(str, root)), max_rows)
                    return
                yield vb

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

        Every successor is decoded by net-snmp (about 25 µs each in ezsnmp, measured), those past a
        column's end too, so each request asks as many repetitions as a column still needs:
        ``rows_hint`` (e.g. ifNumber) minus the rows read + 1 while the hint holds, else the session's.

        Returns ({column: varbinds in order}, cut at ``max_rows``).  Successors past a column's end
        are not decoded.
        """
        active = list(dict.fromkeys(columns))
        out: dict[OID, list[Varbind]] = {c: [] for c in active}
        last: dict[OID, OID] = {c: c for c in active}
        prefix = {c: "." + ".".join(map(str, c)) + "." for c in active}
        rows = 0
        while active:
            left = rows_hint - min(len(out[c]) for c in active) if rows_hint is not None else 0
            results = self._call("bulk_get", [".".join(map(str, last[c])) for c in active],
                                 left + 1 if left > 0 else None)
            n = len(active)
            ended: set[OID] = set()
            moved = False
            for i, r in enumerate(results or ()):
                col = active[i % n]
                if col in ended:
                    continue
                oid_text = r.oid if not r.index else f"{r.oid}.{r.index}"
                if _kind_of(r.type) in _ABSENT:  # endOfMibView (named as asked), noSuchObject …
                    ended.add(col)
                    continue
                inside = ("." + oid_text.lstrip(".")).startswith(prefix[col])
                vb = _to_varbind(r) if inside else None
                if (vb.oid if vb else _parse_successor(oid_text)) <= last[col]:  # even a successor outside it
                    raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                                    f"OID not increasing after {'.'.join(map(str, last[col]))} (a loop)")
                if vb is None:
                    ended.add(col)  # past the column's end: the rest of its repetitions are not read
                    continue
                last[col] = vb.oid
                moved = True
                rows += 1
                if rows > max_rows:
                    log.warning("%s: columns under %s have more than %d rows together; the rest is not read",
                                self.device, ".".join(map(str, active[0])), max_rows)
                    return out, True
                out[col].append(vb)
            if not moved:
                break
            active = [c for c in active if c not in ended]
        return out, False

    def close(self) -> None:
        """Release the underlying net-snmp session."""
        self._session = None


def _parse_successor(oid_text: str) -> OID:
    try:
        return parse_oid(oid_text)
    except ValueError:
        return ()  # not an OID: not greater than anything asked


def _to_varbind(r: Any) -> Varbind:
    oid_text = r.oid if not r.index else f"{r.oid}.{r.index}"
    kind = _kind_of(r.type)
    try:
        return Varbind(parse_oid(oid_text), _decode(kind, r.value), kind)
    except ValueError as err:
        raise SnmpError(SnmpErrorKind.MALFORMED, "?", f"undecodable {r.type} at {oid_text}") from err


def _new_session(device: str, cred: V2cCommunity | V3User, port: int, timeout_s: float,
                 max_repetitions: int) -> Any:
    from ezsnmp import Session  # imported lazily: the library is only needed when SNMP is used

    # Before net-snmp's first initialisation in this process (the first call of the first session); the
    # setting is inherited by forked collection workers and does no harm to child programs (Debian's
    # snmp.conf says no more than "mibs :").
    os.environ["SNMPCONFPATH"] = str(NETSNMP_CONF_DIR)
    common: dict[str, Any] = dict(hostname=device, port_number=str(port), timeout=f"{timeout_s:.2f}", retries=0,
                                  print_oids_numerically=True, print_hex_strings=True,
                                  print_timeticks_numerically=True, print_enums_numerically=True,
                                  set_max_repeaters_to_num=max_repetitions)
    with _NETSNMP_LOCK:
        if isinstance(cred, V2cCommunity):
            return Session(version=2, community=cred.community, **common)
        return Session(version=3, security_level=cred.security_level, security_username=cred.username,
                       auth_protocol=cred.auth_protocol, auth_passphrase=cred.auth_key,
                       privacy_protocol=cred.priv_protocol if cred.priv_key else "",
                       privacy_passphrase=cred.priv_key, **common)


def init_netsnmp() -> None:
    """Initialise net-snmp in this process now (its configuration from :data:`NETSNMP_CONF_DIR`); no packet is sent.

    The worker's SNMP fork server runs it (:mod:`sitescout.probes.snmp.preload`), so that the v2c
    collection processes forked from it do not each pay net-snmp's start (4.5 ms of CPU of a 25 ms
    probe, measured on the lab's sw1).  What those processes then share is drawn here: the first
    request and message ids (harmless for v2c: each process has its own socket) and v3's privacy
    salt, which is why a v3 collection never comes from that fork server.
    """
    _new_session("127.0.0.1", V2cCommunity("-"), 161, 1.0, 1)  # made and dropped: net-snmp is initialised


def open_session(device: str, credentials: SnmpCredentials, *, budget_s: float = 10.0, timeout_s: float = 1.0,
                 port: int = 161, max_repetitions: int = 25) -> SnmpSession:
    """Try the device's credentials in order (capped) with a GET of sysObjectID; return the first that answers.

    Raises SnmpError: AUTH when a v3 user was rejected and nothing else answered,
    UNREACHABLE when nothing answered at all, TIMEOUT when the budget ran out.
    """
    deadline = time.monotonic() + budget_s
    last: SnmpError | None = None
    auth_failed = False
    for cred in credentials.for_device(device).candidates():
        label = "v2c" if isinstance(cred, V2cCommunity) else f"v3:{cred.username}"
        try:
            raw = _new_session(device, cred, port, timeout_s, max_repetitions)
        except Exception as err:  # bad protocol names and the like: the credential is unusable
            last = SnmpError(SnmpErrorKind.MALFORMED, device, f"{label}: {type(err).__name__}")
            continue
        session = SnmpSession(device, raw, deadline, timeout_s, label)
        try:
            if session.get([SYS_OBJECT_ID]):
                log.debug("%s: answers %s", device, label)
                return session
            last = SnmpError(SnmpErrorKind.MALFORMED, device, "no sysObjectID")
        except SnmpError as err:
            if err.kind is SnmpErrorKind.TIMEOUT:
                raise
            auth_failed |= err.kind is SnmpErrorKind.AUTH
            last = err
            log.debug("%s: %s: %s", device, label, err.kind.value)
    if auth_failed:
        raise SnmpError(SnmpErrorKind.AUTH, device, "no v3 user accepted and no community answered")
    raise last or SnmpError(SnmpErrorKind.UNREACHABLE, device, "no credentials to try")
