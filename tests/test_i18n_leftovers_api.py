"""The models' rules that name a value answer in the reader's language, with a code and the value as a parameter.

Real app on a temporary SQLite inventory: a site out of range, a device with a bad address, a URI on
another host, a lifecycle move that is not allowed — each read in Vietnamese and in English
(docs/api.md, "Errors").
"""

from __future__ import annotations

from typing import Any

import pytest
from support import editor_with_a_site


VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture()
def env(tmp_path):
    yield from editor_with_a_site(tmp_path)


def _field(client: Any, method: str, url: str, body: dict[str, Any], headers: dict[str, str],
           field: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the field's entry of the same refused request in Vietnamese and in English."""
    answers = []
    for lang in (VI, EN):
        answer = getattr(client, method)(url, json=body, headers={**headers, **lang})
        assert answer.status_code == 400, answer.text
        answers.append(answer.get_json()["fields"][field])
    vi, en = answers
    assert vi["code"] == en["code"] and vi.get("params") == en.get("params"), (vi, en)
    assert vi["message"] != en["message"], (vi, en)
    return vi, en


def test_coordinates_out_of_range(env) -> None:
    client, editor, _site = env
    vi, en = _field(client, "post", "/api/v1/sites", {"name": "Chợ", "commune_id": 1, "latitude": 105.2,
                                                       "longitude": 21.8}, editor, "latitude")
    assert vi["code"] == "latitude_range" and vi["params"] == {"value": 105.2}
    assert en["message"] == "105.2 is outside -90..90 (are latitude and longitude swapped?)"
    assert vi["message"] == "105.2 nằm ngoài khoảng -90..90 (vĩ độ và kinh độ có bị đảo chỗ không?)"


def test_a_bad_ip_and_a_uri_on_another_host(env) -> None:
    client, editor, site = env
    vi, en = _field(client, "post", "/api/v1/devices", {"name": "Cổng", "site_id": site, "ip": "10.0.0.300"},
                    editor, "ip")
    assert vi["code"] == "not_an_ip"
    assert en["message"] == "'10.0.0.300' is not an IPv4 or IPv6 address."
    assert vi["message"] == "'10.0.0.300' không phải địa chỉ IPv4 hay IPv6."
    vi, en = _field(client, "post", "/api/v1/devices",
                    {"name": "Camera cổng", "site_id": site, "kind": "camera", "ip": "198.51.100.10",
                     "onvif_endpoint": "http://198.51.100.99/onvif/device_service"}, editor, "onvif_endpoint")
    assert vi["code"] == "uri_other_host" and vi["params"] == {"host": "198.51.100.99", "ip": "198.51.100.10"}
    assert en["message"].startswith("Host 198.51.100.99 is not the device's address 198.51.100.10;")
    assert vi["message"].startswith("Máy 198.51.100.99 không phải địa chỉ 198.51.100.10 của thiết bị;")


def test_a_lifecycle_move_names_the_states_in_the_reader_s_language(env) -> None:
    client, editor, site = env
    made = client.post("/api/v1/devices", json={"name": "Loa", "site_id": site, "kind": "other",
                                                 "status": "retired"}, headers=editor)
    assert made.status_code == 201, made.text
    url = f"/api/v1/devices/{made.get_json()['id']}"
    vi, en = _field(client, "patch", url, {"status": "active"}, {**editor, "If-Match": "*"}, "status")
    assert vi["code"] == "status_final" and vi["params"] == {"state": "retired", "new_state": "active"}
    assert en["message"] == "Cannot go from retired to active; from retired only to nothing (retired is final)."
    assert vi["message"] == ("Không thể chuyển từ đã thu hồi sang đang hoạt động; đã thu hồi là trạng thái cuối "
                             "cùng, không chuyển sang trạng thái nào khác được nữa.")


def test_a_lifecycle_move_lists_the_allowed_states(env) -> None:
    client, editor, site = env
    made = client.post("/api/v1/devices", json={"name": "Loa", "site_id": site, "kind": "other",
                                                 "status": "offline"}, headers=editor)
    assert made.status_code == 201, made.text
    url = f"/api/v1/devices/{made.get_json()['id']}"
    vi, en = _field(client, "patch", url, {"status": "planned"}, {**editor, "If-Match": "*"}, "status")
    assert vi["code"] == "status_transition" and vi["params"]["state"] == "offline"
    assert en["message"].startswith("Cannot go from offline to planned; from offline only to ")
    assert vi["message"].startswith("Không thể chuyển từ ngừng hoạt động sang dự kiến; từ ngừng hoạt động chỉ "
                                    "chuyển được sang ")
    assert "retired" not in vi["message"] and "active" not in vi["message"]
