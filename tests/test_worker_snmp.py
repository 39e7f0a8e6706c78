"""`sitescout worker` with SNMP targets against the SNMP lab: Debian snmpd agents in namespaces, and hostile ones.

The workers run in the lab's scanner namespace (198.51.100.2) and listen on its address; scrapes come
from cam1's namespace (198.51.100.11, on sw1), never from the root namespace.  The ground truth
(``infra/lab/snmp_site.py``) gives every port's ifIndex, the PoE draw per port, the budget and the
uplink speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sitescout.infra.lab.pytest_plugin import skip_unless_netns
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.kinds.snmp import MAX_PORTS

pytestmark = pytest.mark.netns

PY = sys.executable
SITE = "Thôn Đồng Bùa"
SW1, SW2 = "198.51.100.3", "198.51.100.4"
#: The cameras cabled to sw1 on VLAN 10 (the main worker's targets name their ports in ``camera_ports``).
CAMERAS_ON_SW1 = ("198.51.100.10", "198.51.100.11")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

_SCRAPE = """
import sys, time, urllib.request
t = time.monotonic()
body = urllib.request.urlopen(sys.argv[1], timeout=30).read().decode()
print(time.monotonic() - t)
sys.stdout.write(body)
"""


def _parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _have_agents() -> bool:
    import shutil

    return all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget"))


@dataclass
class Lab:
    lab: Any
    tmp: Path
    client: Any
    workers: dict[str, tuple[str, Path]]  # name -> (base URL, log file)

    def scrape(self, worker: str, path: str = "/metrics") -> tuple[float, str]:
        cp = self.client.run([PY, "-c", _SCRAPE, self.workers[worker][0] + path], timeout=60)
        assert cp.returncode == 0, cp.stderr[-2000:]
        elapsed, _, body = cp.stdout.partition("\n")
        return float(elapsed), body

    def wait_for(self, worker: str, check: Callable[[Samples], bool], timeout_s: float = 30.0) -> Samples:
        deadline = time.monotonic() + timeout_s
        while True:
            samples = _parse(self.scrape(worker)[1])
            if check(samples) or time.monotonic() > deadline:
                return samples
            time.sleep(0.5)


def _start_worker(lab: Any, tmp: Path, name: str, port: int, targets: str, credentials: str) -> tuple[str, Path]:
    (tmp / f"{name}.yml").write_text(targets, encoding="utf-8")
    creds = tmp / f"{name}.toml"
    creds.write_text(credentials, encoding="utf-8")
    creds.chmod(0o600)
    log = tmp / f"{name}.log"
    listen = f"{lab.scanner.ip}:{port}"
    with open(log, "w") as err:
        proc = lab.scanner.popen([PY, "-m", "sitescout", "-vv", "worker", "--targets", str(tmp / f"{name}.yml"),
                                  "--credentials", str(creds), "--listen", listen],
                                 stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready"), f"worker {name} did not start: {line!r} {log.read_text()[-2000:]}"
    return f"http://{listen}", log


def _targets(entries: str, timeout_s: float = 4.0) -> str:
    return (f"defaults:\n  snmp: {{interval_s: 3, timeout_s: {timeout_s}, request_timeout_s: 1, max_rows: 2000}}\n"
            f"  link: {{interval_s: 60}}\ntargets:\n{entries}")


def _snmp_target(device: str, ip: str, extra: str = "snmp: true") -> str:
    return f"  - {{site: {SITE}, device: {device}, ip: {ip}, kind: switch, {extra}}}\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    skip_unless_netns()
    if not _have_agents():
        pytest.skip("needs Debian's snmpd, snmp and lldpd (tests/run.sh installs them)")
    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.snmp_site import (LAB_COMMUNITY, LAB_V3_USER, SnmpLabSite, build_snmp_lab,
                                               start_hostile_agents)

    tmp = tmp_path_factory.mktemp("worker-snmp")
    tmp.chmod(0o755)
    LabSite.cleanup_stale()
    site = SnmpLabSite()
    try:
        built = build_snmp_lab(site)
        hostile = start_hostile_agents(site)
        v2c = f'[snmp]\ncommunities = ["{LAB_COMMUNITY}"]\n'
        v3 = (f'[[snmp.v3]]\nusername = "{LAB_V3_USER.name}"\nauth_key = "{LAB_V3_USER.auth_key}"\n'
              f'priv_key = "{LAB_V3_USER.priv_key}"\n')
        cameras = ", ".join(built.truth.ports[ip][1] for ip in CAMERAS_ON_SW1)
        main = (_snmp_target("sw1", SW1, f"snmp: {{uplinks: [up2], camera_ports: [{cameras}]}}")
                + _snmp_target("sw2", SW2)
                + "".join(_snmp_target(f"bad-{mode}", ip) for mode, ip in hostile.items() if mode != "community"))
        workers = {
            "v2c": _start_worker(built, tmp, "v2c", 9121, _targets(main), v2c),
            "v3": _start_worker(built, tmp, "v3", 9122, _targets(_snmp_target("sw1", SW1), 8.0), v3),
            "wrong": _start_worker(built, tmp, "wrong", 9123, _targets(_snmp_target("sw1", SW1)),
                                   '[snmp]\ncommunities = ["wrong-community-77"]\n'),
        }
        built.hostile = hostile
        yield Lab(built, tmp, built.hosts["198.51.100.11"], workers)
    finally:
        site.close()


def _iface(device: str, name: str, if_index: int) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"site": SITE, "device": device, "interface": name, "if_index": str(if_index)}.items()))


def _dev(device: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"site": SITE, "device": device}.items()))


def test_interfaces_and_poe_match_the_agents(lab: Lab) -> None:
    truth = lab.lab.truth
    sw1 = lab.lab.agents[SW1]
    up = (md.SNMP_UP.name, _dev("sw1"))
    s = lab.wait_for("v2c", lambda s: s.get(up) == 1.0 and s.get((md.SNMP_UP.name, _dev("sw2"))) == 1.0)
    assert s[up] == 1.0 and s[(md.SNMP_UP.name, _dev("sw2"))] == 1.0
    assert s[(md.SNMP_UPTIME.name, _dev("sw1"))] > 0
    # every interface of the agent's namespace, by its own ifIndex, up and administratively up
    for name, if_index in sw1.ifindex.items():
        labels = _iface("sw1", name, if_index)
        assert (md.INTERFACE_UP.name, labels) in s, (name, if_index)
        assert s[(md.INTERFACE_ADMIN_UP.name, labels)] == 1.0, name
        assert (md.INTERFACE_RECEIVE_BYTES.name, labels) in s  # ifHCInOctets read as a counter
    for switch_ip, port in truth.ports.values():
        if switch_ip == SW1:
            assert s[(md.INTERFACE_UP.name, _iface("sw1", port, sw1.ifindex[port]))] == 1.0, port
    # the uplink: named in the targets, its speed from the agent (1 Gb/s), up
    uplink, mbps = truth.uplinks[SW1]
    labels = _iface("sw1", uplink, sw1.ifindex[uplink])
    assert s[(md.INTERFACE_UPLINK.name, labels)] == 1.0
    assert s[(md.INTERFACE_SPEED.name, labels)] == mbps * 1e6
    assert sum(v for (n, _), v in s.items() if n == md.INTERFACE_UPLINK.name) == 1.0
    # the camera ports named in the targets, and only they
    for ip in CAMERAS_ON_SW1:
        port = truth.ports[ip][1]
        assert s[(md.INTERFACE_CAMERA.name, _iface("sw1", port, sw1.ifindex[port]))] == 1.0, port
    assert sum(v for (n, _), v in s.items() if n == md.INTERFACE_CAMERA.name) == len(CAMERAS_ON_SW1)
    # PoE: each port's draw (HP-ICF-POE-MIB mW -> W), delivering when it draws, the PSE budget and consumption
    for port, mw in truth.poe_mw[SW1].items():
        labels = _iface("sw1", port, sw1.ifindex[port])
        assert s[(md.POE_POWER.name, labels)] == pytest.approx(mw / 1000.0), port
        assert s[(md.POE_DELIVERING.name, labels)] == (1.0 if mw > 0 else 0.0), port
    pse = tuple(sorted({"site": SITE, "device": "sw1", "group": "1"}.items()))
    assert s[(md.POE_BUDGET.name, pse)] == truth.poe_budget_w[SW1]
    assert s[(md.POE_CONSUMPTION.name, pse)] == round(sum(truth.poe_mw[SW1].values()) / 1000)
    assert not [k for k in s if k[0] == md.POE_BUDGET.name and ("device", "sw2") in k[1]]  # sw2 has no PoE


def test_counters_match_the_agent(lab: Lab) -> None:
    """ifHCInOctets of the uplink as exported is at most what snmpget reads just after, and grows with traffic."""
    sw1 = lab.lab.agents[SW1]
    labels = _iface("sw1", "up2", sw1.ifindex["up2"])
    key = (md.INTERFACE_RECEIVE_BYTES.name, labels)
    first = lab.wait_for("v2c", lambda s: key in s)[key]
    lab.client.run(["ping", "-c", "20", "-i", "0.05", "-s", "1000", "198.51.100.12"], timeout=30)  # cam2, via up2
    later = lab.wait_for("v2c", lambda s: s.get(key, 0) > first, timeout_s=40)[key]
    cp = lab.lab.scanner.run(["snmpget", "-v2c", "-c", "lab-ro", "-Oqv", SW1,
                              f"1.3.6.1.2.1.31.1.1.1.6.{sw1.ifindex['up2']}"],
                             env={"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"})
    assert later > first
    assert later <= int(cp.stdout.strip())


_COLLECT = """
import json, subprocess, sys, time
request = {"devices": [sys.argv[1]], "credentials": {"communities": ["lab-ro"]},
           "settings": {"budget_s": 8, "timeout_s": 1, "max_rows": 2000}}
if sys.argv[2] != "all":
    request["settings"]["sections"] = sys.argv[2].split(",")
    request["settings"]["monitoring"] = True  # as the worker asks: the exported columns, walked together
t = time.monotonic()
cp = subprocess.run([sys.executable, "-m", "sitescout.probes.snmp"], input=json.dumps(request), text=True,
                    capture_output=True, timeout=30, check=True)
snap = json.loads(cp.stdout)["devices"][sys.argv[1]]
snap["wall_s"] = time.monotonic() - t
print(json.dumps(snap))
"""


def test_the_monitoring_probe_reads_only_its_sections(lab: Lab) -> None:
    """The worker's sections (system, interfaces, PoE) read what the kind exports and leave ENTITY, FDB, LLDP
    and ARP out; the survey's default reads them all, from the same agent."""
    import json

    from sitescout.probes.worker.kinds.snmp import MONITORING_SECTIONS

    def collect(sections: str) -> dict[str, Any]:
        cp = lab.lab.scanner.run([PY, "-c", _COLLECT, SW1, sections], timeout=60)
        assert cp.returncode == 0, cp.stderr[-2000:]
        return json.loads(cp.stdout)

    full, part = collect("all"), collect(",".join(MONITORING_SECTIONS))
    assert full["error_kind"] is None and part["error_kind"] is None
    assert full["entity"] and full["fdb"] and full["neighbors"] and full["skipped"] == []
    assert part["entity"] is None and part["fdb"] == [] and part["neighbors"] == [] and part["arp"] == []
    assert part["skipped"] == ["entity", "fdb", "lldp", "arp"]
    # what the kind exports is the same: system, every interface, the PoE ports and budget
    assert part["system"]["sys_name"] == full["system"]["sys_name"] and part["system"]["uptime_ticks"]
    assert part["interfaces"].keys() == full["interfaces"].keys()
    exported = ("name", "descr", "speed_bps", "admin_up", "oper_up")
    counters = ("in_errors", "out_errors", "in_discards", "out_discards")  # read later: never less (p1 discards)
    for key, iface in full["interfaces"].items():
        assert {f: part["interfaces"][key][f] for f in exported} == {f: iface[f] for f in exported}, key
        assert all(part["interfaces"][key][f] >= iface[f] for f in counters), key
        assert part["interfaces"][key]["in_octets"] is not None and part["interfaces"][key]["mac"] is None
    assert [(p["if_index"], p["power_mw"]) for p in part["poe_ports"]] == [
        (p["if_index"], p["power_mw"]) for p in full["poe_ports"]]
    assert part["poe_budgets"] == full["poe_budgets"]
    assert part["poe_ports"] == full["poe_ports"]  # admin, delivering, class, draw, port: all the same
    assert part["requests"] <= 6 < full["requests"]  # open, system, ifNumber, the interface columns (2), PoE (1)


_INVENTORY = """
import http.server, json, sys
groups = json.loads(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        ok = self.headers.get("Authorization") == "Bearer inv-token-1" and self.path.startswith("/sd/prometheus")
        self._send(200 if ok else 401, json.dumps(groups if ok else {"error": "no"}).encode())
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, b"{}")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_worker_fed_by_the_inventory_reads_its_snmp_labels(lab: Lab) -> None:
    """An inventory (a stub on the scanner's loopback answering /sd/prometheus as issue #15's labels say) gives
    sw1 with its uplink and camera ports, sw2 not read over SNMP, rt1 on a port its agent does not listen on."""
    import json

    truth = lab.lab.truth
    cameras = ",".join(truth.ports[ip][1] for ip in CAMERAS_ON_SW1)

    def group(device: str, ip: str, n: int, **snmp: str) -> dict[str, Any]:
        labels = {"site": SITE, "device": device, "kind": "switch" if device.startswith("sw") else "router",
                  "__meta_sitescout_device_id": str(n),
                  **{f"__meta_sitescout_snmp_{k}": v for k, v in snmp.items()}}
        return {"targets": [ip], "labels": labels}

    groups = [group("sw1", SW1, 1, port="161", uplinks="up2", camera_ports=cameras),
              group("sw2", SW2, 2, port=""), group("rt1", "198.51.100.1", 3, port="1161")]
    scanner = lab.lab.scanner
    scanner.popen([PY, "-c", _INVENTORY, "9131", json.dumps(groups)])
    (lab.tmp / "inv.token").write_text("inv-token-1\n", encoding="utf-8")
    (lab.tmp / "inv-settings.yml").write_text("defaults:\n  snmp: {interval_s: 3, timeout_s: 4}\n"
                                              "  link: {interval_s: 60}\n", encoding="utf-8")
    creds = lab.tmp / "inv.toml"
    creds.write_text('[snmp]\ncommunities = ["lab-ro"]\n', encoding="utf-8")
    creds.chmod(0o600)
    log = lab.tmp / "inv.log"
    listen = f"{scanner.ip}:9132"
    deadline = time.monotonic() + 10
    while scanner.run([PY, "-c", "import socket; socket.create_connection(('127.0.0.1', 9131), 1)"]).returncode:
        assert time.monotonic() < deadline, "the stub inventory did not start"
        time.sleep(0.2)
    with open(log, "w") as err:
        proc = scanner.popen([PY, "-m", "sitescout", "-vv", "worker", "--inventory", "http://127.0.0.1:9131",
                              "--token-file", str(lab.tmp / "inv.token"), "--settings",
                              str(lab.tmp / "inv-settings.yml"), "--credentials", str(creds), "--listen", listen],
                             stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready"), f"worker did not start: {line!r} {log.read_text()[-2000:]}"
    lab.workers["inventory"] = (f"http://{listen}", log)
    sw1 = lab.lab.agents[SW1]
    up = (md.SNMP_UP.name, _dev("sw1"))
    s = lab.wait_for("inventory", lambda s: s.get(up) == 1.0 and (md.SNMP_UP.name, _dev("rt1")) in s)
    assert s[up] == 1.0
    assert s[(md.INTERFACE_UPLINK.name, _iface("sw1", "up2", sw1.ifindex["up2"]))] == 1.0
    assert sum(v for (n, _), v in s.items() if n == md.INTERFACE_UPLINK.name) == 1.0
    for ip in CAMERAS_ON_SW1:
        port = truth.ports[ip][1]
        assert s[(md.INTERFACE_CAMERA.name, _iface("sw1", port, sw1.ifindex[port]))] == 1.0, port
    assert sum(v for (n, _), v in s.items() if n == md.INTERFACE_CAMERA.name) == len(CAMERAS_ON_SW1)
    assert (md.SNMP_UP.name, _dev("sw2")) not in s  # "" = not read over SNMP (still watched by its link probe)
    assert (md.DEVICE_UP.name, _dev("sw2")) in s
    s = lab.wait_for("inventory", lambda s: s.get((md.PROBE_ERRORS.name, (("kind", "snmp"),
                                                                        ("reason", "unreachable")))) is not None)
    assert s[(md.SNMP_UP.name, _dev("rt1"))] == 0.0  # asked on 1161, where its agent does not listen


def test_v3_authpriv_and_a_wrong_community(lab: Lab) -> None:
    up = (md.SNMP_UP.name, _dev("sw1"))
    s = lab.wait_for("v3", lambda s: s.get(up) == 1.0, timeout_s=40)
    assert s[up] == 1.0 and s[(md.INTERFACE_UP.name, _iface("sw1", "up2", lab.lab.agents[SW1].ifindex["up2"]))]
    errors = (md.PROBE_ERRORS.name, tuple(sorted({"kind": "snmp", "reason": "unreachable"}.items())))
    s = lab.wait_for("wrong", lambda s: s.get(errors, 0) >= 1)
    assert s[up] == 0.0 and s[errors] >= 1
    assert not [k for k in s if k[0] == md.INTERFACE_UP.name]
    log = lab.workers["wrong"][1].read_text()
    assert "sw1: snmp: unreachable: no answer" in log and "wrong community" in log
    from sitescout.infra.lab.snmp_site import LAB_V3_USER

    for name, (_, path) in lab.workers.items():
        text = path.read_text() + lab.scrape(name)[1]
        for secret in ("wrong-community-77", LAB_V3_USER.auth_key, LAB_V3_USER.priv_key, '"lab-ro"'):
            assert secret not in text, (name, secret)


def test_hostile_agents_stay_bounded(lab: Lab) -> None:
    hostile = lab.lab.hostile
    count = ("sitescout_probe_duration_seconds_count", (("kind", "snmp"),))
    # every hostile device probed at least twice (interval 3 s), and the good switches still up
    s = lab.wait_for("v2c", lambda s: s.get(count, 0) >= 12, timeout_s=60)
    assert s[count] >= 12
    within = s[("sitescout_probe_duration_seconds_bucket", (("kind", "snmp"), ("le", "5.0")))]
    assert within == s[count], "every SNMP probe ended within its 4 s budget (+ the process's end)"
    for mode in ("slow", "loop"):
        assert s[(md.SNMP_UP.name, _dev(f"bad-{mode}"))] == 0.0, mode
    assert s[(md.SNMP_UP.name, _dev("sw1"))] == 1.0 and s[(md.SNMP_UP.name, _dev("sw2"))] == 1.0
    # a million-row ifTable is cut at max_rows (2000), and at most MAX_PORTS ports of a device are exported
    million = [k for k in s if k[0] == md.INTERFACE_UP.name and ("device", "bad-million") in k[1]]
    assert len(million) <= min(2000, MAX_PORTS)
    elapsed, _ = lab.scrape("v2c")
    assert elapsed < 2.0
    assert set(hostile) >= {"slow", "loop", "million", "wrongtype"}


def test_probe_module_snmp_and_credential_scope(lab: Lab) -> None:
    _, body = lab.scrape("v2c", f"/probe?module=snmp&target={SW1}")
    s = _parse(body)
    assert s[("probe_success", ())] == 1.0 and s[(md.SNMP_UP.name, ())] == 1.0
    port = (("if_index", str(lab.lab.agents[SW1].ifindex["up2"])), ("interface", "up2"))
    assert s[(md.INTERFACE_UP.name, port)] == 1.0 and s[(md.INTERFACE_UPLINK.name, port)] == 1.0
    assert s[(md.POE_BUDGET.name, (("group", "1"),))] == lab.lab.truth.poe_budget_w[SW1]
    # the router answers lab-ro too, but is not a configured SNMP target: the community is not sent to it
    before = _in_packets(lab, "198.51.100.1")
    for target in ("198.51.100.1", f"{SW1}:1161"):
        s = _parse(lab.scrape("v2c", f"/probe?module=snmp&target={target}")[1])
        assert s[("probe_success", ())] == 0.0, target
        assert s[("sitescout_probe_failed", (("reason", "auth"),))] == 1.0, target
    assert _in_packets(lab, "198.51.100.1") == before + 1  # only our own snmpget reached it
    assert "not a configured SNMP target" in lab.workers["v2c"][1].read_text()


def _in_packets(lab: Lab, ip: str) -> int:
    cp = lab.lab.scanner.run(["snmpget", "-v2c", "-c", "lab-ro", "-Oqv", ip, "1.3.6.1.2.1.11.1.0"],
                             env={"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"})  # SNMPv2-MIB snmpInPkts
    return int(cp.stdout.strip())


def test_a_cut_uplink_shows_down(lab: Lab) -> None:
    """sw2's end of the uplink set down (a cut cable): sw1's up2 reads oper down, admin up; sw2 is unreachable."""
    sw1, sw2 = lab.lab.agents[SW1], lab.lab.agents[SW2]
    labels = _iface("sw1", "up2", sw1.ifindex["up2"])
    key = (md.INTERFACE_UP.name, labels)
    assert lab.wait_for("v2c", lambda s: s.get(key) == 1.0)[key] == 1.0
    sw2.host.run(["ip", "link", "set", "up1", "down"], check=True)
    try:
        s = lab.wait_for("v2c", lambda s: s.get(key) == 0.0, timeout_s=40)
        assert s[key] == 0.0 and s[(md.INTERFACE_UPLINK.name, labels)] == 1.0
        assert s[(md.INTERFACE_ADMIN_UP.name, labels)] == 1.0
        assert s[(md.SNMP_UP.name, _dev("sw1"))] == 1.0
        s = lab.wait_for("v2c", lambda s: s.get((md.SNMP_UP.name, _dev("sw2"))) == 0.0, timeout_s=20)
        assert s[(md.SNMP_UP.name, _dev("sw2"))] == 0.0
    finally:
        sw2.host.run(["ip", "link", "set", "up1", "up"], check=True)
