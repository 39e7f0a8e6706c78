"""The workbench and the site's surveyed network (#18): ports a hand layout lacks, the plan of record redrawn.

On a real temporary SQLite inventory (Flask's test client): the survey (tests/test_plan_network.py's
sw1: free PoE ports p3 and p4, free port p5 without PoE) is ingested through POST /api/v1/surveys,
plans are made, optimised, adopted and redrawn through the workbench's API.
"""

from __future__ import annotations

from typing import Any

from support import bearer
from test_plan_network_api import _cameras, _ingest
from web_seed import HD

from benchmarks.bench_plan_workbench import village_design
from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

PORT_CODES = {"no_free_poe_port", "no_free_port"}


def _design(database: Any, site_id: int) -> dict[str, Any]:
    with database.session() as session:
        site = store.get_site(session, site_id).site
    return village_design(site.latitude, site.longitude, pois=30, mounts=10)


def _alternative(client: Any, token: str, site_id: int, design: dict[str, Any], name: str) -> dict[str, Any]:
    created = client.post(f"/api/v1/sites/{site_id}/plan-alternatives", json={"name": name, "design": design},
                          headers={**bearer(token), "Accept-Language": "en"})
    assert created.status_code == 201, created.text
    return created.get_json()


def _optimise(client: Any, token: str, plan_id: int, k: int) -> dict[str, Any]:
    solved = client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": k, "time_limit_s": 1},
                         headers=bearer(token))
    assert solved.status_code == 200, solved.text
    return solved.get_json()


def _redraw(client: Any, token: str, plan_id: int, design: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    answer = client.put(f"/api/v1/plans/{plan_id}/design", json=design,
                        headers={**bearer(token), "Accept-Language": lang})
    assert answer.status_code == 200, answer.text
    return answer.get_json()


def _port_problems(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {p["camera_id"]: [c["code"] for c in p["reason_codes"] if c["code"] in PORT_CODES]
            for p in doc["plan"]["camera_problems"] if any(c["code"] in PORT_CODES for c in p["reason_codes"])}


def test_a_layout_needing_more_ports_than_are_free_lists_the_cameras_left_without(app, database, tokens,
                                                                                  site_ids) -> None:
    client, token, site_id = app.test_client(), tokens["editor"], site_ids[HD]
    design = _design(database, site_id)
    plan_id = _alternative(client, token, site_id, design, "A")["saved"]["plan_id"]
    # Five cameras chosen on the typed switch (240 W, no port count): at least three on PoE mounts.
    typed = _optimise(client, token, plan_id, 5)
    assert typed["plan"]["network"]["source"] == "typed" and not _port_problems(typed)
    assert len(_cameras(typed)) == 5

    _ingest(client, token)  # sw1 now: two free PoE ports (p3, p4), one free port without PoE (p5)
    doc = _redraw(client, token, plan_id, design, "vi")
    assert doc["plan"]["network"]["source"] == "survey"
    cams = _cameras(doc)
    assert len(cams) == 5  # the layout is kept: it is the hand layout the planner works on
    left_out = {c["camera_id"]: c["switch_port"] for c in cams if c["switch_port"]["port"] is None}
    placed = [c["switch_port"]["port"] for c in cams if c["switch_port"]["port"]]
    assert set(placed) <= {"p3", "p4", "p5"} and len(placed) == len(set(placed))  # each port once
    assert left_out, "five cameras on three free ports: some are left without one"
    # Every camera without a port is a problem saying why, and no camera with a port is.
    expected = {cam: ["no_free_poe_port" if port["poe"] else "no_free_port"] for cam, port in left_out.items()}
    assert _port_problems(doc) == expected
    problems = {p["camera_id"]: p for p in doc["plan"]["camera_problems"]}
    for cam, port in left_out.items():
        words = "switch sw1 không còn cổng PoE trống" if port["poe"] else "switch sw1 không còn cổng trống"
        assert words in problems[cam]["reasons_text"]
        feature = next(c for c in cams if c["camera_id"] == cam)
        assert feature["switch_port_text"] == "sw1 hết cổng trống"
        assert feature["switch_port_reasons_text"] == [words]
    # The network's words for the panel, in the reader's language.
    lines = doc["plan"]["network_lines"]
    assert lines[0].startswith("Số liệu mạng từ khảo sát ngày") and any(line.startswith("sw1: ") for line in lines)


def test_redrawing_the_plan_of_record_does_not_count_its_own_cameras_twice(app, database, tokens,
                                                                           site_ids) -> None:
    client, token, site_id = app.test_client(), tokens["editor"], site_ids[HD]
    design = _design(database, site_id)
    _ingest(client, token)
    plan_id = _alternative(client, token, site_id, design, "A")["saved"]["plan_id"]
    solved = _optimise(client, token, plan_id, 3)
    assert solved["plan"]["network"]["planned_cameras"] == 0
    ports = [c["switch_port"] for c in _cameras(solved)]
    assert ports and all(p["port"] for p in ports)

    adopted = client.post(f"/api/v1/plans/{plan_id}/adopt", headers=bearer(token))
    assert adopted.status_code == 200, adopted.text
    own = adopted.get_json()["saved"]["device_ids"]
    assert len(own) == len(ports)

    # The plan of record redrawn: its own planned devices hold no budget or port of their own plan.
    redrawn = _redraw(client, token, plan_id, design)
    network = redrawn["plan"]["network"]
    assert network["planned_cameras"] == 0 and network["planned_poe_w"] == 0
    assert [c["switch_port"] for c in _cameras(redrawn)] == ports
    assert not _port_problems(redrawn)

    # Another alternative is evaluated as if it replaced the plan of record: those cameras hold nothing either
    # (tests/test_workbench_network_fresh.py: a camera planned outside any plan still does).
    other = _alternative(client, token, site_id, design, "B")
    assert other["plan"]["network"]["planned_cameras"] == 0 and other["plan"]["network"]["planned_poe_w"] == 0
    assert not any("Cameras already planned at the site: " in line for line in other["plan"]["network_lines"])
    b_ports = [c["switch_port"] for c in _cameras(_optimise(client, token, other["saved"]["plan_id"], 3))]
    assert b_ports == ports  # the same free ports the plan of record took: B would replace it
