"""LLDP-MED power claims of powered devices (LLDP-EXT-MED-MIB lldpXMedRemXPoEPDTable), without a namespace.

The walk below is what the lab's sw1 (Debian's lldpd over AgentX into snmpd) answered for cam0's claim
(``snmpwalk -On 198.51.100.3 1.0.8802.1.1.2.1.5.4795``: PowerReq 129, PowerSource 2, PowerPriority 3 at
index 100.7.3), with broken rows a switch might add.
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

PD = mibs.LLDP_X_MED_REM_XPOE_PD
OID = tuple[int, ...]


def _walk() -> list[tuple[OID, object]]:
    return [
        (PD + (1, 100, 7, 3), 129), (PD + (1, 100, 9, 1), 1023), (PD + (1, 100, 11, 2), b"\x81"),
        (PD + (1, 100, 12, 1), 2000), (PD + (1, 100, 13), 50),
        (PD + (2, 100, 7, 3), 2), (PD + (2, 100, 9, 1), 4), (PD + (2, 100, 11, 2), 2),
        (PD + (3, 100, 7, 3), 3), (PD + (3, 100, 9, 1), 9),
    ]


def test_the_claim_parser_reads_tenths_of_a_watt_and_words_and_drops_broken_rows() -> None:
    claims = mibs.med_power_claims(_walk())
    assert claims == {(100, 7, 3): (12_900, "pse", "high"),  # lldpd's 12950 mW travels as 129 (0.1 W)
                      (100, 9, 1): (102_300, "pse_and_local", None)}  # the TLV's maximum; priority 9 is no word
    # an OCTET STRING, a value past the 10-bit field and a short index are no claim
    assert not {(100, 11, 2), (100, 12, 1), (100, 13)} & set(claims)
    assert mibs.med_power_claims([]) == {}


def _switch(consumption_w: int | None, draws: dict[int, int | None], claims: dict[int, int]) -> DeviceSnapshot:
    snap = DeviceSnapshot("198.51.100.3", system=SystemInfo(sys_name="sw1"), credential="v2c")
    snap.interfaces = {i: Interface(i, name=f"p{i}", admin_up=True, oper_up=True) for i in range(1, 6)}
    snap.poe_ports = [PoePort(1, i, i, f"p{i}", True, mw is not None, 2, mw) for i, mw in draws.items()]
    snap.poe_budgets = [PoeBudget(1, 60, consumption_w, 80)]
    snap.neighbors = [LldpNeighbor(i, i, f"p{i}", None, None, None, f"cam{i}", None, med_power_mw=mw,
                                   med_power_source="pse", med_power_priority="high") for i, mw in claims.items()]
    snap.neighbors.append(LldpNeighbor(5, 5, "p5", None, None, None, "pc", None))  # says nothing of power
    return snap


def _ifaces(field: dict[str, Any]) -> dict[str, Any]:
    return {i["name"]: i["poe"] for i in field["interfaces"]}


def test_the_claim_sits_beside_the_draw_on_its_port_and_on_its_neighbour() -> None:
    field = snmp_field(_switch(None, {1: 6500, 2: None}, {1: 12_900, 3: 25_500}), set(), None)
    poe = _ifaces(field)
    assert poe["p1"] == {"enabled": True, "delivering": True, "class": 2, "power_w": 6.5,
                         "claimed_w": 12.9, "claim_from": "lldp-med"}
    assert "claimed_w" not in poe["p2"] and poe["p2"]["power_w"] is None
    # a port with a claim but no pethPsePortTable row still shows the claim
    assert poe["p3"] == {"enabled": None, "delivering": None, "class": None, "power_w": None,
                         "claimed_w": 25.5, "claim_from": "lldp-med"}
    assert poe["p4"] is None and poe["p5"] is None
    cam1 = next(n for n in field["neighbors"] if n["sys_name"] == "cam1")
    assert (cam1["med_power_w"], cam1["med_power_source"], cam1["med_power_priority"]) == (12.9, "pse", "high")
    assert next(n for n in field["neighbors"] if n["sys_name"] == "pc")["med_power_w"] is None


def test_the_budget_use_comes_from_the_pse_then_the_ports_then_the_claims() -> None:
    pse = snmp_field(_switch(20, {1: 6500}, {1: 12_900}), set(), None)["poe"]
    assert (pse["used_w"], pse["used_from"], pse["claimed_w"]) == (20, "pse", 12.9)
    ports = snmp_field(_switch(None, {1: 6500, 2: 4000}, {1: 12_900}), set(), None)["poe"]
    assert (ports["used_w"], ports["used_from"], ports["free_w"]) == (10.5, "ports", 49.5)
    claimed = snmp_field(_switch(None, {1: None, 2: None}, {1: 12_900, 3: 25_500}), set(), None)["poe"]
    assert (claimed["used_w"], claimed["used_from"], claimed["free_w"]) == (38.4, "lldp-med", 21.6)
    nothing = snmp_field(_switch(None, {1: None}, {}), set(), None)["poe"]
    assert (nothing["used_w"], nothing["used_from"], nothing["claimed_w"]) == (0, None, None)


def _doc(snap: DeviceSnapshot) -> dict[str, Any]:
    return {"site": "s", "networks": [], "hosts": [
        {"ip": snap.ip, "kind": "host", "snmp": snmp_field(snap, set(), None), "open_ports": [], "errors": []}]}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_budget_spent_by_claims_is_a_finding_that_says_so(lang: str) -> None:
    # 60 W budget, no consumption, no per-port draw: claims of 12.9 + 25.5 + 10 W leave 11.6 W, under one camera
    found = coded_findings(_doc(_switch(None, {1: None, 2: None}, {1: 12_900, 3: 25_500, 4: 10_000})))
    low = [f for f in found if f.code.startswith("poe_budget_low")]
    assert [(f.code, f.params["free_w"], f.params["budget_w"]) for f in low] == [
        ("poe_budget_low_claimed", 11.6, 60)]
    text, advice = render_finding(low[0], gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang]).gettext,
                                  lang)
    if lang == "vi":
        assert "LLDP-MED" in text and "còn 11,6 W trên tổng 60 W" in text and "15,4 W" in text
    else:
        assert text == ("sw1: PoE budget nearly spent by what the powered devices claim over LLDP-MED: "
                        "11.6 W free of 60 W, one more camera needs up to 15.4 W")
    assert advice
    # measured draws, when the switch has them, decide instead of the claims
    measured = coded_findings(_doc(_switch(None, {1: 6500, 2: 4000}, {1: 12_900, 3: 25_500, 4: 10_000})))
    assert not [f for f in measured if f.code.startswith("poe_budget_low")]
