"""What a survey's SNMP stage proposes to the inventory's interfaces and cables, and applying it (issue #15).

Read afresh from the newest survey of a site, like every finding (``inventory.workflow``), and
only for devices the survey matched to the inventory (its ``survey`` observations):

- ``interfaces_found``: a switch or router read over SNMP has ports the inventory lacks, or whose
  ifIndex, description, speed, MAC or PoE differ; applying creates and updates them (never deletes);
- ``port_uplink``: a port the survey found to be an uplink (its LLDP neighbour is another switch,
  or its name says so) is not marked as one; applying marks it;
- ``cabled_to``: a device the survey placed on a switch port (``attached_to``) has no cable there;
  applying cables the device's interface (its own, or a new ``eth0``) to the port.  When the
  inventory says otherwise it says so: ``port_taken`` (the port's cable goes to another device) and
  ``cable_moved`` (the device's cable goes to another switch port); applying replaces that cable;
- ``interfaces_gone`` (``interfaces_gone_cabled`` when some have cables): the inventory has interfaces on a
  switch or router whose survey listed all its interfaces (``snmp.interfaces_complete``: no error, no row cap)
  and not these; applying deletes them and their cables (each logged), dismissing keeps them.  A survey whose
  interface read was partial, failed or capped never proposes it (documents without the flag neither);
- ``lldp_link``: two devices read over SNMP see each other over LLDP (a switch's uplink to the next
  switch or the router) and the inventory has no cable between those ports; applying cables them
  (``port_taken`` when one of the ports has a cable elsewhere).  A link the host's own placement
  (``attached_to``) already proposes is not proposed twice.

Nothing here writes until a person applies a proposal; each row created, changed or deleted is in
the change log (``inventory.changes.record_change``).  Survey fields are read leniently: a port
whose name is empty, longer than an interface name holds, or holds a comma or a control character
(``model_network.port_name_problem``: the worker's labels are comma-separated) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.changes import record_change, snapshot
from sitescout.inventory.choices import SNMP_KINDS, CableStatus, InterfaceKind, Status
from sitescout.inventory.errors import Coded
from sitescout.inventory.lenient import as_dict, as_list, as_num, as_str, texts
from sitescout.inventory.model_network import MAX_SPEED_BPS, Cable, Interface, port_name_problem
from sitescout.inventory.models import Device, Observation, Survey, ValidationError, normalize_mac
from sitescout.inventory.network import cable_of, delete_interface, far_end

__all__ = ["NetworkProposal", "network_proposals", "apply_network_proposal", "NETWORK_CODES"]

#: The finding codes this module proposes (their sentences are in inventory/findings.py).
NETWORK_CODES = ("interfaces_found", "port_uplink", "cabled_to", "port_taken", "cable_moved", "lldp_link",
                 "interfaces_gone", "interfaces_gone_cabled")
#: Ports read per device at most (the survey keeps up to 512).
_MAX_PORTS = 512
_NAME_MAX = 64
_VIRTUAL_PREFIXES = ("lo", "vlan", "br", "null", "tunnel", "cpu", "inloopback")
#: The facts a survey gives about a port, compared with the inventory's interface.
_FACTS = ("if_index", "description", "speed_bps", "mac", "poe")

_DEVICE_GONE = Coded("finding_device_gone", "the device of this finding no longer exists")
_SWITCH_GONE = Coded("finding_switch_gone", "the switch of this finding no longer exists")


@dataclass(frozen=True)
class NetworkProposal:
    """One proposal: a code and its sentence's parameters, who it is about, and what applying does (``spec``)."""

    key: tuple[Any, ...]
    code: str
    severity: str
    host: str
    params: dict[str, Any]
    device_id: int
    spec: dict[str, Any] = field(default_factory=dict)


def _port_kind(name: str) -> str:
    return InterfaceKind.VIRTUAL.value if name.lower().startswith(_VIRTUAL_PREFIXES) else InterfaceKind.ETHERNET.value


def _int_in(value: Any, low: int, high: int) -> int | None:
    number = as_num(value)
    if number is None or number != int(number) or not low <= number <= high:
        return None
    return int(number)


def _mac(value: Any) -> str | None:
    try:
        return normalize_mac(as_str(value) or None)
    except ValidationError:
        return None


def surveyed_ports(snmp: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the ports of an SNMP agent's survey record as interface facts (name, ifIndex, …, uplink, enabled)."""
    uplinks = set(texts(snmp.get("uplinks")))
    ports: dict[str, dict[str, Any]] = {}
    for raw in map(as_dict, as_list(snmp.get("interfaces"))[:_MAX_PORTS]):
        name = as_str(raw.get("name")).strip()
        if not name or len(name) > _NAME_MAX or port_name_problem(name) is not None or name in ports:
            continue
        ports[name] = {
            "name": name, "if_index": _int_in(raw.get("if_index"), 1, 2**31 - 1),
            "description": as_str(raw.get("alias")).strip()[:200], "speed_bps": _int_in(raw.get("speed_bps"), 0,
                                                                                         MAX_SPEED_BPS),
            "mac": _mac(raw.get("mac")), "poe": bool(as_dict(raw.get("poe"))),
            "uplink": bool(raw.get("uplink") is True or name in uplinks), "enabled": raw.get("admin_up") is not False,
        }
    return list(ports.values())


def _differs(interface: Interface, facts: dict[str, Any]) -> bool:
    """Return whether the survey's facts (those it has) differ from the inventory's interface."""
    for key in _FACTS:
        value = facts.get(key)
        if key in ("if_index", "speed_bps", "mac") and value is None:
            continue  # the survey did not read it: nothing to say
        if key == "description" and not value:
            continue
        if getattr(interface, key) != value:
            return True
    return False


def _matched(session: Session, survey: Survey, devices: dict[int, Device]) -> dict[str, Device]:
    """Return address → inventory device for every host this survey matched (retired devices left out)."""
    found: dict[str, Device] = {}
    stmt = select(Observation.device_id, Observation.values).where(Observation.survey_id == survey.id,
                                                                   Observation.kind == "survey")
    for device_id, values in session.execute(stmt):
        device = devices.get(device_id)
        values = as_dict(values)
        if device is not None and values.get("found") and device.status != Status.RETIRED.value:
            found[as_str(values.get("ip"))] = device
    return found


def network_proposals(session: Session, survey: Survey, devices: dict[int, Device]) -> list[NetworkProposal]:
    """Return what the survey's SNMP records propose for the inventory's interfaces and cables (interfaces first)."""
    hosts = [as_dict(h) for h in as_list((survey.document or {}).get("hosts"))]
    if not any(h.get("snmp") or h.get("attached_to") for h in hosts):
        return []
    matched = _matched(session, survey, devices)
    ports_of: dict[str, list[dict[str, Any]]] = {}
    interfaces: list[NetworkProposal] = []
    uplinks: list[NetworkProposal] = []
    for host in hosts:
        ip, snmp = as_str(host.get("ip")), as_dict(host.get("snmp"))
        switch = matched.get(ip)
        ports = surveyed_ports(snmp) if snmp else []
        if switch is None or not ports:
            continue
        ports_of[ip] = ports
        have = {i.name: i for i in switch.interfaces}
        new = [p for p in ports if p["name"] not in have]
        changed = [p for p in ports if p["name"] in have and _differs(have[p["name"]], p)]
        if new or changed:
            digest = sorted((p["name"], *(p[k] for k in _FACTS)) for p in new + changed)
            interfaces.append(NetworkProposal(
                ("interfaces", switch.id, digest), "interfaces_found", "info", ip,
                {"switch": switch.name, "count": len(ports), "new": len(new), "changed": len(changed)}, switch.id,
                {"op": "interfaces", "switch_id": switch.id, "ports": new + changed}))
        if snmp.get("interfaces_complete") is True:
            gone = _gone_proposal(session, ip, switch, snmp)
            if gone is not None:
                interfaces.append(gone)
        neighbours = {as_str(n.get("port")): as_str(n.get("sys_name"))
                      for n in map(as_dict, as_list(snmp.get("neighbors")))}
        for port in ports:
            if port["uplink"] and not (port["name"] in have and have[port["name"]].uplink):
                uplinks.append(NetworkProposal(
                    ("uplink", switch.id, port["name"]), "port_uplink", "info", ip,
                    {"switch": switch.name, "port": port["name"], "neighbor": neighbours.get(port["name"]) or "-"},
                    switch.id, {"op": "uplink", "switch_id": switch.id, "port": port}))
    cables = [p for host in hosts if (p := _cable_proposal(session, host, matched, ports_of)) is not None]
    return interfaces + uplinks + cables + _lldp_proposals(session, hosts, matched, ports_of, cables)


#: How many port names and cables a removal's sentence lists (the rest is counted in ``count``).
_GONE_NAMED = 20


def _gone_proposal(session: Session, ip: str, switch: Device, snmp: dict[str, Any]) -> NetworkProposal | None:
    """The inventory's interfaces of `switch` that a complete survey of it does not list, to remove (with cables)."""
    listed = {as_str(as_dict(raw).get("name")).strip() for raw in as_list(snmp.get("interfaces"))}
    gone = sorted((i for i in switch.interfaces if i.name not in listed), key=lambda i: (i.name, i.id))
    if not gone:
        return None
    cables = []
    for port in gone:
        cable = cable_of(session, port.id)
        if cable is not None:
            peer = far_end(cable, port.id)
            cables.append(f"{port.name} ↔ {peer.device.name} {peer.name}")
    params = {"switch": switch.name, "count": len(gone), "ports": ", ".join(i.name for i in gone[:_GONE_NAMED]),
              "cables": "; ".join(cables[:_GONE_NAMED]), "cabled": len(cables)}
    return NetworkProposal(
        ("gone", switch.id, [(i.id, i.name) for i in gone]), "interfaces_gone_cabled" if cables else "interfaces_gone",
        "warning", ip, params, switch.id,
        {"op": "remove_interfaces", "switch_id": switch.id, "ports": [{"id": i.id, "name": i.name} for i in gone]})


def _remote_port(neighbour: dict[str, Any], ports: list[dict[str, Any]]) -> str | None:
    """The neighbour's port name among its surveyed ports: LLDP's port id, its description, or the port's MAC."""
    names = {p["name"] for p in ports}
    for key in ("port_id", "port_desc"):
        if as_str(neighbour.get(key)) in names:
            return as_str(neighbour.get(key))
    mac = _mac(neighbour.get("port_id"))
    return next((p["name"] for p in ports if mac and p["mac"] == mac), None)


def _lldp_proposals(session: Session, hosts: list[dict[str, Any]], matched: dict[str, Device],
                    ports_of: dict[str, list[dict[str, Any]]], cables: list[NetworkProposal]) -> list[NetworkProposal]:
    """Cables between two devices read over SNMP that see each other over LLDP (switch to switch, router)."""
    placed = {(p.spec["device_id"], p.spec["switch_id"], p.spec["port"]["name"]) for p in cables}
    found: dict[tuple[Any, ...], NetworkProposal] = {}
    for host in hosts:
        ip = as_str(host.get("ip"))
        local = matched.get(ip)
        if local is None or ip not in ports_of:
            continue
        for neighbour in map(as_dict, as_list(as_dict(host.get("snmp")).get("neighbors"))):
            remote_ip = as_str(neighbour.get("mgmt_address"))
            remote, port = matched.get(remote_ip), as_str(neighbour.get("port"))
            if remote is None or remote.id == local.id or remote_ip not in ports_of:
                continue
            facts = next((p for p in ports_of[ip] if p["name"] == port), None)
            far_name = _remote_port(neighbour, ports_of[remote_ip])
            if facts is None or far_name is None:
                continue
            far = next(p for p in ports_of[remote_ip] if p["name"] == far_name)
            if (remote.id, local.id, port) in placed or (local.id, remote.id, far_name) in placed:
                continue  # the host's own placement proposes this cable already
            key = ("lldp", *sorted([(local.id, port), (remote.id, far_name)]))
            if key not in found:
                proposal = _link_proposal(session, key, ip, (local, facts), (remote, far))
                if proposal is not None:
                    found[key] = proposal
    return list(found.values())


def _link_proposal(session: Session, key: tuple[Any, ...], ip: str, near: tuple[Device, dict[str, Any]],
                   far: tuple[Device, dict[str, Any]]) -> NetworkProposal | None:
    (local, facts), (remote, other) = near, far
    ends = [(local, facts, remote), (remote, other, local)]
    params = {"switch": local.name, "port": facts["name"], "device": remote.name, "device_port": other["name"]}
    code, severity = "lldp_link", "info"
    for device, port_facts, opposite in ends:
        port = next((i for i in device.interfaces if i.name == port_facts["name"]), None)
        cable = cable_of(session, port.id) if port is not None else None
        if cable is None or port is None:
            continue
        peer = far_end(cable, port.id)
        if peer.device_id == opposite.id:
            return None  # the inventory says so already
        code, severity = "port_taken", "warning"
        params = {"device": opposite.name, "switch": device.name, "port": port_facts["name"],
                  "other": peer.device.name}
        break
    return NetworkProposal(key, code, severity, ip, params, local.id,
                           {"op": "link", "switch_id": local.id, "port": facts, "device_id": remote.id,
                            "device_port": other})


def _cable_proposal(session: Session, host: dict[str, Any], matched: dict[str, Device],
                    ports_of: dict[str, list[dict[str, Any]]]) -> NetworkProposal | None:
    attached = as_dict(host.get("attached_to"))
    ip, switch_ip = as_str(host.get("ip")), as_str(attached.get("device"))
    port_name = as_str(attached.get("port")).strip()
    device, switch = matched.get(ip), matched.get(switch_ip)
    if device is None or switch is None or device.id == switch.id or not port_name or len(port_name) > _NAME_MAX \
            or port_name_problem(port_name) is not None:
        return None
    facts = next((p for p in ports_of.get(switch_ip, []) if p["name"] == port_name),
                 {"name": port_name, "kind": _port_kind(port_name)})
    params = {"device": device.name, "switch": switch.name, "port": port_name}
    code, severity = "cabled_to", "info"
    port = next((i for i in switch.interfaces if i.name == port_name), None)
    cable = cable_of(session, port.id) if port is not None else None
    if cable is not None and port is not None:
        other = far_end(cable, port.id)
        if other.device_id == device.id:
            return None  # the inventory says so already
        code, severity = "port_taken", "warning"
        params["other"] = other.device.name
    else:
        for own in device.interfaces:
            old = cable_of(session, own.id)
            peer = far_end(old, own.id) if old is not None else None
            if peer is not None and peer.device.kind in SNMP_KINDS:
                code, severity = "cable_moved", "warning"
                params |= {"old_switch": peer.device.name, "old_port": peer.name}
                break
    return NetworkProposal(("cable", device.id, switch.id, port_name), code, severity, ip, params, device.id,
                           {"op": "cable", "device_id": device.id, "switch_id": switch.id, "port": facts,
                            "mac": _mac(host.get("mac"))})


# ---------------------------------------------------------------------------
# Applying.


def apply_network_proposal(session: Session, spec: dict[str, Any], actor: str) -> None:
    """Do what a proposal's ``spec`` says (in the caller's transaction), logging every row it writes.

    Raises:
        ValidationError: the switch or device is gone, or a surveyed value breaks an interface rule.
    """
    switch = session.get(Device, spec.get("switch_id"))
    if switch is None:
        raise ValidationError("finding", _SWITCH_GONE)
    if spec["op"] == "interfaces":
        for facts in spec["ports"]:
            _upsert_port(session, actor, switch, facts)
    elif spec["op"] == "uplink":
        port = _upsert_port(session, actor, switch, spec["port"], only_missing=True)
        before = snapshot(port)
        port.uplink = True
        session.flush()
        record_change(session, actor, port, "update", before)
    elif spec["op"] == "cable":
        device = session.get(Device, spec.get("device_id"))
        if device is None:
            raise ValidationError("finding", _DEVICE_GONE)
        port = _upsert_port(session, actor, switch, spec["port"], only_missing=True)
        _cable(session, actor, device, port, spec.get("mac"))
    elif spec["op"] == "remove_interfaces":
        for gone in spec["ports"]:
            old = session.get(Interface, gone.get("id"))
            if old is not None and old.device_id == switch.id and old.name == gone.get("name"):
                delete_interface(session, actor, old, if_version=None)  # its cable first; both logged
    elif spec["op"] == "link":
        remote = session.get(Device, spec.get("device_id"))
        if remote is None:
            raise ValidationError("finding", _DEVICE_GONE)
        near = _upsert_port(session, actor, switch, spec["port"], only_missing=True)
        _join(session, actor, near, _upsert_port(session, actor, remote, spec["device_port"], only_missing=True))


def _upsert_port(session: Session, actor: str, device: Device, facts: dict[str, Any], *,
                 only_missing: bool = False) -> Interface:
    """Return the device's interface of that name, created from the facts, or (unless only_missing) updated."""
    port = next((i for i in device.interfaces if i.name == facts["name"]), None)
    if port is None:
        port = Interface(device_id=device.id, name=facts["name"], kind=_port_kind(facts["name"]),
                         if_index=facts.get("if_index"), description=facts.get("description") or "",
                         speed_bps=facts.get("speed_bps"), mac=facts.get("mac"), poe=bool(facts.get("poe")),
                         enabled=facts.get("enabled", True) is not False)
        device.interfaces.append(port)
        session.flush()
        record_change(session, actor, port, "create")
        return port
    if only_missing or not _differs(port, facts):
        return port
    before = snapshot(port)
    for key in _FACTS:
        value = facts.get(key)
        if value is not None and (key != "description" or value):
            setattr(port, key, value)
    session.flush()
    record_change(session, actor, port, "update", before)
    return port


def _own_port(session: Session, actor: str, device: Device, mac: str | None) -> Interface:
    """Return the device's interface a cable plugs into: the one with the MAC the survey saw (else the device's
    MAC), its only one, eth0; else a new eth0."""
    ports = list(device.interfaces)
    wired = [p for p in ports if p.kind != InterfaceKind.VIRTUAL.value]
    macs = [m for m in (mac, device.mac) if m]
    found = (next((p for m in macs for p in ports if p.mac == m), None)
             or (wired[0] if len(wired) == 1 else None) or next((p for p in ports if p.name == "eth0"), None))
    if found is not None:
        return found
    port = Interface(device_id=device.id, name="eth0", kind=InterfaceKind.ETHERNET.value, mac=device.mac)
    device.interfaces.append(port)
    session.flush()
    record_change(session, actor, port, "create")
    return port


def _unplug(session: Session, actor: str, cable: Cable | None) -> None:
    if cable is not None:
        record_change(session, actor, cable, "delete", snapshot(cable))
        session.delete(cable)
        session.flush()


def _cable(session: Session, actor: str, device: Device, port: Interface, mac: str | None) -> None:
    """Cable the device to the switch port, replacing the cable either end had (each change logged)."""
    _join(session, actor, port, _own_port(session, actor, device, mac))


def _join(session: Session, actor: str, port: Interface, own: Interface) -> None:
    """Cable two interfaces, replacing the cable either had (each change logged)."""
    current = cable_of(session, port.id)
    if current is not None and far_end(current, port.id).id == own.id:
        return  # already so
    _unplug(session, actor, current)
    _unplug(session, actor, cable_of(session, own.id))
    cable = Cable(a_interface_id=port.id, b_interface_id=own.id, status=CableStatus.CONNECTED.value)
    session.add(cable)
    session.flush()
    record_change(session, actor, cable, "create")
