"""API errors in the request's language, each with a stable code (docs/api.md, "Errors").

Real app on a temporary SQLite inventory.  Each error is made once the way a client meets it —
a 400 naming fields, a 404, a 409, a 412 and a 428, a 401/403 — and read in Vietnamese
(``Accept-Language: vi``) and in English: the code and the fields are the same in both, the
words differ, and the Vietnamese answer holds none of the English sentence.  A user's choice
(the language cookie) wins over Accept-Language; without either the deployment's default
(Vietnamese) speaks.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import bearer

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app
from sitescout.web.errors import API_WORDS
from sitescout.web.i18n import LANG_COOKIE

VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture()
def env(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with database.session() as session:
        tokens = {role: store.create_token(session, role) for role in ("editor", "viewer")}
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64, "SITES_CACHE_SECONDS": 0})
    client = app.test_client()
    editor = bearer(tokens["editor"])
    region = client.post("/api/v1/regions", json={"name": "Tuyên Quang"}, headers=editor)
    assert region.status_code == 201, region.text
    yield client, tokens, region.get_json()["id"], region.headers["ETag"]
    database.close()


def _both(call: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the JSON answers of the same failing request in Vietnamese and in English."""
    vi, en = call(VI), call(EN)
    assert vi.status_code == en.status_code, (vi.text, en.text)
    assert vi.is_json and en.is_json
    return vi.get_json(), en.get_json()


def _same_code_other_words(vi: dict[str, Any], en: dict[str, Any], code: str) -> None:
    assert vi["code"] == en["code"] == code, (vi, en)
    assert vi["error"] == vi["message"] and en["error"] == en["message"]  # the old key keeps the sentence
    assert vi["message"] != en["message"], (vi, en)
    assert en["message"] not in vi["message"]


def test_a_400_names_each_field_with_a_code_in_both_languages(env) -> None:
    client, tokens, _region, _tag = env

    def call(lang: dict[str, str]) -> Any:
        return client.post("/api/v1/communes", json={"name": 5, "colour": "red"},
                           headers={**bearer(tokens["editor"]), **lang})

    vi, en = _both(call)
    assert set(vi["errors"]) == set(en["errors"]) == {"name", "colour", "region_id"}
    assert set(vi["fields"]) == set(en["fields"]) == {"name", "colour", "region_id"}
    _same_code_other_words(vi, en, "invalid_fields")
    assert [vi["fields"][f]["code"] for f in ("name", "colour", "region_id")] == [
        "must_be_string", "unknown_field", "required"]
    assert en["fields"]["region_id"]["message"] == "Required." and en["errors"]["region_id"] == "Required."
    assert vi["fields"]["region_id"]["message"] == "Bắt buộc phải có."
    assert vi["fields"]["name"]["message"] == "Phải là chuỗi ký tự." == vi["errors"]["name"]
    assert vi["message"].startswith("Một số trường không hợp lệ: ")


def test_a_parameter_of_a_field_error_is_kept_and_said(env) -> None:
    client, tokens, _region, _tag = env
    vi, en = _both(lambda lang: client.post("/api/v1/communes", json={"name": "Xã A", "region_id": 987654},
                                            headers={**bearer(tokens["editor"]), **lang}))
    assert vi["fields"]["region_id"]["code"] == "no_region" and vi["fields"]["region_id"]["params"]["id"] == 987654
    assert en["fields"]["region_id"]["message"] == "No region has the id 987654."
    assert vi["fields"]["region_id"]["message"] == "Không có tỉnh nào mang mã số 987654."


def test_a_404_in_both_languages(env) -> None:
    client, tokens, _region, _tag = env
    vi, en = _both(lambda lang: client.get("/api/v1/devices/424242", headers={**bearer(tokens["viewer"]), **lang}))
    _same_code_other_words(vi, en, "no_device")
    assert vi["params"] == en["params"] == {"id": 424242}
    assert "424242" in vi["message"] and vi["message"] == "Không có thiết bị nào mang mã số 424242."
    # A route that does not exist: the status's own code and words.
    vi, en = _both(lambda lang: client.get("/api/v1/no-such-thing", headers=lang))
    _same_code_other_words(vi, en, "not_found")


def test_a_409_in_both_languages(env) -> None:
    client, tokens, _region, _tag = env
    vi, en = _both(lambda lang: client.post("/api/v1/regions", json={"name": "Tuyên Quang"},
                                            headers={**bearer(tokens["editor"]), **lang}))
    _same_code_other_words(vi, en, "duplicate")
    assert en["message"] == "A region with this name already exists; pick it instead of creating another"
    assert vi["message"].startswith("Đã có một tỉnh mang tên này")


def test_a_409_of_a_record_still_in_use(env) -> None:
    client, tokens, region, _tag = env
    editor = bearer(tokens["editor"])
    made = client.post("/api/v1/communes", json={"name": "Xã A", "region_id": region}, headers=editor)
    assert made.status_code == 201
    tag = client.get(f"/api/v1/regions/{region}", headers=editor).headers["ETag"]
    vi, en = _both(lambda lang: client.delete(f"/api/v1/regions/{region}", headers={**editor, "If-Match": tag, **lang}))
    _same_code_other_words(vi, en, "region_in_use")
    assert vi["message"] == "Tỉnh này vẫn còn xã; hãy xóa hoặc chuyển các xã trước."


def test_a_412_and_a_428_in_both_languages(env) -> None:
    client, tokens, region, tag = env
    editor = bearer(tokens["editor"])
    changed = client.patch(f"/api/v1/regions/{region}", json={"name": "Tuyên Quang mới"},
                           headers={**editor, "If-Match": tag})
    assert changed.status_code == 200
    vi, en = _both(lambda lang: client.patch(f"/api/v1/regions/{region}", json={"name": "Cũ"},
                                             headers={**editor, "If-Match": tag, **lang}))
    _same_code_other_words(vi, en, "stale_etag")
    assert vi["params"] == {"etag": changed.headers["ETag"].strip('"')}
    assert vi["message"].startswith("Bản ghi đã bị thay đổi từ lúc bạn đọc")
    assert "changed since you read it" in en["message"]
    vi, en = _both(lambda lang: client.patch(f"/api/v1/regions/{region}", json={"name": "Cũ"},
                                             headers={**editor, **lang}))
    _same_code_other_words(vi, en, "precondition_required")


def test_refusals_of_the_token_in_both_languages(env) -> None:
    client, tokens, _region, _tag = env
    vi, en = _both(lambda lang: client.post("/api/v1/regions", json={"name": "X"},
                                            headers={**bearer(tokens["viewer"]), **lang}))
    _same_code_other_words(vi, en, "role_token_refused")
    assert vi["message"] == "Token có quyền xem không được làm việc này." and vi["params"] == {"role": "viewer"}
    vi, en = _both(lambda lang: client.post("/api/v1/regions", json={"name": "X"}, headers=lang))
    _same_code_other_words(vi, en, "token_required")


def test_the_body_itself_and_a_query_argument(env) -> None:
    client, tokens, _region, _tag = env
    editor = bearer(tokens["editor"])
    vi, en = _both(lambda lang: client.post("/api/v1/regions", data="{", headers={
        **editor, "Content-Type": "application/json", **lang}))
    assert vi["fields"]["body"]["code"] == en["fields"]["body"]["code"] == "bad_json"
    assert vi["errors"]["body"] == "Nội dung không phải JSON hợp lệ."
    vi, en = _both(lambda lang: client.get("/api/v1/regions?limit=0", headers={**editor, **lang}))
    assert vi["fields"]["limit"]["code"] == "whole_number" and vi["fields"]["limit"]["params"] == {
        "least": 1, "most": 500}
    assert en["errors"]["limit"] == "A whole number from 1 to 500."


def test_the_users_choice_wins_then_the_browser_then_the_default(env) -> None:
    client, tokens, _region, _tag = env
    url, headers = "/api/v1/devices/5", bearer(tokens["viewer"])
    assert client.get(url, headers=headers).get_json()["message"] == "Không có thiết bị nào mang mã số 5."
    assert client.get(url, headers={**headers, **EN}).get_json()["message"] == "No device has the id 5."
    client.set_cookie(LANG_COOKIE, "vi")
    assert client.get(url, headers={**headers, **EN}).get_json()["message"] == "Không có thiết bị nào mang mã số 5."


def test_every_code_has_vietnamese_words(env) -> None:
    """Each sentence of API_WORDS is translated (a missing one would be shown in English)."""
    client, _tokens, _region, _tag = env
    with client.application.test_request_context(headers=VI):
        from flask_babel import gettext

        english = [code for code, text in API_WORDS.items() if gettext(text) == text and "%(where)s" not in text]
    assert english == []


def test_a_models_rule_without_a_code_yet_is_said_from_the_catalogue(env) -> None:
    """The models' constant messages are in the web catalogue: said in Vietnamese, under the status's code."""
    client, tokens, region, _tag = env
    editor = bearer(tokens["editor"])
    commune = client.post("/api/v1/communes", json={"name": "Xã A", "region_id": region}, headers=editor)
    vi, en = _both(lambda lang: client.post("/api/v1/sites", json={
        "name": "Thôn A", "commune_id": commune.get_json()["id"], "latitude": 21.7}, headers={**editor, **lang}))
    assert vi["fields"]["latitude"]["code"] == en["fields"]["latitude"]["code"] == "invalid"
    assert en["errors"]["latitude"] == "give both latitude and longitude, or neither"
    assert vi["errors"]["latitude"] == "hãy cho cả vĩ độ và kinh độ, hoặc không cho cả hai"
