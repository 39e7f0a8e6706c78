"""The topology graph's layout (web/topology_layout.py): pure geometry, no app, no database."""

from __future__ import annotations

import itertools

from sitescout.web.topology_layout import (
    COLUMN_GAP, LEAF_W, MAX_DEPTH, NETWORK_W, ROW_H, Box, Device, Layout, Port, layout_topology,
)


def _overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _check_geometry(lay: Layout) -> None:
    """Every box inside the picture, no two boxes overlap, each device drawn once, edges start and end on boxes."""
    keys = [b.device.key for b in lay.boxes]
    assert len(keys) == len(set(keys)), keys
    for box in lay.boxes:
        assert 0 <= box.x and box.x + box.w <= lay.width and 0 <= box.y and box.y + box.h <= lay.height, box
    for a, b in itertools.combinations(lay.boxes, 2):
        assert not _overlaps(a, b), (a.device.name, b.device.name)
    for edge in lay.edges:
        src, dst = lay.box(edge.src), lay.box(edge.dst)
        assert src is not None and dst is not None
        assert edge.x1 == src.x + src.w and edge.x2 == dst.x and src.y <= edge.y1 <= src.y + src.h
        assert dst.y <= edge.y2 <= dst.y + dst.h


def _site() -> list[Device]:
    """A router, a PoE switch with two cameras and a loudspeaker, a second switch behind it, a host placed nowhere."""
    return [
        Device(1, "rt", "router", "198.51.100.1", ports=(
            Port("ether1", 100_000_000, uplink=True, oper_up=True),
            Port("ether2", 1_000_000_000, peer=2, peer_port="ge-0/0/8"))),
        Device(2, "sw1", "switch", "198.51.100.2", ports=(
            Port("ge-0/0/1", 1_000_000_000, poe=True, poe_w=5.2, peer=10, peer_port="eth0"),
            Port("ge-0/0/2", 100_000_000, poe=True, peer=11, peer_port="eth0", oper_up=False),
            Port("ge-0/0/3", poe=True, peer=12, peer_port="eth0", planned=True),
            Port("ge-0/0/4", poe=True),
            Port("ge-0/0/7", peer=3, peer_port="p1"),
            Port("ge-0/0/8", 1_000_000_000, uplink=True, utilisation=0.35, peer=1, peer_port="ether2"))),
        Device(3, "sw2", "switch", ports=(Port("p1", peer=2, peer_port="ge-0/0/7"), Port("p2", peer=13))),
        Device(10, "cam gate", "camera", "198.51.100.10", health="problem"),
        Device(11, "cam yard", "camera", "198.51.100.11"),
        Device(12, "speaker", "loudspeaker", "198.51.100.20"),
        Device(13, "ap", "access_point"),
        Device(14, "pc", "computer"),
    ]


def test_router_switches_ports_devices_left_to_right() -> None:
    lay = layout_topology(_site())
    _check_geometry(lay)
    assert lay.has_network
    depth = {b.device.name: b.depth for b in lay.boxes if b.placed}
    assert depth == {"rt": 0, "sw1": 1, "cam gate": 2, "cam yard": 2, "speaker": 2, "sw2": 2, "ap": 3}
    rt, sw1, sw2 = lay.box(1), lay.box(2), lay.box(3)
    assert rt and sw1 and sw2 and sw1.x == rt.x + NETWORK_W + COLUMN_GAP and sw2.x == sw1.x + NETWORK_W + COLUMN_GAP
    # sw1's rows: its cabled ports in order, ge-0/0/4 (no cable, not up) folded into one counted row.
    assert [(r.role, r.port.name if r.port else r.hidden) for r in sw1.rows] == [
        ("child", "ge-0/0/1"), ("child", "ge-0/0/2"), ("child", "ge-0/0/3"), ("child", "ge-0/0/7"),
        ("parent", "ge-0/0/8"), ("rest", 1)]
    assert [(r.role, r.port.name if r.port else "") for r in rt.rows] == [("free", "ether1"), ("child", "ether2")]
    # The cable router → sw1 enters sw1 at its uplink row, level: a straight line.
    trunk = next(e for e in lay.edges if e.dst == 2)
    assert trunk.trunk and trunk.y1 == trunk.y2 == sw1.rows[4].y + ROW_H / 2 and " C" not in trunk.path
    edges = {(e.src, e.dst): e for e in lay.edges}
    assert set(edges) == {(1, 2), (2, 10), (2, 11), (2, 12), (2, 3), (3, 13)}
    assert edges[(2, 11)].down and edges[(2, 12)].planned and not edges[(2, 10)].trunk
    # A host on no port is not placed: below the tree.
    pc = lay.box(14)
    assert pc is not None and not pc.placed and lay.unplaced_y is not None
    assert pc.y > max(b.y + b.h for b in lay.boxes if b.placed) and pc.w == LEAF_W


def test_no_switch_means_no_graph() -> None:
    lay = layout_topology([Device(10, "cam", "camera"), Device(11, "speaker", "loudspeaker")])
    assert not lay.has_network and lay.edges == []
    assert all(not b.placed for b in lay.boxes) and lay.unplaced_y is not None
    empty = layout_topology([])
    assert not empty.has_network and empty.boxes == [] and empty.unplaced_y is None


def test_a_loop_of_cables_draws_each_device_once() -> None:
    """rt → sw1 → sw2 → sw3 → sw1 (a ring) and a second cable sw1 ↔ sw2: four boxes, three edges, the rest named."""
    devices = [
        Device(1, "rt", "router", ports=(Port("e1", peer=2, peer_port="a1"),)),
        Device(2, "sw1", "switch", ports=(Port("a1", peer=1), Port("a2", peer=3, peer_port="b1"),
                                          Port("a3", peer=4, peer_port="c2"), Port("a4", peer=3, peer_port="b3"))),
        Device(3, "sw2", "switch", ports=(Port("b1", peer=2), Port("b2", peer=4, peer_port="c1"),
                                          Port("b3", peer=2, peer_port="a4"))),
        Device(4, "sw3", "switch", ports=(Port("c1", peer=3), Port("c2", peer=2))),
    ]
    lay = layout_topology(devices)
    _check_geometry(lay)
    assert sorted(b.device.key for b in lay.boxes) == [1, 2, 3, 4]
    assert sorted((e.src, e.dst) for e in lay.edges) == [(1, 2), (2, 3), (2, 4)]  # breadth first: both at depth 2
    sw2, sw3 = lay.box(3), lay.box(4)
    assert sw2 and sw3
    assert [(r.role, r.seen) for r in sw2.rows] == [("parent", None), ("seen", 4), ("seen", 2)]
    assert [(r.role, r.seen) for r in sw3.rows] == [("seen", 3), ("parent", None)]


def test_a_48_port_switch_folds_its_unused_ports_into_one_line() -> None:
    ports = tuple(Port(f"1/{n}", 1_000_000_000, poe=True, enabled=n != 30,
                       oper_up=False if n == 40 else None,
                       peer=100 + n if n in (1, 2, 3) else None) for n in range(1, 49))
    ports = (*ports[:47], Port("1/48", 10_000_000_000, uplink=True, oper_up=True))
    devices = [Device(1, "sw48", "switch", ports=ports)] + [Device(100 + n, f"cam{n}", "camera") for n in (1, 2, 3)]
    lay = layout_topology(devices)
    _check_geometry(lay)
    sw = lay.box(1)
    assert sw is not None
    assert [(r.role, r.port.name if r.port else r.hidden) for r in sw.rows] == [
        ("child", "1/1"), ("child", "1/2"), ("child", "1/3"), ("free", "1/48"), ("rest", 44)]
    assert sw.h < 8 * ROW_H + 60  # five rows, not 48
    assert lay.height < 300


def test_a_switch_whose_uplink_leads_to_another_site_hangs_from_that_sites_device() -> None:
    devices = [
        Device(2, "sw-village", "switch", ports=(Port("p1", peer=10), Port("p8", uplink=True, peer=90,
                                                                            peer_port="ge-1/0/3"))),
        Device(10, "cam", "camera"),
        Device(90, "Commune office: core", "switch", site_id=7, external=True),
    ]
    lay = layout_topology(devices)
    _check_geometry(lay)
    core, sw = lay.box(90), lay.box(2)
    assert core and sw and core.depth == 0 and sw.depth == 1
    assert [(r.role, r.port.name if r.port else "") for r in core.rows] == [("child", "ge-1/0/3")]
    assert [r.role for r in sw.rows] == ["child", "parent"]


def test_a_routers_way_out_to_another_site_is_a_row_not_a_column() -> None:
    devices = [
        Device(1, "rt", "router", ports=(Port("wan", uplink=True, peer=90, peer_port="ge-1/0/3"),
                                         Port("lan", peer=2))),
        Device(2, "sw", "switch", ports=(Port("p8", uplink=True, peer=1),)),
        Device(90, "Commune office: core", "switch", site_id=7, external=True),
    ]
    lay = layout_topology(devices)
    _check_geometry(lay)
    rt = lay.box(1)
    assert rt is not None and rt.depth == 0 and lay.box(90) is None
    assert [(r.role, r.seen) for r in rt.rows] == [("away", 90), ("child", None)]
    assert lay.devices[90].name == "Commune office: core"


def test_a_chain_deeper_than_the_limit_goes_on_as_a_tree_of_its_own() -> None:
    n = MAX_DEPTH + 10
    devices = [Device(k, f"sw{k}", "switch", ports=tuple(
        p for p in (Port("down", peer=k + 1) if k + 1 < n else None, Port("up", peer=k - 1) if k else None) if p))
        for k in range(n)]
    lay = layout_topology(devices)
    assert len(lay.boxes) == n and max(b.depth for b in lay.boxes) == MAX_DEPTH
    assert len(lay.edges) == n - 2  # one cable of the chain is where the second tree starts, named in a row
    _check_geometry(lay)


def test_many_devices_on_many_ports_never_overlap() -> None:
    switches = [Device(s, f"sw{s}", "switch", ports=tuple(
        Port(f"p{p}", peer=1000 + s * 100 + p if p % 3 else None) for p in range(1, 25))
        + ((Port("up", peer=s - 1),) if s > 1 else ()) + ((Port("down", peer=s + 1),) if s < 4 else ()))
        for s in range(1, 5)]
    leaves = [Device(1000 + s * 100 + p, f"cam{s}.{p}", "camera") for s in range(1, 5) for p in range(1, 25) if p % 3]
    lay = layout_topology(switches + leaves)
    _check_geometry(lay)
    assert len(lay.edges) == len(leaves) + 3
