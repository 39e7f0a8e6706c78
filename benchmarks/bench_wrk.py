"""Load on `sitescout serve` with wrk: the API, Prometheus http_sd and the map page (issue #7; a benchmark, not CI).

The inventory is the one of bench_api (`--sites` sites in 100 communes, ten
devices per site, every device with a health), in a SQLite file.  The server is
started the way a NOC would start it — ``sitescout serve --db sqlite:///FILE
--listen 127.0.0.1:0 --data-dir DIR`` in its own process — and stays up for
every run.  A viewer account and token (for the API and the map) and a worker
token (for /sd/prometheus, as Prometheus would send it) are created before it
starts; the map is fetched with the session cookie of a real login (CSRF token
included).

Each endpoint is loaded by Debian's ``wrk`` (2 threads, keep-alive) at each
`--connections` count for `--seconds`, after a short warm-up.  ``wrk_status.lua``
counts every status code (wrk itself only counts >= 400) and reports p50/p90/p99
latency; any non-2xx answer or socket error (connect, read, write, timeout) is
an error.  Paths with ``{id}`` pick a random site per request.  wrk, the server
and this script share the machine's cores: the figures are for this box under
the load shown by ``uptime``, not for a server alone.  The server's resident
memory is sampled every 0.5 s during each run (peak per run), and the JSON
records the commit measured ("+changes" when web/, inventory/ or src/ differ).

Only 127.0.0.1 is used.  Run from the repository root::

    .venv/bin/python benchmarks/bench_wrk.py [--sites 10000] [--seconds 30] [--connections 1 8 64] [--json out.json]
    .venv/bin/python benchmarks/bench_wrk.py --serve-threads 16     # `sitescout serve --threads 16` (waitress)
    .venv/bin/python benchmarks/bench_wrk.py --server gunicorn      # the same app under gunicorn, for comparison
    .venv/bin/python benchmarks/bench_wrk.py --count-rebuilds --seconds 15   # the /api/v1/sites cache, diagnosed
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_bench_data import seed_large  # noqa: E402

from sitescout.inventory import store  # noqa: E402
from sitescout.inventory.db import open_database  # noqa: E402

HOST = "127.0.0.1"
LUA = Path(__file__).resolve().with_name("wrk_status.lua")
VIEWER, VIEWER_PASSWORD = "noc", "noc-bench-password"
ENDPOINTS = (  # name, path template, credential ("token", "worker" or "cookie"), wrk timeout (s)
    ("sites", "/api/v1/sites", "token", 10),
    ("site", "/api/v1/sites/{id}", "token", 10),
    ("devices", "/api/v1/devices?site={id}", "token", 10),
    # Prometheus refreshes http_sd every 60 s by default: a 60 s timeout is what it would tolerate.
    ("sd", "/sd/prometheus", "worker", 60),
    ("map", "/map", "cookie", 10),
)


def _request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
             body: str | None = None) -> tuple[int, dict[str, str], list[str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), resp.headers.get_all("Set-Cookie") or [], data
    finally:
        conn.close()


def _cookie(set_cookies: list[str], name: str) -> str | None:
    for header in set_cookies:
        first = header.split(";", 1)[0]
        key, _, value = first.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def log_in(port: int, user: str, password: str, cookie_name: str = "sitescout_session") -> str:
    """Log in through the form (CSRF token from the page) and return the session cookie header value."""
    status, _, cookies, page = _request(port, "GET", "/login")
    session = _cookie(cookies, cookie_name)
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or session is None or match is None:
        raise RuntimeError(f"login page: status {status}, cookie {session is not None}, csrf {match is not None}")
    form = urlencode({"csrf_token": match.group(1).decode(), "username": user, "password": password})
    status, _, cookies, _ = _request(port, "POST", "/login", {
        "Cookie": f"{cookie_name}={session}", "Content-Type": "application/x-www-form-urlencoded"}, form)
    session = _cookie(cookies, cookie_name)
    if status != 302 or session is None:
        raise RuntimeError(f"login refused: status {status}")
    status, _, _, _ = _request(port, "GET", "/map", {"Cookie": f"{cookie_name}={session}"})
    if status != 200:
        raise RuntimeError(f"/map with the session cookie answered {status}")
    return f"{cookie_name}={session}"


def gunicorn_app() -> Any:
    """Build the app as cmd_serve does, for the gunicorn comparison (``bench_wrk:gunicorn_app()``)."""
    from sitescout.web import create_app
    from sitescout.web.bootstrap import load_secret_key

    data_dir = Path(os.environ["SITESCOUT_BENCH_DATA"])
    database = open_database(os.environ["SITESCOUT_BENCH_DB"])
    return create_app({"DATABASE": database, "SECRET_KEY": load_secret_key(data_dir),
                       "TILES_FILE": None, "TILE_URL": None, "TILE_ATTRIBUTION": ""})


def _commit() -> str:
    """Return the checkout's short commit hash, with "+changes" when files differ from it."""
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "web", "inventory", "src"])
    return head.stdout.strip() + ("+changes" if dirty.returncode else "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_gunicorn(db_url: str, data_dir: Path, log_path: Path, workers: int,
                   threads: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start gunicorn (gthread workers) on the same app and database; return the master and its port."""
    port = _free_port()
    env = os.environ | {"SITESCOUT_BENCH_DB": db_url, "SITESCOUT_BENCH_DATA": str(data_dir)}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--bind", f"{HOST}:{port}", "--workers", str(workers),
                             "--threads", str(threads), "--worker-class", "gthread", "--timeout", "120",
                             "--pythonpath", str(Path(__file__).resolve().parent), "bench_wrk:gunicorn_app()"],
                            stdout=subprocess.DEVNULL, stderr=log_path.open("wb"), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _request(port, "GET", "/login")[0] == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not answer within 60 s")


def start_server(db_url: str, data_dir: Path, log_path: Path,
                 threads: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start `sitescout serve` on 127.0.0.1:0 (``--threads`` if given) and return the process and its port."""
    log_f = log_path.open("wb")
    extra = ["--threads", str(threads)] if threads else []
    proc = subprocess.Popen([sys.executable, "-m", "sitescout", "serve", "--db", db_url, "--listen", f"{HOST}:0",
                             "--data-dir", str(data_dir), *extra], stdout=subprocess.DEVNULL, stderr=log_f)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        m = re.search(r"map on http://127\.0\.0\.1:(\d+)/map", text)
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"sitescout serve exited {proc.returncode}: {text[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sitescout serve did not print its address within 60 s")


def _tree(pid: int) -> list[int]:
    """Return pid and all its descendants (gunicorn: master and workers)."""
    found, todo = [pid], [pid]
    while todo:
        cp = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True)
        kids = [int(p) for p in cp.stdout.split()]
        found += kids
        todo += kids
    return found


def rss_mb(pid: int) -> float:
    """Return the resident memory of a process and its descendants in MB."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time of a process and its descendants in seconds."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Sample a process tree's resident memory every `interval_s` in a thread; `peak_mb` is the largest seen."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        import threading

        self.pid, self.interval_s, self.peak_mb = pid, interval_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_idle(pid: int, limit_s: float = 180.0) -> float:
    """Wait until the server stops burning CPU (requests wrk abandoned at its deadline still run); return the wait."""
    t0 = time.monotonic()
    quiet = 0
    last = cpu_seconds(pid)
    while time.monotonic() - t0 < limit_s and quiet < 2:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return round(time.monotonic() - t0, 1)


def run_wrk(port: int, path: str, max_id: int, header: str, connections: int, seconds: float,
            threads: int = 2, timeout_s: int = 10) -> dict[str, Any]:
    """Run wrk once and return its figures (latency in ms, non-2xx and socket errors counted)."""
    argv = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout_s}s",
            "-H", header, "-s", str(LUA), f"http://{HOST}:{port}/",
            "--", path, str(max_id if "{id}" in path else 0)]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    line = next((ln for ln in cp.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if cp.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({cp.returncode}): {cp.stderr.strip() or cp.stdout[-500:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    status = {int(k): v for k, v in raw["status"].items()}
    secs = raw["duration_us"] / 1e6
    socket_errors = sum(v for k, v in raw["errors"].items() if k != "status")
    non_2xx = sum(v for k, v in status.items() if not 200 <= k < 300)
    lat = raw["latency_us"]
    return {"connections": connections, "seconds": round(secs, 1), "requests": raw["requests"],
            "rps": round(raw["requests"] / secs, 1), "mb_per_s": round(raw["bytes"] / secs / 1e6, 2),
            "latency_ms": {k: round(lat[k] / 1000, 2) for k in ("p50", "p90", "p99", "max", "mean")},
            "status": {str(k): v for k, v in sorted(status.items())}, "non_2xx": non_2xx,
            "socket_errors": raw["errors"] | {"total": socket_errors},
            "errors": non_2xx + socket_errors}


def _tracebacks(log_text: str, limit: int = 3) -> list[str]:
    """Return the first tracebacks of the server log (up to 40 lines each)."""
    lines = log_text.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback") and len(found) < limit:
            found.append("\n".join(lines[max(0, i - 2):i + 40]))
    return found


def _non_2xx_lines(log_text: str) -> dict[str, int]:
    """Count non-2xx answers the server logged.

    Werkzeug (before commit 3976061) logged every request ('"GET /path HTTP/1.1" 200 -'); waitress logs
    none, the app's access log (ca7ea80, at INFO) does ('sitescout.web.access: ADDR GET /path 200 SIZE'),
    and the app logs each 503 for want of a database connection ('GET /path: ... answered 503').
    """
    counts: dict[str, int] = {}
    pattern = r'" (\d{3}) |sitescout\.web\.access: \S+ [A-Z]+ \S+ (\d{3}) |answered (\d{3})'
    for m in re.finditer(pattern, log_text):
        code = m.group(1) or m.group(2) or m.group(3)
        if not code.startswith("2"):
            counts[code] = counts.get(code, 0) + 1
    return counts


def markdown_table(results: list[dict[str, Any]]) -> str:
    """Render the runs as the table of docs/benchmarks.md."""
    rows = ["| endpoint | bytes | conns | requests | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors "
            "| server RSS peak MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lat = r["latency_ms"]
        rows.append(f"| `{r['path']}` | {r['body_bytes_first']:,} | {r['connections']} | {r['requests']:,} | "
                    f"{r['rps']:,} | {lat['p50']:,} | {lat['p99']:,} | {lat['max']:,} | {r['non_2xx']} | "
                    f"{r['socket_errors']['total']} | {r.get('server_rss_mb_peak', '')} |")
    return "\n".join(rows)


def count_rebuilds(sites: int, devices_per_site: int, seconds: float, connections: list[int]) -> list[dict[str, Any]]:
    """Diagnose the /api/v1/sites cache: how often the collection is rebuilt per answer, by connection count.

    Runs the app in this process under waitress with 8 threads (as `sitescout serve` does
    since commit 3976061; Werkzeug's threaded server before) with ``store.list_sites`` wrapped in a counter;
    nothing in the package changes.
    """
    import logging
    import threading

    from waitress.server import create_server

    import sitescout.web.api as api
    from sitescout.web import create_app

    logging.getLogger("waitress").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-rebuilds-"))
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    seed_large(database, sites, sites * devices_per_site)
    with database.session() as session:
        token = store.create_token(session, "viewer", label="bench_wrk")
    calls = [0]
    original = api.store.list_sites

    def counted(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        return original(*a, **kw)

    api.store.list_sites = counted  # type: ignore[assignment]
    server = create_server(create_app({"DATABASE": database, "SECRET_KEY": "x" * 32}), host=HOST, port=0, threads=8)
    port = server.effective_port  # type: ignore[union-attr]
    threading.Thread(target=server.run, daemon=True).start()
    rows = []
    try:
        for conns in connections:
            time.sleep(3)  # let abandoned requests of the previous run finish
            calls[0] = 0
            r = run_wrk(port, "/api/v1/sites", 0, f"Authorization: Bearer {token}", conns, seconds,
                        timeout_s=20)
            rows.append({"connections": conns, "answers": r["requests"], "rebuilds": calls[0],
                         "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"], "errors": r["errors"]})
            print(f"/api/v1/sites c={conns:<3} answers {r['requests']:5}  rebuilds {calls[0]:4}  "
                  f"p50 {r['latency_ms']['p50']:8.1f} ms  p99 {r['latency_ms']['p99']:8.1f} ms", flush=True)
    finally:
        api.store.list_sites = original  # type: ignore[assignment]
        server.close()
        database.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, load every endpoint at every connection count, print a table and the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--devices-per-site", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--connections", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--sd-connections", type=int, nargs="+", default=[1, 8],
                    help="connection counts for /sd/prometheus (one Prometheus polls it once a minute)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2: one per core)")
    ap.add_argument("--only", nargs="+", choices=[e[0] for e in ENDPOINTS], help="load only these endpoints")
    ap.add_argument("--server", choices=["serve", "gunicorn"], default="serve",
                    help="serve: `sitescout serve` as shipped (default); gunicorn: the same app under gunicorn "
                         "gthread workers, for comparison (pip install gunicorn)")
    ap.add_argument("--serve-threads", type=int, help="`sitescout serve --threads N` (default: serve's own, 8)")
    ap.add_argument("--gunicorn-workers", type=int, default=2)
    ap.add_argument("--gunicorn-threads", type=int, default=8)
    ap.add_argument("--count-rebuilds", action="store_true",
                    help="diagnose instead: count /api/v1/sites cache rebuilds per answer (app in this process)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        ap.error("wrk is not installed (Debian: apt-get install -y wrk)")
    if args.count_rebuilds:
        rows = count_rebuilds(args.sites, args.devices_per_site, args.seconds, args.connections)
        if args.json:
            args.json.write_text(json.dumps({"sites": args.sites, "count_rebuilds": rows}, indent=2))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    server_name = (f"sitescout serve (waitress, --threads {args.serve_threads or 8})" if args.server == "serve" else
                   f"gunicorn {args.gunicorn_workers} gthread workers x {args.gunicorn_threads} threads, "
                   "same app and database, no access log")
    out: dict[str, Any] = {
        "sites": args.sites,
        "devices": args.sites * args.devices_per_site,
        "server": server_name,
        "commit": _commit(),
        "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    t0 = time.perf_counter()
    seed_large(database, args.sites, args.sites * args.devices_per_site)
    with database.session() as session:
        store.create_user(session, VIEWER, VIEWER_PASSWORD, "viewer")
        viewer_token = store.create_token(session, "viewer", label="bench_wrk")
        worker_token = store.create_token(session, "worker", label="bench_wrk")
    database.close()
    out["seed_s"] = round(time.perf_counter() - t0, 1)
    db_url = f"sqlite:///{tmp / 'inventory.sqlite3'}"
    if args.server == "serve":
        server, port = start_server(db_url, tmp / "data", tmp / "serve.log", args.serve_threads)
    else:
        from sitescout.web.bootstrap import load_secret_key

        load_secret_key(tmp / "data")  # once, before the workers: they must all sign sessions with one key
        server, port = start_gunicorn(db_url, tmp / "data", tmp / "serve.log", args.gunicorn_workers,
                                      args.gunicorn_threads)
    results: list[dict[str, Any]] = []
    try:
        headers = {"token": f"Authorization: Bearer {viewer_token}",
                   "worker": f"Authorization: Bearer {worker_token}",
                   "cookie": f"Cookie: {log_in(port, VIEWER, VIEWER_PASSWORD)}"}
        for name, path, cred, timeout_s in ENDPOINTS:
            if args.only and name not in args.only:
                continue
            probe = path.replace("{id}", "1")
            key, value = headers[cred].split(": ", 1)
            wait_idle(server.pid)
            started = time.perf_counter()
            status, _, _, body = _request(port, "GET", probe, {key: value})
            single_s = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{probe} answered {status} before the load")
            conn_counts = args.sd_connections if name == "sd" else args.connections
            run_wrk(port, path, args.sites, headers[cred], min(conn_counts), args.warmup, args.threads, timeout_s)
            for conns in conn_counts:
                idle_s = wait_idle(server.pid)
                with PeakRss(server.pid) as peak:
                    r = run_wrk(port, path, args.sites, headers[cred], conns, args.seconds, args.threads, timeout_s)
                r |= {
                    "server_rss_mb_peak": peak.peak_mb,
                    "endpoint": name,
                    "path": path,
                    "timeout_s": timeout_s,
                    "body_bytes_first": len(body),
                    "single_request_ms": round(single_s * 1000, 1),
                    "waited_idle_before_s": idle_s,
                    "server_rss_mb": rss_mb(server.pid),
                    "server_alive": server.poll() is None,
                }
                results.append(r)
                print(f"{path:28} c={conns:<3} {r['rps']:8.1f} req/s  p50 {r['latency_ms']['p50']:8.1f} ms  "
                      f"p99 {r['latency_ms']['p99']:8.1f} ms  errors {r['errors']} {r['status']}  "
                      f"rss peak {peak.peak_mb:.0f} MB", flush=True)
                if args.json:
                    args.json.write_text(json.dumps(out | {"runs": results}, indent=2))
    finally:
        out["server_rss_mb_end"] = rss_mb(server.pid) if server.poll() is None else None
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log_text = (tmp / "serve.log").read_text(errors="replace")
        out["server_log_lines"] = log_text.count("\n")
        out["server_log_tracebacks"] = log_text.count("Traceback")
        out["server_log_non_2xx"] = _non_2xx_lines(log_text)
        if "Traceback" in log_text:
            kept = Path(tempfile.gettempdir()) / f"bench-wrk-serve-{os.getpid()}.log"
            shutil.copyfile(tmp / "serve.log", kept)
            out["server_log_kept"] = str(kept)
            out["server_log_traceback_excerpts"] = _tracebacks(log_text)
        out["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        out["runs"] = results
        out["cpus"] = os.cpu_count()
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))
    print(markdown_table(results))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
