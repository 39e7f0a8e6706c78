"""A real Prometheus (Debian's) scrapes a worker served with --web.config.file, over HTTPS with basic auth,
using the commented block of the example infra/prometheus/prometheus.yml — so that block stays valid."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from support import free_port

from sitescout.probes.worker.exporter import serve_in_background
from sitescout.probes.worker.web_config import load_web_config
from sitescout.probes.worker.scheduler import FileTargetSource, Worker
from tls_support import make_pair

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "infra" / "prometheus" / "prometheus.yml"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def example_worker_block() -> dict[str, Any]:
    """Return the commented `worker web config` block of the example's sitescout-worker job, uncommented."""
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text.split("# BEGIN worker web config\n", 1)[1].split("# END worker web config", 1)[0]
    lines = [line.strip().removeprefix("#")[1:] for line in block.splitlines() if line.strip()]
    got = yaml.safe_load("\n".join(lines))
    assert set(got) == {"scheme", "tls_config", "basic_auth"}, got
    return got


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None, reason="Debian's prometheus package is not installed")
def test_prometheus_scrapes_the_worker_over_https_with_basic_auth(tmp_path: Path) -> None:
    server = make_pair(tmp_path, "worker", cn="worker", ips=("127.0.0.1",))
    password = "prom-scrape-8842"
    (tmp_path / "worker.password").write_text(password + "\n")
    (tmp_path / "wrong.password").write_text("not-it\n")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: worker.crt\n  key_file: worker.key\n"
                   f"basic_auth_users:\n  prometheus: {hashed}\n")
    targets = tmp_path / "targets.yml"
    targets.write_text("defaults:\n  link: {interval_s: 1, count: 2, echo_interval_s: 0.01, timeout_s: 0.3}\n"
                       "targets:\n  - {site: loop, device: lo, ip: 127.0.0.1}\n")

    block = example_worker_block()
    block["tls_config"]["ca_file"] = str(server.cert)
    block["basic_auth"]["password_file"] = str(tmp_path / "worker.password")
    wrong = json.loads(json.dumps(block))
    wrong["basic_auth"]["password_file"] = str(tmp_path / "wrong.password")
    with serve_in_background(Worker(FileTargetSource(targets), poll_s=0.5),
                             web_config=load_web_config(web)) as exporter:
        address = "%s:%d" % exporter.address
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                  "scrape_configs": [
                      {"job_name": "sitescout-worker", **block, "static_configs": [{"targets": [address]}]},
                      {"job_name": "wrong-password", **wrong, "static_configs": [{"targets": [address]}]},
                      {"job_name": "plain-http", "static_configs": [{"targets": [address]}]}]}
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        check = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        port = free_port()
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    up = {r["metric"]["job"]: r["value"][1] for r in _query(port, "up")}
                    device = _query(port, 'sitescout_device_up{job="sitescout-worker"}')
                except OSError:
                    up, device = {}, []
                if len(up) == 3 and device:
                    break
                assert time.monotonic() < deadline, f"Prometheus did not scrape the worker: {up}"
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(10)
    assert up == {"sitescout-worker": "1", "wrong-password": "0", "plain-http": "0"}, up
    assert device[0]["metric"]["device"] == "lo"
