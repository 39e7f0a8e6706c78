"""Access management through the API and the admin pages: tokens and users (issue 13), on a real app and DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import bearer, csrf_token, login, make_app

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import ValidationError

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


@pytest.fixture()
def env(database, site_ids, tokens, admin):
    return make_app(database, SITES_CACHE_SECONDS=0), database, tokens, site_ids


def test_a_created_token_is_shown_once_works_and_is_refused_right_after_revocation(env) -> None:
    app, _db, tokens, site_ids = env
    client = app.test_client()
    admin = bearer(tokens["admin"])
    site = next(iter(site_ids.values()))
    answer = client.post("/api/v1/tokens", json={"role": "worker", "label": "NOC 1", "expires_at": None,
                                                 "sites": [site]}, headers=admin)
    assert answer.status_code == 201, answer.text
    body = answer.get_json()
    secret, token_id = body["token"], body["id"]
    assert answer.headers["Location"] == f"/api/v1/tokens/{token_id}"
    assert body["sites"] == [site] and body["role"] == "worker" and body["label"] == "NOC 1"
    assert client.get("/sd/prometheus", headers=bearer(secret)).status_code == 200
    listing = client.get("/api/v1/tokens", headers=admin)
    assert listing.status_code == 200
    assert secret not in listing.text and "sha256" not in listing.text
    assert any(t["id"] == token_id and t["label"] == "NOC 1" for t in listing.get_json()["tokens"])
    one = client.get(answer.headers["Location"], headers=admin)
    assert one.status_code == 200 and secret not in one.text
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 204
    refused = client.get("/sd/prometheus", headers=bearer(secret))
    assert refused.status_code == 401
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 404
    assert client.get(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 404


def test_token_requests_with_wrong_fields_are_400_naming_each_field(env) -> None:
    app, _db, tokens, _sites = env
    client = app.test_client()
    bad = {"role": "root", "label": 7, "expires_at": "2001-01-01T00:00:00Z", "sites": [987654]}
    answer = client.post("/api/v1/tokens", json=bad, headers=bearer(tokens["admin"]))
    assert answer.status_code == 400
    assert set(answer.get_json()["errors"]) == {"role", "label", "expires_at", "sites"}
    assert "no site with id 987654" in answer.get_json()["errors"]["sites"]
    answer = client.post("/api/v1/tokens", json={"role": "viewer", "expires_at": "tomorrow"},
                         headers=bearer(tokens["admin"]))
    assert answer.status_code == 400 and "ISO 8601" in answer.get_json()["errors"]["expires_at"]
    assert client.post("/api/v1/tokens", json=[1], headers=bearer(tokens["admin"])).status_code == 400


def test_only_admins_manage_access(env) -> None:
    app, _db, tokens, _sites = env
    client = app.test_client()
    for role in ("editor", "viewer", "worker"):
        assert client.post("/api/v1/tokens", json={"role": "admin", "label": ""},
                           headers=bearer(tokens[role])).status_code == 403
        assert client.get("/api/v1/users", headers=bearer(tokens[role])).status_code == 403
    viewer = app.test_client()
    assert login(viewer, "viewer", "viewer-password").status_code == 302
    assert viewer.get("/api/v1/tokens").status_code == 403
    assert viewer.get("/admin/tokens").status_code == 403
    assert "/admin/tokens" not in viewer.get("/map").text  # no nav link for non-admins


def test_an_expired_token_is_refused(env) -> None:
    app, database, tokens, _sites = env
    with database.session() as session:
        old = store.create_token(session, "viewer", expires_at=datetime.now(UTC) - timedelta(seconds=1))
        fresh = store.create_token(session, "viewer", expires_at=datetime.now(UTC) + timedelta(hours=1))
    client = app.test_client()
    assert client.get("/api/v1/sites", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/sites", headers=bearer(fresh)).status_code == 200


def test_token_listing_is_paginated(env) -> None:
    app, database, tokens, _sites = env
    with database.session() as session:
        for i in range(5):
            store.create_token(session, "viewer", label=f"page {i}")
    client = app.test_client()
    first = client.get("/api/v1/tokens?limit=3", headers=bearer(tokens["admin"])).get_json()
    assert first["total"] == 9 and len(first["tokens"]) == 3 and first["next"] == "/api/v1/tokens?offset=3&limit=3"
    rest = client.get(first["next"], headers=bearer(tokens["admin"])).get_json()
    last = client.get(rest["next"], headers=bearer(tokens["admin"])).get_json()
    ids = [t["id"] for page in (first, rest, last) for t in page["tokens"]]
    assert len(ids) == len(set(ids)) == 9 and last["next"] is None
    assert client.get("/api/v1/tokens?limit=x", headers=bearer(tokens["admin"])).status_code == 400


def test_users_are_created_updated_with_if_match_and_the_last_admin_stays(env) -> None:
    app, database, tokens, _sites = env
    client = app.test_client()
    admin = bearer(tokens["admin"])
    made = client.post("/api/v1/users", json={"username": "lan", "password": "lan-password-1", "role": "viewer"},
                       headers=admin)
    assert made.status_code == 201, made.text
    location, etag = made.headers["Location"], made.headers["ETag"]
    assert "password" not in made.text and "scrypt" not in made.text
    assert client.post("/api/v1/users", json={"username": "lan", "password": "x" * 9, "role": "viewer"},
                       headers=admin).status_code == 409
    bad = client.post("/api/v1/users", json={"username": "", "password": "short", "role": "worker"}, headers=admin)
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"username", "password", "role"}
    assert client.patch(location, json={"role": "editor"}, headers=admin).status_code == 428
    changed = client.patch(location, json={"role": "editor"}, headers={**admin, "If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["role"] == "editor"
    assert changed.headers["ETag"] != etag
    stale = client.patch(location, json={"role": "viewer"}, headers={**admin, "If-Match": etag})
    assert stale.status_code == 412  # the second admin read the user before the first one's change
    assert client.get(location, headers=admin).get_json()["role"] == "editor"
    # The last admin can be neither demoted nor removed.
    users = client.get("/api/v1/users", headers=admin).get_json()["users"]
    admins = [u for u in users if u["role"] == "admin"]
    for extra in admins[1:]:
        assert client.delete(f"/api/v1/users/{extra['id']}", headers=admin).status_code == 204
    last = admins[0]
    assert client.delete(f"/api/v1/users/{last['id']}", headers=admin).status_code == 409
    assert client.patch(f"/api/v1/users/{last['id']}", json={"role": "viewer"},
                        headers={**admin, "If-Match": last["etag"]}).status_code == 409
    assert client.delete(location, headers=admin).status_code == 204
    assert client.delete(location, headers=admin).status_code == 404
    assert client.get("/api/v1/users/99999", headers=admin).status_code == 404


def test_a_password_change_through_the_api_ends_the_users_sessions(env) -> None:
    app, _db, tokens, _sites = env
    admin = bearer(tokens["admin"])
    browser = app.test_client()
    assert login(browser, "editor", "editor-password").status_code == 302
    users = app.test_client().get("/api/v1/users", headers=admin).get_json()["users"]
    editor = next(u for u in users if u["username"] == "editor")
    answer = app.test_client().patch(f"/api/v1/users/{editor['id']}", json={"password": "a-new-password"},
                                     headers={**admin, "If-Match": f'"{editor["etag"]}"'})
    assert answer.status_code == 200
    assert browser.get("/map").status_code == 302  # logged out: back to the login page


def test_the_token_page_shows_a_new_secret_once_and_revokes(env) -> None:
    app, _db, _tokens, _sites = env
    client = app.test_client()
    assert login(client, "admin", "admin-password").status_code == 302
    page = client.post("/admin/tokens", data={"csrf_token": csrf_token(client, "/admin/tokens"), "role": "worker",
                                              "label": "village worker", "expires_at": "2099-01-01", "sites": ""})
    assert page.status_code == 201
    secret = page.text.split('id="new-token"')[1].split('value="')[1].split('"')[0]
    assert secret.startswith("sst_")
    assert app.test_client().get("/sd/prometheus", headers=bearer(secret)).status_code == 200
    again = client.get("/admin/tokens")
    # The expiry in the deployment's zone and the reader's locale, with its full year (never "1/1/99").
    assert secret not in again.text and "village worker" in again.text and "1 thg 1, 2099" in again.text
    token_id = again.text.split("village worker")[0].rsplit('id="token-', 1)[1].split('"')[0]
    client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/admin/tokens")})
    assert app.test_client().get("/sd/prometheus", headers=bearer(secret)).status_code == 401
    client.set_cookie("sitescout_lang", "vi")
    assert "Mã truy cập API" in client.get("/admin/tokens").text


def test_tokens_made_before_the_expiry_column_keep_working_after_the_upgrade(tmp_path) -> None:
    import hashlib
    import sqlite3

    from alembic import command
    from alembic.config import Config

    from sitescout.inventory.db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = open_database(url, migrate=False)
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = old.engine
    command.upgrade(config, "0003_webhyg")  # an inventory as it was before token expiry
    old.close()
    conn = sqlite3.connect(tmp_path / "old.sqlite3")
    conn.execute("INSERT INTO api_tokens (token_sha256, role, label, created_at) VALUES (?, 'viewer', 'old', "
                 "'2026-01-01 00:00:00.000000')", (hashlib.sha256(b"sst_old-token").hexdigest(),))
    conn.commit()
    conn.close()
    database = open_database(url)  # upgrades to the head
    try:
        with database.session() as session:
            grant = store.find_token(session, "sst_old-token")
            assert grant is not None and grant.role == "viewer"
    finally:
        database.close()


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_sites_are_refused_for_a_role_that_does_not_honour_a_scope(env, role: str) -> None:
    app, _db, tokens, site_ids = env
    site = next(iter(site_ids.values()))
    answer = app.test_client().post("/api/v1/tokens", json={"role": role, "label": "scoped?", "sites": [site]},
                                    headers=bearer(tokens["admin"]))
    assert answer.status_code == 400, answer.text
    assert set(answer.get_json()["errors"]) == {"sites"} and "cannot be scoped" in answer.get_json()["errors"]["sites"]


@pytest.mark.parametrize("role", ["worker", "alertmanager"])
def test_sites_are_kept_for_the_roles_that_honour_a_scope(env, role: str) -> None:
    app, _db, tokens, site_ids = env
    site = next(iter(site_ids.values()))
    answer = app.test_client().post("/api/v1/tokens", json={"role": role, "sites": [site]},
                                    headers=bearer(tokens["admin"]))
    assert answer.status_code == 201 and answer.get_json()["sites"] == [site]


def test_issue_token_refuses_a_scope_for_a_viewer(env) -> None:
    _app, database, _tokens, site_ids = env
    with database.session() as session, pytest.raises(ValidationError, match="cannot be scoped"):
        store.create_token(session, "viewer", sites=list(site_ids.values())[:1])
