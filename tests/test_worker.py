"""The worker against a lab site (frozen stream, impaired link, hung camera), shards, and reloads.

Lab: the scanner 198.51.100.2 runs ``sitescout worker`` listening on its lab address;
scrapes come from the impaired host's namespace (never from the root namespace).
cam0 (Hikvision persona) serves a frozen RTSP stream; cam1 (Axis persona) hangs
every ONVIF request; imp answers echoes after 20 ms and drops 30 %.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sitescout.infra.lab.netns import LabHost, LabSite
from sitescout.infra.lab.personas import load_persona
from sitescout.infra.lab.rtsp import gstreamer_available
from sitescout.infra.lab.scenario import SCANNER_IP, SurveyLab, build_survey_lab
from sitescout.probes.worker.exporter import serve_in_background
from sitescout.probes.worker.scheduler import FileTargetSource, Worker

PY = sys.executable
PORT = 9110
SITE = "Thôn Đồng Bùa"
PASSWORD = "cam-secret-5512"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

_SCRAPE = """
import sys, time, urllib.request
t = time.monotonic()
body = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(time.monotonic() - t)
sys.stdout.write(body)
"""


def _parse(text: str) -> Samples:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(client: LabHost, url: str) -> tuple[float, Samples]:
    cp = client.run([PY, "-c", _SCRAPE, url], timeout=30)
    assert cp.returncode == 0, cp.stderr
    elapsed, _, body = cp.stdout.partition("\n")
    return float(elapsed), _parse(body)


def _dev(device: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"site": SITE, "device": device, **extra}.items()))


def _start_worker(host: LabHost, targets: Path, listen: str, *extra: str) -> subprocess.Popen[str]:
    log = targets.with_name(f"worker-{listen.replace(':', '-')}.log")
    with open(log, "w") as err:  # a file, not a pipe nobody reads: the worker never blocks on its log
        proc = host.popen([PY, "-m", "sitescout", "-vv", "worker", "--targets", str(targets), "--listen", listen,
                           *extra], stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready"), f"worker did not start: {line!r} {log.read_text()[-2000:]}"
    return proc


@dataclass
class Lab:
    log: Path
    lab: SurveyLab
    client: LabHost
    worker: subprocess.Popen[str]
    stream_uri: str
    persona: dict


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns

    skip_unless_netns()
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    tmp = tmp_path_factory.mktemp("worker")
    with LabSite() as site:
        lab = build_survey_lab(site, ["hikvision_ds2cd2012i", "axis_q6045e"], rtsp=True,
                               stream_behaviour={0: "frozen"}, hostile={1: "hang"},
                               credentials={0: ("admin", PASSWORD)})
        try:
            imp = site.add_host("imp", "198.51.100.120/24")
            responder = imp.popen([PY, "-m", "sitescout.infra.lab.echo_responder", "--delay-ms", "20",
                                   "--loss", "0.3", "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
            assert (responder.stdout.readline() if responder.stdout else "").startswith("ready")
            cam0, cam1 = lab.cameras
            persona = load_persona(cam0.persona).expected_identity(ip=cam0.ip)
            stream_uri = persona["profiles"][0]["stream_uri"]
            targets = tmp / "targets.yml"
            targets.write_text(f"""
defaults:
  link: {{interval_s: 2, count: 20, echo_interval_s: 0.02, timeout_s: 0.5}}
  stream: {{interval_s: 8, window_s: 2.5, timeout_s: 8}}
  onvif: {{interval_s: 3, timeout_s: 2}}
targets:
  - site: "{SITE}"
    device: cam-frozen
    ip: {cam0.ip}
    onvif: http://{cam0.ip}/onvif/device_service
    streams:
      - uri: "{stream_uri}"
        profile: main
        expected_fps: 10
  - site: "{SITE}"
    device: cam-hung
    ip: {cam1.ip}
    onvif: http://{cam1.ip}/onvif/device_service
  - site: "{SITE}"
    device: impaired
    ip: 198.51.100.120
    kind: host
""")
            creds = tmp / "cameras.toml"
            creds.write_text(f'[[credentials]]\nusername = "admin"\npassword = "{PASSWORD}"\n')
            worker = _start_worker(lab.scanner, targets, f"{SCANNER_IP}:{PORT}", "--credentials", str(creds))
            yield Lab(tmp / f"worker-{SCANNER_IP}-{PORT}.log", lab, imp, worker, stream_uri, persona)
        finally:
            lab.close()


def _wait(lab: Lab, predicate, timeout_s: float = 30.0) -> tuple[list[float], Samples]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    times: list[float] = []
    while True:
        elapsed, s = _scrape(lab.client, f"http://{SCANNER_IP}:{PORT}/metrics")
        times.append(elapsed)
        if predicate(s):
            return times, s
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(0.5)


@pytest.mark.netns
@pytest.mark.gstreamer
def test_frozen_stream_is_reported(lab: Lab) -> None:
    main = _dev("cam-frozen", profile="main")
    _, s = _wait(lab, lambda s: s.get(("sitescout_stream_open_seconds", main), 0) > 0)
    assert s[("sitescout_stream_up", main)] == 1.0
    assert s[("sitescout_stream_frozen", main)] == 1.0
    assert s[("sitescout_stream_black", main)] == 0.0
    assert s[("sitescout_stream_expected_fps", main)] == 10.0
    assert s[("sitescout_stream_fps", main)] > 5
    assert (s[("sitescout_stream_width_pixels", main)], s[("sitescout_stream_height_pixels", main)]) == (1280, 720)


@pytest.mark.netns
@pytest.mark.gstreamer
def test_impaired_link_shows_loss_and_rtt(lab: Lab) -> None:
    imp = _dev("impaired")
    _, s = _wait(lab, lambda s: s.get(("sitescout_link_rtt_seconds_count", imp), 0) >= 20)
    assert 0.05 < s[("sitescout_link_loss_ratio", imp)] < 0.7
    assert s[("sitescout_device_up", imp)] == 1.0
    # Every echo answered took 20 ms (plus scheduling delay on a busy lab): none under 10 ms, all under 100 ms.
    assert s[("sitescout_link_rtt_seconds_bucket", tuple(sorted((*imp, ("le", "0.01")))))] == 0
    assert s[("sitescout_link_rtt_seconds_bucket", tuple(sorted((*imp, ("le", "0.1")))))] == \
        s[("sitescout_link_rtt_seconds_count", imp)]
    assert s[("sitescout_link_loss_ratio", _dev("cam-frozen"))] == 0.0


@pytest.mark.netns
@pytest.mark.gstreamer
def test_hung_camera_is_a_timeout_and_scrapes_stay_fast(lab: Lab) -> None:
    hung = _dev("cam-hung")
    timeout = (("kind", "onvif"), ("reason", "timeout"))
    times, s = _wait(lab, lambda s: s.get(("sitescout_probe_errors_total", timeout), 0) >= 2)
    assert s[("sitescout_onvif_up", hung)] == 0.0
    assert s[("sitescout_device_up", hung)] == 1.0  # its link is fine; only ONVIF hangs
    assert max(times) < 1.0, times
    # Each ONVIF probe ended within its 2 s timeout + 1 s.
    assert s[("sitescout_probe_duration_seconds_bucket", (("kind", "onvif"), ("le", "5.0")))] == \
        s[("sitescout_probe_duration_seconds_count", (("kind", "onvif"),))]


@pytest.mark.netns
@pytest.mark.gstreamer
def test_camera_info_from_the_persona(lab: Lab) -> None:
    p = lab.persona
    info = _dev("cam-frozen", manufacturer=p["manufacturer"], model=p["model"], firmware=p["firmware"])
    _, s = _wait(lab, lambda s: s.get(("sitescout_onvif_up", _dev("cam-frozen")), 0) == 1.0)
    assert s[("sitescout_camera_info", info)] == 1.0
    assert abs(s[("sitescout_onvif_clock_offset_seconds", _dev("cam-frozen"))]) < 2.0
    assert ("sitescout_camera_info", _dev("cam-hung", manufacturer="", model="", firmware="")) in s


@pytest.mark.netns
@pytest.mark.gstreamer
def test_camera_password_never_in_metrics_or_logs(lab: Lab) -> None:
    _wait(lab, lambda s: s.get(("sitescout_stream_open_seconds", _dev("cam-frozen", profile="main")), 0) > 0)
    cp = lab.client.run([PY, "-c", _SCRAPE, f"http://{SCANNER_IP}:{PORT}/metrics"], timeout=30)
    probe = lab.client.run([PY, "-c", _SCRAPE, f"http://{SCANNER_IP}:{PORT}/probe?module=stream&target="
                            + lab.stream_uri.replace("&", "%26")], timeout=30)
    assert "probe_success 1.0" in probe.stdout, probe.stdout  # the worker's credentials opened it
    log = lab.log.read_text()
    assert "stream" in log and "onvif" in log.lower()  # -vv: the log has the probes' details
    for text in (cp.stdout, probe.stdout, log):
        assert PASSWORD not in text


# ---------------------------------------------------------------------------
# Shards.


@pytest.mark.netns
def test_two_shards_probe_every_target_exactly_once(lab_site: LabSite, tmp_path: Path) -> None:
    scanner = lab_site.add_scanner(f"{SCANNER_IP}/24")
    hosts = [lab_site.add_host(f"h{i}", f"198.51.100.{20 + i}/24") for i in range(4)]
    devices = [(f"site-{i % 3}", f"dev-{i}", f"198.51.100.{20 + i % 4}") for i in range(12)]
    targets = tmp_path / "targets.yml"
    targets.write_text("defaults:\n  link: {interval_s: 1, count: 3, echo_interval_s: 0.01, timeout_s: 0.3}\n"
                       "targets:\n" + "".join(f"  - {{site: {s}, device: {d}, ip: {ip}}}\n" for s, d, ip in devices))
    spools = [tmp_path / f"shard{k}.jsonl" for k in (1, 2)]
    workers = [_start_worker(scanner, targets, f"127.0.0.1:{9120 + k}", "--shard", f"{k}/2",
                             "--observations-spool", str(spools[k - 1])) for k in (1, 2)]
    seen: list[dict[tuple[str, str], float]] = []
    for k in (1, 2):
        deadline = time.monotonic() + 20
        while True:
            _, s = _scrape(scanner, f"http://127.0.0.1:{9120 + k}/metrics")
            ups = {(dict(lab)["site"], dict(lab)["device"]): v for (n, lab), v in s.items()
                   if n == "sitescout_device_up"}
            if ups and all(ups.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert s[("sitescout_worker_targets", (("shard", f"{k}/2"),))] == len(ups)
        seen.append(ups)
    for w in workers:  # SIGTERM: the spool is flushed on the way out
        w.send_signal(signal.SIGTERM)
        w.wait(15)
    assert set(seen[0]).isdisjoint(seen[1])
    assert set(seen[0]) | set(seen[1]) == {(s, d) for s, d, _ in devices}
    assert all(v == 1.0 for ups in seen for v in ups.values())
    probed = [{(o["site"], o["device"]) for o in map(json.loads, p.read_text().splitlines())} for p in spools]
    assert probed[0] == set(seen[0]) and probed[1] == set(seen[1])
    assert hosts  # every address answered (device_up 1 above)


# ---------------------------------------------------------------------------
# Reload (loopback only).


def _samples_of(worker: Worker) -> Samples:
    from sitescout.probes.worker.exporter import SitescoutCollector

    return _parse(SitescoutCollector(worker.store).render().decode())


def test_bad_file_keeps_last_good_config_until_fixed(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    path = tmp_path / "targets.yml"
    good = "targets:\n  - {site: loop, device: a, ip: 127.0.0.1}\n"
    path.write_text(good)
    worker = Worker(FileTargetSource(path), poll_s=0.1)
    with serve_in_background(worker) as exporter:
        base = "http://%s:%d" % exporter.address
        assert _samples_of(worker)[("sitescout_config_last_reload_successful", ())] == 1.0
        path.write_text(good + "  - {site: loop, device: b, ip: 127.0.0.300}\n")
        deadline = time.monotonic() + 5
        while _samples_of(worker)[("sitescout_config_last_reload_successful", ())] != 0.0:
            assert time.monotonic() < deadline, "the broken file was not noticed"
            time.sleep(0.05)
        s = _samples_of(worker)
        assert [d for (n, lab), _ in s.items() if n == "sitescout_device_up" for k, d in lab if k == "device"] == ["a"]
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(f"{base}/-/reload", method="POST"), timeout=10)
        assert info.value.code == 500
        assert info.value.read().decode().strip() == \
            f"{path}:3: targets[2].ip: '127.0.0.300' is not an IPv4 or IPv6 address"
        path.write_text(good + "  - {site: loop, device: b, ip: 127.0.0.2}\n")
        deadline = time.monotonic() + 5
        while _samples_of(worker)[("sitescout_config_last_reload_successful", ())] != 1.0:
            assert time.monotonic() < deadline, "the fixed file was not picked up"
            time.sleep(0.05)
        s = _samples_of(worker)
        assert s[("sitescout_worker_targets", (("shard", "1/1"),))] == 2.0
        assert s[("sitescout_config_last_reload_success_timestamp_seconds", ())] > time.time() - 10


def test_sighup_reloads_and_a_bad_file_is_logged_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "targets.yml"
    path.write_text("targets:\n  - {site: loop, device: a, ip: 127.0.0.1}\n")
    proc = subprocess.Popen([PY, "-m", "sitescout", "worker", "--targets", str(path), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline() if proc.stdout else ""
        assert ready.startswith("ready"), proc.stderr.read() if proc.stderr else ""
        url = ready.split()[1]
        path.write_text("targets:\n  - {site: loop, device: a, ip: 127.0.0.1, colour: red}\n")
        proc.send_signal(signal.SIGHUP)
        import urllib.request

        deadline = time.monotonic() + 5
        while True:
            s = _parse(urllib.request.urlopen(url, timeout=10).read().decode())
            if s[("sitescout_config_last_reload_successful", ())] == 0.0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"{path}:2: targets[1]: unknown key 'colour'" in err
