"""Alertmanager webhooks into the inventory: alerts per second, and what firing alerts cost GET /api/v1/sites.

The inventory is seeded in bulk (10,000 sites, 100,000 devices, `web_bench_data.seed_large`) on SQLite, and
on PostgreSQL when it is available (a throwaway server, `infra/lab/postgres.py`).  The app runs in this
process on 127.0.0.1 (Werkzeug's threaded server); 4 client threads post webhook calls as Alertmanager
sends them with `group_by: [region, commune, site]`: one call per site, each with `--per-call` device
alerts (firing), then the same calls resolved.  No notification channel is configured: this measures
the inventory's side only.

    .venv/bin/python benchmarks/bench_alerts.py [--calls 2000] [--per-call 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
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

SITES, DEVICES, CLIENTS = 10_000, 100_000, 4


def _payload(call: int, per_call: int, status: str) -> bytes:
    site = f"Thôn Đồng Bùa {call}"
    alerts = []
    for n in range(per_call):
        device = f"dev-{call + n * SITES}"  # the devices of site `call` in seed_large's layout
        alerts.append({"status": status, "fingerprint": f"{call:08x}{n:04x}",
                       "labels": {"alertname": "SitescoutCameraDown", "severity": "critical", "site": site,
                                  "commune": f"Xã Hướng Đạo {call % 100}", "device": device},
                       "annotations": {"summary": f"{device} at {site} does not answer"},
                       "startsAt": "2026-12-06T02:47:05.123456789Z",
                       "endsAt": "2026-12-06T03:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"})
    return json.dumps({"version": "4", "status": status, "groupKey": f'{{}}:{{site="{site}"}}', "receiver": "s",
                       "groupLabels": {"site": site}, "alerts": alerts}).encode()


def _post_all(base: str, token: str, bodies: list[bytes]) -> float:
    errors: list[str] = []

    def client(part: list[bytes]) -> None:
        for body in part:
            req = urllib.request.Request(f"{base}/api/v1/alerts", data=body, method="POST", headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as answer:
                if answer.status != 200:
                    errors.append(str(answer.status))

    threads = [threading.Thread(target=client, args=(bodies[k::CLIENTS],)) for k in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors[:5]
    return elapsed


def _get_sites(base: str, token: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        req = urllib.request.Request(f"{base}/api/v1/sites", headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as answer:
            answer.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_backend(name: str, url: str, calls: int, per_call: int) -> dict[str, Any]:
    """Seed, then measure posting firing and resolved calls and GET /api/v1/sites around them."""
    database = open_database(url)
    seed_large(database, SITES, DEVICES)
    with database.session() as session:
        am, admin = store.create_token(session, "alertmanager"), store.create_token(session, "admin")
    app = create_app({"DATABASE": database, "SITES_CACHE_SECONDS": 0})
    with serve_app(app) as base:
        sites_before = _get_sites(base, admin)
        firing = _post_all(base, am, [_payload(c, per_call, "firing") for c in range(calls)])
        sites_firing = _get_sites(base, admin)
        resolved = _post_all(base, am, [_payload(c, per_call, "resolved") for c in range(calls)])
    database.close()
    alerts = calls * per_call
    return {"backend": name, "calls": calls, "alerts": alerts,
            "firing_s": round(firing, 2), "firing_alerts_per_s": round(alerts / firing),
            "firing_calls_per_s": round(calls / firing), "resolved_s": round(resolved, 2),
            "resolved_alerts_per_s": round(alerts / resolved),
            "get_sites_s_no_alerts": round(sites_before, 3), "get_sites_s_firing": round(sites_firing, 3)}


def main() -> int:
    """Run the benchmark on SQLite (and PostgreSQL) and print one line per backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--per-call", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_backend("sqlite", f"sqlite:///{tmp}/inv.sqlite3", args.calls, args.per_call))
        print(json.dumps(results[-1]), flush=True)
    if postgres_unavailable_reason() is None:
        pg = PostgresServer().start()
        try:
            pg.execute("CREATE DATABASE bench")
            results.append(run_backend("postgresql", pg.url("bench"), args.calls, args.per_call))
            print(json.dumps(results[-1]), flush=True)
        finally:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
