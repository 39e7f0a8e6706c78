"""The site page's topology graph: the inventory's switches, ports and cables, with what the latest survey read.

Structure comes from the inventory (interfaces and cables, ``inventory.network.site_network``:
intended state, what a person applied or typed). What is *known* of each port now — link up or
down, the busier direction's utilisation (``utilisation_pct`` of the survey's two counter
reads), the PoE power drawn — comes from the newest survey of the site whose hosts carry SNMP
interfaces, matched by the device's address and the port's name; a port the survey did not read
shows what the inventory says and nothing more. Health (a live problem: red, and the word) comes
from the device's latest observations. ``web/topology_layout.py`` places the boxes;
``templates/site_topology.html`` draws them as inline SVG, every text through Jinja's escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flask import url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import Status
from sitescout.inventory.lenient import as_dict, as_list, as_num, as_str
from sitescout.inventory.model_survey import Survey
from sitescout.inventory.models import Device as DeviceRow
from sitescout.inventory.models import Site
from sitescout.inventory.network import SwitchView
from sitescout.inventory.records import DeviceSummary
from sitescout.inventory.snmp_port_findings import UPLINK_BUSY_PCT
from sitescout.web.topology_layout import ROW_H, Device, Layout, Port, Row, layout_topology

__all__ = ["TopologyView", "NodeView", "RowView", "site_topology", "observed_ports", "PortFacts"]

#: Newest surveys of a site looked at for one with SNMP interfaces (a large site's document is megabytes).
SURVEYS_LOOKED_AT = 5
#: Statuses of a device that is there (a planned or retired one is "not placed" only when a cable says otherwise).
_ON_SITE = frozenset({Status.ACTIVE.value, Status.OFFLINE.value})
#: More than any PoE port gives (802.3bt type 4 is 90 W at the switch).
MAX_PORT_W = 1000.0
#: Average glyph widths (px) of DejaVu Sans at the graph's sizes, to cut a text before it leaves its box.
_NAME_PX, _TEXT_PX = 7.9, 6.4


@dataclass(frozen=True)
class PortFacts:
    """What a survey read of one port (None: not read)."""

    oper_up: bool | None = None
    utilisation: float | None = None
    poe_w: float | None = None


@dataclass
class RowView:
    """A port row as the template draws it."""

    row: Row
    name: str
    facts: str
    title: str
    classes: str
    href: str | None = None


@dataclass
class NodeView:
    """A device box as the template draws it."""

    key: int
    x: float
    y: float
    w: float
    h: float
    name: str
    sub: str
    title: str
    href: str
    classes: str
    rows: list[RowView] = field(default_factory=list)


@dataclass
class TopologyView:
    """Everything the template needs: size, boxes, edges, the not-placed grid, and the words around them."""

    layout: Layout
    nodes: list[NodeView]
    edges: list[tuple[str, str]]  # (SVG path, CSS classes)
    title: str
    summary: str
    row_h: float = ROW_H

    @property
    def has_network(self) -> bool:
        """Return whether the site has a router or switch to draw."""
        return self.layout.has_network


def _cut(text: str, width_px: float, glyph_px: float) -> str:
    most = max(4, int(width_px / glyph_px))
    return text if len(text) <= most else text[:most - 1] + "…"


def observed_ports(session: Session, site_id: int) -> dict[str, dict[str, PortFacts]]:
    """Return device address → port name → what the newest survey with SNMP interfaces read (odd fields: absent)."""
    ids = list(session.scalars(select(Survey.id).where(Survey.site_id == site_id)
                               .order_by(Survey.started_at.desc(), Survey.id.desc()).limit(SURVEYS_LOOKED_AT)))
    for survey_id in ids:  # one document in memory at a time
        survey = session.get(Survey, survey_id)
        facts: dict[str, dict[str, PortFacts]] = {}
        for host in map(as_dict, as_list(as_dict(survey.document if survey else None).get("hosts"))):
            ip = as_str(host.get("ip"))
            for iface in map(as_dict, as_list(as_dict(host.get("snmp")).get("interfaces"))):
                name = as_str(iface.get("name"))
                if not ip or not name:
                    continue
                up = iface.get("oper_up")
                pct = as_num(iface.get("utilisation_pct"))
                facts.setdefault(ip, {})[name] = PortFacts(
                    up if isinstance(up, bool) else None,
                    min(pct / 100.0, 1.0) if pct is not None and pct >= 0 else None,
                    _watts(as_dict(iface.get("poe")).get("power_w")))
        if facts:
            return facts
    return {}


def _watts(value: object) -> float | None:
    """Return a port's PoE draw, or None for what no port draws (negative, NaN, infinite: a hostile document)."""
    watts = as_num(value)
    return watts if watts is not None and 0 <= watts <= MAX_PORT_W else None


def _graph_devices(session: Session, site_id: int, network: Sequence[SwitchView],
                   devices: Sequence[DeviceSummary]) -> list[Device]:
    known = {d.id: d for d in devices}
    seen = observed_ports(session, site_id) if any(sw.ports for sw in network) else {}
    out: list[Device] = []
    far: set[int] = set()
    for sw in network:
        facts = seen.get(sw.ip or "", {})
        ports = []
        for p in sw.ports:
            got = facts.get(p.name, PortFacts())
            if p.peer_device_id is not None and p.peer_site_id != site_id:
                far.add(p.peer_device_id)
            ports.append(Port(p.name, p.speed_bps, p.poe, got.poe_w, p.uplink, p.enabled, got.oper_up,
                              got.utilisation, p.peer_device_id, p.peer_port, p.cable_status == "planned"))
        summary = known.get(sw.id)
        out.append(Device(sw.id, sw.name, sw.kind, sw.ip, summary.health if summary else "unknown", site_id,
                          ports=tuple(ports)))
    drawn = {sw.id for sw in network}
    cabled = {p.peer_device_id for sw in network for p in sw.ports if p.peer_device_id is not None}
    out += [Device(d.id, d.name, d.kind, d.ip, d.health, site_id) for d in devices
            if d.id not in drawn and (d.status in _ON_SITE or d.id in cabled)]
    if far:
        rows = session.execute(select(DeviceRow.id, DeviceRow.name, DeviceRow.kind, DeviceRow.ip, DeviceRow.site_id,
                                      Site.name).join(Site, Site.id == DeviceRow.site_id)
                               .where(DeviceRow.id.in_(sorted(far))))
        out += [Device(r[0], f"{r[1]} ({r[5]})", r[2], r[3], "unknown", r[4], external=True) for r in rows]
    return out


def _percent(share: float) -> str:
    return f"{format_decimal(round(share * 100), format='#,##0')} %"


def _is_busy(port: Port) -> bool:
    """Return whether an uplink is busier than the survey's "uplink busy" finding allows."""
    return port.uplink and port.utilisation is not None and port.utilisation * 100 > UPLINK_BUSY_PCT


def _port_words(port: Port, speed: Callable[[int | None], str]) -> list[str]:
    words = []
    if not port.enabled:
        words.append(_("disabled"))
    elif port.oper_up is False:
        words.append(_("no link"))
    if port.speed_bps:
        words.append(speed(port.speed_bps))
    if port.poe_w:
        words.append(_("PoE %(watts)s W", watts=format_decimal(port.poe_w, format="#,##0.#")))
    elif port.poe:
        words.append("PoE")
    if _is_busy(port):
        words.append("⚠ " + _("high load %(percent)s", percent=_percent(port.utilisation or 0.0)))
    elif port.utilisation is not None:
        words.append(_("load %(percent)s", percent=_percent(port.utilisation)))
    if port.planned:
        words.append(_("cable planned"))
    return words


def _row_view(row: Row, devices: dict[int, Device], box_w: float, speed: Callable[[int | None], str]) -> RowView:
    if row.port is None:
        text = _("%(count)s more ports: unused or no link", count=row.hidden)
        return RowView(row, _cut(text, box_w - 16, _TEXT_PX), "", text, "port port-rest")
    port = row.port
    words = _port_words(port, speed)
    name = port.name + (" ↑" if port.uplink else "")
    facts = " · ".join(words)
    classes = ["port", f"port-{row.role}"] + (["uplink"] if port.uplink else []) + (
        ["down"] if port.is_down else []) + (["up"] if port.oper_up else []) + (["busy"] if _is_busy(port) else [])
    title = _("Port %(port)s", port=port.name)
    if port.uplink:
        title += " (" + _("uplink") + ")"
    if facts:
        title += ": " + facts
    href = None
    far = devices.get(row.seen) if row.seen is not None else None
    if row.role == "seen" and far is not None:
        facts = " · ".join(words + [_("to %(device)s (already drawn)", device=far.name)])
        title += " — " + _("cabled to %(device)s %(port)s, shown elsewhere in the graph", device=far.name,
                           port=port.peer_port)
        href = f"#topo-node-{far.key}"
    elif row.role == "away" and far is not None:
        facts = " · ".join(words + [_("to %(device)s", device=far.name)])
        title += " — " + _("cabled to %(device)s %(port)s at another site", device=far.name, port=port.peer_port)
        href = _device_href(far)
    room = box_w - 16 - min(len(name), 16) * _TEXT_PX - 10
    return RowView(row, _cut(name, 16 * _TEXT_PX, _TEXT_PX), _cut(facts, room, _TEXT_PX), title, " ".join(classes),
                   href)


def _device_href(device: Device) -> str:
    """Return the link to a device's row on its site's page (this page's anchor for one of this site)."""
    page = url_for("sites.show_site", site_id=device.site_id) if device.external and device.site_id else ""
    return f"{page}#device-{device.key}"


def _health_words(health: str) -> str:
    return {"problem": _("problem"), "warning": _("warning")}.get(health, "")


def site_topology(session: Session, site_id: int, site_name: str, network: Sequence[SwitchView],
                  devices: Sequence[DeviceSummary], speed: Callable[[int | None], str]) -> TopologyView:
    """Return the topology graph of a site: the layout and every word and link the template draws."""
    layout = layout_topology(_graph_devices(session, site_id, network, devices))
    nodes = []
    for box in layout.boxes:
        d = box.device
        kind = _(d.kind)
        health = _health_words(d.health) if not d.external else ""
        sub = " · ".join(t for t in (kind, d.ip or "") if t)
        if health:
            sub = f"⚠ {health} · {sub}"
        title = " · ".join(t for t in (d.name, kind, d.ip or "", health) if t)
        if d.external:
            title += " — " + _("at another site")
        href = _device_href(d)
        classes = ["node", f"kind-{d.kind}", f"health-{d.health}"] + (["external"] if d.external else []) + (
            ["network"] if box.rows else ["leaf"]) + ([] if box.placed else ["unplaced"])
        nodes.append(NodeView(d.key, box.x, box.y, box.w, box.h, _cut(d.name, box.w - 16, _NAME_PX),
                              _cut(sub, box.w - 16, _TEXT_PX), title, href, " ".join(classes),
                              [_row_view(r, layout.devices, box.w, speed) for r in box.rows]))
    edges = [(e.path, " ".join(["edge"] + (["trunk"] if e.trunk else []) + (["planned"] if e.planned else [])
                                + (["down"] if e.down else []))) for e in layout.edges]
    placed = [b for b in layout.boxes if b.placed and not b.rows and not b.device.external]
    switches = sum(1 for b in layout.boxes if b.rows and not b.device.external)
    problems = sum(1 for b in layout.boxes if b.device.health == "problem" and not b.device.external)
    summary = _("%(switches)s switches and routers, %(placed)s devices on their ports, %(unplaced)s not placed, "
                "%(problems)s with a problem.", switches=switches, placed=len(placed),
                unplaced=sum(1 for b in layout.boxes if not b.placed), problems=problems)
    return TopologyView(layout, nodes, edges, _("Network diagram of %(site)s", site=site_name), summary)

