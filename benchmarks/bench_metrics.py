"""/metrics at scale: sitescout's scrape-time collector against the same series in plain prometheus_client metrics.

10,000 cameras, each with a link (device_up, RTT histogram of 15 buckets, jitter,
loss), ONVIF (up, clock offset, camera_info) and one stream (9 gauges): 32
sample lines per camera, 320,000 in all, fed as synthetic results.  Three ways
to produce the same exposition, same run, each timed over several scrapes:

* ``sitescout``: ``SitescoutCollector.render()`` — what the worker's /metrics serves;
* ``sitescout-via-client``: the same collector through ``generate_latest`` (its ``collect()``);
* ``plain-gauges``: the same series held in ``prometheus_client`` Gauge and Histogram
  children (the baseline of the brief), through ``generate_latest``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_metrics.py [--cameras 10000] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, disable_created_metrics, generate_latest

from sitescout.probes.worker.exporter import SitescoutCollector
from sitescout.probes.worker.jobs import ProbeJob, ProbeResult
from sitescout.probes.worker.records import StreamTarget, Target
from sitescout.probes.worker.metric_defs import RTT_BUCKETS
from sitescout.probes.worker.store import ResultStore


def _targets(n: int) -> list[Target]:
    return [Target(f"Thôn {i // 10:04d}", f"cam-{i:05d}", f"198.51.{(i >> 8) & 255}.{i & 255}", "camera",
                   f"http://198.51.100.1/onvif/{i}", None, (StreamTarget(f"rtsp://198.51.100.1/{i}", "main", 25.0),))
            for i in range(n)]


def _results(targets: list[Target], rng: random.Random) -> list[ProbeResult]:
    out = []
    for t in targets:
        rtts = [rng.uniform(0.0002, 0.08) for _ in range(10)]
        out.append(ProbeResult(ProbeJob("link", t), True, duration_s=2.2, rtts_s=rtts,
                               values={"loss_ratio": 0.1, "jitter_seconds": 0.003}))
        out.append(ProbeResult(ProbeJob("onvif", t), True, duration_s=0.3, values={"clock_offset_seconds": 1.5},
                               info={"manufacturer": "HIKVISION", "model": "DS-2CD2012-I", "firmware": "V5.2.0"}))
        out.append(ProbeResult(ProbeJob("stream", t, t.streams[0]), True, duration_s=4.5,
                               values={"fps": 24.8, "expected_fps": 25.0, "width_pixels": 1920.0,
                                       "height_pixels": 1080.0, "bitrate_bits_per_second": 4e6, "frozen": 0.0,
                                       "black": 0.0, "open_seconds": 0.2}))
    return out


def _plain_registry(targets: list[Target], results: list[ProbeResult]) -> CollectorRegistry:
    """The same series as plain client metrics (what an exporter without a collector would keep)."""
    reg = CollectorRegistry(auto_describe=False)
    dev = ["site", "device"]
    up = Gauge("sitescout_device_up", "up", dev, registry=reg)
    rtt = Histogram("sitescout_link_rtt_seconds", "rtt", dev, buckets=RTT_BUCKETS, registry=reg)
    jitter = Gauge("sitescout_link_jitter_seconds", "jitter", dev, registry=reg)
    loss = Gauge("sitescout_link_loss_ratio", "loss", dev, registry=reg)
    onvif_up = Gauge("sitescout_onvif_up", "onvif", dev, registry=reg)
    offset = Gauge("sitescout_onvif_clock_offset_seconds", "offset", dev, registry=reg)
    info = Gauge("sitescout_camera_info", "info", [*dev, "manufacturer", "model", "firmware"], registry=reg)
    stream = {k: Gauge(f"sitescout_stream_{k}", k, [*dev, "profile"], registry=reg)
              for k in ("up", "fps", "expected_fps", "width_pixels", "height_pixels", "bitrate_bits_per_second",
                        "frozen", "black", "open_seconds")}
    for r in results:
        t = r.job.target
        if r.job.kind == "link":
            up.labels(t.site, t.device).set(1)
            for v in r.rtts_s:
                rtt.labels(t.site, t.device).observe(v)
            jitter.labels(t.site, t.device).set(r.values["jitter_seconds"])
            loss.labels(t.site, t.device).set(r.values["loss_ratio"])
        elif r.job.kind == "onvif":
            onvif_up.labels(t.site, t.device).set(1)
            offset.labels(t.site, t.device).set(r.values["clock_offset_seconds"])
            info.labels(t.site, t.device, *r.info.values()).set(1)
        else:
            stream["up"].labels(t.site, t.device, "main").set(1)
            for k, v in r.values.items():
                stream[k].labels(t.site, t.device, "main").set(v)
    return reg


def _time(fn: Any, repeat: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = len(fn())
        times.append(time.perf_counter() - t0)
    return times, size


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    disable_created_metrics()
    targets = _targets(args.cameras)
    results = _results(targets, random.Random(1))
    store = ResultStore()
    store.set_targets(targets)
    store.record(results)
    collector = SitescoutCollector(store)
    via_client = CollectorRegistry(auto_describe=False)
    via_client.register(collector)
    plain = _plain_registry(targets, results)
    rows = {}
    for name, fn in (("sitescout", collector.render), ("sitescout-via-client", lambda: generate_latest(via_client)),
                     ("plain-gauges", lambda: generate_latest(plain))):
        times, size = _time(fn, args.repeat)
        rows[name] = {"seconds": round(statistics.median(times), 3), "bytes": size,
                      "runs_s": [round(v, 4) for v in times]}
    base = rows["plain-gauges"]["seconds"]
    for row in rows.values():
        row["ratio_to_plain"] = round(row["seconds"] / base, 2)
    lines = sum(1 for ln in collector.render().splitlines() if not ln.startswith(b"#"))
    print(f"{args.cameras} cameras, {lines} sample lines, median of {args.repeat} scrapes")
    for name, row in rows.items():
        print(f"  {name:22s} {row['seconds']:7.3f} s  {row['bytes'] / 1e6:6.1f} MB  ratio {row['ratio_to_plain']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cameras": args.cameras, "lines": lines, "results": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
