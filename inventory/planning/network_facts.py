"""A site's network as the planner needs it: switches, free ports, PoE budget and uplink, from its latest survey.

`site_network(session, site_id)` reads the newest ingested survey of the site whose hosts carry
SNMP data (the ``snmp`` and ``attached_to`` fields, docs/survey.md "SNMP") and returns a
`SiteNetwork`: every switch with its PoE budget and consumption, its free PoE-capable ports
and free ports, its uplink port with speed and utilisation, and when the survey was made
(facts have an age).  It is the one place that knows where the facts come from: when the
inventory keeps interfaces and cables of its own, only this function changes.

A plan input carries the facts as ``"network"`` (`SiteNetwork.to_dict`); `network_limits`
turns them into the planner's limits and proposes a switch port for each chosen camera, and
`network_freshness` notices when a plan's facts are older than the site's.

Rules (the survey has no positions for switches, so "nearest along the cable route" is the
switch the plan's cable lengths are measured from):

- a switch is an SNMP agent with PoE, a forwarding table, or hosts placed on its ports;
- a free port is a physical port, administratively up, with no link, no host placed on it,
  no LLDP neighbour, not an uplink; a free PoE port is a free port with PoE enabled;
- the uplink is the port toward the router (LLDP neighbour or placed host that is a
  non-switch agent with two ports or more, through other switches if need be), else the
  survey's only uplink;
- utilisation needs two counter reads of the uplink: the survey's SNMP stage writes the busier
  direction's ``utilisation_pct`` from its two reads; a document may instead carry the reads
  (``counters``: ``[{at, in_octets, out_octets}, …]``); with one read or none it is unknown, and
  the plan says so;
- a port the inventory says is taken since (a cable recorded on it, or the port disabled: the
  interfaces and cables of the switch device with the surveyed switch's address) is not free;
- cameras already planned at the site (planned devices, power from the catalogue, else
  802.3af's 12.95 W) hold budget and ports, except those of the plans a workbench plan would
  replace (`plan_device_ids`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import SNMP_KINDS, DeviceKind, Status
from sitescout.inventory.lenient import as_dict, as_list, as_str, texts
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.model_survey import Survey
from sitescout.inventory.models import Device, Plan

from .catalogue import CameraModelRow
from .feasibility import POE_CLASS_W

__all__ = ["NETWORK_KEY", "SiteSwitch", "SiteNetwork", "network_from_document", "site_network",
           "with_site_network", "plan_device_ids", "planned_cameras", "inventory_taken_ports"]

#: The plan input's key for the facts.
NETWORK_KEY = "network"
#: Power of an already-planned camera whose model the catalogue does not know (802.3af at the device).
UNKNOWN_CAMERA_W = POE_CLASS_W["802.3af"]
#: How many recent surveys are looked at for one with SNMP data.
_SURVEYS_LOOKED_AT = 20
_VIRTUAL = re.compile(r"^(lo|loopback|null|vlan|br[-_\d]|bridge|bond|tun|tap|dummy|cpu|sit|gre|ovs|docker|virbr)",
                      re.IGNORECASE)


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key: p2 before p10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@dataclass(frozen=True)
class SiteSwitch:
    """One surveyed switch: PoE, free ports and uplink (None: the survey did not say)."""

    name: str
    ip: str
    poe_budget_w: float | None = None
    poe_used_w: float | None = None
    free_poe_ports: tuple[str, ...] = ()
    free_ports: tuple[str, ...] = ()  # every free port, PoE or not
    uplink_port: str | None = None
    uplink_speed_bps: int | None = None
    uplink_utilisation: float | None = None  # 0..1, from two counter reads
    uplink_found_by: str | None = None  # "toward_router" | "survey"
    utilisation_note: str = "no_counters"  # "measured" | "one_read" | "no_counters"

    def to_dict(self) -> dict[str, Any]:
        """Return the switch as plain JSON values."""
        return {**dataclasses.asdict(self), "free_poe_ports": list(self.free_poe_ports),
                "free_ports": list(self.free_ports)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SiteSwitch:
        """Return a switch from `to_dict`'s shape (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        for key in ("poe_budget_w", "poe_used_w", "uplink_speed_bps", "uplink_utilisation"):
            if values.get(key) is not None and _num(values[key]) is None:
                raise ValueError(f"switch {values.get('name')!r}: {key} must be a number, got {values[key]!r}")
        if not isinstance(values.get("name"), str) or not values["name"]:
            raise ValueError("every switch needs a name")
        for key in ("free_poe_ports", "free_ports"):
            if not isinstance(values.get(key) or [], list | tuple):
                raise ValueError(f"switch {values['name']!r}: {key} must be a list of port names")
        values["free_poe_ports"] = tuple(str(p) for p in values.get("free_poe_ports") or ())
        values["free_ports"] = tuple(str(p) for p in values.get("free_ports") or ())
        return cls(**values)


@dataclass(frozen=True)
class SiteNetwork:
    """What the latest survey with SNMP data says about the site's switches, and what is already planned."""

    surveyed_at: str  # ISO 8601, UTC
    switches: tuple[SiteSwitch, ...]
    survey_id: int | None = None
    planned_cameras: int = 0
    planned_poe_w: float = 0.0
    #: Ports free in the survey that the inventory says are taken since ("sw1 p3": cabled or disabled).
    inventory_taken: tuple[str, ...] = ()

    def age_days(self, now: datetime | None = None) -> float | None:
        """Return how old the facts are, in days (None when the survey time cannot be read)."""
        try:
            at = datetime.fromisoformat(self.surveyed_at)
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return round(((now or datetime.now(timezone.utc)) - at).total_seconds() / 86400.0, 1)

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as plain JSON values (the plan input's ``network``)."""
        return {"source": "survey", "survey_id": self.survey_id, "surveyed_at": self.surveyed_at,
                "planned_cameras": self.planned_cameras, "planned_poe_w": round(self.planned_poe_w, 2),
                "inventory_taken": list(self.inventory_taken), "switches": [s.to_dict() for s in self.switches]}

    @classmethod
    def from_dict(cls, d: Any) -> SiteNetwork | None:
        """Return the facts of a plan input's ``network`` (None when it holds no switch)."""
        if not isinstance(d, dict) or not isinstance(d.get("switches"), list) or not d["switches"]:
            return None
        switches = tuple(SiteSwitch.from_dict(s) for s in d["switches"] if isinstance(s, dict))
        return cls(str(d.get("surveyed_at") or ""), switches, d.get("survey_id"),
                   int(d.get("planned_cameras") or 0), float(d.get("planned_poe_w") or 0.0),
                   tuple(str(p) for p in as_list(d.get("inventory_taken"))))


# ---------------------------------------------------------------------------
# Reading a survey document.


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _time(value: Any) -> float | None:
    """Return a counter read's time in seconds: epoch seconds or ISO 8601."""
    number = _num(value)
    if number is not None:
        return number
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
    return None


def _utilisation(iface: dict[str, Any]) -> tuple[float | None, str]:
    """Return the busier direction's share of the port's speed: as the survey's SNMP stage measured it
    between its two reads (``utilisation_pct``), else from the first and last of ``counters`` reads."""
    measured = _num(iface.get("utilisation_pct"))
    if measured is not None and measured >= 0:
        return min(measured / 100.0, 1.0), "measured"
    raw = [r for r in iface.get("counters") or [] if isinstance(r, dict)]
    reads = [(t, _num(r.get("in_octets")), _num(r.get("out_octets"))) for r in raw
             if (t := _time(r.get("at"))) is not None]
    speed = _num(iface.get("speed_bps"))
    if len(reads) < 2:
        return None, "one_read" if reads else "no_counters"
    reads.sort(key=lambda r: r[0])
    (t0, in0, out0), (t1, in1, out1) = reads[0], reads[-1]
    rates = [(b - a) * 8.0 / (t1 - t0) for a, b in ((in0, in1), (out0, out1))
             if a is not None and b is not None and b >= a]  # a counter that went back wrapped or reset
    if t1 <= t0 or not rates or not speed:
        return None, "one_read"
    return min(max(rates) / speed, 1.0), "measured"


def _lenient(doc: Any) -> dict[str, Any]:
    """The parts of a survey document this module reads, in the types it reads them as.

    Ingestion checks only the fields it stores: a pushed document's ``snmp`` and ``attached_to``
    may hold a number where a list belongs, or an object where an address does; such a part is
    read as empty, never a failed plan (tests/test_security_network.py).
    """
    hosts = []
    for host in (h for h in as_list(as_dict(doc).get("hosts")) if isinstance(h, dict)):
        snmp, at = as_dict(host.get("snmp")), as_dict(host.get("attached_to"))
        neighbors = [{**n, "mgmt_address": as_str(n.get("mgmt_address")), "port": as_str(n.get("port")),
                      "sys_name": as_str(n.get("sys_name"))} for n in as_list(snmp.get("neighbors"))
                     if isinstance(n, dict)]
        ifaces = [i for i in as_list(snmp.get("interfaces")) if isinstance(i, dict)]
        hosts.append({**host, "ip": as_str(host.get("ip")),
                      "attached_to": {**at, "device": as_str(at.get("device")), "port": as_str(at.get("port"))},
                      "snmp": {**snmp, "interfaces": ifaces, "neighbors": neighbors,
                               "uplinks": texts(snmp.get("uplinks")),
                               "sys_name": as_str(snmp.get("sys_name"))} if snmp else None})
    return {**as_dict(doc), "hosts": hosts}


def _agents(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return {ip: host} of the hosts whose SNMP agent gave its interfaces."""
    out = {}
    for host in doc.get("hosts") or []:
        snmp = host.get("snmp") if isinstance(host, dict) else None
        if isinstance(snmp, dict) and isinstance(snmp.get("interfaces"), list) and snmp["interfaces"]:
            out[str(host.get("ip"))] = host
    return out


def _is_switch(ip: str, host: dict[str, Any], placed: dict[str, set[str]]) -> bool:
    snmp = host["snmp"]
    return bool(snmp.get("poe") or snmp.get("fdb_entries") or placed.get(ip)
                or any(isinstance(i, dict) and i.get("poe") for i in snmp["interfaces"]))


def _is_router(host: dict[str, Any]) -> bool:
    """Return whether a non-switch agent routes: two physical interfaces or more, and not a camera.

    A camera, a loudspeaker receiver or a PC that speaks SNMP and LLDP has one port; it is no way out.
    """
    names = [str(i.get("name") or "") for i in host["snmp"]["interfaces"] if isinstance(i, dict)]
    return host.get("kind") != "camera" and sum(1 for n in names if n and not _VIRTUAL.match(n)) >= 2


def _resolve(neighbor: dict[str, Any], agents: dict[str, dict[str, Any]]) -> str | None:
    """Return the ip of the agent an LLDP neighbour is (by management address, then sysName)."""
    addr = neighbor.get("mgmt_address")
    if addr in agents:
        return str(addr)
    name = str(neighbor.get("sys_name") or "").lower()
    for ip, host in agents.items():
        if name and str(host["snmp"].get("sys_name") or "").lower() == name:
            return ip
    return None


def _links(agents: dict[str, dict[str, Any]], switches: set[str]) -> dict[str, dict[str, str]]:
    """Return {switch ip: {port: agent ip}}: LLDP neighbours and agents placed on the switch's ports."""
    links: dict[str, dict[str, str]] = {ip: {} for ip in switches}
    for ip in switches:
        for n in agents[ip]["snmp"].get("neighbors") or []:
            other = _resolve(n, agents) if isinstance(n, dict) else None
            if other and other != ip and n.get("port"):
                links[ip].setdefault(str(n["port"]), other)
    for ip, host in agents.items():
        at = host.get("attached_to")
        if isinstance(at, dict) and at.get("device") in links and at.get("port"):
            links[str(at["device"])].setdefault(str(at["port"]), ip)
    return links


def _toward_router(links: dict[str, dict[str, str]], agents: dict[str, Any], switches: set[str]) -> dict[str, str]:
    """Return {switch ip: its port toward a router}: a breadth-first walk from the non-switch agents."""
    routers = {other for ports in links.values() for other in ports.values()
               if other not in switches and _is_router(agents[other])}
    level, seen, toward = routers, set(routers), {}
    while level:
        following = set()
        for sw in sorted(switches - seen):
            for port, other in sorted(links[sw].items(), key=lambda kv: _natural(kv[0])):
                if other in level:
                    toward[sw] = port
                    following.add(sw)
                    break
        seen |= following
        level = following
    return toward


def _switch(ip: str, host: dict[str, Any], placed: set[str], linked: dict[str, str],
            uplink: str | None, found_by: str | None) -> SiteSwitch:
    snmp = host["snmp"]
    ifaces = [i for i in snmp["interfaces"] if isinstance(i, dict) and i.get("name")]
    neighbours = {str(n.get("port")) for n in snmp.get("neighbors") or [] if isinstance(n, dict)}
    busy = placed | set(linked) | neighbours | {str(u) for u in snmp.get("uplinks") or []} | {uplink}
    free, free_poe = [], []
    for i in ifaces:
        name = str(i["name"])
        if _VIRTUAL.match(name) or i.get("uplink") or name in busy or i.get("admin_up") is not True \
                or i.get("oper_up") is not False:
            continue
        free.append(name)
        poe = i.get("poe")
        if isinstance(poe, dict) and poe.get("enabled") is not False and not poe.get("delivering"):
            free_poe.append(name)
    port = next((i for i in ifaces if str(i["name"]) == uplink), None)
    utilisation, note = _utilisation(port) if port is not None else (None, "no_counters")
    poe = snmp.get("poe") if isinstance(snmp.get("poe"), dict) else {}
    return SiteSwitch(str(snmp.get("sys_name") or ip), ip, _num(poe.get("budget_w")), _num(poe.get("used_w")),
                      tuple(sorted(free_poe, key=_natural)), tuple(sorted(free, key=_natural)), uplink,
                      int(port["speed_bps"]) if port is not None and _num(port.get("speed_bps")) else None,
                      utilisation, found_by if uplink else None, note)


def network_from_document(doc: dict[str, Any], *, surveyed_at: str = "", survey_id: int | None = None
                          ) -> SiteNetwork | None:
    """Return the switches a survey document describes (None when it holds no SNMP switch)."""
    doc = _lenient(doc)
    agents = _agents(doc)
    placed: dict[str, set[str]] = {}
    for host in doc.get("hosts") or []:
        at = host.get("attached_to") if isinstance(host, dict) else None
        if isinstance(at, dict) and at.get("device") and at.get("port"):
            placed.setdefault(str(at["device"]), set()).add(str(at["port"]))
    switches = {ip for ip, host in agents.items() if _is_switch(ip, host, placed)}
    if not switches:
        return None
    links = _links(agents, switches)
    toward = _toward_router(links, agents, switches)
    out = []
    for ip in sorted(switches, key=lambda a: (str(agents[a]["snmp"].get("sys_name") or a), a)):
        uplink: str | None = toward.get(ip)
        found_by: str | None = "toward_router"
        if uplink is None:
            named = [str(u) for u in agents[ip]["snmp"].get("uplinks") or []]
            uplink, found_by = (named[0], "survey") if len(named) == 1 else (None, None)
        out.append(_switch(ip, agents[ip], placed.get(ip, set()), links[ip], uplink, found_by))
    at = surveyed_at or str(doc.get("finished_at") or doc.get("started_at") or "")
    return SiteNetwork(at, tuple(out), survey_id)


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat(
        timespec="seconds")


def planned_cameras(session: Session, site_id: int, exclude: Collection[int] = ()) -> tuple[int, float]:
    """Return how many cameras are planned at the site (not in `exclude`) and the power they will draw (W)."""
    rows = session.execute(select(Device.id, Device.model).where(
        Device.site_id == site_id, Device.kind == DeviceKind.CAMERA.value,
        Device.status == Status.PLANNED.value)).all()
    rows = [r for r in rows if r.id not in exclude]
    if not rows:
        return 0, 0.0
    power = dict(session.execute(select(CameraModelRow.name, CameraModelRow.power_w)).all())
    return len(rows), round(sum(float(power.get(r.model or "", UNKNOWN_CAMERA_W)) for r in rows), 2)


def plan_device_ids(session: Session, site_id: int) -> set[int]:
    """Return the planned devices of every plan of the site: the cameras a workbench plan would replace.

    A plan is evaluated as the site's plan (#18): its own cameras, and those of the plan of record
    an alternative would replace, hold no budget or port; cameras planned outside any plan do.
    """
    return {int(d) for ids in session.scalars(select(Plan.device_ids).where(Plan.site_id == site_id))
            for d in ids or [] if isinstance(d, int)}


def inventory_taken_ports(session: Session, site_id: int) -> dict[str, set[str]]:
    """Return {switch address: port names} the inventory says are taken: a cable recorded on it, or disabled."""
    rows = session.execute(select(Interface.name, Interface.enabled, Device.ip, Cable.id)
                           .join(Device, Device.id == Interface.device_id)
                           .outerjoin(Cable, or_(Cable.a_interface_id == Interface.id,
                                                 Cable.b_interface_id == Interface.id))
                           .where(Device.site_id == site_id, Device.kind.in_(sorted(SNMP_KINDS)),
                                  Device.ip.is_not(None))).all()
    taken: dict[str, set[str]] = {}
    for name, enabled, ip, cable in rows:
        if cable is not None or not enabled:
            taken.setdefault(str(ip), set()).add(name)
    return taken


def _without_taken(net: SiteNetwork, taken: dict[str, set[str]]) -> SiteNetwork:
    """Return the facts with the ports the inventory says are taken no longer free."""
    if not taken:
        return net
    switches, noted = [], []
    for s in net.switches:
        gone = taken.get(s.ip, set()) & set(s.free_ports)
        noted += [f"{s.name} {p}" for p in sorted(gone, key=_natural)]
        switches.append(dataclasses.replace(s, free_ports=tuple(p for p in s.free_ports if p not in gone),
                                            free_poe_ports=tuple(p for p in s.free_poe_ports if p not in gone)))
    return dataclasses.replace(net, switches=tuple(switches), inventory_taken=tuple(noted))


def site_network(session: Session, site_id: int, *, exclude_device_ids: Collection[int] = ()
                 ) -> SiteNetwork | None:
    """Return the site's switches from its latest ingested survey with SNMP data (None: no such survey).

    Ports the inventory says are taken (`inventory_taken_ports`) are not free; cameras planned at
    the site (planned devices not in `exclude_device_ids`) are counted as holding PoE budget and ports.
    """
    ids = list(session.scalars(select(Survey.id).where(Survey.site_id == site_id)
                               .order_by(Survey.started_at.desc(), Survey.id.desc()).limit(_SURVEYS_LOOKED_AT)))
    for survey_id in ids:  # one document in memory at a time: a survey of a large site is megabytes
        survey = session.get(Survey, survey_id)
        if survey is None:
            continue
        net = network_from_document(survey.document or {}, surveyed_at=_iso(survey.finished_at or survey.started_at),
                                    survey_id=survey.id)
        if net is not None:
            count, watts = planned_cameras(session, site_id, set(exclude_device_ids))
            net = _without_taken(net, inventory_taken_ports(session, site_id))
            return dataclasses.replace(net, planned_cameras=count, planned_poe_w=watts)
    return None


def with_site_network(session: Session, site_id: int, doc: Any, *,
                      exclude_device_ids: Collection[int] = ()) -> Any:
    """Return a plan input with the site's network facts as ``network`` (kept when the input gives its own)."""
    if not isinstance(doc, dict) or NETWORK_KEY in doc:
        return doc
    net = site_network(session, site_id, exclude_device_ids=exclude_device_ids)
    return doc if net is None else {**doc, NETWORK_KEY: net.to_dict()}
