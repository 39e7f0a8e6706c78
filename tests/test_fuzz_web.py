"""Property-based tests of everything a web client controls: API bodies, paths, query strings, headers.

Any input either works or gets a clear 4xx (JSON ``{"error": ...}`` under /api and /sd),
never a 500; a refused write leaves the inventory exactly as it was; no path reaches a
file outside the static folder or the MBTiles basemap; no redirect leaves the server.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_security import fingerprint
from support import bearer, login
from test_web_app import _mbtiles
from web_seed import FROZEN_SITE, HD, frozen_survey, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.web import create_app
from sitescout.web.auth import safe_next

STATIC_ROOT = Path(__file__).resolve().parents[1] / "web" / "static"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
#: Content that must never come back: files outside the allowed roots.
OUTSIDE = (b"root:x:0:0", b"def create_app", b"SQLite format 3", b"OUTSIDE-SENTINEL")


@dataclass
class Web:
    app: Any
    path: Path
    tokens: dict[str, str]
    site_ids: dict[str, int]
    camera_id: int
    user: Any  # a test client logged in as admin


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp = tmp_path_factory.mktemp("fuzz-web")
    path = tmp / "inventory.sqlite3"
    database = open_database(f"sqlite:///{path}")
    site_ids = seed_commune(database)
    with database.session() as session:
        tokens = {role: store.create_token(session, role) for role in ("admin", "editor", "viewer", "worker")}
        store.create_user(session, "admin", "admin-password", "admin")
        camera = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.kind == "camera")
    _mbtiles(tmp / "base.mbtiles")
    (tmp / "secret.txt").write_bytes(b"OUTSIDE-SENTINEL")
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "f" * 64, "SITES_CACHE_SECONDS": 0,
                      "TILES_FILE": str(tmp / "base.mbtiles"), "MAX_CONTENT_LENGTH": 256 * 1024,
                      "PLAN_TIME_LIMIT_S": 0.2})
    user = app.test_client()
    assert login(user, "admin", "admin-password").status_code == 302
    yield Web(app, path, tokens, site_ids, camera.id, user)
    database.close()


# ---------------------------------------------------------------------------
# Strategies.

_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**40), max_value=10**40)
            | st.floats() | st.text(max_size=40) | st.sampled_from(["", "0", "-1", "1e309", "NaN", "ok", "problem",
                                                                      "2026-03-01T00:00:00+00:00", "camera", "Ω" * 500,
                                                                      "\x00", "\ud800", "../../etc/passwd"]))
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                                          max_size=5), max_leaves=25)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every node of a JSON value (dict keys and list indices)."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, prefix + (i,))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def _valid_body(web: Web, endpoint: str) -> Any:
    if endpoint == "surveys":
        doc = frozen_survey(HD)
        del doc["hosts"][0]["snapshot"]  # keep each example small
        return doc
    if endpoint == "observations":
        return [{"device_id": web.camera_id, "kind": "stream", "health": "ok", "values": {"fps": 25.0},
                 "observed_at": datetime.now(timezone.utc).isoformat()}]  # recent: older ones are refused
    from test_web_plans import sample_input

    return sample_input()


_ENDPOINTS = {
    "surveys": ("/api/v1/surveys", "admin"),
    "observations": ("/api/v1/observations", "worker"),
    "plans": ("/api/v1/sites/{hd}/plans?k=1&time_limit_s=0.05", "editor"),
}


def _post(web: Web, endpoint: str, **kw: Any) -> Any:
    url, role = _ENDPOINTS[endpoint]
    return web.app.test_client().post(url.format(hd=web.site_ids[HD]), headers=bearer(web.tokens[role]), **kw)


def _check_answer(web: Web, response: Any, before: dict[str, Any]) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert response.is_json, response.get_data(as_text=True)[:200]
        error = response.get_json()["error"]
        assert isinstance(error, str) and error.strip()
        assert "Traceback" not in error
        assert fingerprint(web.path) == before, f"a refused request ({response.status_code}: {error}) wrote"


# ---------------------------------------------------------------------------
# API payloads.


@pytest.mark.parametrize("endpoint", sorted(_ENDPOINTS))
@FUZZ
@given(body=JSON)
def test_any_json_body_is_stored_or_refused_cleanly(web: Web, endpoint: str, body: Any) -> None:
    before = fingerprint(web.path)
    response = _post(web, endpoint, data=json.dumps(body), content_type="application/json")
    _check_answer(web, response, before)


@pytest.mark.parametrize("endpoint", sorted(_ENDPOINTS))
@FUZZ
@given(data=st.data())
def test_a_valid_body_with_one_field_broken_is_stored_or_refused_cleanly(web: Web, endpoint: str, data: Any) -> None:
    body = _valid_body(web, endpoint)
    path = data.draw(st.sampled_from(_paths(body)), label="path")
    body = _replace(body, path, data.draw(JSON, label="value"))
    before = fingerprint(web.path)
    response = _post(web, endpoint, data=json.dumps(body), content_type="application/json")
    _check_answer(web, response, before)


@pytest.mark.parametrize("endpoint", sorted(_ENDPOINTS))
@FUZZ
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", "",
                                                                  "application/x-www-form-urlencoded"]))
def test_bytes_that_are_not_json_get_a_400(web: Web, endpoint: str, raw: bytes, content_type: str) -> None:
    try:
        json.loads(raw)
        return  # valid JSON is the other tests' business
    except ValueError:
        pass
    before = fingerprint(web.path)
    response = _post(web, endpoint, data=raw, content_type=content_type)
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    _check_answer(web, response, before)


@pytest.mark.parametrize("endpoint", sorted(_ENDPOINTS))
def test_a_body_over_the_size_cap_is_refused_before_it_is_read(web: Web, endpoint: str) -> None:
    before = fingerprint(web.path)
    huge = json.dumps({"site": HD, "hosts": [], "pad": "x" * (300 * 1024)})
    response = _post(web, endpoint, data=huge, content_type="application/json")
    assert response.status_code == 413
    _check_answer(web, response, before)


@pytest.mark.parametrize("endpoint", sorted(_ENDPOINTS))
def test_deep_nesting_and_huge_numbers_are_refused_cleanly(web: Web, endpoint: str) -> None:
    for body in ("[" * 5000 + "]" * 5000, '{"site": "x", "hosts": [' + "9" * 5000 + "]}",
                 '{"site": "' + "\\ud800" * 100 + '", "hosts": []}', "1e999999", '"' + "é" * 10000 + '"'):
        before = fingerprint(web.path)
        _check_answer(web, _post(web, endpoint, data=body, content_type="application/json"), before)


@FUZZ
@given(header=st.text(max_size=80))
def test_any_authorization_header_is_a_401_or_a_403(web: Web, header: str) -> None:
    try:
        header.encode("latin-1")
    except UnicodeEncodeError:
        return  # not sendable in an HTTP header
    if "\n" in header or "\r" in header:
        return  # not sendable either
    client = web.app.test_client()
    for method, url in (("GET", "/api/v1/sites"), ("GET", "/sd/prometheus"), ("POST", "/api/v1/surveys")):
        before = fingerprint(web.path)
        response = client.open(url, method=method, headers={"Authorization": header}, json=frozen_survey())
        assert response.status_code in (401, 403), (header, response.status_code)
        _check_answer(web, response, before)


#: Integers the review sent: beyond 64 bits, Unicode digits Python's int() and str.isdigit() accept.
BAD_INTEGERS = st.sampled_from(["9223372036854775808", "99999999999999999999", "²", "٣", "１", "+3", " 3", "-0",
                                "1" * 5000, "3\x00"])


@FUZZ
@given(q=st.text(max_size=60), problems=st.text(max_size=5), site=st.text(max_size=25) | BAD_INTEGERS)
def test_query_strings_never_break_a_read(web: Web, q: str, problems: str, site: str) -> None:
    for url, params in (("/api/v1/sites", {"q": q, "problems": problems}), ("/api/v1/devices", {"site": site}),
                        ("/sites", {"q": q, "problems": problems}),
                        (f"/sites/{web.site_ids[FROZEN_SITE]}/report", {"survey": site}),
                        ("/map", {"plan": site})):
        response = web.user.get(url, query_string=params)
        assert response.status_code in (200, 400, 404), (url, params, response.status_code)


# ---------------------------------------------------------------------------
# Paths: tiles, reports, snapshots, static files.

TRAVERSAL = st.sampled_from([
    "..", "../..", "..%2f..%2fetc%2fpasswd", "%2e%2e", "%2e%2e%2f", "..%5c..%5c", "..\\..", "....//", "%252e%252e",
    "/etc/passwd", "etc/passwd", "%00", "-1", "+1", "1.0", "1e3", "0x10", "99999999999999999999999", "２", "٣",
    "..%2f..%2f..%2fsecret.txt", "../secret.txt", "..%c0%af", "%ef%bc%8e%ef%bc%8e", "0/../../..", "",
])
SEGMENT = TRAVERSAL | st.text(max_size=30).map(lambda s: quote(s, safe="")) | st.integers(-5, 2**70).map(str)


def _static_digests() -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in STATIC_ROOT.rglob("*") if p.is_file()}


def _check_no_escape(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code)
    body = response.get_data()
    for marker in OUTSIDE:
        assert marker not in body, (what, marker)


@FUZZ
@given(z=SEGMENT, x=SEGMENT, y=SEGMENT, ext=st.sampled_from([".png", "", ".png/..", ".jpg", "%2epng"]))
def test_tile_paths_serve_only_tiles_of_the_basemap(web: Web, z: str, x: str, y: str, ext: str) -> None:
    url = f"/tiles/{z}/{x}/{y}{ext}"
    response = web.user.get(url)
    _check_no_escape(response, url)
    if response.status_code == 200:
        assert response.mimetype == "image/png" and response.data.endswith(b"TILE-1-0-0"), url
    else:
        assert response.status_code in (301, 308, 400, 404, 405), (url, response.status_code)


@FUZZ
@given(segment=SEGMENT, tail=st.sampled_from(["/report", "/report.pdf", "", "/report?survey=../1"]))
def test_site_report_and_snapshot_paths_stay_inside_the_inventory(web: Web, segment: str, tail: str) -> None:
    for url in (f"/sites/{segment}{tail}", f"/snapshots/{segment}.jpg", f"/snapshots/{segment}"):
        if url.endswith(".pdf") and segment.isdigit():
            continue  # a real PDF is slow and covered by test_web_app
        response = web.user.get(url)
        _check_no_escape(response, url)
        assert response.status_code in (200, 301, 308, 400, 404, 405), (url, response.status_code)


@FUZZ
@given(segment=SEGMENT, prefix=st.sampled_from(["", "vendor/", "../", "vendor/../../", "%2e%2e/", "/"]))
def test_static_paths_serve_only_files_of_the_static_folder(web: Web, segment: str, prefix: str) -> None:
    url = f"/static/{prefix}{segment}"
    response = web.app.test_client().get(url)
    _check_no_escape(response, url)
    if response.status_code == 200:
        assert hashlib.sha256(response.data).hexdigest() in _static_digests(), url
    else:
        assert response.status_code in (301, 308, 400, 404), (url, response.status_code)


@pytest.mark.parametrize("url", [
    "/static/../__init__.py", "/static/..%2f__init__.py", "/static/%2e%2e/__init__.py", "/static/vendor/../../sd.py",
    "/static//etc/passwd", "/static/..%5c__init__.py", "/tiles/..%2f..%2f..%2fetc/passwd/0.png",
    "/sites/1/../../etc/passwd", "/snapshots/..%2f..%2fetc%2fpasswd.jpg",
])
def test_known_traversals_get_a_404(web: Web, url: str) -> None:
    response = web.user.get(url, follow_redirects=True)  # "//" is merged into "/" by a 308 first
    _check_no_escape(response, url)
    assert response.status_code in (400, 404), (url, response.status_code)
    assert all(urlsplit(r.headers["Location"]).netloc in ("", "localhost") for r in response.history)


# ---------------------------------------------------------------------------
# Redirects never leave the server.


def _is_local(location: str) -> bool:
    parts = urlsplit(location)
    return not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//") \
        and "\\" not in location


@FUZZ
@given(target=st.text(max_size=60) | st.sampled_from([
    "//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "http:/evil", "/%2f%2fevil",
    "javascript:alert(1)", " //evil.example", "\t//evil.example", "/\t/evil.example", "///evil.example", "@evil",
]))
def test_next_parameters_only_lead_to_this_server(web: Web, target: str) -> None:
    assert _is_local(safe_next(target, "/map"))
    client = web.app.test_client()
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302 and _is_local(response.headers["Location"]), (target, response.headers)
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200


@FUZZ
@given(target=st.text(max_size=30) | st.sampled_from(["/map\r\nSet-Cookie: a=b", "/\n", "/x\x85", "//[", "/\x00"]))
def test_next_after_a_successful_login_is_a_local_redirect(web: Web, target: str) -> None:
    client = web.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": "admin", "password": "admin-password", "csrf_token": token,
                                           "next": target})
    assert response.status_code == 302 and _is_local(response.headers["Location"]), (target, response.headers)


#: Values of a survey field that its type allows (null) or that mean "nothing" in another type.
_EMPTY = st.sampled_from([None, [], [None], {}, "", 0, False])


@FUZZ
@given(data=st.data())
def test_a_stored_survey_with_null_or_empty_fields_renders_on_every_page(web: Web, data: Any) -> None:
    body = _valid_body(web, "surveys")
    body["started_at"] = "2026-04-0{}T08:00:00+00:00".format(data.draw(st.integers(1, 9), label="day"))
    for _ in range(data.draw(st.integers(1, 3), label="fields")):
        path = data.draw(st.sampled_from([p for p in _paths(body) if p]), label="path")
        body = _replace(body, path, copy.deepcopy(data.draw(_EMPTY, label="value")))
    response = _post(web, "surveys", data=json.dumps(body), content_type="application/json")
    if response.status_code >= 400:
        return  # refused cleanly: the other tests check that
    site = response.get_json()["site_id"]
    for url in (f"/sites/{site}", f"/sites/{site}/report", response.get_json()["report"], "/sites", "/map",
                f"/api/v1/sites/{site}", f"/api/v1/devices?site={site}"):
        answer = web.user.get(url)
        assert answer.status_code == 200, (url, answer.status_code, path)


# ---------------------------------------------------------------------------
# Plans: bounded work whatever the input (the solver's own limit is time, not memory).


def _plan_far_apart() -> Any:
    from test_web_plans import sample_input

    plan = sample_input()
    plan["mounts"][0]["lat"] = plan["mounts"][0]["lat"] + 1.0  # 111 km north: the background grid would explode
    plan["background"] = {"spacing_m": 1}
    return plan


def _plan_dense_polygon() -> Any:
    from test_web_plans import sample_input

    plan = sample_input()
    lat, lon = plan["mounts"][0]["lat"], plan["mounts"][0]["lon"]
    ring = [[lon, lat], [lon + 0.03, lat], [lon + 0.03, lat + 0.03], [lon, lat + 0.03], [lon, lat]]  # ~3 km square
    plan["demand"].append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                           "properties": {"id": "whole-commune", "spacing_m": 0.5}})
    return plan


@pytest.mark.parametrize("make,code,field", [
    (_plan_far_apart, "plan_too_wide", "plan"),
    (_plan_dense_polygon, "plan_too_dense", "demand"),
    (lambda: {**_plan_dense_polygon(), "headings": 10**9}, "at_most", "headings"),
])
def test_a_plan_that_would_need_unbounded_memory_is_refused_at_once(web: Web, make: Any, code: str, field: str) -> None:
    import time

    before = fingerprint(web.path)
    started = time.monotonic()
    response = _post(web, "plans", json=make())
    answer = response.get_json()  # the words are in the request's language; the code and field are stable
    assert response.status_code == 400 and answer["code"] == code and answer["params"]["field"] == field, answer
    assert time.monotonic() - started < 2.0
    _check_answer(web, response, before)
