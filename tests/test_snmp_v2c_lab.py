"""The pure-Python SNMPv2c client against the real lab agents (Debian snmpd + lldpd) and the hostile ones.

Every lab agent is collected by net-snmp (ezsnmp), then the native client, then net-snmp again, in one
process in the scanner namespace, the survey's way (every section) and the worker's (its columns): the
native snapshot must equal net-snmp's field by field wherever the two net-snmp reads agree, and lie
between them where they do not (uptime and octet counters move: LLDP sends every second).
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

_BRACKET = """
import dataclasses, json, sys
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity
from sitescout.probes.snmp.collect import CollectSettings, collect_device
ip, community = sys.argv[1], sys.argv[2]
creds = SnmpCredentials(communities=(V2cCommunity(community),))
out = {}
for name, extra in (("all", {}), ("monitoring", {"sections": ("interfaces", "poe"), "monitoring": True})):
    for n, client in enumerate(("netsnmp", "native", "netsnmp")):
        snap = collect_device(ip, creds, CollectSettings(budget_s=20, timeout_s=2, v2c_client=client, **extra))
        out[f"{name}/{n}"] = dataclasses.asdict(snap)
print(json.dumps(out, default=lambda o: o.value))
"""

#: Fields that may move between two reads a moment apart (and must then move forward).
_MOVING = ("system.uptime_ticks", ".in_octets", ".out_octets", "duration_s")


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{path}[{i}]").items()} | {
            f"{path}#": len(value)}
    return {path.lstrip("."): value}


@pytest.fixture(scope="module")
def snmp_lab() -> Iterator[Any]:
    """The SNMP lab with its hostile agents; namespaces removed even when a test fails."""
    skip_unless_netns()
    import shutil

    if not all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget")):
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


def _bracket(lab: Any, ip: str) -> dict[str, Any]:
    from sitescout.infra.lab.snmp_site import LAB_COMMUNITY

    cp = lab.scanner.run([sys.executable, "-c", _BRACKET, ip, LAB_COMMUNITY], timeout=120)
    assert cp.returncode == 0, cp.stderr[-2000:]
    return json.loads(cp.stdout)  # type: ignore[no-any-return]


def test_the_native_client_reads_what_net_snmp_reads(snmp_lab: Any) -> None:
    """Every lab agent, every section and the worker's columns: the same snapshot through both clients."""
    compared = 0
    for ip in snmp_lab.agents:
        for _attempt in range(3):  # a neighbour re-learned mid-bracket moves a table: read the three again
            out = _bracket(snmp_lab, ip)
            unsettled = []
            for name in ("all", "monitoring"):
                before, native, after = (_flat(out[f"{name}/{n}"]) for n in range(3))
                assert before["error_kind"] is None and native["error_kind"] is None, (ip, native["error"])
                assert native["credential"] == "v2c"
                for path in before.keys() | native.keys() | after.keys():
                    a, b, c = before.get(path), native.get(path), after.get(path)
                    if any(path.endswith(m) or path == m for m in _MOVING):
                        if path != "duration_s" and a is None is c:  # not offered
                            assert b is None, (ip, name, path, b)
                        elif path != "duration_s":
                            assert isinstance(b, int) and a <= b <= c, (ip, name, path, a, b, c)
                    elif a == c:
                        assert b == a, (ip, name, path, a, b, c)
                        compared += 1
                    else:
                        unsettled.append((name, path))
            if not unsettled:
                break
            time.sleep(1)
        assert not unsettled, (ip, unsettled[:10])
        assert out["all/1"]["neighbors"] and out["monitoring/1"]["interfaces"], ip
        assert out["monitoring/1"]["requests"] <= 6 < out["all/1"]["requests"]
    assert compared > 500


_HOSTILE = """
import dataclasses, json, sys
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity
from sitescout.probes.snmp.collect import CollectSettings, collect_device
creds = SnmpCredentials(communities=(V2cCommunity("lab-ro"),))
out = {}
for ip in sys.argv[2:]:
    snap = collect_device(ip, creds, CollectSettings(budget_s=4, timeout_s=1, max_rows=2000, v2c_client=sys.argv[1]))
    out[ip] = dataclasses.asdict(snap)
print(json.dumps(out, default=lambda o: o.value))
"""


def test_the_hostile_agents_end_as_the_same_errors_through_both_clients(snmp_lab: Any) -> None:
    hostile = snmp_lab.hostile
    ends = {}
    for client in ("native", "netsnmp"):
        cp = snmp_lab.scanner.run([sys.executable, "-c", _HOSTILE, client, *hostile.values()], timeout=120)
        assert cp.returncode == 0, cp.stderr[-2000:]
        ends[client] = json.loads(cp.stdout)
    native = ends["native"]
    assert native[hostile["slow"]]["error_kind"] == "unreachable"  # answers after 30 s
    assert native[hostile["community"]]["error_kind"] == "unreachable"  # knows another community
    assert native[hostile["loop"]]["error_kind"] == "malformed" and "not increasing" in native[hostile["loop"]]["error"]
    assert native[hostile["million"]]["truncated"] == ["1.3.6.1.2.1.2.2.1"]  # cut at max_rows
    assert native[hostile["million"]]["error_kind"] is None
    wrong = native[hostile["wrongtype"]]
    assert wrong["error_kind"] is None and wrong["system"]["sys_object_id"] is None
    assert all(i["mac"] is None and i["in_octets"] is None for i in wrong["interfaces"].values())
    for mode, ip in hostile.items():
        assert native[ip]["duration_s"] <= 4.5, (mode, native[ip]["duration_s"])
        for key in ("error_kind", "system", "interfaces", "truncated"):
            if mode != "million" or ends["netsnmp"][ip]["error_kind"] is None:  # net-snmp may spend the budget
                assert native[ip][key] == ends["netsnmp"][ip][key], (mode, key)
