"""ONVIF interrogation against the simulated camera (real HTTP on 127.0.0.0/8, high ports, no root)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sitescout.infra.lab.camera import CameraServer
from sitescout.infra.lab.personas import PERSONAS, load_persona, rewrite_urls
from sitescout.probes.credentials import Credential
from sitescout.probes.errors import AuthError, UnsupportedError
from sitescout.probes.onvif.interrogate import (
    DEFAULT_ONVIF,
    AuthMemory,
    OnvifConfig,
    OnvifResult,
    OnvifTarget,
    async_interrogate,
)
from sitescout.probes.onvif.soap import _fault_error, build_request
from sitescout.probes.onvif.soapxml import find_local, iter_local, parse_xml, soap_fault

CAPTURES = Path(__file__).resolve().parent.parent / "infra" / "lab" / "captures"
RIGHT = Credential("admin", "Right-Pa55word")
WRONG = Credential("admin", "wrong-password")
# Short bounds so hostile cases stay fast; the defaults are checked separately.
FAST = OnvifConfig(connect_timeout_s=1.0, read_timeout_s=2.0, device_budget_s=4.0)


def _free_address() -> tuple[str, int]:
    """Return a random loopback address and a free TCP port on it (parallel runs do not collide)."""
    ip = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return ip, sock.getsockname()[1]


@contextmanager
def camera(persona: str = "hikvision_ds2cd2012i", **kwargs: object) -> Iterator[CameraServer]:
    """Run one simulated camera for the duration of the block."""
    ip, port = _free_address()
    cam = CameraServer(persona, ip, onvif_port=port, rtsp_port=8554, discovery="off", **kwargs)  # type: ignore[arg-type]
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


def interrogate(
    cam: CameraServer, credentials: list[Credential] | None = None, config: OnvifConfig = DEFAULT_ONVIF, **kw: object
) -> OnvifResult:
    target = OnvifTarget(cam.ip, cam.device_url, endpoint=cam.endpoint)
    return asyncio.run(async_interrogate(target, credentials or [], config, **kw))  # type: ignore[arg-type]


def _served_uri(persona_name: str, action: str, cam: CameraServer) -> str | None:
    data = load_persona(persona_name).capture(action)
    if data is None:
        return None
    uris = iter_local(parse_xml(data), "Uri")
    if not uris:
        return None
    text = "".join(uris[0].itertext()).strip()
    return rewrite_urls(text.encode(), cam.ip, cam.onvif_port, cam.rtsp_port).decode()


def _expected_uri(persona_name: str, kind: str, cam: CameraServer, fallback: str | None) -> str | None:
    # We prefer Media2 where the camera offers it (the issue); expected_identity()
    # lists Media1's capture first.  They differ only for hikoem_enp1a14, whose
    # Media1 GetStreamUri capture was a multicast request (transportmode=mcast).
    media2 = _served_uri(persona_name, f"Media2.Get{kind}Uri", cam)
    return media2 if media2 is not None else fallback


# -- identity of every persona -------------------------------------------------------------


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_persona_identity_profiles_and_uris(persona: str) -> None:
    with camera(persona) as cam:
        started = time.monotonic()
        result = interrogate(cam)
        elapsed = time.monotonic() - started
    expected = cam.identity
    info = result.info
    assert info is not None, result.errors
    assert elapsed < 5
    assert info.auth == "not_needed"
    assert (info.manufacturer, info.model, info.firmware, info.serial, info.hardware_id) == (
        expected["manufacturer"], expected["model"], expected["firmware"], expected["serial"], expected["hardware_id"]
    )
    if expected["mac"]:
        assert info.mac == expected["mac"].lower()
    assert info.clock_offset_s is not None and abs(info.clock_offset_s) < 2
    got = [(p.token, p.name, p.encoding, p.width, p.height, p.fps_limit, p.bitrate_kbps) for p in info.profiles]
    want = [
        (p["token"], p["name"], p["encoding"], p["width"], p["height"], p["fps_limit"], p["bitrate_kbps"])
        for p in expected["profiles"]
    ]
    assert got == want
    for mine, theirs in zip(info.profiles, expected["profiles"]):
        assert mine.stream_uri == _expected_uri(persona, "Stream", cam, theirs["stream_uri"])
        assert mine.snapshot_uri == _expected_uri(persona, "Snapshot", cam, theirs["snapshot_uri"])
        for uri in (mine.stream_uri, mine.snapshot_uri):
            assert uri is None or f"//{cam.ip}" in uri
    # Every service XAddr points at the address that answered.
    assert info.services and all(cam.ip in url for url in info.services.values())
    # What the camera lacks is reported per stage, never as an exception.
    for missing in expected["missing_actions"]:
        if missing == "GetNetworkInterfaces":
            assert any(e.startswith("GetNetworkInterfaces: unsupported:") for e in result.errors)


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["wsse+digest", "wsse"])
def test_no_credentials_on_protected_camera_is_required(auth: str) -> None:
    with camera(credentials=(RIGHT.username, RIGHT.password), auth=auth) as cam:
        result = interrogate(cam)
        log = list(cam.auth_log)
    assert result.info is not None and result.info.auth == "required"
    assert result.credential_used is None and result.auth_attempts == 0
    assert any(e.startswith("GetDeviceInformation: auth: credentials required") for e in result.errors)
    # After the refusal only pre-auth operations went out: GetSystemDateAndTime,
    # GetDeviceInformation (refused), GetServices.  In "wsse" mode the simulator
    # logs the anonymous request as a failure; nothing else reached its guard.
    assert result.requests == 3
    assert len(log) == (1 if auth == "wsse" else 0)
    # GetServices is pre-auth, so the service list is still there.
    assert "media" in result.info.services


@pytest.mark.parametrize("auth", ["wsse+digest", "wsse", "digest"])
def test_wrong_then_right_credential(auth: str) -> None:
    with camera(credentials=(RIGHT.username, RIGHT.password), auth=auth) as cam:
        result = interrogate(cam, [WRONG, RIGHT])
        failures = cam.failed_auth_attempts
        credentialed = [e for e in cam.auth_log if e["username"]]
    info = result.info
    assert info is not None and info.auth == "ok", result.errors
    assert result.credential_used == 1
    assert result.auth_attempts <= DEFAULT_ONVIF.max_auth_attempts
    assert result.auth_method == ("wsse-digest" if auth == "wsse" else "http-digest")
    assert info.model == cam.identity["model"] and len(info.profiles) == len(cam.identity["profiles"])
    # Exactly one wrong login reached the camera; the anonymous probe is the other "failure".
    assert [e["outcome"] for e in credentialed].count("failed") == 1
    assert failures <= 2
    assert not any(e.startswith(("GetProfiles", "GetDeviceInformation")) for e in result.errors)


def test_all_wrong_credentials_stop_at_the_cap() -> None:
    wrong = [Credential("admin", f"guess{i}") for i in range(6)]
    with camera(credentials=(RIGHT.username, RIGHT.password), auth="wsse") as cam:
        result = interrogate(cam, wrong)
        credentialed = [e for e in cam.auth_log if e["username"]]
        locked = cam._guard.is_locked()
    assert result.info is not None and result.info.auth == "failed"
    assert result.auth_attempts == DEFAULT_ONVIF.max_auth_attempts
    assert len(credentialed) == DEFAULT_ONVIF.max_auth_attempts
    assert not locked  # the simulator locks after 5 failures in 60 s
    assert any("no credential set accepted after 3 attempt(s)" in e for e in result.errors)
    assert any("not sent (credentials failed)" in e for e in result.errors)


def test_digest_only_camera() -> None:
    with camera("axis_q6045e", credentials=(RIGHT.username, RIGHT.password), auth="digest") as cam:
        result = interrogate(cam, [RIGHT])
    assert result.info is not None and result.info.auth == "ok"
    assert result.auth_method == "http-digest" and result.credential_used == 0 and result.auth_attempts == 1
    assert result.info.model == cam.identity["model"]
    assert len(result.info.profiles) == len(cam.identity["profiles"])


def test_clock_skew_three_days_with_wsse() -> None:
    skew = 3 * 86400.0
    with camera(credentials=(RIGHT.username, RIGHT.password), auth="wsse", clock_skew_s=skew) as cam:
        result = interrogate(cam, [RIGHT])
    info = result.info
    assert info is not None and info.auth == "ok", result.errors
    assert result.auth_method == "wsse-digest"
    assert info.clock_offset_s is not None and abs(info.clock_offset_s - skew) <= 1.0
    # The camera clock has one-second resolution, so the rounded figure is 259199 or 259200.
    assert any(re.match(r"camera clock is \+(259199|259200) s off UTC", f) for f in info.findings)
    assert len(info.profiles) == 2


def test_auth_memory_skips_the_wrong_set_next_time() -> None:
    memory = AuthMemory()
    with camera(credentials=(RIGHT.username, RIGHT.password), auth="wsse") as cam:
        first = interrogate(cam, [WRONG, RIGHT], memory=memory)
        second = interrogate(cam, [WRONG, RIGHT], memory=memory)
    assert first.auth_attempts == 2 and second.auth_attempts == 1
    assert second.credential_used == 1 and second.info is not None and second.info.auth == "ok"
    assert memory.recall(cam.endpoint) == (1, "wsse-digest")


def test_password_never_in_logs_or_result(caplog: pytest.LogCaptureFixture) -> None:
    secret = Credential("admin", "Zz-very-secret-9")
    caplog.set_level(logging.DEBUG)
    with camera(credentials=(secret.username, secret.password), auth="wsse") as cam:
        result = interrogate(cam, [WRONG, secret])
    assert result.info is not None and result.info.auth == "ok"
    assert secret.password not in caplog.text
    assert secret.password not in repr(result)
    assert secret.password not in repr(result.info.to_dict())


# -- hostile cameras -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bomb", "xxe"])
def test_entity_attacks_are_refused(mode: str) -> None:
    with camera(hostile=mode) as cam:
        started = time.monotonic()
        result = interrogate(cam, config=FAST)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    # Every reply carries the DTD: every stage is refused, each with the reason, and nothing leaks.
    assert result.errors and all(
        ": malformed: " in e and "XML with a DOCTYPE or ENTITY declaration is refused" in e for e in result.errors
    )
    assert result.errors[0].startswith("GetSystemDateAndTime:")
    text = repr(result)
    assert "root:" not in text and "/bin/" not in text and "lollol" not in text
    assert result.info is None


@pytest.mark.parametrize("mode", ["huge", "huge_chunked"])
def test_huge_reply_is_refused_fast(mode: str) -> None:
    """100 MB announced by Content-Length, or sent chunked with no length: refused at the 2 MB cap."""
    with camera(hostile=mode) as cam:
        started = time.monotonic()
        result = interrogate(cam, config=FAST)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert result.errors and all("malformed: reply over 2 MB" in e for e in result.errors)
    assert result.info is None


def test_hanging_camera_times_out_within_budget() -> None:
    with camera(hostile="hang") as cam:
        started = time.monotonic()
        result = interrogate(cam, config=FAST)
        elapsed = time.monotonic() - started
    assert FAST.read_timeout_s - 0.2 <= elapsed <= FAST.device_budget_s + 0.5
    assert result.info is None
    assert result.errors == [f"GetSystemDateAndTime: timeout: no reply within {FAST.read_timeout_s:g} s"]


def test_slow_camera_ends_by_budget() -> None:
    with camera(hostile="slow") as cam:
        started = time.monotonic()
        result = interrogate(cam, config=FAST)
        elapsed = time.monotonic() - started
    assert FAST.device_budget_s - 0.2 <= elapsed <= FAST.device_budget_s + 0.5
    assert result.errors and "timeout: device time budget used up" in result.errors[-1]


def test_garbage_replies_are_malformed_errors() -> None:
    with camera(hostile="garbage") as cam:
        result = interrogate(cam, config=FAST)
    assert result.info is None
    assert result.errors and all(": malformed: " in e for e in result.errors)


def test_invalid_utf8_in_text_is_read_with_replacement_characters() -> None:
    with camera(hostile="bad_utf8") as cam:
        result = interrogate(cam, config=FAST)
    assert result.info is not None and result.info.model == cam.identity["model"]
    assert result.info.manufacturer.startswith(cam.identity["manufacturer"]) and "\ufffd" in result.info.manufacturer
    assert len(result.info.profiles) == 2
    assert not any(": malformed:" in e for e in result.errors)


@pytest.mark.parametrize("credentials,auth", [(None, "wsse+digest"), (("admin", RIGHT.password), "wsse+digest"),
                                              (("admin", RIGHT.password), "wsse")])
def test_soap11_replies_are_understood(credentials: tuple[str, str] | None, auth: str) -> None:
    """SOAP 1.1 envelopes and faults (faultcode ter:NotAuthorized) work like SOAP 1.2."""
    with camera(hostile="soap11", credentials=credentials, auth=auth) as cam:
        result = interrogate(cam, [RIGHT] if credentials else [], config=FAST)
    assert result.info is not None
    assert (result.info.manufacturer, result.info.model) == (cam.identity["manufacturer"], cam.identity["model"])
    assert [p.token for p in result.info.profiles] == [p["token"] for p in cam.identity["profiles"]]
    assert all(p.stream_uri for p in result.info.profiles)
    assert result.info.auth == ("ok" if credentials else "not_needed")
    assert result.errors == ["GetScopes: unsupported: ter:ActionNotSupported (Optional Action Not Implemented)"]


def test_soap11_fault_without_credentials_is_auth_required() -> None:
    with camera(hostile="soap11", credentials=("admin", RIGHT.password), auth="wsse") as cam:
        result = interrogate(cam, [], config=FAST)
    assert result.info is not None and result.info.auth == "required"
    assert any(e.startswith("GetDeviceInformation: auth: credentials required") for e in result.errors), result.errors


def test_utf16_declared_on_ascii_is_read() -> None:
    with camera(hostile="utf16decl") as cam:
        result = interrogate(cam, config=FAST)
    assert result.info is not None and result.info.manufacturer == cam.identity["manufacturer"]
    assert len(result.info.profiles) == 2
    assert not any(": malformed:" in e for e in result.errors)


class _EndlessChunked(BaseHTTPRequestHandler):
    """Answers every POST with an endless chunked body and counts what it managed to send."""

    protocol_version = "HTTP/1.1"
    sent = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"<a>" + b"x" * 65000 + b"</a>"
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        try:
            while type(self).sent < 200 * 1024 * 1024:
                self.wfile.write(chunk)
                type(self).sent += len(block)
        except OSError:
            pass


def test_reply_without_length_is_cut_at_the_cap() -> None:
    ip, port = _free_address()
    server = ThreadingHTTPServer((ip, port), _EndlessChunked)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = asyncio.run(
            async_interrogate(OnvifTarget(ip, f"http://{ip}:{port}/onvif/device_service"), [], FAST)
        )
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert elapsed < 3
    assert result.errors[0] == "GetSystemDateAndTime: malformed: reply over 2 MB"
    # Six stages, each cut shortly after 2 MB plus what the kernel's loopback
    # buffers soaked up before the close (autotuned up to ~10 MB under load), so
    # far below the 200 MB one stage would have taken had the body been read whole.
    assert _EndlessChunked.sent < 6 * 16 * 1024 * 1024


def test_refused_port_is_unreachable() -> None:
    ip, port = _free_address()  # nothing listens there
    result = asyncio.run(async_interrogate(OnvifTarget(ip, f"http://{ip}:{port}/onvif/device_service"), [], FAST))
    assert result.info is None
    assert len(result.errors) == 1 and result.errors[0].startswith("GetSystemDateAndTime: unreachable:")


def test_default_bounds_end_hang_and_slow_cameras() -> None:
    """With the shipped defaults (read 10 s, budget 20 s) both hostile hosts end on time."""

    async def both(cams: list[CameraServer]) -> list[tuple[float, OnvifResult]]:
        async def one(cam: CameraServer) -> tuple[float, OnvifResult]:
            started = time.monotonic()
            result = await async_interrogate(OnvifTarget(cam.ip, cam.device_url), [])
            return time.monotonic() - started, result

        return await asyncio.gather(*(one(c) for c in cams))

    with camera(hostile="hang") as hung, camera(hostile="slow") as slow:
        (t_hung, r_hung), (t_slow, r_slow) = asyncio.run(both([hung, slow]))
    assert r_hung.errors == ["GetSystemDateAndTime: timeout: no reply within 10 s"]
    assert 9.8 <= t_hung <= 10.5
    assert r_slow.info is None and "timeout: device time budget used up" in r_slow.errors[-1]
    assert 19.8 <= t_slow <= 20.5


def test_hung_camera_does_not_delay_the_others() -> None:
    config = OnvifConfig(read_timeout_s=4.0, device_budget_s=8.0)

    async def run_all(cams: list[CameraServer]) -> list[tuple[float, OnvifResult]]:
        async def one(cam: CameraServer) -> tuple[float, OnvifResult]:
            started = time.monotonic()
            result = await async_interrogate(OnvifTarget(cam.ip, cam.device_url), [], config)
            return time.monotonic() - started, result

        return await asyncio.gather(*(one(c) for c in cams))

    with camera(hostile="hang") as hung, camera("axis_q6045e") as a, camera("bosch_flexidome5100i") as b, \
            camera("hikoem_enp1a14") as c, camera(hostile="slow") as slow:
        started = time.monotonic()
        outcomes = asyncio.run(run_all([hung, a, b, c, slow]))
        total = time.monotonic() - started
    (t_hung, r_hung), *normal, (t_slow, r_slow) = outcomes
    assert r_hung.info is None and "timeout" in r_hung.errors[0]
    assert config.read_timeout_s - 0.2 <= t_hung <= config.device_budget_s + 0.5
    assert "timeout" in r_slow.errors[-1] and t_slow <= config.device_budget_s + 0.5
    for elapsed, result in normal:
        assert result.info is not None and result.info.profiles
        assert elapsed < 3.0  # each alone takes ~0.1 s; the hung one takes the 4 s read timeout
    assert total <= config.device_budget_s + 1.0


def test_nat_addresses_are_rebased_on_the_answering_address() -> None:
    """The camera advertises its own address; we reach it through a port forward on another one."""

    async def scenario(cam: CameraServer) -> OnvifResult:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(cam.ip, cam.onvif_port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        nat_ip, nat_port = _free_address()
        server = await asyncio.start_server(forward, nat_ip, nat_port)
        async with server:
            target = OnvifTarget(nat_ip, f"http://{nat_ip}:{nat_port}/onvif/device_service")
            return await async_interrogate(target, [], FAST)

    with camera("hikvision_ds2cd2012i") as cam:
        result = asyncio.run(scenario(cam))
    info = result.info
    assert info is not None and len(info.profiles) == 2, result.errors
    nat_host = info.services["device"].split("//")[1].split(":")[0]
    assert nat_host != cam.ip
    assert all(f"//{nat_host}:" in url for url in info.services.values())
    for profile in info.profiles:
        assert profile.stream_uri is not None and profile.stream_uri.startswith(f"rtsp://{nat_host}:8554/")
        assert profile.snapshot_uri is not None and f"//{nat_host}:" in profile.snapshot_uri
    assert any(f"camera answers on {nat_host}; re-based" in f for f in info.findings)


# -- requests and fault classification -----------------------------------------------------------


def test_requests_are_read_only_and_wsse_uses_camera_clock() -> None:
    with pytest.raises(ValueError, match="not a read-only operation"):
        build_request("device", "SetSystemDateAndTime")
    body = build_request("device", "GetDeviceInformation", credential=RIGHT, clock_offset_s=3 * 86400.0)
    root = parse_xml(body)
    created = "".join(iter_local(root, "Created")[0].itertext())
    assert created.endswith("Z")
    from datetime import datetime, timezone

    stamp = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert abs((stamp - datetime.now(timezone.utc)).total_seconds() - 3 * 86400) < 5
    assert RIGHT.password.encode() not in body  # digest, not text
    media2 = parse_xml(build_request("media2", "GetStreamUri", {"ProfileToken": "p1"}))
    assert find_local(media2, "Body", "GetStreamUri", "Protocol") is not None


@pytest.mark.parametrize(
    ("capture", "kind"),
    [
        ("fault/axis_q6045e_notauthorized.xml", AuthError),
        ("fault/trendnet_tvip320pi_notauthorized.xml", AuthError),
        ("fault/dahua_notimplemented_hammeraj.xml", UnsupportedError),
        ("fault/univiewoem_sunba_perf_fault.xml", UnsupportedError),
        ("fault/hikvision_ds2cd2012i_getservices_invalidparameter.xml", UnsupportedError),
        ("fault/hikoem_enp1a14_fault.xml", UnsupportedError),
    ],
)
def test_faults_are_typed(capture: str, kind: type) -> None:
    fault = soap_fault(parse_xml((CAPTURES / capture).read_bytes()))
    assert fault is not None
    err = _fault_error("127.0.0.1", fault)
    assert type(err) is kind
    assert err.detail.startswith("ter:")


def test_loading_the_library_leaves_root_logging_alone() -> None:
    """onvif-zeep-async calls logging.basicConfig(INFO) when imported; we undo it."""
    import subprocess
    import sys

    code = (
        "import logging\n"
        "from sitescout.probes.onvif.soap import build_request\n"
        "build_request('device', 'GetDeviceInformation')\n"
        "root = logging.getLogger()\n"
        "assert not root.handlers and root.level == logging.WARNING, (root.handlers, root.level)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("allow", [False, True])
def test_password_in_clear_only_when_allowed(allow: bool) -> None:
    # A device that refuses the digests (a hostile one, or a wrong password) must not be handed
    # the password in clear (WS-Security PasswordText) unless the operator asked for it.
    config = replace(DEFAULT_ONVIF, allow_plaintext_auth=allow)
    with camera(credentials=(RIGHT.username, RIGHT.password), auth="wsse") as cam:
        result = interrogate(cam, [WRONG], config)
        methods = [e["method"] for e in cam.auth_log if e["username"]]
    assert result.info is not None and result.info.auth == "failed"
    assert methods and set(methods) <= {"wsse", "wsse-text"}
    assert ("wsse-text" in methods) is allow, methods
