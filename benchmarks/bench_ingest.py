"""POST /api/v1/observations at province scale: rows/s against the database's own insert rate, growth, queries.

The inventory is seeded in bulk (`web_bench_data.seed_large`: 10,000 sites, 100,000 devices) on SQLite
(and PostgreSQL with ``--backend both``; a throwaway server, `infra/lab/postgres.py`), with
``--history`` observations already stored (raw inserts: a table that is not empty).  The app runs in
this process on 127.0.0.1; ``--clients`` threads play workers, each POSTing batches of ``--batch-size``
observations shaped as the worker sends them (``probes.inventory_link.api_observation``: a link result
with its values and verdicts, a stream result every fourth) for distinct devices, as a worker's round
of one probe kind does.

Anchor, in the same run: the same number of rows of the same shape inserted straight into the
observations table (``executemany`` through SQLAlchemy Core, one transaction per batch, no checks and
no health update): what the database itself sustains.  Also: bytes per stored observation (SQLite page
count, PostgreSQL ``pg_total_relation_size``), and GET /api/v1/sites and one site's page before and after.

    .venv/bin/python benchmarks/bench_ingest.py [--batches 60] [--batch-size 500] [--clients 4]
        [--sqlite-clients 1] [--history 300000] [--backend sqlite|both] [--json out.json]

On SQLite several clients at once mostly measure "database is locked" (a request reads before it
writes, and SQLite cannot make such a transaction wait for the write lock: 503, sent again); one
client is the commune box's in-process worker.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_support import serve_app  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from web_bench_data import seed_large  # noqa: E402

from sitescout.infra.lab.postgres import PostgresServer, postgres_unavailable_reason  # noqa: E402
from sitescout.inventory import store  # noqa: E402
from sitescout.inventory.db import Database, open_database  # noqa: E402
from sitescout.inventory.models import Observation  # noqa: E402
from sitescout.web import create_app  # noqa: E402

SITES, DEVICES = 10_000, 100_000
#: What 100,000 devices send at the worker's default intervals: link every 15 s, one stream of each camera
#: (two devices in three, as seeded) every 60 s, ONVIF of each camera every 600 s.
NEEDED_PER_S = DEVICES / 15 + DEVICES * 2 / 3 / 60 + DEVICES * 2 / 3 / 600


def _link_values(rng: random.Random) -> dict[str, Any]:
    rtt = round(rng.uniform(0.4, 40.0), 3)
    return {"sent": 10, "received": 10, "loss_ratio": 0.0, "rtt_min_ms": rtt * 0.8, "rtt_avg_ms": rtt,
            "rtt_max_ms": rtt * 1.5, "jitter_ms": round(rng.uniform(0.1, 5), 3), "duration_s": 2.0113,
            "verdicts": []}


def _stream_values(rng: random.Random) -> dict[str, Any]:
    return {"fps": 25.0, "width": 1920, "height": 1080, "bitrate_kbps": round(rng.uniform(1800, 4200), 1),
            "open_s": 0.21, "frozen": False, "black": False, "sharpness": 812.4, "duration_s": 4.62, "verdicts": []}


def _batches(n_batches: int, size: int, start: datetime, seed: int, clients: int) -> list[list[dict[str, Any]]]:
    """Batches of distinct devices each, every observation with its own time (a resend would be skipped).

    Batch b is sent by client b % clients, and holds devices of that client's shard only (the
    devices whose id is client + 1 modulo clients), as sharded workers each probe their own devices.
    """
    rng = random.Random(seed)
    shards = [list(range(k + 1, DEVICES + 1, clients)) for k in range(clients)]
    out = []
    for b in range(n_batches):
        at = (start + timedelta(seconds=b * 0.37)).isoformat()
        devices = rng.sample(shards[b % clients], size)
        batch = []
        for n, device in enumerate(devices):
            stream = n % 4 == 3
            batch.append({"device_id": device, "kind": "stream:main" if stream else "link", "health": "ok",
                          "observed_at": at, "reason": "",
                          "values": _stream_values(rng) if stream else _link_values(rng)})
        out.append(batch)
    return out


def _db_bytes(database: Database, backend: str) -> int:
    with database.session() as session:
        if backend == "sqlite":
            pages = session.execute(text("PRAGMA page_count")).scalar_one()
            free = session.execute(text("PRAGMA freelist_count")).scalar_one()
            return int((pages - free) * session.execute(text("PRAGMA page_size")).scalar_one())
        return int(session.execute(text("SELECT pg_total_relation_size('observations')")).scalar_one())


def _prefill(database: Database, rows: int, start: datetime) -> None:
    """Store `rows` older observations straight into the table (what earlier days left behind)."""
    rng = random.Random(1)
    for first in range(0, rows, 20_000):
        chunk = [{"device_id": (first + n) % DEVICES + 1, "kind": "link", "health": "ok", "survey_id": None,
                  "observed_at": start - timedelta(seconds=15 * ((first + n) // DEVICES + 1)),
                  "values": _link_values(rng)} for n in range(min(20_000, rows - first))]
        with database.session() as session:
            session.execute(insert(Observation), chunk)


def _post_all(base: str, token: str, batches: list[list[dict[str, Any]]], clients: int) -> tuple[float, int]:
    """POST every batch from `clients` threads; a 503 (SQLite busy) is sent again, as the worker does.

    Return the wall time and the number of 503 answers.
    """
    errors: list[str] = []
    busy = [0]
    bodies = [json.dumps(b).encode() for b in batches]

    def post(body: bytes) -> None:
        for _ in range(50):
            req = urllib.request.Request(f"{base}/api/v1/observations", data=body, method="POST", headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=300) as answer:
                    doc = json.loads(answer.read())
                    if answer.status != 201 or doc.get("refused"):
                        errors.append(f"{answer.status} {doc}")
                    return
            except urllib.error.HTTPError as err:
                if err.code != 503:
                    errors.append(f"{err.code} {err.read()[:200]!r}")
                    return
                busy[0] += 1
                time.sleep(0.2)
        errors.append("busy 50 times")

    def client(part: list[bytes]) -> None:
        for body in part:
            try:
                post(body)
            except Exception as err:  # noqa: BLE001 - a thread's failure must reach the assert below
                errors.append(repr(err))

    threads = [threading.Thread(target=client, args=(bodies[k::clients],)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    return elapsed, busy[0]


def _raw_insert(database: Database, batches: list[list[dict[str, Any]]], clients: int) -> float:
    """The anchor: the same rows, executemany into the table, one transaction per batch, same clients."""
    rows = [[{"device_id": o["device_id"], "kind": o["kind"], "health": o["health"], "survey_id": None,
              "observed_at": datetime.fromisoformat(o["observed_at"]) + timedelta(microseconds=7),
              "values": o["values"]} for o in batch] for batch in batches]
    lock = threading.Lock() if database.url.startswith("sqlite") else None

    def client(part: list[list[dict[str, Any]]]) -> None:
        for batch in part:
            if lock is not None:
                with lock:  # SQLite has one writer; the app serialises its writers the same way
                    _insert(database, batch)
            else:
                _insert(database, batch)

    threads = [threading.Thread(target=client, args=(rows[k::clients],)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _insert(database: Database, batch: list[dict[str, Any]]) -> None:
    with database.session() as session:
        session.execute(insert(Observation), batch)


def _count(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT count(*) FROM observations")).scalar_one())


def _get_s(url: str, token: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as answer:
            answer.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, prefill, then measure the API's ingestion and the anchor's, and the reads around them."""
    database = open_database(url)
    seed_large(database, SITES, DEVICES)
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    _prefill(database, args.history, now)
    with database.session() as session:
        worker, admin = store.create_token(session, "worker"), store.create_token(session, "admin")
    app = create_app({"DATABASE": database, "SITES_CACHE_SECONDS": 0})
    batches = _batches(args.batches, args.batch_size, now, seed=2, clients=args.clients)
    rows = args.batches * args.batch_size
    with serve_app(app) as base:
        sites_before = _get_s(f"{base}/api/v1/sites", admin)
        site_before = _get_s(f"{base}/api/v1/sites/17", admin)
        size_before = _db_bytes(database, name)
        api_s, busy = _post_all(base, worker, batches, args.clients)
        stored = _count(database)
        size_after = _db_bytes(database, name)
        sites_after = _get_s(f"{base}/api/v1/sites", admin)
        site_after = _get_s(f"{base}/api/v1/sites/17", admin)
    raw_s = _raw_insert(database, batches, args.clients)
    database.close()
    per_row = (size_after - size_before) / rows
    api_rate = rows / api_s
    return {"backend": name, "rows": rows, "batch_size": args.batch_size, "clients": args.clients,
            "history_rows": args.history, "api_s": round(api_s, 2), "api_rows_per_s": round(api_rate),
            "raw_s": round(raw_s, 2), "raw_rows_per_s": round(rows / raw_s),
            "api_vs_raw": round(api_s / raw_s, 2), "busy_503": busy, "stored": stored,
            "needed_rows_per_s": round(NEEDED_PER_S),
            "headroom": round(api_rate / NEEDED_PER_S, 2), "bytes_per_row": round(per_row),
            "gb_per_day_at_needed_rate": round(per_row * NEEDED_PER_S * 86400 / 1e9, 1),
            "get_sites_s_before": round(sites_before, 3), "get_sites_s_after": round(sites_after, 3),
            "get_site_s_before": round(site_before, 3), "get_site_s_after": round(site_after, 3)}


def main() -> int:
    """Run on SQLite (and PostgreSQL) and print one JSON line per backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4, help="workers posting at once (PostgreSQL)")
    parser.add_argument("--sqlite-clients", type=int, default=1,
                        help="workers posting at once on SQLite: one, the in-process worker of a commune box")
    parser.add_argument("--history", type=int, default=300_000)
    parser.add_argument("--backend", choices=("sqlite", "both", "postgresql"), default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_backend("sqlite", f"sqlite:///{tmp}/inv.sqlite3",
                                       argparse.Namespace(**{**vars(args), "clients": args.sqlite_clients})))
            print(json.dumps(results[-1]), flush=True)
    if args.backend in ("postgresql", "both") and postgres_unavailable_reason() is None:
        pg = PostgresServer().start()
        try:
            pg.execute("CREATE DATABASE bench")
            results.append(run_backend("postgresql", pg.url("bench"), args))
            print(json.dumps(results[-1]), flush=True)
        finally:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
