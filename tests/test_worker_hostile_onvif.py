"""`sitescout worker` probing the ONVIF identity of hostile cameras: scrapes stay fast, each probe ends within
its timeout + 1 s, errors are counted by reason, memory stays bounded (against a worker probing healthy
cameras only), and the healthy camera among them is still identified.

Loopback only, no root: simulated cameras on 127.0.0.0/8 high ports, two worker processes side by side.
WS-Discovery and snapshot modes do not apply here: the worker neither discovers nor fetches snapshots
(``MONITORING_STREAM`` has ``snapshot=False``).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families


PY = sys.executable
GOOD = "hikvision_ds2cd2012i"
TIMEOUT_S = 3.0
INTERVAL_S = 2.0
RUN_S = 14.0
# mode -> the reason the worker must count (None: identified, onvif_up 1).
MODES: dict[str, str | None] = {
    "hang": "timeout", "slow": "timeout", "bomb": "malformed", "xxe": "malformed", "huge": "malformed",
    "huge_chunked": "malformed", "garbage": "malformed", "bad_utf8": None, "utf16decl": None, "soap11": None,
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


_CAMERAS = """
import json, signal, sys, threading
from sitescout.infra.lab.camera import CameraServer
cams = []
for persona, ip, port, hostile in json.loads(sys.argv[1]):
    cam = CameraServer(persona, ip, onvif_port=port, rtsp_port=8554, discovery="off", hostile=hostile)
    cam.start()
    cams.append(cam)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
print("ready", flush=True)
done.wait()
for cam in cams:
    cam.stop()
"""


class _Cam:
    """One simulated camera served by a camera-group process."""

    def __init__(self, hostile: str | None) -> None:
        self.hostile = hostile
        self.persona = GOOD if hostile in (None, "bad_utf8", "utf16decl", "soap11") else "axis_q6045e"
        self.ip = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
        self.port = _free(self.ip)

    @property
    def device_url(self) -> str:
        return f"http://{self.ip}:{self.port}/onvif/device_service"


def _start_group(cams: list[_Cam]) -> subprocess.Popen[str]:
    """Serve the cameras from a process of their own: hostile senders must not starve the worker's timing
    through the test process's GIL, nor the healthy cameras through theirs."""
    spec = json.dumps([(c.persona, c.ip, c.port, c.hostile) for c in cams])
    proc = subprocess.Popen([PY, "-c", _CAMERAS, spec], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert (proc.stdout.readline() if proc.stdout else "").startswith("ready")
    return proc


def _targets(path: Path, cameras: dict[str, _Cam]) -> None:
    lines = [f"defaults:\n  onvif: {{interval_s: {INTERVAL_S:g}, timeout_s: {TIMEOUT_S:g}}}\n"
             "  link: {interval_s: 30, count: 2, echo_interval_s: 0.01, timeout_s: 0.3}\ntargets:\n"]
    for name, cam in cameras.items():
        lines.append(f"  - {{site: zoo, device: {name}, ip: {cam.ip}, onvif: '{cam.device_url}'}}\n")
    path.write_text("".join(lines))


def _start_worker(targets: Path, spool: Path) -> tuple[subprocess.Popen[str], str]:
    log = targets.with_suffix(".log")
    with open(log, "w") as err:
        proc = subprocess.Popen([PY, "-m", "sitescout", "worker", "--targets", str(targets), "--listen",
                                 "127.0.0.1:0", "--observations-spool", str(spool), "--flush-interval", "1"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready"), f"worker did not start: {line!r} {log.read_text()[-2000:]}"
    return proc, line.split()[1]


def _scrape(url: str) -> tuple[float, Samples]:
    started = time.monotonic()
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    elapsed = time.monotonic() - started
    out: Samples = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return elapsed, out


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


@pytest.fixture
def cameras() -> Iterator[tuple[dict[str, _Cam], dict[str, _Cam]]]:
    hostile = {"healthy": _Cam(None), **{mode: _Cam(mode) for mode in MODES}}
    baseline = {f"healthy{i}": _Cam(None) for i in range(len(hostile))}
    groups = [_start_group(list(hostile.values())), _start_group(list(baseline.values()))]
    try:
        yield hostile, baseline
    finally:
        for proc in groups:
            proc.send_signal(signal.SIGTERM)
        for proc in groups:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_worker_probes_hostile_cameras_within_bounds(cameras, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hostile, baseline = cameras
    workers = {}
    for name, cams in (("hostile", hostile), ("baseline", baseline)):
        targets = tmp_path / f"{name}.yml"
        _targets(targets, cams)
        workers[name] = (*_start_worker(targets, tmp_path / f"{name}.jsonl"), tmp_path / f"{name}.jsonl")
    hostile_proc, url, spool = workers["hostile"]
    try:
        scrape_times: list[float] = []
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline:
            elapsed, samples = _scrape(url)
            scrape_times.append(elapsed)
            time.sleep(0.25)
        _, base_samples = _scrape(workers["baseline"][1])
        hwm = {name: _status_kb(proc.pid, "VmHWM") for name, (proc, _, _) in workers.items()}
    finally:
        for proc, _, _ in workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _, _ in workers.values():
            proc.wait(15)
    print(f"\nworker peak RSS: hostile {hwm['hostile'] / 1024:.1f} MB, baseline {hwm['baseline'] / 1024:.1f} MB; "
          f"{len(scrape_times)} scrapes, slowest {max(scrape_times) * 1000:.0f} ms")
    # Scrapes kept being answered, fast, while every hostile probe ran.
    assert len(scrape_times) >= RUN_S / 1.0 and max(scrape_times) < 1.0, scrape_times
    assert hwm["hostile"] - hwm["baseline"] < 100 * 1024, hwm
    assert hostile_proc.returncode == 0

    observations = [json.loads(line) for line in spool.read_text().splitlines()]
    onvif = [o for o in observations if o["kind"] == "onvif"]
    by_device: dict[str, list[dict]] = {}
    for o in onvif:
        by_device.setdefault(o["device"], []).append(o)
    for device in ["healthy", *MODES]:
        probes = by_device.get(device, [])
        assert len(probes) >= 2, (device, probes)  # probed again and again, not stuck on the first one
        # Each probe ended within its timeout + 1 s.
        assert max(o["duration_s"] for o in probes) <= TIMEOUT_S + 1.0, (device, probes)
        want = MODES.get(device)
        if want is None:
            assert all(o["up"] for o in probes), (device, probes)
            assert probes[-1]["info"]["model"], probes[-1]
        else:
            assert all(not o["up"] and o["reason"] == want for o in probes), (device, probes)
        line = f"{device}: {len(probes)} probes, max {max(o['duration_s'] for o in probes):.2f} s, " \
               f"{'up' if want is None else 'reason=' + want}"
        print(line)

    # The error counters by reason agree with the observations.
    for reason in ("timeout", "malformed"):
        key = ("sitescout_probe_errors_total", (("kind", "onvif"), ("reason", reason)))
        expected = sum(1 for o in onvif if o["reason"] == reason)
        assert samples[key] >= expected - len(MODES), (reason, samples[key], expected)
        assert samples[key] >= 2 * sum(1 for r in MODES.values() if r == reason)
    dev = (("device", "healthy"), ("site", "zoo"))
    assert samples[("sitescout_onvif_up", dev)] == 1.0
    for mode, reason in MODES.items():
        assert samples[("sitescout_onvif_up", (("device", mode), ("site", "zoo")))] == (1.0 if reason is None else 0.0)
    assert all(v == 1.0 for (n, _), v in base_samples.items() if n == "sitescout_onvif_up")
