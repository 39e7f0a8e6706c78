"""Benchmark camera discovery and interrogation: 50 simulated cameras on one namespace site.

Goal (issue "Field survey"): all 50 found by WS-Discovery with no duplicates
within 3 s, and all interrogated within 5 s more.  Each camera is its own
namespace and process replaying one of the personas; the scanner multicasts
the Probes on its interface and also sends a unicast Probe to every camera.

Run as root:  .venv/bin/python benchmarks/bench_cameras.py [--cameras 50] [--runs 3] [--json out.json] [--docs]

``--json`` writes the figures for ``python -m benchmarks.ledger``; ``--docs``
rewrites this section of docs/benchmarks.md as the script did before the ledger
(off by default: the ledger's generated blocks are the record now).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADING = "## Camera discovery and interrogation"


async def _inner(targets: list[str], scanner_ip: str, wait_s: float) -> dict:
    from sitescout.probes.onvif.interrogate import OnvifTarget, async_interrogate
    from sitescout.probes.onvif.wsdiscovery import async_discover_report

    t0 = time.monotonic()
    report = await async_discover_report(interface_ip=scanner_ip, unicast_targets=targets, wait_s=wait_s)
    t_disc = time.monotonic() - t0
    devices = report.devices
    t1 = time.monotonic()
    results = await asyncio.gather(*(
        async_interrogate(OnvifTarget(ip=d.source_ips[0], xaddr=d.choose_xaddr().url, endpoint=d.endpoint), [])
        for d in devices
    ))
    t_int = time.monotonic() - t1
    return {
        "found": len(devices),
        "distinct_endpoints": len({d.endpoint for d in devices}),
        "distinct_ips": len({d.source_ips[0] for d in devices}),
        "discovery_s": t_disc,
        "interrogation_s": t_int,
        "identified": sum(1 for r in results if r.info is not None and r.info.model),
        "slowest_camera_s": max((r.duration_s for r in results), default=0.0),
    }


def _find_window(scanner, targets: list[str], cameras: int) -> float:
    """Return the shortest listening window (of a few) in which every camera was found."""
    for wait_s in (0.5, 1.0, 1.5, 2.0, 3.0):
        out = _run_inner(scanner, targets, wait_s)
        if out["found"] == cameras:
            return wait_s
    return float("nan")


def _run_inner(scanner, targets: list[str], wait_s: float) -> dict:
    cp = scanner.run([sys.executable, __file__, "--inner", "--wait", str(wait_s), "--scanner-ip", scanner.ip,
                      *targets], timeout=120)
    if cp.returncode != 0:
        raise SystemExit(f"inner run failed: {cp.stderr[-2000:]}")
    return json.loads(cp.stdout)


def bench(cameras: int, runs: int, find_window: bool = True) -> dict:
    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.personas import PERSONAS
    from sitescout.infra.lab.scenario import build_survey_lab

    personas = [PERSONAS[i % len(PERSONAS)] for i in range(cameras)]
    with LabSite() as site:
        t0 = time.monotonic()
        lab = build_survey_lab(site, personas)
        build_s = time.monotonic() - t0
        targets = [c.ip for c in lab.cameras]
        rows = [_run_inner(lab.scanner, targets, 3.0) for _ in range(runs)]
        window = _find_window(lab.scanner, targets, cameras) if find_window else float("nan")
    return {"cameras": cameras, "build_s": build_s, "runs": rows, "min_window_s": window}


def _markdown(result: dict) -> str:
    rows = result["runs"]
    disc = statistics.median(r["discovery_s"] for r in rows)
    inter = statistics.median(r["interrogation_s"] for r in rows)
    lines = [
        HEADING,
        "",
        f"`benchmarks/bench_cameras.py`: {result['cameras']} simulated cameras, each in its own namespace on one "
        "bridge, replaying the lab personas in turn (WS-Discovery, SOAP, no credentials). The scanner, in its own "
        "namespace, sends both Probe variants by multicast on its interface (3 repeats with jitter) and by unicast "
        "to every camera, listens for 3 s (the survey's default window), then interrogates every device found, "
        "all at once (GetSystemDateAndTime, GetServices or GetCapabilities, GetDeviceInformation, "
        "GetNetworkInterfaces, profiles, stream and snapshot URIs).",
        "",
        "| run | found | distinct endpoints | distinct IPs | identified | discovery s | interrogation s "
        "| slowest camera s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['found']} | {r['distinct_endpoints']} | {r['distinct_ips']} | {r['identified']} | "
                     f"{r['discovery_s']:.2f} | {r['interrogation_s']:.2f} | {r['slowest_camera_s']:.2f} |")
    lines += [
        "",
        f"Medians: discovery {disc:.2f} s (the fixed 3 s listening window; the shortest window that found all "
        f"{result['cameras']} was {result['min_window_s']:g} s), interrogation of all {result['cameras']} "
        f"{inter:.2f} s. Goals: all found, no duplicates, within 3 s; all interrogated within 5 s more. "
        "Both tools and cameras share this 2-core machine.",
        "",
    ]
    return "\n".join(lines)


def _write_docs(section: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    if HEADING in text:
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", action="store_true", help="also rewrite this section of docs/benchmarks.md")
    ap.add_argument("--no-docs", action="store_true", help="accepted for old command lines (now the default)")
    ap.add_argument("--no-window", action="store_true", help="skip the search for the shortest listening window")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--wait", type=float, default=3.0, help=argparse.SUPPRESS)
    ap.add_argument("--scanner-ip", help=argparse.SUPPRESS)
    ap.add_argument("targets", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        print(json.dumps(asyncio.run(_inner(args.targets, args.scanner_ip, args.wait))))
        return 0
    result = bench(args.cameras, args.runs, find_window=not args.no_window)
    section = _markdown(result)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.docs and not args.no_docs:
        _write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
