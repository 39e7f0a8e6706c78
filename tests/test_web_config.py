"""The worker's --web.config.file (exporter-toolkit format): strict loading, and a real TLS + basic-auth
listener answering real HTTP clients (urllib, http.client, the `sitescout worker` command itself)."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest

from sitescout.probes.worker.exporter import Exporter, serve_in_background
from sitescout.probes.worker.web_auth import MAX_PENDING_CHECKS
from sitescout.probes.worker.web_config import WebConfig, WebConfigError, load_web_config, parse_go_duration
from sitescout.probes.worker.scheduler import FileTargetSource, Worker
from tls_support import Pair, make_pair

PASSWORD = "scrape-pw-3316"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pair]:
    d = tmp_path_factory.mktemp("pki")
    ca = make_pair(d, "ca", cn="sitescout test CA", is_ca=True)
    return {"server": make_pair(d, "server", cn="worker", ips=("127.0.0.1",)),
            "ca": ca,
            "client": make_pair(d, "client", cn="prometheus", issuer=ca, client=True, dns=("prometheus.noc",)),
            "stranger": make_pair(d, "stranger", cn="prometheus", client=True)}


def _targets(tmp_path: Path) -> Path:
    targets = tmp_path / "targets.yml"
    targets.write_text("defaults:\n  link: {interval_s: 600}\ntargets:\n  - {site: loop, device: lo, ip: 127.0.0.1}\n")
    return targets


def _web(tmp_path: Path, text: str) -> WebConfig:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return load_web_config(path)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Serve a worker with a web config; yields a function(text) -> base URL."""
    stack: list = []  # type: ignore[type-arg]

    def start(text: str) -> tuple[str, Exporter]:
        cm = serve_in_background(Worker(FileTargetSource(_targets(tmp_path)), poll_s=0.5),
                                 web_config=_web(tmp_path, text), web_config_file=tmp_path / "web.yml")
        exporter = cm.__enter__()
        stack.append(cm)
        host, port = exporter.address
        return f"{exporter.scheme}://{host}:{port}", exporter

    yield start
    for cm in stack:
        cm.__exit__(None, None, None)


def _client_ctx(pki: dict[str, Pair], cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["server"].cert))
    if cert:
        ctx.load_cert_chain(str(pki[cert].cert), str(pki[cert].key))
    return ctx


def _get(url: str, *, user: str | None = None, password: str = PASSWORD, method: str = "GET",
         ctx: ssl.SSLContext | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, method=method)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=20, context=ctx) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


# ---------------------------------------------------------------------------
# Strict loading: one invalid file per rule, the exact message (blackbox config/testdata style).


@pytest.mark.parametrize("text, message", [
    ("tls_server_config: {}\nbasic_auth_user: {}\n", "2: basic_auth_user: unknown key (expected one of: "
     "tls_server_config, http_server_config, rate_limit, basic_auth_users)"),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cert_flie: b\n",
     "4: tls_server_config.cert_flie: unknown key (expected one of: cert, key, client_ca, cert_file, key_file, "
     "client_auth_type, client_ca_file, cipher_suites, curve_preferences, min_version, max_version, "
     "prefer_server_cipher_suites, client_allowed_sans)"),
    ("basic_auth_users:\n  alice: x\n  alice: y\n", "3: basic_auth_users.alice: repeated key"),
    ("basic_auth_users:\n  alice: hunter2\n", "2: basic_auth_users.alice: not a bcrypt hash"),
    ("basic_auth_users:\n  alice: 12\n", "2: basic_auth_users.alice: must be a string"),
    ("tls_server_config:\n  cert_file: a.crt\n", "2: tls_server_config: missing one of key or key_file"),
    ("tls_server_config:\n  key_file: a.key\n", "2: tls_server_config: missing one of cert or cert_file"),
    ("http_server_config:\n  headers:\n    X-Powered-By: me\n",
     "3: http_server_config.headers.X-Powered-By: HTTP header 'X-Powered-By' can not be configured"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     "3: http_server_config.headers.X-Frame-Options: expected one of deny, sameorigin, not 'allow'"),
    ("http_server_config:\n  http2: maybe\n", "2: http_server_config.http2: must be true or false"),
    ("rate_limit:\n  interval: 10 seconds\n  burst: 3\n", "2: rate_limit.interval: not a duration"),
    ("rate_limit:\n  interval: 1s\n", "2: rate_limit.burst: must be at least 1 when an interval is given"),
    ("tls_server_config: [a]\n", "1: tls_server_config: must be a mapping"),
    ("tls_server_config: {cert_file: x\n", "not valid YAML"),
])
def test_invalid_files_are_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WebConfigError) as info:
        _web(tmp_path, text)
    assert f"{tmp_path / 'web.yml'}:" in str(info.value) and message in str(info.value), str(info.value)


@pytest.mark.parametrize("tls, message", [
    ("min_version: TLS9", "tls_server_config.min_version: expected one of TLS10, TLS11, TLS12, TLS13, not 'TLS9'"),
    ("min_version: TLS13\n  max_version: TLS12", "tls_server_config: min_version is above max_version"),
    ("client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt",
     "tls_server_config.client_auth_type: RequireAnyClientCert is not supported"),
    ("client_auth_type: Sometimes", "tls_server_config.client_auth_type: expected one of NoClientCert, "
     "VerifyClientCertIfGiven, RequireAndVerifyClientCert, not 'Sometimes'"),
    ("client_ca_file: ca.crt", "tls_server_config: client CA's have been configured without a client_auth_type"),
    ("client_auth_type: RequireAndVerifyClientCert", "RequireAndVerifyClientCert needs client_ca_file"),
    ("cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]", "tls_server_config.cipher_suites: unknown cipher: "
     "TLS_RSA_WITH_RC4_128_SHA"),
    ("curve_preferences: [CurveP1]", "tls_server_config.curve_preferences: unknown curve: CurveP1"),
    ("client_allowed_sans: [a]", "tls_server_config.client_allowed_sans: needs client_auth_type "
     "RequireAndVerifyClientCert"),
])
def test_invalid_tls_settings_are_refused(tmp_path: Path, pki: dict[str, Pair], tls: str, message: str) -> None:
    (tmp_path / "ca.crt").write_bytes(pki["ca"].cert.read_bytes())
    text = f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n  {tls}\n"
    with pytest.raises(WebConfigError) as info:
        _web(tmp_path, text)
    assert message in str(info.value), str(info.value)


def test_unreadable_certificate_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_text("not a certificate")
    with pytest.raises(WebConfigError) as info:
        _web(tmp_path, "tls_server_config:\n  cert_file: bad.crt\n  key_file: bad.crt\n")
    assert "tls_server_config: cannot load the certificate, key or CA" in str(info.value)


def test_relative_paths_are_from_the_files_directory_and_empty_file_is_plain_http(
        tmp_path: Path, pki: dict[str, Pair]) -> None:
    (tmp_path / "w.crt").write_bytes(pki["server"].cert.read_bytes())
    (tmp_path / "w.key").write_bytes(pki["server"].key.read_bytes())
    got = _web(tmp_path, "tls_server_config:\n  cert_file: w.crt\n  key_file: w.key\n  min_version: TLS13\n")
    assert got.tls is not None and got.tls.cert_file == str(tmp_path / "w.crt")
    assert got.tls.min_version == ssl.TLSVersion.TLSv1_3 and not got.is_protected
    empty = _web(tmp_path, "")
    assert empty.tls is None and not empty.users and not empty.is_protected
    assert parse_go_duration("1m30s") == 90.0 and parse_go_duration("250ms") == 0.25


# ---------------------------------------------------------------------------
# A real listener.


def test_basic_auth_over_tls(serve, pki: dict[str, Pair]) -> None:  # type: ignore[no-untyped-def]
    base, exporter = serve(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: "
                           f"{pki['server'].key}\nbasic_auth_users:\n  prometheus: {HASH}\n")
    ctx = _client_ctx(pki)
    assert base.startswith("https://")
    probe = f"{base}/probe?module=icmp&target=127.0.0.1&count=2&interval=0"
    for url, method in ((f"{base}/metrics", "GET"), (probe, "GET"), (f"{base}/-/reload", "POST")):
        status, body, headers = _get(url, method=method, ctx=ctx)
        assert status == 401 and headers.get("WWW-Authenticate") == "Basic", (url, status)
        assert _get(url, user="prometheus", password="wrong", method=method, ctx=ctx)[0] == 401
        assert _get(url, user="nobody", method=method, ctx=ctx)[0] == 401
        status, body, _ = _get(url, user="prometheus", method=method, ctx=ctx)
        assert status == 200, (url, body)
    assert "probe_success 1.0" in _get(probe, user="prometheus", ctx=ctx)[1]


def test_plain_http_is_refused_on_the_tls_port(serve, pki: dict[str, Pair]) -> None:  # type: ignore[no-untyped-def]
    base, _ = serve(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n")
    host, port = base.removeprefix("https://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/metrics")
        conn.getresponse().read()
    conn.close()
    assert _get(f"{base}/metrics", ctx=_client_ctx(pki))[0] == 200  # no users: TLS only


def test_min_version_is_enforced(serve, pki: dict[str, Pair]) -> None:  # type: ignore[no-untyped-def]
    base, _ = serve(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n"
                    "  min_version: TLS13\n")
    old = _client_ctx(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(urllib.error.URLError):
        _get(f"{base}/metrics", ctx=old)
    assert _get(f"{base}/metrics", ctx=_client_ctx(pki))[0] == 200


def test_client_certificates_are_required_and_verified(serve, pki: dict[str, Pair]) -> None:  # type: ignore
    base, _ = serve(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n"
                    f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki['ca'].cert}\n"
                    "  client_allowed_sans: [prometheus.noc]\n")
    for cert in (None, "stranger"):  # none, or one the CA did not sign
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _get(f"{base}/metrics", ctx=_client_ctx(pki, cert))
    status, body, _ = _get(f"{base}/metrics", ctx=_client_ctx(pki, "client"))
    assert status == 200 and "sitescout_device_up" in body


def test_client_sans_are_checked(serve, pki: dict[str, Pair]) -> None:  # type: ignore[no-untyped-def]
    base, _ = serve(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n"
                    f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki['ca'].cert}\n"
                    "  client_allowed_sans: [grafana.noc]\n")
    assert _get(f"{base}/metrics", ctx=_client_ctx(pki, "client"))[0] == 403


def test_verified_pairs_are_cached_failures_are_not(serve) -> None:  # type: ignore[no-untyped-def]
    base, exporter = serve(f"basic_auth_users:\n  prometheus: {HASH}\n"
                           "http_server_config:\n  headers: {X-Content-Type-Options: nosniff}\n")
    auth = exporter.guard.auth
    for _ in range(10):
        status, _, headers = _get(f"{base}/metrics", user="prometheus")
        assert status == 200 and headers.get("X-Content-Type-Options") == "nosniff"
    assert auth.checks == 1  # one bcrypt for ten scrapes
    for _ in range(3):
        assert _get(f"{base}/metrics", user="prometheus", password="guess")[0] == 401
    assert auth.checks == 4  # every failure costs a bcrypt
    assert _get(f"{base}/metrics", user="ghost", password="guess")[0] == 401
    assert auth.checks == 5  # an unknown user too (no user enumeration by timing)


def test_a_guessing_flood_is_bounded_and_verified_scrapes_go_on(serve) -> None:  # type: ignore[no-untyped-def]
    slow = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(11)).decode()
    base, exporter = serve(f"basic_auth_users:\n  prometheus: {slow}\n")
    assert _get(f"{base}/metrics", user="prometheus")[0] == 200  # verified once: cached
    stop = threading.Event()
    statuses: list[int] = []

    def guess() -> None:
        while not stop.is_set():
            statuses.append(_get(f"{base}/-/healthy", user="prometheus", password="guess")[0])

    times = []
    with ThreadPoolExecutor(MAX_PENDING_CHECKS + 8) as pool:
        for _ in range(MAX_PENDING_CHECKS + 8):
            pool.submit(guess)
        try:
            time.sleep(0.5)
            for _ in range(10):
                started = time.monotonic()
                assert _get(f"{base}/metrics", user="prometheus")[0] == 200
                times.append(time.monotonic() - started)
                time.sleep(0.1)
        finally:
            stop.set()
    assert max(times) < 1.0, times
    assert 429 in statuses and set(statuses) <= {401, 429}, set(statuses)


def test_the_worker_command_serves_tls_and_checks_the_file(tmp_path: Path, pki: dict[str, Pair]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("basic_auth_users:\n  prometheus: plain\n")
    cmd = [sys.executable, "-m", "sitescout", "worker", "--targets", str(_targets(tmp_path))]
    cp = subprocess.run([*cmd, "--check-config", "--web.config.file", str(bad)], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 2 and f"{bad}:2: basic_auth_users.prometheus: not a bcrypt hash" in cp.stderr
    cp = subprocess.run([*cmd, "--web.config.file", str(bad), "--listen", "127.0.0.1:0"], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 2 and "not a bcrypt hash" in cp.stderr
    good = tmp_path / "web.yml"
    good.write_text(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n"
                    f"basic_auth_users:\n  prometheus: {HASH}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*cmd, "--web.config.file", str(good), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith(f"ready https://127.0.0.1:{port}/metrics"), line
        base = f"https://127.0.0.1:{port}"
        assert _get(f"{base}/metrics", ctx=_client_ctx(pki))[0] == 401
        assert _get(f"{base}/metrics", user="prometheus", ctx=_client_ctx(pki))[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_readme_example_file_loads(tmp_path: Path, pki: dict[str, Pair]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "infra" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Protecting the worker's port", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "worker.crt").write_bytes(pki["server"].cert.read_bytes())
    (tmp_path / "worker.key").write_bytes(pki["server"].key.read_bytes())
    got = _web(tmp_path, example)
    assert got.tls is not None and got.tls.min_version == ssl.TLSVersion.TLSv1_2
    assert set(got.users) == {"prometheus"} and got.headers == {"X-Content-Type-Options": "nosniff"}


def test_reload_rotates_the_certificate_and_users_and_keeps_a_good_config(
        serve, tmp_path: Path, pki: dict[str, Pair]) -> None:  # type: ignore[no-untyped-def]
    first = make_pair(tmp_path, "live", cn="first", ips=("127.0.0.1",))
    base, exporter = serve(f"tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n"
                           f"basic_auth_users:\n  prometheus: {HASH}\n")
    trust_first = ssl.create_default_context(cafile=str(first.cert))
    assert _get(f"{base}/metrics", user="prometheus", ctx=trust_first)[0] == 200
    # Renew the certificate in place and swap the user, then reload.
    second = make_pair(tmp_path, "live", cn="second", ips=("127.0.0.1",))
    (tmp_path / "web.yml").write_text(f"tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n"
                                      f"basic_auth_users:\n  grafana: {HASH}\n")
    status, body, _ = _get(f"{base}/-/reload", user="prometheus", method="POST", ctx=trust_first)
    assert status == 200 and "web config reloaded" in body, body
    trust_second = ssl.create_default_context(cafile=str(second.cert))
    with pytest.raises(urllib.error.URLError):  # the old certificate is no longer served
        _get(f"{base}/metrics", user="grafana", ctx=trust_first)
    assert _get(f"{base}/metrics", user="grafana", ctx=trust_second)[0] == 200
    assert _get(f"{base}/metrics", user="prometheus", ctx=trust_second)[0] == 401
    # A broken file, or a TLS change that needs a restart: refused, the config in force stays.
    for text, message in (("basic_auth_users:\n  grafana: plain\n", "not a bcrypt hash"),
                          (f"tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n  min_version: TLS13\n"
                           f"basic_auth_users:\n  grafana: {HASH}\n", "restart the worker")):
        (tmp_path / "web.yml").write_text(text)
        status, body, _ = _get(f"{base}/-/reload", user="grafana", method="POST", ctx=trust_second)
        assert status == 500 and message in body, body
        assert _get(f"{base}/metrics", user="grafana", ctx=trust_second)[0] == 200


def test_listen_warning_follows_the_web_config(tmp_path: Path, pki: dict[str, Pair]) -> None:
    from sitescout.cmd_worker import listen_warning

    tls = f"tls_server_config:\n  cert_file: {pki['server'].cert}\n  key_file: {pki['server'].key}\n"
    users = f"basic_auth_users:\n  prometheus: {HASH}\n"
    assert listen_warning("198.51.100.2", _web(tmp_path, tls + users)) is None
    assert listen_warning("127.0.0.1", _web(tmp_path, users)) is None
    clear = listen_warning("198.51.100.2", _web(tmp_path, users))
    assert clear is not None and "in clear" in clear
    for config in (None, WebConfig(), _web(tmp_path, tls)):  # TLS alone lets anyone in
        open_ = listen_warning("0.0.0.0", config)
        assert open_ is not None and "no authentication" in open_ and "--web.config.file" in open_
