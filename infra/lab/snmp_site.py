"""A lab site with managed switches and a router that answer SNMP, and the ground truth to check them.

Layout built by :func:`build_snmp_lab` (addresses from lab-notes' free ranges)::

    router 198.51.100.1 / 203.0.113.1 ── sw1 (HPE, PoE, mgmt 198.51.100.3, VLAN 10 = br-a, 20 = br-b)
      sw1 ── scanner .2, cam0 .10 (PoE, speaks LLDP), cam1 .11 (PoE), cam3 203.0.113.10 (VLAN 20)
      sw1 up2 ══ 1 Gb/s uplink ══ sw2 up1 (TP-Link, mgmt 198.51.100.4)
      sw2 ── cam2 .12, pc .100

The switches are namespaces with Linux bridges, the router a namespace that
forwards; every one runs Debian's snmpd and lldpd (``snmp_agents``).
:class:`SnmpGroundTruth` says which port each host is cabled to, which LLDP
neighbours each agent must list, the PoE draw per port and the uplink speed.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabError, LabHost, LabSite
from sitescout.infra.lab.snmp_agents import AgentSpec, SnmpAgent, V3User, start_agent

__all__ = [
    "SnmpLabSite",
    "SnmpLab",
    "SnmpGroundTruth",
    "build_snmp_lab",
    "start_hostile_agents",
    "HOSTILE_IPS",
    "LAB_V3_USER",
    "LAB_COMMUNITY",
    "CAM0_MED_CLAIM_MW",
    "CAM1_DOT3_CLAIM_MW",
]

LAB_COMMUNITY = "lab-ro"
LAB_V3_USER = V3User("labv3", "lab-auth-key-1", "lab-priv-key-1")
UPLINK_MBPS = 1000
#: What cam0's lldpd claims as a powered device (LLDP-MED extended power-via-MDI: PD, power from the PSE, high
#: priority), in mW; the switch's lldpd publishes it in lldpXMedRemXPoEPDTable (LLDP-EXT-MED-MIB) over AgentX.
CAM0_MED_CLAIM_MW = 12950
#: What cam1's lldpd requests (and says its PSE allocated) in the IEEE 802.3 power-via-MDI TLV as an 802.3at type 2
#: powered device, in mW (``build_snmp_lab(dot3_power=True)``); sw1's lldpd publishes it in lldpXdot3RemPowerTable.
CAM1_DOT3_CLAIM_MW = 12950


class SnmpLabSite(LabSite):
    """A LabSite that can also add extra switch namespaces and hosts cabled to them."""

    def __init__(self, prefix: str = "ss") -> None:
        super().__init__(prefix)
        self.extra_switches: dict[str, LabHost] = {}
        self._port_count: dict[str, int] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-snmp-"))
        # lldpd's lldpcli runs unprivileged and must reach its control socket here.
        self.workdir.chmod(0o755)

    def switch_host(self, mgmt_cidr: str) -> LabHost:
        """Give the site's own switch namespace a management address on br-a; return it as a LabHost."""
        iface = ipaddress.IPv4Interface(mgmt_cidr)
        self._configure(self.switch, "br-a", [iface])
        return LabHost("sw1", self.switch, str(iface.ip), "", [str(iface.ip)], ifname="br-a", _site=self)

    def add_switch(self, short: str, mgmt_cidr: str, uplink_from: str = "up2", uplink_to: str = "up1") -> LabHost:
        """Add a switch namespace (bridge br0, management address) uplinked to the site's switch's br-a."""
        iface = ipaddress.IPv4Interface(mgmt_cidr)
        netns = self._add_netns(short)
        self._ip_batch(netns, ["link add br0 type bridge mcast_snooping 0 forward_delay 0 stp_state 0",
                               "link set br0 up", "link set lo up"])
        self._ip(["link", "add", uplink_from, "type", "veth", "peer", "name", uplink_to, "netns", netns],
                 self.switch)
        self._ip_batch(self.switch, [f"link set {uplink_from} master br-a", f"link set {uplink_from} up"])
        self._ip_batch(netns, [f"link set {uplink_to} master br0", f"link set {uplink_to} up",
                               f"addr add {iface.with_prefixlen} dev br0"])
        host = LabHost(short, netns, str(iface.ip), "", [str(iface.ip)], ifname="br0", _site=self)
        self.extra_switches[short] = host
        self._port_count[netns] = 0
        return host

    def add_host_on(self, switch: LabHost, name: str, ip_cidr: str) -> LabHost:
        """Add a host namespace cabled to a port (p1, p2 …) of an extra switch's br0."""
        iface = ipaddress.IPv4Interface(ip_cidr)
        netns = self._add_netns(name)
        self._port_count[switch.netns] += 1
        port = f"p{self._port_count[switch.netns]}"
        mac = self._next_mac()
        self._ip(["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns,
                  "address", mac], switch.netns)
        self._ip_batch(switch.netns, [f"link set {port} master br0", f"link set {port} up"])
        self._configure(netns, "eth0", [iface])
        host = LabHost(name, netns, str(iface.ip), mac, [str(iface.ip)], _site=self)
        self._default_route(host, "a")
        self.hosts[name] = host
        return host

    def add_port_peers(self, short: str, count: int) -> LabHost:
        """Add one namespace holding ``count`` interfaces (e1 …), each cabled to its own port of br-a."""
        netns = self._add_netns(short)
        for i in range(1, count + 1):
            self._veths += 1
            port, mac = f"p{self._veths}", self._next_mac()
            self._ip(["link", "add", port, "type", "veth", "peer", "name", f"e{i}", "netns", netns,
                      "address", mac], self.switch)
            self._ip_batch(self.switch, [f"link set {port} master br-a", f"link set {port} up"])
            self._ip_batch(netns, [f"link set e{i} up"])
        return LabHost(short, netns, "", "", _site=self)

    def port_of(self, host: LabHost, switch_netns: str | None = None) -> str:
        """Return the switch-side interface name of ``host``'s eth0 (the veth peer)."""
        cp = host.run(["ip", "-j", "link", "show", host.ifname])
        peer_index = json.loads(cp.stdout)[0]["link_index"]
        sw = LabHost("sw", switch_netns or self.switch, "", "", _site=self)
        links = json.loads(sw.run(["ip", "-j", "link", "show"]).stdout)
        return next(lk["ifname"] for lk in links if lk["ifindex"] == peer_index)

    def close(self) -> None:
        """Close the site and remove the agents' working files."""
        super().close()
        workdir = getattr(self, "workdir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _ip(args: list[str], netns: str) -> None:
        cp = subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True, timeout=20)
        if cp.returncode != 0:
            raise LabError(f"ip -n {netns} {' '.join(args)}: {cp.stderr.strip()}")

    @staticmethod
    def _ip_batch(netns: str, lines: list[str]) -> None:
        cp = subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=60)
        if cp.returncode != 0:
            raise LabError(f"{netns}: ip -batch: {cp.stderr.strip()}")


@dataclass
class SnmpGroundTruth:
    """What a correct collection must find."""

    #: host ip → (switch management ip, switch port ifname)
    ports: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: agent ip → {local port ifname: neighbour sysName}
    neighbors: dict[str, dict[str, str]] = field(default_factory=dict)
    #: switch ip → {port ifname: milliwatts}
    poe_mw: dict[str, dict[str, int]] = field(default_factory=dict)
    poe_budget_w: dict[str, int] = field(default_factory=dict)
    #: switch ip → (uplink ifname, Mb/s)
    uplinks: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: agent ip → sysName / model / serial
    identity: dict[str, dict[str, str]] = field(default_factory=dict)
    macs: dict[str, str] = field(default_factory=dict)  # host ip → MAC
    #: switch ip → {port ifname: mW a powered device claims over LLDP-MED, as the switch publishes it}
    med_claims_mw: dict[str, dict[str, int]] = field(default_factory=dict)
    #: switch ip → {port ifname: mW a powered device requests in the 802.3 power-via-MDI TLV, as published}
    dot3_claims_mw: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class SnmpLab:
    """The built site: its agents by management address, hosts and ground truth."""

    site: SnmpLabSite
    scanner: LabHost
    router: LabHost
    agents: dict[str, SnmpAgent]
    hosts: dict[str, LabHost]
    truth: SnmpGroundTruth


def _entity(model: str, serial: str, firmware: str, maker: str) -> dict[str, str]:
    return {"descr": f"{maker} {model}", "name": model, "model": model, "serial": serial, "firmware": firmware,
            "software": firmware, "hardware_rev": "A1", "manufacturer": maker}


def build_snmp_lab(site: SnmpLabSite, *, uplink_mbps: int = UPLINK_MBPS,
                   sw1_duplex: dict[str, int] | None = None, dot3_power: bool = False) -> SnmpLab:
    """Build the router, two switches (sw1 with PoE), hosts and cameras, with their agents and ground truth.

    ``uplink_mbps`` is the speed both ends of the sw1–sw2 uplink report; ``sw1_duplex`` overrides
    sw1's dot3StatsDuplexStatus per port (2 half, 3 full; net-snmp reports full for every veth).
    ``dot3_power``: cam1 runs lldpd (no snmpd) as an 802.3at type 2 powered device requesting
    :data:`CAM1_DOT3_CLAIM_MW` in the IEEE 802.3 power-via-MDI TLV, and becomes sw1's LLDP neighbour.
    """
    truth = SnmpGroundTruth()
    router = site.add_router("198.51.100.1/24", "203.0.113.1/24")
    scanner = site.add_scanner("198.51.100.2/24")
    cams = [site.add_host("cam0", "198.51.100.10/24"), site.add_host("cam1", "198.51.100.11/24"),
            site.add_host("cam3", "203.0.113.10/24", subnet="b")]
    sw1 = site.switch_host("198.51.100.3/24")
    sw2 = site.add_switch("sw2", "198.51.100.4/24")
    cam2 = site.add_host_on(sw2, "cam2", "198.51.100.12/24")
    pc = site.add_host_on(sw2, "pc", "198.51.100.100/24")
    hosts = {h.ip: h for h in (*cams, cam2, pc, scanner)}
    for h in (*cams, scanner):
        truth.ports[h.ip] = (sw1.ip, site.port_of(h))
    for h in (cam2, pc):
        truth.ports[h.ip] = (sw2.ip, site.port_of(h, sw2.netns))
    rt_ports = [site.port_of(LabHost("rt", router.netns, "", "", ifname=i, _site=site)) for i in ("eth0", "eth1")]
    truth.ports[router.ip] = (sw1.ip, rt_ports[0])
    truth.macs = {ip: h.mac for ip, h in hosts.items()} | {router.ip: router.mac}
    cam0_port, cam1_port = truth.ports[cams[0].ip][1], truth.ports[cams[1].ip][1]
    poe: dict[str, Any] = {"budget_w": 120, "threshold_pct": 80,
           "ports": {cam0_port: {"mw": 6500, "class": 2}, cam1_port: {"mw": 12950, "class": 3},
                     truth.ports[scanner.ip][1]: {"mw": 0, "class": 0}}}
    sw1_ports = tuple(p for p in (*[truth.ports[h.ip][1] for h in (*cams, scanner)], *rt_ports, "up2"))
    specs = [
        (sw1, AgentSpec("sw1", sw1.ip, v3=LAB_V3_USER, sys_descr="HPE OfficeConnect 1820 24G PoE+ (lab)",
                        sys_object_id="1.3.6.1.4.1.11.2.3.7.11.160", vlans={"br-a": 10, "br-b": 20}, poe=poe,
                        entity=_entity("J9983A", "SG00LAB001", "PT.02.12", "HPE"),
                        speeds_mbps={"up2": uplink_mbps}, lldp_interfaces=sw1_ports, duplex=dict(sw1_duplex or {}))),
        (sw2, AgentSpec("sw2", sw2.ip, v3=LAB_V3_USER, sys_descr="TP-Link TL-SG2210MP (lab)",
                        sys_object_id="1.3.6.1.4.1.11863.1.1.3", vlans={"br0": 10},
                        entity=_entity("TL-SG2210MP", "2210LAB0002", "1.0.3", "TP-Link"),
                        speeds_mbps={"up1": uplink_mbps}, lldp_interfaces=("p*", "up1"))),
        (router, AgentSpec("rt1", router.ip, v3=LAB_V3_USER, sys_descr="RouterOS RB750Gr3 (lab)",
                           sys_object_id="1.3.6.1.4.1.14988.1", lldp_interfaces=("eth0", "eth1"))),
        (cams[0], AgentSpec("cam0", cams[0].ip, sys_descr="IPC lab camera", lldp_interfaces=("eth0",),
                            lldp_med_class=1, lldp_med_power_mw=CAM0_MED_CLAIM_MW)),
    ]
    if dot3_power:
        specs.append((cams[1], AgentSpec("cam1", cams[1].ip, sys_descr="IPC lab camera (802.3at PD)",
                                         lldp_interfaces=("eth0",), lldp_dot3_power_mw=CAM1_DOT3_CLAIM_MW,
                                         snmpd=False)))
    agents: dict[str, SnmpAgent] = {}
    for host, spec in specs:
        agent = start_agent(host, spec, site.workdir / spec.name)
        if spec.snmpd:  # an lldpd-only device is no SNMP agent
            agents[spec.ip] = agent
    truth.poe_mw[sw1.ip] = {name: p["mw"] for name, p in poe["ports"].items()}
    truth.poe_budget_w[sw1.ip] = 120
    # The LLDP-MED TLV carries 0.1 W steps: lldpd sends 12950 mW as 129, so the switch publishes 12.9 W.
    truth.med_claims_mw[sw1.ip] = {cam0_port: CAM0_MED_CLAIM_MW // 100 * 100}
    truth.uplinks = {sw1.ip: ("up2", uplink_mbps), sw2.ip: ("up1", uplink_mbps)}
    truth.neighbors = {
        sw1.ip: {rt_ports[0]: "rt1", rt_ports[1]: "rt1", "up2": "sw2", cam0_port: "cam0"},
        sw2.ip: {"up1": "sw1"},
        router.ip: {"eth0": "sw1", "eth1": "sw1"},
    }
    if dot3_power:  # the TLV carries 0.1 W: 12950 mW is sent as 129
        truth.neighbors[sw1.ip][cam1_port] = "cam1"
        truth.dot3_claims_mw[sw1.ip] = {cam1_port: CAM1_DOT3_CLAIM_MW // 100 * 100}
    truth.identity = {sw1.ip: {"sys_name": "sw1", "model": "J9983A", "serial": "SG00LAB001", "vendor": "HPE"},
                      sw2.ip: {"sys_name": "sw2", "model": "TL-SG2210MP", "serial": "2210LAB0002",
                               "vendor": "TP-Link"},
                      router.ip: {"sys_name": "rt1", "vendor": "MikroTik"}}
    # Traffic so the bridges learn every MAC and the router's ARP table holds every host.
    for h in hosts.values():
        router.run(["ping", "-c1", "-W1", h.ip])
    scanner.run(["ping", "-c1", "-W1", router.ip])
    return SnmpLab(site, scanner, router, agents, hosts, truth)


#: Address of each hostile agent mode (``snmp_hostile``) on the site's switch.
HOSTILE_IPS = {"slow": "198.51.100.20", "loop": "198.51.100.21", "million": "198.51.100.22",
               "wrongtype": "198.51.100.23", "community": "198.51.100.24"}


def start_hostile_agents(site: SnmpLabSite) -> dict[str, str]:
    """Add a namespace answering SNMP badly, one mode per address; return {mode: ip}."""
    import sys

    from sitescout.infra.lab.scenario import wait_ready

    host = site.add_host("hostile", [f"{ip}/24" for ip in HOSTILE_IPS.values()])
    argv = [sys.executable, "-m", "sitescout.infra.lab.snmp_hostile"]
    for mode, ip in HOSTILE_IPS.items():
        argv += ["--serve", f"{mode}={ip}"]
    proc = host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready([("hostile SNMP agent", proc)])
    return dict(HOSTILE_IPS)
