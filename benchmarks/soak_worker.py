"""Soak: ``sitescout worker`` with 1,000 lab targets for 30 minutes (issue #7, a benchmark, not a CI test).

The lab (network namespaces only, nothing in the root namespace):

* a *scanner* namespace (198.51.100.2) runs the worker on its loopback 127.0.0.1;
* a *farm* namespace holds 200 live addresses (198.51.100.10-209) behind the lab
  bridge: the first `--cameras` run a simulated ONVIF camera each
  (``sitescout.infra.lab.camera``, credentials required, discovery off) and one of
  the first one also a GStreamer RTSP server with `--streams` H.264 mounts
  (stream k is watched as a stream of device k);
* the other 800 link targets are loopback addresses 127.0.x.y of the scanner
  namespace, which answer echo requests too.

The worker runs with short intervals (link every 10 s, ONVIF every 30 s, streams
every 60 s).  A scraper in the scanner namespace fetches ``/metrics`` every 15 s,
as Prometheus would, and every 30 s this script samples the worker's RSS (plus
that of its child processes), its open descriptors and threads.  The summary:
first/last/max RSS, the RSS slope (MB per 10 min, least squares over the second
half), descriptors min/max/last, scrapes attempted/answered and scrape latency.

Run as root from the repository root (results are rewritten to --json after every
sample, so a long run can be watched)::

    .venv/bin/python benchmarks/soak_worker.py [--minutes 30] [--json /tmp/soak.json]
    .venv/bin/python benchmarks/soak_worker.py --minutes 2     # a quick check
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.rtsp import RtspServer, StreamSpec, gstreamer_available

PY = sys.executable
PORT = 9310
PERSONAS = ("hikvision_ds2cd2012i", "axis_q6045e", "bosch_flexidome5100i", "dlink_dcs6511",
            "univiewoem_gx728mf", "xmeye_sunba405", "trendnet_tvip320pi", "hikoem_enp1a14")
USER, PASSWORD = "soak", "Soak-pw-4417"  # lab-only credential of the simulated cameras

# Runs inside the scanner namespace: one scrape every `interval` s, one JSON line each.
_SCRAPER = r"""
import json, sys, time, urllib.request
port, interval, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
t_end = time.monotonic() + seconds
nxt = time.monotonic()
while nxt < t_end:
    time.sleep(max(0.0, nxt - time.monotonic()))
    nxt += interval
    rec = {"t": time.time(), "ok": False}
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            body = r.read()
            rec["status"] = r.status
        rec["latency_s"] = time.monotonic() - t0
        rec["bytes"] = len(body)
        up = [l for l in body.splitlines() if l.startswith(b"sitescout_device_up{")]
        rec["devices"] = len(up)
        rec["devices_up"] = sum(1 for l in up if l.rstrip().endswith((b" 1", b" 1.0")))
        for name in (b"sitescout_onvif_up{", b"sitescout_stream_up{"):
            rows = [l for l in body.splitlines() if l.startswith(name)]
            key = name.decode()[len("sitescout_"):-1]
            rec[key] = sum(1 for l in rows if l.rstrip().endswith((b" 1", b" 1.0")))
            rec[key + "_series"] = len(rows)
        rec["ok"] = rec["status"] == 200 and rec["devices"] > 0
    except Exception as err:
        rec["latency_s"] = time.monotonic() - t0
        rec["error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(rec), flush=True)
"""


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        cp = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True)
        kids = [int(p) for p in cp.stdout.split()]
        found += kids
        todo += kids
    return found


def sample(pid: int, t0: float) -> dict[str, Any]:
    """Read RSS (worker, and worker + descendants), descriptors and threads from /proc."""
    st = _status(pid)
    kids_rss = 0
    kids = _descendants(pid)
    for kid in kids:
        try:
            kids_rss += _status(kid).get("VmRSS", 0)
        except OSError:
            pass  # a stream check that just ended
    return {"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(st["VmRSS"] / 1024, 1),
            "rss_total_mb": round((st["VmRSS"] + kids_rss) / 1024, 1), "children": len(kids),
            "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())), "threads": st["Threads"]}


def write_targets(path: Path, farm_ips: list[str], cameras: int, stream_urls: list[str], n: int) -> None:
    """Write the worker's targets file: `n` link targets, ONVIF on the cameras, streams on the first ones."""
    lines = ["defaults:",
             "  link: {interval_s: 10, count: 5, echo_interval_s: 0.2, timeout_s: 1.0}",
             "  onvif: {interval_s: 30, timeout_s: 5}",
             "  stream: {interval_s: 60, window_s: 2, timeout_s: 12}",
             "targets:"]
    for i in range(n):
        if i < len(farm_ips):
            ip = farm_ips[i]
        else:
            j = i - len(farm_ips)
            ip = f"127.0.{1 + j // 250}.{1 + j % 250}"
        extra = ""
        if i < cameras:
            extra += f", onvif: 'http://{ip}/onvif/device_service'"
        if i < len(stream_urls):
            extra += f", streams: [{{uri: '{stream_urls[i]}', profile: main, expected_fps: 15}}]"
        kind = "camera" if i < cameras else "host"
        lines.append(f"  - {{site: 'Thôn {i // 10}', device: dev-{i}, ip: {ip}, kind: {kind}{extra}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _fit_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB), in MB per 10 minutes."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return None if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 600


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summarize(samples: list[dict[str, Any]], scrapes: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    """Reduce the samples and scrapes to the figures the issue asks for."""
    half = [s for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2] if samples else []
    lat = [s["latency_s"] for s in scrapes if s.get("ok")]
    out: dict[str, Any] = {"scrapes_expected": expected, "scrapes_attempted": len(scrapes),
                           "scrapes_answered": sum(1 for s in scrapes if s.get("ok")),
                           "scrape_errors": [s for s in scrapes if not s.get("ok")][:10]}
    if lat:
        out["scrape_latency_ms"] = {"p50": round(_pct(lat, 0.5) * 1000, 1), "p99": round(_pct(lat, 0.99) * 1000, 1),
                                    "max": round(max(lat) * 1000, 1)}
    if samples:
        for key in ("rss_mb", "rss_total_mb"):
            vals = [s[key] for s in samples]
            slope = _fit_slope([(s["t_s"], s[key]) for s in half])
            out[key] = {"first": vals[0], "last": vals[-1], "max": max(vals), "min": min(vals),
                        "slope_mb_per_10min_second_half": None if slope is None else round(slope, 2)}
        fds = [s["fds"] for s in samples]
        thr = [s["threads"] for s in samples]
        out["fds"] = {"min": min(fds), "max": max(fds), "first": fds[0], "last": fds[-1]}
        out["threads"] = {"min": min(thr), "max": max(thr), "last": thr[-1]}
    if scrapes:
        last = scrapes[-1]
        out["last_scrape"] = {k: last.get(k) for k in ("devices", "devices_up", "onvif_up", "onvif_up_series",
                                                        "stream_up", "stream_up_series", "bytes")}
        ups = [s["devices_up"] for s in scrapes if s.get("ok")]
        if ups:
            out["devices_up_min_after_first_minute"] = min(
                (s["devices_up"] for s in scrapes if s.get("ok") and s["t"] - scrapes[0]["t"] >= 60), default=None)
    return out


def run(minutes: float, n: int, cameras: int, streams: int, out_path: Path | None) -> dict[str, Any]:
    """Build the lab, run the worker for `minutes`, sample and scrape it; return the report."""
    seconds = minutes * 60
    report: dict[str, Any] = {"targets": n, "minutes": minutes, "finished": False}
    with tempfile.TemporaryDirectory() as tmp_s, LabSite() as site:
        tmp = Path(tmp_s)
        scanner = site.add_scanner("198.51.100.2/24")
        farm_ips = [f"198.51.100.{10 + i}" for i in range(200)]
        farm = site.add_host("farm", [f"{ip}/24" for ip in farm_ips])
        cams = []
        for i in range(cameras):
            cams.append(farm.popen([PY, "-m", "sitescout.infra.lab.camera", "--persona", PERSONAS[i % len(PERSONAS)],
                                    "--ip", farm_ips[i], "--discovery", "off", "--user", USER, "--password", PASSWORD],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        for proc in cams:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise RuntimeError(f"a lab camera did not start: {line!r}")
        rtsp = None
        stream_urls: list[str] = []
        if streams and gstreamer_available():
            rtsp = RtspServer(farm_ips[0], 554,
                              {f"/live{i}": StreamSpec(codec="h264", width=640, height=480, fps=15)
                               for i in range(streams)}, netns=farm.netns)
            rtsp.start()
            stream_urls = [rtsp.url(f"/live{i}") for i in range(streams)]
        report["lab"] = {"farm_addresses": len(farm_ips), "loopback_targets": max(0, n - len(farm_ips)),
                         "onvif_cameras": cameras, "streams": len(stream_urls)}
        write_targets(tmp / "targets.yml", farm_ips, cameras, stream_urls, n)
        (tmp / "cred.toml").write_text(f'[[credentials]]\nusername = "{USER}"\npassword = "{PASSWORD}"\n')
        worker_log = tmp / "worker.log"
        with worker_log.open("w") as log_f:
            worker = scanner.popen([PY, "-m", "sitescout", "worker", "--targets", str(tmp / "targets.yml"),
                                    "--credentials", str(tmp / "cred.toml"), "--listen", f"127.0.0.1:{PORT}"],
                                   stdout=subprocess.PIPE, stderr=log_f, text=True)
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"worker did not start: {ready!r}; see {worker_log}")
        report["worker_ready"] = ready.strip()
        # `ip netns exec` execs the command: the Popen pid is the worker itself.
        t0 = time.monotonic()
        scraper = scanner.popen([PY, "-c", _SCRAPER, str(PORT), "15", str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        scrapes: list[dict[str, Any]] = []

        def read_scrapes() -> None:
            assert scraper.stdout is not None
            for line in scraper.stdout:
                scrapes.append(json.loads(line))

        reader = threading.Thread(target=read_scrapes, daemon=True)
        reader.start()
        samples: list[dict[str, Any]] = []
        expected = int(seconds // 15) + (1 if seconds % 15 else 0)
        while True:
            if worker.poll() is not None:
                report["worker_exited"] = worker.returncode
                break
            samples.append(sample(worker.pid, t0))
            report["samples"] = samples
            report["summary"] = summarize(samples, list(scrapes), expected)
            if out_path:
                out_path.write_text(json.dumps(report, indent=1))
            if time.monotonic() - t0 >= seconds:
                break
            time.sleep(max(0.0, min(30.0, seconds - (time.monotonic() - t0))))
        scraper.wait(timeout=60)
        reader.join(timeout=10)
        if rtsp is not None:
            report["rtsp_server_alive"] = rtsp.is_alive()
        worker.terminate()
        try:
            report["worker_exit"] = worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            report["worker_exit"] = "did not stop within 60 s of SIGTERM"
        text = worker_log.read_text(errors="replace").splitlines()
        report["worker_log_lines"] = len(text)
        report["worker_log_warnings"] = sum(1 for ln in text if "WARNING" in ln or "ERROR" in ln or "Traceback" in ln)
        report["worker_log_tail"] = text[-15:]
        report["password_in_log"] = PASSWORD in "\n".join(text)
        if rtsp is not None:
            rtsp.stop()
        report["scrapes"] = scrapes
        report["summary"] = summarize(samples, scrapes, expected)
        report["finished"] = True
    if out_path:
        out_path.write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its summary as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--cameras", type=int, default=6, help="simulated ONVIF cameras among the targets")
    ap.add_argument("--streams", type=int, default=2, help="RTSP streams among the targets (needs GStreamer)")
    ap.add_argument("--json", type=Path, help="write the full report here (rewritten after every sample)")
    args = ap.parse_args(argv)
    if not 200 < args.targets <= 200 + 250 * 200 or not 0 <= args.cameras < 200 or args.streams > args.cameras:
        ap.error("--targets must be 201-50200, --cameras 0-199, --streams at most --cameras")
    report = run(args.minutes, args.targets, args.cameras, args.streams, args.json)
    print(json.dumps({k: v for k, v in report.items() if k not in ("samples", "scrapes")}, indent=2))
    s = report["summary"]
    return 0 if report["finished"] and s["scrapes_answered"] == s["scrapes_attempted"] else 1


if __name__ == "__main__":
    sys.exit(main())
