"""The survey report speaks the reader's language: a survey made in English prints entirely in Vietnamese.

The check: the report's visible text, with the survey's own data (addresses, makers, serials)
taken out, holds none of the English phrases of the command's catalogue (every message whose
Vietnamese differs, cut at its placeholders) and none of the raw codes the issue found
(``not_needed``, ``frozen, size_mismatch``, ``+00:00``).  Times are in the site's zone.
"""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from report_support import english_catalogue_phrases, english_left, many_camera_survey, visible_text

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.survey_report import Reader, render_survey_html

ROOT = Path(__file__).resolve().parents[1]
CLI_PO = ROOT / "src" / "sitescout" / "translations" / "vi" / "LC_MESSAGES" / "cli.po"


def _reader(lang: str, zone: str = "Asia/Ho_Chi_Minh") -> Reader:
    return Reader(gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang]).gettext, lang, zone)


def test_a_survey_made_in_english_prints_in_vietnamese() -> None:
    doc = many_camera_survey()
    html = render_survey_html(doc, _reader("vi"))
    phrases = english_catalogue_phrases([CLI_PO])
    assert len(phrases) > 150, "the catalogue's English phrases went missing"
    assert english_left(html, phrases, doc) == []
    text = visible_text(html)
    for words in ("Báo cáo khảo sát", "Ghi nhận và khuyến nghị", "hình bị đứng", "độ phân giải khác profile",
                  "không cần tài khoản", "luồng bị treo", "mất luồng", "sự cố", "Tất cả thiết bị"):
        assert words in text, words


def test_the_check_finds_the_english_of_an_english_report() -> None:
    # The same check on the English report (what every report was before): it must find plenty.
    doc = many_camera_survey()
    left = english_left(render_survey_html(doc), english_catalogue_phrases([CLI_PO]), doc)
    assert {"Survey report", "Findings and recommendations", "frozen picture", "no credentials needed"} <= set(left)


def test_times_are_in_the_site_zone_without_offsets() -> None:
    doc = many_camera_survey()  # started 10:00 UTC
    text = visible_text(render_survey_html(doc, _reader("vi")))
    assert "17:00:00 29 thg 11, 2026" in text and "+00:00" not in text and "Asia/Ho_Chi_Minh" in text
    text = visible_text(render_survey_html(doc, _reader("en", "Europe/Paris")))
    assert "Nov 29, 2026, 11:00:00" in text and "+00:00" not in text


@pytest.mark.parametrize("lang, figure", [("vi", "1.234 kbit/s"), ("en", "1,234 kbit/s")])
def test_numbers_follow_the_locale(lang: str, figure: str) -> None:
    doc = many_camera_survey(1)
    doc["hosts"][0]["streams"][0].update(up=True, bitrate_kbps=1234.5, fps=12.5, problems=[])
    doc["hosts"][0]["onvif"]["profiles"][0]["bitrate_kbps"] = 1234.5
    text = visible_text(render_survey_html(doc, _reader(lang)))
    assert ("12,5 fps" if lang == "vi" else "12.5 fps") in text
    assert figure in text  # thousands grouped the reader's way


def test_the_commands_report_speaks_the_commands_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sitescout --lang vi survey --report FILE` writes what the web shows: Vietnamese, in the zone TZ names."""
    from sitescout import cmdutil, i18n

    doc = many_camera_survey()
    monkeypatch.setenv("TZ", "Europe/Paris")
    before = i18n.language()
    i18n.set_language("vi")
    try:
        cmdutil.write_survey_outputs(doc, None, tmp_path / "report.html")
    finally:
        i18n.set_language(before)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert english_left(html, english_catalogue_phrases([CLI_PO]), doc) == []
    assert "11:00:00 29 thg 11, 2026" in visible_text(html) and "Europe/Paris" in html
    monkeypatch.delenv("TZ")
    i18n.set_language("en")  # whatever language an earlier test left the command in
    try:
        cmdutil.write_survey_outputs(doc, None, tmp_path / "english.html")
    finally:
        i18n.set_language(before)
    text = visible_text((tmp_path / "english.html").read_text(encoding="utf-8"))
    assert "Survey report" in text and "Nov 29, 2026, 5:00:00" in text  # Asia/Ho_Chi_Minh by default


def test_odd_values_read_as_given_escaped_never_as_markup() -> None:
    doc = many_camera_survey(1)
    doc["started_at"] = "<x-a>not a time</x-a>"
    doc["finished_at"] = None
    host = doc["hosts"][0]
    host["onvif"]["auth"] = "<x-b>new_state</x-b>"
    host["streams"][0].update(up=None, problems=["<x-c>new_problem</x-c>", 7])
    host["onvif"]["profiles"][0].update(width="wide", fps_limit="fast", bitrate_kbps=None)
    html = render_survey_html(doc, _reader("vi"))
    assert "<x-a>" not in html and "<x-b>" not in html and "<x-c>" not in html
    assert "&lt;x-a&gt;not a time" in html and "&lt;x-b&gt;new_state" in html and "&lt;x-c&gt;new_problem" in html
    assert "chưa kiểm tra" in visible_text(html)  # a stream not checked is not "down"
