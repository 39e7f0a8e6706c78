"""Camera credential sets and SNMP credentials, loaded from a TOML file; secrets never reach a repr, log or error.

The file holds ``[[credentials]]`` tables (camera username/password) and, optionally,
one ``[snmp]`` table (communities, v3 users and per-network ``[[snmp.scope]]`` ones, docs/snmp.md
"Credentials").
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitescout.inventory.errors import Coded
from sitescout.probes.errors import (
    CredentialsFileError,
)  # defined with the package's other errors; kept importable here
from sitescout.probes.snmp.client import DEFAULT_MAX_ATTEMPTS, SnmpCredentials, SnmpScope, V2cCommunity, V3User

__all__ = ["Credential", "CredentialsFileError", "load_credentials", "load_snmp_credentials"]

_ALLOWED_KEYS = frozenset({"username", "password"})
_SNMP_KEYS = frozenset({"communities", "v3", "max_attempts", "scope"})
_SCOPE_KEYS = frozenset({"network", "communities", "v3"})
_V3_KEYS = frozenset({"username", "auth_key", "priv_key", "auth_protocol", "priv_protocol"})
_AUTH_PROTOCOLS = ("SHA", "SHA-256", "SHA-512", "MD5")
_PRIV_PROTOCOLS = ("AES", "AES-256", "DES")
#: The most credentials tried per device that the file may ask for (lockout safety).
MAX_SNMP_ATTEMPTS = 5


@dataclass(frozen=True)
class Credential:
    """One username/password pair to try on cameras."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, password='***')"

    __str__ = __repr__


def _read_toml(path: str | Path) -> dict[str, Any]:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise CredentialsFileError(path, Coded("cannot_read_file", "cannot read: %(reason)s",
                                               reason=err.strerror or str(err))) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CredentialsFileError(path, Coded("not_utf8", "not UTF-8 text")) from None
    except tomllib.TOMLDecodeError as err:
        # tomllib's message gives line/column only, never the offending value.
        raise CredentialsFileError(path, Coded("not_toml", "not valid TOML (%(reason)s)", reason=str(err))) from None
    unknown = sorted(set(doc) - {"credentials", "snmp"})
    if unknown:
        raise CredentialsFileError(path, Coded("unknown_top_keys", "unknown top-level key(s) %(keys)s; expected "
                                               "[[credentials]] tables and an optional [snmp] table",
                                               keys=", ".join(unknown)))
    return doc


def load_credentials(path: str | Path) -> list[Credential]:
    """Read `[[credentials]]` tables (username, password) from a TOML file, in file order.

    A file with only an ``[snmp]`` table gives no camera credentials.

    Raises:
        CredentialsFileError: naming the file and the entry; never quoting a password.
    """
    doc = _read_toml(path)
    entries = doc.get("credentials")
    if entries is None and "snmp" in doc:
        return []
    if entries is None:
        raise CredentialsFileError(path, Coded("no_credentials", "no [[credentials]] entries"))
    if not isinstance(entries, list):
        raise CredentialsFileError(path, Coded("credentials_not_array", "'credentials' must be an array of tables "
                                               "([[credentials]])"))
    return [_parse_entry(path, index, entry) for index, entry in enumerate(entries, start=1)]


def _parse_entry(path: str | Path, index: int, entry: object) -> Credential:
    if not isinstance(entry, dict):
        raise CredentialsFileError(path, Coded("entry_not_table", "credentials entry %(entry)s: must be a table with "
                                               "username and password", entry=index))
    unknown = sorted(set(entry) - _ALLOWED_KEYS)
    if unknown:
        raise CredentialsFileError(path, Coded("entry_unknown_keys", "credentials entry %(entry)s: unknown key(s) "
                                               "%(keys)s", entry=index, keys=", ".join(unknown)))
    username = entry.get("username")
    password = entry.get("password")
    if not isinstance(username, str) or not username:
        raise CredentialsFileError(path, Coded("entry_username", "credentials entry %(entry)s: 'username' must be a "
                                               "non-empty string", entry=index))
    if password is None:
        raise CredentialsFileError(path, Coded("entry_password_missing", "credentials entry %(entry)s (username "
                                               "%(username)r): 'password' is missing", entry=index, username=username))
    if not isinstance(password, str):
        # Say the type, never the value.
        raise CredentialsFileError(path, Coded(
            "entry_password_type", "credentials entry %(entry)s (username %(username)r): 'password' must be a "
            "string, not %(type)s", entry=index, username=username, type=type(password).__name__))
    return Credential(username, password)


def load_snmp_credentials(path: str | Path) -> SnmpCredentials:
    """Read the ``[snmp]`` table (communities, ``[[snmp.v3]]`` users, max_attempts, ``[[snmp.scope]]``).

    Empty when absent.  A scope gives credentials for the devices of one network only
    (docs/snmp.md, "Credentials"; :meth:`SnmpCredentials.for_device`).  Each error's detail is a
    :class:`Coded` (its place in the file a Coded too), said in the reader's language by the command.

    Raises:
        CredentialsFileError: naming the file and the key; never quoting a community or key.
    """
    table = _read_toml(path).get("snmp")
    if table is None:
        return SnmpCredentials()
    if not isinstance(table, dict):
        raise CredentialsFileError(path, Coded("snmp_not_table", "'snmp' must be a table ([snmp])"))
    unknown = sorted(set(table) - _SNMP_KEYS)
    if unknown:
        raise CredentialsFileError(path, Coded("snmp_unknown_keys", "%(where)s: unknown key(s) %(keys)s",
                                               where="[snmp]", keys=", ".join(unknown)))
    attempts = table.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= MAX_SNMP_ATTEMPTS:
        raise CredentialsFileError(path, Coded("snmp_max_attempts", "[snmp]: 'max_attempts' must be an integer from "
                                               "1 to %(most)s", most=MAX_SNMP_ATTEMPTS))
    users, communities = _parse_set(path, "[snmp]", None, table)
    scopes = table.get("scope", [])
    if not isinstance(scopes, list):
        raise CredentialsFileError(path, Coded("snmp_scope_not_array", "[snmp]: 'scope' must be an array of tables "
                                               "([[snmp.scope]])"))
    parsed = tuple(_parse_scope(path, i, entry) for i, entry in enumerate(scopes, start=1))
    networks = [s.network for s in parsed]
    if len(set(networks)) != len(networks):
        raise CredentialsFileError(path, Coded("snmp_scope_same_network", "[[snmp.scope]]: two entries have the same "
                                               "'network'; merge them"))
    return SnmpCredentials(users, communities, attempts, parsed)


def _v3_entry(scope: int | None, index: int) -> Coded:
    """Return the place of the `index`-th v3 user of ``[snmp]``, or of the `scope`-th ``[[snmp.scope]]``."""
    if scope is None:
        return Coded("snmp_v3_entry", "[[snmp.v3]] entry %(entry)s", entry=index)
    return Coded("snmp_scope_v3_entry", "[[snmp.scope]] entry %(scope)s, [[snmp.scope.v3]] entry %(entry)s",
                 scope=scope, entry=index)


def _parse_set(path: str | Path, where: str | Coded, scope: int | None,
               table: dict[str, Any]) -> tuple[tuple[V3User, ...], tuple[V2cCommunity, ...]]:
    """Return the v3 users and communities of ``[snmp]`` (`scope` None) or of the `scope`-th ``[[snmp.scope]]``."""
    communities = table.get("communities", [])
    if not isinstance(communities, list) or not all(isinstance(c, str) and c for c in communities):
        raise CredentialsFileError(path, Coded("snmp_communities", "%(where)s: 'communities' must be a list of "
                                               "non-empty strings", where=where))
    users = table.get("v3", [])
    if not isinstance(users, list):
        raise CredentialsFileError(path, Coded("snmp_v3_not_array", "%(where)s: 'v3' must be an array of tables "
                                               "(%(table)s)", where=where,
                                               table="[[snmp.v3]]" if scope is None else "[[snmp.scope.v3]]"))
    return (tuple(_parse_v3(path, _v3_entry(scope, i), u) for i, u in enumerate(users, start=1)),
            tuple(V2cCommunity(c) for c in communities))


def _parse_scope(path: str | Path, index: int, entry: object) -> SnmpScope:
    where = Coded("snmp_scope_entry", "[[snmp.scope]] entry %(entry)s", entry=index)
    if not isinstance(entry, dict):
        raise CredentialsFileError(path, Coded("snmp_entry_not_table", "%(where)s: must be a table", where=where))
    unknown = sorted(set(entry) - _SCOPE_KEYS)
    if unknown:
        raise CredentialsFileError(path, Coded("snmp_unknown_keys", "%(where)s: unknown key(s) %(keys)s", where=where,
                                               keys=", ".join(unknown)))
    network = entry.get("network")
    try:
        if not isinstance(network, str):
            raise ValueError
        net = ipaddress.ip_network(network.strip())  # strict: host bits set is a typo, not a network
    except ValueError:
        raise CredentialsFileError(path, Coded("snmp_scope_network", "%(where)s: 'network' must be a network address "
                                               "with its prefix length, like 198.51.100.0/24 (no host bits set)",
                                               where=where)) from None
    users, communities = _parse_set(path, where, index, entry)
    if not users and not communities:
        raise CredentialsFileError(path, Coded("snmp_scope_empty", "%(where)s: gives no credentials ('communities' or "
                                               "[[snmp.scope.v3]])", where=where))
    return SnmpScope(net, users, communities)


def _parse_v3(path: str | Path, where: Coded, entry: object) -> V3User:
    if not isinstance(entry, dict):
        raise CredentialsFileError(path, Coded("snmp_entry_not_table", "%(where)s: must be a table", where=where))
    unknown = sorted(set(entry) - _V3_KEYS)
    if unknown:
        raise CredentialsFileError(path, Coded("snmp_unknown_keys", "%(where)s: unknown key(s) %(keys)s", where=where,
                                               keys=", ".join(unknown)))
    username = entry.get("username")
    if not isinstance(username, str) or not username:
        raise CredentialsFileError(path, Coded("snmp_v3_username", "%(where)s: 'username' must be a non-empty string",
                                               where=where))
    for key in ("auth_key", "priv_key"):
        value = entry.get(key, "")
        # net-snmp refuses passphrases under 8 characters; say the length rule, never the value.
        if not isinstance(value, str) or (key == "auth_key" or value) and len(value) < 8:
            raise CredentialsFileError(path, Coded("snmp_v3_key_length", "%(where)s (username %(username)r): "
                                                   "'%(key)s' must be a string of at least 8 characters",
                                                   where=where, username=username, key=key))
    auth, priv = entry.get("auth_protocol", "SHA"), entry.get("priv_protocol", "AES")
    if auth not in _AUTH_PROTOCOLS:
        raise CredentialsFileError(path, Coded("snmp_v3_protocol", "%(where)s: '%(key)s' must be one of %(choices)s",
                                               where=where, key="auth_protocol", choices=", ".join(_AUTH_PROTOCOLS)))
    if priv not in _PRIV_PROTOCOLS:
        raise CredentialsFileError(path, Coded("snmp_v3_protocol", "%(where)s: '%(key)s' must be one of %(choices)s",
                                               where=where, key="priv_protocol", choices=", ".join(_PRIV_PROTOCOLS)))
    return V3User(username, entry["auth_key"], entry.get("priv_key", ""), auth, priv)
