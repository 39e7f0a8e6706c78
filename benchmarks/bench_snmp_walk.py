"""Benchmark an SNMP walk of a 48-port lab switch: sitescout (both v2c clients) vs ``snmpbulkwalk``, same run.

The switch is a lab namespace with a Linux bridge of 48 ports (the scanner on
one, 47 peers on the others, each peer running lldpd so the switch has 47 LLDP
neighbours and 48 learned MACs), served by Debian's snmpd with lldpd over
AgentX and the lab's pass_persist BRIDGE-MIB.  Subtrees: ifTable, ifXTable,
dot1dBasePortTable, dot1qTpFdbTable, lldpLocPortTable, lldpRemTable,
lldpRemManAddrTable.  Both sides use max-repetitions 25 and SNMPv2c; varbind
counts are checked equal.  Each walks one subtree after the other.  sitescout walks with its native
pure-Python client (``v2c_client="native"``, ``probes/snmp/v2c.py``) and through net-snmp (ezsnmp,
``"netsnmp"``); its time is measured inside one Python process (what a survey pays; interpreter
start-up is not a per-device cost), wall and CPU;
``snmpbulkwalk`` is one process per subtree, as one would run it (wall time,
start-up included).  Runs alternate; medians are reported.

Run as root:  .venv/bin/python benchmarks/bench_snmp_walk.py [--runs 5] [--json out.json]
Prints one JSON object on its last line: {"sitescout_s" (native), "sitescout_netsnmp_s", "snmpbulkwalk_s",
"ratio" (native / snmpbulkwalk), "ratio_netsnmp", "cpu_s" per walker, "varbinds", "runs", "goal_ratio"}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from sitescout.infra.lab.netns import LabHost
from sitescout.infra.lab.snmp_agents import AgentSpec, start_agent, start_lldpd
from sitescout.infra.lab.snmp_site import SnmpLabSite

SWITCH_IP = "198.51.100.3"
COMMUNITY = "lab-ro"
PORTS = 48
MAX_REPETITIONS = 25
SUBTREES = {
    "ifTable": "1.3.6.1.2.1.2.2",
    "ifXTable": "1.3.6.1.2.1.31.1.1",
    "dot1dBasePortTable": "1.3.6.1.2.1.17.1.4",
    "dot1qTpFdbTable": "1.3.6.1.2.1.17.7.1.2.2",
    "lldpLocPortTable": "1.0.8802.1.1.2.1.3.7",
    "lldpRemTable": "1.0.8802.1.1.2.1.4.1",
    "lldpRemManAddrTable": "1.0.8802.1.1.2.1.4.2",
}

_SITESCOUT_WALK = """
import json, sys, time
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity, open_session, parse_oid
roots = json.loads(sys.argv[1])
s = open_session(sys.argv[2], SnmpCredentials(communities=(V2cCommunity(sys.argv[3]),)), budget_s=60,
                 max_repetitions=int(sys.argv[4]), v2c_client=sys.argv[5])
t0, c0 = time.perf_counter(), time.process_time()
counts = {name: len(s.walk(parse_oid(oid), 100000)) for name, oid in roots.items()}
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "counts": counts}))
"""


def _env() -> dict[str, str]:
    return {"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp/sitescout-bench-snmp", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_snmpbulkwalk(scanner: LabHost) -> tuple[float, float, dict[str, int]]:
    """Walk every subtree with one snmpbulkwalk each; return total wall and CPU seconds and varbinds per subtree."""
    counts, total = {}, 0.0
    cpu = _children_cpu_s()
    for name, oid in SUBTREES.items():
        t0 = time.perf_counter()
        cp = scanner.run(["snmpbulkwalk", "-v2c", "-c", COMMUNITY, f"-Cr{MAX_REPETITIONS}", "-On", SWITCH_IP, oid],
                         env=_env())
        total += time.perf_counter() - t0
        counts[name] = len([ln for ln in cp.stdout.splitlines() if ln.startswith(".")])
    return total, _children_cpu_s() - cpu, counts


def run_sitescout(scanner: LabHost, client: str) -> tuple[float, float, dict[str, int]]:
    """Walk every subtree in one sitescout session; return in-process wall and CPU seconds and varbinds per subtree."""
    cp = scanner.run([sys.executable, "-c", _SITESCOUT_WALK, json.dumps(SUBTREES), SWITCH_IP, COMMUNITY,
                      str(MAX_REPETITIONS), client])
    if cp.returncode != 0:
        raise SystemExit(f"sitescout walk failed: {cp.stderr[-1000:]}")
    out = json.loads(cp.stdout.strip().splitlines()[-1])
    return out["seconds"], out["cpu_s"], out["counts"]


def _build(site: SnmpLabSite) -> LabHost:
    switch = site.switch_host(f"{SWITCH_IP}/24")
    scanner = site.add_scanner("198.51.100.2/24")
    peers = site.add_port_peers("peers", PORTS - 1)
    start_agent(switch, AgentSpec("sw48", SWITCH_IP, community=COMMUNITY, vlans={"br-a": 1},
                                  lldp_interfaces=("p*",)), site.workdir / "sw48")
    start_lldpd(peers, AgentSpec("peers", "198.51.100.9", lldp_interfaces=("e*",)), site.workdir / "peers")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # LLDP every second; the first frames also teach the bridge every MAC
        _, _, counts = run_snmpbulkwalk(scanner)
        if counts["lldpRemTable"] >= 8 * (PORTS - 1) and counts["dot1qTpFdbTable"] >= 2 * (PORTS - 1):
            break
        time.sleep(1)
    return scanner


def bench(runs: int) -> dict[str, object]:
    """Build the switch, run the walkers ``runs`` times in a rotating order, return the medians."""
    with SnmpLabSite() as site:
        scanner = _build(site)
        walkers = {"sitescout": lambda: run_sitescout(scanner, "native"),
                   "sitescout_netsnmp": lambda: run_sitescout(scanner, "netsnmp"),
                   "snmpbulkwalk": lambda: run_snmpbulkwalk(scanner)}
        times: dict[str, list[float]] = {name: [] for name in walkers}
        cpu: dict[str, list[float]] = {name: [] for name in walkers}
        counts: dict[str, int] = {}
        for r in range(runs):
            names = list(walkers)
            names = names[r % len(names):] + names[:r % len(names)]  # rotate the order run by run
            for name in names:
                seconds, cpu_s, got = walkers[name]()
                times[name].append(seconds)
                cpu[name].append(cpu_s)
                if counts and got != counts:
                    raise SystemExit(f"varbind counts differ: {got} vs {counts}")
                counts = got
                print(f"run {r + 1} {name:21s} {seconds * 1000:7.1f} ms  {cpu_s * 1000:6.1f} ms CPU  "
                      f"{sum(got.values())} varbinds", flush=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    return {"sitescout_s": round(med["sitescout"], 4), "sitescout_netsnmp_s": round(med["sitescout_netsnmp"], 4),
            "snmpbulkwalk_s": round(med["snmpbulkwalk"], 4),
            "ratio": round(med["sitescout"] / med["snmpbulkwalk"], 3),
            "ratio_netsnmp": round(med["sitescout_netsnmp"] / med["snmpbulkwalk"], 3),
            "ratios": [round(a / b, 3) for a, b in zip(times["sitescout"], times["snmpbulkwalk"], strict=True)],
            "cpu_s": {name: round(statistics.median(values), 4) for name, values in cpu.items()},
            "load_average": os.getloadavg(), "varbinds": counts, "runs": runs, "goal_ratio": 1.5}


def main() -> int:
    """Run the benchmark and print its figures (the last line is JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the result object to this file")
    args = p.parse_args()
    result = bench(args.runs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
