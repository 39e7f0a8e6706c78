"""Benchmark `sitescout survey` of a site with 3 switches, 40 hosts and 6 cameras: total time and SNMP's share.

The site (``infra/lab/snmp_bench_site.py``): router rt1, sw1 (HPE id, PoE), sw2 and sw3
(TP-Link ids), every one a network namespace running Debian's snmpd and lldpd; 40 plain
hosts (bare namespaces) spread over the three switches; 6 cameras running the ONVIF
simulator with GStreamer RTSP streams (one on the routed VLAN 203.0.113.0/24).  The survey
runs inside the scanner namespace as a technician would run it: both networks, the default
WS-Discovery wait, stream checks on, ``--credentials`` with an ``[snmp]`` table (the lab's
community and its v3 user), the document written with ``--json``.

Each repeat runs three surveys, in an order that rotates from repeat to repeat:
``without`` (``--no-snmp``), ``with`` (the SNMP stage, default ``--snmp-interval``: 7 s
between a switch's two counter reads) and ``with_i0`` (``--snmp-interval 0``: one read).
Per survey: the wall time of the whole command (interpreter start-up included), and the
SNMP stage's own time, taken from the survey's progress callback (first ``snmp`` update to
its last: the probe, the reads, the placing).  The stage times are not in the survey
document, so the command runs through a small wrapper that wraps
``console.SurveyProgress.update`` to note when each stage starts and ends; the survey itself
is unchanged.  share = (with − without) / with.

Run as root:  .venv/bin/python benchmarks/bench_survey_snmp.py [--repeats 3] [--json out.json]
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.snmp_bench_site import SW3_IP, SurveySnmpSite, survey_snmp_site
from sitescout.infra.lab.snmp_site import LAB_COMMUNITY, LAB_V3_USER

SWITCHES = ("198.51.100.3", "198.51.100.4", SW3_IP)
NETWORKS = ("198.51.100.0/24", "203.0.113.0/24")
VARIANTS: dict[str, tuple[str, ...]] = {
    "without": ("--no-snmp",),
    "with": (),
    "with_i0": ("--snmp-interval", "0"),
}

#: Runs `sitescout` with a stage clock on the progress callback; argv[1] is where the clock goes.
_WRAPPER = """
import json, sys, time
t0 = time.monotonic()
from sitescout import console
from sitescout.cli import main
stages = {}
_update = console.SurveyProgress.update
def update(self, stage, done, total):
    now = time.monotonic() - t0
    stages.setdefault(stage, [now, now])[1] = now
    return _update(self, stage, done, total)
console.SurveyProgress.update = update
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"stages": stages, "main_s": time.monotonic() - t0}, f)
sys.exit(code)
"""


def _credentials(path: Path) -> None:
    u = LAB_V3_USER
    path.write_text(f'[snmp]\ncommunities = ["{LAB_COMMUNITY}"]\n'
                    f'[[snmp.v3]]\nusername = "{u.name}"\nauth_key = "{u.auth_key}"\npriv_key = "{u.priv_key}"\n')


def survey_once(site: SurveySnmpSite, variant: str, tmp: Path) -> dict[str, Any]:
    """Run one survey in the scanner namespace; return its times and what it found."""
    doc_path, clock_path, creds = tmp / f"{variant}.json", tmp / f"{variant}-clock.json", tmp / "site.toml"
    _credentials(creds)
    argv = [sys.executable, "-c", _WRAPPER, str(clock_path), "--lang", "en", "survey", "--site", "bench",
            *[a for n in NETWORKS for a in ("--network", n)], "--credentials", str(creds),
            "--json", str(doc_path), *VARIANTS[variant]]
    t0 = time.monotonic()
    cp = site.scanner.run(argv, timeout=240)
    wall = time.monotonic() - t0
    if cp.returncode != 0:
        raise SystemExit(f"survey ({variant}) failed with {cp.returncode}: {cp.stderr[-2000:]}")
    doc, clock = json.loads(doc_path.read_text()), json.loads(clock_path.read_text())
    hosts = {h["ip"]: h for h in doc["hosts"]}
    snmp = clock["stages"].get("snmp")
    read = [ip for ip in SWITCHES if (hosts.get(ip, {}).get("snmp") or {}).get("sys_name")
            and not hosts[ip]["snmp"].get("error_kind")]
    return {
        "wall_s": round(wall, 3),
        "snmp_stage_s": round(snmp[1] - snmp[0], 3) if snmp else 0.0,
        "stages": {k: [round(a, 3), round(b, 3)] for k, (a, b) in clock["stages"].items()},
        "hosts": len(hosts),
        "cameras": sum(1 for h in hosts.values() if h.get("onvif")),
        "streams_up": sum(1 for h in hosts.values() for s in h.get("streams") or [] if s.get("up")),
        "switches_read": len(read),
        "placed": sum(1 for h in hosts.values() if h.get("attached_to")),
        "counters_interval_s": max([(hosts[ip]["snmp"].get("counters_interval_s") or 0.0) for ip in read],
                                   default=0.0),
    }


def bench(repeats: int) -> dict[str, Any]:
    """Build the site, run the three surveys ``repeats`` times (rotating order), return every run."""
    load_before = [round(v, 2) for v in os.getloadavg()]
    LabSite.cleanup_stale()
    t_build = time.monotonic()
    runs: list[dict[str, Any]] = []
    with survey_snmp_site() as site, tempfile.TemporaryDirectory(prefix="bench-survey-snmp-") as tmp:
        build_s = time.monotonic() - t_build
        counts = site.counts()
        print(f"site built in {build_s:.1f} s: {counts}", flush=True)
        names = list(VARIANTS)
        for r in range(repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for variant in order:
                run = {"repeat": r, "variant": variant, **survey_once(site, variant, Path(tmp))}
                runs.append(run)
                print(f"repeat {r + 1} {variant:8s} wall {run['wall_s']:6.2f} s"
                      f"  snmp stage {run['snmp_stage_s']:6.2f} s"
                      f"  hosts {run['hosts']} cameras {run['cameras']} streams up {run['streams_up']}"
                      f"  switches read {run['switches_read']} placed {run['placed']}"
                      f"  load {os.getloadavg()[0]:.2f}", flush=True)
    by = {v: [x for x in runs if x["variant"] == v] for v in VARIANTS}
    med = {v: statistics.median(x["wall_s"] for x in by[v]) for v in VARIANTS}
    shares = [(w["wall_s"] - o["wall_s"]) / w["wall_s"] for w, o in zip(by["with"], by["without"])]
    shares_i0 = [(w["wall_s"] - o["wall_s"]) / w["wall_s"] for w, o in zip(by["with_i0"], by["without"])]
    return {"site": counts, "build_s": round(build_s, 1), "repeats": repeats, "runs": runs,
            "median_wall_s": {k: round(v, 3) for k, v in med.items()},
            "median_snmp_stage_s": {v: round(statistics.median(x["snmp_stage_s"] for x in by[v]), 3)
                                    for v in ("with", "with_i0")},
            "median_share": round(statistics.median(shares), 3),
            "median_share_i0": round(statistics.median(shares_i0), 3),
            "load_before": load_before, "load_after": [round(v, 2) for v in os.getloadavg()]}


def main() -> int:
    """Run the benchmark and print its figures (the last line is JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the result object to this file")
    args = p.parse_args()
    result = bench(args.repeats)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
