"""Stream-health benchmark: CPU seconds of one stream check against a full decode of the same window.

The lab RTSP server (``sitescout.infra.lab.rtsp``) serves a 1080p25 H.264 test
pattern (4 Mbit/s, key frame every 2 s) on 127.0.0.1.  In the same run:

* ``sitescout``: `StreamChecker` with one reused worker process runs N checks
  with the default `StreamConfig` (window 4 s, JPEG snapshot kept: what the
  survey runs) and N with `MONITORING_STREAM` (the same without the snapshot:
  what repeated monitoring runs).  CPU is the worker's user+system time from
  /proc/PID/stat before and after each check (all its threads, FFmpeg's
  included; 10 ms ticks), plus the parent's own CPU over the same checks.  The
  sum of /proc/PID/task/*/schedstat (ns, live threads) is reported beside it.
  The worker's one-time start (interpreter + cv2 import) is reported apart.
* ``ffmpeg``: ``ffmpeg -rtsp_transport tcp -i URL -t WINDOW -f null -``, a full
  decode of the same window; CPU from ``os.wait4`` of that child (whole process,
  start-up included), N runs.

Runs alternate (check, ffmpeg, monitoring check, check, ...) so all see the same machine load.
Run from the repository root::

    .venv/bin/python benchmarks/bench_stream_check.py [--runs 5] [--url rtsp://...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

from sitescout.probes.stream_health import DEFAULT_STREAM, MONITORING_STREAM, StreamChecker, StreamConfig, StreamJob

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """Return user+system CPU seconds of a live process (all threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def _proc_cpu_ns(pid: int) -> float:
    """Return the on-CPU seconds of a live process's live threads, ns resolution (schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0])
        except FileNotFoundError:
            continue
    return total / 1e9


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _ffmpeg_decode(url: str, window_s: float) -> tuple[float, float]:
    """Return (wall s, CPU s) of a full ffmpeg decode of `window_s` seconds of the stream."""
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url,
            "-t", f"{window_s:g}", "-f", "null", "-"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg exited {proc.returncode}")
    return time.monotonic() - t0, usage.ru_utime + usage.ru_stime


def _start_lab_stream(port: int) -> tuple[Any, str]:
    from sitescout.infra.lab.rtsp import RtspServer, StreamSpec, gstreamer_available

    if not gstreamer_available():
        raise SystemExit("GStreamer RTSP server not available; pass --url")
    spec = StreamSpec(codec="h264", width=1920, height=1080, fps=25, behaviour="normal", bitrate_kbps=4000)
    server = RtspServer("127.0.0.1", port, {"/bench1080": spec})
    server.start()
    return server, server.url("/bench1080")


def _check(checker: StreamChecker, job: StreamJob, config: StreamConfig, pid: int) -> dict[str, float]:
    """Run one check in the reused worker and return its wall and CPU figures."""
    cpu0, ns0, self0, t0 = _proc_cpu(pid), _proc_cpu_ns(pid), _self_cpu(), time.monotonic()
    result = checker.check(job, config)
    wall = time.monotonic() - t0
    if not result.up or checker.worker_pids() != [pid]:
        raise RuntimeError(f"check failed: {result.error}")
    parent = _self_cpu() - self0
    return {"wall_s": wall, "cpu_s": _proc_cpu(pid) - cpu0 + parent, "ns_cpu_s": _proc_cpu_ns(pid) - ns0 + parent,
            "parent_cpu_s": parent, "fps": result.fps or 0.0, "bitrate_kbps": result.bitrate_kbps or 0.0,
            "decoded_frames": result.decoded_frames, "frames": result.frames,
            "snapshot_bytes": len(result.snapshot_jpeg or b"")}


def _summary(checks: list[dict[str, float]], decode_cpu: float) -> dict[str, Any]:
    cpu = statistics.median(c["cpu_s"] for c in checks)
    return {
        "cpu_s_median": round(cpu, 4),
        "cpu_s_runs": [round(c["cpu_s"], 4) for c in checks],
        "ns_cpu_s_median": round(statistics.median(c["ns_cpu_s"] for c in checks), 4),
        "ns_cpu_s_runs": [round(c["ns_cpu_s"], 4) for c in checks],
        "parent_cpu_s_runs": [round(c["parent_cpu_s"], 4) for c in checks],
        "wall_s_median": round(statistics.median(c["wall_s"] for c in checks), 2),
        "frames": [c["frames"] for c in checks], "decoded": [c["decoded_frames"] for c in checks],
        "fps": [c["fps"] for c in checks], "bitrate_kbps": [c["bitrate_kbps"] for c in checks],
        "snapshot_bytes": [c["snapshot_bytes"] for c in checks],
        "ratio": round(cpu / decode_cpu, 3),
        "ns_ratio": round(statistics.median(c["ns_cpu_s"] for c in checks) / decode_cpu, 3),
        "cameras_per_core_at_60s": int(60.0 / cpu),
    }


def run(url: str, runs: int) -> dict[str, Any]:
    """Measure `runs` survey checks, monitoring checks and full decodes of the same stream, alternating."""
    window = DEFAULT_STREAM.window_s
    job = StreamJob(url, expected_fps=25, expected_size=(1920, 1080))
    checks: list[dict[str, float]] = []
    monitoring: list[dict[str, float]] = []
    decodes: list[dict[str, float]] = []
    with StreamChecker(1) as checker:
        t0 = time.monotonic()
        checker.check(StreamJob(url, 25, None))  # warm-up: starts the worker (cv2 import) once
        warm_wall = time.monotonic() - t0
        pid = checker.worker_pids()[0]
        start_cpu = _proc_cpu(pid)
        for _ in range(runs):
            checks.append(_check(checker, job, DEFAULT_STREAM, pid))
            wall, cpu = _ffmpeg_decode(url, window)
            decodes.append({"wall_s": wall, "cpu_s": cpu})
            monitoring.append(_check(checker, job, MONITORING_STREAM, pid))
    decode_cpu = statistics.median(d["cpu_s"] for d in decodes)
    return {
        "url": url, "window_s": window, "runs": runs,
        "worker_start_cpu_s": round(start_cpu, 3), "warmup_wall_s": round(warm_wall, 2),
        "check": _summary(checks, decode_cpu),
        "monitoring_check": _summary(monitoring, decode_cpu),
        "ffmpeg_cpu_s_median": round(decode_cpu, 4),
        "ffmpeg_cpu_s_runs": [round(d["cpu_s"], 4) for d in decodes],
        "ffmpeg_wall_s_median": round(statistics.median(d["wall_s"] for d in decodes), 2),
        "ffmpeg_cameras_per_core_at_60s": int(60.0 / decode_cpu),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="an existing 1080p25 H.264 RTSP stream instead of the lab server")
    parser.add_argument("--port", type=int, default=18655)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found (apt-get install ffmpeg)")
    server = None
    url = args.url
    if url is None:
        server, url = _start_lab_stream(args.port)
    try:
        figures = run(url, args.runs)
    finally:
        if server is not None:
            server.stop()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
