"""`sitescout demo`: simulated cameras on loopback, surveyed end to end, as root and as nobody."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sitescout.infra.lab.personas import load_persona
from sitescout.demo import DEMO_PERSONAS, _camera_ip


def _demo(*prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "sitescout", "demo", "--json", "-"],
                          capture_output=True, text=True, timeout=120, cwd="/")


def _check(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert result.stderr.startswith("sitescout demo: 6 simulated cameras on 127.0.0.17–127.0.0.22")
    hosts = {h["ip"]: h for h in doc["hosts"]}
    for i in range(6):
        record = hosts[_camera_ip(i)]
        want = load_persona(DEMO_PERSONAS[i]).expected_identity()
        assert record["kind"] == "camera"
        assert (record["onvif"]["manufacturer"], record["onvif"]["model"], record["onvif"]["serial"]) == (
            want["manufacturer"], want["model"], want["serial"])
        assert record["link"]["received"] > 0
    assert hosts[_camera_ip(0)]["onvif"]["auth"] == "ok"  # the protected camera, via the demo's credentials
    assert abs(hosts[_camera_ip(1)]["onvif"]["clock_offset_s"] - 2 * 86400) < 2
    assert hosts["127.0.0.29"]["kind"] == "host" and 8899 in hosts["127.0.0.29"]["open_ports"]
    for i in range(6):
        for stream in hosts[_camera_ip(i)]["streams"]:
            # Checked, or (where this user cannot start the interpreter again, e.g. a venv
            # on a /root interpreter run as nobody) a clear error, never a crash.
            assert stream["up"] or stream["error"], stream
    return doc


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the demo as root and, with setpriv, as nobody")
def test_demo_as_root_and_as_nobody() -> None:
    _check(_demo())
    as_nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    probe = subprocess.run([*as_nobody, sys.executable, "-c", "import sitescout.demo"], capture_output=True,
                           timeout=60, cwd="/")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot read this checkout or its venv: {probe.stderr.decode()[-200:]}")
    nobody = _check(_demo(*as_nobody))
    # Without root nothing privileged is bound: the switch (80, 443) is left out.
    assert "127.0.0.28" not in {h["ip"] for h in nobody["hosts"]}
