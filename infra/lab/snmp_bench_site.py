"""A bigger SNMP lab site for the survey benchmark: a router, 3 switches, 40 hosts and 6 cameras.

Built on :func:`snmp_site.build_snmp_lab` (router rt1, sw1 with PoE, sw2, cam0–cam3, the
PC, the scanner), this adds::

    sw1 uplink-sw3 ══ sw3 uplink-sw1 (TP-Link id, mgmt 198.51.100.5, snmpd + lldpd)
      sw3 ── cam4 198.51.100.13, cam5 .14
    plain hosts 198.51.100.101 … .139: 13 on sw1, 13 on sw2, 13 on sw3 (with the PC: 40 hosts)

Every camera (cam0 … cam5, cam3 on the routed VLAN 203.0.113.0/24) runs the ONVIF
camera simulator and a GStreamer RTSP server with its persona's mounts (pictures over
1280×720 are served at 1280×720, as the demo does).  The plain hosts are bare namespaces:
the kernel answers ARP and ICMP, nothing listens.  Use :func:`survey_snmp_site` as a context
manager: every process and namespace is gone when it exits, also on error.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sitescout.infra.lab.netns import LabHost, stop_process_group
from sitescout.infra.lab.scenario import stream_spec_for, wait_ready
from sitescout.infra.lab.snmp_agents import AgentSpec, start_agent
from sitescout.infra.lab.snmp_site import LAB_V3_USER, SnmpLab, SnmpLabSite, build_snmp_lab

__all__ = ["BENCH_CAMERAS", "SW3_IP", "SurveySnmpSite", "survey_snmp_site"]

SW3_IP = "198.51.100.5"
#: camera host name → (address, persona); cam0–cam3 come from build_snmp_lab.
BENCH_CAMERAS = {
    "cam0": ("198.51.100.10", "hikvision_ds2cd2012i"),
    "cam1": ("198.51.100.11", "axis_q6045e"),
    "cam2": ("198.51.100.12", "bosch_flexidome5100i"),
    "cam3": ("203.0.113.10", "hikvision_ds2df7276ael"),
    "cam4": ("198.51.100.13", "trendnet_tvip320pi"),
    "cam5": ("198.51.100.14", "hikoem_enp1a14"),
}
PLAIN_HOSTS_PER_SWITCH = 13
MAX_PIXELS = 1280 * 720


@dataclass
class SurveySnmpSite:
    """The built site: the SNMP lab, the added switch and hosts, the cameras' processes."""

    lab: SnmpLab
    sw3: LabHost
    cameras: dict[str, LabHost] = field(default_factory=dict)
    plain_hosts: list[LabHost] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    rtsp_servers: list[Any] = field(default_factory=list)

    @property
    def scanner(self) -> LabHost:
        """Return the namespace the survey runs in."""
        return self.lab.scanner

    def counts(self) -> dict[str, int]:
        """Return how many switches, hosts (not cameras, router or scanner) and cameras the site has."""
        hosts = [h for h in self.lab.hosts.values() if h.name == "pc"] + self.plain_hosts
        return {"switches": 3, "hosts": len(hosts), "cameras": len(self.cameras), "routers": 1}

    def close(self) -> None:
        """Stop the RTSP servers and the camera simulators (the namespaces go with the site)."""
        for server in self.rtsp_servers:
            server.stop()
        self.rtsp_servers.clear()
        for proc in self.procs:
            stop_process_group(proc)
        self.procs.clear()


def _add_sw3(site: SnmpLabSite) -> LabHost:
    # Port names with "uplink" in them: the survey counts a port as an uplink by its name when
    # no LLDP neighbour says so (sw1's lldpd, started by build_snmp_lab, does not run on this port).
    sw3 = site.add_switch("sw3", f"{SW3_IP}/24", uplink_from="uplink-sw3", uplink_to="uplink-sw1")
    start_agent(sw3, AgentSpec("sw3", SW3_IP, v3=LAB_V3_USER, sys_descr="TP-Link TL-SG2008P (lab)",
                               sys_object_id="1.3.6.1.4.1.11863.1.1.3", vlans={"br0": 10},
                               entity={"descr": "TP-Link TL-SG2008P", "name": "TL-SG2008P", "model": "TL-SG2008P",
                                       "serial": "2008LAB0003", "firmware": "3.0.1", "software": "3.0.1",
                                       "hardware_rev": "A1", "manufacturer": "TP-Link"},
                               speeds_mbps={"uplink-sw1": 1000}, lldp_interfaces=("p*", "uplink-sw1")),
                site.workdir / "sw3")
    return sw3


def _start_simulators(built: SurveySnmpSite) -> None:
    ready = []
    for name, host in built.cameras.items():
        ip, persona = BENCH_CAMERAS[name]
        proc = host.popen([sys.executable, "-m", "sitescout.infra.lab.camera", "--persona", persona, "--ip", ip,
                           "--discovery", "multicast", "--mac", host.mac],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        built.procs.append(proc)
        ready.append((f"camera {ip} ({persona})", proc))
    wait_ready(ready, timeout_s=60)


def _start_rtsp(built: SurveySnmpSite) -> None:
    from sitescout.infra.lab.personas import load_persona
    from sitescout.infra.lab.rtsp import RtspServer

    for name, host in built.cameras.items():
        ip, persona = BENCH_CAMERAS[name]
        paths = load_persona(persona).stream_paths()
        if not paths:
            continue
        server = RtspServer(ip, 554, {p: stream_spec_for(persona, p, max_pixels=MAX_PIXELS) for p in paths},
                            netns=host.netns)
        built.rtsp_servers.append(server)  # before start: a half-started server is stopped too
        server.start(timeout_s=30)


@contextmanager
def survey_snmp_site(*, rtsp: bool = True) -> Iterator[SurveySnmpSite]:
    """Build the site (namespaces, agents, cameras); tear everything down on exit, also on error."""
    site = SnmpLabSite()
    built: SurveySnmpSite | None = None
    try:
        lab = build_snmp_lab(site)
        sw1, sw2 = LabHost("sw1", site.switch, "198.51.100.3", "", _site=site), site.extra_switches["sw2"]
        sw3 = _add_sw3(site)
        built = SurveySnmpSite(lab, sw3)
        by_ip = {ip: h for ip, h in lab.hosts.items()}
        for name in ("cam0", "cam1", "cam2", "cam3"):
            built.cameras[name] = by_ip[BENCH_CAMERAS[name][0]]
        for name in ("cam4", "cam5"):
            built.cameras[name] = site.add_host_on(sw3, name, f"{BENCH_CAMERAS[name][0]}/24")
        n = 101
        for switch in (sw1, sw2, sw3):
            for _ in range(PLAIN_HOSTS_PER_SWITCH):
                ip_cidr = f"198.51.100.{n}/24"
                host = (site.add_host(f"h{n}", ip_cidr) if switch is sw1
                        else site.add_host_on(switch, f"h{n}", ip_cidr))
                built.plain_hosts.append(host)
                n += 1
        # Traffic so the bridges learn every new MAC and the router's ARP table holds every host.
        for host in (*built.plain_hosts, built.cameras["cam4"], built.cameras["cam5"]):
            lab.router.run(["ping", "-c1", "-W1", host.ip])
        _start_simulators(built)
        if rtsp:
            _start_rtsp(built)
        yield built
    finally:
        if built is not None:
            built.close()
        site.close()

