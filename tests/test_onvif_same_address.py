"""An ONVIF password goes only to the endpoint interrogated, not to another port of the same address.

Issue #11, class 1, the same-address case: a camera whose GetServices/GetCapabilities answer names
its own IP on another port (at a NAT'd site, the port forwarded to another camera) must not make the
worker's or the survey's signed calls go there.  The camera simulator's XAddrs are rewritten to name
``ip:<other port>``, where a Recorder (a real listener asking for a Digest login) records every byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from support import Recorder, free_port, secret_forms

from sitescout.device_uris import rebase_onto
from sitescout.infra.lab.camera import CameraServer
from sitescout.probes.credentials import Credential
from sitescout.probes.errors import AuthError
from sitescout.probes.onvif.interrogate import OnvifConfig, OnvifTarget, async_interrogate
from sitescout.probes.onvif.soap import SoapCaller
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
from sitescout.probes.worker.kinds.onvif import probe_onvif
from sitescout.probes.worker.kinds.onvif import OnvifSettings
from sitescout.probes.worker.records import Target

PERSONA = "hikvision_ds2cd2012i"


class _OtherPortCamera(CameraServer):
    """The simulator, except that every URL naming its ONVIF service names another port of its address."""

    other_port = 0

    def _response(self, action: str) -> Any:
        resp = super()._response(action)
        own = f"{self.ip}:{self.onvif_port}".encode()
        body = resp.body.replace(own, f"{self.ip}:{self.other_port}".encode())
        return dataclasses.replace(resp, body=body)


def _free_ip() -> str:
    return f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


def _leaks(data: bytes, password: str) -> list[str]:
    found = [form for form, needle in secret_forms(password).items() if needle in data]
    for marker in (b"Authorization:", b"authorization:", b"UsernameToken", b"PasswordDigest", b"Basic ", b"admin"):
        if marker in data:
            found.append(marker.decode())
    return found


@pytest.fixture()
def other_port_lab() -> Any:
    password = f"pw-{random.getrandbits(48):012x}"
    ip = _free_ip()
    port, other = free_port(ip), free_port(ip)
    camera = _OtherPortCamera(PERSONA, ip, onvif_port=port, discovery="off", credentials=("admin", password))
    camera.other_port = other
    recorder = Recorder(ip, {"http": other})
    camera.start()
    recorder.start()
    try:
        yield camera, recorder, password
    finally:
        recorder.stop()
        camera.stop()


def test_the_simulator_really_names_the_other_port(other_port_lab: Any) -> None:
    camera, _, _ = other_port_lab
    body = camera._response("GetServices").body + camera._response("GetCapabilities").body
    assert f"{camera.ip}:{camera.other_port}".encode() in body


def test_worker_onvif_probe_signs_nothing_for_another_port(other_port_lab: Any) -> None:
    camera, recorder, password = other_port_lab
    target = Target("s", "cam", camera.ip, "camera", camera.device_url)
    ctx = ProbeContext(credentials=[Credential("admin", password)])
    results = asyncio.run(probe_onvif([ProbeJob("onvif", target)], OnvifSettings(timeout_s=5.0), ctx))
    assert results[0].up, results[0].detail
    assert _leaks(recorder.data, password) == []


def test_survey_interrogation_rebases_service_xaddrs_onto_the_endpoint(other_port_lab: Any) -> None:
    camera, recorder, password = other_port_lab
    endpoint = camera.device_url
    config = OnvifConfig(connect_timeout_s=1.0, read_timeout_s=2.0, device_budget_s=6.0)
    got = asyncio.run(async_interrogate(OnvifTarget(camera.ip, endpoint), [Credential("admin", password)], config))
    assert got.info is not None and got.info.auth == "ok", got.errors
    assert got.info.services, "no services read"
    for url in got.info.services.values():
        assert url.startswith(f"http://{camera.ip}:{camera.onvif_port}/"), url
    assert got.info.profiles, got.errors  # the media calls reached the camera's real service
    assert _leaks(recorder.data, password) == []


def test_the_soap_caller_signs_only_for_the_endpoints_scheme_and_port() -> None:
    ip = _free_ip()
    port, other = free_port(ip), free_port(ip)
    recorder = Recorder(ip, {"http": other})
    recorder.start()

    async def call() -> None:
        caller = SoapCaller(ip, endpoint=f"http://{ip}:{port}/onvif/device_service", connect_timeout_s=1.0,
                            read_timeout_s=1.0, max_reply_bytes=65536,
                            deadline=asyncio.get_running_loop().time() + 5.0)
        try:
            for url in (f"http://{ip}:{other}/onvif/Media", f"https://{ip}:{port}/onvif/Media"):
                for method in ("wsse-digest", "wsse-text", "http-digest"):
                    with pytest.raises(AuthError, match="not the device's ONVIF endpoint"):
                        await caller.call(url, "device", "GetDeviceInformation",
                                          credential=Credential("admin", "pw-x"), method=method)
        finally:
            await caller.close()

    try:
        asyncio.run(call())
    finally:
        recorder.stop()
    assert recorder.connections == 0 and recorder.data == b""


def test_rebase_onto_keeps_path_and_query_only() -> None:
    assert rebase_onto("https://admin:pw@10.0.0.1:8081/onvif/Media?x=1", "http://198.51.100.7/onvif/device_service") \
        == "http://198.51.100.7/onvif/Media?x=1"
    assert rebase_onto("http://198.51.100.7:8081/a", "http://198.51.100.7:8000/d") == "http://198.51.100.7:8000/a"
