"""A site's uplink down (SitescoutUplinkDown) inhibits its cameras' and camera ports' alerts in a real
Alertmanager (issue #15).

Debian's prometheus-alertmanager on loopback with the shipped province config (webhooks pointed at a
closed local port: nothing is delivered anywhere); alerts are posted to its API as Prometheus would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
AM = shutil.which("prometheus-alertmanager")
SITE = {"region": "Tuyên Quang", "commune": "Xã Hướng Đạo", "site": "Thôn Đồng Bùa"}


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, **SITE, **labels},
            "annotations": {"summary": name}, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@pytest.mark.skipif(AM is None, reason="needs Debian's prometheus-alertmanager")
def test_an_uplink_down_inhibits_the_cameras_behind_it(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "infra" / "province" / "alertmanager.yml").read_text(encoding="utf-8"))
    for receiver in doc["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = "http://127.0.0.1:9/discard"  # closed: nothing leaves this machine or reaches a server
            hook.pop("http_config", None)
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v2/alerts"
    assert AM is not None
    proc = subprocess.Popen([AM, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.2)
        alerts = [_alert("SitescoutCameraDown", "critical", device="cam-1"),
                  _alert("SitescoutStreamDown", "critical", device="cam-2", profile="main"),
                  _alert("SitescoutCameraPortDown", "warning", device="sw2", interface="p3", if_index="4"),
                  _alert("SitescoutCameraDown", "critical", device="cam-9", site="Thôn Khác"),
                  _alert("SitescoutCameraPortDown", "warning", device="sw9", interface="p1", if_index="2",
                         site="Thôn Khác")]

        def post(items: list[dict[str, Any]]) -> None:
            request = urllib.request.Request(base, json.dumps(items).encode(), {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5)

        def states() -> dict[str, str]:
            got = json.loads(urllib.request.urlopen(base, timeout=5).read())
            return {a["labels"]["device"]: a["status"]["state"] for a in got}

        post(alerts)
        assert set(states().values()) == {"active"}  # no uplink alert yet: every camera pages
        post([_alert("SitescoutUplinkDown", "critical", device="sw1", interface="up2", if_index="9"), *alerts])
        deadline = time.monotonic() + 10
        while states().get("cam-1") != "suppressed" and time.monotonic() < deadline:
            time.sleep(0.2)
        # the site's camera port alert too (same site, another switch); the other site's alerts still page
        assert states() == {"sw1": "active", "cam-1": "suppressed", "cam-2": "suppressed", "sw2": "suppressed",
                            "cam-9": "active", "sw9": "active"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
