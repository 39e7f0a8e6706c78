"""A real survey of the SNMP lab (Debian's snmpd and lldpd in namespaces) ingested, its network proposals applied.

``sitescout survey`` runs in the lab's scanner namespace (v2c community only); the document is
ingested into an inventory that knows the lab's router, switches and hosts by address; applying
every proposal must give each host a cable to the port the lab's ground truth says, each switch
its uplink marked with the real speed and cabled to the port its LLDP neighbour names, and the
targets' SNMP labels the uplinks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sitescout.infra.lab.pytest_plugin import snmp_lab_site
from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.model_network import Interface
from sitescout.inventory.models import Commune, Device, Region, Site
from sitescout.inventory.network import site_network
from sitescout.inventory.workflow import apply_survey_findings, site_findings

pytestmark = pytest.mark.netns

COMMUNITY = "lab-ro"


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    """The SNMP lab: router rt1, sw1 (PoE), sw2, cameras and a PC behind them (no hostile agents)."""
    with snmp_lab_site() as (_site, built):
        yield built


def _survey(lab: Any, tmp: Path) -> dict[str, Any]:
    creds = tmp / "site.toml"
    creds.write_text(f'[snmp]\nmax_attempts = 1\ncommunities = ["{COMMUNITY}"]\n')
    cp = lab.scanner.run([sys.executable, "-m", "sitescout", "--lang", "en", "survey", "--site", "lab",
                          "--network", "198.51.100.0/24", "--network", "203.0.113.0/24", "--credentials", str(creds),
                          "--json", "-", "--no-streams", "--wait", "1", "--snmp-all"], timeout=240)
    assert cp.returncode == 0, cp.stderr[-3000:]
    doc: dict[str, Any] = json.loads(cp.stdout)
    return doc


def test_a_real_survey_cables_every_host_to_its_port_and_marks_the_uplinks(lab: Any, tmp_path: Path) -> None:
    truth = lab.truth
    names = {ip: ident["sys_name"] for ip, ident in truth.identity.items()}
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    try:
        with database.session() as session:
            site = Site(name="lab", commune=Commune(name="Xã thử", region=Region(name="Tỉnh thử")))
            for ip in sorted(set(truth.ports) - {lab.scanner.ip}):
                kind = "router" if ip == lab.router.ip else "other"
                site.devices.append(Device(name=names.get(ip, f"host {ip}"), kind=kind, ip=ip))
            for ip, ident in truth.identity.items():
                if ip not in truth.ports and ip != lab.router.ip:
                    site.devices.append(Device(name=ident["sys_name"], kind="switch", ip=ip))
            session.add(site)
            session.flush()
            site_id = site.id
        doc = _survey(lab, tmp_path)
        with database.session() as session:
            survey_id = store.ingest_survey(session, doc, site_id=site_id).survey_id
        with database.session() as session:
            codes = {f.code for f in site_findings(session, site_id, status="open")}
            assert {"interfaces_found", "port_uplink", "cabled_to", "lldp_link"} <= codes, codes
            applied, refused = apply_survey_findings(session, site_id, survey_id, actor="test")
            assert not refused, refused
        with database.session() as session:
            views = {v.ip: v for v in site_network(session, site_id)}
            devices = {d.id: d.ip for d in session.scalars(select(Device).where(Device.site_id == site_id))}
            cabled = {devices[p.peer_device_id]: (ip, p.name) for ip, v in views.items() for p in v.ports
                      if p.peer_device_id is not None and devices[p.peer_device_id] not in views}
            expected = {ip: where for ip, where in truth.ports.items() if ip != lab.scanner.ip and ip not in views}
            assert len(expected) == 5 and cabled == expected  # cam0-3 and the PC, on sw1 and sw2
            router_port = truth.ports[lab.router.ip]
            (rt_link,) = [p for p in views[router_port[0]].ports if p.name == router_port[1]]
            assert rt_link.peer_device_id is not None and devices[rt_link.peer_device_id] == lab.router.ip
            rt_iface = session.scalar(select(Interface).join(Device).where(
                Device.ip == lab.router.ip, Interface.name == rt_link.peer_port))
            assert rt_iface is not None and rt_iface.mac == truth.macs[lab.router.ip]  # its own port, by MAC
            known, checked = {ident["sys_name"] for ident in truth.identity.values()}, 0
            for agent_ip, neighbours in truth.neighbors.items():  # every LLDP neighbour is at the far end
                if agent_ip in views:
                    peers = {p.name: p.peer_device for p in views[agent_ip].ports}
                    wanted = {port: name for port, name in neighbours.items() if name in known}
                    assert {port: peers.get(port) for port in wanted} == wanted, agent_ip
                    checked += len(wanted)
            assert checked >= 4  # sw1: both router links and the uplink to sw2; sw2: its uplink to sw1
            for switch_ip, (port, mbps) in truth.uplinks.items():
                ports = {p.name: p for p in views[switch_ip].ports}
                assert ports[port].uplink and ports[port].speed_bps == mbps * 1_000_000, switch_ip
            poe = {p.name for p in views[next(iter(truth.poe_mw))].ports if p.poe}
            assert set(truth.poe_mw[next(iter(truth.poe_mw))]) <= poe
            groups = json.loads(store.prometheus_targets_json(session))
        labels = {g["targets"][0]: g["labels"] for g in groups}
        for switch_ip, (port, _mbps) in truth.uplinks.items():
            assert port in labels[switch_ip]["__meta_sitescout_snmp_uplinks"].split(","), switch_ip
            assert labels[switch_ip]["__meta_sitescout_snmp_port"] == "161"
    finally:
        database.close()
