"""Credentials, and an SNMP session on one device: credentials tried in order, then GET and walks within a budget.

Two clients carry a session (the walks, their order check, row cap and deadline are
:class:`~sitescout.probes.snmp.session.SnmpSession`'s, the same for both):

- ``v2c_client="native"``: SNMPv2c in pure Python (:mod:`sitescout.probes.snmp.v2c`: BER encoded
  and decoded there, one UDP socket, no process-wide state), so any thread may read a device;
- ezsnmp (net-snmp's C library through SWIG) for SNMPv3 always, and for v2c with
  ``v2c_client="netsnmp"``.  It releases the GIL while it waits for the network, but net-snmp's
  print options are process-wide, so devices are read in parallel processes, one session at a
  time in each.

Measured on the lab's switches (docs/snmp.md, "Library choice"): the native client reads the
worker's columns at about a third of ezsnmp's CPU; pysnmp 7's asyncio API was 7× slower than
ezsnmp.  Nothing here raises anything but :class:`SnmpError` for device trouble.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind
from sitescout.probes.snmp.session import ABSENT_TYPES, OID, SnmpSession, Varbind, parse_oid
from sitescout.probes.snmp.v2c import V2cSession

__all__ = ["V2cCommunity", "V3User", "SnmpScope", "SnmpCredentials", "SnmpSession", "NetsnmpSession", "Varbind",
           "open_session", "DEFAULT_MAX_ATTEMPTS", "parse_oid", "V2C_CLIENTS"]

log = logging.getLogger(__name__)

SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
#: At most this many credentials are tried per device (an agent may lock a v3 user out after a few failures).
DEFAULT_MAX_ATTEMPTS = 3
#: Who carries an SNMPv2c session (``open_session(v2c_client=…)``, ``CollectSettings.v2c_client``).
V2C_CLIENTS = ("native", "netsnmp")
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


_INT_TYPES = {"INTEGER", "INTEGER32", "Counter32", "Counter64", "Gauge32", "UInteger32", "UNSIGNED32",
              "TICKS", "Timeticks", "Unsigned32"}


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
    if kind in ABSENT_TYPES or " " in kind:
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


class NetsnmpSession(SnmpSession):
    """A session through ezsnmp (net-snmp): v3 always, v2c when asked (``v2c_client="netsnmp"``)."""

    def __init__(self, device: str, session: Any, deadline: float, timeout_s: float, label: str) -> None:
        super().__init__(device, deadline, timeout_s, label)
        self._session = session

    def _call(self, method: str, oids: list[OID], repetitions: int | None = None) -> Sequence[Any]:
        self._session.timeout = f"{min(self.timeout_s, self._remaining()):.2f}"
        self.requests += 1
        texts = [".".join(map(str, o)) for o in oids]
        try:
            with _NETSNMP_LOCK:
                if method == "get":
                    return self._session.get(texts)
                return self._bulk_with(texts, repetitions)
        except Exception as err:  # ezsnmp raises its own tree; map every one to a kind
            raise _error_of(err, self.device) from err

    def _bulk_with(self, oids: list[str], repetitions: int | None) -> Sequence[Any]:
        # ezsnmp's bulk_get sets max-repetitions from the value the session was made with, kept in a private
        # attribute; where a later ezsnmp has none, the request goes with the session's own (only more varbinds).
        key = "_Session__set_max_repeaters_to_num"
        kept = getattr(self._session, key, None)
        if repetitions is None or kept is None:
            return self._session.bulk_get(oids)
        setattr(self._session, key, str(repetitions))
        try:
            return self._session.bulk_get(oids)
        finally:
            setattr(self._session, key, kept)

    def _get_raw(self, oids: list[OID]) -> Sequence[Any]:
        return self._call("get", oids)

    def _bulk_raw(self, oids: list[OID], repetitions: int | None) -> Sequence[Any]:
        return self._call("bulk_get", oids, repetitions)

    def _name(self, raw: Any) -> tuple[OID, bool]:
        oid_text = raw.oid if not raw.index else f"{raw.oid}.{raw.index}"
        try:
            oid = parse_oid(oid_text)
        except ValueError as err:
            raise SnmpError(SnmpErrorKind.MALFORMED, self.device, f"undecodable OID {oid_text[:100]}") from err
        return oid, _kind_of(raw.type) in ABSENT_TYPES

    def _varbind(self, raw: Any, oid: OID) -> Varbind:
        kind = _kind_of(raw.type)
        try:
            return Varbind(oid, _decode(kind, raw.value), kind)
        except ValueError as err:
            raise SnmpError(SnmpErrorKind.MALFORMED, self.device,
                            f"undecodable {raw.type} at {'.'.join(map(str, oid))}") from err

    def close(self) -> None:
        """Release the underlying net-snmp session."""
        self._session = None


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


def open_session(device: str, credentials: SnmpCredentials, *, budget_s: float = 10.0, timeout_s: float = 1.0,
                 port: int = 161, max_repetitions: int = 25, v2c_client: str = "netsnmp") -> SnmpSession:
    """Try the device's credentials in order (capped) with a GET of sysObjectID; return the first that answers.

    A community is tried with ``v2c_client`` (:data:`V2C_CLIENTS`), a v3 user always through net-snmp.
    The GET that tries a credential is sent once (an agent counts every wrong community: a retry
    would double that); the session's later requests are retried within the budget.

    Raises SnmpError: AUTH when a v3 user was rejected and nothing else answered,
    UNREACHABLE when nothing answered at all, TIMEOUT when the budget ran out.
    ValueError: an unknown ``v2c_client``.
    """
    if v2c_client not in V2C_CLIENTS:
        raise ValueError(f"v2c_client: {v2c_client!r} is not one of {', '.join(V2C_CLIENTS)}")
    deadline = time.monotonic() + budget_s
    last: SnmpError | None = None
    auth_failed = False
    for cred in credentials.for_device(device).candidates():
        label = "v2c" if isinstance(cred, V2cCommunity) else f"v3:{cred.username}"
        session: SnmpSession
        try:
            if isinstance(cred, V2cCommunity) and v2c_client == "native":
                session = V2cSession(device, cred.community, deadline=deadline, timeout_s=timeout_s, port=port,
                                     max_repetitions=max_repetitions, retries=0)
            else:
                raw = _new_session(device, cred, port, timeout_s, max_repetitions)
                session = NetsnmpSession(device, raw, deadline, timeout_s, label)
        except SnmpError as err:
            last = err
            continue
        except Exception as err:  # bad protocol names and the like: the credential is unusable
            last = SnmpError(SnmpErrorKind.MALFORMED, device, f"{label}: {type(err).__name__}")
            continue
        try:
            if session.get([SYS_OBJECT_ID]):
                log.debug("%s: answers %s", device, label)
                if isinstance(session, V2cSession):
                    session.retries = 1  # a datagram lost mid-walk is asked again, within the budget
                return session
            last = SnmpError(SnmpErrorKind.MALFORMED, device, "no sysObjectID")
        except SnmpError as err:
            if err.kind is SnmpErrorKind.TIMEOUT:
                session.close()
                raise
            auth_failed |= err.kind is SnmpErrorKind.AUTH
            last = err
            log.debug("%s: %s: %s", device, label, err.kind.value)
        session.close()
    if auth_failed:
        raise SnmpError(SnmpErrorKind.AUTH, device, "no v3 user accepted and no community answered")
    raise last or SnmpError(SnmpErrorKind.UNREACHABLE, device, "no credentials to try")
