"""A camera's password goes only to the camera's own address (sitescout.device_uris and its callers).

The review's attack, re-created: an editor posts a survey whose camera at A has its ONVIF
endpoint and its stream URI on another host B, accepts the candidate, and an inventory-fed
worker runs with the camera password in its credentials file.  B is a real listener on
loopback that answers like a camera asking for credentials (HTTP 401 with a Digest challenge,
RTSP 401 with a Basic challenge) and records every byte it receives.  No form of the password
(plain, URL-encoded, base64 at three alignments, a Basic header) and no credential header or
WS-Security token may reach it.  The same again with the hostile URIs written straight into the
inventory's tables (a row from before the fix, or a bypass): the worker itself must re-base them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Recorder, WebServer, free_port, secret_forms

from sitescout.device_uris import (
    UriCode,
    bind_to_device,
    has_credentials,
    has_userinfo,
    may_send_credentials,
    strip_credentials,
    strip_userinfo,
)
from sitescout.infra.lab.camera import CameraServer
from sitescout.inventory import store
from sitescout.inventory.db import Database, open_database
from sitescout.inventory.models import CameraDetails, Commune, Device, Region, Site
from sitescout.inventory.search import fold
from sitescout.probes.worker.inventory_targets import targets_from_groups
from sitescout.probes.worker.jobs import credentials_allowed
from sitescout.probes.worker.records import StreamTarget, Target
from sitescout.probes.worker.targets import parse_targets
from sitescout.web import create_app

PY = sys.executable
SETTINGS = """\
defaults:
  link: {interval_s: 1, count: 2, echo_interval_s: 0.1, timeout_s: 0.5}
  onvif: {interval_s: 1, timeout_s: 3}
  stream: {interval_s: 1, window_s: 1, timeout_s: 5}
"""


# ---------------------------------------------------------------------------
# The rule.


@pytest.mark.parametrize(("uri", "expected", "codes"), [
    ("rtsp://198.51.100.7:554/main", "rtsp://198.51.100.7:554/main", ()),
    ("rtsp://203.0.113.9:8554/main?x=1", "rtsp://198.51.100.7:8554/main?x=1", (UriCode.REBASED,)),
    ("rtsp://admin:pw@198.51.100.7/main", "rtsp://198.51.100.7/main", (UriCode.USERINFO_REMOVED,)),
    ("rtsp://admin:pw@203.0.113.9/main", "rtsp://198.51.100.7/main", (UriCode.USERINFO_REMOVED, UriCode.REBASED)),
    ("rtsp://cam.example/main", "rtsp://198.51.100.7/main", (UriCode.REBASED,)),  # a name can resolve anywhere
    ("ftp://198.51.100.7/x", None, (UriCode.REFUSED,)),
    ("rtsp:///main", None, (UriCode.REFUSED,)),
    ("rtsp://[::1/main", None, (UriCode.REFUSED,)),
    ("rtsp://u:p@[::1/main", None, (UriCode.USERINFO_REMOVED, UriCode.REFUSED)),
])
def test_bind_to_device_keeps_rebases_strips_or_refuses(
    uri: str, expected: str | None, codes: tuple[UriCode, ...]
) -> None:
    bound = bind_to_device(uri, "198.51.100.7", ("rtsp", "http"))
    assert bound.uri == expected
    assert bound.codes == codes
    assert "pw" not in json.dumps(bound.params)


def test_bind_to_device_ipv6_and_a_device_that_moved() -> None:
    assert bind_to_device("http://[2001:db8::1]:8080/onvif", "2001:db8::2", ("http",)).uri == "http://[2001:db8::2]:8080/onvif"
    moved = bind_to_device("rtsp://198.51.100.7/main", "198.51.100.8", ("rtsp",), previous_ip="198.51.100.7")
    assert moved.uri == "rtsp://198.51.100.8/main" and moved.codes == ()


def test_userinfo_is_found_where_urlsplit_gives_up() -> None:
    for uri in ("rtsp://admin:pw@198.51.100.7/main", "rtsp://admin:pw@[::1/main", "//admin:pw@host/x"):
        assert has_userinfo(uri)
        assert "pw" not in strip_userinfo(uri)
    assert not has_userinfo("rtsp://198.51.100.7/stream@1")


# The XMEye capture (infra/lab/captures/snapshot_uri/xmeye_sunba405_media1_snapshoturi.xml) puts the camera's
# user and password in the snapshot URI's query; other firmwares put them in an RTSP path. The probes
# redacted those, the inventory did not: an editor's API write or a foreign survey stored the password,
# and every viewer read it from /api/v1/devices, every worker from /sd/prometheus.
XMEYE_SNAPSHOT = "http://198.51.100.7/webcapture.jpg?command=snap&channel=1&user=admin&password=41f2kjt8"
PATH_STYLE = "rtsp://198.51.100.7:554/user=admin_password=41f2kjt8_channel=1_stream=0.sdp?real_stream"


@pytest.mark.parametrize("uri", [XMEYE_SNAPSHOT, PATH_STYLE, "rtsp://198.51.100.7/live?PWD=41f2kjt8"])
def test_password_parameters_are_credentials_too(uri: str) -> None:
    assert has_credentials(uri) and not has_userinfo(uri)
    clean = strip_credentials(uri)
    assert "41f2kjt8" not in clean and "REDACTED" in clean
    assert not has_credentials(clean)  # a redacted URI (what the probes report) is no credential
    bound = bind_to_device(uri, "198.51.100.7", ("rtsp", "http"))
    assert bound.uri == clean and bound.codes == (UriCode.USERINFO_REMOVED,)
    assert not may_send_credentials(uri, "198.51.100.7", [uri])


def test_parameters_without_a_value_or_unrelated_are_no_credentials() -> None:
    for uri in ("rtsp://198.51.100.7:554/user=_password=_channel=1.sdp", "http://198.51.100.7/snap?channel=1",
                "http://198.51.100.7/snap?password=", "rtsp://198.51.100.7/Streaming/Channels/101?transportmode=unicast"):
        assert not has_credentials(uri), uri
        assert bind_to_device(uri, "198.51.100.7", ("rtsp", "http")).codes == ()


def test_may_send_credentials_only_to_the_devices_own_services() -> None:
    services = ["http://198.51.100.7:8080/onvif/device_service", "rtsp://198.51.100.7/main"]
    assert may_send_credentials("http://198.51.100.7:8080/onvif/media", "198.51.100.7", services)
    assert may_send_credentials("rtsp://198.51.100.7:554/sub", "198.51.100.7", services)  # 554 is rtsp's default
    assert not may_send_credentials("http://198.51.100.7:22/x", "198.51.100.7", services)  # not one of its services
    assert not may_send_credentials("http://203.0.113.9:8080/onvif", "198.51.100.7", services)  # another host
    assert not may_send_credentials("rtsp://u:p@198.51.100.7/main", "198.51.100.7", services)
    assert not may_send_credentials("http://198.51.100.7:8080/onvif", "198.51.100.7",
                                    ["http://203.0.113.9:8080/onvif"])  # a record pointing elsewhere opens nothing


def test_a_host_target_never_gets_credentials_and_a_camera_only_on_its_address() -> None:
    stream = StreamTarget("rtsp://198.51.100.7/main", "main")
    camera = Target("s", "cam", "198.51.100.7", "camera", "http://198.51.100.7/onvif/device_service", streams=(stream,))
    assert credentials_allowed(camera, "rtsp://198.51.100.7/main")
    assert credentials_allowed(camera, "http://198.51.100.7/onvif/device_service")
    assert not credentials_allowed(camera, "rtsp://203.0.113.9/main")
    host = Target("s", "nvr", "198.51.100.7", "host", "http://198.51.100.7/onvif/device_service", streams=(stream,))
    assert not credentials_allowed(host, "rtsp://198.51.100.7/main")
    hostile = Target("s", "cam", "198.51.100.7", "camera", "http://203.0.113.9/onvif/device_service",
                     streams=(StreamTarget("rtsp://203.0.113.9/main", "main"),))
    assert not credentials_allowed(hostile, "rtsp://203.0.113.9/main")
    assert not credentials_allowed(hostile, "http://203.0.113.9/onvif/device_service")


def test_yaml_targets_rebase_an_endpoint_and_a_stream_on_another_host(caplog: pytest.LogCaptureFixture) -> None:
    config = parse_targets(
        "targets:\n"
        "  - site: s\n    device: cam\n    ip: 198.51.100.7\n"
        "    onvif: http://203.0.113.9:8080/onvif/device_service\n"
        "    streams:\n      - uri: rtsp://203.0.113.9:8554/main\n", "t.yml")
    (target,) = config.targets
    assert target.onvif == "http://198.51.100.7:8080/onvif/device_service"
    assert target.streams[0].uri == "rtsp://198.51.100.7:8554/main"
    assert "t.yml:5: targets[1].onvif: host 203.0.113.9 is not the target's address 198.51.100.7" in caplog.text
    assert "t.yml:7" in caplog.text


def test_inventory_targets_rebase_an_endpoint_and_a_stream_on_another_host(caplog: pytest.LogCaptureFixture) -> None:
    groups = [{"targets": ["198.51.100.7"], "labels": {
        "site": "s", "device": "cam", "kind": "camera", "__meta_sitescout_device_id": "1",
        "__meta_sitescout_onvif_endpoint": "http://203.0.113.9:8080/onvif/device_service",
        "__meta_sitescout_stream_1_uri": "rtsp://203.0.113.9:8554/main",
        "__meta_sitescout_stream_2_uri": "rtsp://198.51.100.7:8554/main",  # the same stream once re-based
        "__meta_sitescout_stream_3_uri": "rtsp://admin:pw@198.51.100.7/x"}}]
    (target,), _ = targets_from_groups(groups)
    assert target.onvif == "http://198.51.100.7:8080/onvif/device_service"
    assert [s.uri for s in target.streams] == ["rtsp://198.51.100.7:8554/main"]
    assert "203.0.113.9 is not the device's address 198.51.100.7" in caplog.text
    assert "pw" not in caplog.text


def test_the_soap_caller_never_signs_a_request_for_another_host() -> None:
    """The last guard: a credential is never serialised for a URL off the device's address (nothing is sent)."""
    import asyncio

    from sitescout.probes.credentials import Credential
    from sitescout.probes.errors import AuthError
    from sitescout.probes.onvif.soap import SoapCaller

    b = _free_ip()
    recorder = Recorder(b, {"http": free_port(b)})
    recorder.start()

    async def call() -> None:
        caller = SoapCaller("127.0.0.9", connect_timeout_s=1.0, read_timeout_s=1.0, max_reply_bytes=65536,
                            deadline=asyncio.get_running_loop().time() + 5.0)
        try:
            for method in ("wsse-digest", "wsse-text", "http-digest"):
                with pytest.raises(AuthError, match="credentials not sent: the URL is not on the device's address"):
                    await caller.call(f"http://{b}:{recorder.ports['http']}/onvif/device_service", "device",
                                      "GetDeviceInformation", credential=Credential("admin", "pw-x"), method=method)
        finally:
            await caller.close()

    try:
        asyncio.run(call())
    finally:
        recorder.stop()
    assert recorder.connections == 0 and recorder.data == b""


def test_probe_time_rebases_a_hostile_endpoint_and_refuses_an_unusable_one() -> None:
    """Targets built around the loaders (a /probe, a future source) are bound again when probed."""
    import asyncio

    from sitescout.probes.credentials import Credential
    from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
    from sitescout.probes.worker.kinds.onvif import probe_onvif
    from sitescout.probes.worker.kinds.onvif import OnvifSettings

    password = f"pw-{random.getrandbits(48):012x}"
    a, b = _free_ip(), _free_ip()
    port = free_port(a)
    camera = CameraServer("hikvision_ds2cd2012i", a, onvif_port=port, discovery="off", credentials=("admin", password))
    recorder = Recorder(b, {"http": port})
    camera.start()
    recorder.start()
    hostile = Target("s", "cam", a, "camera", f"http://{b}:{port}/onvif/device_service")
    unusable = Target("s", "cam2", a, "camera", f"ftp://{a}/onvif")
    ctx = ProbeContext(credentials=[Credential("admin", password)])
    try:
        results = asyncio.run(probe_onvif([ProbeJob("onvif", hostile), ProbeJob("onvif", unusable)],
                                          OnvifSettings(timeout_s=5.0), ctx))
    finally:
        recorder.stop()
        camera.stop()
    assert results[0].up, results[0].detail  # re-based onto A: the camera answered with the password
    assert (results[1].up, results[1].reason) == (False, "malformed")
    assert recorder.connections == 0 and recorder.data == b""


# ---------------------------------------------------------------------------
# The review's attack, end to end on loopback.


def _free_ip() -> str:
    return f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


def _leaks(data: bytes, password: str) -> list[str]:
    """Return what credential material `data` holds: any form of the password, a credential header, a WS-Security
    token."""
    found = [f"the {form} form of the password" for form, needle in secret_forms(password).items() if needle in data]
    for marker in (b"Authorization:", b"authorization:", b"UsernameToken", b"PasswordDigest", b"Basic "):
        if marker in data:
            found.append(marker.decode())
    return found


class Lab:
    """Camera A (a simulated ONVIF camera asking for the password), host B (the recorder), an inventory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.password = f"pw-{random.getrandbits(64):016x}@/+"
        self.a, self.b = _free_ip(), _free_ip()
        self.onvif_port = free_port(self.a)
        self.rtsp_port = free_port(self.b)
        self.camera = CameraServer("hikvision_ds2cd2012i", self.a, onvif_port=self.onvif_port, rtsp_port=8554,
                                   discovery="unicast", credentials=("admin", self.password))
        # B listens on the camera's own ONVIF port number (so a re-based endpoint reaches A's real service)
        # and on an RTSP port.
        self.recorder = Recorder(self.b, {"http": self.onvif_port, "rtsp": self.rtsp_port})
        self.database: Database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
        with self.database.session() as session:
            region = Region(name="Tuyên Quang", name_folded=fold("Tuyên Quang"))
            commune = Commune(region=region, name="Hướng Đạo", name_folded=fold("Hướng Đạo"))
            site = Site(commune=commune, name="Thôn Lab", name_folded=fold("Thôn Lab"), kind="village_hall",
                        latitude=21.77, longitude=105.25)
            session.add(site)
            session.flush()
            self.site_id = site.id
            self.editor = store.create_token(session, "editor")
            worker = store.create_token(session, "worker")
        (tmp / "token").write_text(worker + "\n")
        (tmp / "settings.yaml").write_text(SETTINGS)
        (tmp / "credentials.toml").write_text(
            f'[[credentials]]\nusername = "admin"\npassword = "{self.password}"\n')
        self.web = WebServer(create_app({"DATABASE": self.database, "SITES_CACHE_SECONDS": 0}))

    def start(self) -> None:
        self.camera.start()
        self.recorder.start()
        self.web.start()

    def close(self) -> None:
        self.web.stop()
        self.recorder.stop()
        self.camera.stop()
        self.database.close()

    def hostile_survey(self) -> dict[str, Any]:
        """A survey whose camera at A names B as its ONVIF endpoint, XAddr, stream and snapshot host."""
        endpoint = f"http://{self.b}:{self.onvif_port}/onvif/device_service"
        stream = f"rtsp://{self.b}:{self.rtsp_port}/main"
        return {
            "site": "Thôn Lab", "started_at": "2026-12-01T08:00:00+00:00", "finished_at": "2026-12-01T08:01:00+00:00",
            "networks": [f"{self.a}/32"],
            "hosts": [{
                "ip": self.a, "mac": None, "vendor": "Hikvision", "open_ports": [self.onvif_port], "kind": "camera",
                "link": None,
                "onvif": {"endpoint": endpoint, "xaddrs": [endpoint], "scopes": [], "manufacturer": "Hikvision",
                          "model": "DS-2CD2012I", "firmware": "V5", "serial": "X1", "hardware_id": "", "auth": "ok",
                          "clock_offset_s": 0.0,
                          "profiles": [{"token": "main", "name": "main", "encoding": "H264", "width": 640,
                                        "height": 480, "fps_limit": 15.0, "bitrate_kbps": None,
                                        "stream_uri": stream,
                                        "snapshot_uri": f"http://{self.b}:{self.onvif_port}/snap.jpg"}]},
                "streams": [{"uri": stream, "profile": "main", "up": True, "open_s": 0.2, "fps": 15.0, "width": 640,
                             "height": 480, "frozen": False, "black": False, "sharpness": 1.0,
                             "bitrate_kbps": 500.0, "error": None}],
                "errors": []}],
        }

    def post_survey(self, document: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(self.web.url + "/api/v1/surveys", data=json.dumps(document).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {self.editor}",
                                                             "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def run_worker(self, seconds: float, until: Any = None) -> str:
        """Run ``sitescout worker --inventory`` for `seconds` (or until `until()`); return its log."""
        log = self.tmp / f"worker-{time.monotonic_ns()}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [PY, "-m", "sitescout", "-vv", "worker", "--inventory", self.web.url, "--token-file",
                 str(self.tmp / "token"), "--settings", str(self.tmp / "settings.yaml"), "--credentials",
                 str(self.tmp / "credentials.toml"), "--listen", "127.0.0.1:0", "--refresh", "1",
                 "--flush-interval", "0.5"], stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("ready"), (line, log.read_text()[-3000:])
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not (until and until()):
                time.sleep(0.3)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return log.read_text()

    def observations(self, device_id: int) -> list[Any]:
        with self.database.session() as session:
            return store.device_observations(session, device_id, limit=500)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    built = Lab(tmp_path)
    built.start()
    try:
        yield built
    finally:
        built.close()


def _onvif_ok(lab: Lab, device_id: int) -> bool:
    return any(o.kind == "onvif" and o.health == "ok" for o in lab.observations(device_id))


def test_a_survey_naming_another_host_never_gets_the_password_sent_there(lab: Lab) -> None:
    result = lab.post_survey(lab.hostile_survey())
    # Ingestion re-based every URI of the camera onto A, and said so with a code and its parameters.
    kinds = [(f["kind"], f["field"], f["observed_value"], f["inventory_value"]) for f in result["findings"]]
    for field in ("endpoint", "xaddr", "stream_uri", "snapshot_uri", "stream"):
        assert ("uri_rebased", field, lab.b, lab.a) in kinds, kinds
    with lab.database.session() as session:
        (candidate,) = store.list_candidates(session)
        device_id = store.accept_candidate(session, candidate.id)
    with lab.database.session() as session:
        device = session.get(Device, device_id)
        assert device is not None and device.camera is not None
        assert device.onvif_endpoint == f"http://{lab.a}:{lab.onvif_port}/onvif/device_service"
        assert device.camera.stream_uris == [f"rtsp://{lab.a}:{lab.rtsp_port}/main"]
        stored = json.dumps([device.camera.profiles, candidate.identity])
        assert lab.b not in json.dumps(device.camera.profiles)
    log = lab.run_worker(20.0, until=lambda: _onvif_ok(lab, device_id))
    # The worker reached the real camera at A with its password (the re-based endpoint is A's service) ...
    assert _onvif_ok(lab, device_id), log[-3000:]
    assert lab.camera.auth_log, "the camera at A saw no authenticated request"
    # ... and nothing of it reached B.
    assert not _leaks(lab.recorder.data, lab.password), (_leaks(lab.recorder.data, lab.password), stored)
    assert lab.recorder.connections == 0
    assert lab.password not in log


def test_hostile_uris_already_in_the_inventory_are_rebased_by_the_worker(lab: Lab) -> None:
    with lab.database.session() as session:
        device = Device(site_id=lab.site_id, kind="camera", name="cam", ip=lab.a)
        device.camera = CameraDetails(profiles=[], stream_uris=[])
        session.add(device)
        session.flush()
        device_id = device.id
    # A row from before the fix (or written around the models): endpoint and stream on B.
    with lab.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE devices SET onvif_endpoint = ? WHERE id = ?",
                             (f"http://{lab.b}:{lab.onvif_port}/onvif/device_service", device_id))
        conn.exec_driver_sql("UPDATE camera_details SET stream_uris = ? WHERE device_id = ?",
                             (json.dumps([f"rtsp://{lab.b}:{lab.rtsp_port}/main"]), device_id))
    with lab.database.session() as session:
        labels = next(g["labels"] for g in store.prometheus_targets(session))
        assert lab.b in labels["__meta_sitescout_onvif_endpoint"]  # the inventory hands B out ...
    log = lab.run_worker(20.0, until=lambda: _onvif_ok(lab, device_id) and any(
        o.kind.startswith("stream") for o in lab.observations(device_id)))
    assert f"is not the device's address {lab.a}; re-based" in log  # ... the worker re-bases it, and says so
    assert _onvif_ok(lab, device_id), log[-3000:]
    assert any(o.kind.startswith("stream") for o in lab.observations(device_id)), log[-3000:]
    assert not _leaks(lab.recorder.data, lab.password), _leaks(lab.recorder.data, lab.password)
    assert lab.recorder.connections == 0
