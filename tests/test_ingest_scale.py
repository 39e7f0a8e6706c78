"""Observation ingestion at scale: health from observation_latest equals the old rule, the migration fills it,
concurrent batches never deadlock (PostgreSQL) and a busy SQLite answers 503, never 500."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from sitescout.inventory import store
from sitescout.inventory.models import Commune, Device, DeviceHealth, Observation, Region, Site
from sitescout.inventory.observations import HEALTH_WINDOW, MAX_CLOCK_SKEW, worst
from sitescout.inventory.search import fold
from sitescout.inventory.state_models import ObservationLatest
from sitescout.web import create_app

from browser_support import serve_app

KINDS = ("link", "stream:main", "onvif", "stream:sub")
HEALTHS = ("ok", "ok", "ok", "warning", "problem", "unknown")


def _seed(session: Any, devices: int) -> list[int]:
    region = Region(name="Tuyên Quang", name_folded=fold("Tuyên Quang"))
    commune = Commune(name="Xã Hướng Đạo", name_folded=fold("Xã Hướng Đạo"), region=region)
    site = Site(name="Thôn Đồng Bùa", commune=commune, latitude=21.5, longitude=105.3)
    for n in range(devices):
        site.devices.append(Device(name=f"cam-{n}", kind="camera", ip=f"198.51.100.{n + 1}"))
    session.add(site)
    session.flush()
    return [d.id for d in site.devices]


def _reference_health(session: Any, device_id: int, now: datetime) -> tuple[str, str]:
    """The rule as it was before observation_latest: the newest 200 rows, the latest of each kind within the hour."""
    rows = session.execute(
        select(Observation.kind, Observation.observed_at, Observation.health, Observation.values)
        .where(Observation.device_id == device_id, Observation.observed_at <= now + MAX_CLOCK_SKEW)
        .order_by(Observation.observed_at.desc(), Observation.id.desc()).limit(200)).all()
    if not rows:
        return "unknown", ""
    newest, seen, health, reasons = rows[0].observed_at, set(), "unknown", []
    for kind, at, kind_health, values in rows:
        if kind in seen or newest - at > HEALTH_WINDOW:
            continue
        seen.add(kind)
        health = worst(health, kind_health)
        if kind_health in ("warning", "problem"):
            reasons.append((values or {}).get("reason") or kind)
    return health, "; ".join(reasons)


def test_health_from_latest_rows_equals_the_rule_over_all_observations(database: Any) -> None:  # noqa: F811
    rng = random.Random(16)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with database.session() as session:
        devices = _seed(session, 4)
    expected: dict[int, tuple[str, str, datetime]] = {}
    for batch_no in range(40):
        batch = []
        for _ in range(rng.randint(1, 12)):
            at = now - timedelta(minutes=rng.choice([0, 1, 5, 30, 59, 61, 90, 170]), seconds=rng.randint(0, 59))
            kind = rng.choice(KINDS)
            health = rng.choice(HEALTHS)
            obs = {"device_id": rng.choice(devices), "kind": kind, "health": health,
                   "observed_at": at.isoformat(), "values": {"n": batch_no}}
            if rng.random() < 0.5:
                obs["reason"] = f"{kind} {health} #{batch_no}"
            batch.append(obs)
        with database.session() as session:
            result = store.accept_observations(session, batch)
            stored = {(o.device_id, o.kind, o.observed_at) for o in session.scalars(select(Observation))}
        assert result.recorded <= len(batch) and not result.refused
        with database.session() as session:
            newest: dict[int, datetime] = {}
            for obs in batch:
                at = datetime.fromisoformat(obs["observed_at"])
                if (obs["device_id"], obs["kind"], at) in stored:
                    newest[obs["device_id"]] = max(at, newest.get(obs["device_id"], at))
            for device_id, at in newest.items():
                health, reason = _reference_health(session, device_id, now)
                current = expected.get(device_id)
                if current is None or current[2] <= at:
                    expected[device_id] = (health, reason, at)
            got = {h.device_id: (h.health, h.reason, h.observed_at) for h in session.scalars(select(DeviceHealth))}
        assert got == expected, f"after batch {batch_no}"
    with database.session() as session:  # one row per device and kind: the newest
        latest = {(r.device_id, r.kind): r.observed_at for r in session.scalars(select(ObservationLatest))}
        newest_rows: dict[tuple[int, str], datetime] = {}
        for o in session.scalars(select(Observation)):
            key = (o.device_id, o.kind)
            newest_rows[key] = max(o.observed_at, newest_rows.get(key, o.observed_at))
    assert latest == newest_rows


def test_migration_fills_the_latest_rows_from_stored_observations(tmp_path: Any) -> None:
    from alembic import command
    from alembic.config import Config

    from sitescout.inventory.db import MIGRATIONS_DIR, open_database

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = open_database(url, migrate=False)
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = old.engine
    command.upgrade(config, "0006_province_alerts")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with old.engine.begin() as conn:  # the tables as 0006 made them (observation_latest does not exist yet)
        conn.exec_driver_sql("INSERT INTO regions (id, name, name_folded) VALUES (1, 'R', 'r')")
        conn.exec_driver_sql("INSERT INTO communes (id, region_id, name, name_folded, is_demo) "
                             "VALUES (1, 1, 'C', 'c', 0)")
        conn.exec_driver_sql(
            "INSERT INTO sites (id, commune_id, name, name_folded, kind, status, address, contact, is_demo, "
            "created_at, updated_at) VALUES (1, 1, 'S', 's', 'other', 'active', '', '', 0, '2026-01-01', '2026-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO devices (id, site_id, kind, name, status, notes, created_at, updated_at) "
            "VALUES (1, 1, 'camera', 'cam', 'active', '', '2026-01-01', '2026-01-01')")
        rows = [("link", now - timedelta(minutes=3), "ok", {}),
                ("link", now - timedelta(minutes=1), "problem", {"reason": "link down"}),
                ("stream:main", now - timedelta(minutes=2), "warning", {"reason": "main: blurred"}),
                ("onvif", datetime(9999, 1, 1, tzinfo=timezone.utc), "ok", {})]  # implausible: never counted
        for kind, at, health, values in rows:
            conn.exec_driver_sql(
                'INSERT INTO observations (device_id, kind, observed_at, health, "values") VALUES (?, ?, ?, ?, ?)',
                (1, kind, at.replace(tzinfo=None).isoformat(sep=" "), health, json.dumps(values)))
    old.close()
    db = open_database(url)
    try:
        with db.session() as session:
            latest = {r.kind: (r.health, r.reason) for r in session.scalars(select(ObservationLatest))}
        assert latest == {"link": ("problem", "link down"), "stream:main": ("warning", "main: blurred")}
        with db.session() as session:  # the next observation's health sees the migrated rows
            store.accept_observations(session, [{"device_id": 1, "kind": "onvif", "health": "ok",
                                                 "observed_at": now.isoformat()}])
        with db.session() as session:
            health = session.get(DeviceHealth, 1)
            assert (health.health, health.reason) == ("problem", "link down; main: blurred")
    finally:
        db.close()


def _post(base: str, token: str, batch: list[dict[str, Any]]) -> int:
    req = urllib.request.Request(f"{base}/api/v1/observations", data=json.dumps(batch).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_concurrent_batches_of_the_same_devices(database: Any) -> None:  # noqa: F811
    """PostgreSQL: batches written in arrival order deadlocked (500); SQLite: a lost race was a 500, not a 503."""
    with database.session() as session:
        devices = _seed(session, 60)
        token = store.create_token(session, "worker")
    app = create_app({"DATABASE": database, "TESTING": True, "SITES_CACHE_SECONDS": 0})
    now = datetime.now(timezone.utc)
    statuses: list[int] = []
    with serve_app(app) as base:
        warm = [{"device_id": d, "kind": k, "health": "ok", "observed_at": (now - timedelta(minutes=10)).isoformat()}
                for d in devices for k in ("link", "stream:main")]
        assert _post(base, token, warm) == 201  # every latest row exists: the clients below only update

        def client(n: int) -> None:
            order = devices if n % 2 else list(reversed(devices))  # the same devices, in opposite orders
            for round_no in range(6):
                at = (now - timedelta(seconds=n * 10 + round_no)).isoformat()
                statuses.append(_post(base, token, [{"device_id": d, "kind": "link", "health": "warning",
                                                     "observed_at": at, "reason": "loss"} for d in order]))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(statuses) == 24 and 500 not in statuses, statuses
    if not database.url.startswith("sqlite"):
        assert set(statuses) == {201}, statuses  # PostgreSQL waits for row locks: every batch goes in
    assert statuses.count(201) >= 1
