"""A survey of a site with hostile devices finishes within its budget; each bad device gets a clear error."""

from __future__ import annotations

import json
import sys
import time

import pytest

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.personas import load_persona
from sitescout.infra.lab.scenario import build_survey_lab

pytestmark = pytest.mark.netns

GOOD = "hikvision_ds2cd2012i"
MODES = ["hang", "bomb", "xxe", "huge", "garbage", "utf16decl", "wsd_flood"]


def test_hostile_cameras_end_as_errors_and_the_survey_completes() -> None:
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns

    skip_unless_netns()
    personas = [GOOD] + ["axis_q6045e"] * len(MODES) + [GOOD]
    hostile = {i + 1: mode for i, mode in enumerate(MODES)}
    with LabSite() as site:
        lab = build_survey_lab(site, personas, ["switch"], hostile=hostile)
        # A plain host that accepts TCP on the camera ports and never says a word.
        silent = site.add_host("silent", "198.51.100.120/24")
        silent.popen([sys.executable, "-c", (
            "import socket,time\n"
            "ss=[]\n"
            "for p in (80, 554, 8000):\n"
            "    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "    s.bind(('198.51.100.120', p)); s.listen(64); ss.append(s)\n"
            "time.sleep(600)\n")])
        time.sleep(0.3)
        started = time.monotonic()
        result = lab.survey("--site", "hostile", "--network", "198.51.100.0/24", "--json", "-", timeout=120)
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    hosts = {h["ip"]: h for h in doc["hosts"]}
    # Budget: sweep + ports + WS-Discovery (3 s) + the per-device ONVIF budget (20 s) + start-up.
    assert elapsed < 45, elapsed

    good_ips = [lab.cameras[0].ip, lab.cameras[-1].ip]
    want = load_persona(GOOD).expected_identity()
    for ip in good_ips:
        assert hosts[ip]["onvif"]["model"] == want["model"]
        assert hosts[ip]["errors"] == [] or all("GetNetworkInterfaces" in e for e in hosts[ip]["errors"])

    for index, mode in hostile.items():
        camera = lab.cameras[index]
        record = hosts[camera.ip]
        assert record["kind"] == "camera", mode
        text = " ".join(record["errors"])
        if mode == "utf16decl":
            # Wrong encoding declaration on ASCII bytes: parsed leniently, as real cameras need.
            assert record["onvif"]["model"], record
        elif mode == "wsd_flood":
            # 10,000 spoofed replies to one Probe: the flood is bounded and the real device still identified.
            assert record["onvif"]["endpoint"] == camera.endpoint
            assert any("distinct endpoints answered from this address" in e for e in record["errors"])
        elif mode == "hang":
            assert "timeout" in text, record
        else:
            assert "malformed" in text, (mode, record)
        assert "root:x:0:0" not in json.dumps(record)

    silent_record = hosts["198.51.100.120"]
    assert silent_record["open_ports"] == [80, 554, 8000]
    assert silent_record["kind"] == "host"
    assert "root:x:0:0" not in result.stdout
