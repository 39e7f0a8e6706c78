"""The URI rules' findings (``uri_*``, inventory/survey_uris.py) have their own sentences in both languages.

A survey pushed through the API (the world of test_workflow_api: real app, temporary SQLite) names a
stream URI on another host with a password in it, and a snapshot URI of a scheme a camera's
snapshot cannot have; the site's findings then say what was done to each URI, in Vietnamese and in
English, from the code and its parameters — not the English text stored with the row.
"""

from __future__ import annotations

from support import bearer
from test_workflow_api import _findings, _later, _push, world  # noqa: F401 - world is the fixture
from web_seed import HD, frozen_survey

from sitescout.inventory.findings import CodedFinding, render_finding
from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
import gettext


def _uri_findings(world, lang: str) -> dict[tuple[str, str], dict]:  # noqa: F811
    return {(f["code"], f["params"]["field"]): f for f in _findings(world, HD, lang) if f["code"].startswith("uri_")}


def test_uri_findings_speak_both_languages(world) -> None:  # noqa: F811
    doc = _later(frozen_survey(HD), 7)
    profile = doc["hosts"][0]["onvif"]["profiles"][0]
    profile["stream_uri"] = "rtsp://admin:Pw-9@203.0.113.9:554/main"
    profile["snapshot_uri"] = "ftp://198.51.100.21/snap"
    _push(world, doc, HD)
    en, vi = _uri_findings(world, "en"), _uri_findings(world, "vi")
    assert set(en) == set(vi) and {("uri_rebased", "stream_uri"), ("uri_userinfo_removed", "stream_uri"),
                                   ("uri_refused", "snapshot_uri")} <= set(en), sorted(en)
    ip = en[("uri_rebased", "stream_uri")]["params"]["ip"]
    assert en[("uri_rebased", "stream_uri")]["text"] == (
        f"a profile's stream URI of {ip} pointed at another host (203.0.113.9); re-based onto the device's own address")
    assert vi[("uri_rebased", "stream_uri")]["text"] == (
        f"URI luồng của một profile của {ip} trỏ tới một thiết bị khác (203.0.113.9); "
        "đã chuyển về địa chỉ của chính thiết bị")
    assert en[("uri_refused", "snapshot_uri")]["text"].endswith(
        "is not a usable URI (a scheme not allowed here); left out")
    assert vi[("uri_refused", "snapshot_uri")]["text"].endswith(
        "không phải URI dùng được (giao thức không được phép ở đây); đã bỏ qua")
    assert vi[("uri_userinfo_removed", "stream_uri")]["recommendation"].startswith("hãy để tài khoản")
    for finding in vi.values():  # none of the stored English reaches a Vietnamese reader
        assert not any(word in finding["text"] for word in ("pointed at", "re-based", "left out", "carried")), finding
    viewer = bearer(world["tokens"]["viewer"])
    answers = world["client"].get(f"/api/v1/sites/{world['ids'][HD]}/findings", headers=viewer)
    assert "Pw-9" not in answers.get_data(as_text=True)


def test_a_uri_finding_of_the_whole_survey_names_the_survey() -> None:
    vi = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=["vi"]).gettext
    finding = CodedFinding("uri_userinfo_removed", "warning", "", {"field": "text", "ip": "", "new": "1"})
    assert render_finding(finding)[0] == "a text of the survey carried a user name or password; removed"
    assert render_finding(finding, vi, "vi")[0] == (
        "một đoạn văn bản của lần khảo sát có kèm tên đăng nhập hoặc mật khẩu; đã xóa")
