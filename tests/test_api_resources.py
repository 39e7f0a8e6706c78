"""REST API v1 resources (issue 13) on a real app and a temporary SQLite inventory.

Round trips for regions, communes, sites, devices, camera details and credentials; two
editors and a stale ETag (412), a missing If-Match (428); credentials never in any answer;
?q= without diacritics (đ/Đ included); pages; a site-scoped token refused across sites; the
change log with no secret in it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from cryptography.fernet import Fernet
from support import bearer

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import ApiToken, Change
from sitescout.web import create_app

PASSWORD = "Mật-khẩu-camera-7731"


class Recorder:
    """A test client that keeps every answer body, to grep them all for a secret at the end."""

    def __init__(self, client: Any, token: str) -> None:
        # The assertions read English words: the answers are asked for in English (Vietnamese is the default).
        self.client, self.headers, self.bodies = client, {**bearer(token), "Accept-Language": "en"}, []

    def __call__(self, method: str, url: str, *, if_match: str | None = None, **kwargs: Any) -> Any:
        headers = dict(self.headers)
        if if_match is not None:
            headers["If-Match"] = if_match
        response = getattr(self.client, method)(url, headers=headers, **kwargs)
        self.bodies.append(response.get_data(as_text=True) + str(response.headers))
        return response


@pytest.fixture()
def env(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with database.session() as session:
        tokens = {role: store.create_token(session, role) for role in ("admin", "editor", "viewer")}
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64, "SITES_CACHE_SECONDS": 0,
                      "CREDENTIAL_KEY": Fernet.generate_key().decode()})
    yield app, database, tokens
    database.close()


def _place(api: Recorder, site: str = "Thôn Đông", commune: str = "Xã Hướng Đạo") -> tuple[int, int, int]:
    region = api("post", "/api/v1/regions", json={"name": "Tuyên Quang"})
    region_id = (
        region.get_json()["id"]
        if region.status_code == 201
        else api("get", "/api/v1/regions").get_json()["regions"][0]["id"]
    )
    made = api("post", "/api/v1/communes", json={"name": commune, "region_id": region_id})
    assert made.status_code == 201, made.text
    answer = api(
        "post",
        "/api/v1/sites",
        json={
            "name": site,
            "commune_id": made.get_json()["id"],
            "kind": "village_hall",
            "latitude": 21.7,
            "longitude": 105.3,
        },
    )
    assert answer.status_code == 201, answer.text
    return region_id, made.get_json()["id"], answer.get_json()["id"]


def test_regions_communes_and_sites_round_trip_with_locations_etags_and_conflicts(env) -> None:
    app, _db, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    region = api("post", "/api/v1/regions", json={"name": "Tuyên Quang"})
    assert region.status_code == 201 and region.headers["Location"] == f"/api/v1/regions/{region.get_json()['id']}"
    assert region.headers["ETag"] == '"v1"'
    assert api("post", "/api/v1/regions", json={"name": "Tuyên Quang"}).status_code == 409  # duplicate name
    read = api("get", region.headers["Location"])
    assert read.status_code == 200 and read.get_json()["name"] == "Tuyên Quang"
    renamed = api("patch", region.headers["Location"], json={"name": "Hà Giang"}, if_match=read.headers["ETag"])
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Hà Giang" and renamed.headers["ETag"] == '"v2"'
    commune = api("post", "/api/v1/communes", json={"name": "Xã Đông", "region_id": region.get_json()["id"]})
    assert commune.status_code == 201 and commune.get_json()["region"] == "Hà Giang"
    site = api("post", "/api/v1/sites", json={"name": "Thôn Đông", "commune_id": commune.get_json()["id"]})
    assert site.status_code == 201, site.text
    feature = site.get_json()
    assert feature["type"] == "Feature" and feature["properties"]["commune_id"] == commune.get_json()["id"]
    assert site.headers["Location"] == f"/api/v1/sites/{feature['id']}"
    got = api("get", site.headers["Location"])
    assert got.headers["ETag"] == site.headers["ETag"] and got.get_json()["properties"]["name"] == "Thôn Đông"
    put = api(
        "put",
        site.headers["Location"],
        json={"name": "Thôn Đông Mới", "commune_id": commune.get_json()["id"], "latitude": 21.5, "longitude": 105.1},
        if_match=got.headers["ETag"],
    )
    assert put.status_code == 200 and put.get_json()["geometry"]["coordinates"] == [105.1, 21.5]
    # The commune still holds a site, the region a commune: deleting them is a conflict, not a cascade.
    assert api("delete", f"/api/v1/communes/{commune.get_json()['id']}", if_match="*").status_code == 409
    assert api("delete", region.headers["Location"], if_match="*").status_code == 409
    assert api("delete", site.headers["Location"], if_match=put.headers["ETag"]).status_code == 204
    assert api("get", site.headers["Location"]).status_code == 404
    assert api("delete", f"/api/v1/communes/{commune.get_json()['id']}", if_match="*").status_code == 204
    assert api("delete", region.headers["Location"], if_match="*").status_code == 204
    assert api("get", region.headers["Location"]).status_code == 404


def test_wrong_fields_are_400_naming_each_field_and_model_rules_still_hold(env) -> None:
    app, _db, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    _region, commune, site = _place(api)
    answer = api("post", "/api/v1/sites", json={"name": 7, "commune_id": 987654, "kind": "castle", "colour": "red"})
    assert answer.status_code == 400
    assert set(answer.get_json()["errors"]) == {"name", "commune_id", "kind", "colour"}
    assert "No commune has the id 987654." == answer.get_json()["errors"]["commune_id"]
    swapped = api(
        "post", "/api/v1/sites", json={"name": "X", "commune_id": commune, "latitude": 105.3, "longitude": 21.7}
    )
    assert swapped.status_code == 400 and "swapped" in swapped.get_json()["errors"]["latitude"]
    assert api("post", "/api/v1/sites", data="{", content_type="application/json").status_code == 400
    # A device's URIs point at the device itself and carry no password (sitescout.device_uris).
    cam = api("post", "/api/v1/devices", json={"name": "Cam", "site_id": site, "kind": "camera", "ip": "127.0.0.9"})
    assert cam.status_code == 201, cam.text
    elsewhere = api("patch", f"/api/v1/devices/{cam.get_json()['id']}", if_match="*",
                    json={"onvif_endpoint": "http://203.0.113.9/onvif/device_service"})
    assert (
        elsewhere.status_code == 400 and "not the device's address" in elsewhere.get_json()["errors"]["onvif_endpoint"]
    )
    userinfo = api("put", f"/api/v1/devices/{cam.get_json()['id']}/camera",
                   json={"stream_uris": [f"rtsp://admin:{PASSWORD}@127.0.0.9/main"]})
    assert userinfo.status_code == 400 and "stream_uris" in userinfo.get_json()["errors"]
    assert PASSWORD not in userinfo.text
    retired = api("patch", f"/api/v1/devices/{cam.get_json()['id']}", if_match="*", json={"status": "retired"})
    assert retired.status_code == 200
    back = api("patch", f"/api/v1/devices/{cam.get_json()['id']}", if_match="*", json={"status": "active"})
    assert back.status_code == 400 and "retired" in back.get_json()["errors"]["status"]
    dup = api("post", "/api/v1/devices", json={"name": "Cam", "site_id": site})
    assert dup.status_code == 409 and "already has a device with this name" in dup.get_json()["error"]


def test_two_editors_cannot_silently_overwrite_each_other(env) -> None:
    app, _db, tokens = env
    admin = Recorder(app.test_client(), tokens["admin"])
    _r, _c, site = _place(admin)
    device = admin("post", "/api/v1/devices", json={"name": "Switch", "site_id": site, "kind": "switch"}).get_json()
    url = f"/api/v1/devices/{device['id']}"
    lan, minh = Recorder(app.test_client(), tokens["editor"]), Recorder(app.test_client(), tokens["admin"])
    lan_tag, minh_tag = lan("get", url).headers["ETag"], minh("get", url).headers["ETag"]
    assert lan_tag == minh_tag
    first = lan("patch", url, json={"notes": "Lan: moved to the pole"}, if_match=lan_tag)
    assert first.status_code == 200 and first.headers["ETag"] != lan_tag
    stale = minh("patch", url, json={"notes": "Minh: in the cabinet"}, if_match=minh_tag)
    assert stale.status_code == 412 and "changed since you read it" in stale.get_json()["error"]
    assert minh("put", url, json={"name": "Switch", "site_id": site}, if_match=minh_tag).status_code == 412
    assert minh("delete", url, if_match=minh_tag).status_code == 412
    assert minh("patch", url, json={"notes": "no tag"}).status_code == 428
    assert minh("get", url).get_json()["notes"] == "Lan: moved to the pole"  # nothing was lost
    fresh = minh("get", url).headers["ETag"]
    assert minh("patch", url, json={"notes": "Minh, after reading"}, if_match=f'"v999", {fresh}').status_code == 200


def test_credentials_are_write_only_and_never_in_any_answer_or_change(env) -> None:
    app, database, tokens = env
    api = Recorder(app.test_client(), tokens["admin"])
    _r, _c, site = _place(api)
    cam = api("post", "/api/v1/devices", json={"name": "Cam cổng", "site_id": site, "kind": "camera",
                                               "ip": "127.0.0.21"}).get_json()
    url = f"/api/v1/devices/{cam['id']}/credentials"
    assert api("get", url).get_json() == {"has_credentials": False}
    assert api("put", url, json={"username": "admin", "password": PASSWORD}).status_code == 428
    tag = api("get", f"/api/v1/devices/{cam['id']}").headers["ETag"]
    assert api("put", url, json={"username": "admin", "password": PASSWORD}, if_match=tag).status_code == 204
    assert api("get", url).get_json() == {"has_credentials": True}
    device = api("get", f"/api/v1/devices/{cam['id']}")
    assert device.get_json()["has_credential"] is True and "password" not in device.get_json()
    api("get", "/api/v1/devices")
    api("get", f"/api/v1/devices?site={site}&q=cong")
    api("get", f"/api/v1/sites/{site}")
    api("get", "/api/v1/sites")
    changes = api("get", f"/api/v1/changes?object=device:{cam['id']}")
    assert any(c["diff"].get("has_credential") == [False, True] for c in changes.get_json()["changes"])
    api("get", "/api/v1/openapi.json")
    assert api("delete", url, if_match="*").status_code == 204
    assert api("get", url).get_json() == {"has_credentials": False}
    everything = "\n".join(api.bodies)
    assert PASSWORD not in everything and "admin:" not in everything
    with database.session() as session:  # nor in the stored change log
        assert all(PASSWORD not in repr((c.before, c.after)) for c in session.query(Change))
    # Only the device's own record holds it, encrypted (the worker's accessor decrypts it for that device).
    assert api("put", url, json={"username": "u", "password": 5}, if_match="*").get_json()["errors"] == {
        "password": "Text of at most 1000 characters."}


def test_search_ignores_case_and_diacritics_including_d_with_stroke(env) -> None:
    app, _db, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    _r, commune, site = _place(api, site="Thôn Đông")
    api("post", "/api/v1/sites", json={"name": "Chợ Hướng Đạo", "commune_id": commune, "kind": "market"})
    names = [f["properties"]["name"] for f in api("get", "/api/v1/sites?q=thon dong").get_json()["features"]]
    assert names == ["Thôn Đông"]
    assert [f["properties"]["name"] for f in api("get", "/api/v1/sites?q=THON%20%C4%90ONG").get_json()["features"]] == [
        "Thôn Đông"
    ]
    assert [c["name"] for c in api("get", "/api/v1/communes?q=huong dao").get_json()["communes"]] == ["Xã Hướng Đạo"]
    markets = api("get", "/api/v1/sites?kind=market").get_json()["features"]
    assert [f["properties"]["name"] for f in markets] == ["Chợ Hướng Đạo"]
    assert api("get", "/api/v1/sites?kind=castle").status_code == 400
    api("post", "/api/v1/devices", json={"name": "Loa Đầu Đình", "site_id": site, "kind": "loudspeaker"})
    found = api("get", "/api/v1/devices?q=loa dau dinh&kind=loudspeaker").get_json()["devices"]
    assert [d["name"] for d in found] == ["Loa Đầu Đình"]
    assert api("get", "/api/v1/devices?status=lost").get_json()["errors"]["status"].startswith("One of")


def test_pages_have_next_links_until_the_end(env) -> None:
    app, _db, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    for i in range(7):
        assert api("post", "/api/v1/regions", json={"name": f"Vùng {i}"}).status_code == 201
    seen, url = [], "/api/v1/regions?limit=3"
    while url:
        answer = api("get", url)
        body = answer.get_json()
        assert body["total"] == 7 and len(body["regions"]) <= 3
        seen += [r["name"] for r in body["regions"]]
        if body["next"]:
            assert f'<{body["next"]}>; rel="next"' in answer.headers["Link"]
        url = body["next"]
    assert seen == [f"Vùng {i}" for i in range(7)]
    assert api("get", "/api/v1/regions?limit=0").status_code == 400
    assert api("get", "/api/v1/regions?limit=501").status_code == 400
    assert api("get", "/api/v1/regions?offset=-1").status_code == 400
    sites = api("get", "/api/v1/sites?limit=1")
    assert sites.status_code == 200 and sites.get_json()["type"] == "FeatureCollection"


def _scoped_token(database: Any, role: str, sites: list[int]) -> str:
    """A token with a site scope, as tokens made before scopes were limited to machine roles still have."""
    secret = f"sst_scoped-{role}-{sites[0]}"
    with database.session() as session:
        session.add(ApiToken(token_sha256=hashlib.sha256(secret.encode()).hexdigest(), role=role, sites=sites))
    return secret


def test_a_site_scoped_token_is_refused_on_other_sites(env) -> None:
    app, database, tokens = env
    api = Recorder(app.test_client(), tokens["admin"])
    _r, commune, mine = _place(api, site="Thôn Của Tôi")
    other = api("post", "/api/v1/sites", json={"name": "Thôn Khác", "commune_id": commune}).get_json()["id"]
    theirs = api("post", "/api/v1/devices", json={"name": "Cam khác", "site_id": other}).get_json()["id"]
    scoped = Recorder(app.test_client(), _scoped_token(database, "editor", [mine]))
    assert scoped("get", f"/api/v1/sites/{other}").status_code == 403
    assert scoped("get", f"/api/v1/devices/{theirs}").status_code == 403
    assert scoped("patch", f"/api/v1/devices/{theirs}", json={"notes": "x"}, if_match="*").status_code == 403
    assert scoped("delete", f"/api/v1/sites/{other}", if_match="*").status_code == 403
    assert scoped("post", "/api/v1/devices", json={"name": "Lén", "site_id": other}).status_code == 403
    assert scoped("post", "/api/v1/sites", json={"name": "Mới", "commune_id": commune}).status_code == 403
    assert scoped("patch", f"/api/v1/communes/{commune}", json={"name": "x"}, if_match="*").status_code == 403
    mine_device = scoped("post", "/api/v1/devices", json={"name": "Của tôi", "site_id": mine})
    assert mine_device.status_code == 201
    moved = scoped("patch", f"/api/v1/devices/{mine_device.get_json()['id']}", json={"site_id": other}, if_match="*")
    assert moved.status_code == 403
    assert {d["site_id"] for d in scoped("get", "/api/v1/devices").get_json()["devices"]} == {mine}
    assert [f["id"] for f in scoped("get", "/api/v1/sites").get_json()["features"]] == [mine]
    assert {c["site_id"] for c in scoped("get", "/api/v1/changes").get_json()["changes"]} == {mine}
    assert api("get", f"/api/v1/devices/{theirs}").get_json()["notes"] == ""  # unchanged


def test_every_write_leaves_one_change_with_who_what_and_the_diff(env) -> None:
    app, database, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    _r, _c, site = _place(api)
    cam = api("post", "/api/v1/devices", json={"name": "Cam", "site_id": site, "kind": "camera", "ip": "127.0.0.30"})
    url = f"/api/v1/devices/{cam.get_json()['id']}"
    api("patch", url, json={"ip": "127.0.0.31"}, if_match="*")
    api("patch", url, json={"ip": "127.0.0.31"}, if_match="*")  # no change: no entry
    api("delete", url, if_match="*")
    refused = api("post", "/api/v1/devices", json={"name": "Cam", "site_id": site, "ip": "bad"})
    assert refused.status_code == 400
    viewer = Recorder(app.test_client(), tokens["viewer"])
    assert viewer("get", "/api/v1/changes").status_code == 403
    log = api("get", f"/api/v1/changes?object=device:{cam.get_json()['id']}").get_json()
    assert [c["action"] for c in log["changes"]] == ["delete", "update", "create"]
    update = log["changes"][1]
    assert update["diff"]["ip"] == ["127.0.0.30", "127.0.0.31"] and update["actor"].startswith("token:")
    assert update["site_id"] == site and update["object_repr"] == "Cam"
    everything = api("get", f"/api/v1/changes?site={site}").get_json()
    assert {(c["object_type"], c["action"]) for c in everything["changes"]} >= {
        ("site", "create"),
        ("device", "delete"),
    }
    assert api("get", "/api/v1/changes?since=2999-01-01T00:00:00Z").get_json()["total"] == 0
    assert api("get", "/api/v1/changes?object=Device:x").status_code == 400
    with database.session() as session:
        assert session.query(Change).filter(Change.object_type == "device").count() == 3


def test_the_openapi_document_lists_every_api_route_the_app_serves(env) -> None:
    app, _db, _tokens = env
    answer = app.test_client().get("/api/v1/openapi.json")  # no login: it holds no inventory data
    assert answer.status_code == 200
    doc = answer.get_json()
    assert doc["openapi"].startswith("3.1")
    served = {(r.rule, m.lower()) for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")
              for m in r.methods - {"HEAD", "OPTIONS"}}
    described = {(re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", path.replace("{", "<").replace("}", ">")), method)
                 for path, ops in doc["paths"].items() for method in ops if method != "parameters"}
    assert {(re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule), m) for rule, m in served} == described
    device_put = doc["paths"]["/api/v1/devices/{device_id}"]["put"]
    assert set(device_put["responses"]) >= {"200", "400", "404", "409", "412", "428"}
    body = doc["components"]["schemas"]["DeviceWrite"]
    assert body["required"] == ["site_id", "name"] and body["additionalProperties"] is False
    assert "password" not in doc["components"]["schemas"]["Device"]["properties"]


def test_a_write_that_finds_the_database_locked_is_a_503_not_a_500(env, tmp_path) -> None:
    """Another writer holds SQLite's lock past the busy timeout: the edit is refused with 503 and Retry-After.

    Before the fix the 503 became a 500: the teardown committed the transaction the failed flush had
    rolled back (PendingRollbackError).  Schemathesis found it with two workers editing at once.
    """
    import sqlite3

    app, database, tokens = env
    api = Recorder(app.test_client(), tokens["editor"])
    _r, _c, site = _place(api)
    holder = sqlite3.connect(database.engine.url.database, timeout=1)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE regions SET name = name")
    try:
        answer = api("patch", f"/api/v1/sites/{site}", json={"address": "đường mới"}, if_match="*")
    finally:
        holder.rollback()
        holder.close()
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    after = api("patch", f"/api/v1/sites/{site}", json={"address": "đường mới"}, if_match="*")
    assert after.status_code == 200 and after.get_json()["properties"]["address"] == "đường mới"
