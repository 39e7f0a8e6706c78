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
* ``worker start``: the CPU of the worker process once it says "ready" (interpreter, the
  child's imports, cv2; schedstat, ns), once per run.  A spawned worker also re-runs the
  imports of the parent's main *script* (not of a ``python -m`` module): this script
  imports sitescout only inside its functions, so the figure is the worker's own start.

Runs alternate (check, ffmpeg, monitoring check, check, ...) so all see the same machine load.
Run from the repository root::

    .venv/bin/python benchmarks/bench_stream_check.py [--runs 5] [--url rtsp://...] [--port 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported inside the functions: see "worker start" above
    from sitescout.probes.stream.check import StreamChecker, StreamJob
    from sitescout.probes.stream.config import StreamConfig

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


def _free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now (another run of this script may hold the default)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    from sitescout.probes.stream.check import StreamChecker, StreamJob
    from sitescout.probes.stream.config import DEFAULT_STREAM, MONITORING_STREAM

    window = DEFAULT_STREAM.window_s
    job = StreamJob(url, expected_fps=25, expected_size=(1920, 1080))
    checks: list[dict[str, float]] = []
    monitoring: list[dict[str, float]] = []
    decodes: list[dict[str, float]] = []
    with StreamChecker(1) as checker:
        t0 = time.monotonic()
        worker = checker._take()  # the worker, started and ready: its start-up alone
        if worker is None:
            raise RuntimeError("the stream-check worker did not start")
        ready_wall = time.monotonic() - t0
        ready_cpu = _proc_cpu_ns(worker[0].pid)
        checker._give_back(*worker)
        checker.check(StreamJob(url, 25, None))  # warm-up: the first check (FFmpeg's first open)
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
        "worker_ready_cpu_s": round(ready_cpu, 4), "worker_ready_wall_s": round(ready_wall, 2),
        "check": _summary(checks, decode_cpu),
        "monitoring_check": _summary(monitoring, decode_cpu),
        "ffmpeg_cpu_s_median": round(decode_cpu, 4),
        "ffmpeg_cpu_s_runs": [round(d["cpu_s"], 4) for d in decodes],
        "ffmpeg_wall_s_median": round(statistics.median(d["wall_s"] for d in decodes), 2),
        "ffmpeg_cameras_per_core_at_60s": int(60.0 / decode_cpu),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def watch_profile(rounds: int = 4, looks: int = 41) -> dict[str, Any]:
    """Split one wake-up of the parent's memory watch (`stream.memory.wait_reply`) into its parts.

    A sleeping child stands in for the worker and a pipe that never becomes readable for its
    reply, so every look runs to its timeout as in a healthy check (~41 looks in 4 s). Per look,
    thread CPU (`time.thread_time`), alternating rounds: the whole `wait_reply`; a bare
    ``poll`` timeout of the same period; that + the ``pread`` of the kept statm fd. No lab server.
    """
    import select

    from sitescout.probes.stream import memory
    from sitescout.probes.stream.memory import POLL_MAX_S, wait_reply

    # The clock's look is what is split here: a sleeping child never faults, so with the page-fault
    # counter (issue #17) it would be looked at only every TRIGGER_BACKSTOP_S.
    memory.FAULT_TRIGGER = False
    child = subprocess.Popen(["sleep", "600"])
    rfd, wfd = os.pipe()
    statm = os.open(f"/proc/{child.pid}/statm", os.O_RDONLY)
    poller = select.poll()
    poller.register(rfd, select.POLLIN)
    period_ms = POLL_MAX_S * 1000.0 * 0.975  # wait_reply's own period, less its ~2.5 % of Python and slack
    per: dict[str, list[float]] = {"wait_reply_us": [], "bare_poll_us": [], "poll_pread_us": []}
    try:
        for _ in range(rounds):
            t0 = time.thread_time()
            out = wait_reply(child.pid, rfd, looks * POLL_MAX_S, 200.0, None)
            per["wait_reply_us"].append((time.thread_time() - t0) / max(out.looks, 1) * 1e6)
            t0 = time.thread_time()
            for _ in range(looks):
                poller.poll(period_ms)
            per["bare_poll_us"].append((time.thread_time() - t0) / looks * 1e6)
            t0 = time.thread_time()
            for _ in range(looks):
                poller.poll(period_ms)
                int(os.pread(statm, 128, 0).split()[1])
            per["poll_pread_us"].append((time.thread_time() - t0) / looks * 1e6)
    finally:
        child.kill()
        child.wait()
        for fd in (rfd, wfd, statm):
            os.close(fd)
    result: dict[str, Any] = {k: round(statistics.median(v), 1) for k, v in per.items()}
    result.update({k.replace("_us", "_us_runs"): [round(x, 1) for x in v] for k, v in per.items()})
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def main() -> int:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="an existing 1080p25 H.264 RTSP stream instead of the lab server")
    parser.add_argument("--port", type=int, default=18655,
                        help="port of the lab RTSP server on 127.0.0.1 (0: a free one, so runs can overlap)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--watch-profile", action="store_true",
                        help="only split one wake-up of the parent's memory watch into its parts (~50 s, no stream)")
    args = parser.parse_args()
    if args.watch_profile:
        print(json.dumps(watch_profile(), indent=2))
        return 0
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found (apt-get install ffmpeg)")
    server = None
    url = args.url
    if url is None:
        server, url = _start_lab_stream(args.port or _free_port())
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
