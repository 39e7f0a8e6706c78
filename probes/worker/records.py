"""The worker's records of what to watch: a device (:class:`Target`), its streams, its site; shards.

Pure data and pure functions: the targets file (:mod:`sitescout.probes.worker.targets`), the
inventory link and every probe kind (:mod:`sitescout.probes.worker.kinds`) build or read them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sitescout.inventory.shards import parse_shard as parse_inventory_shard
from sitescout.inventory.shards import shard_of
from sitescout.probes.errors import TargetsError  # defined with the package's other errors; kept importable here

__all__ = ["SiteInfo", "SnmpTarget", "StreamTarget", "Target", "TargetsError", "in_shard", "parse_shard",
           "stable_fraction"]


@dataclass(frozen=True)
class StreamTarget:
    """One stream of a camera, with what its profile promises."""

    uri: str
    profile: str
    expected_fps: float | None = None
    expected_width: int | None = None
    expected_height: int | None = None


@dataclass(frozen=True)
class SnmpTarget:
    """How a switch or router is read over SNMP: its agent's port, the ports that are its uplinks, and the
    ports where cameras are cabled (``sitescout_interface_camera``, the camera port alert)."""

    port: int = 161
    uplinks: tuple[str, ...] = ()
    camera_ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """One device to watch; (site, device) is its identity and its Prometheus labels."""

    site: str
    device: str
    ip: str
    kind: str = "camera"
    onvif: str | None = None
    tcp_port: int | None = None
    streams: tuple[StreamTarget, ...] = ()
    line: int = field(default=0, compare=False)
    #: Read over SNMP (the ``snmp`` kind) when set; the worker's SNMP credentials go to this address only.
    snmp: SnmpTarget | None = None
    #: The identity (site, device); set once, read on every scrape.
    key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.site, self.device))


@dataclass(frozen=True)
class SiteInfo:
    """Where a site is (for the Grafana Geomap: ``sitescout_site_info``)."""

    name: str
    latitude: float
    longitude: float


# ---------------------------------------------------------------------------
# Shards and phases: stable over restarts, file order and other targets.


def stable_fraction(*parts: str) -> float:
    """Return a number in [0, 1) fixed by `parts` (sha256; the same on every host and run)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def parse_shard(text: str) -> tuple[int, int]:
    """Parse the worker's ``--shard K/N`` (1 <= K <= N): the rule ``/sd/prometheus?shard=`` uses too.

    Raises:
        ShardError: a ValueError whose message is coded and names ``--shard`` (``inventory.shards``).
    """
    return parse_inventory_shard(text, name="--shard")


def in_shard(target: Target, shard: tuple[int, int]) -> bool:
    """Say whether `target` belongs to shard K of N (a hash of site and device, not file position)."""
    k, n = shard
    return shard_of((target.site, target.device), n) == k  # the rule /sd/prometheus?shard=K/N uses too
