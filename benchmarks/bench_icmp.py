"""ICMP link-quality benchmark: sitescout's one-socket bursts against `fping -C` on the same targets, same run.

Two target sets, each measured by both tools one after the other (never at the
same time, so neither steals the other's CPU):

* ``loopback-1000``: 1,000 addresses 127.0.0.1-127.0.3.232, answered by the kernel
  on the loopback of a lab namespace (the scanner's own);
* ``veth-500``: 500 addresses on one lab host (250 in 198.51.100.0/24, 250 in
  203.0.113.0/24) reached over a veth and a bridge.  The lab may only use those two
  /24s: 512 addresses, minus network, broadcast and the scanner's own address in
  each, leaves 506, so 1,000 live veth targets cannot exist here.

Both tools send 10 echoes per target, 1 s apart per target, with the targets
spread evenly over each second (sitescout's schedule; fping's ``-i`` is set to
1000 ms / targets to match), and wait up to 1 s per reply.  CPU is the child's
user+system seconds (`getrusage(RUSAGE_CHILDREN)` around each run; sitescout's
includes interpreter start-up and imports, ~0.1 s, also shown without them).

Run as root from the repository root::

    .venv/bin/python benchmarks/bench_icmp.py [--count 10] [--period-ms 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from sitescout.infra.lab.netns import LabHost, LabSite


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(scanner: LabHost, argv: Sequence[str]) -> tuple[float, float, str, str, int]:
    cpu0, t0 = _children_cpu(), time.monotonic()
    proc = subprocess.Popen(["ip", "netns", "exec", scanner.netns, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=600)
    return time.monotonic() - t0, _children_cpu() - cpu0, out, err, proc.returncode


def _fping_stats(stderr: str) -> tuple[int, int]:
    sent = received = 0
    for line in stderr.splitlines():
        if " : " in line:
            values = line.split(" : ", 1)[1].split()
            sent += len(values)
            received += sum(v != "-" for v in values)
    return sent, received


def run_case(name: str, scanner: LabHost, targets: list[str], count: int, period_ms: float,
             targets_file: str) -> dict[str, Any]:
    """Measure `targets` with sitescout then fping; return wall, CPU and reply counts of each."""
    with open(targets_file, "w") as fh:
        fh.write("\n".join(targets) + "\n")
    gap_ms = period_ms / len(targets)
    ours = _timed(scanner, [sys.executable, "-m", "sitescout.probes.net.link_quality", "--targets-file", targets_file,
                            "--count", str(count), "--interval", str(period_ms / 1000), "--timeout", "1",
                            "--summary"])
    if ours[4] != 0:
        raise RuntimeError(f"sitescout failed: {ours[3]}")
    doc = json.loads(ours[2])
    our_sent = sum(r["sent"] for r in doc["results"].values())
    our_recv = sum(r["received"] for r in doc["results"].values())
    fping = _timed(scanner, ["fping", "-C", str(count), "-q", "-p", str(int(period_ms)), "-i", f"{gap_ms:g}",
                             "-t", "1000", "-f", targets_file])
    f_sent, f_recv = _fping_stats(fping[3])
    return {"case": name, "targets": len(targets), "count": count, "period_ms": period_ms,
            "sitescout": {"wall_s": ours[0], "cpu_s": ours[1], "cpu_s_measurement_only": doc["cpu_s"],
                          "sent": our_sent, "received": our_recv},
            "fping": {"wall_s": fping[0], "cpu_s": fping[1], "sent": f_sent, "received": f_recv},
            "ratio_wall": ours[0] / fping[0], "ratio_cpu": ours[1] / fping[1] if fping[1] else float("inf")}


def main(argv: Sequence[str] | None = None) -> int:
    """Build the lab, run both cases, print a Markdown table (and JSON if asked); always clean up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--period-ms", type=float, default=1000.0)
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args(argv)
    rows = []
    with LabSite(prefix="bi") as site:
        scanner = site.add_scanner(["198.51.100.2/24", "203.0.113.2/24"])
        crowd = [f"198.51.100.{i}/24" for i in range(3, 253)] + [f"203.0.113.{i}/24" for i in range(3, 253)]
        site.add_host("many", crowd)
        loop_targets = [str(ipaddress.IPv4Address("127.0.0.1") + i) for i in range(1000)]
        veth_targets = [c.split("/")[0] for c in crowd]
        tf = f"/tmp/{site.prefix}-targets.txt"
        # Warm the neighbour cache (ARP) so neither tool pays for it alone.
        scanner.run(["fping", "-q", "-r0", "-t", "500", "-i", "1", *veth_targets])
        try:
            rows.append(run_case("loopback-1000", scanner, loop_targets, args.count, args.period_ms, tf))
            rows.append(run_case("veth-500", scanner, veth_targets, args.count, args.period_ms, tf))
        finally:
            if os.path.exists(tf):
                os.unlink(tf)
    print("| case | tool | wall s | CPU s | CPU s (measurement only) | replies |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        s, f = r["sitescout"], r["fping"]
        print(f"| {r['case']} | sitescout | {s['wall_s']:.2f} | {s['cpu_s']:.3f} | {s['cpu_s_measurement_only']:.3f}"
              f" | {s['received']}/{s['sent']} |")
        print(f"| {r['case']} | fping -C {r['count']} | {f['wall_s']:.2f} | {f['cpu_s']:.3f} | – "
              f"| {f['received']}/{f['sent']} |")
        print(f"| {r['case']} | ratio sitescout/fping | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} | | |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
