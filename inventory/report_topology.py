"""The survey report's topology diagram: router → switches → ports → devices, as a nested HTML tree.

Built from the survey document alone (docs/survey.md, "SNMP"): each agent's ``snmp`` field
(interfaces, LLDP ``neighbors``, ``fdb_entries``, ``device_class``) and each host's
``attached_to: {"device": ip, "port": name}``.  The tree is plain HTML lists drawn with CSS
borders (inventory/report_style.py), not a picture: it breaks across A4 pages, and every port
name, device name and address stays text (``pdftotext`` reads it, a screen reader too).

Rules:

- a *switch* is an answering agent with a forwarding table (``fdb_entries`` > 0) or with hosts
  placed on its ports; a *router* is an agent the SNMP stage classed ``router`` that is no
  switch (probes/snmp/survey_stage.py);
- a *link* between two of them comes from either end's LLDP neighbour (management address,
  else sysName); the far port is the neighbour's port id or description, whichever names an
  interface of the far device;
- the tree starts at each router (then at any switch not reached), and a device met again
  (a second link, a loop) is named with its port, not drawn twice;
- end devices hang under the switch port they are ``attached_to``; hosts placed nowhere are
  listed after the tree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from sitescout.device_names import maker_and_model
from sitescout.inventory.lenient import as_dict as _dict, as_list as _list, as_num as _num, as_str as _str

__all__ = ["Topology", "build_topology", "render_topology_html", "device_kind"]

#: Ports shown per switch at most (a hostile agent may list a million; the document keeps 512).
MAX_PORTS = 512
#: Switches nested at most this deep; a longer chain goes on as a tree of its own (a document is untrusted).
MAX_DEPTH = 16


def device_kind(host: dict[str, Any]) -> str:
    """Return what a host of the document is: its survey kind, or the SNMP stage's class when it is no camera."""
    kind = _str(host.get("kind")) or "host"
    if kind == "camera":
        return kind
    cls = _str(_dict(host.get("device_class")).get("kind")) or _str(_dict(host.get("snmp")).get("device_class"))
    return cls or kind


@dataclass
class Port:
    """One port of a network device as the diagram shows it."""

    name: str
    if_index: int
    speed_bps: float | None = None
    oper_up: bool | None = None
    poe_w: float | None = None
    uplink: bool = False
    links: list[tuple[str, str]] = field(default_factory=list)  # (far device ip, far port)
    devices: list[str] = field(default_factory=list)  # host ips placed here


@dataclass
class Node:
    """A router or switch of the diagram."""

    ip: str
    name: str
    kind: str  # "router" | "switch"
    maker: str
    ports: dict[str, Port] = field(default_factory=dict)


@dataclass
class Topology:
    """The network devices, their links, where each host is, and the hosts placed nowhere."""

    nodes: dict[str, Node]
    hosts: dict[str, dict[str, Any]]
    roots: list[str]
    unplaced: list[str]

    @property
    def empty(self) -> bool:
        """Return True when the survey read no switch (nothing to draw)."""
        return not any(n.kind == "switch" for n in self.nodes.values())


def _ip_key(ip: str) -> tuple[int, Any]:
    try:
        return 0, ipaddress.ip_address(ip)
    except ValueError:
        return 1, ip


def _node(ip: str, snmp: dict[str, Any], kind: str) -> Node:
    maker = maker_and_model(_str(snmp.get("vendor")) or _str(snmp.get("manufacturer")), _str(snmp.get("model")))
    node = Node(ip, _str(snmp.get("sys_name")) or ip, kind, maker)
    for iface in map(_dict, _list(snmp.get("interfaces"))[:MAX_PORTS]):
        name = _str(iface.get("name"))
        if not name or name == "lo":
            continue
        poe = _dict(iface.get("poe"))
        node.ports[name] = Port(name, int(_num(iface.get("if_index")) or 0), _num(iface.get("speed_bps")),
                                iface.get("oper_up") if isinstance(iface.get("oper_up"), bool) else None,
                                _num(poe.get("power_w")), iface.get("uplink") is True)
    return node


def _far_port(neighbor: dict[str, Any], far: Node) -> str:
    for key in ("port_id", "port_desc"):
        if _str(neighbor.get(key)) in far.ports:
            return _str(neighbor.get(key))
    return _str(neighbor.get("port_desc")) or _str(neighbor.get("port_id"))


def build_topology(doc: dict[str, Any]) -> Topology:
    """Return the network of a survey document (null or odd fields read as absent)."""
    hosts = {_str(h.get("ip")): h for h in map(_dict, _list(doc.get("hosts"))) if _str(h.get("ip"))}
    agents = {ip: _dict(h.get("snmp")) for ip, h in hosts.items()
              if _dict(h.get("snmp")).get("credential") and _list(_dict(h.get("snmp")).get("interfaces"))}
    placed_on: dict[str, list[str]] = {}
    for ip, h in hosts.items():
        device = _str(_dict(h.get("attached_to")).get("device"))
        if device:
            placed_on.setdefault(device, []).append(ip)
    nodes: dict[str, Node] = {}
    for ip, snmp in agents.items():
        if _num(snmp.get("fdb_entries")) or ip in placed_on:
            nodes[ip] = _node(ip, snmp, "switch")
        elif device_kind(hosts[ip]) == "router":
            nodes[ip] = _node(ip, snmp, "router")
    by_name = {n.name: ip for ip, n in nodes.items()}
    for ip, node in nodes.items():
        for nb in map(_dict, _list(agents[ip].get("neighbors"))):
            far_ip = _str(nb.get("mgmt_address"))
            far_ip = far_ip if far_ip in nodes else by_name.get(_str(nb.get("sys_name")), "")
            port = node.ports.get(_str(nb.get("port")))
            if not far_ip or far_ip == ip or port is None:
                continue
            link = (far_ip, _far_port(nb, nodes[far_ip]))
            if link not in port.links:
                port.links.append(link)
            back = nodes[far_ip].ports.get(link[1])
            if back is not None and (ip, port.name) not in back.links:
                back.links.append((ip, port.name))
    for device, ips in placed_on.items():
        switch = nodes.get(device)
        for ip in sorted(ips, key=_ip_key):
            port = switch.ports.get(_str(_dict(hosts[ip].get("attached_to")).get("port"))) if switch else None
            if port is not None and not any(far == ip for far, _ in port.links):
                port.devices.append(ip)
    routers = sorted((ip for ip, n in nodes.items() if n.kind == "router"), key=_ip_key)
    switches = sorted((ip for ip, n in nodes.items() if n.kind == "switch"), key=_ip_key)
    unplaced = sorted((ip for ip, h in hosts.items() if ip not in nodes and not h.get("attached_to")), key=_ip_key)
    return Topology(nodes, hosts, routers + switches, unplaced)


def _mbps(speed: float | None, number: Callable[[float, str], str], _: Callable[[str], str]) -> str:
    if not speed:
        return ""
    if speed >= 1e9:
        return _("{value} Gbit/s").format(value=number(speed / 1e9, "#,##0.#"))
    return _("{value} Mbit/s").format(value=number(speed / 1e6, "#,##0"))


@dataclass
class _Draw:
    topo: Topology
    words: Callable[[str], str]  # gettext
    kind_word: Callable[[str], str]
    number: Callable[[float, str], str]
    drawn: set[str] = field(default_factory=set)

    def device(self, ip: str) -> str:
        host = self.topo.hosts.get(ip, {})
        snmp, onvif = _dict(host.get("snmp")), _dict(host.get("onvif"))
        name = _str(snmp.get("sys_name"))
        maker = maker_and_model(_str(onvif.get("manufacturer")), _str(onvif.get("model"))) \
            or maker_and_model(_str(snmp.get("vendor")), _str(snmp.get("model"))) or _str(host.get("vendor"))
        parts = [f'<b class="addr">{escape(ip)}</b>', f'<span class="kind">{escape(self.kind_word(device_kind(host)))}'
                 "</span>"]
        parts += [escape(t) for t in (name, maker) if t]
        return " · ".join(parts)

    def node(self, ip: str, via: str = "", depth: int = 0) -> str:
        """A router or switch and what hangs below it; ``via`` is its port towards the device above."""
        self.drawn.add(ip)
        node = self.topo.nodes[ip]
        port = f'<span class="link">⇄</span> <span class="port">{escape(via)}</span> ' if via else ""
        head = (f'<div class="topo-dev {node.kind}">{port}<b>{escape(node.name)}</b> · '
                f'<b class="addr">{escape(ip)}</b>'
                f' · <span class="kind">{escape(self.kind_word(node.kind))}</span>'
                f'{" · " + escape(node.maker) if node.maker else ""}</div>')
        items = [self.port(node, p, depth) for p in sorted(node.ports.values(), key=lambda p: (p.if_index, p.name))
                 if p.links or p.devices or (p.uplink and p.oper_up is False)]
        return head + (f'<ul class="topo">{"".join(items)}</ul>' if items else "")

    def port(self, node: Node, port: Port, depth: int) -> str:
        _ = self.words
        facts = [_mbps(port.speed_bps, self.number, _)]
        if port.oper_up is False:
            facts.append(_("down"))
        if port.poe_w:
            facts.append(_("PoE {value} W").format(value=self.number(port.poe_w, "#,##0.#")))
        if port.uplink:
            facts.append(_("uplink"))
        head = (f'<div class="topo-port"><span class="port">{escape(port.name)}</span>'
                f'{" <span class=facts>" + escape(", ".join(f for f in facts if f)) + "</span>" if any(facts) else ""}'
                "</div>")
        below = []
        for far_ip, far_port in port.links:
            if far_ip in self.drawn or depth >= MAX_DEPTH:  # above, a second link, a loop, too deep: named only
                below.append(f'<li><div class="topo-seen"><span class="link">⇄</span> '
                             f'<span class="port">{escape(far_port)}</span> <b>{escape(self.topo.nodes[far_ip].name)}'
                             f'</b> · <b class="addr">{escape(far_ip)}</b></div></li>')
            else:
                below.append(f"<li>{self.node(far_ip, far_port, depth + 1)}</li>")
        below += [f'<li><div class="topo-host">{self.device(ip)}</div></li>' for ip in port.devices]
        return f'<li>{head}<ul class="topo">{"".join(below)}</ul></li>' if below else f"<li>{head}</li>"


def render_topology_html(doc: dict[str, Any], gettext: Callable[[str], str], kind_word: Callable[[str], str],
                         number: Callable[[float, str], str]) -> str:
    """Return the diagram's HTML ('' when the survey read no switch); every value escaped."""
    topo = build_topology(doc)
    if topo.empty:
        return ""
    draw = _Draw(topo, gettext, kind_word, number)
    trees = [f'<div class="topo-root">{draw.node(ip)}</div>' for ip in topo.roots if ip not in draw.drawn]
    out = "".join(trees)
    if topo.unplaced:
        rows = "".join(f'<li><div class="topo-host">{draw.device(ip)}</div></li>' for ip in topo.unplaced)
        _ = gettext
        nowhere = escape(_("Not seen on any switch port"))
        out += f'<h4>{nowhere}</h4><ul class="topo-loose">{rows}</ul>'
    return out
