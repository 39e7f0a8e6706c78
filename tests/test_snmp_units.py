"""SNMP pieces that need no namespace: OID parsing, vendors, placement rules, the pass_persist protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sitescout.probes.snmp import mibs
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity, V3User, parse_oid
from sitescout.probes.snmp.models import DeviceSnapshot, FdbEntry, Interface, LldpNeighbor, SystemInfo
from sitescout.probes.snmp.place import place_hosts, uplink_ports


def test_vendor_from_the_enterprise_number() -> None:
    assert mibs.vendor_of("1.3.6.1.4.1.11.2.3.7.11.160") == (11, "HPE")
    assert mibs.vendor_of(".1.3.6.1.4.1.14988.1") == (14988, "MikroTik")
    assert mibs.vendor_of("1.3.6.1.4.1.999999.1") == (999999, None)
    assert mibs.vendor_of("1.3.6.1.2.1.1") == (None, None)
    assert mibs.vendor_of(None) == (None, None)


def test_inet_address_indexes() -> None:
    assert mibs.ip_from_index((1, 4, 198, 51, 100, 7)) == "198.51.100.7"
    assert mibs.ip_from_index((1, 4, 198, 51)) is None  # length does not match
    assert mibs.ip_from_index((2, 16, *([0] * 15), 1)) == "::1"
    assert parse_oid(".1.3.6.1.2.1.1.5.0") == (1, 3, 6, 1, 2, 1, 1, 5, 0)


def test_credentials_are_capped_v3_first_and_redacted() -> None:
    creds = SnmpCredentials(v3_users=(V3User("ops", "auth-secret", "priv-secret"),),
                            communities=tuple(V2cCommunity(f"c{i}-secret") for i in range(5)), max_attempts=3)
    got = creds.candidates()
    assert len(got) == 3 and isinstance(got[0], V3User)
    text = repr(creds)
    assert "secret" not in text and "ops" in text


def _switch(ip: str, name: str, fdb: list[FdbEntry], neighbors: list[LldpNeighbor]) -> DeviceSnapshot:
    snap = DeviceSnapshot(ip, system=SystemInfo(sys_name=name))
    snap.interfaces = {i: Interface(i, name=f"p{i}") for i in range(1, 5)}
    snap.fdb, snap.neighbors = fdb, neighbors
    return snap


def _lldp(port: int, sys_name: str, mgmt: str) -> LldpNeighbor:
    return LldpNeighbor(port, port, f"p{port}", None, None, None, sys_name, None, mgmt)


def test_a_mac_is_placed_on_the_edge_port_not_on_the_uplinks() -> None:
    cam = "02:00:00:00:00:0a"
    core = _switch("198.51.100.3", "core", [FdbEntry(cam, 4, 4, "p4", 10)], [_lldp(4, "edge", "198.51.100.4")])
    edge = _switch("198.51.100.4", "edge", [FdbEntry(cam, 2, 2, "p2", 10), FdbEntry("02:00:00:00:00:99", 1, 1,
                                                                                     "p1", 10, is_self=True)],
                   [_lldp(1, "core", "198.51.100.3")])
    snaps = {s.ip: s for s in (core, edge)}
    assert uplink_ports(snaps) == {"198.51.100.3": {4}, "198.51.100.4": {1}}
    placed = place_hosts(snaps)
    assert (placed[cam].device, placed[cam].port, placed[cam].vlan) == ("198.51.100.4", "p2", 10)
    assert "02:00:00:00:00:99" not in placed  # the switch's own address


def test_without_lldp_the_port_with_fewer_macs_is_the_edge() -> None:
    cam = "02:00:00:00:00:0a"
    many = [FdbEntry(f"02:00:00:00:01:{i:02x}", 3, 3, "p3") for i in range(5)]
    core = _switch("198.51.100.3", "core", [FdbEntry(cam, 3, 3, "p3"), *many], [])
    edge = _switch("198.51.100.4", "edge", [FdbEntry(cam, 2, 2, "p2")], [])
    assert place_hosts({s.ip: s for s in (core, edge)})[cam].device == "198.51.100.4"


def _ask(proc: subprocess.Popen[str], *lines: str) -> list[str]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    first = proc.stdout.readline().strip()
    if first in ("NONE", "PONG"):
        return [first]
    return [first, proc.stdout.readline().strip(), proc.stdout.readline().strip()]


def test_pass_persist_speaks_snmpds_protocol_in_oid_order(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"entity": {"model": "J9983A", "serial": "SG00LAB001", "firmware": "PT.02.12"}}))
    proc = subprocess.Popen([sys.executable, "-m", "sitescout.infra.lab.snmp_passpersist", "--state", str(state),
                             "--mib", "entity"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _ask(proc, "PING") == ["PONG"]
        base = ".1.3.6.1.2.1.47.1.1.1.1"
        assert _ask(proc, "get", f"{base}.13.1") == [f"{base}.13.1", "string", "J9983A"]
        assert _ask(proc, "getnext", ".1.3.6.1.2.1.47") == [f"{base}.2.1", "string", ""]
        assert _ask(proc, "getnext", f"{base}.10.1") == [f"{base}.11.1", "string", "SG00LAB001"]
        assert _ask(proc, "getnext", f"{base}.13.1") == ["NONE"]
        assert _ask(proc, "get", f"{base}.99.1") == ["NONE"]
    finally:
        proc.kill()
        proc.wait()


def test_agents_refuse_a_namespace_that_is_not_a_lab_sites() -> None:
    import pytest

    from sitescout.infra.lab.netns import LabError, LabHost
    from sitescout.infra.lab.snmp_agents import AgentSpec, start_lldpd

    for netns in ("", "default", "ss0000-nosuchsite"):
        with pytest.raises(LabError):
            start_lldpd(LabHost("x", netns, "", ""), AgentSpec("x", "198.51.100.9", lldp_interfaces=("eth0",)),
                        Path("/nonexistent"))


def test_a_collection_keeps_at_most_max_interfaces_and_then_counts_iftable_as_cut() -> None:
    from sitescout.probes.snmp.collect import MAX_COLLECTED_INTERFACES, _interfaces_from_rows
    from sitescout.probes.snmp.survey_stage import interfaces_complete

    assert MAX_COLLECTED_INTERFACES >= 8 * 48  # a stack of eight 48-port switches fits
    rows = {(i,): {1: i, 2: f"port {i}".encode(), 8: 1} for i in range(1, 6)}
    snap = DeviceSnapshot("198.51.100.3", credential="v2c")
    _interfaces_from_rows(snap, rows, {(i,): {1: f"p{i}".encode()} for i in range(1, 6)}, max_interfaces=3)
    assert sorted(snap.interfaces) == [1, 2, 3] and snap.interfaces[3].name == "p3"
    assert snap.truncated == [".".join(map(str, mibs.IF_TABLE))]
    assert not interfaces_complete(snap)  # a cut read never proposes removing the ports it did not keep
    whole = DeviceSnapshot("198.51.100.3", credential="v2c")
    _interfaces_from_rows(whole, rows, {}, max_interfaces=5)
    assert len(whole.interfaces) == 5 and whole.truncated == []
