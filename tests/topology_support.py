"""A survey document with a router, two switches and devices on their ports, shaped as the SNMP stage writes it."""

from __future__ import annotations

from typing import Any


def _iface(index: int, name: str, *, speed: int = 1_000_000_000, up: bool = True, uplink: bool = False,
           poe_w: float | None = None) -> dict[str, Any]:
    return {"if_index": index, "name": name, "alias": None, "mac": None, "speed_bps": speed, "admin_up": True,
            "oper_up": up, "in_errors": 0, "out_errors": 0, "uplink": uplink,
            "poe": None if poe_w is None else {"enabled": True, "delivering": poe_w > 0, "class": 3, "power_w": poe_w}}


def _agent(name: str, vendor: str, model: str | None, interfaces: list[dict[str, Any]],
           neighbors: list[tuple[str, str, str, str]], fdb: int, device_class: str | None = None) -> dict[str, Any]:
    return {"credential": "v2c", "sys_name": name, "sys_descr": f"{vendor} {model or ''} (test)",
            "sys_object_id": None, "sys_location": None, "enterprise": None, "vendor": vendor, "model": model,
            "serial": None, "firmware": None, "hardware_rev": None, "manufacturer": None, "default_communities": [],
            "interfaces": interfaces, "uplinks": [i["name"] for i in interfaces if i["uplink"]],
            "neighbors": [{"port": port, "sys_name": far, "chassis_id": None, "port_id": far_port,
                           "port_desc": far_port, "mgmt_address": addr} for port, far, far_port, addr in neighbors],
            "fdb_entries": fdb, "poe": None, "truncated": [], "error_kind": None, "error": None,
            "credentials_tried": 1, "duration_s": 0.2, "device_class": device_class}


def _host(ip: str, kind: str = "host", *, snmp: dict[str, Any] | None = None, on: tuple[str, str, str] | None = None,
          vendor: str | None = None, model: str | None = None, device_class: str | None = None) -> dict[str, Any]:
    return {"ip": ip, "mac": None, "vendor": vendor, "open_ports": [], "kind": kind, "link": None,
            "onvif": {"manufacturer": "HIKVISION", "model": model, "profiles": []} if kind == "camera" else None,
            "streams": [], "errors": [], "snapshot": None, "snmp": snmp,
            "attached_to": None if on is None else {"device": on[0], "port": on[1], "switch": on[2], "vlan": 10,
                                                    "lldp_confirmed": False},
            "device_class": {"kind": device_class, "source": "snmp"} if device_class else None}


def topology_survey(site: str = "Thôn Đồng Bùa") -> dict[str, Any]:
    """rt1 ─ sw1 (cameras .10 .11 .13 on p1–p3, PoE) ═ up2–up1 ═ sw2 (camera .12, speaker .100); .50 nowhere."""
    rt1 = _agent("rt1", "MikroTik", "RB750Gr3", [_iface(2, "eth0"), _iface(3, "eth1")],
                 [("eth0", "sw1", "p5", "198.51.100.3"), ("eth1", "sw1", "p6", "198.51.100.3")], 0, "router")
    sw1 = _agent("sw1", "HPE", "J9983A",
                 [_iface(1, "lo"), _iface(4, "p1", poe_w=6.5), _iface(5, "p2", poe_w=12.95),
                  _iface(6, "p3", speed=100_000_000), _iface(7, "p4", up=False), _iface(8, "p5"), _iface(9, "p6"),
                  _iface(10, "up2", uplink=True)],
                 [("p5", "rt1", "eth0", "198.51.100.1"), ("p6", "rt1", "eth1", "198.51.100.1"),
                  ("up2", "sw2", "up1", "198.51.100.4")], 12, "switch")
    sw2 = _agent("sw2", "TP-Link", "TL-SG2210MP", [_iface(3, "p1"), _iface(4, "p2"), _iface(2, "up1", uplink=True)],
                 [("up1", "sw1", "up2", "198.51.100.3")], 5, "switch")
    on1, on2 = ("198.51.100.3", "sw1"), ("198.51.100.4", "sw2")
    hosts = [
        _host("198.51.100.1", snmp=rt1, on=(on1[0], "p5", on1[1]), device_class="router"),
        _host("198.51.100.3", snmp=sw1, device_class="switch"),
        _host("198.51.100.4", snmp=sw2, on=(on1[0], "up2", on1[1]), device_class="switch"),
        _host("198.51.100.10", "camera", on=(on1[0], "p1", on1[1]), model="DS-2CD2012I"),
        _host("198.51.100.11", "camera", on=(on1[0], "p2", on1[1]), model="DS-2CD2143G2"),
        _host("198.51.100.12", "camera", on=(on2[0], "p1", on2[1]), model="DS-2CD1023G0"),
        _host("203.0.113.10", "camera", on=(on1[0], "p3", on1[1]), model="DS-2CD1043G0"),
        _host("198.51.100.100", on=(on2[0], "p2", on2[1]), vendor="Hangzhou Paging Co.", device_class="loudspeaker"),
        _host("198.51.100.50", vendor="Unknown maker"),
    ]
    return {"site": site, "started_at": "2026-12-06T08:00:00+00:00", "finished_at": "2026-12-06T08:03:00+00:00",
            "networks": ["198.51.100.0/24", "203.0.113.0/24"], "hosts": hosts}


def chain_survey(count: int, *, loop: bool = False) -> dict[str, Any]:
    """``count`` switches cabled in a chain (sw0 e2 ─ e1 sw1 …), the last back to the first when ``loop``."""
    ips = [f"10.0.{n // 250}.{n % 250 + 1}" for n in range(count)]
    hosts = []
    for n, ip in enumerate(ips):
        neighbors = []
        if n:
            neighbors.append(("e1", f"sw{n - 1}", "e2", ips[n - 1]))
        if n + 1 < count or loop:
            nxt = (n + 1) % count
            neighbors.append(("e2", f"sw{nxt}", "e1", ips[nxt]))
        agent = _agent(f"sw{n}", "TP-Link", None, [_iface(1, "e1"), _iface(2, "e2")], neighbors, 3, "switch")
        hosts.append(_host(ip, snmp=agent, device_class="switch"))
    return {"site": "chain", "started_at": "2026-12-06T08:00:00+00:00", "finished_at": "2026-12-06T08:03:00+00:00",
            "networks": ["10.0.0.0/16"], "hosts": hosts}
