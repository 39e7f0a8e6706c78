"""The SNMP stage's two reads, duplex and classification, end to end on the SNMP lab (real snmpd and lldpd).

The lab (``infra/lab/snmp_site.py``) with a 10 Mbit/s uplink sw1 up2 ═ sw2 up1 (the speed both
agents report), sw1's up2 at half duplex (an snmpd ``override`` of dot3StatsDuplexStatus: net-snmp
reports full duplex for every veth), a loudspeaker receiver (snmpd whose sysDescr is an IP
paging receiver's) and a SIP-only one (``infra/lab/sip_responder.py``) behind sw2.  Before the
survey, up2 goes down and up (after the agent's first minute: changes at boot are no flap);
during it, a sender behind sw2 pushes about 11 Mbit/s of
UDP across the uplink to a host behind sw1.  The survey runs in the scanner namespace with
``--snmp-interval 7`` (net-snmp refreshes interface counters about every 6 s).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitescout.infra.lab.pytest_plugin import skip_unless_netns

pytestmark = pytest.mark.netns

SW1, SW2, ROUTER = "198.51.100.3", "198.51.100.4", "198.51.100.1"
SPEAKER_IP = "198.51.100.101"
SIP_SPEAKER_IP = "198.51.100.102"  # no SNMP: a SIP endpoint only
TRAFFIC_TO = "198.51.100.10"  # cam0, behind sw1: the traffic from behind sw2 crosses the uplink
ENV = {"MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp"}
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
#: About 1.4 MB/s of UDP to the discard port for at most argv[2] seconds (11 Mbit/s on a 10 Mbit/s uplink).
SENDER = ("import socket, sys, time\n"
          "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); end = time.time() + float(sys.argv[2])\n"
          "print('ready', flush=True)\n"
          "while time.time() < end:\n"
          "    t = time.time()\n"
          "    for _ in range(100):\n"
          "        try: s.sendto(b'x' * 1400, (sys.argv[1], 9))\n"
          "        except OSError: pass\n"
          "    time.sleep(max(0.0, 0.1 - (time.time() - t)))\n")


def _get(lab: Any, ip: str, oid: str) -> int:
    cp = lab.scanner.run(["snmpget", "-v2c", "-c", "lab-ro", "-Oqvt", ip, oid], env=ENV)
    return int(cp.stdout.strip().split()[-1])


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"lab: {what} not reached in {timeout} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    """The SNMP lab with a slow half-duplex uplink that flapped, a loudspeaker receiver and traffic."""
    skip_unless_netns()
    if not all(shutil.which(b) for b in ("snmpd", "lldpd", "snmpget")):
        pytest.skip("needs Debian's snmpd, snmp and lldpd (tests/run.sh installs them)")
    from sitescout.infra.lab.netns import LabSite, stop_process_group
    from sitescout.infra.lab.scenario import wait_ready
    from sitescout.infra.lab.snmp_agents import AgentSpec, start_agent
    from sitescout.infra.lab.snmp_site import SnmpLabSite, build_snmp_lab

    LabSite.cleanup_stale()
    site = SnmpLabSite()
    procs: list[subprocess.Popen[str]] = []
    try:
        built = build_snmp_lab(site, uplink_mbps=10, sw1_duplex={"up2": 2})
        sw2 = site.extra_switches["sw2"]
        speaker = site.add_host_on(sw2, "spk", f"{SPEAKER_IP}/24")
        start_agent(speaker, AgentSpec("spk1", SPEAKER_IP, sys_descr="IP paging receiver PR-100 (lab)"),
                    site.workdir / "spk1")
        built.hosts[SPEAKER_IP] = speaker
        sip = site.add_host_on(sw2, "spk2", f"{SIP_SPEAKER_IP}/24")
        procs.append(sip.popen([sys.executable, "-m", "sitescout.infra.lab.sip_responder", "--ip", SIP_SPEAKER_IP,
                                "--agent", "IP Paging Speaker PS-20 (lab)", "--for", "400"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        wait_ready([("SIP responder", procs[-1])])
        # a flap counts only after the agent's first minute (ports come up at boot)
        up2 = built.agents[SW1].ifindex["up2"]
        _wait("sw1 up 62 s", lambda: _get(built, SW1, "1.3.6.1.2.1.1.3.0") > 6200, 90)
        sw1 = built.agents[SW1].host
        sw1.run(["ip", "link", "set", "up2", "down"])
        _wait("up2 reads down", lambda: _get(built, SW1, f"{IF_OPER}.{up2}") == 2, 20)
        sw1.run(["ip", "link", "set", "up2", "up"])
        _wait("up2 reads up", lambda: _get(built, SW1, f"{IF_OPER}.{up2}") == 1, 20)
        pc = built.hosts["198.51.100.100"]
        procs.append(pc.popen([sys.executable, "-c", SENDER, TRAFFIC_TO, "150"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True))
        wait_ready([("traffic sender", procs[-1])])
        yield built
    finally:
        for proc in procs:
            stop_process_group(proc)
        site.close()


@pytest.fixture(scope="module")
def survey(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("snmp-reads")
    creds = tmp / "site.toml"
    creds.write_text('[snmp]\nmax_attempts = 2\ncommunities = ["lab-ro"]\n')
    report = tmp / "report.html"
    cp = lab.scanner.run([sys.executable, "-m", "sitescout", "--lang", "en", "survey", "--site", "lab",
                          "--network", "198.51.100.0/24", "--network", "203.0.113.0/24",
                          "--credentials", str(creds), "--json", "-", "--report", str(report), "--no-streams",
                          "--wait", "1", "--snmp-interval", "7"], timeout=240)
    assert cp.returncode == 0, cp.stderr[-3000:]
    doc: dict[str, Any] = json.loads(cp.stdout)
    doc["_stderr"], doc["_report"] = cp.stderr, report.read_text()
    return doc


def _hosts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["ip"]: h for h in doc["hosts"]}


def _iface(doc: dict[str, Any], ip: str, port: str) -> dict[str, Any]:
    return next(i for i in _hosts(doc)[ip]["snmp"]["interfaces"] if i["name"] == port)


def _stderr(doc: dict[str, Any]) -> str:
    return re.sub(r"\s+", " ", doc["_stderr"])  # the summary wraps long findings


def test_switches_are_read_twice_and_the_busy_uplink_is_a_finding(lab: Any, survey: dict[str, Any]) -> None:
    for ip in (SW1, SW2):
        interval = _hosts(survey)[ip]["snmp"]["counters_interval_s"]
        assert interval is not None and 6.5 <= interval <= 9, (ip, interval)
    assert _hosts(survey)[ROUTER]["snmp"]["counters_interval_s"] is None  # no forwarding table: one read
    busy = {ip: _iface(survey, ip, port)["utilisation_pct"] for ip, port in ((SW1, "up2"), (SW2, "up1"))}
    assert all(v is not None and v > 70 for v in busy.values()), busy
    assert "sw1: uplink up2 is" in _stderr(survey) and "sw2: uplink up1 is" in _stderr(survey)
    # a port the traffic does not cross stays quiet: no finding, low utilisation, no new errors
    quiet = _iface(survey, SW1, lab.truth.ports["198.51.100.11"][1])  # cam1's port
    assert quiet["errors_new"] == 0 and (quiet["utilisation_pct"] or 0) < 70


def test_the_uplink_that_went_down_and_up_is_a_flap(survey: dict[str, Any]) -> None:
    up2 = _iface(survey, SW1, "up2")
    assert up2["oper_up"] is True and up2["last_change_s_ago"] is not None and up2["last_change_s_ago"] < 300
    assert up2["last_change_uptime_s"] > 60
    assert re.search(r"sw1 up2 went down and came back \d+ min ago", _stderr(survey))
    cam_port = _hosts(survey)[TRAFFIC_TO]["attached_to"]["port"]
    assert _iface(survey, SW1, cam_port)["last_change_uptime_s"] is None  # unchanged since the agent started


def test_half_duplex_and_the_mismatched_link_are_findings(survey: dict[str, Any]) -> None:
    assert _iface(survey, SW1, "up2")["duplex"] == "half"
    assert _iface(survey, SW2, "up1")["duplex"] == "full"  # net-snmp's own answer for a veth
    text = _stderr(survey)
    assert "sw1 up2 runs at half duplex" in text
    assert ("duplex mismatch on the link sw1 up2 (half) ⇄ sw2 up1 (full)" in text
            or "duplex mismatch on the link sw2 up1 (full) ⇄ sw1 up2 (half)" in text), text[-2000:]


def test_devices_are_classified_from_what_they_answer(survey: dict[str, Any]) -> None:
    hosts = _hosts(survey)
    assert hosts[SPEAKER_IP]["snmp"]["device_class"] == "loudspeaker"
    assert hosts[SPEAKER_IP]["snmp"]["class_from"] == "sys_descr"
    assert hosts[ROUTER]["snmp"]["device_class"] == "router"
    assert hosts[SW1]["snmp"]["device_class"] == "switch" and hosts[SW2]["snmp"]["device_class"] == "switch"
    summary = [line for line in survey["_stderr"].splitlines() if line.lstrip().startswith(SPEAKER_IP + " ")]
    assert summary and "loudspeak" in summary[0], summary  # the kind column folds "loudspeaker receiver"
    assert "loudspeaker receiver" in survey["_report"]
    assert hosts[SPEAKER_IP]["device_class"] == {"kind": "loudspeaker", "from": "sys_descr",
                                                 "detail": "IP paging receiver PR-100 (lab)"}
    # a SIP endpoint that runs no SNMP agent: classified from its answer to OPTIONS
    assert hosts[SIP_SPEAKER_IP]["snmp"] is None
    assert hosts[SIP_SPEAKER_IP]["device_class"] == {"kind": "loudspeaker", "from": "sip",
                                                     "detail": "IP Paging Speaker PS-20 (lab)"}
    assert hosts["198.51.100.12"]["device_class"] is None  # a plain host answers neither


def test_report_pdf_has_the_topology_as_text(lab: Any, survey: dict[str, Any], tmp_path: Path) -> None:
    from sitescout.web.pdf import html_to_pdf

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(html_to_pdf(survey["_report"]))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    start = text.index("Network topology")
    section = text[start:text.index("Cameras", start)]
    lines = [line for line in section.splitlines() if line.strip()]
    # the router is the root; each switch follows the port it hangs from; each host is below its port
    assert lines[1].split()[:3] == ["rt1", "·", ROUTER], section
    for host_ip, (_switch, port) in lab.truth.ports.items():
        if host_ip in (lab.scanner.ip, ROUTER):
            continue
        at = next(i for i, line in enumerate(lines) if re.search(rf"(^|\s){re.escape(host_ip)}\s", line))
        # the nearest line above that is no host line is the host's port
        head = next(line.split()[0] for line in reversed(lines[:at])
                    if line.split() and not re.match(r"\d+\.\d+\.\d+\.\d+$", line.split()[0]))
        assert head == port, (host_ip, port, section)
    assert re.search(rf"up1\s+sw2\s+·\s+{re.escape(SW2)}", section)  # sw2 hangs from sw1 up2 by its up1
    for ip in (SPEAKER_IP, SIP_SPEAKER_IP):
        assert re.search(rf"{re.escape(ip)}\s+·\s+loudspeaker receiver", section), ip
