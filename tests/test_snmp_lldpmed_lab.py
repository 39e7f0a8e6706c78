"""A powered device's LLDP-MED power claim read from the switch over SNMP, against real agents.

cam0 runs Debian's lldpd as an LLDP-MED class I endpoint claiming 12950 mW (``configure med power pd source pse
priority high value 12950``); sw1's lldpd hears it and publishes LLDP-EXT-MED-MIB lldpXMedRemXPoEPDTable into
sw1's snmpd over AgentX.  The collection runs in the scanner namespace, as the survey does.
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
    """The SNMP lab (router, sw1 with PoE, sw2, cameras); namespaces removed even when a test fails."""
    with snmp_lab_site() as (_site, built):
        yield built


def _read_until_claimed(lab: Any) -> dict[str, Any]:
    """Read sw1 until its lldpd has heard cam0's LLDP-MED frame (LLDP every second; 15 s at most)."""
    deadline = time.monotonic() + 15
    while True:
        cp = lab.scanner.run([sys.executable, "-c", _READ, SW1], timeout=60)
        assert cp.returncode == 0, cp.stderr[-2000:]
        got: dict[str, Any] = json.loads(cp.stdout)
        if any(n["med_power_mw"] for n in got["neighbors"]) or time.monotonic() > deadline:
            return got
        time.sleep(1)


def test_the_cameras_claim_appears_on_its_switch_port(lab: Any) -> None:
    from sitescout.infra.lab.snmp_site import CAM0_MED_CLAIM_MW

    got = _read_until_claimed(lab)
    assert got["error"] is None
    truth = lab.truth.med_claims_mw[SW1]
    (cam0_port, claim_mw), = truth.items()
    assert claim_mw == 12_900 and CAM0_MED_CLAIM_MW == 12_950  # the TLV carries 0.1 W: lldpd sends 129
    claimed = {n["local_port"]: n for n in got["neighbors"] if n["med_power_mw"] is not None}
    assert set(claimed) == {cam0_port}, got["neighbors"]
    cam0 = claimed[cam0_port]
    assert (cam0["sys_name"], cam0["med_power_mw"], cam0["med_power_source"], cam0["med_power_priority"]) == (
        "cam0", claim_mw, "pse", "high")
    # the survey document: the claim beside the HP-ICF-POE-MIB draw of the same port
    poe = {i["name"]: i["poe"] for i in got["field"]["interfaces"]}
    assert poe[cam0_port]["claimed_w"] == claim_mw / 1000 and poe[cam0_port]["claim_from"] == "lldp-med"
    assert poe[cam0_port]["power_w"] == lab.truth.poe_mw[SW1][cam0_port] / 1000
    assert all("claimed_w" not in p for name, p in poe.items() if p and name != cam0_port)
    # sw1 reports its consumption, so the budget's use stays the PSE's; the claims are shown beside it
    assert got["field"]["poe"]["used_from"] == "pse" and got["field"]["poe"]["claimed_w"] == claim_mw / 1000
