"""The web app on a real temporary SQLite inventory, through Flask's test client."""

from __future__ import annotations

import re
import sqlite3
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

from support import bearer, csrf_token, login
from web_seed import FROZEN_SITE, HD, frozen_survey

from sitescout.inventory import store
from sitescout.web import create_app
from sitescout.web.bootstrap import ensure_admin

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


def test_pages_need_login_and_login_sets_a_hardened_cookie(app):
    client = app.test_client()
    response = client.get("/map")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/map")
    assert login(client, password="wrong-password").status_code == 401
    response = login(client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Lax"):
        assert flag in cookie
    assert client.get("/map").status_code == 200


def test_forms_without_the_csrf_token_are_refused(app):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "viewer", "password": "viewer-password"})
    assert response.status_code == 400
    assert "CSRF" in response.text
    login(client)
    assert client.post("/logout").status_code == 400
    assert client.get("/map").status_code == 200  # still logged in: the forged logout did nothing


def test_pages_carry_a_strict_csp_and_no_inline_script(app):
    client = app.test_client()
    login(client)
    page = client.get("/map")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "cdn" not in page.text.lower() and "unpkg" not in page.text.lower()
    assert client.get("/static/vendor/leaflet.js").status_code == 200


def test_sites_api_is_geojson_with_health(app, site_ids):
    client = app.test_client()
    login(client)
    response = client.get("/api/v1/sites")
    assert response.mimetype == "application/geo+json"
    data = response.get_json()
    assert data["type"] == "FeatureCollection" and len(data["features"]) == len(site_ids)
    frozen = next(f for f in data["features"] if f["properties"]["name"] == FROZEN_SITE)
    assert frozen["properties"]["health"] == "problem"
    assert frozen["geometry"] == {"type": "Point", "coordinates": [105.3, 21.71]}  # lon, lat
    assert {f["properties"]["health"] for f in data["features"]} == {"ok", "problem"}


def test_search_ignores_diacritics_and_problems_filter(app):
    client = app.test_client()
    login(client)
    names = [f["properties"]["name"] for f in client.get("/api/v1/sites?q=thon huong dao").get_json()["features"]]
    assert names == [HD]
    names = [f["properties"]["name"] for f in client.get("/api/v1/sites?q=DONG BUA").get_json()["features"]]
    assert sorted(names) == ["Ngã ba Đồng Bùa", "Nhà văn hóa Thôn Đồng Bùa"]
    names = [f["properties"]["name"] for f in client.get("/api/v1/sites?q=na kha").get_json()["features"]]
    assert names == [FROZEN_SITE]
    problems = client.get("/api/v1/sites?problems=1").get_json()["features"]
    assert [f["properties"]["name"] for f in problems] == [FROZEN_SITE]


def test_site_and_devices_api_never_return_credentials(app, database, site_ids, tokens):
    client = app.test_client()
    with database.session() as session:
        from sitescout.inventory.models import Device

        device = session.query(Device).filter_by(site_id=site_ids[FROZEN_SITE], kind="camera").one()
        device.credential_encrypted = b"gAAAA-not-a-real-secret"
    site = client.get(f"/api/v1/sites/{site_ids[FROZEN_SITE]}", headers=bearer(tokens["viewer"])).get_json()
    assert site["properties"]["name"] == FROZEN_SITE and len(site["properties"]["devices"]) == 1
    devices = client.get(f"/api/v1/devices?site={site_ids[FROZEN_SITE]}", headers=bearer(tokens["viewer"]))
    assert devices.status_code == 200
    camera = next(d for d in devices.get_json()["devices"] if d["kind"] == "camera")
    assert camera["health"] == "problem" and "frozen" in camera["health_reason"]
    for body in (str(site), devices.text):
        assert "gAAAA" not in body and "credential_encrypted" not in body
    assert client.get("/api/v1/devices?site=x", headers=bearer(tokens["viewer"])).status_code == 400
    assert client.get("/api/v1/sites/999999", headers=bearer(tokens["viewer"])).status_code == 404


def test_api_tokens_and_roles(app, tokens):
    client = app.test_client()
    assert client.get("/api/v1/sites").status_code == 401
    assert client.get("/api/v1/sites", headers=bearer("sst_wrong")).status_code == 401
    assert client.get("/api/v1/sites", headers=bearer(tokens["viewer"])).status_code == 200
    # A worker token reads targets and posts observations, nothing else.
    assert client.get("/api/v1/sites", headers=bearer(tokens["worker"])).status_code == 403
    assert client.post("/api/v1/surveys", json=frozen_survey(), headers=bearer(tokens["worker"])).status_code == 403
    assert client.get("/sd/prometheus", headers=bearer(tokens["worker"])).status_code == 200
    assert client.get("/sd/prometheus").status_code == 401
    assert client.post("/api/v1/observations", json=[], headers=bearer(tokens["viewer"])).status_code == 403


def test_survey_push_needs_an_editor_token_and_twice_is_once(app, database, site_ids, tokens):
    client = app.test_client()
    doc = frozen_survey(HD)
    doc["hosts"][0]["onvif"]["endpoint"] = "urn:uuid:0000-new-camera"
    assert client.post("/api/v1/surveys", json=doc).status_code == 401
    first = client.post("/api/v1/surveys", json=doc, headers=bearer(tokens["editor"]))
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/surveys", json=doc, headers=bearer(tokens["editor"]))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert again.get_json()["survey_id"] == first.get_json()["survey_id"]
    with database.session() as session:
        assert len(store.get_site(session, site_ids[HD]).surveys) == 1
    bad = client.post("/api/v1/surveys", json={"site": HD}, headers=bearer(tokens["editor"]))
    assert bad.status_code == 400 and "hosts" in bad.get_json()["error"]
    unknown = dict(doc, site="Thôn Không Có")
    assert client.post("/api/v1/surveys", json=unknown, headers=bearer(tokens["editor"])).status_code == 400


def test_worker_posts_observations_and_sd_lists_targets(app, database, site_ids, tokens):
    client = app.test_client()
    groups = client.get("/sd/prometheus", headers=bearer(tokens["worker"])).get_json()
    with database.session() as session:
        assert len(groups) == len([d for d in store.list_devices(session) if d.ip])
    hd = next(g for g in groups if g["labels"]["site"] == HD and g["labels"]["kind"] == "camera")
    device_id = int(hd["labels"]["__meta_sitescout_device_id"])
    obs = [{"device_id": device_id, "kind": "stream", "health": "problem", "reason": "main: black",
            "observed_at": datetime.now(timezone.utc).isoformat(), "values": {"fps": 0.0}}]
    response = client.post("/api/v1/observations", json=obs, headers=bearer(tokens["worker"]))
    assert response.status_code == 201 and response.get_json() == {"recorded": 1}
    bad = client.post("/api/v1/observations", json=[{"device_id": 10**6, "kind": "x"}],
                      headers=bearer(tokens["worker"]))
    assert bad.status_code == 400 and "device" in bad.get_json()["error"]
    login(client)
    problems = client.get("/api/v1/sites?problems=1").get_json()["features"]
    assert {f["properties"]["name"] for f in problems} == {FROZEN_SITE, HD}


def test_metrics_show_requests_and_sites_by_health(app, site_ids):
    client = app.test_client()
    client.get("/login")
    text = client.get("/metrics").text
    assert 'sitescout_web_sites{health="problem"} 1.0' in text
    assert f'sitescout_web_sites{{health="ok"}} {len(site_ids) - 1}.0' in text
    assert 'sitescout_web_requests_total{endpoint="auth.login",method="GET",status="200"} 1.0' in text


def test_language_from_browser_and_switch(app):
    client = app.test_client()
    assert "Đăng nhập" in client.get("/login", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).text
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    response = client.get("/lang/vi?next=/login", headers={"Accept-Language": "en"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Đăng nhập" in client.get("/login", headers={"Accept-Language": "en"}).text
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/map"  # no open redirect


def test_site_page_shows_devices_health_snapshot_and_history(app, site_ids):
    client = app.test_client()
    client.set_cookie("sitescout_lang", "vi")
    login(client)
    page = client.get(f"/sites/{site_ids[FROZEN_SITE]}").text
    assert FROZEN_SITE in page and "Sự cố" in page and "hình bị đứng (main) từ 15:01" in page
    snap = re.search(r'src="(/snapshots/\d+\.jpg)"', page)
    assert snap and client.get(snap.group(1)).data[:2] == b"\xff\xd8"
    other = client.get(f"/sites/{site_ids[HD]}").text
    assert "<polyline" in other and "tốc độ khung hình" in other  # fps history of three observations
    assert client.get("/sites/999999").status_code == 404


def test_report_html_and_pdf(app, site_ids):
    client = app.test_client()
    login(client)
    response = client.get(f"/sites/{site_ids[FROZEN_SITE]}/report")
    assert response.status_code == 200
    # The default language is Vietnamese: the report says so too (a survey made in English).
    assert "hình bị đứng" in response.text and "data:image/jpeg;base64," in response.text
    csp = response.headers["Content-Security-Policy"]
    assert "style-src 'self' 'sha256-" in csp and "script-src 'none'" in csp
    pdf = client.get(f"/sites/{site_ids[FROZEN_SITE]}/report.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert len(pdf.data) > 5000  # the snapshot is embedded
    no_survey = client.get(f"/sites/{site_ids[HD]}/report")
    assert no_survey.status_code == 200 and HD in no_survey.text
    assert client.get(f"/sites/{site_ids[FROZEN_SITE]}/report?survey=999").status_code == 404


def test_editor_accepts_candidate_viewer_cannot(app, database, site_ids, tokens):
    client = app.test_client()
    doc = frozen_survey(HD)
    doc["hosts"][0].update(ip="198.51.100.77", mac="00:aa:bb:cc:dd:ee")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:candidate", serial="NEW-1")
    client.post("/api/v1/surveys", json=doc, headers=bearer(tokens["editor"]))
    with database.session() as session:
        candidate = store.get_site(session, site_ids[HD]).candidates[0]
    login(client, "viewer")
    token = csrf_token(client, f"/sites/{site_ids[HD]}")
    url = f"/candidates/{candidate.id}/accept"
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    editor = app.test_client()
    login(editor, "editor")
    page = editor.get(f"/sites/{site_ids[HD]}").text
    assert url in page
    token = csrf_token(editor, f"/sites/{site_ids[HD]}")
    assert editor.post(url, data={"csrf_token": token, "site_id": site_ids[HD]}).status_code == 302
    with database.session() as session:
        assert not store.get_site(session, site_ids[HD]).candidates


def _mbtiles(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE metadata (name text, value text);
        CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);
        CREATE UNIQUE INDEX tile_index on tiles (zoom_level, tile_column, tile_row);
        INSERT INTO metadata VALUES ('name', 'test'), ('format', 'png'), ('minzoom', '0'), ('maxzoom', '2');
    """)
    # XYZ 1/0/0 is TMS row 1 (flip: 2**1 - 1 - 0).
    conn.execute("INSERT INTO tiles VALUES (1, 0, 1, ?)", (b"\x89PNG\r\n\x1a\nTILE-1-0-0",))
    conn.commit()
    conn.close()


def test_tiles_from_mbtiles(database, site_ids, tmp_path):
    _mbtiles(tmp_path / "base.mbtiles")
    app = create_app({"DATABASE": database, "TESTING": True, "TILES_FILE": str(tmp_path / "base.mbtiles")})
    client = app.test_client()
    assert client.get("/tiles/1/0/0.png").status_code == 302  # login first
    login(client)
    tile = client.get("/tiles/1/0/0.png")
    assert tile.status_code == 200 and tile.mimetype == "image/png" and tile.data.endswith(b"TILE-1-0-0")
    assert client.get("/tiles/1/0/1.png").status_code == 404
    assert client.get("/tiles/1/5/0.png").status_code == 404  # outside the pyramid
    assert client.get("/tiles/1/0/..%2f..%2fetc.png").status_code == 404
    assert "/tiles/{z}/{x}/{y}.png" in client.get("/map").text


def test_map_without_tiles_uses_a_plain_background(app):
    client = app.test_client()
    login(client)
    page = client.get("/map").text
    assert '"tiles"' not in page.replace("&#34;", '"')


def test_first_start_writes_admin_credential_0600(database, tmp_path):
    created = ensure_admin(database, tmp_path / "data")
    assert created is not None
    assert stat.S_IMODE(created.path.stat().st_mode) == 0o600
    text = created.path.read_text()
    password = re.search(r"password = (\S+)", text).group(1)
    token = re.search(r"api_token = (\S+)", text).group(1)
    with database.session() as session:
        assert store.check_user(session, "admin", password) == "admin"
        assert store.check_token(session, token) == "admin"
    assert ensure_admin(database, tmp_path / "data") is None  # only on first start


def test_sites_answer_is_cached_briefly_dropped_on_writes_and_conditional(app, database, site_ids, tokens):
    client = app.test_client()
    first = client.get("/api/v1/sites", headers=bearer(tokens["viewer"]))
    etag = first.headers["ETag"]
    assert client.get("/api/v1/sites", headers={**bearer(tokens["viewer"]), "If-None-Match": etag}).status_code == 304
    with database.session() as session:  # a write behind the app's back shows after SITES_CACHE_SECONDS
        camera = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.kind == "camera")
    obs = [{"device_id": camera.id, "kind": "stream", "health": "problem", "reason": "main: black"}]
    assert client.post("/api/v1/observations", json=obs, headers=bearer(tokens["worker"])).status_code == 201
    again = client.get("/api/v1/sites", headers={**bearer(tokens["viewer"]), "If-None-Match": etag})
    assert again.status_code == 200  # the write through the API dropped the cached answer
    hd = next(f for f in again.get_json()["features"] if f["properties"]["name"] == HD)
    assert hd["properties"]["health"] == "problem"


def test_expired_sites_answer_is_rebuilt_once_not_by_every_waiting_request(app, tokens, monkeypatch):
    # wrk with 64 connections: when the cached bytes expired, every request in flight rebuilt them
    # (0.9 s of CPU each for 10,000 sites) and the server fell behind for good.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sitescout.web import api

    builds = []
    real = api._build_sites_body

    def counted(query, problems_only):
        builds.append(threading.get_ident())
        time.sleep(0.3)  # a slow build, so the other requests arrive while it runs
        return real(query, problems_only)

    monkeypatch.setattr(api, "_build_sites_body", counted)
    app.config["SITES_CACHE_SECONDS"] = 1.0

    def fetch(_):
        response = app.test_client().get("/api/v1/sites", headers=bearer(tokens["viewer"]))
        return response.status_code, len(response.get_json()["features"])

    with ThreadPoolExecutor(16) as pool:
        cold = list(pool.map(fetch, range(16)))
        assert len(builds) == 1, "a cold cache is built by one request while the others wait"
        time.sleep(1.1)  # expired
        warm = list(pool.map(fetch, range(16)))
    assert len(builds) == 2, "an expired answer is rebuilt by one request; the others get the old bytes"
    assert {c for c, _ in cold + warm} == {200} and len({n for _, n in cold + warm}) == 1


def test_no_free_database_connection_is_a_503_with_retry_after(tmp_path, tokens):
    # Under load every pooled connection can be taken: that is "come back later", not a crash.
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from sitescout.inventory.db import Database

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2,
                           connect_args={"check_same_thread": False})
    small = Database(engine=engine, url=url, _factory=sessionmaker(bind=engine, expire_on_commit=False))
    busy_app = create_app({"DATABASE": small, "TESTING": False, "SECRET_KEY": "test-key-" + "x" * 32})
    held = engine.connect()  # the one connection, taken
    try:
        response = busy_app.test_client().get("/api/v1/sites", headers=bearer(tokens["viewer"]))
    finally:
        held.close()
        engine.dispose()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json()["code"] == "unavailable" and "bận" in response.get_json()["error"]  # default: vi


def test_sd_answer_is_built_once_for_many_pollers_kept_across_observations_and_dropped_on_writes(
        app, database, site_ids, tokens, monkeypatch):
    # 100,000 devices: a 32 MB answer, 1-2 s of CPU per build; many Prometheus servers poll it.
    import gzip
    import json
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sitescout.inventory.models import Device

    builds = []
    real = store.prometheus_targets_json

    def counted(session, **parts):
        builds.append(threading.get_ident())
        time.sleep(0.3)  # a slow build, so the other pollers arrive while it runs
        return real(session, **parts)

    monkeypatch.setattr(store, "prometheus_targets_json", counted)
    app.config["SD_CACHE_SECONDS"] = 3600.0  # only writes may drop the answer here, never its age (a loaded machine)
    worker = bearer(tokens["worker"])

    def fetch(_):
        response = app.test_client().get("/sd/prometheus", headers=worker)
        return response.status_code, response.data

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(fetch, range(12)))
    assert len(builds) == 1, "one build for pollers arriving together"
    assert {status for status, _ in answers} == {200} and len({body for _, body in answers}) == 1
    with database.session() as session:
        assert json.loads(answers[0][1]) == store.prometheus_targets(session)  # the same content as before
        camera = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.kind == "camera" and d.ip)
    client = app.test_client()
    zipped = client.get("/sd/prometheus", headers={**worker, "Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == answers[0][1]
    refused = client.get("/sd/prometheus", headers={**worker, "Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers and refused.data == answers[0][1]

    obs = [{"device_id": camera.id, "kind": "stream", "health": "problem", "reason": "main: black"}]
    assert client.post("/api/v1/observations", json=obs, headers=worker).status_code == 201
    with database.session() as session:  # a rename behind the app's back: shows within SITES_CACHE_SECONDS
        session.get(Device, camera.id).name = "cam-renamed-behind-the-app"
    assert b"cam-renamed-behind-the-app" not in client.get("/sd/prometheus", headers=worker).data
    assert len(builds) == 1, "observations never change a target: the answer is kept"
    assert client.post("/api/v1/surveys", json=frozen_survey(HD), headers=bearer(tokens["editor"])).status_code in (
        200, 201)
    renamed = json.loads(client.get("/sd/prometheus", headers=worker).data)
    assert len(builds) == 2, "a write through the app drops the answer"
    assert any(g["labels"]["device"] == "cam-renamed-behind-the-app" for g in renamed)
