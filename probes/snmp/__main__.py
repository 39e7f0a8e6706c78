"""Collect from SNMP agents and print JSON: ``python -m sitescout.probes.snmp < request.json``.

The request comes on stdin so that no community or key ever appears in a
process listing::

    {"devices": ["198.51.100.3"],
     "credentials": {"communities": ["…"], "v3": [{"username": "…", "auth_key": "…", "priv_key": "…",
                                                    "auth_protocol": "SHA", "priv_protocol": "AES"}],
                     "max_attempts": 3,
                     "scope": [{"network": "198.51.100.0/24", "communities": ["…"], "v3": […]}]},
     "settings": {"budget_s": 10, "timeout_s": 1, "max_rows": 20000}}

The answer is ``{"devices": {ip: snapshot}, "attachments": {mac: attachment}}``
(dataclasses as JSON).  Used by the lab tests and the benchmark; the survey
integration calls :func:`collect_devices` directly.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import sys
import time
from typing import Any

from sitescout.probes.snmp.client import SnmpCredentials, SnmpScope, V2cCommunity, V3User
from sitescout.probes.snmp.collect import CollectSettings, collect_devices
from sitescout.probes.snmp.place import place_hosts

__all__ = ["credentials_from_dict", "main"]


def _users_and_communities(data: dict[str, Any]) -> tuple[tuple[V3User, ...], tuple[V2cCommunity, ...]]:
    users = tuple(V3User(u["username"], u["auth_key"], u.get("priv_key", ""), u.get("auth_protocol", "SHA"),
                         u.get("priv_protocol", "AES")) for u in data.get("v3", []))
    return users, tuple(V2cCommunity(c) for c in data.get("communities", []))


def credentials_from_dict(data: dict[str, Any]) -> SnmpCredentials:
    """Build SnmpCredentials from the request's (or the credentials file's) ``snmp`` table, ``scope`` included.

    No validation here (the request comes from our own code); the file goes through
    ``probes.credentials.load_snmp_credentials``, which checks every key.
    """
    scopes = tuple(SnmpScope(ipaddress.ip_network(s["network"]), *_users_and_communities(s))
                   for s in data.get("scope", []))
    return SnmpCredentials(*_users_and_communities(data), int(data.get("max_attempts", 3)), scopes)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def main() -> int:
    """Read the request from stdin, collect, print the JSON answer."""
    request = json.load(sys.stdin)
    settings = CollectSettings(**request.get("settings", {}))
    started = time.monotonic()
    snaps = collect_devices(request["devices"], credentials_from_dict(request.get("credentials", {})), settings)
    answer = {"devices": _plain(snaps), "attachments": _plain(place_hosts(snaps)),
              "duration_s": time.monotonic() - started}
    sys.stdout.write(json.dumps(answer))  # one string: json.dump writes chunk by chunk, several times slower
    return 0


if __name__ == "__main__":
    sys.exit(main())
