"""A site's network as the planner needs it: switches, free ports, PoE budget and uplink, from its latest survey.

`site_network(session, site_id)` reads the newest ingested survey of the site whose hosts carry
SNMP data (the ``snmp`` and ``attached_to`` fields, docs/survey.md "SNMP") and returns a
`SiteNetwork`: every switch with its PoE budget and consumption, its free PoE-capable ports
and free ports, its uplink port with speed and utilisation, and when the survey was made
(facts have an age).  It is the one place that knows where the facts come from: when the
inventory keeps interfaces and cables of its own, only this function changes.

A plan input carries the facts as ``"network"`` (`SiteNetwork.to_dict`); `apply_network`
turns them into the planner's `Switch` and `Uplink` limits, overriding the typed numbers,
and says which source each limit came from.  `assign_ports` proposes a switch port for each
chosen camera.

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
- a plan's typed switch (not named like a surveyed switch) is the surveyed switch with the
  most free PoE ports (then the most budget left); cameras already planned at the site
  (planned devices, power from the catalogue, else 802.3af's 12.95 W) hold budget and ports
  of that switch.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import DeviceKind, Status
from sitescout.inventory.lenient import as_dict, as_list, as_str, texts
from sitescout.inventory.model_survey import Survey
from sitescout.inventory.models import Device

from .catalogue import CameraModelRow
from .feasibility import POE_CLASS_W, Mount, Reason, Switch, Uplink, cable_reasons

__all__ = ["NETWORK_KEY", "SiteSwitch", "SiteNetwork", "network_from_document", "site_network",
           "with_site_network", "apply_network", "assign_ports", "PortAssignment"]

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
                "switches": [s.to_dict() for s in self.switches]}

    @classmethod
    def from_dict(cls, d: Any) -> SiteNetwork | None:
        """Return the facts of a plan input's ``network`` (None when it holds no switch)."""
        if not isinstance(d, dict) or not isinstance(d.get("switches"), list) or not d["switches"]:
            return None
        switches = tuple(SiteSwitch.from_dict(s) for s in d["switches"] if isinstance(s, dict))
        return cls(str(d.get("surveyed_at") or ""), switches, d.get("survey_id"),
                   int(d.get("planned_cameras") or 0), float(d.get("planned_poe_w") or 0.0))


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


def _planned(session: Session, site_id: int, exclude: set[int]) -> tuple[int, float]:
    """Return how many cameras are planned at the site and the power they will draw (W)."""
    rows = session.execute(select(Device.id, Device.model).where(
        Device.site_id == site_id, Device.kind == DeviceKind.CAMERA.value,
        Device.status == Status.PLANNED.value)).all()
    rows = [r for r in rows if r.id not in exclude]
    power = dict(session.execute(select(CameraModelRow.name, CameraModelRow.power_w)).all())
    return len(rows), sum(float(power.get(r.model or "", UNKNOWN_CAMERA_W)) for r in rows)


def site_network(session: Session, site_id: int, *, exclude_device_ids: tuple[int, ...] | list[int] = ()
                 ) -> SiteNetwork | None:
    """Return the site's switches from its latest ingested survey with SNMP data (None: no such survey).

    Cameras planned at the site (planned devices not in `exclude_device_ids`) are counted as
    holding PoE budget and ports.
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
            count, watts = _planned(session, site_id, set(exclude_device_ids))
            return dataclasses.replace(net, planned_cameras=count, planned_poe_w=watts)
    return None


def with_site_network(session: Session, site_id: int, doc: Any, *,
                      exclude_device_ids: tuple[int, ...] | list[int] = ()) -> Any:
    """Return a plan input with the site's network facts as ``network`` (kept when the input gives its own)."""
    if not isinstance(doc, dict) or NETWORK_KEY in doc:
        return doc
    net = site_network(session, site_id, exclude_device_ids=exclude_device_ids)
    return doc if net is None else {**doc, NETWORK_KEY: net.to_dict()}


# ---------------------------------------------------------------------------
# Facts to planner limits.


def _default_switch(net: SiteNetwork) -> SiteSwitch:
    """Return the switch new cameras go to: the most free PoE ports, then the most PoE budget left."""
    return max(net.switches, key=lambda s: (len(s.free_poe_ports), (s.poe_budget_w or 0) - (s.poe_used_w or 0),
                                            len(s.free_ports)))


def _uplink_of(s: SiteSwitch, typed: Uplink | None) -> Uplink | None:
    if s.uplink_port is None or not s.uplink_speed_bps:
        return None
    capacity = s.uplink_speed_bps / 1000.0
    existing = capacity * s.uplink_utilisation if s.uplink_utilisation is not None else (
        typed.existing_kbps if typed else 0.0)
    return Uplink(f"{s.name} {s.uplink_port}", capacity, existing, typed.stream if typed else "main",
                  typed.substream_kbps if typed else 512.0, utilisation=s.uplink_utilisation)


def apply_network(facts: Any, mounts: list[Mount], switches: dict[str, Switch], uplinks: dict[str, Uplink],
                  *, now: datetime | None = None) -> tuple[list[Mount], dict[str, Switch], dict[str, Uplink],
                                                           dict[str, Any]]:
    """Return mounts, switches and uplinks with the surveyed facts over the typed numbers, and which were used.

    The summary says ``source`` ("survey" or "typed") and, per limit, ``poe``, ``ports`` and
    ``uplink`` ("survey", "typed", or "unknown"/"none").
    """
    net = SiteNetwork.from_dict(facts)
    if net is None:
        return mounts, switches, uplinks, {"source": "typed", "poe": "typed" if switches else "none",
                                           "ports": "unknown", "uplink": "typed" if uplinks else "none"}
    by_key = {k: s for s in net.switches for k in (s.name, s.ip)}
    default = _default_switch(net)
    typed_ids = list(switches) + [m.switch for m in mounts if m.switch and m.switch not in switches]
    mapping = {t: by_key.get(t, default) for t in typed_ids}
    first_typed_uplink = next(iter(uplinks.values()), None)
    new_uplinks: dict[str, Uplink] = dict(uplinks)
    used = set(map(id, mapping.values())) | {id(default)}
    built: dict[str, Switch] = {}
    uplink_ids: dict[str, str] = {}
    poe_sources: set[str] = set()
    for s in net.switches:
        typed = next((switches[t] for t, f in mapping.items() if f is s and t in switches), None)
        planned = s is default
        planned_w, planned_ports = (net.planned_poe_w, net.planned_cameras) if planned else (0.0, 0)
        if s.poe_budget_w is not None:
            budget, used_w, source = s.poe_budget_w, (s.poe_used_w or 0.0) + planned_w, "survey"
        elif typed is not None:
            budget, used_w, source = typed.poe_budget_w, typed.used_w + planned_w, "typed"
        else:
            budget, used_w, source = 0.0, planned_w, "none"
        if id(s) in used:
            poe_sources.add(source)
        reserved = s.free_poe_ports[:planned_ports]
        built[s.name] = Switch(s.name, budget, used_w, typed.port_max_w if typed else POE_CLASS_W["802.3at"],
                               free_poe_ports=s.free_poe_ports[planned_ports:],
                               free_ports=tuple(p for p in s.free_ports if p not in reserved), source=source)
        uplink = _uplink_of(s, first_typed_uplink)
        if uplink is not None:
            new_uplinks[uplink.id] = uplink
            uplink_ids[s.name] = uplink.id
    new_switches: dict[str, Switch] = dict(built)
    for typed_id, s in mapping.items():
        new_switches[typed_id] = built[s.name]
    new_mounts, uplink_sources = [], set()
    for m in mounts:
        s = mapping.get(m.switch, default) if m.switch else default
        up = uplink_ids.get(s.name)
        uplink_sources.add("survey" if up else ("typed" if m.uplink else "none"))
        new_mounts.append(dataclasses.replace(m, switch=m.switch or s.name, uplink=up or m.uplink))
    age = net.age_days(now)
    summary = {"source": "survey", "survey_id": net.survey_id, "surveyed_at": net.surveyed_at, "age_days": age,
               "switch": default.name, "poe": _one(poe_sources), "ports": "survey",
               "uplink": _one(uplink_sources), "planned_cameras": net.planned_cameras,
               "planned_poe_w": round(net.planned_poe_w, 2), "switches": [s.to_dict() for s in net.switches]}
    return new_mounts, new_switches, new_uplinks, summary


def _one(values: set[str]) -> str:
    """Return the single source of a limit, "mixed" when mounts differ, "none" when none was used."""
    return values.pop() if len(values) == 1 else ("mixed" if values else "none")


# ---------------------------------------------------------------------------
# Ports for the chosen cameras.


@dataclass(frozen=True)
class PortAssignment:
    """The switch port proposed for one camera (port None: the switch has none left, see `reason`)."""

    switch: str
    port: str | None
    poe: bool
    reason: Reason | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the assignment as plain JSON values."""
        out: dict[str, Any] = {"switch": self.switch, "port": self.port, "poe": self.poe}
        if self.reason is not None:
            out["reason"] = str(self.reason)
            out["reason_codes"] = [self.reason.to_dict()]
        return out


def assign_ports(mounts: list[Mount], switches: dict[str, Switch],
                 cameras: list[int]) -> list[PortAssignment | None]:
    """Return a port for each camera (the index of its mount), in order: first free PoE port, else first free port.

    A PoE camera takes a free PoE port; a camera on mains a free port without PoE when there is
    one.  None for a camera on no surveyed switch (radio link, typed switch only).
    """
    taken: dict[str, set[str]] = {}
    out: list[PortAssignment | None] = []
    for index in cameras:
        mount = mounts[index]
        switch = switches.get(mount.switch) if mount.switch else None
        if switch is None or switch.free_ports is None or cable_reasons(mount)[0] != "ethernet":
            out.append(None)
            continue
        used = taken.setdefault(switch.id, set())
        poe = mount.power == "poe"
        poe_ports = [p for p in switch.free_poe_ports or () if p not in used]
        plain = [p for p in switch.free_ports if p not in used and p not in (switch.free_poe_ports or ())]
        free = poe_ports if poe else plain + poe_ports
        choice = free[0] if free else None
        if choice is None:
            out.append(PortAssignment(switch.id, None, poe, no_port_reason(switch.id, poe)))
            continue
        used.add(choice)
        out.append(PortAssignment(switch.id, choice, poe))
    return out


def no_port_reason(switch: str, poe: bool) -> Reason:
    """Return why a camera gets no port on `switch`."""
    if poe:
        return Reason("no_free_poe_port", f"switch {switch} has no free PoE port", switch=switch)
    return Reason("no_free_port", f"switch {switch} has no free port", switch=switch)

