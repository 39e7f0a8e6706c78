"""Setting a camera's login on the device page (issue #13): write-only, logged without the secret.

A real app on a temporary inventory (the shared fixtures); the login is posted through the form
with the page's CSRF token, then every page and API answer an editor and an admin can read, and
the change log's rows in the database, are searched for the password in every encoding a leak
could take (tests/support.py `secret_forms`).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from support import bearer, login, make_app, secret_forms
from web_seed import FROZEN_SITE

from sitescout.inventory.models import Change, Device
from sitescout.inventory.secrets import get_device_credential

DATABASE_BACKENDS = ("sqlite",)

PASSWORD = "Mk-7391!vùng-cao"
USERNAME = "camuser-8842"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def keyed_app(database: Any, site_ids: dict[str, int]) -> Any:
    """The app with a credentials key."""
    return make_app(database, CREDENTIAL_KEY=KEY, SITES_CACHE_SECONDS=0)


def _camera(database: Any, site_id: int) -> Device:
    with database.session() as session:
        return session.scalars(select(Device).where(Device.name == "Camera cổng", Device.site_id == site_id)).one()


def _page_fields(client: Any, path: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|device_version)" value="([^"]*)"', client.get(path).text))


def _set_login(client: Any, device_id: int, **override: str) -> Any:
    path = f"/devices/{device_id}/edit"
    data = {**_page_fields(client, path), "username": USERNAME, "password": PASSWORD, "action": "set", **override}
    return client.post(f"/devices/{device_id}/credentials", data=data)


def _assert_clean(what: str, body: bytes) -> None:
    for form, needle in {**secret_forms(PASSWORD, USERNAME), "username": USERNAME.encode()}.items():
        assert needle not in body, f"{what} holds the password ({form})"


def test_a_login_set_in_the_form_is_stored_and_shown_nowhere(keyed_app, database, site_ids, tokens) -> None:
    site_id = site_ids[FROZEN_SITE]
    device = _camera(database, site_id)
    client = keyed_app.test_client()
    login(client, "editor")
    page = client.get(f"/devices/{device.id}/edit").text
    assert 'id="has-credentials">no<' in page.replace("không", "no")
    answer = _set_login(client, device.id)
    assert answer.status_code == 302
    with database.session() as session:
        stored = get_device_credential(session, device.id, key=KEY.encode())
    assert stored is not None and (stored.username, stored.password) == (USERNAME, PASSWORD)
    shown: dict[str, bytes] = {"the answer": answer.data}
    for lang in ("vi", "en"):
        client.set_cookie("sitescout_lang", lang)
        for path in (f"/devices/{device.id}/edit", f"/sites/{site_id}", "/sites", "/map", f"/sites/{site_id}/report"):
            response = client.get(path)
            assert response.status_code == 200, path
            shown[f"{path} ({lang})"] = response.data
    device_page = client.get(f"/devices/{device.id}/edit").text
    assert 'id="has-credentials">yes<' in device_page
    assert 'value=""' in device_page and 'name="password" type="password"' in device_page
    assert "Credentials set</span>: no → yes" in device_page  # the change log says it was set, not what
    api = keyed_app.test_client()
    for role in ("editor", "admin"):
        for path in ("/api/v1/sites", f"/api/v1/sites/{site_id}", f"/api/v1/devices?site={site_id}",
                     f"/api/v1/devices/{device.id}", f"/api/v1/devices/{device.id}/credentials",
                     "/api/v1/changes", f"/api/v1/changes?object=device:{device.id}", "/api/v1/openapi.json"):
            response = api.get(path, headers=bearer(tokens[role]))
            assert response.status_code == 200, path
            shown[f"{path} ({role})"] = response.data
    assert api.get(f"/api/v1/devices/{device.id}/credentials", headers=bearer(tokens["editor"])).get_json() \
        == {"has_credentials": True}
    for what, body in shown.items():
        _assert_clean(what, body)
    with database.session() as session:
        rows = session.scalars(select(Change).where(Change.object_type == "device")).all()
        assert any((r.after or {}).get("has_credential") is True for r in rows)
        for row in rows:
            _assert_clean(f"change {row.id}", repr((row.before, row.after, row.actor, row.object_repr)).encode())


def test_forgetting_and_a_stale_form(keyed_app, database, site_ids) -> None:
    device = _camera(database, site_ids[FROZEN_SITE])
    client = keyed_app.test_client()
    login(client, "editor")
    client.set_cookie("sitescout_lang", "en")  # the flash is worded when the form is posted
    assert _set_login(client, device.id, device_version=str(device.version + 5)).status_code == 302
    with database.session() as session:
        assert get_device_credential(session, device.id, key=KEY.encode()) is None  # stale: refused
    assert "Reload it and try again" in client.get(f"/devices/{device.id}/edit").text
    _set_login(client, device.id)
    path = f"/devices/{device.id}/edit"
    assert client.post(f"/devices/{device.id}/credentials",
                       data={**_page_fields(client, path), "action": "clear"}).status_code == 302
    with database.session() as session:
        assert get_device_credential(session, device.id, key=KEY.encode()) is None
        assert session.get(Device, device.id).credential_encrypted is None


def test_without_a_key_the_form_says_so_and_stores_nothing(app, database, site_ids, monkeypatch) -> None:
    monkeypatch.delenv("SITESCOUT_SECRET_KEY", raising=False)
    monkeypatch.delenv("SITESCOUT_SECRET_KEY_FILE", raising=False)
    device = _camera(database, site_ids[FROZEN_SITE])
    client = app.test_client()
    login(client, "editor")
    client.set_cookie("sitescout_lang", "en")
    page = client.get(f"/devices/{device.id}/edit").text
    assert 'id="credentials-unavailable"' in page and 'id="credentials-form"' not in page
    data = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "device_version": str(device.version), "username": USERNAME, "password": PASSWORD, "action": "set"}
    assert client.post(f"/devices/{device.id}/credentials", data=data).status_code == 302
    with database.session() as session:
        assert session.get(Device, device.id).credential_encrypted is None
    assert "keeps no camera logins" in client.get(f"/devices/{device.id}/edit").text


def test_a_viewer_cannot_set_a_login(keyed_app, database, site_ids) -> None:
    device = _camera(database, site_ids[FROZEN_SITE])
    client = keyed_app.test_client()
    login(client, "viewer")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sites").text).group(1)
    answer = client.post(f"/devices/{device.id}/credentials",
                         data={"csrf_token": token, "device_version": str(device.version), "username": USERNAME,
                               "password": PASSWORD, "action": "set"})
    assert answer.status_code == 403
    with database.session() as session:
        assert session.get(Device, device.id).credential_encrypted is None
