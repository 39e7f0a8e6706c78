"""Where each box and line of a site's topology graph goes: router → switches → ports → devices (issue #15).

Pure geometry: devices and their ports in, boxes, port rows and edges (pixel coordinates) out.
No Flask, no database, no words: ``web/topology_graph.py`` feeds it from the inventory and the
latest survey, and ``templates/site_topology.html`` draws the result as inline SVG.

Rules:

- a *network device* (router, switch) is a box with a row per port worth showing: a port with a
  cable, an uplink, a port drawing PoE or seen up; the other ports (unused, disabled, down) are
  one counted row, so a 48-port switch with three cameras is five rows, not 48;
- the graph is a layered tree, left to right: the roots are the routers, then the switches whose
  uplink leads to another site, then any switch not reached; columns are the depth, children
  follow their parent's port order;
- the way out of the site (an uplink cabled to another site's device) is a row naming that
  device (``away``), except at a site with no router: there the other site's device is drawn
  as the root, left of the switch it feeds;
- each device is drawn once: a second cable to it (a loop, a ring, a second link) is a row that
  names it (``Row.seen``), no second box, no edge;
- an end device (camera, loudspeaker, access point, host) on no port of the site's network
  devices is *not placed*: a grid under the trees;
- a chain deeper than `MAX_DEPTH` goes on as a tree of its own (a stack frame per level).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sitescout.inventory.choices import SNMP_KINDS

__all__ = ["Port", "Device", "Row", "Box", "Edge", "Layout", "layout_topology", "MAX_DEPTH",
           "NETWORK_W", "LEAF_W", "HEADER_H", "ROW_H", "LEAF_H"]

MARGIN = 12
NETWORK_W = 300  # a router's or switch's box
LEAF_W = 230  # an end device's box
COLUMN_GAP = 64  # room for the edges between two columns
HEADER_H = 40  # name line and kind · address line
ROW_H = 19
LEAF_H = 40
SIBLING_GAP = 10
TREE_GAP = 28
UNPLACED_LABEL_H = 30
#: Levels of switches below a root at most; a deeper chain starts a tree of its own.
MAX_DEPTH = 24


@dataclass(frozen=True)
class Port:
    """One port of a network device, with what its cable leads to (``peer``: a device key) and what is known."""

    name: str
    speed_bps: int | None = None
    poe: bool = False
    poe_w: float | None = None  # drawn now, from the latest survey
    uplink: bool = False
    enabled: bool = True
    oper_up: bool | None = None  # link up (None: not read)
    utilisation: float | None = None  # 0..1, the busier direction
    peer: int | None = None
    peer_port: str = ""
    planned: bool = False  # the cable is planned, not laid

    @property
    def is_down(self) -> bool:
        """Return whether the port is disabled or was read without link."""
        return not self.enabled or self.oper_up is False


@dataclass(frozen=True)
class Device:
    """A device of the graph: ``key`` is its inventory id; ``external`` for a device of another site."""

    key: int
    name: str
    kind: str
    ip: str | None = None
    health: str = "unknown"
    site_id: int | None = None
    external: bool = False
    ports: tuple[Port, ...] = ()

    @property
    def is_network(self) -> bool:
        """Return whether the device is a router or switch of the site (a box with port rows)."""
        return self.kind in SNMP_KINDS and not self.external


@dataclass
class Row:
    """One row of a network device's box.

    ``role``: "child" (an edge leaves it to the right), "parent" (the edge from the device above
    enters it), "seen" (its cable leads to a device drawn elsewhere: ``seen`` names it), "away" (its
    cable leads to a device of another site that is not drawn: ``seen`` names it too), "free"
    (no cable, shown because it is an uplink, up or drawing PoE), "rest" (``hidden`` ports in one line).
    """

    role: str
    y: float
    port: Port | None = None
    seen: int | None = None
    hidden: int = 0


@dataclass
class Box:
    """A device's box; ``rows`` only for network devices."""

    device: Device
    x: float
    y: float
    w: float
    h: float
    depth: int
    placed: bool = True
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    """A cable drawn from a port row (x1, y1) to the device it leads to (x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    src: int
    dst: int
    planned: bool = False
    down: bool = False
    trunk: bool = False  # between two network devices

    @property
    def path(self) -> str:
        """Return the SVG path: straight when level, else an S-curve."""
        if abs(self.y1 - self.y2) < 0.5:
            return f"M{self.x1:g},{self.y1:g} H{self.x2:g}"
        mid = (self.x1 + self.x2) / 2
        return f"M{self.x1:g},{self.y1:g} C{mid:g},{self.y1:g} {mid:g},{self.y2:g} {self.x2:g},{self.y2:g}"


@dataclass
class Layout:
    """The whole graph: boxes, edges, the not-placed grid's top (None: everything placed) and the size."""

    width: float
    height: float
    boxes: list[Box]
    edges: list[Edge]
    unplaced_y: float | None = None
    has_network: bool = False
    devices: dict[int, Device] = field(default_factory=dict)  # every device given, by key

    def box(self, key: int) -> Box | None:
        """Return the box of device `key`, if drawn."""
        return next((b for b in self.boxes if b.device.key == key), None)


def _shown(port: Port) -> bool:
    return port.peer is not None or port.uplink or bool(port.poe_w) or port.oper_up is True


def _root_order(devices: dict[int, Device]) -> list[int]:
    network = [d for d in devices.values() if d.is_network]
    routers = sorted((d for d in network if d.kind == "router"), key=lambda d: (d.name, d.key))
    outward = sorted((d for d in network if d.kind != "router" and any(
        p.uplink and p.peer in devices and devices[p.peer].external for p in d.ports)), key=lambda d: (d.name, d.key))
    rest = sorted((d for d in network if d not in routers and d not in outward), key=lambda d: (d.name, d.key))
    return [d.key for d in routers + outward + rest]


class _Tree:
    """The spanning forest of the cables (breadth first from each root) and the boxes' places."""

    def __init__(self, devices: Sequence[Device]) -> None:
        self.devices = {d.key: d for d in devices}
        self.parent: dict[int, int] = {}
        self.children: dict[int, list[tuple[int, int]]] = {}  # key → [(port index, child key)]
        self.depth: dict[int, int] = {}
        self.roots: list[int] = []
        self.boxes: list[Box] = []
        self.edges: list[Edge] = []
        self.drops: dict[int, float] = {}
        self.has_router = any(d.is_network and d.kind == "router" for d in devices)

    def grow(self) -> None:
        """Find the roots and each device's parent, visiting each device once."""
        for root in _root_order(self.devices):
            if root in self.depth:
                continue
            start = root
            node = self.devices[root]
            outward = None if self.has_router else next(
                (p for p in node.ports if p.uplink and p.peer in self.devices and self.devices[p.peer].external
                 and p.peer not in self.depth), None)
            if outward is not None and outward.peer is not None:  # the other site's device is the root
                far = self.devices[outward.peer]
                self.devices[far.key] = Device(far.key, far.name, far.kind, far.ip, far.health, far.site_id, True,
                                               (Port(outward.peer_port or "?", peer=root, planned=outward.planned),))
                start = far.key
            self.roots.append(start)
            self._walk(start)

    def _walk(self, start: int) -> None:
        self.depth[start] = 0
        queue = deque([start])
        while queue:
            key = queue.popleft()
            if self.depth[key] >= MAX_DEPTH:
                continue
            for index, port in enumerate(self.devices[key].ports):
                peer = port.peer
                if peer is None or peer not in self.devices or peer in self.depth or (
                        port.uplink and self.devices[peer].external):  # the way out: a row, not a box
                    continue
                self.depth[peer] = self.depth[key] + 1
                self.parent[peer] = key
                self.children.setdefault(key, []).append((index, peer))
                if self.devices[peer].is_network:
                    queue.append(peer)

    def rows(self, key: int) -> list[Row]:
        """Return the rows of a network device's box (y relative to the box's top)."""
        device = self.devices[key]
        if not device.is_network and not (device.external and key in self.roots):
            return []
        child_ports = {index for index, _ in self.children.get(key, [])}
        parent = self.parent.get(key)
        entered = False
        rows: list[Row] = []
        hidden = 0
        for index, port in enumerate(device.ports):
            if not _shown(port):
                hidden += 1
                continue
            y = HEADER_H + len(rows) * ROW_H
            if index in child_ports:
                rows.append(Row("child", y, port))
            elif port.peer is not None and port.peer == parent and not entered:
                entered = True
                rows.append(Row("parent", y, port))
            elif port.peer is not None and port.peer in self.devices:
                away = self.devices[port.peer].external and port.peer not in self.depth
                rows.append(Row("away" if away else "seen", y, port, seen=port.peer))
            else:
                rows.append(Row("free", y, port))
        if hidden:
            rows.append(Row("rest", HEADER_H + len(rows) * ROW_H, hidden=hidden))
        return rows

    def entry(self, key: int, rows: list[Row]) -> float:
        """Return where the edge from the parent meets a box, from the box's top."""
        parent_row = next((r for r in rows if r.role == "parent"), None)
        return parent_row.y + ROW_H / 2 if parent_row else LEAF_H / 2 if not rows else HEADER_H / 2

    def drop(self, key: int, rows: list[Row]) -> float:
        """Return how far below its subtree's top a box sits, so the edge to its first child is level."""
        if key in self.drops:
            return self.drops[key]
        drop = 0.0
        first = self.children.get(key, [])[:1]
        if first:
            index, child = first[0]
            row = next(r for r in rows if r.port is self.devices[key].ports[index])
            child_rows = self.rows(child)
            drop = max(0.0, self.drop(child, child_rows) + self.entry(child, child_rows) - (row.y + ROW_H / 2))
        self.drops[key] = drop
        return drop

    def place(self, key: int, top: float, rows: list[Row]) -> float:
        """Place a device's subtree at `top` (its box lower when its first child's edge needs it); return the bottom."""
        device, depth = self.devices[key], self.depth[key]
        x = MARGIN + depth * (NETWORK_W + COLUMN_GAP)
        height = HEADER_H + len(rows) * ROW_H + 4 if rows else LEAF_H
        y = top + self.drop(key, rows)
        box = Box(device, x, y, NETWORK_W if rows else LEAF_W, height, depth,
                  rows=[Row(r.role, y + r.y, r.port, r.seen, r.hidden) for r in rows])
        self.boxes.append(box)
        cursor = top
        for index, child in self.children.get(key, []):
            row = next(r for r in box.rows if r.port is device.ports[index])
            row_mid = row.y + ROW_H / 2
            child_rows = self.rows(child)
            entry = self.drop(child, child_rows) + self.entry(child, child_rows)
            child_top = max(row_mid - entry, cursor)
            bottom = self.place(child, child_top, child_rows)
            port = device.ports[index]
            self.edges.append(Edge(x + box.w, row_mid, x + NETWORK_W + COLUMN_GAP, child_top + entry, key, child,
                                   planned=port.planned, down=port.is_down,
                                   trunk=self.devices[child].is_network or device.external))
            cursor = bottom + SIBLING_GAP
        return max(y + height, cursor - SIBLING_GAP)


def layout_topology(devices: Sequence[Device]) -> Layout:
    """Return the layered tree of a site's devices: routers at the left, devices on their ports to the right.

    `devices` holds the site's network devices with their ports (in the order to draw them), the
    end devices of the site, and the other sites' devices the ports lead to (``external``).
    """
    tree = _Tree(devices)
    tree.grow()
    top = float(MARGIN)
    for root in tree.roots:
        top = tree.place(root, top, tree.rows(root)) + TREE_GAP
    has_network = bool(tree.roots)
    width = max([b.x + b.w for b in tree.boxes] + [MARGIN + 2 * NETWORK_W + COLUMN_GAP + LEAF_W]) + MARGIN
    loose = [d for d in devices if not d.is_network and not d.external and d.key not in tree.depth]
    unplaced_y = None
    if loose:
        unplaced_y = top if has_network else float(MARGIN)
        per_line = max(1, int((width - 2 * MARGIN + SIBLING_GAP) // (LEAF_W + SIBLING_GAP)))
        for n, device in enumerate(sorted(loose, key=lambda d: (d.name, d.key))):
            line, col = divmod(n, per_line)
            tree.boxes.append(Box(device, MARGIN + col * (LEAF_W + SIBLING_GAP),
                                  unplaced_y + UNPLACED_LABEL_H + line * (LEAF_H + SIBLING_GAP),
                                  LEAF_W, LEAF_H, 0, placed=False))
        lines = -(-len(loose) // per_line)
        top = unplaced_y + UNPLACED_LABEL_H + lines * (LEAF_H + SIBLING_GAP) + TREE_GAP
    return Layout(width, top - TREE_GAP + MARGIN, tree.boxes, tree.edges, unplaced_y, has_network, tree.devices)
