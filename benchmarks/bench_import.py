"""Benchmark: import 100,000 device rows from CSV (after 10,000 sites), on SQLite and PostgreSQL.

Run: .venv/bin/python benchmarks/bench_import.py [--devices 100000] [--sites 10000] [--backend sqlite|postgresql|both]
     [--json out.json]
Times the same code `sitescout import` runs (read_rows + import_devices + commit) and, for
comparison, the export of the same devices.  PostgreSQL is a throwaway Debian server on a unix
socket (sitescout.infra.lab.postgres), fsync off as in the tests.  Anchor (with SQLite): the same
rows through the standard library's csv + sqlite3.executemany into one table with the model's
unique keys, in the same run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from sitescout.infra.lab.postgres import PostgresServer, postgres_unavailable_reason
from sitescout.inventory import importexport as ie
from sitescout.inventory.db import open_database

KINDS = ("camera", "camera", "camera", "switch", "router", "loudspeaker", "access_point", "computer", "other", "camera")


def make_csvs(n_sites: int, n_devices: int) -> tuple[str, str]:
    """Return (sites CSV, devices CSV) with unique names, IPs, MACs and serials."""
    s = io.StringIO()
    w = csv.writer(s, lineterminator="\n")
    w.writerow(["region", "commune", "name", "kind", "latitude", "longitude"])
    for i in range(n_sites):
        w.writerow(["Tỉnh Bench", f"Xã {i // 20}", f"Thôn Đồng {i}", "village_hall",
                    f"{20 + (i % 100) * 0.01:.5f}", f"{105 + (i // 100) * 0.01:.5f}"])
    d = io.StringIO()
    w = csv.writer(d, lineterminator="\n")
    w.writerow(["region", "commune", "site", "name", "kind", "status", "ip", "mac", "manufacturer", "serial",
                "heading_deg", "stream_uris"])
    per_site = max(1, n_devices // n_sites)
    for j in range(n_devices):
        site = j // per_site % n_sites
        kind = KINDS[j % len(KINDS)]
        ip = (
            f"127.{(j >> 16) & 255}.{(j >> 8) & 255}.{j & 255 or 1}"
            if j & 255
            else f"127.{(j >> 16) & 255}.{(j >> 8) & 255}.254"
        )
        mac = ":".join(f"{b:02x}" for b in (0x02, 0, (j >> 16) & 255, (j >> 8) & 255, j & 255, 1))
        cam = kind == "camera"
        w.writerow(["Tỉnh Bench", f"Xã {site // 20}", f"Thôn Đồng {site}", f"{kind} {j}", kind, "active", ip, mac,
                    "Acme", f"SN{j:07d}", "90" if cam else "", f"rtsp://{ip}/main" if cam else ""])
    return s.getvalue(), d.getvalue()


def run(url: str, sites_csv: str, devices_csv: str) -> dict[str, float]:
    db = open_database(url)
    try:
        with db.session() as s:
            t0 = time.perf_counter()
            ie.import_sites(s, ie.read_rows(sites_csv, "csv"))
        sites_s = time.perf_counter() - t0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        with db.session() as s:
            report = ie.import_devices(s, ie.read_rows(devices_csv, "csv"))
        devices_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        with db.session() as s:
            exported = ie.export_devices_csv(s)
        export_s = time.perf_counter() - t0
        assert report.created == devices_csv.count("\n") - 1, report
        assert exported.count("\n") == devices_csv.count("\n")
        return {"sites_import_s": round(sites_s, 2), "devices_import_s": round(devices_s, 2),
                "devices_import_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
                "devices_per_s": round(report.created / devices_s), "devices_export_s": round(export_s, 2)}
    finally:
        db.close()


def run_raw_sqlite(path: Path, devices_csv: str) -> dict[str, float]:
    """The anchor: the same device rows into SQLite with the standard library alone.

    ``csv`` + ``sqlite3.executemany`` into one table with the model's unique keys (name
    and IP per site, MAC, maker + serial), one transaction: no model, no validation, no per-row error report.
    It is the floor any importer of this CSV pays; sitescout's import is measured
    against it in the same run.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        reader = csv.reader(io.StringIO(devices_csv))
        header = next(reader)
        cols = ", ".join(f'"{c}" TEXT' for c in header)
        keys = "UNIQUE (region, commune, site, name), UNIQUE (region, commune, site, ip), UNIQUE (mac), " \
               "UNIQUE (manufacturer, serial)"  # the model's keys, by site names instead of site ids
        conn.execute(f"CREATE TABLE devices (id INTEGER PRIMARY KEY, {cols}, {keys})")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        with conn:
            conn.executemany(f"INSERT INTO devices ({', '.join(header)}) VALUES ({', '.join('?' * len(header))})",
                             csv.reader(io.StringIO(devices_csv.split("\n", 1)[1])))
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        rows = conn.execute("SELECT count(*) FROM devices").fetchone()[0]
        assert rows == devices_csv.count("\n") - 1, rows
        return {"devices_import_s": round(wall, 3),
                "devices_import_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 3),
                "devices_per_s": round(rows / wall)}
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sites_csv, devices_csv = make_csvs(args.sites, args.devices)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            results["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", sites_csv, devices_csv)
            print("sqlite", results["sqlite"], flush=True)
            results["sqlite_raw"] = run_raw_sqlite(Path(tmp) / "raw.sqlite3", devices_csv)
            print("sqlite_raw (csv + sqlite3.executemany, the anchor)", results["sqlite_raw"], flush=True)
        if args.backend in ("postgresql", "both"):
            reason = postgres_unavailable_reason()
            if reason:
                print(f"postgresql skipped: {reason}", file=sys.stderr)
                results["postgresql_skipped"] = {"reason": reason}
            else:
                with PostgresServer() as server:
                    server.execute("CREATE DATABASE bench")
                    results["postgresql"] = run(server.url("bench"), sites_csv, devices_csv)
                    print("postgresql", results["postgresql"], flush=True)
    doc = {"sites": args.sites, "devices": args.devices, "results": results}
    print(json.dumps(doc))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
