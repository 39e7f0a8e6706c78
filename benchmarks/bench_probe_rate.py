"""ICMP /probe throughput and worker memory, inside a lab namespace.

**Probe rate**: sitescout's ``/probe?module=icmp`` (5 echoes per request, its own
echoes, loss and jitter reported) against Debian's ``prometheus-blackbox-exporter``
(one echo, no loss or jitter), same targets, same run, in `--rounds` rounds that
alternate which exporter goes first (the ratio of each round, and their median).  Both listen on the
scanner namespace's loopback; the targets are four lab hosts on a veth/bridge.  A
load generator in the same namespace (Python threads, or ``--loader wrk``) keeps
`--clients` HTTP/1.1 keep-alive connections busy for `--seconds` and counts
completed requests (every reply is checked for ``probe_success 1``; sitescout's
also for all its echoes sent, loss and jitter).

**Memory** (``--memory``): ``sitescout worker`` with 1,000 link targets (loopback
addresses 127.0.x.y of the scanner namespace, plus an ONVIF endpoint and a stream
each, refused at once) runs with short intervals for `--settle` seconds; RSS of the
worker process (and of its stream-check processes) is read from /proc.

Run as root from the repository root::

    .venv/bin/python benchmarks/bench_probe_rate.py [--clients 16] [--seconds 10] [--rounds 3] [--memory] \\
        [--no-rate] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabHost, LabSite

PY = sys.executable
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"

_LOAD = r"""
import http.client, json, sys, threading, time
port, path_fmt, targets = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
clients, seconds = int(sys.argv[4]), float(sys.argv[5])
must = [m.encode() for m in sys.argv[6].split("|")]
done, bad, lock = [0], [0], threading.Lock()
stop = time.monotonic() + seconds
def run(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = i
    while time.monotonic() < stop:
        target = targets[n % len(targets)]
        n += 1
        conn.request("GET", path_fmt.format(target=target))
        body = conn.getresponse().read()
        with lock:
            if all(m in body for m in must):
                done[0] += 1
            else:
                bad[0] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
t0 = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - t0
print(json.dumps({"ok": done[0], "failed": bad[0], "seconds": wall, "rate": done[0] / wall}))
"""


#: The same load from Debian's wrk (C, 2 threads), so the Python load generator's own cost
#: cannot hide how fast either exporter is.  Arguments: path format (%s = target), targets, must.
_WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ok, bad, n = 0, 0, 0
  fmt = args[1]
  targets, must = {}, {}
  for t in string.gmatch(args[2], "[^,]+") do table.insert(targets, t) end
  for m in string.gmatch(args[3], "[^|]+") do table.insert(must, m) end
end
function request()
  n = n + 1
  return wrk.format("GET", string.format(fmt, targets[n % #targets + 1]))
end
function response(status, headers, body)
  local good = status == 200
  for _, m in ipairs(must) do
    if not string.find(body, m, 1, true) then good = false end
  end
  if good then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local s = summary.duration / 1e6
  io.write(string.format('{"ok": %d, "failed": %d, "seconds": %f, "rate": %f, "errors": %d}\n', o, b, s, o / s,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _wait_http(host: LabHost, url: str) -> None:
    for _ in range(100):
        cp = host.run([PY, "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"], timeout=10)
        if cp.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _load(host: LabHost, port: int, path_fmt: str, targets: list[str], clients: int, seconds: float,
          must: str, loader: str = "python") -> dict[str, Any]:
    """Count requests answered with every `|`-separated string of `must` in the body."""
    if loader == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            lua.write(_WRK_LUA)
            lua.flush()
            cp = host.run(["wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "-s", lua.name, f"http://127.0.0.1:{port}",
                           "--", path_fmt.replace("{target}", "%s"), ",".join(targets), must], timeout=seconds + 60)
        if cp.returncode != 0:
            raise RuntimeError(cp.stderr or cp.stdout)
        return json.loads(cp.stdout.strip().splitlines()[-1])
    cp = host.run([PY, "-c", _LOAD, str(port), path_fmt, ",".join(targets), str(clients), str(seconds), must],
                  timeout=seconds + 60)
    if cp.returncode != 0:
        raise RuntimeError(cp.stderr)
    return json.loads(cp.stdout)


def bench_rate(site: LabSite, tmp: Path, clients: int, seconds: float, rounds: int = 3,
               count: int = 5, loader: str = "python") -> dict[str, Any]:
    """Requests per second of both exporters on the same four targets."""
    scanner = site.add_scanner("198.51.100.2/24")
    hosts = [site.add_host(f"t{i}", f"198.51.100.{10 + i}/24") for i in range(4)]
    targets = [h.ip for h in hosts]
    (tmp / "targets.yml").write_text("targets: []\n")
    (tmp / "blackbox.yml").write_text("modules:\n  icmp:\n    prober: icmp\n    timeout: 5s\n"
                                      "    icmp:\n      preferred_ip_protocol: ip4\n")
    worker = scanner.popen([PY, "-m", "sitescout", "worker", "--targets", str(tmp / "targets.yml"),
                            "--listen", "127.0.0.1:9301"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    blackbox = scanner.popen([BLACKBOX, f"--config.file={tmp / 'blackbox.yml'}", "--web.listen-address=127.0.0.1:9302"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_http(scanner, "http://127.0.0.1:9301/-/healthy")
    _wait_http(scanner, "http://127.0.0.1:9302/-/healthy")
    runs = (("blackbox_exporter", 9302, "/probe?module=icmp&target={target}"),
            ("sitescout", 9301, f"/probe?module=icmp&count={count}&interval=0&target={{target}}"))
    # A reply counts when the probe succeeded; sitescout's must also show all its echoes sent and
    # carry loss and jitter.
    must = {"blackbox_exporter": "probe_success 1",
            "sitescout": f"probe_success 1|sitescout_link_sent_packets {count}.0|sitescout_link_loss_ratio |"
                         "sitescout_link_jitter_seconds "}
    for name, port, path in runs:
        _load(scanner, port, path, targets, clients, 2.0, must[name], loader)  # warm-up
    # Rounds alternate which exporter goes first, so a neighbour's load on a shared
    # machine weighs on both; each round's ratio is reported, and their median.
    out: dict[str, Any] = {"load_average_before": os.getloadavg(), "rounds": []}
    for r in range(rounds):
        this: dict[str, Any] = {}
        for name, port, path in (runs if r % 2 == 0 else runs[::-1]):
            this[name] = _load(scanner, port, path, targets, clients, seconds, must[name], loader)
        this["ratio"] = round(this["sitescout"]["rate"] / this["blackbox_exporter"]["rate"], 2)
        out["rounds"].append(this)
    for name, _, _ in runs:
        ok = sum(r[name]["ok"] for r in out["rounds"])
        wall = sum(r[name]["seconds"] for r in out["rounds"])
        out[name] = {"ok": ok, "failed": sum(r[name]["failed"] for r in out["rounds"]), "seconds": wall,
                     "rate": ok / wall, "rates": [round(r[name]["rate"]) for r in out["rounds"]]}
    out["load_average_after"] = os.getloadavg()
    out["echoes_per_sitescout_request"] = count
    out["clients"] = clients
    out["loader"] = loader
    # One reply of each, to show what each reports.
    for name, port, path in runs:
        url = f"http://127.0.0.1:{port}" + path.format(target=targets[0])
        cp = scanner.run([PY, "-c", f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())"])
        out[name]["reports"] = sorted({ln.split("{")[0].split()[0] for ln in cp.stdout.splitlines()
                                      if ln and not ln.startswith("#")})
    out["ratio"] = round(out["sitescout"]["rate"] / out["blackbox_exporter"]["rate"], 2)
    ratios = sorted(r["ratio"] for r in out["rounds"])
    out["ratio_median"], out["ratio_min"], out["ratio_max"] = statistics.median(ratios), ratios[0], ratios[-1]
    worker.terminate()
    blackbox.terminate()
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    cp = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in cp.stdout.split()]


def bench_memory(site: LabSite, tmp: Path, settle_s: float, n: int = 1000) -> dict[str, Any]:
    """RSS of a worker probing `n` loopback targets (link, ONVIF and one stream each)."""
    scanner = site.add_host("mem", "198.51.100.3/24")
    lines = ["defaults:", "  link: {interval_s: 5, count: 10, echo_interval_s: 0.2, timeout_s: 1.0}",
             "  stream: {interval_s: 20, window_s: 2, timeout_s: 5}", "  onvif: {interval_s: 20, timeout_s: 2}",
             "targets:"]
    for i in range(n):
        ip = f"127.0.{1 + i // 250}.{1 + i % 250}"
        lines.append(f"  - {{site: 'Thôn {i // 10}', device: cam-{i}, ip: {ip}, onvif: 'http://{ip}:9/onvif', "
                     f"streams: [{{uri: 'rtsp://{ip}:9/live', profile: main, expected_fps: 25}}]}}")
    (tmp / "mem.yml").write_text("\n".join(lines) + "\n")
    proc = scanner.popen([PY, "-m", "sitescout", "worker", "--targets", str(tmp / "mem.yml"),
                          "--listen", "127.0.0.1:9303"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith("ready")
    # `ip netns exec` execs the command: the Popen pid is the worker itself.
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < settle_s:
        time.sleep(1.0)
        samples.append(_rss_mb(proc.pid))
    cp = scanner.run(
        [
            PY,
            "-c",
            "import urllib.request,time; t=time.monotonic(); "
            "b=urllib.request.urlopen('http://127.0.0.1:9303/metrics').read(); "
            "print(time.monotonic()-t, len(b), b.count(b'sitescout_device_up{'), "
            "sum(1 for l in b.splitlines() if l.startswith(b'sitescout_device_up{') and l.endswith(b' 1.0')))",
        ]
    )
    scrape_s, size, devices, up = cp.stdout.split()
    children = {pid: _rss_mb(pid) for pid in _children(proc.pid)}
    proc.terminate()
    proc.wait(60)  # a stream check being started finishes first (up to its start timeout)
    return {
        "targets": n,
        "settle_s": settle_s,
        "rss_mb_max": round(max(samples), 1),
        "rss_mb_end": round(samples[-1], 1),
        "stream_worker_rss_mb": [round(v, 1) for v in children.values()],
        "scrape_s": round(float(scrape_s), 3),
        "metrics_bytes": int(size),
        "devices": int(devices),
        "devices_up": int(up),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="per exporter per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, alternating which exporter goes first")
    ap.add_argument("--count", type=int, default=5, help="echoes per sitescout request (loss and jitter need >= 2)")
    ap.add_argument("--loader", choices=["python", "wrk"], default="python",
                    help="load generator: Python threads (default) or Debian's wrk (2 threads, C)")
    ap.add_argument("--memory", action="store_true", help="also measure worker RSS with 1,000 targets")
    ap.add_argument("--no-rate", action="store_true", help="skip the /probe rate (with --memory: memory only)")
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, LabSite() as site:
        if not args.no_rate:
            out["probe_rate"] = bench_rate(site, Path(tmp), args.clients, args.seconds, args.rounds, args.count,
                                            args.loader)
        if args.memory:
            out["memory"] = bench_memory(site, Path(tmp), args.settle)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
