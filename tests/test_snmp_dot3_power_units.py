"""The IEEE 802.3 power-via-MDI TLV (LLDP-EXT-DOT3-MIB lldpXdot3RemPowerTable) as a port's claim, without a namespace.

The first row below is what the lab's sw1 (Debian's lldpd 1.0.16 over AgentX into snmpd) answered for cam1
configured as ``configure dot3 power pd supported enabled powerpairs signal class class-3 type 2 source pse
priority high requested 12950 allocated 12950`` (``snmpwalk -On 198.51.100.3 1.0.8802.1.1.2.1.5.4623.1.3.2`` at
index 100.8.4: PortClass 2, MDISupported 1, MDIEnabled 1, PairControlable 2, PowerPairs 1, PowerClass 4,
PowerType C0, PowerSource 80, PowerPriority 2, requested 129, allocated 129), with rows a switch might add.
"""

from __future__ import annotations

import gettext
from typing import Any

import pytest

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.findings import coded_findings, render_finding
from sitescout.probes.snmp import mibs
from sitescout.probes.snmp.models import DeviceSnapshot, Interface, LldpNeighbor, PoeBudget, PoePort, SystemInfo
from sitescout.probes.snmp.survey_stage import snmp_field

T = mibs.LLDP_X_DOT3_REM_POWER
OID = tuple[int, ...]


def _walk() -> list[tuple[OID, object]]:
    lab = {1: 2, 2: 1, 3: 1, 4: 2, 5: 1, 6: 4, 7: b"\xc0", 8: b"\x80", 9: 2, 10: 129, 11: 129}
    rows: list[tuple[OID, object]] = [(T + (col, 100, 8, 4), value) for col, value in lab.items()]
    # an 802.1AB-only neighbour (a PSE, class 0, no 802.3at columns), a request past 99.9 W, a short index
    rows += [(T + (1, 100, 9, 1), 1), (T + (6, 100, 9, 1), 1),
             (T + (1, 100, 10, 2), 2), (T + (10, 100, 10, 2), 5000), (T + (11, 100, 10, 2), 0),
             (T + (7, 100, 10, 2), b""), (T + (10, 100, 11), 129)]
    return rows


def test_the_parser_reads_the_lab_row_in_milliwatts_and_leaves_out_what_is_no_figure() -> None:
    claims = mibs.dot3_power_claims(_walk())
    assert claims[(100, 8, 4)] == mibs.Dot3PowerClaim(is_pd=True, power_class=3, requested_mw=12_900,
                                                      allocated_mw=12_900, type2=True)
    assert claims[(100, 9, 1)] == mibs.Dot3PowerClaim(is_pd=False, power_class=0, requested_mw=None,
                                                      allocated_mw=None, type2=None)
    # 500 W and 0 W are no claim; an empty BITS value says nothing of the type
    assert claims[(100, 10, 2)] == mibs.Dot3PowerClaim(is_pd=True, power_class=None, requested_mw=None,
                                                       allocated_mw=None, type2=None)
    assert (100, 11) not in claims and mibs.dot3_power_claims([]) == {}


def _switch(consumption_w: int | None, dot3: dict[int, int], med: dict[int, int]) -> DeviceSnapshot:
    snap = DeviceSnapshot("198.51.100.3", system=SystemInfo(sys_name="sw1"), credential="v2c")
    snap.interfaces = {i: Interface(i, name=f"p{i}", admin_up=True, oper_up=True) for i in range(1, 6)}
    snap.poe_ports = [PoePort(1, i, i, f"p{i}", True, True, 3, None) for i in (1, 2, 3)]
    snap.poe_budgets = [PoeBudget(1, 60, consumption_w, 80)]
    for i in sorted(set(dot3) | set(med)):
        snap.neighbors.append(LldpNeighbor(
            i, i, f"p{i}", None, None, None, f"cam{i}", None, med_power_mw=med.get(i),
            dot3_requested_mw=dot3.get(i), dot3_allocated_mw=dot3.get(i), dot3_power_type=2 if i in dot3 else None,
            dot3_power_class=3 if i in dot3 else None, dot3_is_pd=True if i in dot3 else None))
    return snap


def test_a_ports_claim_comes_from_either_tlv_the_802_3at_request_first() -> None:
    field = snmp_field(_switch(None, {1: 12_900, 2: 25_500}, {2: 13_000, 3: 6_500}), set(), None)
    poe = {i["name"]: i["poe"] for i in field["interfaces"]}
    assert (poe["p1"]["claimed_w"], poe["p1"]["claim_from"]) == (12.9, "lldp-dot3")
    assert (poe["p2"]["claimed_w"], poe["p2"]["claim_from"]) == (25.5, "lldp-dot3")  # both sent: 802.3at's
    assert (poe["p3"]["claimed_w"], poe["p3"]["claim_from"]) == (6.5, "lldp-med")
    cam1 = next(n for n in field["neighbors"] if n["sys_name"] == "cam1")
    assert (cam1["dot3_requested_w"], cam1["dot3_allocated_w"], cam1["dot3_power_type"], cam1["dot3_power_class"],
            cam1["dot3_pd"], cam1["med_power_w"]) == (12.9, 12.9, 2, 3, True, None)
    summary = field["poe"]
    assert (summary["used_w"], summary["used_from"], summary["claimed_w"]) == (44.9, "lldp", 44.9)
    only_dot3 = snmp_field(_switch(None, {1: 12_900}, {}), set(), None)["poe"]
    assert (only_dot3["used_w"], only_dot3["used_from"]) == (12.9, "lldp-dot3")
    pse = snmp_field(_switch(20, {1: 12_900}, {3: 6_500}), set(), None)["poe"]
    assert (pse["used_w"], pse["used_from"], pse["claimed_w"]) == (20, "pse", 19.4)


def _doc(snap: DeviceSnapshot) -> dict[str, Any]:
    return {"site": "s", "networks": [], "hosts": [
        {"ip": snap.ip, "kind": "host", "snmp": snmp_field(snap, set(), None), "open_ports": [], "errors": []}]}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("med", [{}, {4: 10_000}])
def test_a_budget_spent_by_802_3at_requests_is_a_finding_that_says_so(lang: str, med: dict[int, int]) -> None:
    # 60 W budget, nothing measured: 802.3at requests of 25.5 + 25.5 W (+ an LLDP-MED claim) leave too little
    found = coded_findings(_doc(_switch(None, {1: 25_500, 2: 25_500}, med)))
    (low,) = [f for f in found if f.code.startswith("poe_budget_low")]
    assert low.code == "poe_budget_low_claimed_lldp" and low.params["budget_w"] == 60
    text, advice = render_finding(low, gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang]).gettext, lang)
    free = "9" if med == {} else "-1"
    if lang == "vi":
        assert "802.3at" in text and f"còn {free} W trên tổng 60 W" in text and "15,4 W" in text
        assert "PoE" in advice and advice != "power the next camera from another switch or a PoE injector"
    else:
        assert text == ("sw1: PoE budget nearly spent by what the powered devices request over LLDP (IEEE 802.3at "
                        f"power TLV): {free} W free of 60 W, one more camera needs up to 15.4 W")
