"""Contacts: /api/v1/contacts (personal data for editors and admins only), the page (vi/en), severities."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from sitescout.inventory import store
from sitescout.inventory.alert_models import Notification
from sitescout.inventory.contacts import add_contact, list_contacts, wants_severity
from sitescout.inventory.db import open_database
from sitescout.inventory.models import ValidationError
from sitescout.web import create_app
from sitescout.web.notify import NotifySettings
from sitescout.web.notify_channels import SmsHttpChannel

from browser_support import chromium, click_to_next_page, have_chromium, log_in, serve_app
from notify_stubs import SmsGatewayStub
from web_seed import seed_commune

PERSONAL = ("phone", "zalo_user_id", "email")


@pytest.fixture()
def database(tmp_path: Path) -> Any:
    db = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    yield db
    db.close()


@pytest.fixture()
def site_ids(database: Any) -> dict[str, int]:
    ids = seed_commune(database)
    with database.session() as session:
        store.create_user(session, "admin", "admin-password", "admin")  # editor and viewer: seed_commune
    return ids


@pytest.fixture()
def tokens(database: Any, site_ids: dict[str, int]) -> dict[str, dict[str, str]]:
    with database.session() as session:
        return {role: {"Authorization": f"Bearer {store.create_token(session, role)}"}
                for role in ("admin", "editor", "viewer", "worker")}


@pytest.fixture()
def app(database: Any, site_ids: dict[str, int]) -> Any:
    return create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "contacts-" + "k" * 32})


def _site(site_ids: dict[str, int]) -> int:
    return sorted(site_ids.values())[0]


def test_crud_through_the_api(app: Any, site_ids: dict[str, int], tokens: dict[str, dict[str, str]]) -> None:
    client, site = app.test_client(), _site(site_ids)
    made = client.post("/api/v1/contacts", json={"site_id": site, "name": "Anh Tuấn", "phone": "0912000111",
                                                 "zalo_user_id": "1234567890", "language": "vi",
                                                 "severities": ["critical"], "quiet_hours": "22:00-06:00"},
                       headers=tokens["editor"])
    assert made.status_code == 201, made.text
    contact = made.get_json()
    assert contact["phone"] == "0912000111" and contact["severities"] == ["critical"]
    assert contact["channels"] == ["sms", "zalo"] and contact["quiet_hours"] == "22:00-06:00"
    url = f"/api/v1/contacts/{contact['id']}"
    changed = client.patch(url, json={"severities": ["critical", "warning"], "email": "tuan@xa.example.vn",
                                      "opted_out": True}, headers=tokens["admin"])
    assert changed.status_code == 200, changed.text
    assert changed.get_json()["severities"] == ["critical", "warning"] and changed.get_json()["opted_out"] is True
    for bad, field in (({"severities": []}, "severities"), ({"severities": ["info"]}, "severities"),
                       ({"phone": "09-12"}, "phone"), ({"quiet_hours": "25:00-01:00"}, "quiet_hours"),
                       ({"language": "fr"}, "language"), ({"opted_out": "yes"}, "opted_out"),
                       ({"site_id": 3}, "site_id"), ({"phone": "", "zalo_user_id": "", "email": ""}, "phone")):
        answer = client.patch(url, json=bad, headers=tokens["editor"])
        assert answer.status_code == 400 and answer.get_json()["error"].startswith(field), (bad, answer.text)
    assert client.get(url, headers=tokens["editor"]).get_json()["email"] == "tuan@xa.example.vn"  # nothing half-saved
    listed = client.get(f"/api/v1/contacts?site={site}", headers=tokens["editor"]).get_json()["contacts"]
    assert [c["id"] for c in listed] == [contact["id"]] and listed[0]["site"]
    assert client.delete(url, headers=tokens["editor"]).status_code == 204
    assert client.get(url, headers=tokens["editor"]).status_code == 404
    assert client.delete(url, headers=tokens["editor"]).status_code == 404
    refused = client.post("/api/v1/contacts", json={"site_id": 10**6, "name": "X", "phone": "0912000111"},
                          headers=tokens["editor"])
    assert refused.status_code == 404


def test_viewers_see_who_but_never_a_phone_number(app: Any, database: Any, site_ids: dict[str, int],
                                                  tokens: dict[str, dict[str, str]]) -> None:
    with database.session() as session:
        contact_id = add_contact(session, _site(site_ids), "Chị Lan", phone="0987654321", email="lan@xa.example.vn")
    client = app.test_client()
    for path in ("/api/v1/contacts", f"/api/v1/contacts/{contact_id}"):
        seen = client.get(path, headers=tokens["viewer"])
        assert seen.status_code == 200
        assert "0987654321" not in seen.text and "lan@xa.example.vn" not in seen.text
        record = seen.get_json()["contacts"][0] if "contacts" in seen.get_json() else seen.get_json()
        assert record["name"] == "Chị Lan" and record["channels"] == ["sms", "email"]
        assert not set(PERSONAL) & set(record)
        assert "0987654321" in client.get(path, headers=tokens["editor"]).text
    assert client.post("/api/v1/contacts", json={"site_id": _site(site_ids), "name": "X", "phone": "0912000111"},
                       headers=tokens["viewer"]).status_code == 403
    assert client.get("/api/v1/contacts", headers=tokens["worker"]).status_code == 403
    # A viewer logged in sees no Contacts page (nor its link) either.
    login_client = app.test_client()
    login_client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_client.get("/login").text).group(1)
    login_client.post("/login", data={"username": "viewer", "password": "viewer-password", "csrf_token": csrf})
    assert login_client.get("/contacts").status_code == 403
    assert 'id="nav-contacts"' not in login_client.get("/sites").text


def _logged_in(app: Any, user: str) -> tuple[Any, str]:
    client = app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"username": user, "password": f"{user}-password",
                                       "csrf_token": csrf}).status_code == 302
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/contacts").text).group(1)
    return client, csrf


def test_the_page_adds_changes_and_removes_in_the_readers_language(app: Any, database: Any,
                                                                   site_ids: dict[str, int]) -> None:
    client, csrf = _logged_in(app, "editor")
    site = _site(site_ids)
    added = client.post("/contacts", data={"csrf_token": csrf, "site_id": str(site), "name": "Anh Bình",
                                           "phone": "0900000001", "language": "vi", "severities": ["critical"],
                                           "quiet_hours": "21:30-06:00"}, follow_redirects=True)
    assert "Đã thêm người nhận." in added.text and "Anh Bình" in added.text and "0900000001" in added.text
    with database.session() as session:
        [(contact_id, severities)] = [(c.id, c.severities) for c, _, _ in list_contacts(session)]
    assert severities == "critical"
    bad = client.post(f"/contacts/{contact_id}", data={"csrf_token": csrf, "name": "Anh Bình", "phone": "",
                                                       "severities": ["critical"]}, follow_redirects=True)
    assert "Hãy nhập số điện thoại" in bad.text
    saved = client.post(f"/contacts/{contact_id}", data={"csrf_token": csrf, "name": "Anh Bình", "phone": "0900000002",
                                                         "language": "en", "severities": ["critical", "warning"],
                                                         "quiet_hours": ""}, follow_redirects=True)
    assert "Đã lưu người nhận." in saved.text and "0900000002" in saved.text
    client.get("/lang/en?next=/contacts")
    english = client.get("/contacts").text
    assert "Add a contact" in english and "Quiet hours" in english
    gone = client.post(f"/contacts/{contact_id}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Contact removed." in gone.text and "0900000002" not in gone.text
    forged = client.post("/contacts", data={"site_id": str(site), "name": "X", "phone": "0912000111"})
    assert forged.status_code == 400  # no CSRF token


def test_a_contact_hears_only_the_severities_they_chose(database: Any, site_ids: dict[str, int],
                                                        tokens: dict[str, dict[str, str]]) -> None:
    from sitescout.inventory.models import Commune, Site

    sms = SmsGatewayStub()
    try:
        with database.session() as session:
            site = session.get(Site, _site(site_ids))
            site_name, commune = site.name, session.get(Commune, site.commune_id).name
            add_contact(session, site.id, "Trực ban", phone="0911111111", severities=["critical"])
            add_contact(session, site.id, "Kỹ thuật", phone="0922222222", severities=["critical", "warning"])
            am = store.create_token(session, "alertmanager")
        settings = NotifySettings(channels=(SmsHttpChannel(url=sms.url, fields={
            "to": "{phone}", "message": "{text}", "api_key": "sms-key"}),), base_url="https://noc.example.vn")
        app = create_app({"DATABASE": database, "TESTING": True, "NOTIFY": settings})
        alert = {"status": "firing", "fingerprint": "jitter-1", "startsAt": "2026-12-06T02:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z",
                 "labels": {"alertname": "SitescoutLinkJitterHigh", "severity": "warning", "site": site_name,
                            "commune": commune, "device": "cam-1"}}
        answer = app.test_client().post("/api/v1/alerts", json={
            "version": "4", "status": "firing", "groupKey": "{}:{site=\"x\"}", "alerts": [alert]},
            headers={"Authorization": f"Bearer {am}"})
        assert answer.status_code == 200, answer.text
        assert [phone for phone, _ in sms.messages()] == ["0922222222"]
        with database.session() as session:
            skipped = [n.detail for n in session.query(Notification).filter(Notification.outcome == "skipped")]
        assert skipped == ["severity not wanted"]
    finally:
        sms.close()


def test_severities_and_validation_name_the_field(database: Any, site_ids: dict[str, int]) -> None:
    from sitescout.inventory.alert_models import Contact

    contact = Contact(severities="critical")
    assert wants_severity(contact, {"critical"}) and not wants_severity(contact, {"warning"})
    assert wants_severity(contact, {"", "warning"})  # an alert without a severity counts as critical
    with database.session() as session:
        for kwargs, field in (({"name": " "}, "name"), ({"phone": "abc"}, "phone"), ({"email": "a@b"}, "email"),
                              ({"zalo_user_id": "x y"}, "zalo_user_id"), ({"severities": ["info"]}, "severities")):
            with pytest.raises(ValidationError) as err:
                add_contact(session, _site(site_ids), **{"name": "X", "phone": "0912000111", **kwargs})
            assert err.value.field == field
        with pytest.raises(LookupError):
            add_contact(session, 10**6, "X", phone="0912000111")


@pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")
def test_contacts_page_in_chromium(app: Any, database: Any, site_ids: dict[str, int], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with database.session() as session:
        site = _site(site_ids)
        add_contact(session, site, "Anh Tuấn (kỹ thuật)", phone="0912345678", zalo_user_id="4471912345678",
                    quiet_hours="22:00-06:00")
        add_contact(session, site, "Chị Lan (trưởng thôn)", email="lan@xa.example.vn", severities=["critical"],
                    language="en")
    shots = Path(os.environ.get("SITESCOUT_SCREENSHOTS") or tmp_path)
    with serve_app(app) as base, chromium("vi") as driver:
        driver.set_window_size(1400, 800)
        log_in(driver, base, "editor", "editor-password")
        click_to_next_page(driver, driver.find_element(By.ID, "nav-contacts"))
        assert driver.find_element(By.TAG_NAME, "h1").text == "Người nhận cảnh báo"
        rows = driver.find_elements(By.CSS_SELECTOR, "#contact-table tr[id^=contact-]")
        assert len(rows) == 2
        form = driver.find_element(By.ID, "add-contact")
        form.find_element(By.NAME, "name").send_keys("Anh Bình")
        form.find_element(By.NAME, "phone").send_keys("0900000001")
        click_to_next_page(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "Đã thêm người nhận." in driver.find_element(By.CSS_SELECTOR, ".flash").text
        assert len(driver.find_elements(By.CSS_SELECTOR, "#contact-table tr[id^=contact-]")) == 3
        driver.save_screenshot(str(shots / "contacts-vi.png"))
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
