"""The worker's RTSP transport memory (issue #19): a UDP-only stream is not tried over TCP every interval.

Real worker, real exporter, the hostile RTSP server on 127.0.0.1 counting every SETUP
(udp-only answers SETUP over TCP with 461, udp-setup-silent never answers it).
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
from sitescout.probes.worker.kinds.stream import RETRY_TCP_EVERY, TransportMemory


@pytest.fixture(scope="module")
def server() -> Iterator[HostileRtspServer]:
    pytest.importorskip("cv2")
    with HostileRtspServer("127.0.0.1", 0) as srv:
        yield srv


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


def test_the_worker_reuses_udp_and_exposes_it(server: HostileRtspServer, tmp_path: Path) -> None:
    """After one TCP try per stream, the next checks go over UDP directly; /metrics names the transport."""
    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.scheduler import FileTargetSource, Worker

    modes = ["udp-only", "udp-setup-silent"]
    lines = ["defaults:", "  stream: {interval_s: 0.5, window_s: 1, timeout_s: 8}",
             "  link: {interval_s: 300, count: 1, timeout_s: 0.5}", "targets:", "  - site: lab", "    device: cam",
             "    ip: 127.0.0.1", "    streams:"]
    lines += [f"      - {{uri: '{server.url(m, 'reuse')}', profile: {m}, expected_fps: 15}}" for m in modes]
    targets = tmp_path / "targets.yml"
    targets.write_text("\n".join(lines) + "\n")
    worker = Worker(FileTargetSource(targets), poll_s=0.2)

    def setups(mode: str, lower: str) -> int:
        return sum(1 for m, t in server.setups if m == mode and t == lower)

    before = {(m, t): setups(m, t) for m in modes for t in ("tcp", "udp")}
    with serve_in_background(worker) as exporter:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and any(setups(m, "udp") - before[(m, "udp")] < 3 for m in modes):
            time.sleep(0.3)
        host, port = exporter.address
        metrics = _get(f"http://{host}:{port}/metrics")
        snap = worker.store.snapshot()
        latest = {key[3]: r for key, r in snap.latest.items() if key[0] == "stream"}
    for m in modes:
        udp, tcp = setups(m, "udp") - before[(m, "udp")], setups(m, "tcp") - before[(m, "tcp")]
        assert udp >= 3, (m, server.setups)
        assert tcp == 1, f"{m}: {tcp} SETUPs over TCP for {udp} checks over UDP (one expected: the first check)"
        assert latest[m].up and latest[m].info == {"transport": "udp"}, latest[m]
        assert f'sitescout_stream_info{{site="lab",device="cam",profile="{m}",transport="udp"}} 1.0' in metrics
    # A stream's transport is not taken for the camera's ONVIF identity (sitescout_camera_info's labels).
    assert snap.identity == {} and "sitescout_camera_info{" not in metrics, snap.identity


def test_probe_module_stream_negotiates_too(server: HostileRtspServer, tmp_path: Path) -> None:
    """/probe?module=stream runs the same check: a server that ignores SETUP over TCP is read over UDP."""
    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.scheduler import FileTargetSource, Worker

    targets = tmp_path / "targets.yml"
    targets.write_text("defaults:\n  stream: {interval_s: 300, window_s: 1, timeout_s: 8}\ntargets: []\n")
    worker = Worker(FileTargetSource(targets), poll_s=0.2)
    uri = server.url("udp-setup-silent", "probe")
    with serve_in_background(worker) as exporter:
        host, port = exporter.address
        body = _get(f"http://{host}:{port}/probe?module=stream&target={urllib.parse.quote(uri, safe='')}")
    assert "probe_success 1.0" in body, body
    assert 'sitescout_stream_info{transport="udp"} 1.0' in body, body


def test_transport_memory_retries_tcp_every_nth_check_and_after_a_failure() -> None:
    """The rule itself: UDP remembered after a fallback, TCP again on the Nth check and after a failure."""
    memory, key = TransportMemory(), ("lab", "cam", "main", "rtsp://127.0.0.1/x")
    assert memory.choose(key) == "tcp"
    memory.record(key, "tcp", "udp", True)  # TCP refused, UDP worked
    chosen = []
    for _ in range(RETRY_TCP_EVERY):
        chosen.append(memory.choose(key))
        memory.record(key, chosen[-1], "udp", True)
    assert chosen == ["udp"] * (RETRY_TCP_EVERY - 1) + ["tcp"]
    memory.record(key, "udp", "udp", False)  # a failed check over UDP: next time TCP first again
    assert memory.choose(key) == "tcp"
    memory.record(key, "tcp", "tcp", True)
    assert memory.choose(key) == "tcp" and memory.remembered(key) is None


def test_a_udp_flood_is_bounded_in_the_worker(server: HostileRtspServer, tmp_path: Path) -> None:
    """The worker's check of a UDP flood (a never-ending H.264 picture) is cut at its memory cap, in time."""
    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.scheduler import FileTargetSource, Worker

    targets = tmp_path / "targets.yml"
    targets.write_text("defaults:\n  stream: {interval_s: 2, window_s: 2, timeout_s: 8}\n"
                       "  link: {interval_s: 300, count: 1, timeout_s: 0.5}\ntargets:\n"
                       "  - site: lab\n    device: cam\n    ip: 127.0.0.1\n    streams:\n"
                       f"      - {{uri: '{server.url('udp-flood', 'w')}', profile: flood}}\n")
    worker = Worker(FileTargetSource(targets), poll_s=0.2)
    with serve_in_background(worker):
        deadline, got = time.monotonic() + 40, None
        while time.monotonic() < deadline and got is None:
            got = worker.store.snapshot().latest.get(("stream", "lab", "cam", "flood"))
            time.sleep(0.3)
    assert got is not None and not got.up and got.reason == "malformed", got
    assert got.detail is not None and got.detail.startswith("malformed: undecodable: the check grew"), got.detail
    assert got.duration_s < 8, got.duration_s
