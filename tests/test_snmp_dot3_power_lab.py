"""A powered device's IEEE 802.3at power request (power-via-MDI TLV) read from its switch over SNMP, real agents.

With ``build_snmp_lab(dot3_power=True)`` cam1 runs Debian's lldpd (no snmpd) as a type 2 powered device
(``configure dot3 power pd supported enabled powerpairs signal class class-3 type 2 source pse priority high
requested 12950 allocated 12950``); sw1's lldpd hears it and publishes LLDP-EXT-DOT3-MIB lldpXdot3RemPowerTable
into sw1's snmpd over AgentX.  cam0 still claims its power over LLDP-MED.  The collection runs in the scanner
namespace, as the survey does; snmpwalk (net-snmp) reads the same table as a cross-check.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import snmp_lab_site

pytestmark = pytest.mark.netns

SW1 = "198.51.100.3"
_POWER_TABLE = "1.0.8802.1.1.2.1.5.4623.1.3.2.1"
#: Run in the scanner: collect sw1 and print the neighbours and the survey document's snmp field.
_READ = """
import dataclasses, json, sys
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity
from sitescout.probes.snmp.collect import collect_device
from sitescout.probes.snmp.survey_stage import snmp_field
snap = collect_device(sys.argv[1], SnmpCredentials(communities=(V2cCommunity("lab-ro"),)))
json.dump({"error": snap.error, "neighbors": [dataclasses.asdict(n) for n in snap.neighbors],
           "field": snmp_field(snap, set(), None)}, sys.stdout)
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    """The SNMP lab with cam1 sending the 802.3at power TLV; namespaces removed even when a test fails."""
    with snmp_lab_site(dot3_power=True) as (_site, built):
        yield built


def _read_until_claimed(lab: Any) -> dict[str, Any]:
    """Read sw1 until its lldpd has heard both claims (LLDP every second; 15 s at most)."""
    deadline = time.monotonic() + 15
    while True:
        cp = lab.scanner.run([sys.executable, "-c", _READ, SW1], timeout=60)
        assert cp.returncode == 0, cp.stderr[-2000:]
        got: dict[str, Any] = json.loads(cp.stdout)
        heard = any(n["dot3_requested_mw"] for n in got["neighbors"]) and any(
            n["med_power_mw"] for n in got["neighbors"])
        if heard or time.monotonic() > deadline:
            return got
        time.sleep(1)


def test_the_802_3at_request_appears_on_its_switch_port(lab: Any) -> None:
    from sitescout.infra.lab.snmp_site import CAM1_DOT3_CLAIM_MW

    got = _read_until_claimed(lab)
    assert got["error"] is None
    (cam1_port, claim_mw), = lab.truth.dot3_claims_mw[SW1].items()
    assert claim_mw == 12_900 and CAM1_DOT3_CLAIM_MW == 12_950  # the TLV carries 0.1 W: lldpd sends 129
    by_port = {n["local_port"]: n for n in got["neighbors"]}
    assert {port: n["sys_name"] for port, n in by_port.items()} == lab.truth.neighbors[SW1]
    cam1 = by_port[cam1_port]
    assert (cam1["dot3_requested_mw"], cam1["dot3_allocated_mw"], cam1["dot3_power_type"], cam1["dot3_power_class"],
            cam1["dot3_is_pd"], cam1["med_power_mw"]) == (claim_mw, claim_mw, 2, 3, True, None)
    assert all(n["dot3_requested_mw"] is None for port, n in by_port.items() if port != cam1_port)

    # the survey document: each port's claim from the TLV its device sent, beside the HP-ICF-POE-MIB draw
    poe = {i["name"]: i["poe"] for i in got["field"]["interfaces"]}
    cam0_port, med_mw = next(iter(lab.truth.med_claims_mw[SW1].items()))
    assert (poe[cam1_port]["claimed_w"], poe[cam1_port]["claim_from"]) == (claim_mw / 1000, "lldp-dot3")
    assert (poe[cam0_port]["claimed_w"], poe[cam0_port]["claim_from"]) == (med_mw / 1000, "lldp-med")
    assert poe[cam1_port]["power_w"] == lab.truth.poe_mw[SW1][cam1_port] / 1000
    neighbour = next(n for n in got["field"]["neighbors"] if n["port"] == cam1_port)
    assert (neighbour["dot3_requested_w"], neighbour["dot3_allocated_w"], neighbour["dot3_pd"]) == (
        claim_mw / 1000, claim_mw / 1000, True)
    # sw1 reports its consumption: the budget's use stays the PSE's, the claims' sum is shown beside it
    summary = got["field"]["poe"]
    assert summary["used_from"] == "pse" and summary["claimed_w"] == round((claim_mw + med_mw) / 1000, 1)


def test_snmpwalk_reads_the_same_request(lab: Any) -> None:
    """net-snmp's own walk of lldpXdot3RemPowerTable: PDRequestedPowerValue (.10) and PSEAllocatedPowerValue (.11)
    are 129 (0.1 W) for cam1's port, as sitescout decodes them."""
    _read_until_claimed(lab)
    cp = lab.scanner.run(["snmpwalk", "-v2c", "-c", "lab-ro", "-On", "-Oq", "-t", "2", SW1, _POWER_TABLE],
                         timeout=30)
    assert cp.returncode == 0, cp.stderr
    values = {line.split()[0].removeprefix("." + _POWER_TABLE + ".").split(".")[0]: line.split()[1]
              for line in cp.stdout.splitlines() if line.startswith("." + _POWER_TABLE)}
    assert values.get("10") == "129" and values.get("11") == "129", cp.stdout
    assert values.get("1") == "2" and values.get("6") == "4", cp.stdout  # pClassPD, class3(4)
