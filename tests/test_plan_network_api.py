"""A plan run on a site whose survey knows its switches: the API answers with switch ports and the facts' source.

On a real temporary SQLite inventory (Flask's test client): the survey is ingested through
POST /api/v1/surveys, then planned on the workbench and through POST /api/v1/sites/<id>/plans.
"""

from __future__ import annotations

from typing import Any

from support import bearer, login
from test_plan_network import survey_document
from web_seed import HD

from benchmarks.bench_plan_workbench import village_design
from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


def _ingest(client: Any, editor: str, *, used_w: float = 0.0) -> None:
    doc = survey_document(used_w=used_w, in_mbps=5.0)
    doc["site"] = HD
    answer = client.post("/api/v1/surveys", json=doc, headers=bearer(editor))
    assert answer.status_code in (200, 201), answer.text


def _cameras(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f["properties"] for f in doc["features"] if f["properties"]["kind"] == "camera"]


def test_workbench_plan_takes_surveyed_ports_and_prints_them(app, database, tokens, site_ids) -> None:
    client = app.test_client()
    site_id = site_ids[HD]
    _ingest(client, tokens["editor"])
    with database.session() as session:
        site = store.get_site(session, site_id).site
    design = village_design(site.latitude, site.longitude, pois=30, mounts=10)
    created = client.post(f"/api/v1/sites/{site_id}/plan-alternatives", json={"name": "A", "design": design},
                          headers=bearer(tokens["editor"]))
    assert created.status_code == 201, created.text
    plan_id = created.get_json()["saved"]["plan_id"]
    solved = client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": 3, "time_limit_s": 1},
                         headers=bearer(tokens["editor"]))
    assert solved.status_code == 200, solved.text
    doc = solved.get_json()
    network = doc["plan"]["network"]
    assert network["source"] == "survey" and network["switch"] == "sw1" and network["poe"] == "survey"
    assert network["surveyed_at"].startswith("2026-11-20")
    cams = _cameras(doc)
    poe = [c for c in cams if c["switch_port"]["poe"]]
    # sw1 has two free PoE ports (p3, p4): at most two PoE cameras, each on its own port, in order.
    assert 1 <= len(poe) <= 2 and [c["switch_port"]["port"] for c in poe] == ["p3", "p4"][:len(poe)]
    assert all(c["switch_port"]["switch"] == "sw1" for c in cams)

    login(client, "viewer")
    client.get("/lang/vi?next=/map")
    page = client.get(f"/sites/{site_id}/plans/{plan_id}/print").text
    assert "Cổng switch" in page and "Số liệu mạng từ khảo sát ngày" in page
    assert all(f"sw1 {c['switch_port']['port']}" in page for c in poe)
    client.get("/lang/en?next=/map")
    page = client.get(f"/sites/{site_id}/plans/{plan_id}/print").text
    assert "Switch port" in page and "Network facts from the survey of" in page and "p8, 100 Mb/s" in page


def test_posted_plan_uses_the_survey_and_says_so(app, tokens, site_ids) -> None:
    from test_web_plans import sample_input

    client = app.test_client()
    site_id = site_ids[HD]
    typed = client.post(f"/api/v1/sites/{site_id}/plans?k=2&time_limit_s=0.5", json=sample_input(),
                        headers=bearer(tokens["editor"]))
    assert typed.status_code == 201, typed.text
    assert typed.get_json()["plan"]["network"]["source"] == "typed"
    assert all("switch_port" not in c for c in _cameras(typed.get_json()))

    _ingest(client, tokens["editor"], used_w=57.0)  # 3 W left on sw1
    full = client.post(f"/api/v1/sites/{site_id}/plans?k=2&time_limit_s=0.5", json=sample_input(),
                       headers=bearer(tokens["editor"]))
    assert full.status_code == 201, full.text
    doc = full.get_json()
    assert doc["plan"]["network"]["source"] == "survey"
    # The typed 60 W switch of the sample is the surveyed sw1 now (3 W left), and the two cameras of the first plan,
    # planned devices of the site now, hold its two free PoE ports: no PoE mount can be used, and each says why.
    assert doc["plan"]["network"]["planned_cameras"] == 2 and doc["plan"]["network"]["planned_poe_w"] > 0
    codes = [c["code"] for f in doc["features"] if f["properties"]["kind"] == "infeasible_mount"
             for c in f["properties"]["reason_codes"]]
    assert "no_free_poe_port" in codes
    assert all(not c.get("switch_port", {}).get("poe") for c in _cameras(doc))


def test_plan_place_for_a_site_uses_its_survey(tmp_path, capsys) -> None:
    """`sitescout plan place --site` reads the site's latest survey: the port of each camera, the facts' date."""
    from test_plans import SAMPLE, _site

    from sitescout.cli import main
    from sitescout.inventory.db import open_database
    from sitescout.inventory.ingest import ingest_survey

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    database = open_database(url)
    try:
        site_id = _site(database)
        with database.session() as session:
            ingest_survey(session, survey_document(used_w=0.0, in_mbps=1.0), site_id=site_id)
    finally:
        database.close()
    geojson = tmp_path / "plan.geojson"
    code = main(["--lang", "vi", "plan", "place", "--input", str(SAMPLE), "--k", "4", "--time-limit", "1",
                 "--db", url, "--site", str(site_id), "--geojson", str(geojson)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "số liệu mạng từ khảo sát ngày 2026-11-20" in out and "sw1 p3" in out
    import json

    doc = json.loads(geojson.read_text(encoding="utf-8"))
    assert doc["plan"]["network"]["source"] == "survey" and doc["plan"]["network"]["switch"] == "sw1"
    cams = [f["properties"] for f in doc["features"] if f["properties"]["kind"] == "camera"]
    ports = [c["switch_port"]["port"] for c in cams if (c.get("switch_port") or {}).get("poe")]
    assert ports == ["p3", "p4"][:len(ports)] and ports  # two free PoE ports on sw1 at most
