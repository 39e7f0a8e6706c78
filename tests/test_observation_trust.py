"""Observations cannot rewrite history (issue 11 §3), through the real app on a temporary inventory.

A worker token posted ``observed_at`` 9999-12-31 with health ok and the device then read ok
forever.  Here: times beyond the clock-skew allowance or older than a worker's spool can hold
are refused one by one (the rest of the batch is stored); health comes from the newest
plausible observation, also when a future row is already stored; and a worker token speaks
only for the devices /sd/prometheus gives it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from support import bearer
from web_seed import FROZEN_SITE, HD

from sitescout.inventory import store
from sitescout.inventory.choices import Status
from sitescout.inventory.db import MIGRATIONS_DIR, open_database
from sitescout.inventory.demo_data import seed_demo
from sitescout.inventory.models import Device, DeviceHealth, Observation, ValidationError
from sitescout.inventory.observations import MAX_CLOCK_SKEW, MAX_OBSERVATION_AGE

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _camera(database: Any, site_id: int) -> int:
    with database.session() as session:
        return next(d.id for d in store.list_devices(session, site_id=site_id) if d.kind == "camera" and d.ip)


def _obs(device_id: int, at: datetime | str, health: str = "ok", kind: str = "link") -> dict[str, Any]:
    return {"device_id": device_id, "kind": kind, "health": health,
            "observed_at": at if isinstance(at, str) else at.isoformat(), "reason": f"{kind} {health}"}


def _health(database: Any, device_id: int) -> str:
    with database.session() as session:
        return next(d.health for d in store.list_devices(session) if d.id == device_id)


def test_observation_from_9999_is_refused_and_cannot_pin_a_device_ok(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    client = app.test_client()
    poisoned = client.post("/api/v1/observations", json=[_obs(camera, "9999-12-31T23:59:59+00:00")],
                           headers=bearer(tokens["worker"]))
    assert poisoned.status_code == 200, poisoned.get_json()
    assert poisoned.get_json() == {"recorded": 0, "refused": [
        {"index": 0, "field": "observations[0].observed_at", "error": poisoned.get_json()["refused"][0]["error"]}]}
    assert "future" in poisoned.get_json()["refused"][0]["error"]
    outage = client.post("/api/v1/observations", json=[_obs(camera, _now(), "problem")],
                         headers=bearer(tokens["worker"]))
    assert outage.status_code == 201 and outage.get_json() == {"recorded": 1}
    assert _health(database, camera) == "problem"
    with database.session() as session:
        assert not session.scalars(select(Observation).where(Observation.observed_at > _now() + MAX_CLOCK_SKEW)).all()


def test_clock_skew_within_the_allowance_is_accepted_beyond_it_refused(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    margin = timedelta(seconds=30)
    batch = [_obs(camera, _now() + MAX_CLOCK_SKEW - margin, kind="link"),
             _obs(camera, _now() + MAX_CLOCK_SKEW + margin, kind="stream")]
    answer = app.test_client().post("/api/v1/observations", json=batch, headers=bearer(tokens["worker"]))
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["recorded"] == 1 and [r["index"] for r in body["refused"]] == [1]


def test_late_flush_after_an_outage_is_accepted_older_than_a_spool_refused(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    batch = [_obs(camera, _now() - timedelta(days=17), "problem", kind="stream"),  # a full spool of one device
             _obs(camera, _now() - MAX_OBSERVATION_AGE - timedelta(hours=1), kind="onvif")]
    body = app.test_client().post("/api/v1/observations", json=batch, headers=bearer(tokens["worker"])).get_json()
    assert body["recorded"] == 1
    assert body["refused"][0]["index"] == 1 and "older than" in body["refused"][0]["error"]


def test_a_batch_stores_its_good_observations_and_names_each_refused_one(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    other = _camera(database, site_ids[FROZEN_SITE])
    now = _now()
    batch = [_obs(camera, now, kind="link"), _obs(camera, "9999-12-31T00:00:00Z", kind="stream"),
             _obs(other, now - timedelta(days=400), kind="link"), _obs(other, now, "problem", kind="onvif")]
    answer = app.test_client().post("/api/v1/observations", json=batch, headers=bearer(tokens["worker"]))
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["recorded"] == 2
    assert [(r["index"], r["field"]) for r in body["refused"]] == [
        (1, "observations[1].observed_at"), (2, "observations[2].observed_at")]
    with database.session() as session:
        kinds = {(o.device_id, o.kind) for o in session.scalars(
            select(Observation).where(Observation.survey_id.is_(None), Observation.device_id.in_([camera, other])))
            if o.observed_at >= now - timedelta(seconds=1)}
    assert kinds == {(camera, "link"), (other, "onvif")}
    # Sent again (the worker lost the answer): nothing new, the same refusals.
    again = app.test_client().post("/api/v1/observations", json=batch, headers=bearer(tokens["worker"])).get_json()
    assert again["recorded"] == 0 and len(again["refused"]) == 2


def test_a_stored_future_row_does_not_outrank_newer_plausible_observations(app, database, site_ids, tokens):
    # As an inventory poisoned before the fix: the 9999 row and the latest health it set.
    camera = _camera(database, site_ids[HD])
    future = datetime(9999, 12, 31, tzinfo=timezone.utc)
    with database.session() as session:
        session.add(Observation(device_id=camera, kind="link", observed_at=future, health="ok", values={}))
        health = session.get(DeviceHealth, camera)
        if health is None:
            session.add(DeviceHealth(device_id=camera, health="ok", observed_at=future, reason=""))
        else:
            health.health, health.observed_at = "ok", future
    answer = app.test_client().post("/api/v1/observations", json=[_obs(camera, _now(), "problem", kind="stream")],
                                    headers=bearer(tokens["worker"]))
    assert answer.status_code == 201
    assert _health(database, camera) == "problem"


def test_migration_drops_rows_stamped_in_the_future(tmp_path):
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = open_database(url, migrate=False)
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = old.engine
    # The rows are written with today's models (at head), then the schema is taken back to 0002, as an
    # inventory was before this fix, keeping them; opening it migrates forward again through the fix.
    command.upgrade(config, "head")
    future, past = datetime(9999, 12, 31, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
    with old.session() as session:
        camera = seed_demo(session).camera_ids[0]
        session.add_all([Observation(device_id=camera, kind="link", observed_at=at, health="ok", values={})
                         for at in (future, past)])
        session.add(DeviceHealth(device_id=camera, health="ok", observed_at=future, reason=""))
    command.downgrade(config, "0002")
    with old.engine.connect() as conn:  # both rows are there before the fix's migration runs
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar() == 2
    old.close()
    db = open_database(url)
    try:
        with db.session() as session:
            assert [o.observed_at.year for o in session.scalars(select(Observation))] == [2026]
            assert session.get(DeviceHealth, camera) is None  # unknown until the next observation
    finally:
        db.close()


def _scoped_token(database: Any, sites: list[int]) -> str:
    with database.session() as session:
        return store.create_token(session, "worker", label="village worker", sites=sites)


def test_a_scoped_worker_token_gets_and_speaks_for_its_sites_only(app, database, site_ids, tokens):
    token = _scoped_token(database, [site_ids[HD]])
    client = app.test_client()
    groups = client.get("/sd/prometheus", headers=bearer(token)).get_json()
    assert groups and {g["labels"]["site"] for g in groups} == {HD}
    gzipped = client.get("/sd/prometheus", headers={**bearer(token), "Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip"
    mine, theirs = _camera(database, site_ids[HD]), _camera(database, site_ids[FROZEN_SITE])
    before = _health(database, theirs)
    # The compromised village worker tries to hide the other site's outage.
    answer = client.post("/api/v1/observations", json=[_obs(theirs, _now(), "ok"), _obs(mine, _now(), "ok")],
                         headers=bearer(token))
    body = answer.get_json()
    assert answer.status_code == 201 and body["recorded"] == 1
    assert body["refused"] == [{"index": 0, "field": "observations[0].device_id",
                                "error": f"device {theirs} is not among this token's targets"}]
    assert _health(database, theirs) == before
    # The other site's own (unscoped) worker and an admin still speak for it.
    assert client.post("/api/v1/observations", json=[_obs(theirs, _now(), "problem")],
                       headers=bearer(tokens["worker"])).get_json() == {"recorded": 1}
    assert _health(database, theirs) == "problem"
    # An unscoped worker still gets every target (the cached answer).
    everything = client.get("/sd/prometheus", headers=bearer(tokens["worker"])).get_json()
    assert len(everything) > len(groups)


def test_a_worker_token_speaks_only_for_devices_given_as_targets(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    with database.session() as session:
        session.get(Device, camera).status = Status.RETIRED.value  # no longer a target of any worker
    client = app.test_client()
    assert not any(g["labels"]["__meta_sitescout_device_id"] == str(camera)
                   for g in client.get("/sd/prometheus", headers=bearer(tokens["worker"])).get_json())
    worker = client.post("/api/v1/observations", json=[_obs(camera, _now())], headers=bearer(tokens["worker"]))
    assert worker.status_code == 200 and worker.get_json()["refused"][0]["field"] == "observations[0].device_id"
    admin = client.post("/api/v1/observations", json=[_obs(camera, _now())], headers=bearer(tokens["admin"]))
    assert admin.get_json() == {"recorded": 1}  # an admin (a person importing) may record for any device


def test_malformed_items_still_refuse_the_whole_batch_naming_the_item(app, database, site_ids, tokens):
    # The worker (probes.worker.inventory_link) drops the item a 400 names and sends the rest again.
    camera = _camera(database, site_ids[HD])
    batch = [_obs(camera, _now()), {"device_id": 10**6, "kind": "link"}]
    answer = app.test_client().post("/api/v1/observations", json=batch, headers=bearer(tokens["worker"]))
    assert answer.status_code == 400 and "observations[1].device_id" in answer.get_json()["error"]


def test_record_observations_for_trusted_callers_keeps_history_but_refuses_the_future(database, site_ids):
    camera = _camera(database, site_ids[HD])
    with database.session() as session:
        assert store.record_observations(session, [_obs(camera, "2020-01-01T00:00:00Z")]) == 1
    with pytest.raises(ValidationError, match="future"), database.session() as session:
        store.record_observations(session, [_obs(camera, "9999-12-31T00:00:00Z")])


def test_the_workers_sink_takes_a_partial_answer_as_delivered_and_never_resends_refused_items(app, database,
                                                                                               site_ids, tokens):
    # The worker side as it is (probes/worker/inventory_link.py): a 2xx means "done with these", so a
    # refused observation leaves its queue at once instead of being sent again forever.
    import time

    from support import WebServer

    from sitescout.probes.worker.inventory_link import HttpObservationSink

    camera = _camera(database, site_ids[HD])
    posts: list[int] = []
    inner = app.wsgi_app

    def counting(environ: Any, start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/api/v1/observations":
            posts.append(1)
        return inner(environ, start_response)

    app.wsgi_app = counting  # type: ignore[method-assign]
    web = WebServer(app)
    web.start()
    try:
        sink = HttpObservationSink(f"http://127.0.0.1:{web.port}", tokens["worker"],
                                   device_ids={("s", "cam"): camera})
        now = time.time()
        good = {"site": "s", "device": "cam", "kind": "sink-good", "observed_at": now, "up": True, "values": {}}
        skewed = dict(good, kind="sink-skewed", observed_at=now + 3600.0)  # a worker clock an hour fast
        sink.send([good, skewed])
        assert posts == [1]  # one request, nothing sent again
        assert sink.delivered == 2 and sink.rejected == 0  # the sink counts the refused one as delivered
    finally:
        web.stop()
    with database.session() as session:
        kinds = {o.kind for o in session.scalars(select(Observation).where(Observation.device_id == camera,
                                                                          Observation.survey_id.is_(None)))}
    assert "sink-good" in kinds and "sink-skewed" not in kinds


def test_a_camera_password_in_an_observation_is_not_stored(app, database, site_ids, tokens):
    camera = _camera(database, site_ids[HD])
    leaky = {**_obs(camera, _now(), "problem", kind="stream"),
             "reason": "DESCRIBE rtsp://admin:pw@198.51.100.10:554/live refused",
             "values": {"uri": "rtsp://admin:pw@198.51.100.10/Streaming/101", "tries": ["http://u:p@198.51.100.10/"]}}
    answer = app.test_client().post("/api/v1/observations", json=[leaky], headers=bearer(tokens["worker"]))
    assert answer.status_code == 201, answer.get_json()
    with database.session() as session:
        row = session.scalars(select(Observation).where(Observation.device_id == camera, Observation.kind == "stream")
                              .order_by(Observation.id.desc()).limit(1)).one()
        health = session.get(DeviceHealth, camera)
        assert row.values == {"uri": "rtsp://198.51.100.10/Streaming/101", "tries": ["http://198.51.100.10/"],
                              "reason": "DESCRIBE rtsp://198.51.100.10:554/live refused"}
        assert health is not None and "admin:pw@" not in health.reason and "rtsp://198.51.100.10:554" in health.reason
