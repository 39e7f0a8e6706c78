"""Plans whose site's network changed after they were saved (#15, #18): out of date, evaluated again, logged.

On a real temporary SQLite inventory (Flask's test client): survey documents of the SNMP stage's shape
(tests/test_plan_network.py's router rt1, PoE switch sw1 at 10.0.0.2 with free PoE ports p3 and p4 and
free port p5, switch sw2) are ingested through POST /api/v1/surveys *after* the plans were made;
interfaces, cables and planned cameras are written through the inventory's API.  No plan is redrawn:
the workbench's reads notice the site's new facts themselves.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from support import bearer, login
from test_plan_network import survey_document
from test_plan_network_api import _cameras
from test_workbench_network_api import PORT_CODES, _alternative, _design, _optimise, _port_problems
from web_seed import HD

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL
FIRST = "2026-11-20T08:30:00+00:00"  # survey_document's finished_at


def _push(client: Any, token: str, doc: dict[str, Any]) -> None:
    answer = client.post("/api/v1/surveys", json={**doc, "site": HD}, headers=bearer(token))
    assert answer.status_code in (200, 201), answer.text


def _snmp_survey(started: str, finished: str, **kw: Any) -> dict[str, Any]:
    return {**survey_document(in_mbps=5.0, **kw), "started_at": started, "finished_at": finished}


def _plain_survey(started: str) -> dict[str, Any]:
    """A survey without SNMP data (the switch did not answer): it says nothing of ports or PoE."""
    return {"site": HD, "started_at": started, "finished_at": started, "networks": ["10.0.0.0/24"],
            "hosts": [{"ip": "10.0.0.40", "mac": None, "vendor": None, "open_ports": [], "kind": "host",
                       "link": None, "onvif": None, "streams": [], "errors": []}]}


def _read(client: Any, token: str, plan_id: int, lang: str = "en") -> dict[str, Any]:
    answer = client.get(f"/api/v1/plans/{plan_id}", headers={**bearer(token), "Accept-Language": lang})
    assert answer.status_code == 200, answer.text
    return answer.get_json()


def _reevaluations(client: Any, token: str, site_id: int) -> list[dict[str, Any]]:
    changes = client.get(f"/api/v1/changes?site={site_id}&object=plan&limit=100", headers=bearer(token)).get_json()
    return [c for c in changes["changes"] if c["action"] == "reevaluate"]


def _listed(client: Any, site_id: int) -> dict[int, dict[str, Any]]:
    """Return the workbench page's plan list (its embedded configuration), by plan id."""
    page = client.get(f"/sites/{site_id}/plan")
    assert page.status_code == 200
    config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page.text).group(1)))
    return {p["id"]: p for p in config["plans"]}


def test_a_survey_ingested_after_the_plan_makes_it_out_of_date_and_is_used_on_the_next_read(
        app, database, tokens, site_ids) -> None:
    client, token, site_id = app.test_client(), tokens["editor"], site_ids[HD]
    login(client, "editor")
    plan_id = _alternative(client, token, site_id, _design(database, site_id), "A")["saved"]["plan_id"]
    typed = _optimise(client, token, plan_id, 5)  # on the drawn switch: no port count, no problem of ports
    assert typed["plan"]["network"]["source"] == "typed" and not _port_problems(typed)
    assert _listed(client, site_id)[plan_id]["network_stale"] is False

    _push(client, token, _snmp_survey("2026-11-20T08:00:00+00:00", FIRST))  # sw1: p3, p4 (PoE) and p5 free
    assert _listed(client, site_id)[plan_id]["network_stale"] is True  # shown before anyone opens it

    doc = _read(client, token, plan_id, "vi")
    network = doc["plan"]["network"]
    assert network["source"] == "survey" and network["surveyed_at"] == FIRST
    refreshed = doc["plan"]["network_refreshed"]
    assert refreshed["previous"] == {"source": "typed", "survey_id": None, "surveyed_at": None}
    assert refreshed["verdict_changed"] is True and refreshed["feasible"] is False
    left_out = {c["camera_id"] for c in _cameras(doc) if c["switch_port"]["port"] is None}
    assert left_out and set(_port_problems(doc)) == left_out  # five cameras, three free ports
    lines = doc["plan"]["network_lines"]
    assert lines[0].startswith("Số liệu mạng đã cập nhật ngày") and "số liệu nhập tay" in lines[0]
    assert lines[1] == ("Kết luận về tính khả thi đã thay đổi theo số liệu mới: "
                        "có camera không đặt được ở vị trí hiện tại.")
    assert lines[2].startswith("Số liệu mạng từ khảo sát ngày")

    entries = _reevaluations(client, token, site_id)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["object_id"] == plan_id and entry["actor"] == "sitescout" and entry["object_repr"] == "A"
    assert entry["before"]["feasible"] is True and entry["before"]["network_survey"] is None
    assert entry["after"]["feasible"] is False and entry["after"]["network_survey"] == FIRST
    assert set(entry["after"]["camera_problems"]) == left_out
    assert all(set(codes) & PORT_CODES for codes in entry["after"]["camera_problems"].values())

    # Read again: the facts are the site's, nothing is evaluated or logged again.
    again = _read(client, token, plan_id)
    assert again["plan"]["network"]["survey_id"] == network["survey_id"] and len(_reevaluations(client, token,
                                                                                               site_id)) == 1
    assert _listed(client, site_id)[plan_id]["network_stale"] is False

    # A survey without SNMP data leaves the facts as they were: no new evaluation, no entry.
    _push(client, token, _plain_survey("2026-11-25T08:00:00+00:00"))
    quiet = _read(client, token, plan_id)
    assert quiet["plan"]["network"]["survey_id"] == network["survey_id"]
    assert len(_reevaluations(client, token, site_id)) == 1

    # A newer survey reaches the plan through a camera move too: the move answers on the new facts.
    _push(client, token, _snmp_survey("2026-12-01T08:00:00+00:00", "2026-12-01T08:20:00+00:00", used_w=59.0))
    camera = quiet["workbench"]["layout"][0]
    moved = client.patch(f"/api/v1/plans/{plan_id}/cameras/1", json={"heading_deg": camera["heading_deg"] + 30},
                         headers=bearer(token))
    assert moved.status_code == 200, moved.text
    plan = moved.get_json()["plan"]
    assert plan["network"]["surveyed_at"] == "2026-12-01T08:20:00+00:00" and plan["network"]["age_days"] is not None
    assert plan["network_refreshed"]["previous"]["surveyed_at"] == FIRST
    assert moved.get_json()["workbench"]["layout"][0]["heading_deg"] == round((camera["heading_deg"] + 30) % 360, 2)


def test_ports_the_inventory_says_are_taken_since_the_survey_are_not_offered(app, database, tokens,
                                                                               site_ids) -> None:
    client, token, site_id = app.test_client(), tokens["editor"], site_ids[HD]
    _push(client, token, _snmp_survey("2026-11-20T08:00:00+00:00", FIRST))
    plan_id = _alternative(client, token, site_id, _design(database, site_id), "A")["saved"]["plan_id"]
    solved = _optimise(client, token, plan_id, 3)
    assert solved["plan"]["network"]["inventory_taken"] == []
    assert "p3" in {c["switch_port"]["port"] for c in _cameras(solved)}

    def api(method: str, url: str, **body: Any) -> dict[str, Any]:
        answer = getattr(client, method)(url, json=body or None, headers=bearer(token) | {"If-Match": "*"})
        assert answer.status_code in (200, 201, 204), answer.text
        return answer.get_json() if answer.status_code != 204 else {}

    # The technician records sw1 in the inventory: p3 disabled, and a new camera cabled to p4.
    sw1 = api("post", "/api/v1/devices", name="sw1", site_id=site_id, kind="switch", ip="10.0.0.2")
    api("post", f"/api/v1/devices/{sw1['id']}/interfaces", name="p3", poe=True, enabled=False)
    p4 = api("post", f"/api/v1/devices/{sw1['id']}/interfaces", name="p4", poe=True)
    cam = api("post", "/api/v1/devices", name="Camera chợ", site_id=site_id, kind="camera", ip="10.0.0.12",
              status="active")
    eth0 = api("post", f"/api/v1/devices/{cam['id']}/interfaces", name="eth0")
    cable = api("post", "/api/v1/cables", a_interface_id=p4["id"], b_interface_id=eth0["id"])

    # The print shows the facts of the day without saving them; the next read through the workbench saves them.
    login(client, "viewer")
    client.get("/lang/en?next=/map")
    page = client.get(f"/sites/{site_id}/plans/{plan_id}/print").text
    assert "Ports taken in the inventory since the survey: sw1 p3, sw1 p4." in page
    assert _listed(client, site_id)[plan_id]["network_stale"] is True

    doc = _read(client, token, plan_id)
    network = doc["plan"]["network"]
    assert network["inventory_taken"] == ["sw1 p3", "sw1 p4"]
    sw1_facts = next(s for s in network["switches"] if s["name"] == "sw1")
    assert sw1_facts["free_poe_ports"] == [] and sw1_facts["free_ports"] == ["p5"]
    assert not {"p3", "p4"} & {c["switch_port"]["port"] for c in _cameras(doc)}
    assert "Ports taken in the inventory since the survey: sw1 p3, sw1 p4." in doc["plan"]["network_lines"]
    assert _port_problems(doc)  # three cameras, one free port left
    assert len(_reevaluations(client, token, site_id)) == 1

    # The cable removed: p4 is free again on the next read.
    api("delete", f"/api/v1/cables/{cable['id']}")
    freed = _read(client, token, plan_id)
    assert freed["plan"]["network"]["inventory_taken"] == ["sw1 p3"]
    assert "p4" in {c["switch_port"]["port"] for c in _cameras(freed)}


def test_an_alternative_is_evaluated_as_if_it_replaced_the_plan_of_record(app, database, tokens,
                                                                          site_ids) -> None:
    client, token, site_id = app.test_client(), tokens["editor"], site_ids[HD]
    design = _design(database, site_id)
    _push(client, token, _snmp_survey("2026-11-20T08:00:00+00:00", FIRST))
    a_id = _alternative(client, token, site_id, design, "A")["saved"]["plan_id"]
    a_ports = [c["switch_port"] for c in _cameras(_optimise(client, token, a_id, 3))]
    adopted = client.post(f"/api/v1/plans/{a_id}/adopt", headers=bearer(token))
    assert adopted.status_code == 200 and len(adopted.get_json()["saved"]["device_ids"]) == 3

    # B would replace A: A's three planned cameras hold neither budget nor the ports p3, p4 and p5.
    b_id = _alternative(client, token, site_id, design, "B")["saved"]["plan_id"]
    b = _optimise(client, token, b_id, 3)
    assert b["plan"]["network"]["planned_cameras"] == 0 and b["plan"]["network"]["planned_poe_w"] == 0
    assert [c["switch_port"] for c in _cameras(b)] == a_ports and not _port_problems(b)

    # A camera planned by hand, outside any plan, holds a port and its power for both; both notice.
    made = client.post("/api/v1/devices", json={"name": "Camera dự kiến", "site_id": site_id, "kind": "camera",
                                                "status": "planned"}, headers=bearer(token))
    assert made.status_code == 201, made.text
    for plan_id in (a_id, b_id):
        doc = _read(client, token, plan_id)
        network = doc["plan"]["network"]
        assert network["planned_cameras"] == 1 and network["planned_poe_w"] > 0, plan_id
        assert any(line.startswith("Cameras already planned at the site: 1,") for line in doc["plan"]["network_lines"])
        assert len(_port_problems(doc)) == 1  # three cameras, two ports left after the hand-planned camera's
