"""The planners' workbench through its API and page, on a real temporary SQLite inventory (Flask's test client)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support import bearer, login
from web_seed import HD

from benchmarks.bench_plan_workbench import village_design
from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


def _site(database, site_id: int) -> Any:
    with database.session() as session:
        return store.get_site(session, site_id).site


def _design(database, site_id: int, **kwargs: Any) -> dict[str, Any]:
    site = _site(database, site_id)
    return village_design(site.latitude, site.longitude, **{"pois": 30, "mounts": 10, **kwargs})


def _optimised(client, site_id: int, design: dict[str, Any], headers: dict[str, str], k: int = 3) -> dict[str, Any]:
    created = client.post(f"/api/v1/sites/{site_id}/plan-alternatives", json={"name": "A", "design": design},
                          headers=headers)
    assert created.status_code == 201, created.text
    plan_id = created.get_json()["saved"]["plan_id"]
    solved = client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": k, "time_limit_s": 1}, headers=headers)
    assert solved.status_code == 200, solved.text
    return solved.get_json()


def test_catalogue_starts_generic_and_editors_extend_it(app, tokens) -> None:
    client = app.test_client()
    models = client.get("/api/v1/camera-models", headers=bearer(tokens["viewer"])).get_json()["models"]
    names = {m["name"] for m in models}
    assert {"2 MP 90°", "4 MP varifocal 2.8–12 mm", "4K turret 105°"} <= names
    varifocal = next(m for m in models if m["name"].startswith("4 MP varifocal"))
    assert varifocal["hfov_min_deg"] < varifocal["hfov_max_deg"] and varifocal["currency"] == "VND"
    new = {"name": "Hikvision DS-2CD1023G0E-I", "width_px": 1920, "height_px": 1080, "hfov_deg": 103,
           "bitrate_kbps": 2048, "power_w": 5, "price": 950000, "currency": "vnd"}
    assert client.post("/api/v1/camera-models", json=new, headers=bearer(tokens["viewer"])).status_code == 403
    created = client.post("/api/v1/camera-models", json=new, headers=bearer(tokens["editor"]))
    assert created.status_code == 201, created.text
    row = created.get_json()
    assert row["hfov_min_deg"] == row["hfov_max_deg"] == 103 and row["currency"] == "VND"
    changed = client.patch(f"/api/v1/camera-models/{row['id']}", json={"price": 900000},
                           headers=bearer(tokens["editor"]))
    assert changed.status_code == 200 and changed.get_json()["price"] == 900000
    wrong = client.post("/api/v1/camera-models", json={**new, "name": "x", "hfov_deg": 200},
                        headers=bearer(tokens["editor"]))
    assert wrong.status_code == 400 and "hfov" in wrong.get_json()["error"]
    unknown = client.post(
        "/api/v1/camera-models", json={**new, "name": "y", "lens": "?"}, headers=bearer(tokens["editor"])
    )
    assert unknown.status_code == 400 and "lens" in unknown.get_json()["error"]
    assert (
        len(client.get("/api/v1/camera-models", headers=bearer(tokens["viewer"])).get_json()["models"])
        == len(models) + 1
    )


def test_optimise_then_move_rotate_and_change_a_camera(app, database, tokens, site_ids) -> None:
    client = app.test_client()
    editor = bearer(tokens["editor"])
    doc = _optimised(client, site_ids[HD], _design(database, site_ids[HD]), editor)
    plan_id, layout = doc["saved"]["plan_id"], doc["workbench"]["layout"]
    assert len(layout) == 3 and doc["plan"]["gap"] is not None and doc["saved"]["of_record"] is False
    wedges = [f for f in doc["features"] if f["properties"]["kind"] == "coverage"]
    assert wedges and all(f["properties"]["dori_level_text"] for f in wedges)
    assert set(doc["plan"]["by_level"]) <= {"Detect", "Observe", "Recognise", "Identify"}
    before = {f["properties"]["camera_id"]: f["geometry"] for f in wedges}

    rotated = client.patch(f"/api/v1/plans/{plan_id}/cameras/1", json={"heading_deg": layout[0]["heading_deg"] + 90},
                           headers=editor)
    assert rotated.status_code == 200, rotated.text
    answer = rotated.get_json()
    assert answer["workbench"]["layout"][0]["heading_deg"] == (layout[0]["heading_deg"] + 90) % 360
    after = [f["geometry"] for f in answer["features"]
             if f["properties"]["kind"] == "coverage" and f["properties"]["camera_id"] == "cam-01"]
    assert after and after[0] != before["cam-01"]
    # The optimiser's bound still holds for three cameras: the gap says how far the hand layout is from the best.
    assert answer["plan"]["method"] == "hand" and answer["plan"]["bound"] == doc["plan"]["bound"]
    assert answer["plan"]["gap"] >= doc["plan"]["gap"]

    changed = client.patch(f"/api/v1/plans/{plan_id}/cameras/2", json={"model": "4K turret 105°"}, headers=editor)
    assert changed.status_code == 200
    cam = next(f["properties"] for f in changed.get_json()["features"] if f["properties"].get("camera_id") == "cam-02"
               and f["properties"]["kind"] == "camera")
    assert cam["model"] == "4K turret 105°" and cam["hfov_deg"] == 105

    # Dragged 200 m from the switch: the cable is re-measured and the camera says why it cannot go there.
    moved = client.patch(f"/api/v1/plans/{plan_id}/cameras/3", json={"lat": layout[2]["lat"] + 0.0018},
                         headers=editor)
    assert moved.status_code == 200
    problems = moved.get_json()["plan"]["camera_problems"]
    assert [p["camera_id"] for p in problems] == ["cam-03"]
    assert problems[0]["reason_codes"][0]["code"] == "cable_too_long"
    assert problems[0]["reason_codes"][0]["cable_m"] > 190
    assert (
        client.patch(f"/api/v1/plans/{plan_id}/cameras/4", json={"heading_deg": 1}, headers=editor).status_code == 404
    )
    assert client.patch(f"/api/v1/plans/{plan_id}/cameras/1", json={"zoom": 2}, headers=editor).status_code == 400
    assert client.patch(f"/api/v1/plans/{plan_id}/cameras/1", json={"model": "nope"}, headers=editor).status_code == 400


def test_reasons_and_levels_are_rendered_in_the_readers_language(app, database, tokens, site_ids) -> None:
    client = app.test_client()
    design = _design(database, site_ids[HD])
    for f in design["features"]:
        if f["properties"]["kind"] == "mount":
            f["properties"]["power"] = "none"
            break
    doc = _optimised(client, site_ids[HD], design, bearer(tokens["editor"]), k=2)
    plan_id = doc["saved"]["plan_id"]
    login(client, "viewer")
    client.get("/lang/vi?next=/map")
    vi = client.get(f"/api/v1/plans/{plan_id}").get_json()
    unusable = [f["properties"] for f in vi["features"] if f["properties"]["kind"] == "infeasible_mount"]
    assert any(p["reason_codes"][0]["code"] == "no_power" for p in unusable)
    assert any("không có điện tại điểm lắp" in t for p in unusable for t in p["reasons_text"])
    levels = {f["properties"]["dori_level_text"] for f in vi["features"] if f["properties"]["kind"] == "coverage"}
    assert levels <= {"Phát hiện", "Quan sát", "Nhận biết", "Nhận dạng"} and levels
    client.get("/lang/en?next=/map")
    en = client.get(f"/api/v1/plans/{plan_id}").get_json()
    unusable = [f["properties"] for f in en["features"] if f["properties"]["kind"] == "infeasible_mount"]
    assert any("no power at the mount" in t for p in unusable for t in p["reasons_text"])


def _csrf_of(page: str) -> str:
    return re.search(r'&#34;csrf&#34;: &#34;([^&]+)&#34;', page).group(1)


def test_session_writes_need_the_pages_csrf_token(app, database, site_ids) -> None:
    client = app.test_client()
    login(client, "editor")
    page = client.get(f"/sites/{site_ids[HD]}/plan")
    assert page.status_code == 200 and "<script>" not in page.text
    token = _csrf_of(page.text)
    url = f"/api/v1/sites/{site_ids[HD]}/plan-alternatives"
    body = {"name": "B", "design": _design(database, site_ids[HD], pois=5, mounts=3)}
    with database.session() as session:
        count = len(store.list_devices(session, site_id=site_ids[HD]))
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        refused = client.post(url, json=body, headers=headers)
        assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    assert client.get(f"/api/v1/sites/{site_ids[HD]}/plans").get_json()["plans"] == []
    made = client.post(url, json=body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    plan_id = made.get_json()["saved"]["plan_id"]
    assert client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": 1}).status_code == 400
    solved = client.post(f"/api/v1/plans/{plan_id}/optimise", json={"k": 1}, headers={"X-CSRF-Token": token})
    assert solved.status_code == 200
    adopted = client.post(f"/api/v1/plans/{plan_id}/adopt", json={}, headers={"X-CSRF-Token": token})
    assert adopted.status_code == 200 and adopted.get_json()["saved"]["of_record"]
    with database.session() as session:
        devices = store.list_devices(session, site_id=site_ids[HD])
    assert len(devices) == count + 1 and any(d.status == "planned" for d in devices)


def test_viewer_reads_the_workbench_but_cannot_write(app, database, tokens, site_ids) -> None:
    client = app.test_client()
    doc = _optimised(
        client, site_ids[HD], _design(database, site_ids[HD], pois=5, mounts=3), bearer(tokens["editor"]), k=1
    )
    login(client, "viewer")
    page = client.get(f"/sites/{site_ids[HD]}/plan")
    assert page.status_code == 200 and "&#34;canEdit&#34;: false" in page.text
    token = _csrf_of(page.text)
    refused = client.patch(f"/api/v1/plans/{doc['saved']['plan_id']}/cameras/1", json={"heading_deg": 10},
                           headers={"X-CSRF-Token": token})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "design, words",
    [
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [105, 21]},
                        "properties": {"kind": "tower"},
                    }
                ],
            },
            "kind",
        ),
        ({"type": "Feature"}, "FeatureCollection"),
    ],
)
def test_a_wrong_design_is_refused_with_its_reason(app, tokens, site_ids, design, words) -> None:
    client = app.test_client()
    response = client.post(f"/api/v1/sites/{site_ids[HD]}/plan-alternatives", json={"design": design},
                           headers=bearer(tokens["editor"]))
    assert response.status_code == 400 and words in response.get_json()["error"]


def test_a_workbench_plan_prints_in_vietnamese_with_every_sector_and_its_bill(app, database, tokens, site_ids) -> None:
    client = app.test_client()
    doc = _optimised(client, site_ids[HD], _design(database, site_ids[HD]), bearer(tokens["editor"]), k=3)
    plan_id = doc["saved"]["plan_id"]
    login(client, "viewer")
    client.get("/lang/vi?next=/map")
    page = client.get(f"/sites/{site_ids[HD]}/plans/{plan_id}/print")
    assert page.status_code == 200 and "<script" not in page.text
    text = page.text
    assert "Danh mục vật tư" in text and "Tổng cộng" in text and "Bố trí camera" in text
    assert all(f"cam-0{n}" in text for n in (1, 2, 3))
    sectors = sum(f["properties"]["kind"] == "coverage" for f in doc["features"])
    assert text.count("<polygon") == sectors > 0
    # Total of the bill of materials = the plan's cost (cameras; cable has no price in the catalogue), in VND.
    total = re.search(r"Tổng cộng</td><td></td><td> </td><td></td><td>([\d.,]+)</td>", text).group(1)
    assert float(total.replace(".", "").replace(",", ".")) == doc["plan"]["cost"] > 0
    assert "(VND)" in text
    saved = client.post(f"/api/v1/sites/{site_ids[HD]}/plans?k=1&time_limit_s=0.5",
                        json=__import__("test_web_plans").sample_input(), headers=bearer(tokens["editor"]))
    other = saved.get_json()["saved"]["plan_id"]
    assert client.get(f"/sites/{site_ids[HD]}/plans/{other}/print").status_code == 404
    assert client.get(f"/sites/{site_ids[HD] + 1}/plans/{plan_id}/print").status_code == 404


def test_the_site_page_leads_to_its_workbench(app, site_ids) -> None:
    client = app.test_client()
    login(client, "viewer")
    page = client.get(f"/sites/{site_ids[HD]}")
    assert page.status_code == 200
    assert f'href="/sites/{site_ids[HD]}/plan"' in page.text
    assert client.get(f"/sites/{site_ids[HD]}/plan").status_code == 200
