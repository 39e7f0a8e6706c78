"""The snmp kind without the lab: its targets, its credentials table, its /probe requests and its bounds.

Real files, the real targets parser and a real child process on loopback (nothing listens on the
port: an SNMP request to 127.0.0.1 goes nowhere else).  The lab tests are in test_worker_snmp.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sitescout.probes.credentials import CredentialsFileError, load_credentials, load_snmp_credentials
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity, V3User
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
from sitescout.probes.worker.kinds.snmp import SnmpSettings, build, probe_snmp
from sitescout.probes.worker.probe_request import ProbeRequestError
from sitescout.probes.worker.probe_scope import CredentialScope
from sitescout.probes.worker.records import SnmpTarget, Target
from sitescout.probes.worker.store import plan_jobs
from sitescout.probes.worker.targets import parse_targets

SECRET = "c0mmune-Secret-91"
KEY = "v3-auth-Key-5512"

TARGETS = """
defaults:
  snmp: {interval_s: 30, timeout_s: 6, max_rows: 800}
targets:
  - {site: A, device: sw1, ip: 198.51.100.3, kind: switch, snmp: {port: 1161, uplinks: [up2, "Gi0/1"]}}
  - {site: A, device: rt1, ip: 198.51.100.1, kind: router, snmp: true}
  - {site: A, device: cam1, ip: 198.51.100.10}
"""


def test_targets_file_reads_snmp_targets_and_settings() -> None:
    config = parse_targets(TARGETS)
    sw1, rt1, cam1 = config.targets
    assert (sw1.kind, sw1.snmp) == ("switch", SnmpTarget(1161, ("up2", "Gi0/1")))
    assert (rt1.kind, rt1.snmp) == ("router", SnmpTarget(161, ()))
    assert cam1.snmp is None
    assert config.defaults.snmp == SnmpSettings(interval_s=30, timeout_s=6, max_rows=800)
    kinds = [[j.kind for j in plan_jobs(t)] for t in config.targets]
    assert kinds == [["link", "snmp"], ["link", "snmp"], ["link"]]


def test_snmp_credentials_table(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(f'[snmp]\ncommunities = ["{SECRET}"]\nmax_attempts = 2\n'
                    f'[[snmp.v3]]\nusername = "noc"\nauth_key = "{KEY}"\npriv_key = "{KEY}-p"\n', encoding="utf-8")
    creds = load_snmp_credentials(path)
    assert creds.max_attempts == 2 and creds.communities == (V2cCommunity(SECRET),)
    assert [(u.username, u.security_level) for u in creds.v3_users] == [("noc", "authPriv")]
    assert SECRET not in repr(creds) and KEY not in repr(creds)
    assert load_credentials(path) == []  # a file with only [snmp] holds no camera credentials


@pytest.mark.parametrize("text, message", [
    (f'[snmp]\ncommunity = "{SECRET}"\n', "[snmp]: unknown key(s) community"),
    (f'[snmp]\ncommunities = "{SECRET}"\n', "[snmp]: 'communities' must be a list of non-empty strings"),
    (f'[[snmp.v3]]\nusername = "noc"\nauth_key = "{KEY}"\nauth_protocol = "SHA1"\n',
     "'auth_protocol' must be one of"),
    ('[[snmp.v3]]\nusername = "noc"\nauth_key = "short"\n', "'auth_key' must be a string of at least 8 characters"),
    ('[snmp]\nmax_attempts = 50\n', "'max_attempts' must be an integer from 1 to 5"),
])
def test_snmp_credentials_errors_name_the_key_never_the_secret(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CredentialsFileError) as info:
        load_snmp_credentials(path)
    assert message in str(info.value)
    assert SECRET not in str(info.value) and KEY not in str(info.value) and "short" not in str(info.value)


@pytest.mark.parametrize("target, ip, port", [("198.51.100.3", "198.51.100.3", 161),
                                              ("198.51.100.3:1161", "198.51.100.3", 1161),
                                              ("[2001:db8::1]:162", "2001:db8::1", 162),
                                              ("2001:db8::1", "2001:db8::1", 161)])
def test_probe_request_targets(target: str, ip: str, port: int) -> None:
    job, settings = build("snmp", target, 3.0, {}, SnmpSettings())
    assert (job.kind, job.target.ip, job.target.snmp) == ("snmp", ip, SnmpTarget(port))
    assert settings.timeout_s == 2.5  # fits the scrape's budget


@pytest.mark.parametrize("target", ["sw1.example", "198.51.100.3:0", "198.51.100.3:x", "[::1]:99999"])
def test_probe_request_refuses_bad_targets(target: str) -> None:
    with pytest.raises(ProbeRequestError, match="^target: "):
        build("snmp", target, 10.0, {}, SnmpSettings())


def test_credential_scope_is_the_configured_address_and_port() -> None:
    config = parse_targets(TARGETS)
    scope = CredentialScope()
    assert scope.snmp_device(config, "198.51.100.3", 1161) is config.targets[0]
    assert scope.snmp_device(config, "198.51.100.3", 161) is None  # another port of a configured address
    assert scope.snmp_device(config, "198.51.100.1", 161) is config.targets[1]
    assert scope.snmp_device(config, "198.51.100.10", 161) is None  # a camera without snmp


def _job(port: int = 9) -> ProbeJob:
    return ProbeJob("snmp", Target("A", "sw1", "127.0.0.1", "switch", snmp=SnmpTarget(port)))


def test_no_credentials_means_nothing_is_sent() -> None:
    started = time.monotonic()
    [result] = asyncio.run(probe_snmp([_job()], SnmpSettings(), ProbeContext()))
    assert (result.up, result.reason) == (False, "auth")
    assert time.monotonic() - started < 0.1  # no collection process was started


def test_a_silent_agent_is_unreachable_with_its_reason_and_no_secret() -> None:
    ctx = ProbeContext(snmp_credentials=SnmpCredentials(communities=(V2cCommunity(SECRET),)))
    [result] = asyncio.run(probe_snmp([_job()], SnmpSettings(timeout_s=3.0, request_timeout_s=0.3), ctx))
    assert (result.up, result.reason) == (False, "unreachable")
    assert "wrong community" in (result.detail or "") and SECRET not in (result.detail or "")
    observation = result.to_observation()
    assert SECRET not in repr(observation)
    assert set(observation["values"]) <= {"interfaces", "interfaces_up", "uplinks_down", "uptime_seconds",
                                          "poe_budget_watts", "poe_consumption_watts"}


def test_the_collection_process_is_killed_at_the_budget() -> None:
    """A budget shorter than the v3 child's own start: it is killed there and the probe is a timeout.

    (A v2c probe runs on a thread in the worker: tests/test_snmp_v2c.py bounds it.)"""
    ctx = ProbeContext(snmp_credentials=SnmpCredentials(v3_users=(V3User("noc", KEY),),
                                                        communities=(V2cCommunity(SECRET),)))
    started = time.monotonic()
    [result] = asyncio.run(probe_snmp([_job()], SnmpSettings(timeout_s=0.05, request_timeout_s=0.05), ctx))
    assert (result.up, result.reason) == (False, "timeout")
    assert "process killed" in (result.detail or "")
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------------------
# SNMP settings from the inventory's /sd/prometheus labels.

def _group(device: str, ip: str, kind: str, device_id: int, **snmp: str) -> dict[str, object]:
    labels = {"site": "A", "device": device, "kind": kind, "__meta_sitescout_device_id": str(device_id)}
    labels.update({f"__meta_sitescout_snmp_{key}": value for key, value in snmp.items()})
    return {"targets": [ip], "labels": labels}


INVENTORY_GROUPS = [
    _group("sw-old", "198.51.100.3", "switch", 1),  # an inventory without SNMP settings: 161, no uplinks
    _group("sw-none", "198.51.100.4", "switch", 2, port=""),  # not read over SNMP
    _group("sw-port", "198.51.100.5", "switch", 3, port="1161", uplinks="Gi0/1, up2,,Gi0/1",
           camera_ports="p3,p4"),
    _group("rt1", "198.51.100.1", "router", 4, port=" 161 ", uplinks="ether1"),
    _group("sw-zero", "198.51.100.6", "switch", 5, port="0"),
    _group("sw-big", "198.51.100.7", "switch", 6, port="65536"),
    _group("sw-text", "198.51.100.8", "switch", 7, port="snmp"),
    _group("cam1", "198.51.100.10", "camera", 8, port="161"),  # only switches and routers are read over SNMP
]


def test_inventory_labels_give_the_snmp_settings(caplog: pytest.LogCaptureFixture) -> None:
    from sitescout.probes.worker.inventory_targets import targets_from_groups

    with caplog.at_level("WARNING"):
        targets, ids = targets_from_groups(INVENTORY_GROUPS)
    by_name = {t.device: t for t in targets}
    assert len(targets) == len(INVENTORY_GROUPS) and len(ids) == len(INVENTORY_GROUPS)  # none is dropped
    assert by_name["sw-old"].snmp == SnmpTarget(161, ())
    assert by_name["sw-none"].snmp is None
    assert by_name["sw-port"].snmp == SnmpTarget(1161, ("Gi0/1", "up2"), ("p3", "p4"))
    assert by_name["rt1"].snmp == SnmpTarget(161, ("ether1",))
    assert by_name["cam1"].snmp is None
    for bad, value in (("sw-zero", "0"), ("sw-big", "65536"), ("sw-text", "snmp")):
        assert by_name[bad].snmp is None and by_name[bad].kind == "switch"  # still watched (link), not over SNMP
        assert any(f"A/{bad}: __meta_sitescout_snmp_port {value!r} is not a port" in r.getMessage()
                   for r in caplog.records)
    assert [[j.kind for j in plan_jobs(by_name[d])] for d in ("sw-old", "sw-none", "sw-port")] == [
        ["link", "snmp"], ["link"], ["link", "snmp"]]


def test_inventory_snmp_settings_reach_the_worker_over_http(tmp_path: Path) -> None:
    """A real HTTP server on loopback answers /sd/prometheus with the labels; the worker's source reads it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sitescout.probes.worker.inventory_targets import InventoryTargetSource

    body = json.dumps(INVENTORY_GROUPS).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200 if self.headers.get("Authorization") == "Bearer tok" else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    source = InventoryTargetSource(f"http://127.0.0.1:{server.server_address[1]}", "tok", timeout_s=5,
                                   refresh_s=3600, cache=tmp_path / "cache.json")
    try:
        config = source.load()
        snmp = {t.device: t.snmp for t in config.targets}
        assert snmp["sw-port"] == SnmpTarget(1161, ("Gi0/1", "up2"), ("p3", "p4"))
        assert snmp["sw-none"] is None and snmp["sw-old"] == SnmpTarget()
        scope = CredentialScope()  # SNMP credentials go to the inventory's port, not 161
        sw = next(t for t in config.targets if t.device == "sw-port")
        assert scope.snmp_device(config, "198.51.100.5", 1161) is sw
        assert scope.snmp_device(config, "198.51.100.5", 161) is None
    finally:
        source.close()
        server.shutdown()
        server.server_close()


def test_targets_file_camera_ports_and_their_series() -> None:
    """``camera_ports`` of a targets file marks those ports: sitescout_interface_camera 1, the others 0."""
    from sitescout.probes.worker import metric_defs as md
    from sitescout.probes.worker.kinds.snmp import _port_samples, _result

    config = parse_targets("targets:\n  - {site: A, device: sw1, ip: 198.51.100.3, kind: switch, "
                           "snmp: {uplinks: [up2], camera_ports: [p3]}}\n")
    [sw1] = config.targets
    assert sw1.snmp == SnmpTarget(161, ("up2",), ("p3",))
    iface = {"descr": "", "admin_up": True, "oper_up": True, "speed_bps": 1e9, "in_octets": 1}
    snap = {"interfaces": {str(i): {**iface, "if_index": i, "name": name}
                           for i, name in ((2, "up2"), (3, "p3"), (4, "p4"))},
            "poe_ports": [], "poe_budgets": [], "error_kind": None, "error": None, "truncated": [],
            "system": {"uptime_ticks": 100}}
    result = _result(ProbeJob("snmp", sw1), snap, 0.1, SnmpCredentials())
    camera = {labels[2]: value for name, labels, value in _port_samples(result, sw1)
              if name == md.INTERFACE_CAMERA.name}
    uplink = {labels[2]: value for name, labels, value in _port_samples(result, sw1)
              if name == md.INTERFACE_UPLINK.name}
    assert camera == {"up2": 0.0, "p3": 1.0, "p4": 0.0} and uplink == {"up2": 1.0, "p3": 0.0, "p4": 0.0}


def test_collect_sections_are_checked() -> None:
    from sitescout.probes.snmp.collect import SECTIONS, CollectSettings
    from sitescout.probes.worker.kinds.snmp import MONITORING_SECTIONS

    assert set(MONITORING_SECTIONS) <= set(SECTIONS) and {"entity", "fdb", "lldp", "arp"} <= set(SECTIONS)
    settings = CollectSettings(sections=["poe", "interfaces", "poe"])  # as the child's JSON request gives it
    assert settings.sections == ("poe", "interfaces")
    assert settings.reads("poe") and not settings.reads("fdb") and CollectSettings().reads("fdb")
    with pytest.raises(ValueError, match="sections: unknown 'vlan'; known: entity, interfaces"):
        CollectSettings(sections=("interfaces", "vlan"))
