"""A real Prometheus (Debian's package) scrapes a real `sitescout worker` in the lab, with the shipped rules.

One lab site, one worker and one Prometheus are shared by the module (1 s scrape and evaluation). Every alert's
expression becomes true for its lab fault (alert state pending or firing: long `for:` durations are the promtool
unit tests' business) and false again when the fault is removed; every dashboard query returns data; two
sharded workers probe every target exactly once.  Everything runs inside the scanner's network namespace:
the worker listens on the scanner's lab address, Prometheus on the namespace's own loopback, and the test
talks to both through a small HTTP helper process started in that namespace.
"""

from __future__ import annotations

import dataclasses
import json
import re
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import yaml

from sitescout.infra.lab.netns import stop_process_group

from test_dashboards import dashboards, panel_queries, prometheus_regex_escape, substitute, variable_queries

pytestmark = [pytest.mark.netns, pytest.mark.gstreamer]

ROOT = Path(__file__).resolve().parents[1]
RULES = [ROOT / "infra" / "prometheus" / "rules" / "sitescout-recording.yml",
         ROOT / "infra" / "prometheus" / "rules" / "sitescout-alerts.yml"]
PROMETHEUS = shutil.which("prometheus")
PY = sys.executable

SCANNER_IP = "198.51.100.2"
PROM_URL = "http://127.0.0.1:9090"  # the scanner namespace's own loopback
WORKER = f"{SCANNER_IP}:9110"
SHARDS = (f"{SCANNER_IP}:9111", f"{SCANNER_IP}:9112")
SD_URL = "http://127.0.0.1:9180/sd.json"  # stands in for the inventory's /sd/prometheus (same JSON shape)
EXAMPLE_CONFIG = ROOT / "infra" / "prometheus" / "prometheus.yml"
PROBE_JOB = "sitescout-probe-icmp"
STREAM_JOB = "sitescout-probe-stream"
#: Devices the example's /probe job watches (Prometheus-driven probing), by lab index: (camera, plain host).
PROBED = {"cam-0", "sw-0"}

SITE_A, SITE_B = "Thôn Đồng Bùa", "Hướng Đạo"
COORDS = {SITE_A: (21.5312, 105.3158), SITE_B: (21.4967, 105.2861)}
#: Cameras (index = lab camera index): persona, site, device. 0 stays healthy; each other one gets a fault.
CAMERAS = [
    ("hikvision_ds2cd2012i", SITE_A, "cam-0"),    # healthy reference
    ("hikvision_ds2df7276ael", SITE_A, "cam-1"),  # stream frozen
    ("hikvision_ds2cd2012i", SITE_A, "cam-2"),    # stream black
    ("hikvision_ds2df7276ael", SITE_A, "cam-3"),  # stream stalls
    ("hikvision_ds2cd2012i", SITE_A, "cam-4"),    # frame rate collapses
    ("dlink_dcs6511", SITE_B, "cam-5"),           # link dropped (interface down)
    ("univiewoem_gx728mf", SITE_B, "cam-6"),      # clock skewed
]
#: Plain hosts (index = lab plain host index): profile, site, device.
HOSTS = [("switch", SITE_B, "sw-0"),          # lossy link (echo responder drops 40 %)
         ("loudspeaker", SITE_B, "spk-1")]    # slow link (echo responder delays 400 ms)
#: Short intervals so faults show within seconds (the contract's lab settings).
DEFAULTS = {
    "link": {"interval_s": 2, "count": 5, "echo_interval_s": 0.1, "timeout_s": 1.0},
    "stream": {"interval_s": 4, "window_s": 2, "timeout_s": 8, "concurrency": 3},
    "onvif": {"interval_s": 3, "timeout_s": 3},
}
#: Which alert each fault must raise, on which device.
EXPECTED = {
    ("SitescoutStreamFrozen", "cam-1"), ("SitescoutStreamBlack", "cam-2"), ("SitescoutStreamDown", "cam-3"),
    ("SitescoutStreamFpsLow", "cam-4"), ("SitescoutCameraDown", "cam-5"), ("SitescoutCameraClockSkew", "cam-6"),
    ("SitescoutLinkLossHigh", "sw-0"), ("SitescoutLinkLatencyHigh", "spk-1"),
}

T = TypeVar("T")

# One JSON request per line in, one JSON answer per line out: HTTP from inside the namespace.
_HTTP_HELPER = r"""
import json, sys, urllib.error, urllib.request
for line in sys.stdin:
    req = json.loads(line)
    data = req["data"].encode() if req.get("data") is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(req["url"], data=data, method=req["method"]),
                                    timeout=req["timeout"]) as r:
            out = {"status": r.status, "body": r.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as e:
        out = {"status": e.code, "body": e.read().decode("utf-8", "replace")}
    except Exception as e:
        out = {"status": 0, "body": repr(e)}
    print(json.dumps(out), flush=True)
"""


class NsHttp:
    """HTTP client living in a lab namespace (each namespace has its own loopback)."""

    def __init__(self, host: Any) -> None:
        self._proc = host.popen(["/usr/bin/python3", "-I", "-c", _HTTP_HELPER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)

    def request(self, url: str, *, method: str = "GET", data: str | None = None,
                timeout: float = 5.0) -> tuple[int, str]:
        """Send one request; return (status, body); status 0 means no answer (body says why)."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps({"url": url, "method": method, "data": data, "timeout": timeout}) + "\n")
        self._proc.stdin.flush()
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout + 5)
        if not ready:
            raise RuntimeError(f"HTTP helper gave no answer for {url}")
        answer = json.loads(self._proc.stdout.readline())
        return answer["status"], answer["body"]

    def close(self) -> None:
        """Stop the helper."""
        _stop(self._proc)


_stop = stop_process_group


def wait_until(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout_s: float,
               interval_s: float = 0.5) -> tuple[T, float]:
    """Poll `probe()` until `ok(value)`; return (value, seconds waited) or fail with the last value."""
    start = time.monotonic()
    while True:
        value = probe()
        if ok(value):
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"{what}: not after {timeout_s:.0f} s; last: {value!r}")
        time.sleep(interval_s)


@dataclass
class Live:
    """The shared lab: site, worker(s), Prometheus and the namespace HTTP helper."""

    lab: Any
    tmp: Path
    http: NsHttp
    targets_file: Path
    worker: subprocess.Popen[Any] | None = None
    sd_server: subprocess.Popen[Any] | None = None
    prometheus: subprocess.Popen[Any] | None = None
    shard_workers: list[subprocess.Popen[Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: Each RTSP server's mounts as the lab built them (faults restart servers with changed copies).
    original_mounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why the worker refused the targets file's `sites:` section (coordinates), or "" when it took it.
    sites_refused: str = ""

    # -- Prometheus API -------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET a Prometheus API path and return its `data`."""
        status, body = self.http.request(f"{PROM_URL}{path}?{urlencode(params)}")
        assert status == 200, f"{path} {params}: HTTP {status}: {body[:300]}"
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; return its result vector."""
        return self.api("/api/v1/query", query=expr)["result"]

    def active_alerts(self) -> set[tuple[str, str]]:
        """Return (alertname, device or instance) of every sitescout alert pending or firing."""
        alerts = self.api("/api/v1/alerts")["alerts"]
        return {(a["labels"]["alertname"], a["labels"].get("device") or a["labels"].get("instance", ""))
                for a in alerts if a["labels"]["alertname"].startswith("Sitescout")
                and a["state"] in ("pending", "firing")}

    # -- workers ----------------------------------------------------------------------
    def start_worker(self, listen: str, targets: Path, *extra: str) -> subprocess.Popen[Any]:
        """Start `sitescout worker` in the scanner namespace and wait for /-/healthy."""
        log = open(self.tmp / f"worker-{listen.replace(':', '_')}.log", "a")
        proc = self.lab.scanner.popen([PY, "-m", "sitescout", "worker", "--targets", str(targets),
                                       "--listen", listen, *extra], stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def healthy() -> int:
            if proc.poll() is not None:
                pytest.fail(f"worker {listen} exited with {proc.returncode}: {self.worker_log(listen)}")
            return self.http.request(f"http://{listen}/-/healthy", timeout=2)[0]

        wait_until(f"worker {listen} healthy", healthy, lambda s: s == 200, 20, 0.2)
        return proc

    def worker_log(self, listen: str) -> str:
        """Return the tail of a worker's log."""
        path = self.tmp / f"worker-{listen.replace(':', '_')}.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def wait_quiet(self, timeout_s: float = 60) -> float:
        """Wait until every device answers, every stream works and no sitescout alert is pending or firing."""
        devices = len(CAMERAS) + len(HOSTS)
        streams = sum(1 for p, _, _ in CAMERAS if _stream_uri(p, "198.51.100.1"))

        def state() -> tuple[float, float, set[tuple[str, str]]]:
            up = self.query('sum(sitescout_device_up{job="sitescout-worker"})')
            ok = self.query('sum(sitescout:stream_ok{job="sitescout-worker"})')
            return (float(up[0]["value"][1]) if up else 0.0, float(ok[0]["value"][1]) if ok else 0.0,
                    self.active_alerts())

        _, waited = wait_until("lab healthy and quiet", state,
                               lambda s: s[0] == devices and s[1] == streams and not s[2], timeout_s)
        return waited


def _stream_uri(persona: str, ip: str) -> str | None:
    from sitescout.infra.lab.personas import load_persona

    uris = [p["stream_uri"] for p in load_persona(persona).expected_identity(ip=ip)["profiles"] if p["stream_uri"]]
    return uris[0] if uris else None


def _targets(lab: Any, *, streams: bool = True, sites: bool = True) -> dict[str, Any]:
    """Build the worker's targets file for the lab (contract format)."""
    targets: list[dict[str, Any]] = []
    for camera, (persona, site, device) in zip(lab.cameras, CAMERAS):
        entry: dict[str, Any] = {"site": site, "device": device, "ip": camera.ip, "kind": "camera",
                                 "onvif": f"http://{camera.ip}/onvif/device_service"}
        uri = _stream_uri(persona, camera.ip)
        server = next((s for s in lab.rtsp_servers if s.host == camera.ip), None)
        if streams and uri and server is not None:
            spec = next(iter(server.mounts.values()))
            entry["streams"] = [{"uri": uri, "profile": "Profile_1", "expected_fps": spec.fps,
                                 "expected_width": spec.width, "expected_height": spec.height}]
        targets.append(entry)
    for host, (_profile, site, device) in zip(lab.plain_hosts, HOSTS):
        targets.append({"site": site, "device": device, "ip": host.host.ip, "kind": "host"})
    doc: dict[str, Any] = {"defaults": DEFAULTS}
    if sites:
        doc["sites"] = {s: {"latitude": lat, "longitude": lon} for s, (lat, lon) in COORDS.items()}
    doc["targets"] = targets
    return doc


def _write_targets(lab: Any, path: Path, **kw: bool) -> str:
    """Write the targets file; return why the worker refuses its `sites:` section ("" when accepted)."""
    path.write_text(yaml.safe_dump(_targets(lab, **kw), allow_unicode=True, sort_keys=False), encoding="utf-8")
    check = subprocess.run([PY, "-m", "sitescout", "worker", "--targets", str(path), "--check-config"],
                           capture_output=True, text=True, timeout=60)
    if check.returncode == 0:
        return ""
    if kw.get("sites", True) and "sites" in check.stderr + check.stdout:
        _write_targets(lab, path, **{**kw, "sites": False})
        return (check.stderr or check.stdout).strip()
    pytest.fail(f"the worker refuses the lab's targets file: {check.stderr or check.stdout}")


def _example_probe_job(name: str = PROBE_JOB, every: str = "3s", timeout: str = "3s") -> dict[str, Any]:
    """Return one of the example prometheus.yml's /probe jobs, pointed at the lab's SD file and worker."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    job = next(j for j in example["scrape_configs"] if j["job_name"] == name)
    job["http_sd_configs"] = [{"url": SD_URL, "refresh_interval": "1m"}]
    assert job["relabel_configs"][-1]["target_label"] == "__address__"
    job["relabel_configs"][-1]["replacement"] = WORKER
    job["scrape_interval"], job["scrape_timeout"] = every, timeout
    return job


def _prometheus_config(tmp: Path) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULES],
        "scrape_configs": [
            {"job_name": "sitescout-worker", "static_configs": [{"targets": [WORKER]}]},
            {"job_name": "sitescout-shard", "static_configs": [{"targets": list(SHARDS)}]},
            _example_probe_job(),
            _example_probe_job(STREAM_JOB, "10s", "8s"),
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _sd_groups(lab: Any) -> list[dict[str, Any]]:
    """http_sd groups for the probed devices, shaped like the inventory's /sd/prometheus answer."""
    groups = []
    for camera, (persona, site, device) in zip(lab.cameras, CAMERAS):
        labels = {"site": site, "device": device, "kind": "camera"}
        uri = _stream_uri(persona, camera.ip)
        if uri:  # as the inventory labels a camera's stored streams
            labels.update(__meta_sitescout_stream_1_uri=uri, __meta_sitescout_stream_1_profile="main")
        groups.append({"targets": [camera.ip], "labels": labels})
    for host, (_, site, device) in zip(lab.plain_hosts, HOSTS):
        groups.append({"targets": [host.host.ip], "labels": {"site": site, "device": device, "kind": "host"}})
    return [g for g in groups if g["labels"]["device"] in PROBED]


def _worker_available() -> tuple[bool, str]:
    done = subprocess.run([PY, "-m", "sitescout", "worker", "--help"], capture_output=True, text=True, timeout=60)
    return done.returncode == 0, (done.stderr or done.stdout).strip()[-300:]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns
    from sitescout.infra.lab.rtsp import gstreamer_available
    from sitescout.infra.lab.scenario import build_survey_lab

    skip_unless_netns()
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed (tests/run.sh installs it)")
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    ok, why = _worker_available()
    if not ok:
        pytest.skip(f"`sitescout worker --help` fails, the worker has not landed: {why}")
    tmp = tmp_path_factory.mktemp("prom-live")
    started = time.monotonic()
    site = LabSite()
    lab = http = None
    live_: Live | None = None
    try:
        lab = build_survey_lab(site, [p for p, _, _ in CAMERAS], [p for p, _, _ in HOSTS], rtsp=True)
        http = NsHttp(lab.scanner)
        targets = tmp / "targets.yml"
        refused = _write_targets(lab, targets)
        live_ = Live(lab, tmp, http, targets, sites_refused=refused)
        live_.worker = live_.start_worker(WORKER, targets)
        (tmp / "sd").mkdir()
        (tmp / "sd" / "sd.json").write_text(json.dumps(_sd_groups(lab)), encoding="utf-8")
        live_.sd_server = lab.scanner.popen(["/usr/bin/python3", "-m", "http.server", "9180", "--bind", "127.0.0.1",
                                             "--directory", str(tmp / "sd")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("http_sd file served", lambda: http.request(SD_URL, timeout=2)[0], lambda st: st == 200, 10, 0.1)
        prom_log = open(tmp / "prometheus.log", "w")
        live_.prometheus = lab.scanner.popen(
            [PROMETHEUS, f"--config.file={_prometheus_config(tmp)}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             "--web.listen-address=127.0.0.1:9090", "--web.enable-lifecycle", "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT)
        prom_log.close()
        wait_until("Prometheus ready", lambda: http.request(f"{PROM_URL}/-/ready", timeout=2)[0],
                   lambda s: s == 200, 30, 0.2)
        live_.timings["setup"] = time.monotonic() - started
        yield live_
    finally:
        if live_ is not None:
            for proc in [live_.prometheus, live_.worker, live_.sd_server, *live_.shard_workers]:
                _stop(proc)
        if http is not None:
            http.close()
        if lab is not None:
            lab.close()
        site.close()
        if live_ is not None:
            print(f"\nlive Prometheus timings (s): {json.dumps({k: round(v, 1) for k, v in live_.timings.items()})}")


# -- faults -------------------------------------------------------------------------------

def _set_stream(live: Live, index: int, behaviour: str = "normal", fps: int | None = None) -> None:
    """Restart camera `index`'s RTSP server with every mount behaving as asked (the lab cannot toggle live)."""
    ip = live.lab.cameras[index].ip
    server = next(s for s in live.lab.rtsp_servers if s.host == ip)
    original = live.original_mounts.setdefault(ip, dict(server.mounts))
    server.mounts = {path: dataclasses.replace(spec, behaviour=behaviour, fps=fps or spec.fps, stall_after_s=0.3)
                     for path, spec in original.items()}
    server.stop()
    server.start()


def _restart_camera(lab: Any, index: int, clock_skew_s: float) -> subprocess.Popen[Any]:
    """Replace camera `index`'s simulator by one whose clock is `clock_skew_s` off; return it once ready."""
    from sitescout.infra.lab.scenario import wait_ready

    camera = lab.cameras[index]
    pids = subprocess.run(["ip", "netns", "pids", camera.host.netns], capture_output=True, text=True,
                          timeout=10).stdout.split()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"sitescout.infra.lab.camera" in cmdline:  # the simulator the lab started for this camera
            os.kill(int(pid), signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)
    proc = camera.host.popen([PY, "-m", "sitescout.infra.lab.camera", "--persona", camera.persona,
                              "--ip", camera.ip, "--discovery", "off", "--mac", camera.host.mac,
                              "--endpoint-uuid", camera.endpoint.removeprefix("urn:uuid:"),
                              "--clock-skew", str(clock_skew_s)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready([(f"camera {camera.ip}", proc)])
    return proc


def _echo_responder(host: Any, *args: str) -> subprocess.Popen[Any]:
    proc = host.popen([PY, "-m", "sitescout.infra.lab.echo_responder", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith("ready"), "echo responder did not start"
    return proc


def _kernel_echo(host: Any) -> None:
    """Let the kernel answer echo requests again after an echo responder has gone."""
    done = host.run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0"])
    assert done.returncode == 0, done.stderr


# -- tests --------------------------------------------------------------------------------

def test_worker_scraped_and_lab_quiet(live: Live) -> None:
    """Every target is up, every stream works, and no alert is pending on a healthy lab."""
    live.timings["baseline"] = live.wait_quiet(timeout_s=60)
    up = live.query('up{job="sitescout-worker"}')
    assert [r["value"][1] for r in up] == ["1"]
    devices = {r["metric"]["device"] for r in live.query("sitescout_device_up")}
    assert devices == {d for _, _, d in CAMERAS} | {d for _, _, d in HOSTS}


def test_example_probe_job_drives_the_worker(live: Live) -> None:
    """The example config's http_sd + /probe relabelling, verbatim: each SD target is probed through the worker."""
    def rows() -> list[dict[str, Any]]:
        return live.query(f'probe_success{{job="{PROBE_JOB}"}}')

    found, waited = wait_until("/probe targets scraped", rows,
                               lambda r: len(r) == len(PROBED) and all(x["value"][1] == "1" for x in r), 30)
    live.timings["probe_job"] = waited
    expected = {(g["targets"][0], g["labels"]["site"], g["labels"]["device"]) for g in _sd_groups(live.lab)}
    assert {(r["metric"]["instance"], r["metric"]["site"], r["metric"]["device"]) for r in found} == expected
    loss = live.query(f'sitescout_link_loss_ratio{{job="{PROBE_JOB}"}}')
    assert {r["metric"]["device"] for r in loss} == PROBED and all(r["value"][1] == "0" for r in loss)


def test_example_stream_probe_job_checks_each_cameras_first_stream(live: Live) -> None:
    """The example stream job, verbatim: cameras with a stored stream are checked through /probe; hosts are not."""
    cameras = [g for g in _sd_groups(live.lab) if "__meta_sitescout_stream_1_uri" in g["labels"]]
    assert cameras, "the lab's probed camera has a stream"

    def rows() -> list[dict[str, Any]]:
        return live.query(f'sitescout_stream_up{{job="{STREAM_JOB}"}}')

    found, waited = wait_until("stream /probe targets scraped", rows,
                               lambda r: len(r) == len(cameras) and all(x["value"][1] == "1" for x in r), 60)
    live.timings["stream_probe_job"] = waited
    assert {(r["metric"]["instance"], r["metric"]["device"]) for r in found} == \
        {(g["targets"][0], g["labels"]["device"]) for g in cameras}
    fps = live.query(f'sitescout_stream_fps{{job="{STREAM_JOB}"}}')
    assert fps and all(float(r["value"][1]) > 1 for r in fps)


def test_every_alert_fires_for_its_fault_and_clears(live: Live) -> None:
    """Apply all lab faults at once; each alert's expression turns true; remove them; everything clears."""
    lab = live.lab
    live.wait_quiet()
    started = time.monotonic()
    responders: list[subprocess.Popen[Any]] = []
    try:
        _set_stream(live, 1, "frozen")
        _set_stream(live, 2, "black")
        _set_stream(live, 3, "stall")
        _set_stream(live, 4, fps=3)  # profile promises 10 fps
        cam5 = lab.cameras[5].host
        assert cam5.run(["ip", "link", "set", "eth0", "down"]).returncode == 0
        _restart_camera(lab, 6, clock_skew_s=90)
        responders.append(_echo_responder(lab.plain_hosts[0].host, "--loss", "0.4", "--seed", "7"))
        responders.append(_echo_responder(lab.plain_hosts[1].host, "--delay-ms", "400"))

        active, waited = wait_until("every fault's alert pending or firing", live.active_alerts,
                                    lambda a: EXPECTED <= a, 90)
        live.timings["faults_to_all_alerts"] = waited
        assert not {a for a in active if a[1] == "cam-0"}, f"healthy camera alerted: {active}"
    finally:
        for proc in responders:
            _stop(proc)
        for host in lab.plain_hosts:
            _kernel_echo(host.host)
        lab.cameras[5].host.run(["ip", "link", "set", "eth0", "up"])
        for index in (1, 2, 3, 4):
            _set_stream(live, index)
        _restart_camera(lab, 6, clock_skew_s=0)
    cleared = time.monotonic()
    live.timings["clear"] = live.wait_quiet(timeout_s=120)
    live.timings["fire_and_clear_total"] = time.monotonic() - started
    assert time.monotonic() - cleared < 120


def test_config_reload_failed_fires_and_clears(live: Live) -> None:
    """A broken targets file keeps the last good one and raises SitescoutConfigReloadFailed until fixed."""
    good = live.targets_file.read_text(encoding="utf-8")
    alert = ("SitescoutConfigReloadFailed", WORKER)
    try:
        live.targets_file.write_text(good.replace("targets:\n", "targets:\n- nonsense: [\n", 1), encoding="utf-8")
        live.http.request(f"http://{WORKER}/-/reload", method="POST", data="")
        _, waited = wait_until("SitescoutConfigReloadFailed pending", live.active_alerts, lambda a: alert in a, 30)
        live.timings["reload_failed"] = waited
        # The last good list is still probed.
        assert len(live.query('sitescout_device_up{job="sitescout-worker"} == 1')) == len(CAMERAS) + len(HOSTS)
    finally:
        live.targets_file.write_text(good, encoding="utf-8")
        live.http.request(f"http://{WORKER}/-/reload", method="POST", data="")
    wait_until("SitescoutConfigReloadFailed cleared", live.active_alerts, lambda a: alert not in a, 30)


#: The snmp kind's series (probes/worker/kinds/snmp.py).
_SNMP_SERIES = re.compile(r"\bsitescout[_:](?:interface|poe|snmp)_")  # and their recordings


def test_every_dashboard_query_returns_data(live: Live) -> None:
    """Read each dashboard, give its variables real values, run every expression: none comes back empty.

    Variables take Grafana's "All" (their allValue) when they have one; otherwise the values Prometheus
    offers are tried in order, as a user would pick them, until one choice fills every panel.
    """
    live.wait_quiet()
    checked = 0
    for name, dashboard in dashboards().items():
        variables = list(variable_queries(dashboard))
        all_values = {v["name"]: v["allValue"] for v in dashboard["templating"]["list"] if v.get("includeAll")}
        # Switch panels read the snmp kind's series; this lab runs no SNMP agent (those need network
        # namespaces): tests/test_worker_snmp.py scrapes them from real snmpd agents, and
        # tests/test_dashboards.py has promtool parse every query.
        queries = [(t, r, e) for t, r, e in panel_queries(dashboard)
                   if not (live.sites_refused and "sitescout_site_info" in e)  # the geomap test reports that gap
                   and not _SNMP_SERIES.search(e)]
        tried: list[str] = []

        def empty_panels(values: dict[str, str]) -> list[str]:
            return [f"{t} / {r}: {substitute(e, values)}" for t, r, e in queries
                    if not live.query(substitute(e, values))]

        def choose(values: dict[str, str], rest: list[tuple[str, str, str]]) -> dict[str, str] | None:
            if not rest:
                missing = empty_panels(values)
                tried.append(f"{values}: {missing}")
                return None if missing else values
            var, selector, label = rest[0]
            if var in all_values:
                return choose({**values, var: all_values[var]}, rest[1:])
            found = sorted({s[label] for s in live.api("/api/v1/series",
                                                        **{"match[]": substitute(selector, values)})})
            assert found, f"{name}: variable ${var} ({selector}) has no values"
            for value in found:
                chosen = choose({**values, var: prometheus_regex_escape(value)}, rest[1:])
                if chosen is not None:
                    return chosen
            return None

        chosen = choose({"datasource": "sitescout-prometheus"}, variables)
        assert chosen is not None, f"{name}: no choice of variables fills every panel:\n" + "\n".join(tried[-3:])
        checked += len(queries)
    assert checked >= 40


def test_geomap_rows_carry_site_coordinates(live: Live) -> None:
    """The overview's map query yields one row per site with latitude and longitude labels."""
    if live.sites_refused:
        pytest.fail("the worker does not take site coordinates (`sites:` in the targets file, exported as "
                    f"sitescout_site_info; see /work/notes/worker_contract.md): {live.sites_refused}")
    (geomap,) = [p for p in dashboards()["sitescout-overview"]["panels"] if p["type"] == "geomap"]
    rows = live.query(geomap["targets"][0]["expr"])
    got = {r["metric"]["site"]: (float(r["metric"]["latitude"]), float(r["metric"]["longitude"])) for r in rows}
    assert got == COORDS
    assert all(0 <= float(r["value"][1]) <= 1 for r in rows)


def test_worker_down_fires_and_clears(live: Live) -> None:
    alert = ("SitescoutWorkerDown", WORKER)
    _stop(live.worker)
    _, waited = wait_until("SitescoutWorkerDown pending", live.active_alerts, lambda a: alert in a, 30)
    live.timings["worker_down"] = waited
    live.worker = live.start_worker(WORKER, live.targets_file)
    wait_until("SitescoutWorkerDown cleared", live.active_alerts, lambda a: alert not in a, 30)


def test_two_shards_probe_every_target_exactly_once(live: Live) -> None:
    started = time.monotonic()
    targets = live.tmp / "targets-shards.yml"
    _write_targets(live.lab, targets, streams=False, sites=not live.sites_refused)
    for k, listen in enumerate(SHARDS, start=1):
        live.shard_workers.append(live.start_worker(listen, targets, "--shard", f"{k}/2"))
    everyone = {d for _, _, d in CAMERAS} | {d for _, _, d in HOSTS}

    def per_device() -> dict[str, int]:
        rows = live.query('count by (device) (sitescout_device_up{job="sitescout-shard"})')
        return {r["metric"]["device"]: int(r["value"][1]) for r in rows}

    counts, _ = wait_until("both shards scraped", per_device, lambda c: set(c) == everyone, 30)
    assert set(counts.values()) == {1}, counts
    by_worker = live.query('count by (instance) (sitescout_device_up{job="sitescout-shard"})')
    assert len(by_worker) == 2 and all(int(r["value"][1]) > 0 for r in by_worker), by_worker
    declared = live.query('sum(sitescout_worker_targets{job="sitescout-shard"})')
    assert float(declared[0]["value"][1]) == len(everyone)
    live.timings["shards"] = time.monotonic() - started
