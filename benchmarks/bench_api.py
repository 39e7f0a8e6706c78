"""GET /api/v1/sites (10,000 sites, 100,000 devices) against the same bytes as a static file, same server, same run.

The inventory is a SQLite file seeded in bulk (every device has a health).  The
app runs in this process on 127.0.0.1 (Werkzeug's threaded server, as
`sitescout serve` runs it); the static side is a Flask `send_file` route on the
same app and server serving the API's own answer, saved to a file.  Requests
alternate (API, static, API, …) from one client with keep-alive off; wall time
per request includes reading the whole body.

    .venv/bin/python benchmarks/bench_api.py [--sites 10000] [--devices 100000] [--runs 15] [--json out.json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_support import serve_app  # noqa: E402
from web_bench_data import seed_large  # noqa: E402

from sitescout.inventory import store  # noqa: E402
from sitescout.inventory.db import open_database  # noqa: E402
from sitescout.web import create_app  # noqa: E402


def _get(url: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - started, body


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache-seconds", type=float, default=5.0,
                        help="the app's SITES_CACHE_SECONDS (default 5, as served; 0 rebuilds every answer)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    started = time.perf_counter()
    seed_large(database, args.sites, args.devices)
    seed_s = time.perf_counter() - started
    with database.session() as session:
        token = store.create_token(session, "viewer")
    app = create_app({"DATABASE": database, "SITES_CACHE_SECONDS": args.cache_seconds})
    static_file = tmp / "sites.json"

    from flask import send_file

    app.add_url_rule("/bench/sites.json", "bench_static",
                     lambda: send_file(static_file, mimetype="application/geo+json", max_age=0, etag=False,
                                       conditional=False))
    api, static = [], []
    with serve_app(app) as base:
        _, body = _get(f"{base}/api/v1/sites", token)  # warm-up, and the bytes for the static side
        static_file.write_bytes(body)
        features = len(json.loads(body)["features"])
        _get(f"{base}/bench/sites.json", token)
        for _ in range(args.runs):
            t, b = _get(f"{base}/api/v1/sites", token)
            api.append(t)
            assert len(b) == len(body)
            t, b = _get(f"{base}/bench/sites.json", token)
            static.append(t)
            assert b == body
    database.close()
    result = {
        "cache_seconds": args.cache_seconds,
        "sites": args.sites,
        "devices": args.devices,
        "features": features,
        "bytes": len(body),
        "runs": args.runs,
        "seed_s": round(seed_s, 2),
        "api_median_s": round(statistics.median(api), 4),
        "api_min_s": round(min(api), 4),
        "static_median_s": round(statistics.median(static), 4),
        "static_min_s": round(min(static), 4),
        "api_runs_s": [round(v, 5) for v in api],
        "static_runs_s": [round(v, 5) for v in static],
    }
    result["ratio_median"] = round(result["api_median_s"] / result["static_median_s"], 2)
    print(f"| /api/v1/sites | {result['api_median_s'] * 1000:.1f} ms | {result['api_min_s'] * 1000:.1f} ms |")
    print(f"| same bytes, static file | {result['static_median_s'] * 1000:.1f} ms | "
          f"{result['static_min_s'] * 1000:.1f} ms |")
    print(
        f"cache {args.cache_seconds:g} s: ratio (median) {result['ratio_median']}  "
        f"({features} features, {len(body):,} bytes, "
        f"{args.devices:,} devices, seeding {seed_s:.1f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
