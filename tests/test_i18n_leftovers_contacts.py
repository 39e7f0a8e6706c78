"""The contacts API says a refused contact in the reader's language, with a code per rule (vi and en)."""

from __future__ import annotations

from typing import Any

import pytest
from support import bearer, editor_with_a_site

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app

VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture()
def env(tmp_path):
    yield from editor_with_a_site(tmp_path)


def _both(client: Any, body: dict[str, Any], editor: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    answers = []
    for lang in (VI, EN):
        answer = client.post("/api/v1/contacts", json=body, headers={**editor, **lang})
        assert answer.status_code == 400, answer.text
        answers.append(answer.get_json())
    vi, en = answers
    assert vi["code"] == en["code"] and vi.get("params") == en.get("params")
    assert vi["message"] != en["message"] and en["message"] not in vi["message"]
    return vi, en


@pytest.mark.parametrize("change,code,field,english,vietnamese", [
    ({"phone": "12ab"}, "contact_phone", "phone", "Write the phone number as digits",
     "Ghi số điện thoại bằng chữ số"),
    ({"email": "khong-phai"}, "contact_email", "email", "Not an e-mail address.", "Không phải địa chỉ e-mail."),
    ({"quiet_hours": "22h-6h"}, "contact_quiet_hours", "quiet_hours", "Write quiet hours as HH:MM-HH:MM",
     "Hãy ghi giờ không làm phiền dạng HH:MM-HH:MM"),
    ({"language": "fr"}, "contact_language", "language", "Must be vi or en.", "Phải là vi hoặc en."),
    ({"opted_out": "no"}, "must_be_boolean", "opted_out", "Must be true or false.", None),
    ({"colour": "red"}, "unknown_field_of", "colour", "Unknown field; the fields are name, phone",
     "Trường không có; các trường là name, phone"),
])
def test_a_refused_contact_in_both_languages(env, change: dict[str, Any], code: str, field: str, english: str,
                                             vietnamese: str | None) -> None:
    client, editor, site = env
    vi, en = _both(client, {"site_id": site, "name": "Anh Tuấn", "phone": "0912000111", **change}, editor)
    assert vi["code"] == code and vi["params"]["field"] == field
    assert en["message"].startswith(f"{field}: {english}"), en
    if vietnamese:
        assert vi["message"].startswith(f"{field}: {vietnamese}"), vi


def test_a_severity_names_its_value(env) -> None:
    client, editor, site = env
    vi, en = _both(client, {"site_id": site, "name": "Chị Lan", "phone": "0912000111", "severities": ["loud"]},
                   editor)
    assert vi["code"] == "contact_severity" and vi["params"]["value"] == "loud"
    assert en["message"].startswith("severities: 'loud' is not one of critical")
    assert vi["message"].startswith("severities: 'loud' không thuộc các mức critical")


@pytest.mark.parametrize("payload,code,field,english,vietnamese", [
    ({"version": "3", "alerts": []}, "webhook_version", "version",
     "version: Only Alertmanager's webhook version 4 is understood.",
     "version: Chỉ hiểu webhook phiên bản 4 của Alertmanager."),
    ({"version": "4", "status": "firing", "groupKey": "g", "alerts": [
        {"status": "firing", "fingerprint": "a1", "startsAt": "yesterday"}]}, "not_rfc3339", "alerts[0].startsAt",
     "alerts[0].startsAt: Not an RFC 3339 time: 'yesterday'.",
     "alerts[0].startsAt: Không phải thời điểm theo RFC 3339: 'yesterday'."),
    ({"version": "4", "status": "loud", "groupKey": "g", "alerts": []}, "firing_or_resolved", "status",
     "status: Must be firing or resolved.", "status: Phải là firing hoặc resolved."),
])
def test_a_refused_webhook_in_both_languages(tmp_path, payload: dict[str, Any], code: str, field: str, english: str,
                                             vietnamese: str) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
    try:
        with database.session() as session:
            token = store.create_token(session, "alertmanager")
        client = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64}).test_client()
        answers = []
        for lang in (VI, EN):
            answer = client.post("/api/v1/alerts", json=payload, headers={**bearer(token), **lang})
            assert answer.status_code == 400, answer.text
            answers.append(answer.get_json())
        vi, en = answers
        assert vi["code"] == en["code"] == code and vi["params"]["field"] == en["params"]["field"] == field
        assert (vi["message"], en["message"]) == (vietnamese, english)
    finally:
        database.close()
