"""No request costs more than its share: caches survive refused writes, anonymous scrapes read cached figures.

Real app on a real temporary SQLite inventory (Flask's test client).  Builds are counted by
wrapping the real store function that does the expensive work, as in test_web_app.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from support import bearer, login, wait_for
from web_seed import HD, frozen_survey, large_survey

from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


def _count_calls(monkeypatch, name: str) -> list[int]:
    """Wrap store.<name> so each call is recorded (the real function still runs)."""
    calls: list[int] = []
    real = getattr(store, name)

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(store, name, counted)
    return calls


def test_sd_cache_survives_anonymous_refused_and_failed_writes_and_drops_on_a_real_one(
        app, site_ids, tokens, monkeypatch):
    # The review: any non-GET, even an anonymous 401 or a 404, dropped /sd/prometheus' cached
    # answer, so a loop of anonymous POSTs made every Prometheus poll rebuild it (0.03 s -> 1.6 s).
    builds = _count_calls(monkeypatch, "prometheus_targets_json")
    # Only writes may drop the answer here, never its age: the first plan request starts the fork server
    # (numpy, scipy, WeasyPrint), which on a loaded machine took longer than the default 5 s.
    app.config["SD_CACHE_SECONDS"] = 3600.0
    worker, editor, viewer = bearer(tokens["worker"]), bearer(tokens["editor"]), bearer(tokens["viewer"])
    client = app.test_client()
    assert client.get("/sd/prometheus", headers=worker).status_code == 200
    assert len(builds) == 1
    site_id = site_ids[HD]
    new_camera = frozen_survey(HD)
    new_camera["hosts"][0].update(ip="198.51.100.99", mac="00:aa:bb:cc:dd:99")
    new_camera["hosts"][0]["onvif"]["endpoint"] = "urn:uuid:0000-cost-test"
    attempts = [
        ("anonymous survey", lambda: client.post("/api/v1/surveys", json=new_camera), 401),
        ("anonymous DELETE", lambda: client.delete("/api/v1/surveys"), 405),
        ("anonymous POST to nowhere", lambda: client.post("/api/v1/nowhere"), 404),
        ("anonymous form POST to nowhere", lambda: client.post("/nowhere"), 400),  # CSRF first
        ("POST on a GET route", lambda: client.post("/sd/prometheus", headers=worker), 400),
        ("worker writes a survey", lambda: client.post("/api/v1/surveys", json=new_camera, headers=worker), 403),
        ("viewer writes a survey", lambda: client.post("/api/v1/surveys", json=new_camera, headers=viewer), 403),
        ("editor, broken survey", lambda: client.post("/api/v1/surveys", json={"site": HD}, headers=editor), 400),
        # Refused after the inventory began writing (the site is unknown): rolled back.
        ("editor, unknown site", lambda: client.post("/api/v1/surveys", json=dict(new_camera, site="Không Có"),
                                                     headers=editor), 400),
        ("editor, broken plan", lambda: client.post(f"/api/v1/sites/{site_id}/plans", json={}, headers=editor), 400),
        ("anonymous candidate form", lambda: client.post("/candidates/1/accept"), 400),
        ("login without CSRF", lambda: client.post("/login", data={"username": "x", "password": "y"}), 400),
    ]
    for what, attempt, status in attempts:
        response = attempt()
        assert response.status_code == status or (status == 400 and response.status_code in (400, 405)), (
            what, response.status_code)
        assert client.get("/sd/prometheus", headers=worker).status_code == 200
        assert len(builds) == 1, f"{what} ({status}) dropped the cached targets"
    stored = client.post("/api/v1/surveys", json=new_camera, headers=editor)
    assert stored.status_code == 201, stored.text
    assert client.get("/sd/prometheus", headers=worker).status_code == 200
    assert len(builds) == 2, "a successful write drops the cached targets"
    duplicate = client.post("/api/v1/surveys", json=new_camera, headers=editor)
    assert duplicate.status_code == 200 and duplicate.get_json()["duplicate"] is True
    assert client.get("/sd/prometheus", headers=worker).status_code == 200
    assert len(builds) == 2, "the same survey again changes nothing and keeps the answer"


def test_sites_cache_survives_refused_writes(app, tokens, monkeypatch):
    builds = _count_calls(monkeypatch, "list_sites")
    app.config["SITES_CACHE_SECONDS"] = 3600.0  # only a write may drop the answer here, never its age
    client = app.test_client()
    viewer = bearer(tokens["viewer"])
    assert client.get("/api/v1/sites", headers=viewer).status_code == 200
    for response in (client.post("/api/v1/surveys", json=frozen_survey(HD)),
                     client.post("/api/v1/surveys", json=frozen_survey(HD), headers=viewer),
                     client.post("/api/v1/observations", json=[{"device_id": 10**6, "kind": "x"}],
                                 headers=bearer(tokens["worker"]))):
        assert response.status_code in (400, 401, 403)
        assert client.get("/api/v1/sites", headers=viewer).status_code == 200
    assert len(builds) == 1


def test_anonymous_metrics_read_cached_site_figures(app, site_ids, monkeypatch):
    # The review: every anonymous GET /metrics of `serve` rebuilt the whole site list.
    builds = _count_calls(monkeypatch, "list_sites")
    app.config["METRICS_CACHE_SECONDS"] = 1.0

    def scrape(_=None) -> str:
        response = app.test_client().get("/metrics")
        assert response.status_code == 200
        return response.text

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(scrape, range(32)))
    assert len(builds) == 1, "32 anonymous scrapes, 8 at a time, count the sites once"
    assert all('sitescout_web_sites{health="problem"} 1.0' in t for t in texts)
    assert all(f'sitescout_web_sites{{health="ok"}} {len(site_ids) - 1}.0' in t for t in texts)
    time.sleep(1.1)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(scrape, range(16)))
    assert len(builds) == 2, "older than METRICS_CACHE_SECONDS: counted again, once"


def _store_survey(database, doc, site_id):
    with database.session() as session:
        return store.ingest_survey(session, doc, site_id=site_id).survey_id


def test_pdf_of_a_3000_host_survey_costs_the_server_nothing_and_is_tried_once(app, database, site_ids):
    # The review: one viewer GET of this PDF took 56 s of CPU in the server, on every GET.
    survey_id = _store_survey(database, large_survey(HD, 3000), site_ids[HD])
    app.config.update(PDF_CPU_S=3.0, PDF_WAIT_S=1.0)  # far below the ~40 s this PDF needs
    client = app.test_client()
    client.set_cookie("sitescout_lang", "en")
    login(client)
    path = f"/sites/{site_ids[HD]}/report.pdf?survey={survey_id}"
    cpu_before = time.process_time()
    first = client.get(path)
    assert first.status_code == 503 and first.headers["Retry-After"]
    assert "being made" in first.text and f"/sites/{site_ids[HD]}/report?survey={survey_id}" in first.text

    def refused_as_too_large():
        answer = client.get(path)
        return answer if "too large" in answer.text else None

    answer = wait_for("the capped render to give up", refused_as_too_large, timeout_s=30, interval_s=0.5)
    # The cap it hit: CPU (3 s) normally; the wall-clock deadline when the machine is very busy.
    assert answer.status_code == 503 and ("s of CPU" in answer.text or "too long" in answer.text), answer.text
    for _ in range(5):
        started = time.monotonic()
        again = client.get(path)
        assert again.status_code == 503 and "too large" in again.text
        assert time.monotonic() - started < 2.0
    assert app.extensions["sitescout_pdf_cache"].renders == 1, "a document too large is not tried again"
    metrics = client.get("/metrics").text
    assert "sitescout_web_pdf_renders_total 1.0" in metrics
    assert 'sitescout_web_refusals_total{kind="pdf",reason="too_large"} 6.0' in metrics
    assert time.process_time() - cpu_before < 8.0, "the server process itself never renders"
    assert client.get(f"/sites/{site_ids[HD]}/report?survey={survey_id}").status_code == 200


def test_concurrent_viewers_share_one_pdf_render_and_later_ones_get_the_kept_bytes(app, database, site_ids):
    survey_id = _store_survey(database, large_survey(HD, 40), site_ids[HD])
    path = f"/sites/{site_ids[HD]}/report.pdf?survey={survey_id}"
    app.config["PDF_WAITERS"] = 8

    def fetch(_=None):
        client = app.test_client()
        login(client)
        response = client.get(path)
        return response.status_code, response.data

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(8)))
    assert {status for status, _ in answers} == {200}
    assert len({data for _, data in answers}) == 1 and answers[0][1].startswith(b"%PDF")
    cache = app.extensions["sitescout_pdf_cache"]
    assert cache.renders == 1
    started = time.monotonic()
    assert fetch() == answers[0]
    assert time.monotonic() - started < 2.0 and cache.renders == 1


def test_only_a_few_viewers_hold_a_server_thread_waiting_for_a_pdf(app, database, site_ids):
    # Each waiting viewer holds one of the server's 8 threads: beyond PDF_WAITERS they are told at once.
    survey_id = _store_survey(database, large_survey(HD, 300), site_ids[HD])  # a few seconds to render
    path = f"/sites/{site_ids[HD]}/report.pdf?survey={survey_id}"
    app.config.update(PDF_WAITERS=2, PDF_WAIT_S=60.0)

    def fetch(_=None):
        client = app.test_client()
        login(client)
        started = time.monotonic()
        response = client.get(path)
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(8)))
    waited = [t for status, t in answers if status == 200]
    told = [t for status, t in answers if status == 503]
    # Two wait for the render; the rest are told at once (a thread arriving after the render gets the bytes).
    assert len(waited) >= 2 and len(told) >= 4, answers
    assert max(told) < 2.0 and app.extensions["sitescout_pdf_cache"].renders == 1


def test_a_pdf_whose_render_fails_is_a_page_pointing_to_the_html_report_not_a_500(app, database, site_ids,
                                                                                  monkeypatch):
    # The review: WeasyPrint failing on a (pushed, hostile) document, or its process dying for another
    # reason than a cap, came back as JobFailed("error") or WeasyPrint's own exception: a 500 page, an
    # hour long (failures are remembered). Now a 503 page that says so and links to the HTML report.
    from sitescout.web import pdf
    from sitescout.web.isolation import JobFailed

    survey_id = _store_survey(database, frozen_survey(HD), site_ids[HD])

    def dies(*args, **kwargs):
        raise JobFailed("error", "the worker process ended with status 1")

    monkeypatch.setattr(pdf, "run_isolated", dies)
    client = app.test_client()
    client.set_cookie("sitescout_lang", "en")
    login(client)
    path = f"/sites/{site_ids[HD]}/report.pdf?survey={survey_id}"
    for _ in range(2):
        answer = client.get(path)
        assert answer.status_code == 503, answer.text[:300]
        assert "could not make a PDF" in answer.text
        assert f"/sites/{site_ids[HD]}/report?survey={survey_id}" in answer.text
    assert app.extensions["sitescout_pdf_cache"].renders == 1, "a failed document is not tried again at once"
    assert 'sitescout_web_refusals_total{kind="pdf",reason="failed"} 2.0' in client.get("/metrics").text
