"""The field workflow on the command line (issue 13): push, the spool, --site checked first, users, tokens.

The server is the real web app on a temporary inventory, serving on loopback in a thread
(`support.WebServer`); every command runs as a real `python -m sitescout` process.  The
surveys sweep 127.0.0.0/30 only (loopback, nothing answers there): they take a second.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import WebServer
from web_seed import FROZEN_SITE, HD, frozen_survey, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app


@dataclass
class Field:
    server: WebServer
    database: object
    db_url: str
    token_file: Path
    env: dict[str, str]
    site_ids: dict[str, int]
    tmp: Path

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True,
                              timeout=120, env=self.env, input=stdin, cwd=self.tmp)

    def surveys(self) -> list[str]:
        """Return the site name of every stored survey beyond the seeded one, oldest first."""
        from sqlalchemy import select

        from sitescout.inventory.models import Survey

        with self.database.session() as session:  # type: ignore[attr-defined]
            return list(session.scalars(select(Survey.site_name).order_by(Survey.id)))[1:]


@pytest.fixture()
def field(tmp_path: Path) -> Iterator[Field]:
    db_url = f"sqlite:///{tmp_path / 'server.sqlite3'}"
    database = open_database(db_url)
    site_ids = seed_commune(database)
    with database.session() as session:
        editor = store.create_token(session, "editor")
        store.create_user(session, "admin", "admin-password", "admin")
    token_file = tmp_path / "editor.token"
    token_file.write_text(editor + "\n")
    server = WebServer(create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64,
                                   "SITES_CACHE_SECONDS": 0}))
    server.start()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("SITESCOUT_TOKEN", None)
    yield Field(server, database, db_url, token_file, env, site_ids, tmp_path)
    server.stop()
    database.close()


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---------------------------------------------------------------------------
# push


def test_push_sends_files_with_progress_and_the_same_document_twice_is_stored_once(field: Field) -> None:
    first, second = frozen_survey(HD), frozen_survey(FROZEN_SITE)
    second["started_at"] = "2026-03-02T08:00:00+00:00"  # the seed holds the 1 March one
    (field.tmp / "a.json").write_text(json.dumps(first, ensure_ascii=False))
    (field.tmp / "b.json").write_text(json.dumps(second, ensure_ascii=False, indent=2))
    sent = field.run("push", "a.json", "b.json", "--to", field.server.url, "--token-file", str(field.token_file))
    assert sent.returncode == 0, sent.stderr
    assert "[1/2] a.json: stored as survey" in sent.stderr and "[2/2] b.json: stored as survey" in sent.stderr
    assert field.surveys() == [HD, FROZEN_SITE]
    again = field.run("push", "b.json", "--to", field.server.url, "--token-file", str(field.token_file))
    assert again.returncode == 0, again.stderr
    assert "[1/1] b.json: already stored as survey" in again.stderr
    assert field.surveys() == [HD, FROZEN_SITE]
    # A document whose name is no site's (or several sites') goes to the site given by id.
    third = frozen_survey("Tên khác")
    (field.tmp / "c.json").write_text(json.dumps(third))
    by_id = field.run("push", "c.json", "--site", str(field.site_ids[HD]), "--to", field.server.url,
                      "--token-file", str(field.token_file))
    assert by_id.returncode == 0, by_id.stderr
    assert f"of site {field.site_ids[HD]}" in by_id.stderr


def test_push_errors_are_one_line_and_say_what_to_do(field: Field) -> None:
    (field.tmp / "a.json").write_text(json.dumps(frozen_survey(HD)))
    no_to = field.run("push", "a.json", "--token-file", str(field.token_file))
    assert no_to.returncode == 2 and "needs --to URL" in _one_line(no_to)
    no_token = field.run("push", "a.json", "--to", field.server.url)
    assert no_token.returncode == 2 and "--token-file FILE or $SITESCOUT_TOKEN" in _one_line(no_token)
    (field.tmp / "bad.token").write_text("sst_wrong\n")
    refused = field.run("push", "a.json", "--to", field.server.url, "--token-file", str(field.tmp / "bad.token"))
    assert refused.returncode == 1 and "answered 401" in refused.stderr and "check --token-file" in refused.stderr
    down = field.run("push", "a.json", "--to", "http://127.0.0.1:9", "--token-file", str(field.token_file))
    assert down.returncode == 1 and "cannot reach http://127.0.0.1:9" in down.stderr
    (field.tmp / "not.json").write_text("{}")
    wrong = field.run("push", "not.json", "--to", field.server.url, "--token-file", str(field.token_file))
    assert wrong.returncode == 1 and "is not a survey document" in wrong.stderr
    assert field.surveys() == []


def test_survey_push_spools_while_the_server_is_down_and_push_empties_the_spool(field: Field) -> None:
    site = HD
    field.server.stop()
    survey = field.run("survey", "--site", site, "--network", "127.0.0.0/30", "--no-streams", "--no-multicast",
                       "--wait", "0.3", "--push", field.server.url, "--token-file", str(field.token_file))
    assert survey.returncode == 1
    assert "cannot check --site" in survey.stderr  # offline in the field: survey anyway
    last = survey.stderr.strip().splitlines()[-1]
    assert "cannot reach" in last and "send it with `sitescout push`" in last
    spool = field.tmp / "data" / "sitescout" / "spool"
    (kept,) = spool.glob("survey-*.json")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert json.loads(kept.read_text())["document"]["site"] == site
    field.server.start()  # back on the same port
    sent = field.run("push", "--token-file", str(field.token_file))
    assert sent.returncode == 0, sent.stderr
    assert f"[1/1] {kept.name}: stored as survey" in sent.stderr
    assert not list(spool.glob("survey-*.json")) and field.surveys() == [site]
    empty = field.run("push", "--spool", "--token-file", str(field.token_file))
    assert empty.returncode == 0 and "is empty" in empty.stderr


# ---------------------------------------------------------------------------
# --site


def test_site_is_an_id_or_a_unique_match_without_diacritics_checked_before_the_survey(field: Field) -> None:
    # HD typed without diacritics, in lower case ("nha van hoa thon huong dao"), still names one site.
    bare = _strip(HD)
    survey = field.run("survey", "--site", bare, "--network", "127.0.0.0/30", "--no-streams", "--no-multicast",
                       "--wait", "0.3", "--db", field.db_url)
    assert survey.returncode == 0, survey.stderr
    assert f"--site {bare!r} is {HD}" in survey.stderr and "stored as survey" in survey.stderr
    by_id = field.run("survey", "--site", str(field.site_ids[FROZEN_SITE]), "--network", "127.0.0.0/30",
                      "--no-streams", "--no-multicast", "--wait", "0.3", "--push", field.server.url,
                      "--token-file", str(field.token_file))
    assert by_id.returncode == 0, by_id.stderr
    assert f"is {FROZEN_SITE}" in by_id.stderr and "stored the survey" in by_id.stderr
    assert field.surveys() == [HD, FROZEN_SITE]


@pytest.mark.parametrize("where", ["db", "push"])
def test_no_match_exits_2_at_once_with_the_closest_names(field: Field, where: str) -> None:
    target = ["--db", field.db_url] if where == "db" else ["--push", field.server.url, "--token-file",
                                                           str(field.token_file)]
    typo = _strip(HD)[:-1] + "x"
    started = time.monotonic()
    result = field.run("survey", "--site", typo, "--network", "127.0.0.0/30", "--no-streams", *target)
    assert result.returncode == 2
    line = _one_line(result)
    assert "matches no site; closest:" in line and HD in line
    assert time.monotonic() - started < 30
    assert field.surveys() == []


@pytest.mark.parametrize("where", ["db", "push"])
def test_an_ambiguous_site_lists_the_candidates(field: Field, where: str) -> None:
    target = ["--db", field.db_url] if where == "db" else ["--push", field.server.url, "--token-file",
                                                           str(field.token_file)]
    result = field.run("survey", "--site", "thon", "--network", "127.0.0.0/30", *target)
    assert result.returncode == 2
    line = _one_line(result)
    assert "--site 'thon' matches" in line and "give more of the name or the id" in line
    assert field.surveys() == []


def _strip(name: str) -> str:
    from sitescout.inventory.search import fold

    return fold(name)


# ---------------------------------------------------------------------------
# users, tokens, --version


def test_users_add_list_set_role_set_password_remove(field: Field) -> None:
    db = ["--db", field.db_url]
    (field.tmp / "pw").write_text("lan-password-1\n")
    added = field.run("users", "add", "lan", "--role", "viewer", "--password-file", str(field.tmp / "pw"), *db)
    assert added.returncode == 0, added.stderr
    assert "lan\tviewer" in field.run("users", "list", *db).stdout
    assert field.run("users", *db, "set-role", "lan", "editor").returncode == 0
    assert "lan\teditor" in field.run("users", "list", *db).stdout
    changed = field.run("users", "set-password", "lan", *db, stdin="another-password\n")
    assert changed.returncode == 0, changed.stderr
    with field.database.session() as session:  # type: ignore[attr-defined]
        assert store.check_user(session, "lan", "another-password") == "editor"
        assert store.check_user(session, "lan", "lan-password-1") is None
    twice = field.run("users", "add", "lan", "--role", "viewer", "--password-file", str(field.tmp / "pw"), *db)
    assert twice.returncode == 1 and "exists" in _one_line(twice)
    short = field.run("users", "add", "x", "--role", "viewer", *db, stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in _one_line(short)
    last = field.run("users", "remove", "admin", *db)
    assert last.returncode == 1 and "last admin" in _one_line(last)
    assert field.run("users", "remove", "lan", *db).returncode == 0
    assert "lan\t" not in field.run("users", "list", *db).stdout
    missing = field.run("users", "remove", "lan", *db)
    assert missing.returncode == 1 and "sitescout users list" in _one_line(missing)


def test_tokens_add_prints_the_secret_once_list_hides_it_revoke_is_immediate(field: Field) -> None:
    db = ["--db", field.db_url]
    site = field.site_ids[HD]
    made = field.run("tokens", "add", "--role", "worker", "--label", "NOC", "--sites", str(site), "--expires", "90d",
                     *db)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("sst_") and "\n" not in secret and "shown only this once" in made.stderr
    assert _status(field.server.url + "/sd/prometheus", secret) == 200
    listing = field.run("tokens", "list", *db)
    assert secret not in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if "\tNOC\t" in line)
    token_id, role, _label, sites, _created, expires = row.split("\t")
    assert role == "worker" and sites == str(site) and expires != "never"
    assert field.run("tokens", "revoke", token_id, *db).returncode == 0
    assert _status(field.server.url + "/sd/prometheus", secret) == 401
    again = field.run("tokens", "revoke", token_id, *db)
    assert again.returncode == 1 and "sitescout tokens list" in _one_line(again)
    bad = field.run("tokens", "add", "--role", "worker", "--sites", "999999", *db)
    assert bad.returncode == 1 and "no site with id 999999" in _one_line(bad)
    past = field.run("tokens", "add", "--role", "viewer", "--expires", "2001-01-01", *db)
    assert past.returncode == 2 and "has passed" in past.stderr


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "sitescout", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"sitescout {version('sitescout')}"


def test_a_spooled_survey_the_server_refuses_stays_in_the_spool(field: Field, monkeypatch) -> None:
    from sitescout.cmd_push import spool_survey

    monkeypatch.setenv("XDG_DATA_HOME", field.env["XDG_DATA_HOME"])
    good, unknown = frozen_survey(HD), frozen_survey("Thôn Không Có")
    unknown["started_at"] = "2026-03-03T08:00:00+00:00"
    kept_good = spool_survey(good, field.server.url, None)
    kept_unknown = spool_survey(unknown, field.server.url, None)
    result = field.run("push", "--token-file", str(field.token_file))
    assert result.returncode == 1
    assert f"{kept_unknown.name}: not sent:" in result.stderr and "no site named 'Thôn Không Có'" in result.stderr
    assert "1 of 2 surveys not sent" in result.stderr.strip().splitlines()[-1]
    assert not kept_good.exists() and kept_unknown.exists() and field.surveys() == [HD]


# ---------------------------------------------------------------------------
# the same commands in Vietnamese (issue 14)


def test_push_and_tokens_list_speak_vietnamese_with_lang_vi(field: Field) -> None:
    """`--lang vi`: push's progress, its errors, the empty spool and the token listing read in Vietnamese."""
    (field.tmp / "a.json").write_text(json.dumps(frozen_survey(HD), ensure_ascii=False))
    push = ["--lang", "vi", "push", "a.json", "--to", field.server.url, "--token-file"]
    site = field.site_ids[HD]
    sent = field.run(*push, str(field.token_file))
    assert sent.returncode == 0, sent.stderr
    line = _one_line(sent)
    assert line.startswith("sitescout push: [1/1] a.json: đã lưu, là lần khảo sát ") and line.endswith(
        f" của điểm {site}"), line
    again = field.run(*push, str(field.token_file))
    assert again.returncode == 0 and "a.json: đã có sẵn, là lần khảo sát " in _one_line(again)
    assert field.surveys() == [HD]

    (field.tmp / "bad.token").write_text("sst_wrong\n")
    refused = field.run(*push, str(field.tmp / "bad.token"))
    assert refused.returncode == 1
    first, last = refused.stderr.strip().splitlines()
    assert first.startswith("sitescout push: [1/1] a.json: chưa gửi được: ") and " trả lời 401: " in first
    assert " trả lời 401: Token API không được chấp nhận." in first  # the server's words in the command's language
    assert first.endswith("; hãy kiểm tra --token-file (token có quyền biên tập)"), first
    assert last == "sitescout push: lỗi: 1/1 kết quả khảo sát chưa gửi được (lý do ở trên); " \
                   "các kết quả trong hàng chờ gửi vẫn được giữ lại"

    no_token = field.run(*push[:-1])
    assert no_token.returncode == 2
    assert _one_line(no_token) == ("sitescout push: lỗi: push cần token API có quyền biên tập: "
                                   "--token-file TỆP hoặc $SITESCOUT_TOKEN")
    empty = field.run("--lang", "vi", "push", "--token-file", str(field.token_file))
    assert empty.returncode == 0 and _one_line(empty).endswith(") trống: không có gì để gửi")
    assert "sitescout push: hàng chờ gửi (" in _one_line(empty)

    listing = field.run("--lang", "vi", "tokens", "list", "--db", field.db_url)
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split("\t") == ["id", "vai trò", "nhãn", "điểm", "tạo lúc", "hết hạn"]
    editor = next(row.split("\t") for row in rows if row.split("\t")[1] == "editor")
    assert editor[3] == "tất cả" and editor[5] == "không bao giờ"  # the fixture's token: every site, no expiry

    english = ("stored as", "answered", "not sent", "check --token-file", "needs an editor", "nothing to send",
               "role\tlabel", "never", "error:")
    said = "".join(r.stderr + r.stdout for r in (sent, again, refused, no_token, empty, listing))
    assert not [phrase for phrase in english if phrase in said], said
