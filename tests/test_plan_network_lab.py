"""Network facts from a real survey: `sitescout survey` of the SNMP lab (real snmpd and lldpd), read by the planner.

The lab (``infra/lab/snmp_site.py``): router rt1 cabled to sw1 on two ports, sw1 (PoE, 120 W) with the
cameras and the scanner, sw2 behind sw1's ``up2`` with a camera and a PC.  Every port of the lab is
cabled and up; this test adds one spare port to sw1 with nothing on it (``p99``, no PoE).  So a camera
on mains gets p99, and a PoE camera has no port, and the plan says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from test_plan_network import plan_input

from sitescout.infra.lab.pytest_plugin import snmp_lab_site
from sitescout.inventory.planning.network_facts import network_from_document
from sitescout.inventory.planning.plan_input import parse_plan_input
from sitescout.inventory.planning.plan_io import make_plan

pytestmark = pytest.mark.netns

COMMUNITY = "lab-ro"
FREE_PORT = "p99"


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    """The SNMP lab without hostile agents or camera simulators (the switches are what matters here)."""
    with snmp_lab_site() as (site, built):
        # One spare port on sw1: administratively up, nothing cabled (its veth peer stays down).
        for cmd in (["link", "add", FREE_PORT, "type", "veth", "peer", "name", f"{FREE_PORT}x"],
                    ["link", "set", FREE_PORT, "up"]):
            subprocess.run(["ip", "-n", site.switch, *cmd], check=True, capture_output=True, timeout=30)
        yield built


@pytest.fixture(scope="module")
def document(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The survey document of the lab, as a technician's `sitescout survey --json -` writes it."""
    creds = tmp_path_factory.mktemp("plan-net") / "site.toml"
    creds.write_text(f'[snmp]\nmax_attempts = 2\ncommunities = ["{COMMUNITY}"]\n')
    cp = lab.scanner.run([sys.executable, "-m", "sitescout", "--lang", "en", "survey", "--site", "lab",
                          "--network", "198.51.100.0/24", "--network", "203.0.113.0/24", "--credentials", str(creds),
                          "--json", "-", "--no-streams", "--wait", "1", "--snmp-all"], timeout=240)
    assert cp.returncode == 0, cp.stderr[-3000:]
    doc: dict[str, Any] = json.loads(cp.stdout)
    return doc


def test_lab_switches_poe_and_uplinks_match_the_ground_truth(lab: Any, document: dict[str, Any]) -> None:
    net = network_from_document(document)
    assert net is not None and net.surveyed_at == document["finished_at"]
    switches = {s.ip: s for s in net.switches}
    truth = lab.truth
    sw1_ip = next(iter(truth.poe_budget_w))
    sw2_ip = next(ip for ip in truth.uplinks if ip != sw1_ip)
    assert set(switches) == {sw1_ip, sw2_ip}, switches  # the router and the camera agent are no switches
    sw1, sw2 = switches[sw1_ip], switches[sw2_ip]
    assert (sw1.name, sw2.name) == ("sw1", "sw2")
    assert sw1.poe_budget_w == truth.poe_budget_w[sw1_ip]
    assert sw1.poe_used_w == pytest.approx(sum(truth.poe_mw[sw1_ip].values()) / 1000, abs=0.5)
    # sw1's way out is toward the router (cabled on two ports; the first is taken); sw2's is its link to sw1.
    router_ports = {port for port, name in truth.neighbors[sw1_ip].items() if name == "rt1"}
    assert sw1.uplink_port in router_ports and sw1.uplink_found_by == "toward_router"
    up_port, up_mbps = truth.uplinks[sw2_ip]
    assert (sw2.uplink_port, sw2.uplink_speed_bps) == (up_port, up_mbps * 1_000_000)
    # The SNMP stage reads a switch's counters twice (--snmp-interval): the uplink's utilisation is measured;
    # the lab's uplink carries only the survey's own packets, far below 1 %.
    assert sw2.utilisation_note == "measured" and sw2.uplink_utilisation is not None
    assert 0.0 <= sw2.uplink_utilisation < 0.01
    # Every lab port is cabled and up but the spare one, which has no PoE.
    assert sw1.free_ports == (FREE_PORT,) and sw1.free_poe_ports == () and sw2.free_ports == ()


def test_a_plan_on_the_lab_site_gets_the_spare_port_or_says_there_is_none(document: dict[str, Any]) -> None:
    net = network_from_document(document)
    assert net is not None
    doc = plan_input(mounts=2, network=net.to_dict())
    doc["mounts"][1]["power"] = "mains"
    inp = parse_plan_input(doc)
    assert inp.network["source"] == "survey" and inp.network["switch"] == "sw1"
    result = make_plan(inp, 2, time_limit_s=1)
    # m0 (PoE) has no free PoE port; m1 (mains) takes the spare port.
    assert [c.mount_id for c in result.checks if not c.is_feasible] == ["m0"]
    assert [r.code for r in result.checks[0].all_reasons()] == ["no_free_poe_port"]
    assert [p.mount_id for p in result.chosen] == ["m1"]
    port = result.switch_ports()[0]
    assert port is not None and (port.switch, port.port, port.poe) == ("sw1", FREE_PORT, False)
