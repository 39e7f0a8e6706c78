"""/sd/prometheus at 100,000 devices: the whole answer (the anchor) against one commune's and one shard's part.

The inventory is seeded in bulk (`web_bench_data.seed_large`: 10,000 sites in 100 communes, 100,000
devices) on SQLite (and PostgreSQL with ``--backend both``); the app runs in this process on
127.0.0.1.  For each part — the whole answer, ``?commune=<id>``, ``?shard=1/N`` — it measures over
HTTP, alternating the parts in each round: the answer's size (plain and gzipped), the time of a
build (``SD_CACHE_SECONDS=0``: every request builds), and with the answer cache on, a cached 200 and a
304 (If-None-Match).  Ratios are each part over the whole answer measured in the same round.

    .venv/bin/python benchmarks/bench_sd.py [--rounds 3] [--shards 10] [--backend sqlite|both] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_support import serve_app  # noqa: E402
from web_bench_data import seed_large  # noqa: E402

from sitescout.infra.lab.postgres import PostgresServer, postgres_unavailable_reason  # noqa: E402
from sitescout.inventory import store  # noqa: E402
from sitescout.inventory.db import open_database  # noqa: E402
from sitescout.web import create_app  # noqa: E402

SITES, DEVICES = 10_000, 100_000


def _get(url: str, token: str, headers: dict[str, str] | None = None) -> tuple[int, int, float, str]:
    """Return (status, body bytes, seconds, ETag) of one GET."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            body = answer.read()
            status, etag = answer.status, answer.headers.get("ETag", "")
    except urllib.error.HTTPError as err:  # 304 arrives as an HTTPError
        body, status, etag = err.read(), err.code, err.headers.get("ETag", "")
    return status, len(body), time.perf_counter() - started, etag


def _parts(shards: int) -> dict[str, str]:
    return {"whole": "", "commune": "?commune=1", "shard": f"?shard=1/{shards}"}


def _measure(database: Any, token: str, rounds: int, shards: int) -> dict[str, Any]:
    parts = _parts(shards)
    cold = create_app({"DATABASE": database, "SD_CACHE_SECONDS": 0, "SITES_CACHE_SECONDS": 0})
    warm = create_app({"DATABASE": database, "SD_CACHE_SECONDS": 3600})
    out: dict[str, Any] = {name: {"build_s": [], "cached_s": [], "not_modified_s": []} for name in parts}
    with serve_app(cold) as cold_base, serve_app(warm) as warm_base:
        for name, query in parts.items():
            status, size, _, _ = _get(f"{cold_base}/sd/prometheus{query}", token)
            _, gz_size, _, _ = _get(f"{cold_base}/sd/prometheus{query}", token, {"Accept-Encoding": "gzip"})
            groups = json.loads(urllib.request.urlopen(urllib.request.Request(
                f"{cold_base}/sd/prometheus{query}", headers={"Authorization": f"Bearer {token}"}),
                timeout=120).read())
            out[name].update(status=status, bytes=size, gzip_bytes=gz_size, targets=len(groups))
        for _ in range(rounds):
            for name, query in parts.items():
                out[name]["build_s"].append(_get(f"{cold_base}/sd/prometheus{query}", token)[2])
                _get(f"{warm_base}/sd/prometheus{query}", token)  # fill the cache
                _, _, cached_s, etag = _get(f"{warm_base}/sd/prometheus{query}", token)
                status, size, nm_s, _ = _get(f"{warm_base}/sd/prometheus{query}", token, {"If-None-Match": etag})
                assert status == 304 and size == 0, (status, size)
                out[name]["cached_s"].append(cached_s)
                out[name]["not_modified_s"].append(nm_s)
    for name in parts:
        for key in ("build_s", "cached_s", "not_modified_s"):
            out[name][f"{key}_median"] = round(statistics.median(out[name][key]), 4)
    return out


def run_backend(name: str, url: str, rounds: int, shards: int) -> dict[str, Any]:
    """Seed the backend, then measure every part."""
    database = open_database(url)
    seed_large(database, SITES, DEVICES)
    with database.session() as session:
        token = store.create_token(session, "worker")
    try:
        result = _measure(database, token, rounds, shards)
    finally:
        database.close()
    return {"backend": name, "shards": shards, **result}


def main() -> int:
    """Run the benchmark and print one JSON line per backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "both"), default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_backend("sqlite", f"sqlite:///{tmp}/inv.sqlite3", args.rounds, args.shards))
        print(json.dumps(results[-1]), flush=True)
    if args.backend == "both" and postgres_unavailable_reason() is None:
        pg = PostgresServer().start()
        try:
            pg.execute("CREATE DATABASE bench")
            results.append(run_backend("postgresql", pg.url("bench"), args.rounds, args.shards))
            print(json.dumps(results[-1]), flush=True)
        finally:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
