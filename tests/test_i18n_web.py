"""The web in both languages: error pages, the survey report, times in the site's zone, a complete catalogue.

Real app on a temporary SQLite inventory (test_web_app's fixtures).  Error pages follow the
user's choice (the language cookie), then the browser's Accept-Language; the API keeps JSON.
A page's check: its visible text holds none of the English phrases of the web catalogue (nor
of the command's, for the report), as in test_report_i18n.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from report_support import english_catalogue_phrases, english_left, visible_text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from support import csrf_token as _csrf, login
from web_seed import FROZEN_SITE, frozen_survey

from sitescout.web import create_app

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

ROOT = Path(__file__).resolve().parents[1]
WEB_PO = ROOT / "web" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
CLI_PO = ROOT / "src" / "sitescout" / "translations" / "vi" / "LC_MESSAGES" / "cli.po"
VI = {"Accept-Language": "vi-VN,vi;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}

#: status -> (Vietnamese title, English title) of its page.
TITLES = {400: ("Yêu cầu không hợp lệ", "Bad request"), 403: ("Không được phép", "Not allowed"),
          404: ("Không tìm thấy trang", "Page not found"), 405: ("Không dùng được ở đây", "Not allowed here"),
          413: ("Quá lớn", "Too large"), 500: ("Lỗi máy chủ", "Server error"), 503: ("Máy chủ đang bận", "Server busy")}


@pytest.fixture()
def error_app(database, site_ids):  # noqa: F811
    """The real app, plus two routes that fail the way a server does: a bug, and no database connection free."""
    app = create_app({"DATABASE": database, "TESTING": False, "SECRET_KEY": "test-key-" + "x" * 32,
                      "MAX_CONTENT_LENGTH": 4096})

    def bug() -> str:
        raise RuntimeError("a bug")

    def no_connection() -> str:
        raise PoolTimeout("QueuePool limit reached")

    app.add_url_rule("/boom", "boom", bug)
    app.add_url_rule("/busy", "busy", no_connection)
    app.add_url_rule("/api/v1/busy", "api_busy", no_connection)
    return app


def _answers(app, headers: dict[str, str], cookie: str | None = None) -> dict[int, object]:
    """Make each error happen once, as a user would meet it; return the responses by status."""
    client = app.test_client()
    if cookie:
        client.set_cookie("sitescout_lang", cookie)
    got = {404: client.get("/no/such/page", headers=headers),
           400: client.post("/login", data={"username": "x", "password": "y"}, headers=headers),
           413: client.post("/login", data={"username": "x" * 8000}, headers=headers),
           500: client.get("/boom", headers=headers),
           503: client.get("/busy", headers=headers)}
    login(client)
    got[403] = client.get("/admin/users", headers=headers)
    got[405] = client.post("/map", data={"csrf_token": _csrf(client, "/map")}, headers=headers)
    return got


@pytest.mark.parametrize("headers, cookie, lang", [(VI, None, "vi"), (EN, None, "en"), (VI, "en", "en"),
                                                   (EN, "vi", "vi")])
def test_error_pages_speak_the_users_choice_then_the_browsers(error_app, headers, cookie, lang) -> None:
    phrases = english_catalogue_phrases([WEB_PO])
    for status, response in _answers(error_app, headers, cookie).items():
        assert response.status_code == status, (status, response.status_code, response.text[:300])
        assert response.mimetype == "text/html", status
        title = TITLES[status][0 if lang == "vi" else 1]
        assert title in response.text, (status, response.text[:500])
        if lang == "vi":  # the logged-in user's name ("viewer") is theirs, not a word of ours
            page = response.text.replace('class="who">viewer ', 'class="who">')
            assert english_left(page, phrases) == [], status
        assert "Not Found" not in response.text and "requested URL" not in response.text
    answers = _answers(error_app, VI, cookie)
    assert answers[405].headers["Allow"] and answers[503].headers["Retry-After"] == "5"


def test_api_errors_stay_json(error_app) -> None:
    client = error_app.test_client()
    for path, status in (("/api/v1/no-such-thing", 404), ("/api/v1/busy", 503)):
        response = client.get(path, headers=VI)
        assert response.status_code == status and response.is_json and response.get_json()["error"], path


def test_error_page_has_no_werkzeug_words(error_app) -> None:
    # Werkzeug's words, which the page showed before, are what the check above rejects.
    text = error_app.test_client().get("/no/such/page", headers=VI).text
    assert "The requested URL was not found" not in text and "Nothing is at this address" not in text


def _report(client, site_id: int, lang: str) -> str:
    client.set_cookie("sitescout_lang", lang)
    response = client.get(f"/sites/{site_id}/report")
    assert response.status_code == 200
    return response.text


def test_report_page_of_an_english_survey_reads_in_vietnamese(app, site_ids) -> None:  # noqa: F811
    client = app.test_client()
    login(client)
    html = _report(client, site_ids[FROZEN_SITE], "vi")
    doc = frozen_survey()
    assert "Báo cáo khảo sát" in html and "hình bị đứng" in visible_text(html)
    assert english_left(html, english_catalogue_phrases([WEB_PO, CLI_PO]), doc) == []
    assert "15:01:30" in visible_text(html) and "+00:00" not in html  # finished 08:01:30 UTC
    english = _report(client, site_ids[FROZEN_SITE], "en")
    assert "Survey report" in english and "frozen picture" in english


def test_site_page_times_follow_the_deployment_zone(app, site_ids) -> None:  # noqa: F811
    client = app.test_client()
    login(client)
    client.set_cookie("sitescout_lang", "vi")
    page = client.get(f"/sites/{site_ids[FROZEN_SITE]}").text
    surveys = page.split("Bắt đầu", 1)[1]
    assert re.search(r"15:00 1/3/26", surveys) and "UTC" not in page, surveys[:400]
    app.config["SITE_TIMEZONE"] = "Europe/Paris"
    client.set_cookie("sitescout_lang", "en")
    page = client.get(f"/sites/{site_ids[FROZEN_SITE]}").text
    assert "3/1/26, 9:00" in page.split("Started", 1)[1]


def _web_catalogue(lang: str):
    with (ROOT / "web" / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def test_web_catalogue_is_complete_current_and_follows_the_glossary() -> None:
    vi = _web_catalogue("vi")
    assert not vi.fuzzy
    assert not [m.id for m in vi if m.id and (not m.string or m.fuzzy)]
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in vi if m.id}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    extracted = {msg if isinstance(msg, str) else msg[0]
                 for _f, _l, msg, _c, _x in extract_from_dir(str(ROOT / "web"), method_map,
                                                              keywords={"_": None, "N_": None, "gettext": None,
                                                                        "ngettext": (1, 2)})}
    assert not extracted - ids, f"not in the web catalogue: {extracted - ids}"
    compiled = gettext.translation("messages", ROOT / "web" / "translations", languages=["vi"])
    assert [m.id for m in vi if m.id and isinstance(m.id, str) and compiled.gettext(m.id) != m.string] == []
    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    section = glossary.split("## Words we do not use", 1)[1].split("\n## ", 1)[0]
    rejected = re.findall(r"^- `([^`]+)`", section, re.M)
    used = [(word, m.id) for m in vi if m.id and isinstance(m.string, str) for word in rejected
            if word.lower() in m.string.lower() and not (word == "phát hiện" and "Detect" in m.id)]  # the DORI level
    assert not used, used


def test_serve_refuses_an_unknown_time_zone_before_starting() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sitescout", "serve", "--timezone", "Asia/Atlantis"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Asia/Atlantis" in done.stderr and "Asia/Ho_Chi_Minh" in done.stderr
