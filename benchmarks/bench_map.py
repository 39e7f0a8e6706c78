"""The map with 10,000 sites in headless Debian Chromium: time from navigation to every marker placed.

Same inventory as bench_api (10,000 sites, 100,000 devices, every device with a
health).  The app runs in this process on 127.0.0.1; Chromium (Debian's, with the
flags of tests/browser_support.py) logs in, then loads /map fresh each run.  map.js
stamps `data-load-ms` (GeoJSON fetched and parsed, markers made, layers filled)
and `data-drawn-ms` (markercluster's chunked loading finished) with
`performance.now()`, i.e. milliseconds since navigation start.

    .venv/bin/python benchmarks/bench_map.py [--sites 10000] [--devices 100000] [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_support import chromium, log_in, serve_app  # noqa: E402
from web_bench_data import seed_large  # noqa: E402

from sitescout.inventory import store  # noqa: E402
from sitescout.inventory.db import open_database  # noqa: E402
from sitescout.web import create_app  # noqa: E402


def _wait_attr(driver, name: str, timeout: float = 120.0) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.find_element(By.ID, "map").get_attribute(name)
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"map never set {name}")


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from selenium.webdriver.common.by import By

    tmp = Path(tempfile.mkdtemp(prefix="bench-map-"))
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    seed_large(database, args.sites, args.devices)
    with database.session() as session:
        store.create_user(session, "bench", "bench-password", "viewer")
    app = create_app({"DATABASE": database})
    runs = []
    with serve_app(app) as base, chromium("en") as driver:
        log_in(driver, base, "bench", "bench-password")
        for _ in range(args.runs + 1):  # the first run warms the server's cache and the browser's
            driver.get(f"{base}/map")
            load_ms = float(_wait_attr(driver, "data-load-ms"))
            drawn_ms = float(_wait_attr(driver, "data-drawn-ms"))
            loaded = int(driver.find_element(By.ID, "map").get_attribute("data-loaded"))
            icons = len(driver.find_elements(By.CSS_SELECTOR, ".site-marker, .site-cluster"))
            runs.append({"load_ms": load_ms, "drawn_ms": drawn_ms, "sites": loaded, "icons": icons})
    database.close()
    measured = runs[1:]
    result = {
        "sites": args.sites, "devices": args.devices, "runs": measured, "cold": runs[0],
        "drawn_median_ms": statistics.median(r["drawn_ms"] for r in measured),
        "load_median_ms": statistics.median(r["load_ms"] for r in measured),
    }
    print(f"cold (first) run: drawn {runs[0]['drawn_ms']:.0f} ms")
    for r in measured:
        print(f"| {r['sites']} sites | fetched+layers {r['load_ms']:.0f} ms | markers drawn {r['drawn_ms']:.0f} ms "
              f"| {r['icons']} icons in view |")
    print(f"median: markers drawn {result['drawn_median_ms']:.0f} ms after navigation start")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
