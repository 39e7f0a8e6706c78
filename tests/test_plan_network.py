"""The planner on the site's real network: switches, free ports, PoE budget and uplink from a survey document.

The survey document is built from the fields the SNMP stage writes (docs/survey.md "SNMP": ``snmp`` with
interfaces, ``poe``, ``neighbors``, ``uplinks``; ``attached_to`` on placed hosts), plus two counter reads
on one uplink (``counters``), the shape `network_facts` reads for utilisation.
"""

from __future__ import annotations

import copy
import gettext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.planning import network_limits
from sitescout.inventory.planning.network_facts import SiteNetwork, network_from_document
from sitescout.inventory.planning.plan_input import PlanInputError, parse_plan_input
from sitescout.inventory.planning.plan_io import make_plan, plan_geojson
from sitescout.inventory.planning.plan_report import render_plan_html

LAT, LON = 21.7312, 105.3128
SURVEYED = "2026-11-20T08:30:00+00:00"


def iface(name: str, index: int, **kw: Any) -> dict[str, Any]:
    """Return one interface record as the SNMP stage writes it."""
    return {"if_index": index, "name": name, "alias": None, "mac": None, "speed_bps": 1_000_000_000,
            "admin_up": True, "oper_up": False, "in_errors": 0, "out_errors": 0, "uplink": False,
            "poe": None} | kw


def poe_port(delivering: bool = False, power_w: float | None = None) -> dict[str, Any]:
    return {"enabled": True, "delivering": delivering, "class": 3 if delivering else 0, "power_w": power_w}


def survey_document(*, used_w: float = 45.0, budget_w: float = 60.0, utilisation_reads: bool = True,
                    in_mbps: float = 85.0) -> dict[str, Any]:
    """Return a survey of router rt1, PoE switch sw1 (uplink p8 to rt1, 100 Mb/s) and switch sw2 behind it.

    sw1: p1, p2 cameras (PoE delivering); p3, p4 free with PoE; p5 free without PoE; p6 administratively
    down; p7 link up with nothing known on it; p8 to the router (LLDP); up2 to sw2 (LLDP); lo and br0 are
    not ports.  Two reads of p8 ten seconds apart carry `in_mbps` of traffic.
    """
    reads = [{"at": "2026-11-20T08:29:50+00:00", "in_octets": 1_000_000, "out_octets": 2_000_000},
             {"at": "2026-11-20T08:30:00+00:00", "in_octets": 1_000_000 + int(in_mbps * 1e6 / 8 * 10),
              "out_octets": 2_000_000 + 10_000}]
    sw1_ifaces = [
        iface("p1", 1, oper_up=True, poe=poe_port(True, 6.5)), iface("p2", 2, oper_up=True, poe=poe_port(True, 12.9)),
        iface("p3", 3, poe=poe_port()), iface("p4", 4, poe=poe_port()), iface("p5", 5),
        iface("p6", 6, admin_up=False, poe=poe_port()), iface("p7", 7, oper_up=True, poe=poe_port()),
        iface("p8", 8, oper_up=True, speed_bps=100_000_000, uplink=True,
              **({"counters": reads} if utilisation_reads else {"counters": reads[:1]})),
        iface("up2", 9, oper_up=True, uplink=True), iface("lo", 10, oper_up=True), iface("br0", 11),
    ]
    sw1 = {"sys_name": "sw1", "credential": "v2c", "fdb_entries": 9, "interfaces": sw1_ifaces,
           "uplinks": ["p8", "up2"], "poe": {"budget_w": budget_w, "used_w": used_w, "free_w": budget_w - used_w,
                                              "threshold_pct": 80},
           "neighbors": [{"port": "p8", "sys_name": "rt1", "chassis_id": "aa", "port_id": "eth0", "port_desc": None,
                          "mgmt_address": "10.0.0.1"},
                         {"port": "up2", "sys_name": "sw2", "chassis_id": "bb", "port_id": "g1", "port_desc": None,
                          "mgmt_address": "10.0.0.3"}]}
    sw2 = {"sys_name": "sw2", "credential": "v2c", "fdb_entries": 3, "poe": None, "uplinks": ["g1"],
           "interfaces": [iface("g1", 1, oper_up=True, uplink=True), iface("g2", 2, oper_up=True), iface("g3", 3)],
           "neighbors": [{"port": "g1", "sys_name": "sw1", "chassis_id": "cc", "port_id": "up2", "port_desc": None,
                          "mgmt_address": "10.0.0.2"}]}
    rt1 = {"sys_name": "rt1", "credential": "v2c", "fdb_entries": 0, "poe": None, "uplinks": [],
           "interfaces": [iface("eth0", 1, oper_up=True), iface("wan", 2, oper_up=True)], "neighbors": []}
    host = {"mac": None, "vendor": None, "open_ports": [], "link": None, "onvif": None, "streams": [], "errors": []}
    return {"site": "Thôn Đồng Bùa", "started_at": "2026-11-20T08:00:00+00:00", "finished_at": SURVEYED,
            "networks": ["10.0.0.0/24"], "hosts": [
                {**host, "ip": "10.0.0.1", "kind": "host", "snmp": rt1,
                 "attached_to": {"device": "10.0.0.2", "port": "p8", "switch": "sw1"}},
                {**host, "ip": "10.0.0.2", "kind": "host", "snmp": sw1, "attached_to": None},
                {**host, "ip": "10.0.0.3", "kind": "host", "snmp": sw2, "attached_to": None},
                {**host, "ip": "10.0.0.10", "kind": "camera", "attached_to": {"device": "10.0.0.2", "port": "p1"}},
                {**host, "ip": "10.0.0.11", "kind": "camera", "attached_to": {"device": "10.0.0.2", "port": "p2"}},
                {**host, "ip": "10.0.0.20", "kind": "host", "attached_to": {"device": "10.0.0.3", "port": "g2"}},
            ]}


def plan_input(*, mounts: int = 3, power_w: float = 6.0, bitrate_kbps: float = 4000.0,
               network: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a small plan: one point of interest per mount, PoE mounts on a typed 120 W switch and 50 Mb/s uplink."""
    doc: dict[str, Any] = {
        "site": "Thôn Đồng Bùa", "origin": [LAT, LON], "headings": 4,
        "demand": [{"id": f"gate-{i}", "lat": LAT + 0.0002 * i, "lon": LON + 0.0001, "level": "Observe"}
                   for i in range(mounts)],
        "mounts": [{"id": f"m{i}", "lat": LAT + 0.0002 * i, "lon": LON, "height_m": 5, "power": "poe",
                    "cable_m": 20 + i, "switch": "typed-switch", "uplink": "typed-uplink",
                    "headings_deg": [90]} for i in range(mounts)],
        "switches": [{"id": "typed-switch", "poe_budget_w": 120}],
        "uplinks": [{"id": "typed-uplink", "capacity_mbps": 50}],
        "cameras": [{"model": "Bullet", "resolution": [1920, 1080], "hfov_deg": 90, "power_w": power_w,
                     "bitrate_kbps": bitrate_kbps, "price": 100}],
    }
    if network is not None:
        doc["network"] = network
    return doc


def facts(**kw: Any) -> dict[str, Any]:
    """Return the plan input's network facts of the survey (uplink at 10 % unless told)."""
    net = network_from_document(survey_document(**{"in_mbps": 10.0, **kw}), survey_id=7)
    assert net is not None
    return net.to_dict()


# ---------------------------------------------------------------------------
# Facts from the document.


def test_switches_free_ports_poe_and_uplinks_from_the_survey() -> None:
    net = network_from_document(survey_document(), survey_id=7)
    assert net is not None and net.surveyed_at == SURVEYED and net.survey_id == 7
    sw1, sw2 = net.switches
    assert (sw1.name, sw1.ip, sw2.name, sw2.ip) == ("sw1", "10.0.0.2", "sw2", "10.0.0.3")  # rt1 is no switch
    assert (sw1.poe_budget_w, sw1.poe_used_w) == (60.0, 45.0)
    assert sw1.free_poe_ports == ("p3", "p4")
    assert sw1.free_ports == ("p3", "p4", "p5")  # not p6 (down), p7 (link up), p8/up2 (uplinks), lo, br0
    # sw1's uplink is the port toward the router, not the one toward sw2 (both are "uplinks" in the survey).
    assert (sw1.uplink_port, sw1.uplink_speed_bps, sw1.uplink_found_by) == ("p8", 100_000_000, "toward_router")
    assert sw1.uplink_utilisation == pytest.approx(0.85, abs=0.001) and sw1.utilisation_note == "measured"
    # sw2 reaches the router through sw1; one read of nothing: utilisation unknown, and it says so.
    assert (sw2.uplink_port, sw2.uplink_found_by) == ("g1", "toward_router")
    assert sw2.uplink_utilisation is None and sw2.utilisation_note == "no_counters"
    assert sw2.free_ports == ("g3",) and sw2.free_poe_ports == () and sw2.poe_budget_w is None
    age = net.age_days(datetime(2026, 12, 6, 8, 30, tzinfo=timezone.utc))
    assert age == 16.0
    assert SiteNetwork.from_dict(net.to_dict()) == net


def test_a_one_port_agent_on_a_switch_port_is_no_router() -> None:
    """A loudspeaker receiver speaking SNMP and LLDP on sw1's p1 does not turn p1 into sw1's uplink."""
    doc = survey_document()
    speaker = {"sys_name": "spk1", "credential": "v2c", "fdb_entries": 0, "poe": None, "uplinks": [],
               "interfaces": [iface("lo", 1, oper_up=True), iface("eth0", 2, oper_up=True)], "neighbors": []}
    doc["hosts"].append({"ip": "10.0.0.30", "kind": "host", "snmp": speaker,
                         "attached_to": {"device": "10.0.0.2", "port": "p1"}})
    doc["hosts"][1]["snmp"]["neighbors"].append({"port": "p1", "sys_name": "spk1", "chassis_id": "dd",
                                                 "port_id": "eth0", "port_desc": None, "mgmt_address": "10.0.0.30"})
    sw1 = network_from_document(doc).switches[0]  # type: ignore[union-attr]
    assert sw1.uplink_port == "p8"


def test_one_counter_read_leaves_the_utilisation_unknown() -> None:
    sw1 = network_from_document(survey_document(utilisation_reads=False)).switches[0]  # type: ignore[union-attr]
    assert sw1.uplink_utilisation is None and sw1.utilisation_note == "one_read"


def test_the_survey_stage_s_measured_utilisation_is_used() -> None:
    """The SNMP stage of `sitescout survey` writes ``utilisation_pct`` from its own two reads
    (probes/snmp/survey_stage.py); that figure wins over raw counters."""
    doc = survey_document(utilisation_reads=False)
    p8 = next(i for i in doc["hosts"][1]["snmp"]["interfaces"] if i["name"] == "p8")
    p8["utilisation_pct"] = 72.5
    sw1 = network_from_document(doc).switches[0]  # type: ignore[union-attr]
    assert sw1.uplink_utilisation == pytest.approx(0.725) and sw1.utilisation_note == "measured"


def test_no_snmp_in_the_survey_gives_no_facts() -> None:
    doc = survey_document()
    for host in doc["hosts"]:
        host["snmp"] = None
    assert network_from_document(doc) is None


# ---------------------------------------------------------------------------
# The planner with the facts.


def test_free_poe_ports_are_assigned_and_limit_the_cameras() -> None:
    inp = parse_plan_input(plan_input(mounts=3, network=facts(used_w=0.0)))
    assert inp.network["source"] == "survey" and inp.network["poe"] == "survey" and inp.network["ports"] == "survey"
    assert inp.network["switch"] == "sw1" and inp.network["surveyed_at"] == SURVEYED
    # The typed switch is the surveyed sw1 now: its budget and its two free PoE ports.
    assert inp.switches["typed-switch"].id == "sw1" and inp.switches["sw1"].poe_budget_w == 60.0
    result = make_plan(inp, 3, time_limit_s=2)
    assert len(result.chosen) == 2  # three mounts and three targets, but two free PoE ports
    ports = [p.to_dict() if p else None for p in result.switch_ports()]
    assert ports == [{"switch": "sw1", "port": "p3", "poe": True}, {"switch": "sw1", "port": "p4", "poe": True}]
    geojson = plan_geojson(result)
    cams = [f["properties"] for f in geojson["features"] if f["properties"]["kind"] == "camera"]
    assert [c["switch_port"]["port"] for c in cams] == ["p3", "p4"]
    assert geojson["plan"]["network"]["source"] == "survey"
    html = render_plan_html(result)
    assert "<th>switch port</th>" in html and "sw1 p3" in html and "network facts from the survey of 2026-11-20" in html


def test_a_full_switch_makes_mounts_infeasible_with_the_reason() -> None:
    net = facts()
    net["switches"][0]["free_poe_ports"] = []
    result = make_plan(parse_plan_input(plan_input(mounts=2, network=net)), 2, time_limit_s=2)
    assert not result.chosen
    codes = [r.to_dict() for c in result.checks for r in c.all_reasons()]
    assert {"code": "no_free_poe_port", "switch": "sw1"} in codes
    assert "switch sw1 has no free PoE port" in [str(r) for c in result.checks for r in c.all_reasons()]


def test_exhausted_budget_is_infeasible_with_what_is_left() -> None:
    # 60 W budget, 57 W drawn: 3 W left, the camera needs 12.95 W.
    result = make_plan(parse_plan_input(plan_input(mounts=2, power_w=12.95, network=facts(used_w=57.0))), 2,
                       time_limit_s=2)
    assert not result.chosen
    reasons = [r for c in result.checks for r in c.all_reasons()]
    assert reasons and all(r.code == "poe_budget" for r in reasons)
    assert reasons[0].params["left_w"] == pytest.approx(3.0) and reasons[0].params["power_w"] == 12.95
    assert "sw1 has 3 W of PoE budget left, the camera draws 12.95 W" in str(reasons[0])


def test_already_planned_cameras_hold_budget_and_ports() -> None:
    net = facts(used_w=40.0)
    net["planned_cameras"], net["planned_poe_w"] = 1, 12.0  # 60 - 40 - 12 = 8 W left, one PoE port (p4)
    inp = parse_plan_input(plan_input(mounts=3, power_w=6.0, network=net))
    assert inp.switches["sw1"].used_w == 52.0 and inp.switches["sw1"].free_poe_ports == ("p4",)
    result = make_plan(inp, 3, time_limit_s=2)
    assert len(result.chosen) == 1 and result.switch_ports()[0].port == "p4"  # type: ignore[union-attr]


def test_uplink_from_the_survey_speed_and_utilisation() -> None:
    # 100 Mb/s at 85 %: no headroom for an 8 Mb/s stream (planning margin 70 %, overhead 10 %).
    inp = parse_plan_input(plan_input(mounts=1, bitrate_kbps=8000, network=facts(used_w=0.0, in_mbps=85.0)))
    assert inp.network["uplink"] == "survey" and inp.mounts[0].uplink == "sw1 p8"
    result = make_plan(inp, 1, time_limit_s=2)
    assert not result.chosen
    reason = result.checks[0].all_reasons()[0]
    assert reason.code == "uplink_busy"
    assert reason.params["speed_mbps"] == 100.0 and reason.params["utilisation_pct"] == pytest.approx(85, abs=0.1)
    assert reason.params["need_kbps"] == 8000 and reason.params["headroom_kbps"] == 0.0
    # The same uplink at 10 %: headroom 100,000 × 0.7 / 1.1 − 10,000 kb/s, and the camera fits.
    quiet = parse_plan_input(plan_input(mounts=1, bitrate_kbps=8000, network=facts(used_w=0.0, in_mbps=10.0)))
    result = make_plan(quiet, 1, time_limit_s=2)
    assert len(result.chosen) == 1
    from sitescout.inventory.planning.feasibility import uplink_headroom_kbps

    assert uplink_headroom_kbps(quiet.uplinks["sw1 p8"]) == pytest.approx(100_000 * 0.7 / 1.1 - 10_000, rel=1e-3)


def test_without_snmp_facts_the_typed_numbers_are_used_and_said() -> None:
    inp = parse_plan_input(plan_input(mounts=2))
    assert inp.network == {"source": "typed", "poe": "typed", "ports": "unknown", "uplink": "typed"}
    assert inp.switches["typed-switch"].poe_budget_w == 120 and inp.uplinks["typed-uplink"].capacity_kbps == 50_000
    result = make_plan(inp, 2, time_limit_s=2)
    assert len(result.chosen) == 2 and result.switch_ports() == [None, None]
    geojson = plan_geojson(result)
    assert geojson["plan"]["network"]["source"] == "typed"
    assert all("switch_port" not in f["properties"] for f in geojson["features"])
    assert "network: typed numbers" in render_plan_html(result)


def test_a_network_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PlanInputError, match="plan.network"):
        parse_plan_input(plan_input(network=["sw1"]))  # type: ignore[arg-type]
    bad = facts()
    bad["switches"][0]["poe_budget_w"] = "lots"
    with pytest.raises(PlanInputError, match="plan.network: switch 'sw1': poe_budget_w must be a number, got 'lots'"):
        parse_plan_input(plan_input(network=bad))
    bad = facts()
    bad["switches"][1]["free_ports"] = 3
    with pytest.raises(PlanInputError, match="free_ports must be a list of port names"):
        parse_plan_input(plan_input(network=bad))
    # An input may say "network": null to plan on its typed numbers only.
    assert parse_plan_input(plan_input(mounts=1) | {"network": None}).network["source"] == "typed"


def test_hand_layout_beyond_the_free_ports_says_which_camera_has_none() -> None:
    net = facts(used_w=0.0)
    inp = parse_plan_input(plan_input(mounts=3, network=net))
    ports = network_limits.assign_ports(inp.mounts, inp.switches, [0, 1, 2])
    assert [p.port for p in ports] == ["p3", "p4", None]  # type: ignore[union-attr]
    assert ports[2].to_dict()["reason_codes"] == [{"code": "no_free_poe_port", "switch": "sw1"}]  # type: ignore[union-attr]


# ---------------------------------------------------------------------------
# Words.


NEW_CODES = [{"code": "no_free_poe_port", "switch": "sw1"}, {"code": "no_free_port", "switch": "sw1"},
             {"code": "uplink_busy", "uplink": "sw1 p8", "speed_mbps": 100.0, "utilisation_pct": 85.0,
              "headroom_kbps": 0.0, "need_kbps": 8000.0}]


def test_new_reasons_have_vietnamese_words_in_the_cli_catalogue() -> None:
    from sitescout.plan_words import REASONS

    vi = gettext.translation(DOMAIN, localedir=str(TRANSLATIONS_DIR), languages=["vi"])
    for item in NEW_CODES:
        sentence = REASONS[item["code"]][0]
        assert vi.gettext(sentence) != sentence, item["code"]


def test_new_reasons_render_in_both_languages_on_the_web() -> None:
    from flask import Flask
    from flask_babel import Babel, force_locale

    from sitescout.web.plan_words import reason_words

    app = Flask(__name__)
    Babel(app, default_translation_directories=str(Path(__file__).resolve().parents[1] / "web" / "translations"))
    with app.test_request_context():
        with force_locale("en"):
            en = reason_words(copy.deepcopy(NEW_CODES))
        with force_locale("vi"):
            vi = reason_words(copy.deepcopy(NEW_CODES))
    assert en[0] == "switch sw1 has no free PoE port"
    assert "100" in en[2] and "85" in en[2] and "8,000" in en[2]
    assert all(a != b for a, b in zip(en, vi)), vi
    assert "cổng" in vi[0] and "sw1" in vi[0]
