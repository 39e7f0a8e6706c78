"""The running API against its own OpenAPI document, with Schemathesis (issue 13).

A real ``sitescout serve`` on loopback, on a seeded temporary inventory, with an admin token:
Schemathesis reads ``/api/v1/openapi.json`` and sends generated requests (examples, the
coverage phase's boundary and negative cases, then random ones; a fixed seed and a small
number of examples per operation, so it is the same run every time and well under a minute)
to every described operation, with ``If-Match: *`` so that the writes get past the version
check and exercise the models.  Checks: no 5xx, every status code and content type documented,
every answer matching its schema, documented headers present.  Operations described only by a
docstring (tag ``other``: plans, alerts, tokens, users) are left out: their answers have no
schema yet.

A camera password stored before the run must appear in no answer the run received.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet
from support import free_port
from web_seed import seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.secrets import set_device_credential

PASSWORD = "st-planted-password-4411"
CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance",
          "content_type_conformance", "response_headers_conformance")


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sitescout serve exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


def test_the_running_api_matches_its_openapi_document(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    database = open_database(url)
    site_ids = seed_commune(database)
    key = Fernet.generate_key()
    with database.session() as session:
        token = store.create_token(session, "admin")
        camera = next(d for d in store.list_devices(session) if d.kind == "camera")
        set_device_credential(session, camera.id, "admin", PASSWORD, key=key)
    database.close()
    assert site_ids
    port = free_port()
    env = {**os.environ, "SITESCOUT_SECRET_KEY": key.decode()}
    serve = subprocess.Popen([sys.executable, "-m", "sitescout", "serve", "--db", url, "--listen", f"127.0.0.1:{port}",
                              "--data-dir", str(tmp_path / "data")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/api/v1/openapi.json", serve)
        cassette = tmp_path / "cassette.yaml"
        started = time.monotonic()
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", f"{base}/api/v1/openapi.json",
             "-H", f"Authorization: Bearer {token}", "-H", "If-Match: *", "--checks", ",".join(CHECKS),
             "--exclude-tag", "other", "--max-examples", "5", "--phases", "examples,coverage,fuzzing", "--seed", "1",
             "--no-shrink", "--workers", "1", "--request-timeout", "10", "--max-failures", "20",
             "--report", "vcr", "--report-vcr-path", str(cassette)],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
        elapsed = time.monotonic() - started
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        assert elapsed < 120, f"the run took {elapsed:.0f} s"
        recorded = cassette.read_text(errors="replace")
        assert "/api/v1/devices" in recorded and "/api/v1/changes" in recorded  # it did exercise the API
        assert PASSWORD not in recorded and PASSWORD.encode().hex() not in recorded
    finally:
        serve.terminate()
        serve.wait(10)
