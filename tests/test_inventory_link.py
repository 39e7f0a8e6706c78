"""The worker connected to a real inventory over HTTP: targets from /sd/prometheus, observations back.

The real web app (``create_app`` on a temporary SQLite inventory, seeded with the demo
commune) is served by werkzeug on 127.0.0.1:0; one demo camera points at a simulated
ONVIF camera on a loopback address.  ``sitescout worker --inventory`` runs as a subprocess.
A camera that came in through a survey (candidate accepted) has its stream served by the
MJPEG-over-HTTP lab server on another loopback address: the worker checks it from the
sd labels alone, and again when started from its targets cache with the inventory down.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import WebServer, wait_for

from sitescout.infra.lab.camera import CameraServer
from sitescout.infra.lab.mjpeg import MjpegHttpServer
from sitescout.infra.lab.rtsp import StreamSpec
from sitescout.inventory import store
from sitescout.inventory.db import Database, open_database
from sitescout.inventory.demo_data import attach_addresses, seed_demo
from sitescout.inventory.models import Device
from sitescout.probes.worker.inventory_link import HttpObservationSink, api_observation
from sitescout.probes.worker.inventory_targets import (
    InventoryError,
    InventoryTargetSource,
    TargetsCache,
    sites_from_groups,
    streams_from_labels,
    targets_from_groups,
)
from sitescout.probes.worker.records import SnmpTarget
from sitescout.probes.worker.spool import SpooledObservationQueue
from sitescout.probes.worker.scheduler import SinkUnavailable
from sitescout.web import create_app

PY = sys.executable
PASSWORD = "Right-Pa55word"
SETTINGS = """\
defaults:
  link: {interval_s: 1, count: 2, echo_interval_s: 0.1, timeout_s: 0.5}
  onvif: {interval_s: 2, timeout_s: 3}
  stream: {interval_s: 2, window_s: 1, timeout_s: 6}
"""


def _free_address() -> tuple[str, int]:
    ip = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return ip, sock.getsockname()[1]


@dataclass
class Inventory:
    database: Database
    web: WebServer
    camera: CameraServer
    camera_id: int
    token: str
    tmp: Path

    def health(self) -> dict[int, str]:
        with self.database.session() as session:
            return {d.id: d.health for d in store.list_devices(session)}

    def observations(self, device_id: int, kind: str) -> list[Any]:
        with self.database.session() as session:
            return store.device_observations(session, device_id, kind=kind, limit=500)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    tmp = tmp_path_factory.mktemp("inventory-link")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    ip, port = _free_address()
    camera = CameraServer("hikvision_ds2cd2012i", ip, onvif_port=port, rtsp_port=8554, discovery="unicast",
                          credentials=("admin", PASSWORD))
    camera.start()
    with database.session() as session:
        seed = seed_demo(session)
        camera_id = seed.camera_ids[0]
        attach_addresses(session, {camera_id: ip})
        # The sd target's ONVIF URL comes from the endpoint label: the simulated camera is on a high port.
        device = session.get(Device, camera_id)
        assert device is not None
        device.onvif_endpoint = camera.device_url
        token = store.create_token(session, "worker")
    web = WebServer(create_app({"DATABASE": database, "SITES_CACHE_SECONDS": 0}))
    web.start()
    (tmp / "token").write_text(token + "\n")
    (tmp / "settings.yaml").write_text(SETTINGS)
    (tmp / "credentials.toml").write_text(f'[[credentials]]\nusername = "admin"\npassword = "{PASSWORD}"\n')
    try:
        yield Inventory(database, web, camera, camera_id, token, tmp)
    finally:
        web.stop()
        camera.stop()
        database.close()


def _start_worker(inv: Inventory, *extra: str) -> tuple[subprocess.Popen[str], str, Path]:
    log = inv.tmp / f"worker-{time.monotonic_ns()}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [PY, "-m", "sitescout", "-vv", "worker", "--inventory", inv.web.url, "--token-file", str(inv.tmp / "token"),
             "--settings", str(inv.tmp / "settings.yaml"), "--credentials", str(inv.tmp / "credentials.toml"),
             "--listen", "127.0.0.1:0", "--refresh", "1", "--flush-interval", "0.5", *extra],
            stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready"):
        proc.kill()
        pytest.fail(f"worker did not start: {line!r} {log.read_text()[-3000:]}")
    return proc, line.split()[1], log


def _stop_worker(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _series(samples: dict[Any, float], name: str) -> dict[tuple[str, str], float]:
    return {(dict(labels)["site"], dict(labels)["device"]): v for (n, labels), v in samples.items() if n == name}


def test_worker_probes_the_inventory_devices_and_survives_an_inventory_outage(inventory: Inventory) -> None:
    with inventory.database.session() as session:
        groups = store.prometheus_targets(session)
        camera = next(
            g["labels"] for g in groups if g["labels"]["__meta_sitescout_device_id"] == str(inventory.camera_id)
        )
    assert len(groups) > 50
    before = inventory.health()
    assert before[inventory.camera_id] == "unknown"
    proc, metrics_url, log = _start_worker(inventory)
    try:
        # Every monitored device of the inventory is a target with its site and device labels.
        samples = _samples(metrics_url)
        up = _series(samples, "sitescout_device_up")
        assert set(up) == {(g["labels"]["site"], g["labels"]["device"]) for g in groups}
        # Only cameras get ONVIF series; the simulated camera answers through its endpoint label.
        onvif_up = _series(samples, "sitescout_onvif_up")
        kinds = {(g["labels"]["site"], g["labels"]["device"]): g["labels"]["kind"] for g in groups}
        assert onvif_up and all(kinds[key] == "camera" for key in onvif_up)
        key = (camera["site"], camera["device"])
        wait_for("ONVIF identity of the simulated camera",
              lambda: _series(_samples(metrics_url), "sitescout_onvif_up").get(key) == 1.0)

        # Observations arrive in the inventory: the camera's health leaves "unknown".
        wait_for("the camera's health in the inventory", lambda: inventory.health()[inventory.camera_id] == "ok")
        health = inventory.health()
        assert sum(1 for h in health.values() if h != "unknown") > 50, health
        onvif_obs = wait_for("an ONVIF observation", lambda: inventory.observations(inventory.camera_id, "onvif"))
        assert onvif_obs[0].health == "ok" and onvif_obs[0].values["info"]["manufacturer"]

        # The inventory goes away: reloads fail (last good targets kept), observations wait in the queue.
        inventory.web.stop()
        stopped = time.time()
        try:
            wait_for("a failed reload", lambda: _samples(metrics_url)[
                ("sitescout_config_last_reload_successful", ())] == 0.0, 10)
            time.sleep(3)
            assert set(_series(_samples(metrics_url), "sitescout_device_up")) == set(up)
        finally:
            inventory.web.start()
        restarted = time.time()
        wait_for("a successful reload", lambda: _samples(metrics_url)[
            ("sitescout_config_last_reload_successful", ())] == 1.0, 10)

        # Everything probed during the outage is delivered: link observations every ~1 s, no gap.
        def link_times() -> list[float]:
            return sorted((o.observed_at if o.observed_at.tzinfo else o.observed_at.replace(tzinfo=timezone.utc))
                          .timestamp() for o in inventory.observations(inventory.camera_id, "link"))

        times = wait_for("observations made during the outage", lambda: (
            t if (t := link_times()) and t[-1] > restarted + 1 else None))
        window = [t for t in times if stopped - 3 <= t <= restarted + 1]
        assert len(window) >= 4, window
        gaps = [b - a for a, b in zip(window, window[1:])]
        assert max(gaps) < 3.0, gaps
        text = log.read_text()
        assert "kept for retry" in text
        assert inventory.token not in text
    finally:
        _stop_worker(proc)


def test_bad_token_is_a_clear_error(inventory: Inventory) -> None:
    bad = inventory.tmp / "bad-token"
    bad.write_text("not-a-real-token-0123456789\n")
    proc = subprocess.run(
        [PY, "-m", "sitescout", "worker", "--inventory", inventory.web.url, "--token-file", str(bad),
         "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "token not accepted (401" in proc.stderr
    assert "--token-file" in proc.stderr
    assert "not-a-real-token" not in proc.stderr + proc.stdout


def test_targets_and_inventory_are_alternatives(inventory: Inventory) -> None:
    proc = subprocess.run(
        [PY, "-m", "sitescout", "worker", "--inventory", inventory.web.url, "--targets", "x.yaml"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "alternatives" in proc.stderr


def test_sink_drops_rejected_items_and_delivers_the_rest(inventory: Inventory) -> None:
    sink = HttpObservationSink(inventory.web.url, inventory.token,
                               device_ids={("s", "cam"): inventory.camera_id, ("s", "ghost"): 10**9})
    now = time.time()
    good = {"site": "s", "device": "cam", "kind": "stream", "profile": "Profile_9", "observed_at": now, "up": True,
            "reason": None, "duration_s": 2.0, "values": {"fps": float("nan"), "frozen": 1}, "info": {}}
    ghost = dict(good, device="ghost")
    unknown = dict(good, device="not-in-inventory")
    sink.send([good, ghost, dict(good, observed_at=now + 1), unknown])
    assert (sink.delivered, sink.rejected, sink.unknown) == (2, 1, 1)
    rows = inventory.observations(inventory.camera_id, "stream:Profile_9")
    assert len(rows) == 2 and all(r.health == "problem" for r in rows)  # frozen picture


def test_sink_unavailable_when_the_inventory_is_down_or_refuses_the_token(inventory: Inventory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    obs = {"site": "s", "device": "cam", "kind": "link", "observed_at": time.time(), "up": True, "values": {}}
    with pytest.raises(SinkUnavailable, match="unreachable"):
        HttpObservationSink(f"http://127.0.0.1:{closed}", "t", device_ids={("s", "cam"): 1}, timeout_s=2).send([obs])
    sink = HttpObservationSink(inventory.web.url, "wrong-token", device_ids={("s", "cam"): inventory.camera_id})
    with pytest.raises(SinkUnavailable, match="401"):
        sink.send([obs])
    assert sink.rejected == 0


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>proxy error</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_source_keeps_the_last_good_targets_when_the_answer_is_garbage(inventory: Inventory) -> None:
    source = InventoryTargetSource(inventory.web.url, inventory.token, refresh_s=3600)
    try:
        config = source.load()
        assert config.targets and source.device_ids
        cams = [t for t in config.targets if t.kind == "camera"]
        assert cams and all(t.onvif for t in cams)
        assert any(t.onvif == "http://127.77.1.12/onvif/device_service" for t in cams)
        garbage = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
        threading.Thread(target=garbage.serve_forever, daemon=True).start()
        try:
            source.url = f"http://127.0.0.1:{garbage.server_port}"
            with pytest.raises(InventoryError, match="did not answer target groups"):
                source.load()
        finally:
            garbage.shutdown()
            garbage.server_close()
        with pytest.raises(InventoryError, match="unreachable"):
            source.load()
    finally:
        source.close()


def test_targets_from_groups_checks_the_answer() -> None:
    groups = [{"targets": ["127.0.0.5"], "labels": {"site": "A", "device": "cam", "kind": "camera",
                                                      "__meta_sitescout_device_id": "7"}},
              {"targets": ["127.0.0.6"], "labels": {"site": "A", "device": "cam", "kind": "switch",
                                                      "__meta_sitescout_device_id": "8"}},
              {"targets": ["not-an-ip"], "labels": {"site": "A", "device": "bad", "kind": "switch",
                                                      "__meta_sitescout_device_id": "9"}}]
    targets, ids = targets_from_groups(groups)
    assert [(t.device, t.kind, t.onvif) for t in targets] == [
        ("cam", "camera", "http://127.0.0.5/onvif/device_service"), ("cam #8", "switch", None)]
    # a switch or router of the inventory is read over SNMP on port 161 (no uplinks known); a camera is not
    assert [t.snmp for t in targets] == [None, SnmpTarget(161, ())]
    assert ids == {("A", "cam"): 7, ("A", "cam #8"): 8}
    with pytest.raises(ValueError, match="__meta_sitescout_device_id"):
        targets_from_groups([{"targets": ["127.0.0.5"], "labels": {"site": "A", "device": "x"}}])
    with pytest.raises(ValueError, match="list of target groups"):
        targets_from_groups({"error": "x"})
    row = api_observation({"site": "A", "device": "cam", "kind": "link", "observed_at": 0.5, "up": True,
                           "values": {"loss_ratio": 0.5}, "reason": None}, 7)
    # 50 % loss is a problem by inventory/health.py (the worker once said "warning"), kept as a code
    assert row == {
        "device_id": 7,
        "kind": "link",
        "health": "problem",
        "observed_at": "1970-01-01T00:00:00.500000+00:00",
        "values": {"loss_ratio": 0.5, "verdicts": [{"level": "problem", "code": "link_loss", "params": {"loss": 0.5}}]},
        "reason": "",
    }
    assert json.dumps(row) and re.match(r"\d{4}-", row["observed_at"])


# ---------------------------------------------------------------------------
# The spooled queue (what a SIGKILLed worker restarts from; the kills themselves: test_crash_consistency).


class _Sink:
    def __init__(self) -> None:
        self.up = True
        self.got: list[dict[str, Any]] = []

    def send(self, batch: list[dict[str, Any]]) -> None:
        if not self.up:
            raise SinkUnavailable("down")
        self.got.extend(batch)


def _results(n: int, start: float = 1_700_000_000.0) -> list[Any]:
    from sitescout.probes.worker.jobs import ProbeJob, ProbeResult
    from sitescout.probes.worker.records import Target

    target = Target(site="S", device="D", ip="127.0.0.1", kind="host", onvif=None)
    return [ProbeResult(ProbeJob("link", target), up=True, finished_at=start + i) for i in range(n)]


def test_spooled_queue_keeps_undelivered_observations_across_restarts(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    sink = _Sink()
    queue = SpooledObservationQueue(sink, spool, batch_size=2)
    queue.put(_results(3))
    assert queue.flush() and len(sink.got) == 3
    sink.up = False
    queue.put(_results(4, start=1_700_000_100.0))
    assert not queue.flush()
    # "killed": a new queue on the same spool has exactly the four undelivered ones
    again = SpooledObservationQueue(_Sink(), spool, batch_size=2)
    assert again.recovered == 4
    assert again.flush()
    assert [o["observed_at"] for o in again.sink.got] == [1_700_000_100.0 + i for i in range(4)]  # type: ignore[attr-defined]
    assert SpooledObservationQueue(_Sink(), spool).recovered == 0


def test_spooled_queue_cuts_a_torn_line_and_compacts(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    queue = SpooledObservationQueue(_Sink(), spool)
    queue.put(_results(2))
    with open(spool, "a") as fh:
        fh.write('{"site": "S", "dev')  # the process died in the middle of a write
    again = SpooledObservationQueue(_Sink(), spool, compact_bytes=1)
    assert again.recovered == 2 and spool.read_text().endswith("}\n")
    again.put(_results(1, start=1_700_000_500.0))
    assert again.flush() and len(again.sink.got) == 3  # type: ignore[attr-defined]
    assert spool.read_text() == "" and (tmp_path / "spool.jsonl.acked").read_text().strip() == "0"
    assert SpooledObservationQueue(_Sink(), spool).recovered == 0


def test_resent_observations_are_stored_once(inventory: Inventory) -> None:
    sink = HttpObservationSink(inventory.web.url, inventory.token, device_ids={("S", "D"): inventory.camera_id})
    # Recent times: the inventory refuses observations older than MAX_OBSERVATION_AGE (issue 11 §3).
    obs = [dict(r.to_observation(), kind="resend-test") for r in _results(3, start=time.time() - 60)]
    sink.send(obs)
    sink.send(obs)  # the answer was lost: the worker sends the batch again
    assert len(inventory.observations(inventory.camera_id, "resend-test")) == 3


# ---------------------------------------------------------------------------
# Streams from the camera's stored profiles (issue #4), and starting from cached targets.


@dataclass
class Surveyed:
    """A camera that came into the inventory through a survey (candidate accepted) with a live MJPEG stream."""

    device_id: int
    key: tuple[str, str]  # (site, device) labels
    stream_uri: str


@pytest.fixture(scope="module")
def surveyed(inventory: Inventory) -> Iterator[Surveyed]:
    ip, _ = _free_address()
    stream = MjpegHttpServer(ip, 0, StreamSpec(codec="mjpeg", width=320, height=240, fps=10))
    stream.start()
    uri = stream.url()
    profile = {"token": "stream-main", "name": "main", "encoding": "JPEG", "width": 320, "height": 240,
               "fps_limit": 10.0, "bitrate_kbps": None, "stream_uri": uri, "snapshot_uri": None}
    with inventory.database.session() as session:
        site_id = session.get(Device, inventory.camera_id).site_id  # type: ignore[union-attr]
        doc = {"site": "ignored", "started_at": "2026-05-01T08:00:00+00:00", "finished_at": "2026-05-01T08:01:00+00:00",
               "networks": ["127.0.0.0/8"],
               "hosts": [{"ip": ip, "mac": "00:12:34:ab:cd:ef", "vendor": "Hikvision", "open_ports": [80],
                          "kind": "camera", "errors": [],
                          "onvif": {"endpoint": "urn:uuid:surveyed-stream-camera", "xaddrs": [], "scopes": [],
                                    "manufacturer": "Hikvision", "model": "DS-2CD1023", "firmware": "V5.5.0",
                                    "serial": "SURVEYED-1", "auth": "ok", "profiles": [profile]}}]}
        result = store.ingest_survey(session, doc, site_id=site_id)
        device_id = store.accept_candidate(session, result.candidates[0].id, name="Camera khảo sát")
    with inventory.database.session() as session:
        labels = next(g["labels"] for g in store.prometheus_targets(session)
                      if g["labels"]["__meta_sitescout_device_id"] == str(device_id))
    try:
        yield Surveyed(device_id, (labels["site"], labels["device"]), uri)
    finally:
        stream.stop()


def test_sd_groups_carry_streams_and_site_coordinates(inventory: Inventory, surveyed: Surveyed) -> None:
    with inventory.database.session() as session:
        groups = store.prometheus_targets(session)
    labels = next(g["labels"] for g in groups if g["labels"]["__meta_sitescout_device_id"] == str(surveyed.device_id))
    streams = {k: v for k, v in labels.items() if k.startswith("__meta_sitescout_stream_")}
    assert streams == {"__meta_sitescout_stream_1_uri": surveyed.stream_uri,
                       "__meta_sitescout_stream_1_profile": "stream-main",
                       "__meta_sitescout_stream_1_expected_fps": "10.0",
                       "__meta_sitescout_stream_1_expected_width": "320",
                       "__meta_sitescout_stream_1_expected_height": "240"}
    assert all(isinstance(v, str) for g in groups for v in g["labels"].values())  # http_sd: labels are strings
    # Every demo site has coordinates; they reach the worker's sitescout_site_info.
    assert all("__meta_sitescout_site_latitude" in g["labels"] for g in groups)
    sites = {s.name: s for s in sites_from_groups(groups)}
    assert sites[labels["site"]].latitude == float(labels["__meta_sitescout_site_latitude"])
    targets, _ = targets_from_groups(groups)
    target = next(t for t in targets if t.key == surveyed.key)
    assert [(s.uri, s.profile, s.expected_fps, s.expected_width, s.expected_height) for s in target.streams] == [
        (surveyed.stream_uri, "stream-main", 10.0, 320, 240)]


def test_stored_streams_never_give_credentials() -> None:
    profiles = [{"token": "p1", "fps_limit": 25, "width": 1920, "height": 1080,
                 "stream_uri": "rtsp://admin:secret@127.0.0.9/main"},
                {"token": "p2", "fps_limit": float("nan"), "width": 0, "stream_uri": "rtsp://127.0.0.9/sub"},
                {"token": "p3", "stream_uri": "rtsp://127.0.0.9/sub"},  # same URI: checked once
                {"token": "p4", "stream_uri": "file:///etc/passwd"}]
    assert store.camera_streams(profiles, ["rtsp://127.0.0.9/extra", "rtsp://u@127.0.0.9/x"]) == [
        {"uri": "rtsp://127.0.0.9/sub", "profile": "p2"}, {"uri": "rtsp://127.0.0.9/extra", "profile": "stream2"}]
    # The worker checks again: a URI with a user or password in a label is skipped (and not logged).
    labels = {"__meta_sitescout_stream_1_uri": "rtsp://admin:secret@127.0.0.9/main",
              "__meta_sitescout_stream_2_uri": "rtsp://127.0.0.9/sub", "__meta_sitescout_stream_2_profile": "p2",
              "__meta_sitescout_stream_2_expected_fps": "abc", "__meta_sitescout_stream_3_uri": "rtsp://127.0.0.9/x",
              "__meta_sitescout_stream_3_profile": "p2", "__meta_sitescout_stream_10_uri": "http://127.0.0.9/v.mjpg"}
    streams = streams_from_labels(labels, "A/cam")
    assert [(s.uri, s.profile, s.expected_fps) for s in streams] == [
        ("rtsp://127.0.0.9/sub", "p2", None), ("rtsp://127.0.0.9/x", "p2 #3", None),
        ("http://127.0.0.9/v.mjpg", "stream10", None)]


def test_inventory_fed_worker_checks_the_surveyed_stream(inventory: Inventory, surveyed: Surveyed) -> None:
    proc, metrics_url, log = _start_worker(inventory)
    try:
        labels = (("device", surveyed.key[1]), ("profile", "stream-main"), ("site", surveyed.key[0]))
        samples = _samples(metrics_url)
        assert samples[("sitescout_stream_expected_fps", labels)] == 10.0  # known before the first check
        wait_for("sitescout_stream_up 1 for the surveyed camera",
              lambda: _samples(metrics_url).get(("sitescout_stream_up", labels)) == 1.0, 30)
        samples = _samples(metrics_url)
        assert samples[("sitescout_stream_width_pixels", labels)] == 320.0
        assert samples[("sitescout_stream_fps", labels)] > 5.0
        # Site coordinates come from the inventory too (no `sites:` in the worker's settings).
        assert any(name == "sitescout_site_info" and dict(lb)["site"] == surveyed.key[0] for name, lb in samples)
        rows = wait_for("a stream observation in the inventory",
                     lambda: inventory.observations(surveyed.device_id, "stream:stream-main"))
        assert rows[0].health == "ok", rows[0]
        assert inventory.token not in log.read_text()
    finally:
        _stop_worker(proc)


def test_restarted_worker_starts_from_cached_targets_while_the_inventory_is_down(
        inventory: Inventory, surveyed: Surveyed) -> None:
    cache = inventory.tmp / "state" / "targets.json"
    proc, metrics_url, _ = _start_worker(inventory, "--targets-cache", str(cache))
    try:
        up = set(_series(_samples(metrics_url), "sitescout_device_up"))
    finally:
        _stop_worker(proc)
    assert cache.stat().st_mode & 0o777 == 0o600  # a map of the network: the worker's user only
    assert json.loads(cache.read_text())["inventory"] == inventory.web.url
    assert not list(cache.parent.glob(".targets.json.*"))  # no temporary file left behind

    inventory.web.stop()
    try:
        # Without a cache the worker cannot start: it says so and why.
        missing = inventory.tmp / "state" / "none.json"
        failed = subprocess.run(
            [PY, "-m", "sitescout", "worker", "--inventory", inventory.web.url, "--token-file",
             str(inventory.tmp / "token"), "--targets-cache", str(missing), "--listen", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=30)
        assert failed.returncode == 2 and "unreachable" in failed.stderr and "no usable cached targets" in failed.stderr

        proc, metrics_url, log = _start_worker(inventory, "--targets-cache", str(cache))
        try:
            samples = _samples(metrics_url)
            assert set(_series(samples, "sitescout_device_up")) == up
            stream = (("device", surveyed.key[1]), ("profile", "stream-main"), ("site", surveyed.key[0]))
            assert ("sitescout_stream_expected_fps", stream) in samples
            text = log.read_text()
            assert f"starting from the {len(up)} target(s) cached in {cache}" in text
            # The inventory is down: the worker says so on /metrics while probing the cached targets.
            wait_for("a failed reload", lambda: _samples(metrics_url)[
                ("sitescout_config_last_reload_successful", ())] == 0.0, 10)
            wait_for("the cached camera probed", lambda: _series(_samples(metrics_url), "sitescout_device_up")
                  .get(surveyed.key) == 1.0, 10)
        except BaseException:
            _stop_worker(proc)
            raise
    finally:
        inventory.web.start()
    try:
        wait_for("a successful reload once the inventory is back", lambda: _samples(metrics_url)[
            ("sitescout_config_last_reload_successful", ())] == 1.0, 15)
        assert "answers again" in log.read_text()
        assert inventory.token not in log.read_text()
    finally:
        _stop_worker(proc)


def test_targets_cache_ignores_another_inventory_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    groups = [{"targets": ["127.0.0.5"], "labels": {"site": "A", "device": "cam", "kind": "camera",
                                                      "__meta_sitescout_device_id": "7"}}]
    TargetsCache(path, "http://127.0.0.1:1").save(groups)
    assert TargetsCache(path, "http://127.0.0.1:1").load()[0] == groups  # type: ignore[index]
    assert TargetsCache(path, "http://127.0.0.1:2").load() is None
    path.write_text("{not json")
    assert TargetsCache(path, "http://127.0.0.1:1").load() is None
