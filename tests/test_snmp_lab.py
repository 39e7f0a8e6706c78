"""SNMP collection against real agents: Debian snmpd + lldpd in lab namespaces, and a hostile agent.

The lab (``infra/lab/snmp_site.py``) is a router, two switches (sw1 with PoE) and
cameras and hosts behind them; its ground truth says where every host is cabled.
Collection runs inside the scanner namespace (``python -m sitescout.probes.snmp``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import skip_unless_netns

pytestmark = pytest.mark.netns

COMMUNITY = "lab-ro"


def _have_agents() -> bool:
    import shutil

    return all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget"))


@pytest.fixture(scope="module")
def snmp_lab() -> Iterator[Any]:
    """A built SNMP lab with hostile agents; namespaces removed even when a test fails."""
    skip_unless_netns()
    if not _have_agents():
        pytest.skip("needs Debian's snmpd, snmp and lldpd (tests/run.sh installs them)")
    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.snmp_site import SnmpLabSite, build_snmp_lab, start_hostile_agents

    LabSite.cleanup_stale()
    site = SnmpLabSite()
    try:
        lab = build_snmp_lab(site)
        lab.hostile = start_hostile_agents(site)
        yield lab
    finally:
        site.close()


def _collect(lab: Any, devices: list[str], credentials: dict[str, Any], **settings: Any) -> dict[str, Any]:
    request = {"devices": devices, "credentials": credentials, "settings": settings}
    cp = lab.scanner.run([sys.executable, "-m", "sitescout.probes.snmp"], input=json.dumps(request), timeout=120)
    assert cp.returncode == 0, cp.stderr[-2000:]
    return json.loads(cp.stdout)  # type: ignore[no-any-return]


def _v2c() -> dict[str, Any]:
    return {"communities": [COMMUNITY]}


def _collect_with_lldp(lab: Any) -> dict[str, Any]:
    """Collect every agent, retrying until lldpd has heard every neighbour (LLDP runs every second)."""
    deadline = time.monotonic() + 15
    while True:
        answer = _collect(lab, list(lab.agents), _v2c())
        have = {ip: {n["local_port"] for n in answer["devices"][ip]["neighbors"]} for ip in lab.truth.neighbors}
        if all(set(lab.truth.neighbors[ip]) <= have[ip] for ip in have) or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def test_v3_authpriv_works_and_a_wrong_key_is_an_auth_error(snmp_lab: Any) -> None:
    # One collection, no retry anywhere: the silent-v3 processes came from a persistent net-snmp file
    # that the client no longer reads or writes (docs/snmp.md, Known issues).
    from sitescout.infra.lab.snmp_site import LAB_V3_USER as U

    good = {"v3": [{"username": U.name, "auth_key": U.auth_key, "priv_key": U.priv_key}]}
    snap = _collect(snmp_lab, ["198.51.100.3"], good)["devices"]["198.51.100.3"]
    assert snap["error_kind"] is None and snap["credential"] == f"v3:{U.name}", (
        snap["duration_s"],
        snap["requests"],
        snap["error"],
    )
    assert snap["system"]["sys_name"] == "sw1" and snap["fdb"]
    bad = {"v3": [{"username": U.name, "auth_key": "not-the-key-1", "priv_key": U.priv_key}]}
    snap = _collect(snmp_lab, ["198.51.100.3"], bad)["devices"]["198.51.100.3"]
    assert snap["error_kind"] == "auth"
    assert "not-the-key" not in json.dumps(snap)
    unknown = {"v3": [{"username": "nobody", "auth_key": "whatever-123", "priv_key": "whatever-123"}]}
    assert _collect(snmp_lab, ["198.51.100.3"], unknown)["devices"]["198.51.100.3"]["error_kind"] == "auth"


def test_collection_matches_the_lab_ground_truth(snmp_lab: Any) -> None:
    truth = snmp_lab.truth
    answer = _collect_with_lldp(snmp_lab)
    devices = answer["devices"]
    for ip, snap in devices.items():
        assert snap["error_kind"] is None, (ip, snap["error"])
        assert snap["credential"] == "v2c"
    # identity: system group, ENTITY-MIB, vendor from the enterprise number
    for ip, ident in truth.identity.items():
        snap = devices[ip]
        assert snap["system"]["sys_name"] == ident["sys_name"]
        assert snap["system"]["vendor"] == ident["vendor"]
        if "model" in ident:
            assert snap["entity"]["model"] == ident["model"]
            assert snap["entity"]["serial"] == ident["serial"]
            assert snap["entity"]["firmware"]
    # every host on its switch port (FDB on edge ports, IP from the router's ARP table)
    attachments = answer["attachments"]
    by_ip = {ip: a for a in attachments.values() for ip in a["ips"]}
    for host_ip, (switch_ip, port) in truth.ports.items():
        assert host_ip in by_ip, f"{host_ip} not placed; attachments: {attachments}"
        assert (by_ip[host_ip]["device"], by_ip[host_ip]["port"]) == (switch_ip, port), host_ip
    for host_ip, mac in truth.macs.items():
        assert attachments[mac]["device"] == truth.ports[host_ip][0]
    # the camera that speaks LLDP is confirmed by it
    assert by_ip["198.51.100.10"]["lldp_confirmed"] is True
    assert by_ip["203.0.113.10"]["vlan"] == 20 and by_ip["198.51.100.11"]["vlan"] == 10
    # every LLDP neighbour, with its management address
    address_of = {i["sys_name"]: ip for ip, i in truth.identity.items()} | {"cam0": "198.51.100.10"}
    for agent_ip, expected in truth.neighbors.items():
        seen = {n["local_port"]: n for n in devices[agent_ip]["neighbors"]}
        assert set(seen) == set(expected), agent_ip
        for port, sys_name in expected.items():
            assert seen[port]["sys_name"] == sys_name, (agent_ip, port)
            assert seen[port]["mgmt_address"] == address_of[sys_name], (agent_ip, port)
    # PoE: per-port draw (HP-ICF-POE-MIB, mW), mapped to the port by ifIndex, and the budget
    for switch_ip, ports in truth.poe_mw.items():
        poe = {p["port_name"]: p for p in devices[switch_ip]["poe_ports"]}
        assert {name: poe[name]["power_mw"] for name in ports} == ports
        assert all(poe[name]["delivering"] == (mw > 0) for name, mw in ports.items())
        budget = devices[switch_ip]["poe_budgets"][0]
        assert budget["power_w"] == truth.poe_budget_w[switch_ip]
        assert budget["consumption_w"] == round(sum(ports.values()) / 1000)
    assert devices["198.51.100.4"]["poe_ports"] == []
    # uplink speed (snmpd 'override'; veth itself always says 10 Gb/s)
    for switch_ip, (port, mbps) in truth.uplinks.items():
        ifaces = {i["name"]: i for i in devices[switch_ip]["interfaces"].values()}
        assert ifaces[port]["speed_bps"] == mbps * 1_000_000
        assert ifaces[port]["oper_up"] is True
        assert isinstance(ifaces[port]["in_octets"], int)  # ifHCInOctets read (net-snmp caches it)


def _bad_community_count(lab: Any) -> int:
    # SNMPv2-MIB snmpInBadCommunityNames.0 on the agent itself
    cp = lab.scanner.run(["snmpget", "-v2c", "-c", COMMUNITY, "-Oqv", "198.51.100.3", "1.3.6.1.2.1.11.4.0"],
                         env={"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"})
    return int(cp.stdout.strip())


def test_credentials_are_tried_in_order_within_the_cap(snmp_lab: Any) -> None:
    wrong = [f"wrong-{i}" for i in range(5)]
    before = _bad_community_count(snmp_lab)
    snap = _collect(snmp_lab, ["198.51.100.3"], {"communities": [*wrong, COMMUNITY], "max_attempts": 3},
                    timeout_s=0.3)["devices"]["198.51.100.3"]
    # v2c cannot tell a wrong community from silence: past the cap the device is unreachable
    assert snap["error_kind"] == "unreachable"
    assert _bad_community_count(snmp_lab) - before == 3  # the agent saw exactly three attempts
    snap = _collect(snmp_lab, ["198.51.100.3"], {"communities": [wrong[0], COMMUNITY], "max_attempts": 3},
                    timeout_s=0.3)["devices"]["198.51.100.3"]
    assert snap["error_kind"] is None and snap["credential"] == "v2c"


def test_hostile_agents_end_as_errors_within_their_budget_while_the_others_complete(snmp_lab: Any) -> None:
    hostile = snmp_lab.hostile
    budget_s = 4.0
    started = time.monotonic()
    answer = _collect(snmp_lab, [*snmp_lab.agents, *hostile.values()], _v2c(), budget_s=budget_s, timeout_s=1.0)
    elapsed = time.monotonic() - started
    devices = answer["devices"]
    for ip in snmp_lab.agents:
        assert devices[ip]["error_kind"] is None, (ip, devices[ip]["error"])
    assert devices[hostile["slow"]]["error_kind"] == "unreachable"  # answers after 30 s
    assert devices[hostile["community"]]["error_kind"] == "unreachable"  # knows another community
    assert devices[hostile["loop"]]["error_kind"] == "malformed"
    assert "not increasing" in devices[hostile["loop"]]["error"]
    million = devices[hostile["million"]]
    assert million["error_kind"] == "timeout" or million["truncated"] == ["1.3.6.1.2.1.2.2.1"]
    wrong = devices[hostile["wrongtype"]]
    assert wrong["error_kind"] is None and wrong["system"]["sys_object_id"] is None
    assert all(i["mac"] is None and i["in_octets"] is None for i in wrong["interfaces"].values())
    for ip in hostile.values():
        assert devices[ip]["duration_s"] <= budget_s + 0.5, (ip, devices[ip]["duration_s"])
    assert elapsed < budget_s + 10  # in parallel: the slow ones do not add up
