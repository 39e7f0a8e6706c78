"""`sitescout survey` with its SNMP stage, end to end, on the SNMP lab (real snmpd and lldpd in namespaces).

The lab (``infra/lab/snmp_site.py``): router rt1, sw1 (HPE id, PoE, VLANs 10/20, 1 Gb/s
uplink to sw2), sw2 (TP-Link id), cameras cam0 (speaks LLDP and SNMP) and cam1
running the ONVIF camera simulator, cam2/cam3 and a PC behind them, the hostile
agents; this module adds a "loudspeaker receiver" agent that answers the default
community ``public`` on the PC's address.  The survey runs in the scanner namespace
as a technician would run it; its ground truth is the lab's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import skip_unless_netns

pytestmark = pytest.mark.netns

COMMUNITY = "lab-ro"
WRONG = ["wr0ng-community-1", "wr0ng-community-2", "wr0ng-community-3", "wr0ng-community-4"]
PC_IP = "198.51.100.100"
SW1 = "198.51.100.3"
CAMERAS = {"198.51.100.10": "hikvision_ds2cd2012i", "198.51.100.11": "axis_q6045e"}
SINK_IP = "198.51.100.30"
#: A host that runs no SNMP agent but records every datagram sent to its UDP 161 (and never answers).
SINK = ("import socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 161))\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    data, _ = s.recvfrom(65535)\n"
        "    with open(sys.argv[2], 'ab') as f: f.write(data + b'\\n')\n")


def _have_agents() -> bool:
    import shutil

    return all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget"))


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    """The SNMP lab with hostile agents, two simulated cameras and a default-community agent."""
    skip_unless_netns()
    if not _have_agents():
        pytest.skip("needs Debian's snmpd, snmp and lldpd (tests/run.sh installs them)")
    from sitescout.infra.lab.netns import LabSite, stop_process_group
    from sitescout.infra.lab.scenario import wait_ready
    from sitescout.infra.lab.snmp_agents import AgentSpec, start_agent
    from sitescout.infra.lab.snmp_site import SnmpLabSite, build_snmp_lab, start_hostile_agents

    LabSite.cleanup_stale()
    site = SnmpLabSite()
    procs: list[subprocess.Popen[str]] = []
    try:
        built = build_snmp_lab(site)
        built.hostile = start_hostile_agents(site)
        pc = built.hosts[PC_IP]
        start_agent(pc, AgentSpec("spk", PC_IP, community="public", sys_descr="IP loudspeaker receiver (lab)"),
                    site.workdir / "spk")
        for ip, persona in CAMERAS.items():
            host = built.hosts[ip]
            procs.append(host.popen([sys.executable, "-m", "sitescout.infra.lab.camera", "--persona", persona,
                                     "--ip", ip, "--discovery", "multicast", "--mac", host.mac],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        sink = site.add_host("sink", f"{SINK_IP}/24")
        built.sink_log = site.workdir / "sink.log"
        procs.append(sink.popen([sys.executable, "-c", SINK, SINK_IP, str(built.sink_log)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        wait_ready([(f"lab process {i}", p) for i, p in enumerate(procs)])
        yield built
    finally:
        for proc in procs:
            stop_process_group(proc)
        site.close()


def _survey(lab: Any, tmp: Path, snmp_toml: str, *extra: str, verbose: bool = False) -> dict[str, Any]:
    creds = tmp / "site.toml"
    creds.write_text(snmp_toml)
    report = tmp / "report.html"
    cp = lab.scanner.run([sys.executable, "-m", "sitescout", *(["-vv"] if verbose else []), "--lang", "en",
                          "survey", "--site", "lab",
                          "--network", "198.51.100.0/24", "--network", "203.0.113.0/24",
                          "--credentials", str(creds), "--json", "-", "--report", str(report), "--no-streams",
                          "--wait", "1", *extra], timeout=240)
    assert cp.returncode == 0, cp.stderr[-3000:]
    doc: dict[str, Any] = json.loads(cp.stdout)
    doc["_stderr"], doc["_report"] = cp.stderr, report.read_text()
    return doc


def _good_toml() -> str:
    from sitescout.infra.lab.snmp_site import LAB_V3_USER as U

    return (f'[snmp]\nmax_attempts = 3\ncommunities = ["{COMMUNITY}"]\n'
            f'[[snmp.v3]]\nusername = "{U.name}"\nauth_key = "{U.auth_key}"\npriv_key = "{U.priv_key}"\n')


@pytest.fixture(scope="module")
def survey(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _survey(lab, tmp_path_factory.mktemp("snmp-survey"), _good_toml(), "--snmp-all")


def _hosts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["ip"]: h for h in doc["hosts"]}


def test_switches_are_identified_with_their_interfaces_and_poe_budget(lab: Any, survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    truth = lab.truth
    for ip, ident in truth.identity.items():
        snmp = hosts[ip]["snmp"]
        assert snmp and snmp["error_kind"] is None, (ip, snmp)
        assert snmp["sys_name"] == ident["sys_name"] and snmp["vendor"] == ident["vendor"], ip
        for key in ("model", "serial"):
            if key in ident:
                assert snmp[key] == ident[key], (ip, key)
        assert snmp["credential"] in ("v3:labv3", "v2c")
    assert hosts["198.51.100.10"]["snmp"]["credential"] == "v2c"  # cam0 has no v3 user: v3 refused, then v2c
    for switch_ip, (port, mbps) in truth.uplinks.items():
        snmp = hosts[switch_ip]["snmp"]
        ifaces = {i["name"]: i for i in snmp["interfaces"]}
        assert ifaces[port]["speed_bps"] == mbps * 1_000_000 and ifaces[port]["oper_up"] is True
        assert port in snmp["uplinks"] and ifaces[port]["uplink"] is True
    sw1 = hosts[SW1]["snmp"]
    poe_ports = {i["name"]: i["poe"] for i in sw1["interfaces"] if i["poe"]}
    for port, mw in truth.poe_mw[SW1].items():
        assert poe_ports[port]["power_w"] == mw / 1000 and poe_ports[port]["delivering"] == (mw > 0)
    used = round(sum(truth.poe_mw[SW1].values()) / 1000)
    claimed = sum(truth.med_claims_mw[SW1].values()) / 1000  # cam0's LLDP-MED claim (docs/snmp.md)
    assert sw1["poe"] == {"budget_w": 120, "used_w": used, "free_w": 120 - used, "threshold_pct": 80,
                          "used_from": "pse", "claimed_w": claimed}
    assert hosts["198.51.100.4"]["snmp"]["poe"] is None
    neighbours = {n["port"]: n["sys_name"] for n in sw1["neighbors"]}
    assert neighbours.get("up2") == "sw2"


def test_v3_authpriv_is_used_where_the_agent_has_the_user(lab: Any, survey: dict[str, Any]) -> None:
    # v3 authPriv is tried first and every switch and the router have the user.  This failed in the full
    # suite (0 of 3) while passing alone: an earlier module's collections left a net-snmp persistent file
    # that broke the next process's v3; the client now reads and writes none (docs/snmp.md, Known issues;
    # tests/test_snmp_netsnmp_state.py plants that file).
    hosts = _hosts(survey)
    truth = lab.truth
    assert all(hosts[ip]["snmp"]["credential"] == "v3:labv3" for ip in truth.identity), \
        {ip: {k: hosts[ip]["snmp"].get(k) for k in ("credential", "credentials_tried", "error", "duration_s")}
         for ip in truth.identity}


def test_every_host_is_on_its_switch_port(lab: Any, survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    for host_ip, (switch_ip, port) in lab.truth.ports.items():
        if host_ip == lab.scanner.ip:
            continue  # the surveyor itself is no host of the document
        attached = hosts[host_ip]["attached_to"]
        assert attached and (attached["device"], attached["port"]) == (switch_ip, port), (host_ip, attached)
    assert hosts["198.51.100.10"]["attached_to"]["lldp_confirmed"] is True
    assert hosts["203.0.113.10"]["attached_to"]["vlan"] == 20
    assert hosts["198.51.100.12"]["attached_to"]["switch"] == "sw2"


def test_cameras_get_their_port_in_summary_and_report(lab: Any, survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    for ip in CAMERAS:
        assert hosts[ip]["kind"] == "camera", ip
        port = lab.truth.ports[ip][1]
        assert f"sw1 {port}" in survey["_stderr"], ip  # the summary table's switch-port column
        assert port in survey["_report"], ip


def test_default_community_is_a_security_finding(survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    assert hosts[PC_IP]["snmp"]["default_communities"] == ["public"]
    assert "answers SNMP to a default community (public)" in survey["_stderr"]
    for ip in ("198.51.100.3", "198.51.100.4", "198.51.100.1"):
        assert hosts[ip]["snmp"]["default_communities"] == []


def test_hostile_agents_end_as_errors_and_the_rest_is_intact(lab: Any, survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    hostile = lab.hostile
    assert hosts[hostile["loop"]]["snmp"]["error_kind"] == "malformed"
    million = hosts[hostile["million"]]["snmp"]
    assert million["error_kind"] == "timeout" or million["truncated"]
    assert len(million["interfaces"]) <= 512
    assert hosts[hostile["wrongtype"]]["snmp"]["sys_object_id"] is None
    for ip in CAMERAS:  # the ONVIF part of the survey is untouched
        assert hosts[ip]["onvif"] and hosts[ip]["onvif"]["model"], ip
    assert len(hosts) >= 12


def test_no_snmp_secret_appears_in_the_document_or_report(survey: dict[str, Any]) -> None:
    from sitescout.infra.lab.snmp_site import LAB_V3_USER as U

    text = json.dumps(survey)
    for secret in (COMMUNITY, U.auth_key, U.priv_key):
        assert secret not in text and secret not in survey["_report"] and secret not in survey["_stderr"]


def _bad_community_count(lab: Any) -> int:
    cp = lab.scanner.run(["snmpget", "-v2c", "-c", COMMUNITY, "-Oqv", SW1, "1.3.6.1.2.1.11.4.0"],
                         env={"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"})
    return int(cp.stdout.strip())


def test_wrong_communities_are_capped_and_explained(lab: Any, survey: dict[str, Any], tmp_path: Path) -> None:
    # --snmp-all (the module's survey) sent the communities to every live host, the sink included:
    # the sink does see secrets when they are sent to it
    assert COMMUNITY.encode() in lab.sink_log.read_bytes()
    lab.sink_log.write_bytes(b"")
    before = _bad_community_count(lab)
    toml = f'[snmp]\nmax_attempts = 3\ncommunities = {json.dumps([*WRONG, COMMUNITY])}\n'
    doc = _survey(lab, tmp_path, toml, verbose=True)
    attempts = _bad_community_count(lab) - before
    # three configured credentials, plus the default-community check (public, private): never more
    assert attempts == 3 + 2, attempts
    snmp = _hosts(doc)[SW1]["snmp"]
    assert snmp["credential"] is None and snmp["error_kind"] == "unreachable"
    assert "none of the 3 credential(s) tried was accepted" in snmp["error"]
    assert snmp["credentials_tried"] == 3
    assert "none of the 3 credentials tried was accepted" in doc["_stderr"]
    assert "DEBUG" in doc["_stderr"]
    # without --snmp-all a host that is no agent gets the credential-free probe only
    sunk = lab.sink_log.read_bytes()
    assert b"public" in sunk and not any(c.encode() in sunk for c in [*WRONG, COMMUNITY])
    assert _hosts(doc)[SINK_IP]["snmp"] is None
    for secret in [*WRONG, COMMUNITY]:  # debug logs, document and report
        assert secret not in json.dumps(doc), secret
