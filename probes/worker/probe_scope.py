"""Where a ``/probe`` request may send the worker's camera credentials: only where the worker would itself.

``/probe`` takes any address (blackbox style), so it must not become a way to collect the worker's
camera passwords.  A request gets the credentials only when what it asks for is exactly one of a
configured camera's own endpoints — its ONVIF device service, or one of its stream URIs — compared
by scheme, host, port (the scheme's default made explicit), path and query; and only when that
endpoint's host is the camera's own address.  Any other port or path of a configured address, any
target of kind ``host``, and anything not configured is probed without credentials (issue #11).
SNMP credentials likewise go only to a target configured with ``snmp``, at its own address and
agent port (:meth:`CredentialScope.snmp_device`).

:class:`CredentialScope` indexes the configured endpoints once per targets config, so a request
costs a dictionary look-up, not a walk over 10,000 targets.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sitescout.probes.worker.records import StreamTarget, Target
from sitescout.probes.worker.targets import TargetsConfig

__all__ = ["CredentialScope", "endpoint_key"]

#: Ports a URL means when it names none.
_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}

EndpointKey = tuple[str, str, int, str, str]


def _host(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower().rstrip(".")


def endpoint_key(url: str) -> EndpointKey | None:
    """Return (scheme, host, port, path, query) of `url` with defaults made explicit; None when it has no host.

    Userinfo and the fragment are not part of the key (neither chooses where bytes go).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, _host(parts.hostname), port or _DEFAULT_PORTS[scheme], parts.path or "/", parts.query


class CredentialScope:
    """The configured cameras' own endpoints, indexed; rebuilt when the targets config changes."""

    def __init__(self) -> None:
        self._config: TargetsConfig | None = None
        self._onvif: dict[EndpointKey, Target] = {}
        self._streams: dict[EndpointKey, tuple[Target, StreamTarget]] = {}
        self._snmp: dict[tuple[str, int], Target] = {}

    def _index(self, config: TargetsConfig | None) -> None:
        if config is self._config:
            return
        onvif: dict[EndpointKey, Target] = {}
        streams: dict[EndpointKey, tuple[Target, StreamTarget]] = {}
        snmp: dict[tuple[str, int], Target] = {}
        for target in config.targets if config is not None else ():
            if target.snmp is not None:  # SNMP credentials: a configured SNMP target's own address and port
                snmp.setdefault((_host(target.ip), target.snmp.port), target)
            if target.kind != "camera":
                continue  # a `host` target never gets camera credentials
            own = _host(target.ip)
            if target.onvif and (key := endpoint_key(target.onvif)) is not None and key[1] == own:
                onvif.setdefault(key, target)
            for stream in target.streams:
                if (key := endpoint_key(stream.uri)) is not None and key[1] == own:
                    streams.setdefault(key, (target, stream))
        self._config, self._onvif, self._streams, self._snmp = config, onvif, streams, snmp

    def onvif_camera(self, config: TargetsConfig | None, url: str) -> Target | None:
        """Return the configured camera whose ONVIF endpoint is exactly `url`, else None."""
        self._index(config)
        key = endpoint_key(url)
        return self._onvif.get(key) if key is not None else None

    def stream_camera(self, config: TargetsConfig | None, uri: str) -> Target | None:
        """Return the configured camera one of whose stream URIs is exactly `uri`, else None."""
        self._index(config)
        key = endpoint_key(uri)
        found = self._streams.get(key) if key is not None else None
        return found[0] if found is not None else None

    def snmp_device(self, config: TargetsConfig | None, ip: str, port: int) -> Target | None:
        """Return the configured SNMP target at exactly `ip` and `port`, else None (no SNMP credentials)."""
        self._index(config)
        return self._snmp.get((_host(ip), port))
