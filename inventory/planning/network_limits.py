"""A site's surveyed network as planner limits: the facts over the typed numbers, and a switch port per camera.

`apply_network` turns a plan input's ``"network"`` (`network_facts.SiteNetwork.to_dict`) into the
planner's `Switch` and `Uplink` limits, overriding the typed numbers, and says which source each
limit came from; `assign_ports` proposes a switch port for each chosen camera.  Where the facts
come from (the survey document, the inventory, the cameras already planned) is `network_facts`'
business; this module only reads them.

Rules: a plan's typed switch (not named like a surveyed switch) is the surveyed switch with the
most free PoE ports (then the most budget left); cameras already planned at the site hold budget
and ports of that switch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .feasibility import POE_CLASS_W, Mount, Reason, Switch, Uplink, cable_reasons
from .network_facts import SiteNetwork, SiteSwitch

__all__ = ["apply_network", "assign_ports", "PortAssignment", "no_port_reason"]


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
               "planned_poe_w": round(net.planned_poe_w, 2), "inventory_taken": list(net.inventory_taken),
               "switches": [s.to_dict() for s in net.switches]}
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

