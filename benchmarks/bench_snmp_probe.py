"""Benchmark the worker's ``/probe?module=snmp`` against Debian's ``prometheus-snmp-exporter``, same agent, same run.

The agent is the SNMP lab's sw1 (``infra/lab/snmp_site.py``: Debian's snmpd, 8 ports, PoE through the
lab's pass_persist POWER-ETHERNET-MIB and HP-ICF-POE-MIB), SNMPv2c.  Both exporters run inside the lab's
scanner namespace on its loopback: ``sitescout worker`` (sw1 configured with ``snmp: true``, so its
credentials go there) and ``prometheus-snmp-exporter`` with a module written here for the same tables
(:data:`SNMP_YML`: sysUpTime, ifTable and ifXTable walked, the series sitescout exports with ifName
looked up, pethPsePortTable, pethMainPseTable and hpicfPoePethPsePortPower).  Debian ships no generated
``snmp.yml`` (no MIBs, licensing), hence the hand-written module.

A load generator in the same namespace keeps `--clients` HTTP/1.1 keep-alive connections busy for
`--seconds` (the worker's own limit is ``--probe-limit snmp=CLIENTS``) and counts replies that carry
the interface and PoE series (sitescout's also ``probe_success 1``); each request's latency is kept
for the median.  Rounds alternate who goes first; each round's ratio is reported.

``--before-src DIR`` adds a third prober: the same worker from another source tree (``DIR/src`` put on
PYTHONPATH, so the collection child runs that code too), e.g. ``git archive`` of the commit before a
change: a before/after in the same run.

Run as root from the repository root::

    .venv/bin/python benchmarks/bench_snmp_probe.py [--clients 4] [--seconds 8] [--rounds 3] \\
        [--before-src DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabHost
from sitescout.infra.lab.snmp_site import LAB_COMMUNITY, SnmpLabSite, build_snmp_lab

PY = sys.executable
SNMP_EXPORTER = "/usr/bin/prometheus-snmp-exporter"
SWITCH_IP = "198.51.100.3"
PORTS = {"sitescout": 9311, "before": 9312, "snmp_exporter": 9313}


def _metric(name: str, oid: str, type_: str = "gauge", lookup: bool = True) -> str:
    """Return one snmp_exporter metric of a table indexed by ifIndex (with ifName looked up)."""
    text = (f"  - name: {name}\n    oid: {oid}\n    type: {type_}\n    help: {name}\n"
            "    indexes:\n    - labelname: ifIndex\n      type: gauge\n")
    if lookup:
        text += ("    lookups:\n    - labels: [ifIndex]\n      labelname: ifName\n"
                 "      oid: 1.3.6.1.2.1.31.1.1.1.1\n      type: DisplayString\n")
    return text


_IF = "1.3.6.1.2.1.2.2.1"
_IFX = "1.3.6.1.2.1.31.1.1.1"
#: snmp_exporter 0.21's format (modules at the top level): what sitescout's snmp kind reads and exports.
SNMP_YML = (
    "sitescout:\n  walk:\n  - 1.3.6.1.2.1.2.2\n  - 1.3.6.1.2.1.31.1.1\n  - 1.3.6.1.2.1.105.1.1\n"
    "  - 1.3.6.1.2.1.105.1.3\n  - 1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3\n"
    "  get:\n  - 1.3.6.1.2.1.1.3.0\n"
    "  metrics:\n"
    "  - name: sysUpTime\n    oid: 1.3.6.1.2.1.1.3\n    type: gauge\n    help: sysUpTime\n"
    + _metric("ifAdminStatus", f"{_IF}.7") + _metric("ifOperStatus", f"{_IF}.8") + _metric("ifSpeed", f"{_IF}.5")
    + _metric("ifHighSpeed", f"{_IFX}.15") + _metric("ifHCInOctets", f"{_IFX}.6", "counter")
    + _metric("ifHCOutOctets", f"{_IFX}.10", "counter") + _metric("ifInErrors", f"{_IF}.14", "counter")
    + _metric("ifOutErrors", f"{_IF}.20", "counter") + _metric("ifInDiscards", f"{_IF}.13", "counter")
    + _metric("ifOutDiscards", f"{_IF}.19", "counter")
    + "  - name: pethPsePortDetectionStatus\n    oid: 1.3.6.1.2.1.105.1.1.1.6\n    type: gauge\n"
      "    help: pethPsePortDetectionStatus\n    indexes:\n    - labelname: pethPsePortGroupIndex\n"
      "      type: gauge\n    - labelname: pethPsePortIndex\n      type: gauge\n"
    + "  - name: hpicfPoePethPsePortPower\n    oid: 1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3\n    type: gauge\n"
      "    help: hpicfPoePethPsePortPower\n    indexes:\n    - labelname: pethPsePortGroupIndex\n"
      "      type: gauge\n    - labelname: pethPsePortIndex\n      type: gauge\n"
    + "  - name: pethMainPsePower\n    oid: 1.3.6.1.2.1.105.1.3.1.2\n    type: gauge\n    help: pethMainPsePower\n"
      "    indexes:\n    - labelname: pethMainPseGroupIndex\n      type: gauge\n"
    + "  - name: pethMainPseConsumptionPower\n    oid: 1.3.6.1.2.1.105.1.3.1.4\n    type: gauge\n"
      "    help: pethMainPseConsumptionPower\n    indexes:\n    - labelname: pethMainPseGroupIndex\n      type: gauge\n"
    + f"  version: 2\n  max_repetitions: 25\n  retries: 0\n  timeout: 5s\n  auth:\n    community: {LAB_COMMUNITY}\n"
)

#: Load generator: CLIENTS keep-alive connections for SECONDS; a reply counts when it carries every MUST string.
_LOAD = r"""
import http.client, json, sys, threading, time
port, path, clients, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
must = [m.encode() for m in sys.argv[5].split("|")]
ok, bad, lat, lock = [0], [0], [], threading.Lock()
stop = time.monotonic() + seconds
def run():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        t = time.monotonic()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        good = resp.status == 200 and all(m in body for m in must)
        with lock:
            if good:
                ok[0] += 1
                lat.append(time.monotonic() - t)
            else:
                bad[0] += 1
threads = [threading.Thread(target=run) for _ in range(clients)]
t0 = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - t0
lat.sort()
print(json.dumps({"ok": ok[0], "failed": bad[0], "seconds": wall, "rate": ok[0] / wall,
                  "median_s": lat[len(lat) // 2] if lat else None}))
"""

_PATHS = {"sitescout": f"/probe?module=snmp&target={SWITCH_IP}", "before": f"/probe?module=snmp&target={SWITCH_IP}",
          "snmp_exporter": f"/snmp?module=sitescout&target={SWITCH_IP}"}
_MUST = {"sitescout": "probe_success 1|sitescout_interface_up{|sitescout_poe_budget_watts{|sitescout_poe_power_watts{",
         "snmp_exporter": "ifOperStatus{|pethMainPsePower{|hpicfPoePethPsePortPower{"}
_MUST["before"] = _MUST["sitescout"]


def _cpu_s(pid: int) -> float:
    """Return the CPU seconds of a process and its descendants, live and reaped (/proc/PID/stat).

    A worker reads v2c devices on threads of its own (its CPU); a tree before that (``--before-src``) forked
    collection processes from its fork server: their CPU is the fork server's reaped children's.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # each thread's children (the worker starts its fork server from a thread)
        children = [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except OSError:  # ended meanwhile: its CPU is now its parent's
        return 0.0
    own = sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return own + sum(_cpu_s(int(child)) for child in children)


def _load(host: LabHost, name: str, clients: int, seconds: float, pid: int) -> dict[str, Any]:
    """Load one prober; its answer counts, rate, median latency, and the prober's CPU seconds per good answer."""
    cpu = _cpu_s(pid)
    cp = host.run([PY, "-c", _LOAD, str(PORTS[name]), _PATHS[name], str(clients), str(seconds), _MUST[name]],
                  timeout=seconds + 60)
    if cp.returncode != 0:
        raise RuntimeError(cp.stderr[-2000:])
    out = dict(json.loads(cp.stdout))
    out["cpu_s_per_answer"] = (_cpu_s(pid) - cpu) / out["ok"] if out["ok"] else None
    return out


def _wait_http(host: LabHost, url: str) -> None:
    for _ in range(150):
        cp = host.run([PY, "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"], timeout=10)
        if cp.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _start(lab: Any, tmp: Path, clients: int, before_src: Path | None) -> dict[str, int]:
    """Start the probers in the scanner namespace; return their names and process ids."""
    scanner = lab.scanner
    (tmp / "targets.yml").write_text(
        "defaults:\n  snmp: {interval_s: 86400, timeout_s: 10}\n  link: {interval_s: 86400}\n"
        f"targets:\n  - {{site: lab, device: sw1, ip: {SWITCH_IP}, kind: switch, snmp: true}}\n", encoding="utf-8")
    creds = tmp / "creds.toml"
    creds.write_text(f'[snmp]\ncommunities = ["{LAB_COMMUNITY}"]\n', encoding="utf-8")
    creds.chmod(0o600)
    (tmp / "snmp.yml").write_text(SNMP_YML, encoding="utf-8")
    names = ["sitescout", "snmp_exporter"]
    pids: dict[str, int] = {}
    workers = {"sitescout": None}
    if before_src is not None:
        workers["before"] = str(before_src / "src")
        names.insert(1, "before")
    for name, path in workers.items():
        env = {**os.environ, "PYTHONPATH": path} if path else None
        argv = [PY, "-m", "sitescout", "worker", "--targets", str(tmp / "targets.yml"), "--credentials", str(creds),
                "--listen", f"127.0.0.1:{PORTS[name]}", "--probe-limit", f"snmp={clients}"]
        pids[name] = scanner.popen(argv, stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "w"),  # noqa: SIM115
                                   env=env).pid
    pids["snmp_exporter"] = scanner.popen([SNMP_EXPORTER, f"--config.file={tmp / 'snmp.yml'}",
                   f"--web.listen-address=127.0.0.1:{PORTS['snmp_exporter']}"],
                                           stdout=subprocess.DEVNULL,
                                           stderr=open(tmp / "snmp_exporter.log", "w")).pid  # noqa: SIM115
    for name in names:
        _wait_http(scanner, f"http://127.0.0.1:{PORTS[name]}" + ("/" if name == "snmp_exporter" else "/-/healthy"))
    return {name: pids[name] for name in names}


def bench(clients: int, seconds: float, rounds: int, before_src: Path | None) -> dict[str, Any]:
    """Build the lab, start the probers, run the rounds; return every round and the medians."""
    out: dict[str, Any] = {"clients": clients, "seconds": seconds, "load_average_before": os.getloadavg(),
                           "rounds": []}
    with SnmpLabSite() as site:
        lab = build_snmp_lab(site)
        tmp = site.workdir / "bench-snmp-probe"
        tmp.mkdir()
        pids = _start(lab, tmp, clients, before_src)
        names = list(pids)
        for name in names:  # warm-up, and a check that each answers what it must
            warm = _load(lab.scanner, name, 1, 1.0, pids[name])
            if not warm["ok"]:
                raise SystemExit(f"{name} gave no good answer: {(tmp / f'{name}.log').read_text()[-2000:]}")
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            this: dict[str, Any] = {name: _load(lab.scanner, name, clients, seconds, pids[name]) for name in order}
            this["ratio"] = round(this["sitescout"]["rate"] / this["snmp_exporter"]["rate"], 3)
            out["rounds"].append(this)
            shown = (f"{n} {this[n]['rate']:.1f}/s median {this[n]['median_s'] * 1000:.0f} ms "
                     f"{(this[n]['cpu_s_per_answer'] or 0) * 1000:.0f} ms CPU" for n in names)
            print(f"round {r + 1}: {', '.join(shown)}; ratio {this['ratio']}", flush=True)
    out["load_average_after"] = os.getloadavg()
    for name in names:
        rows = [r[name] for r in out["rounds"]]
        out[name] = {"rate_median": statistics.median(r["rate"] for r in rows),
                     "latency_median_s": statistics.median(r["median_s"] for r in rows),
                     "cpu_s_per_answer": statistics.median(r["cpu_s_per_answer"] or 0 for r in rows),
                     "failed": sum(r["failed"] for r in rows)}
    out["ratio_median"] = statistics.median(r["ratio"] for r in out["rounds"])
    out["goal_ratio"] = 0.5
    return out


def main() -> int:
    """Run the benchmark and print its figures (the last line is JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--before-src", type=Path, help="a source tree (with src/sitescout) run as a third prober")
    p.add_argument("--json", type=Path, help="also write the result object to this file")
    args = p.parse_args()
    result = bench(args.clients, args.seconds, args.rounds, args.before_src)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
