"""Place every MAC (and its IP) on the switch port it is cabled to, from forwarding tables, LLDP and ARP.

A MAC is learned on every switch between it and the surveyor; only one of
those ports is the edge port it is cabled to.  Ports whose LLDP neighbour is
another collected switch (a device with a forwarding table) are uplinks; the
MAC's edge port is the one left.  This is NetDisco's rule (macsuck on non-uplink
ports), with LLDP as the uplink evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sitescout.probes.snmp.models import DeviceSnapshot, LldpNeighbor

__all__ = ["Attachment", "place_hosts", "uplink_ports"]


@dataclass(frozen=True)
class Attachment:
    """A MAC on a switch port: ``attached_to: {"device": switch, "port": port}`` in the survey document."""

    mac: str
    device: str  # the switch's management address
    port: str | None
    if_index: int | None
    vlan: int | None
    ips: tuple[str, ...] = ()
    lldp_confirmed: bool = False  # the port's LLDP neighbour is this MAC or IP


def _is_switch(snap: DeviceSnapshot) -> bool:
    return any(not e.is_self for e in snap.fdb)


def _neighbor_is(n: LldpNeighbor, snap: DeviceSnapshot) -> bool:
    if n.mgmt_address and n.mgmt_address == snap.ip:
        return True
    if n.sys_name and snap.system.sys_name and n.sys_name == snap.system.sys_name:
        return True
    macs = {i.mac for i in snap.interfaces.values() if i.mac}
    return n.chassis_id in macs


def uplink_ports(snapshots: Mapping[str, DeviceSnapshot]) -> dict[str, set[int]]:
    """Return, per switch, the ifIndexes whose LLDP neighbour is another collected switch."""
    switches = [s for s in snapshots.values() if _is_switch(s)]
    out: dict[str, set[int]] = {}
    for snap in switches:
        ports = out.setdefault(snap.ip, set())
        for n in snap.neighbors:
            if n.local_if_index is None:
                continue
            if any(other.ip != snap.ip and _neighbor_is(n, other) for other in switches):
                ports.add(n.local_if_index)
    return out


def place_hosts(snapshots: Mapping[str, DeviceSnapshot]) -> dict[str, Attachment]:
    """Return {mac: Attachment} for every MAC learned on an edge (non-uplink) port of a collected switch."""
    uplinks = uplink_ports(snapshots)
    ips_of: dict[str, set[str]] = {}
    for snap in snapshots.values():
        for entry in snap.arp:
            ips_of.setdefault(entry.mac, set()).add(entry.ip)
    candidates: dict[str, list[tuple[int, DeviceSnapshot, int | None, str | None, int | None]]] = {}
    for ip, snap in snapshots.items():
        if not _is_switch(snap):
            continue
        per_port: dict[int | None, int] = {}
        for e in snap.fdb:
            per_port[e.if_index] = per_port.get(e.if_index, 0) + 1
        for e in snap.fdb:
            if e.is_self or e.if_index is None or e.if_index in uplinks.get(ip, set()):
                continue
            candidates.setdefault(e.mac, []).append((per_port[e.if_index], snap, e.if_index, e.port_name, e.vlan))
    placed: dict[str, Attachment] = {}
    for mac, options in candidates.items():
        # Two edge ports for one MAC means an uplink without LLDP: the port with fewer MACs is the edge.
        _, snap, if_index, port, vlan = min(options, key=lambda o: o[0])
        ips = tuple(sorted(ips_of.get(mac, ())))
        confirmed = any(n.local_if_index == if_index and (n.chassis_id == mac or n.port_id == mac
                                                          or (n.mgmt_address in ips))
                        for n in snap.neighbors)
        placed[mac] = Attachment(mac, snap.ip, port, if_index, vlan, ips, confirmed)
    return placed
