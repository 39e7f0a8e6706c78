"""Plans through the API and the map page, on a real temporary SQLite inventory (Flask's test client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import bearer, login
from web_seed import FROZEN_SITE, HD

from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def sample_input() -> dict[str, Any]:
    """Return the sample village plan input with its buildings inline (the server reads no files)."""
    doc = json.loads((EXAMPLES / "plan_village.json").read_text(encoding="utf-8"))
    doc["obstacles"] = json.loads((EXAMPLES / doc["obstacles"]).read_text(encoding="utf-8"))
    return doc


def test_post_plan_solves_saves_and_returns_geojson(app, tokens, site_ids) -> None:
    client = app.test_client()
    site_id = site_ids[HD]
    response = client.post(f"/api/v1/sites/{site_id}/plans?k=4&name=Mẫu", json=sample_input(),
                           headers=bearer(tokens["editor"]))
    assert response.status_code == 201, response.text
    assert response.mimetype == "application/geo+json"
    doc = response.get_json()
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("camera") == 4 and kinds.count("coverage") > 0 and kinds.count("infeasible_mount") == 3
    assert doc["plan"]["gap"] is not None and doc["plan"]["method"] in ("milp", "greedy")
    saved = doc["saved"]
    assert saved["name"] == "Mẫu" and saved["map"] == f"/map?plan={saved['plan_id']}" and len(saved["device_ids"]) == 4
    # The planned cameras are devices of the site now.
    devices = client.get(f"/api/v1/devices?site={site_id}", headers=bearer(tokens["viewer"])).get_json()["devices"]
    planned = [d for d in devices if d["status"] == "planned"]
    assert sorted(d["id"] for d in planned) == sorted(saved["device_ids"])
    assert all(d["kind"] == "camera" and d["camera"]["heading_deg"] is not None for d in planned)
    # Read back: the same GeoJSON, for a token or a logged-in viewer; listed with the site.
    again = client.get(f"/api/v1/sites/{site_id}/plans/{saved['plan_id']}", headers=bearer(tokens["viewer"]))
    assert again.status_code == 200 and again.get_json()["features"] == doc["features"]
    listing = client.get(f"/api/v1/sites/{site_id}/plans", headers=bearer(tokens["viewer"])).get_json()["plans"]
    assert [p["id"] for p in listing] == [saved["plan_id"]] and "geojson" not in listing[0]
    assert client.get(f"/api/v1/sites/{site_id + 1}/plans/{saved['plan_id']}",
                      headers=bearer(tokens["viewer"])).status_code == 404
    login(client)
    assert client.get(f"/api/v1/sites/{site_id}/plans/{saved['plan_id']}").status_code == 200
    page = client.get(f"/map?plan={saved['plan_id']}")
    assert page.status_code == 200
    assert f"/api/v1/sites/{site_id}/plans/{saved['plan_id']}" in page.text
    assert "<script>" not in page.text


def test_wrapper_body_and_options(app, tokens, site_ids) -> None:
    client = app.test_client()
    body = {"input": sample_input(), "k": 2, "name": "two", "time_limit_s": 1}
    response = client.post(f"/api/v1/sites/{site_ids[HD]}/plans", json=body, headers=bearer(tokens["admin"]))
    assert response.status_code == 201, response.text
    doc = response.get_json()
    assert doc["plan"]["k"] == 2 and doc["plan"]["cameras"] <= 2 and doc["saved"]["name"] == "two"


@pytest.mark.parametrize("query,body,status,message", [
    ("", {"mounts": "plan_village_buildings.geojson"}, 400, "the server reads no files"),
    ("", {**{"site": "x"}, "mounts": []}, 400, "at least one candidate mount"),
    ("?k=0", None, 400, "k must be between 1 and 200"),
    ("?time_limit_s=100", None, 400, "time_limit_s must be between"),
    ("?k=abc", None, 400, "k must be a number"),
    ("", [1, 2], 400, "send a plan input object"),
    ("", {"input": {}, "colour": "red"}, 400, "unknown key 'colour'"),
])
def test_bad_requests_say_why(app, tokens, site_ids, query, body, status, message) -> None:
    client = app.test_client()
    response = client.post(f"/api/v1/sites/{site_ids[HD]}/plans{query}", json=body or sample_input(),
                           headers={**bearer(tokens["editor"]), "Accept-Language": "en"})  # the default is vi
    assert response.status_code == status and message in response.get_json()["error"], response.text


def test_only_editors_post_plans_and_unknown_sites_are_404(app, tokens, site_ids, database) -> None:
    client = app.test_client()
    url = f"/api/v1/sites/{site_ids[HD]}/plans"
    assert client.post(url, json=sample_input()).status_code == 401
    assert client.post(url, json=sample_input(), headers=bearer(tokens["viewer"])).status_code == 403
    assert client.post(url, json=sample_input(), headers=bearer(tokens["worker"])).status_code == 403
    assert client.post("/api/v1/sites/9999/plans", json=sample_input(),
                       headers=bearer(tokens["editor"])).status_code == 404
    assert client.get("/api/v1/sites/9999/plans", headers=bearer(tokens["viewer"])).status_code == 404
    with database.session() as session:
        assert not [d for d in store.list_devices(session) if d.status == "planned"]


def test_site_page_lists_plans_with_a_map_link(app, tokens, site_ids) -> None:
    client = app.test_client()
    response = client.post(f"/api/v1/sites/{site_ids[HD]}/plans?k=2&name=Hai camera", json=sample_input(),
                           headers=bearer(tokens["editor"]))
    plan_id = response.get_json()["saved"]["plan_id"]
    login(client)
    page = client.get(f"/sites/{site_ids[HD]}")
    assert page.status_code == 200
    assert "Phương án bố trí camera" in page.text and "Hai camera" in page.text
    assert f'href="/map?plan={plan_id}"' in page.text
    assert "Phương án" not in client.get(f"/sites/{site_ids[FROZEN_SITE]}").text


def _moved(doc: Any, dlat: float) -> Any:
    """Return the plan input with every latitude moved by `dlat` degrees (positions typed for another place)."""
    if isinstance(doc, dict):
        return {k: (v + dlat if k == "lat" else _moved(v, dlat)) if k != "coordinates" else _moved_coords(v, dlat)
                for k, v in doc.items()}
    return [_moved(v, dlat) for v in doc] if isinstance(doc, list) else doc


def _moved_coords(coords: Any, dlat: float) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return [coords[0], coords[1] + dlat, *coords[2:]]
    return [_moved_coords(c, dlat) for c in coords]


@pytest.mark.parametrize("lang, words", [("en", "km from the site"), ("vi", "Phương án nằm cách điểm")])
def test_a_plan_kilometres_from_its_site_is_refused(app, tokens, site_ids, lang, words) -> None:
    """The sample village moved 0.1° north (11 km) is not saved for the site: a 400 naming the site field."""
    client = app.test_client()
    site_id = site_ids[HD]
    before = client.get(f"/api/v1/sites/{site_id}/plans", headers=bearer(tokens["viewer"])).get_json()["plans"]
    response = client.post(f"/api/v1/sites/{site_id}/plans?k=2&time_limit_s=0.5", json=_moved(sample_input(), 0.1),
                           headers={**bearer(tokens["editor"]), "Accept-Language": lang})
    assert response.status_code == 400, response.text
    body = response.get_json()
    assert set(body["errors"]) == {"site"} and words in body["errors"]["site"], body
    import re

    text = body["errors"]["site"]
    distances = [float(n.replace(",", ".")) for n in re.findall(r"(\d+[.,]\d) km", text)]
    # 0.1° of latitude is 11.1 km; the village lies 0.5 to 1.3 km from the site before the move.
    assert HD in text and len(distances) == 1 and 10.0 < distances[0] < 12.5, text
    assert "5 km" in text
    after = client.get(f"/api/v1/sites/{site_id}/plans", headers=bearer(tokens["viewer"])).get_json()["plans"]
    assert after == before  # nothing saved, no planned devices
