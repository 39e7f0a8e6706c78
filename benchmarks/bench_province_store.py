"""A Prometheus agent remote_writing to VictoriaMetrics: CPU and memory per active series, measured.

Stand-in workers: `--targets` loopback HTTP servers, each serving a fixed /metrics text of
`--series-per-target` sitescout-shaped series (``sitescout_device_up``, link loss/jitter and an RTT
histogram per device, site and device labels), generated once.  One Prometheus 2.42 in agent mode scrapes
them every `--interval` seconds and remote_writes to one victoria-metrics 1.79 (single node); after a
warm-up, the script samples each process's CPU time (/proc/PID/stat) and resident memory over `--seconds`,
and asks VictoriaMetrics how many series it holds.

    .venv/bin/python benchmarks/bench_province_store.py [--targets 4] [--series-per-target 25000] [--interval 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

_BUCKETS = ("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf")
#: Series per device in this synthetic shape: up, loss, jitter, 8 buckets + sum + count.
SERIES_PER_DEVICE = 3 + len(_BUCKETS) + 2


def _metrics_text(target: int, series: int) -> bytes:
    lines = []
    for d in range(series // SERIES_PER_DEVICE):
        labels = f'site="Thôn {target}-{d // 8}",device="dev-{target}-{d}"'
        lines.append(f"sitescout_device_up{{{labels}}} 1")
        lines.append(f"sitescout_link_loss_ratio{{{labels}}} 0")
        lines.append(f"sitescout_link_jitter_seconds{{{labels}}} 0.0002")
        for n, le in enumerate(_BUCKETS):
            lines.append(f'sitescout_link_rtt_seconds_bucket{{{labels},le="{le}"}} {n * 10}')
        lines.append(f"sitescout_link_rtt_seconds_sum{{{labels}}} 0.5")
        lines.append(f"sitescout_link_rtt_seconds_count{{{labels}}} 70")
    return ("\n".join(lines) + "\n").encode()


def _serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_rss(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def _vm(vm: str, query: str) -> float:
    url = f"{vm}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        result = json.loads(answer.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def main() -> int:
    """Run the agent and VictoriaMetrics against synthetic workers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--series-per-target", type=int, default=25_000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    servers = [_serve(_metrics_text(t, args.series_per_target)) for t in range(args.targets)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-province-"))
    vm_port, agent_port = _free_port(), _free_port()
    vm = subprocess.Popen([str(shutil.which("victoria-metrics")), f"-httpListenAddr=127.0.0.1:{vm_port}",
                           f"-storageDataPath={tmp / 'vm'}", "-retentionPeriod=1d"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    interval_ms = int(args.interval * 1000)  # Prometheus durations take no decimal point ("5.0s" is refused)
    config = {"global": {"scrape_interval": f"{interval_ms}ms", "scrape_timeout": f"{interval_ms}ms"},
              "scrape_configs": [{"job_name": "sitescout-worker", "static_configs": [
                  {"targets": [f"127.0.0.1:{s.server_address[1]}" for s in servers]}]}],
              "remote_write": [{"url": f"http://127.0.0.1:{vm_port}/api/v1/write"}]}
    (tmp / "agent.yml").write_text(yaml.safe_dump(config))
    agent = subprocess.Popen([str(shutil.which("prometheus")), "--enable-feature=agent",
                              f"--config.file={tmp / 'agent.yml'}", f"--storage.agent.path={tmp / 'wal'}",
                              f"--web.listen-address=127.0.0.1:{agent_port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{vm_port}"
    try:
        time.sleep(args.warmup)
        for proc, name in ((agent, "prometheus agent"), (vm, "victoria-metrics")):
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}")
        start = {p: _cpu_rss(p.pid) for p in (agent, vm)}
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        end = {p: _cpu_rss(p.pid) for p in (agent, vm)}
        series = _vm(base, "count({__name__=~'sitescout_.+'})")
        total = args.targets * (args.series_per_target // SERIES_PER_DEVICE) * SERIES_PER_DEVICE
        out = {
            "targets": args.targets,
            "series_scraped": total,
            "interval_s": args.interval,
            "samples_per_s": round(total / args.interval),
            "series_in_vm": int(series),
            "agent_cpu_cores": round((end[agent][0] - start[agent][0]) / elapsed, 3),
            "agent_rss_mb": round(end[agent][1] / 2**20),
            "vm_cpu_cores": round((end[vm][0] - start[vm][0]) / elapsed, 3),
            "vm_rss_mb": round(end[vm][1] / 2**20),
            "load_avg_1m": os.getloadavg()[0],
        }
        print(json.dumps(out))
    finally:
        for proc in (agent, vm):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
        for s in servers:
            s.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
