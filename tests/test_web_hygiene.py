"""Input hygiene of the web app (issue 11 §4), through the real app on a temporary inventory.

Query-string integers are bounded like path integers; ``next=`` with CR/LF and surveys with
typed-but-null fields are rendered or refused, never a 500; access log lines cannot be
forged; the CSRF token rotates at login; logout ends the session on the server; failed
logins are throttled per user and per address, and a throttled attempt costs no hash.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import bearer, csrf_token, login
from web_seed import FROZEN_SITE, HD, frozen_survey

from sitescout.inventory.survey_report import render_survey_html, survey_findings
from sitescout.web.auth import safe_next
from sitescout.web.throttle import LoginThrottle

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

# ---------------------------------------------------------------------------
# Query-string integers.

_BAD_INTEGERS = ("9223372036854775808", "99999999999999999999", "²", "٣", "+3", " 3", "-1", "3.0", "0x10",
                 "1" * 5000, "\x00", "١٢")


@pytest.mark.parametrize("value", _BAD_INTEGERS, ids=repr)
def test_query_string_integers_are_a_400_or_404_never_a_500(app, site_ids, tokens, value):
    client = app.test_client()
    login(client)
    hd = site_ids[HD]
    for path in ("/map?plan={}", f"/sites/{hd}/report?survey={{}}", f"/sites/{hd}/report.pdf?survey={{}}"):
        answer = client.get(path.format(value))
        assert answer.status_code in (400, 404), (path, answer.status_code)
    answer = client.get("/api/v1/devices", query_string={"site": value}, headers=bearer(tokens["viewer"]))
    assert answer.status_code in (400, 404) and answer.is_json and answer.get_json()["error"]
    answer = client.post("/api/v1/surveys", query_string={"site": value}, json=frozen_survey(HD),
                         headers=bearer(tokens["editor"]))
    assert answer.status_code in (400, 404) and answer.is_json


def test_query_string_integers_that_are_ids_still_work(app, site_ids, tokens):
    client = app.test_client()
    devices = client.get(f"/api/v1/devices?site={site_ids[HD]}", headers=bearer(tokens["viewer"])).get_json()
    assert devices["devices"] and {d["site_id"] for d in devices["devices"]} == {site_ids[HD]}
    login(client)
    assert client.get("/map?plan=").status_code == 200  # empty: no plan asked for
    assert client.get("/map?plan=000").status_code == 200


# ---------------------------------------------------------------------------
# next= after login.


@pytest.mark.parametrize("target", ["/map\r\nSet-Cookie: x=1", "/map\nLocation: //evil", "/sites\x00", "/\x7f",
                                    "/map\u0085", "//[", "/%0d%0a"])
def test_next_with_control_characters_after_login_is_a_redirect_home_not_a_500(app, target):
    client = app.test_client()
    token = csrf_token(client)
    answer = client.post("/login", data={"username": "viewer", "password": "viewer-password", "csrf_token": token,
                                         "next": target})
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert "\r" not in location and "\n" not in location and "Set-Cookie" not in answer.headers.get("Location", "")
    assert location in ("/map", target)  # "/%0d%0a" is a harmless path on this server


@given(st.text(max_size=40))
def test_safe_next_never_returns_a_control_character(text):
    result = safe_next(text, "/map")
    assert result == "/map" or (result == text and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text))


# ---------------------------------------------------------------------------
# Typed-but-null survey fields.


def _nulled(doc: dict[str, Any]) -> dict[str, Any]:
    """The frozen survey with every nullable field of its camera null, and null entries in its lists."""
    doc = copy.deepcopy(doc)
    host = doc["hosts"][0]
    onvif = host["onvif"]
    for key in ("manufacturer", "model", "firmware", "serial", "hardware_id", "clock_offset_s", "auth", "xaddrs",
                "scopes"):
        onvif[key] = None
    onvif["profiles"] = [None, {k: None for k in onvif["profiles"][0]}]
    onvif["findings"] = [None]
    host["streams"] = [{k: None for k in host["streams"][0]}, {"up": False, "problems": ["frozen"],
                                                                      "profiles": [None, 3]}]
    host["link"] = {k: None for k in host["link"]}
    host.update(mac=None, vendor=None, open_ports=[80], errors=[None], snapshot={"jpeg_base64": None})
    doc["hosts"].append({"ip": "198.51.100.22", "kind": None, "onvif": None, "link": None, "streams": None,
                         "errors": None, "open_ports": None, "snapshot": None})
    doc.update(networks=None, finished_at=None)
    return doc


def _pages_of_the_site(client: Any, site_id: int) -> dict[str, int]:
    paths = (f"/sites/{site_id}", f"/sites/{site_id}/report", "/sites", "/map", f"/api/v1/sites/{site_id}",
             f"/api/v1/devices?site={site_id}", "/api/v1/sites")
    return {p: client.get(p).status_code for p in paths}


def test_a_survey_with_null_firmware_and_other_null_fields_renders(app, site_ids, tokens):
    client = app.test_client()
    doc = _nulled(frozen_survey(FROZEN_SITE))
    doc["started_at"] = "2026-03-02T08:00:00+00:00"  # a newer survey than the seeded one: the report shows it
    stored = client.post("/api/v1/surveys", json=doc, headers=bearer(tokens["editor"]))
    assert stored.status_code == 201, stored.get_json()
    login(client)
    assert _pages_of_the_site(client, site_ids[FROZEN_SITE]) == dict.fromkeys(
        _pages_of_the_site(client, site_ids[FROZEN_SITE]), 200)
    report = client.get(f"/sites/{site_ids[FROZEN_SITE]}/report").text
    assert "198.51.100.22" in report and "None" not in report


_NULLABLE = st.one_of(st.none(), st.just([]), st.just([None]), st.just({}), st.just(""), st.just(0))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*at, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_paths(item, (*at, i)))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_report_renders_any_survey_with_null_or_empty_fields(data):
    doc = frozen_survey(FROZEN_SITE)
    for _ in range(data.draw(st.integers(1, 4), label="fields")):
        path = data.draw(st.sampled_from(_paths(doc)), label="path")
        node = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = copy.deepcopy(data.draw(_NULLABLE, label="value"))  # st.just gives one shared object
    html = render_survey_html(doc)
    assert html.startswith("<!doctype html>")
    assert all(f.text is not None for f in survey_findings(doc))


# ---------------------------------------------------------------------------
# Access log.


def test_access_log_lines_cannot_be_forged_with_control_characters(app, caplog):
    client = app.test_client()
    forged = "/x%0A127.0.0.1 GET /admin 200 0%0D%1B[2J%E2%80%A8"  # the path decodes to CR, LF, ESC, U+2028
    with caplog.at_level(logging.INFO, logger="sitescout.web.access"):
        client.get(forged)
        client.post("/x%0Aforged", data={})  # CSRF refusal logs the path too
    lines = [r.getMessage() for r in caplog.records if r.name in ("sitescout.web.access", "sitescout.web.security")]
    assert len(lines) >= 2
    for line in lines:
        assert not re.search(r"[\x00-\x1f\x7f\u2028]", line), repr(line)
    assert any("/x\\x0a127.0.0.1 GET /admin" in line for line in lines)


# ---------------------------------------------------------------------------
# Sessions: CSRF rotation, logout on the server.


def test_the_csrf_token_rotates_at_login(app):
    client = app.test_client()
    before = csrf_token(client)
    assert client.post("/login", data={"username": "viewer", "password": "viewer-password",
                                       "csrf_token": before}).status_code == 302
    after = csrf_token(client, "/map")
    assert after != before
    # The token known before login (e.g. planted by an attacker on the login page) no longer works.
    refused = client.post("/logout", data={"csrf_token": before})
    assert refused.status_code == 400
    assert client.get("/map").status_code == 200


def test_logout_ends_the_session_on_the_server_a_copied_cookie_stops_working(app):
    client = app.test_client()
    login(client)
    assert client.get("/map").status_code == 200
    cookie = client.get_cookie("sitescout_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("sitescout_session", cookie.value)
    assert thief.get("/map").status_code == 200  # the copy works while the session lives
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/map")}).status_code == 302
    answer = thief.get("/map")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert thief.get("/api/v1/sites").status_code == 401


def test_a_new_login_ends_the_browsers_previous_session(app):
    client = app.test_client()
    login(client)
    old = client.get_cookie("sitescout_session").value
    login(client, "editor")
    stale = app.test_client()
    stale.set_cookie("sitescout_session", old)
    assert stale.get("/map").status_code == 302


# ---------------------------------------------------------------------------
# Login throttling.


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(app: Any) -> tuple[LoginThrottle, _Clock]:
    clock = _Clock()
    throttle = LoginThrottle(clock=clock)
    app.extensions["sitescout_login_throttle"] = throttle
    return throttle, clock


def _try(client: Any, user: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post("/login", data={"username": user, "password": password, "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": address})


def _counting_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = hashlib.scrypt

    def scrypt(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    return calls


def test_failed_logins_are_throttled_per_user_with_growing_delays_and_no_hash(app, monkeypatch):
    throttle, clock = _throttle(app)
    hashes = _counting_scrypt(monkeypatch)
    client = app.test_client()
    for n in range(throttle.free_failures):  # the free ones: each checked, each a hash
        assert _try(client, "viewer", f"guess-{n}", address=f"127.0.0.{n + 2}").status_code == 401
    assert len(hashes) == throttle.free_failures
    waits = []
    for n in range(4):  # from another address each time: the user's own count holds them back
        refused = _try(client, "viewer", "viewer-password", address=f"127.0.1.{n}")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        waits.append(int(refused.headers["Retry-After"]))
        clock.now += throttle.delay_s(throttle.free_failures + n) + 0.1  # wait out the delay...
        assert _try(client, "viewer", f"wrong-{n}", address=f"127.0.2.{n}").status_code == 401  # ...fail again
    assert waits == sorted(waits) and waits[-1] > waits[0], waits  # growing delays
    calls = len(hashes)
    for _ in range(50):  # throttled: refused without computing a hash
        assert _try(client, "viewer", "viewer-password", address="127.0.3.1").status_code == 429
    assert len(hashes) == calls
    clock.now += throttle.max_delay_s + 1  # after the wait the right password logs in and clears the count
    assert _try(client, "viewer", "viewer-password", address="127.0.3.1").status_code == 302
    assert throttle.wait_s("user:viewer") == 0


def test_failed_logins_are_throttled_per_client_address_across_user_names(app, monkeypatch):
    throttle, clock = _throttle(app)
    hashes = _counting_scrypt(monkeypatch)
    client = app.test_client()
    for n in range(throttle.free_failures):  # password spraying: a different user name each time
        assert _try(client, f"user{n}", "Password1", address="127.0.0.9").status_code == 401
    before = len(hashes)
    assert _try(client, "editor", "editor-password", address="127.0.0.9").status_code == 429
    assert len(hashes) == before
    assert _try(client, "editor", "editor-password", address="127.0.0.10").status_code == 302  # others unaffected


def test_throttle_delays_grow_and_are_capped():
    throttle = LoginThrottle(free_failures=2, base_delay_s=1.0, max_delay_s=60.0)
    assert [throttle.delay_s(n) for n in range(1, 10)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert throttle.delay_s(10**6) == 60.0


def test_throttle_memory_is_bounded():
    throttle = LoginThrottle(max_keys=100)
    for n in range(1000):
        throttle.failed(f"addr:10.0.{n // 256}.{n % 256}")
    assert len(throttle._failures) == 100


def test_concurrent_logins_on_sqlite_all_succeed(app):
    """Eight logins at once on a file SQLite inventory: each one a redirect, never a 500.

    A login reads (the password check) and then writes (its server-side session); in WAL mode a
    transaction that read first cannot wait for the write lock, so two logins at once failed with
    "database is locked".  The password check's read now ends before the writes begin.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> int:
        client = app.test_client()  # one user, one address: a wall of screens logging in at once
        return login(client).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(16)))
    assert statuses == [302] * 16, statuses



def test_a_successful_login_does_not_wipe_the_address_count_of_guesses_at_others(app, monkeypatch):
    """An attacker who owns one account cannot reset, by logging in, the count of guesses made from there."""
    throttle, clock = _throttle(app)
    client = app.test_client()
    for n in range(throttle.free_failures - 1):  # guesses at other users from one address
        assert _try(client, f"victim{n}", "guess", address="127.0.5.1").status_code == 401
    assert _try(client, "viewer", "viewer-password", address="127.0.5.1").status_code == 302  # own account
    assert _try(client, "victim-last", "guess", address="127.0.5.1").status_code == 401
    assert _try(client, "victim-next", "guess", address="127.0.5.1").status_code == 429  # the count held


def test_guesses_sent_at_once_are_counted_before_the_password_is_checked():
    """On a key that has failed, each attempt is reserved before its hash: many at once cannot all pass."""
    throttle = LoginThrottle(free_failures=5)
    throttle.failed("user:viewer", "addr:127.0.0.1")
    attempts = [throttle.attempt("user:viewer", "addr:127.0.0.1") for _ in range(20)]  # none finished yet
    allowed = [reserved for wait, reserved in attempts if wait == 0]
    assert len(allowed) == 4 and all(r == ("user:viewer", "addr:127.0.0.1") for r in allowed)
    throttle.succeeded("user:viewer", "addr:127.0.0.1")
    assert throttle.wait_s("user:viewer") == 0 and throttle._failures["addr:127.0.0.1"].count == 4


def test_people_logging_in_at_once_under_one_name_are_not_held_back():
    """A key without failures reserves nothing: a wall of screens logging in as one viewer all get in."""
    throttle = LoginThrottle(free_failures=5)
    attempts = [throttle.attempt("user:viewer", "addr:127.0.0.1") for _ in range(20)]
    assert all(wait == 0 and reserved == () for wait, reserved in attempts)


def test_search_wildcards_are_letters_and_long_searches_are_refused(app, tokens):
    client = app.test_client()
    every = client.get("/api/v1/sites", headers=bearer(tokens["viewer"])).get_json()["features"]
    assert len(every) > 1
    for typed in ("%", "_", "%%", "%_%"):  # matched every site when they were LIKE wildcards
        found = client.get("/api/v1/sites", query_string={"q": typed}, headers=bearer(tokens["viewer"]))
        assert found.status_code == 200 and found.get_json()["features"] == [], typed
    too_long = client.get("/api/v1/sites", query_string={"q": "%" * 101}, headers=bearer(tokens["viewer"]))
    assert too_long.status_code == 400 and "100" in too_long.get_json()["error"]
    login(client)
    assert client.get("/sites", query_string={"q": "x" * 101}).status_code == 400


def test_searches_share_a_cache_entry_by_their_folded_form_and_never_evict_the_map(app, tokens, monkeypatch):
    from sitescout.web import api

    app.config["SITES_CACHE_SECONDS"] = 60
    builds: list[tuple[str | None, bool]] = []
    real = api._build_sites_body

    def counting(query: str | None, problems_only: bool) -> tuple[bytes, str]:
        builds.append((query, problems_only))
        return real(query, problems_only)

    monkeypatch.setattr(api, "_build_sites_body", counting)
    client = app.test_client()
    client.get("/api/v1/sites", headers=bearer(tokens["viewer"]))
    for typed in ("Hướng Đạo", "huong dao", "HUONG  DAO", "Huong Dao"):
        assert (
            client.get("/api/v1/sites", query_string={"q": typed}, headers=bearer(tokens["viewer"])).status_code == 200
        )
    assert builds == [(None, False), ("huong dao", False)]
    for n in range(40):  # more distinct searches than the cache holds
        client.get("/api/v1/sites", query_string={"q": f"s{n}"}, headers=bearer(tokens["viewer"]))
    before = len(builds)
    client.get("/api/v1/sites", headers=bearer(tokens["viewer"]))
    assert len(builds) == before  # the map's collection was kept
