"""The exporter: scrape-time collector (both writers agree), every series from the start, real HTTP on loopback."""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support import free_port

from sitescout.infra.lab.camera import CameraServer
from sitescout.probes.credentials import Credential
from sitescout.probes.worker.exporter import SitescoutCollector, probe_timeout_s, serve_in_background
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.probe_service import probe_exposition
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob, ProbeResult
from sitescout.probes.worker.records import StreamTarget, Target
from sitescout.probes.worker.scheduler import FileTargetSource, Worker
from sitescout.probes.worker.registry import KINDS
from sitescout.probes.worker.store import ResultStore

CAM = Target("Thôn Đồng Bùa", "cam-1", "127.0.0.1", "camera", "http://127.0.0.1:9/onvif/device_service", None,
             (StreamTarget("rtsp://127.0.0.1:9/live", "Profile_1", 25.0),))
HOST = Target("Hướng Đạo", 'sw"1\\x', "127.0.0.2", "host")

PER_DEVICE = ["sitescout_device_up", "sitescout_link_jitter_seconds", "sitescout_link_loss_ratio"]
PER_CAMERA = ["sitescout_onvif_up", "sitescout_onvif_clock_offset_seconds", "sitescout_camera_info"]
PER_STREAM = ["sitescout_stream_up", "sitescout_stream_fps", "sitescout_stream_expected_fps",
              "sitescout_stream_width_pixels", "sitescout_stream_height_pixels",
              "sitescout_stream_bitrate_bits_per_second", "sitescout_stream_frozen", "sitescout_stream_black",
              "sitescout_stream_open_seconds"]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _store_with_results() -> ResultStore:
    store = ResultStore("1/1")
    store.set_targets([CAM, HOST])
    store.record([
        ProbeResult(ProbeJob("link", CAM), True, duration_s=2.1, rtts_s=[0.0004, 0.0012, 0.03],
                    values={"loss_ratio": 0.25, "jitter_seconds": 0.002}),
        ProbeResult(ProbeJob("link", HOST), False, "unreachable", duration_s=3.0, values={"loss_ratio": 1.0}),
        ProbeResult(ProbeJob("onvif", CAM), True, duration_s=0.4, values={"clock_offset_seconds": -7.5},
                    info={"manufacturer": "HIKVISION", "model": "DS-2CD2012-I", "firmware": "V5.2.0"}),
        ProbeResult(ProbeJob("stream", CAM, CAM.streams[0]), True, duration_s=4.6,
                    values={"fps": 24.5, "expected_fps": 25.0, "frozen": 1.0, "bitrate_bits_per_second": 5e5}),
    ])
    return store


def test_both_writers_give_the_same_samples() -> None:
    store = _store_with_results()
    registry = CollectorRegistry(auto_describe=False)
    collector = SitescoutCollector(store)
    registry.register(collector)
    via_client = generate_latest(registry).decode()
    direct = collector.render().decode()
    assert _samples(via_client) == _samples(direct)
    assert "_created" not in via_client and "_created" not in direct


def test_values_from_results() -> None:
    s = _samples(SitescoutCollector(_store_with_results()).render().decode())
    cam = (("device", "cam-1"), ("site", "Thôn Đồng Bùa"))
    assert s[("sitescout_device_up", cam)] == 1.0
    assert s[("sitescout_device_up", (("device", 'sw"1\\x'), ("site", "Hướng Đạo")))] == 0.0
    assert s[("sitescout_link_loss_ratio", cam)] == 0.25
    assert s[("sitescout_link_rtt_seconds_bucket", tuple(sorted(cam + (("le", "0.0005"),))))] == 1.0
    assert s[("sitescout_link_rtt_seconds_bucket", tuple(sorted(cam + (("le", "0.025"),))))] == 2.0
    assert s[("sitescout_link_rtt_seconds_count", cam)] == 3.0
    assert s[("sitescout_onvif_clock_offset_seconds", cam)] == -7.5
    info = tuple(sorted(cam + (("manufacturer", "HIKVISION"), ("model", "DS-2CD2012-I"), ("firmware", "V5.2.0"))))
    assert s[("sitescout_camera_info", info)] == 1.0
    stream = tuple(sorted(cam + (("profile", "Profile_1"),)))
    assert s[("sitescout_stream_frozen", stream)] == 1.0 and s[("sitescout_stream_fps", stream)] == 24.5
    assert s[("sitescout_probe_errors_total", (("kind", "link"), ("reason", "unreachable")))] == 1.0
    assert s[("sitescout_probe_duration_seconds_count", (("kind", "stream"),))] == 1.0


def test_every_known_series_present_from_the_start() -> None:
    store = ResultStore("2/3")
    store.set_targets([CAM, HOST])
    store.record_reload(True)
    s = _samples(SitescoutCollector(store).render().decode())
    names = {n for n, _ in s}
    for name in PER_DEVICE:
        assert sum(1 for n, _ in s if n == name) == 2, name
    for name in PER_CAMERA + PER_STREAM:
        assert sum(1 for n, _ in s if n == name) == 1, name
    assert {"sitescout_link_rtt_seconds_bucket", "sitescout_probe_duration_seconds_bucket"} <= names
    errors = [(lab, v) for (n, lab), v in s.items() if n == "sitescout_probe_errors_total"]
    assert len(errors) == len(KINDS) * 6 and all(v == 0 for _, v in errors)
    expected = [v for (n, lab), v in s.items() if n == "sitescout_stream_expected_fps"]
    assert expected == [25.0]  # known from the targets file before any check
    assert s[("sitescout_worker_targets", (("shard", "2/3"),))] == 2.0
    assert s[("sitescout_config_last_reload_successful", ())] == 1.0
    unmeasured = [v for (n, _), v in s.items() if n in PER_DEVICE + PER_CAMERA[:2] + PER_STREAM
                  and n != "sitescout_stream_expected_fps"]
    assert unmeasured and all(v == 0 for v in unmeasured)


def test_probe_timeout_from_prometheus_header() -> None:
    assert probe_timeout_s("10") == 9.5
    assert probe_timeout_s(None) == 10.0
    assert probe_timeout_s("nonsense") == 10.0
    assert probe_timeout_s("0.3") == 0.1


def _via_fresh_registry(result: ProbeResult, elapsed_s: float) -> bytes:
    """What /probe answered before it wrote its lines directly: a CollectorRegistry per request."""
    registry = CollectorRegistry(auto_describe=False)

    def gauge(d: md.MetricDef, value: float, **labels: str) -> None:
        g = Gauge(d.name, d.help, list(labels), registry=registry)
        (g.labels(**labels) if labels else g).set(value)

    up = 1.0 if result.up else 0.0
    gauge(md.PROBE_SUCCESS, up)
    gauge(md.PROBE_ELAPSED, elapsed_s)
    v = result.values
    if result.job.kind == "link":
        gauge(md.DEVICE_UP, up)
        gauge(md.LINK_LOSS, v.get("loss_ratio", 1.0))
        gauge(md.LINK_JITTER, v.get("jitter_seconds", 0.0))
        gauge(md.LINK_RTT_AVERAGE, v.get("rtt_avg_seconds", 0.0))
        gauge(md.LINK_SENT, v.get("sent", 0.0))
    elif result.job.kind == "onvif":
        gauge(md.ONVIF_UP, up)
        gauge(md.ONVIF_CLOCK_OFFSET, v.get("clock_offset_seconds", 0.0))
        if result.info:
            gauge(md.CAMERA_INFO, 1.0, **result.info)
    elif result.job.kind == "stream":
        gauge(md.STREAM_UP, up)
        for key, d in md.STREAM_VALUES:
            gauge(d, v.get(key, 0.0))
    if result.reason:
        gauge(md.PROBE_FAILED, 1.0, reason=result.reason)
    return generate_latest(registry)


@pytest.mark.parametrize("result", [
    ProbeResult(ProbeJob("link", HOST), True, values={"loss_ratio": 0.2, "jitter_seconds": 1.5e-05,
                                                      "rtt_avg_seconds": 0.000123, "sent": 5.0}),
    ProbeResult(ProbeJob("link", HOST), False, "unreachable", values={"loss_ratio": 1.0, "sent": 5.0}),
    ProbeResult(ProbeJob("onvif", CAM), True, values={"clock_offset_seconds": -7.5},
                info={"manufacturer": 'HIK"VISION\\', "model": "DS-2CD2012-I\nx", "firmware": "V5.2.0"}),
    ProbeResult(ProbeJob("onvif", CAM), False, "timeout"),
    ProbeResult(ProbeJob("stream", CAM, CAM.streams[0]), True,
                values={"fps": 24.5, "frozen": 1.0, "width_pixels": 1920}),
], ids=["link", "link-down", "onvif", "onvif-timeout", "stream"])
def test_probe_reply_is_what_a_fresh_registry_gives(result: ProbeResult) -> None:
    # Written directly (no registry per request), byte for byte what prometheus_client writes.
    assert probe_exposition(result, 0.0123) == _via_fresh_registry(result, 0.0123)


# ---------------------------------------------------------------------------
# Real HTTP on loopback.


class _Silent:
    """A TCP server on 127.0.0.1 that accepts and never answers (a hung camera)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, _Silent, Worker]]:
    silent = _Silent()
    targets = tmp_path / "targets.yml"
    targets.write_text(f"""
defaults:
  link: {{interval_s: 1, count: 3, echo_interval_s: 0.02, timeout_s: 0.3}}
  onvif: {{interval_s: 1, timeout_s: 2}}
targets:
  - site: loop
    device: lo
    ip: 127.0.0.1
  - site: loop
    device: hung
    ip: 127.0.0.1
    onvif: http://127.0.0.1:{silent.port}/onvif/device_service
""")
    worker = Worker(FileTargetSource(targets), poll_s=0.2)
    with serve_in_background(worker) as exporter:
        host, port = exporter.address
        yield f"http://{host}:{port}", silent, worker
    silent.close()


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str, float]:
    started = time.monotonic()
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), time.monotonic() - started


def test_http_endpoints(served: tuple[str, _Silent, Worker]) -> None:
    base, _, _ = served
    assert _get(f"{base}/-/healthy")[:2] == (200, "Healthy\n")
    assert _get(f"{base}/-/reload")[0] == 405
    status, body, _ = _get(f"{base}/-/reload", method="POST")
    assert status == 200 and "2 target(s)" in body
    assert _get(f"{base}/nothing")[0] == 404
    status, body, _ = _get(f"{base}/metrics")
    assert status == 200 and "process_resident_memory_bytes" in body and "_created" not in body
    assert 'sitescout_device_up{site="loop",device="lo"}' in body


def test_keep_alive_replies_are_not_held_by_nagle(served: tuple[str, _Silent, Worker]) -> None:
    # Headers and body in separate small segments, without TCP_NODELAY, wait ~40 ms each for the
    # client's delayed ACK: that alone capped /probe at ~20 requests/s per connection.
    base, _, _ = served
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    times = []
    for path in ["/-/healthy", "/probe?target=127.0.0.1&module=icmp&count=2&interval=0"] * 10:
        started = time.monotonic()
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
        times.append(time.monotonic() - started)
    conn.close()
    assert statistics.median(times) < 0.02, times


def test_probe_icmp_and_tcp(served: tuple[str, _Silent, Worker]) -> None:
    base, silent, _ = served
    status, body, _ = _get(f"{base}/probe?target=127.0.0.1&module=icmp&count=5&interval=0.01")
    s = _samples(body)
    assert status == 200 and s[("probe_success", ())] == 1.0
    assert s[("sitescout_link_loss_ratio", ())] == 0.0 and s[("sitescout_link_sent_packets", ())] == 5.0
    assert ("sitescout_link_jitter_seconds", ()) in s
    assert s[("sitescout_device_up", ())] == 1.0  # the /metrics model's series, for the same alert rules
    status, body, _ = _get(f"{base}/probe?target=127.0.0.1:{silent.port}&module=tcp&count=2&interval=0")
    assert _samples(body)[("probe_success", ())] == 1.0
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    status, body, _ = _get(f"{base}/probe?target=127.0.0.1:{port}&module=tcp&count=2&interval=0")
    s = _samples(body)
    assert s[("probe_success", ())] == 0.0 and s[("sitescout_link_loss_ratio", ())] == 1.0
    assert s[("sitescout_probe_failed", (("reason", "unreachable"),))] == 1.0


def test_concurrent_icmp_probes_each_send_their_own_echoes(served: tuple[str, _Silent, Worker]) -> None:
    base, _, _ = served
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda i: _get(f"{base}/probe?target=127.0.0.{1 + i % 2}&module=icmp&count=4&interval=0"),
                            range(48)))
    for status, body, _ in got:
        s = _samples(body)
        assert status == 200 and s[("probe_success", ())] == 1.0
        assert s[("sitescout_link_sent_packets", ())] == 4.0 and s[("sitescout_link_loss_ratio", ())] == 0.0
        assert 0 < s[("sitescout_link_rtt_average_seconds", ())] < 0.5


def test_probe_bad_requests(served: tuple[str, _Silent, Worker]) -> None:
    base, _, _ = served
    assert _get(f"{base}/probe?module=icmp")[0] == 400
    status, body, _ = _get(f"{base}/probe?target=127.0.0.1&module=http_2xx")
    assert status == 400 and "unknown module" in body
    status, body, _ = _get(f"{base}/probe?target=rtsp://admin:pw-7781@127.0.0.1/live&module=stream")
    assert status == 400 and "pw-7781" not in body
    assert _get(f"{base}/probe?target=not-an-ip&module=icmp")[0] == 400


def test_probe_honours_scrape_timeout_on_a_hung_camera(served: tuple[str, _Silent, Worker]) -> None:
    base, silent, _ = served
    status, body, elapsed = _get(f"{base}/probe?target=http://127.0.0.1:{silent.port}/onvif/device_service"
                                 "&module=onvif", {"X-Prometheus-Scrape-Timeout-Seconds": "2.5"})
    s = _samples(body)
    assert status == 200 and s[("probe_success", ())] == 0.0
    assert s[("sitescout_probe_failed", (("reason", "timeout"),))] == 1.0
    assert elapsed < 2.5 + 0.5, elapsed


def test_scrapes_stay_fast_while_a_camera_hangs(served: tuple[str, _Silent, Worker]) -> None:
    base, _, worker = served
    deadline = time.monotonic() + 15
    times = []
    while time.monotonic() < deadline:
        status, body, elapsed = _get(f"{base}/metrics")
        times.append(elapsed)
        s = _samples(body)
        if s[("sitescout_probe_errors_total", (("kind", "onvif"), ("reason", "timeout")))] >= 1:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the hung camera's ONVIF probe never timed out")
    assert s[("sitescout_onvif_up", (("device", "hung"), ("site", "loop")))] == 0.0
    assert s[("sitescout_device_up", (("device", "lo"), ("site", "loop")))] == 1.0
    assert max(times) < 0.5, times
    result = worker.store.latest(("onvif", "loop", "hung", ""))
    assert result is not None and result.reason == "timeout"
    assert result.duration_s <= 2.0 + 1.0, result.duration_s  # its timeout + 1 s


def test_probe_sends_camera_credentials_only_to_configured_targets(tmp_path: Path) -> None:
    # /probe takes any address; the worker's passwords must not go to one it was not given.
    password = "pw-probe-only-known"
    port = free_port()
    cams = [CameraServer("hikvision_ds2cd2012i", ip, onvif_port=port, discovery="off",
                         credentials=("admin", password)) for ip in ("127.0.8.2", "127.0.8.3")]
    for cam in cams:
        cam.start()
    targets = tmp_path / "targets.yml"
    targets.write_text(f"""
defaults:
  onvif: {{interval_s: 600, timeout_s: 3}}
targets:
  - site: loop
    device: known
    ip: 127.0.8.2
    onvif: http://127.0.8.2:{port}/onvif/device_service
""")
    worker = Worker(FileTargetSource(targets), poll_s=0.2,
                    ctx=ProbeContext(credentials=[Credential("admin", password)]))
    try:
        with serve_in_background(worker) as exporter:
            host, eport = exporter.address
            got = {}
            for cam in cams:
                url = f"http://{cam.ip}:{port}/onvif/device_service"
                status, body, _ = _get(f"http://{host}:{eport}/probe?module=onvif&target={url}")
                assert status == 200
                got[cam.ip] = _samples(body)
    finally:
        for cam in cams:
            cam.stop()
    assert got["127.0.8.2"][("probe_success", ())] == 1.0
    known = {dict(k[1]).get("manufacturer") for k in got["127.0.8.2"] if k[0] == "sitescout_camera_info"}
    unknown = {dict(k[1]).get("manufacturer") for k in got["127.0.8.3"] if k[0] == "sitescout_camera_info"}
    assert known == {"HIKVISION"} and unknown <= {""}  # the identity needs the password it was not given
    assert cams[0].auth_log and all(entry["outcome"] == "ok" for entry in cams[0].auth_log)
    # Not one login attempt reached the unknown camera: only anonymous requests.
    assert all(entry["outcome"] == "missing" for entry in cams[1].auth_log), cams[1].auth_log


def test_refused_credentials_are_an_auth_error_not_a_camera_up(tmp_path: Path) -> None:
    # A camera that answers ONVIF but refuses every credential must show: down, reason auth.
    port = free_port()
    cam = CameraServer("hikvision_ds2cd2012i", "127.0.8.4", onvif_port=port, discovery="off",
                       credentials=("admin", "the-right-one"), clock_skew_s=30.0)
    cam.start()
    targets = tmp_path / "targets.yml"
    targets.write_text(f"""
defaults:
  onvif: {{interval_s: 1, timeout_s: 3}}
targets:
  - site: loop
    device: cam
    ip: 127.0.8.4
    onvif: http://127.0.8.4:{port}/onvif/device_service
""")
    worker = Worker(FileTargetSource(targets), poll_s=0.2,
                    ctx=ProbeContext(credentials=[Credential("admin", "wrong")]))
    try:
        with serve_in_background(worker) as exporter:
            host, eport = exporter.address
            deadline = time.monotonic() + 15
            while True:
                s = _samples(_get(f"http://{host}:{eport}/metrics")[1])
                if s.get(("sitescout_probe_errors_total", (("kind", "onvif"), ("reason", "auth"))), 0) >= 1:
                    break
                assert time.monotonic() < deadline, "no auth error counted for refused credentials"
                time.sleep(0.2)
    finally:
        cam.stop()
    assert s[("sitescout_onvif_up", (("device", "cam"), ("site", "loop")))] == 0.0
    assert 25 < s[("sitescout_onvif_clock_offset_seconds", (("device", "cam"), ("site", "loop")))] < 35  # still read
