"""Real SNMP and LLDP agents for the lab: Debian's snmpd (net-snmp) and lldpd, inside namespaces only.

An agent is snmpd with a generated configuration (``-C -c FILE``: no system
config, ``MIBS=`` so no MIB files are looked for), a v2c community and a v3
authPriv user (SHA/AES), ``override`` lines for link speeds (veth always says
10 Gb/s), ``pass_persist`` extensions (``snmp_passpersist``) for BRIDGE-MIB,
POWER-ETHERNET-MIB, HP-ICF-POE-MIB and ENTITY-MIB, and ``master agentx`` on a
socket of its own so an lldpd in the same namespace publishes LLDP-MIB.

Network safety (lab-notes): both daemons are started with ``ip netns exec`` in
a namespace of a lab site, never in the root namespace; lldpd only on the
interfaces named.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitescout.infra.lab.netns import LabError, LabHost
from sitescout.infra.lab.snmp_passpersist import MIB_ROOTS

__all__ = ["AgentSpec", "SnmpAgent", "V3User", "start_agent", "start_lldpd", "IF_SPEED_OID", "IF_HIGH_SPEED_OID"]

IF_SPEED_OID = "1.3.6.1.2.1.2.2.1.5"
IF_HIGH_SPEED_OID = "1.3.6.1.2.1.31.1.1.1.15"
_READY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user with authPriv (SHA authentication, AES privacy)."""

    name: str
    auth_key: str
    priv_key: str


@dataclass
class AgentSpec:
    """What one agent answers: identity, credentials, VLAN bridges, PoE, link speeds, LLDP ports."""

    name: str
    ip: str
    community: str = "lab-ro"
    v3: V3User | None = None
    sys_descr: str = "Linux lab agent"
    sys_object_id: str = "1.3.6.1.4.1.8072.3.2.10"
    vlans: dict[str, int] = field(default_factory=dict)  # Linux bridge name → VLAN id
    poe: dict[str, Any] | None = None  # {"budget_w": W, "ports": {ifname: {"mw":, "class":}}}
    entity: dict[str, str] | None = None  # model, serial, firmware, hardware_rev, manufacturer …
    speeds_mbps: dict[str, int] = field(default_factory=dict)  # ifname → ifHighSpeed override
    lldp_interfaces: tuple[str, ...] = ()  # lldpd runs on these only (none: no lldpd)
    #: ifname → EtherLike-MIB dot3StatsDuplexStatus override (2 half, 3 full); net-snmp says full for a veth
    duplex: dict[str, int] = field(default_factory=dict)
    #: LLDP-MED as a powered device: lldpd's ``-M`` device class (1 generic endpoint) and the extended
    #: power-via-MDI claim it sends (``configure med power pd …``), in milliwatts; None sends no MED power TLV
    lldp_med_class: int | None = None
    lldp_med_power_mw: int | None = None
    #: IEEE 802.3 power-via-MDI TLV as a type 2 powered device (802.3at: ``configure dot3 power pd … requested N
    #: allocated N``), the power requested and allocated in milliwatts; None sends no 802.3 power TLV
    lldp_dot3_power_mw: int | None = None
    #: False: no snmpd in this namespace, only lldpd (a powered device that speaks LLDP but not SNMP)
    snmpd: bool = True


@dataclass
class SnmpAgent:
    """A running snmpd (and lldpd) in one namespace; stopped with the lab site."""

    spec: AgentSpec
    host: LabHost
    workdir: Path
    ifindex: dict[str, int]

    @property
    def state_path(self) -> Path:
        """Return the JSON state file the pass_persist extensions read (the PoE ground truth)."""
        return self.workdir / "state.json"

    def write_state(self) -> None:
        """Write the spec's VLANs, PoE and entity for the pass_persist extensions (atomically)."""
        state = {"vlans": self.spec.vlans, "poe": self.spec.poe, "entity": self.spec.entity}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_path)

    def lldp_neighbors(self) -> str:
        """Return lldpd's own view of its neighbours (``lldpcli show neighbors``), for debugging."""
        cp = self.host.run(["lldpcli", "-u", str(self.workdir / "lldpd.sock"), "show", "neighbors",
                            "summary"])
        return cp.stdout


def _check_lab_namespace(host: LabHost, what: str) -> None:
    """Refuse anything but an existing namespace named like a lab site's (never the root namespace)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    names = {line.split()[0] for line in listing.splitlines() if line.strip()}
    if not re.fullmatch(r"[a-z]{1,4}[0-9a-f]{4}-\w+", host.netns) or host.netns not in names:
        raise LabError(f"{host.netns!r}: {what} runs only in a namespace of a lab site")


def _ifindexes(host: LabHost) -> dict[str, int]:
    cp = host.run(["ip", "-j", "link", "show"])
    return {lk["ifname"]: lk["ifindex"] for lk in json.loads(cp.stdout or "[]")}


def _snmpd_conf(spec: AgentSpec, workdir: Path, ifindex: dict[str, int]) -> str:
    lines = [
        f"agentAddress udp:{spec.ip}:161",
        f"rocommunity {spec.community} default",
        f"sysName {spec.name}",
        f"sysDescr {spec.sys_descr}",
        f"sysObjectID .{spec.sys_object_id}",
        "sysLocation sitescout lab",
        "sysServices 6" if spec.vlans else "sysServices 76",
        "master agentx",
        f"agentXSocket {workdir / 'agentx.sock'}",
        "agentXTimeout 2",
    ]
    if spec.v3 is not None:
        lines += [f'createUser {spec.v3.name} SHA "{spec.v3.auth_key}" AES "{spec.v3.priv_key}"',
                  f"rouser {spec.v3.name} priv"]
    state = workdir / "state.json"
    for mib, root in MIB_ROOTS.items():
        if (mib == "bridge" and not spec.vlans) or (mib in ("poe", "hpicfpoe") and not spec.poe) \
                or (mib == "entity" and not spec.entity):
            continue
        lines.append(f"pass_persist .{'.'.join(map(str, root))} {sys.executable} -m "
                     f"sitescout.infra.lab.snmp_passpersist --state {state} --mib {mib}")
    for ifname, mbps in spec.speeds_mbps.items():
        idx = ifindex[ifname]
        lines += [f"override .{IF_HIGH_SPEED_OID}.{idx} unsigned {mbps}",
                  f"override .{IF_SPEED_OID}.{idx} unsigned {min(mbps * 1_000_000, 4_294_967_295)}"]
    for ifname, status in spec.duplex.items():
        lines.append(f"override .1.3.6.1.2.1.10.7.2.1.19.{ifindex[ifname]} integer {status}")
    return "\n".join(lines) + "\n"


def _lldpd_conf(spec: AgentSpec) -> str:
    return "\n".join([
        f"configure system hostname {spec.name}",
        f"configure system description \"{spec.sys_descr}\"",
        f"configure system ip management pattern {spec.ip}",
        "configure lldp tx-interval 1",
        *([f"configure med power pd source pse priority high value {spec.lldp_med_power_mw}"]
          if spec.lldp_med_power_mw is not None else []),
        *([f"configure dot3 power pd supported enabled powerpairs signal class class-3 type 2 source pse "
            f"priority high requested {spec.lldp_dot3_power_mw} allocated {spec.lldp_dot3_power_mw}"]
          if spec.lldp_dot3_power_mw is not None else []),
    ]) + "\n"


def _wait_for_line(path: Path, needle: str, proc: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    text = path.read_text(errors="replace")[-800:] if path.exists() else ""
    raise LabError(f"{what} did not start: {text}")


def start_agent(host: LabHost, spec: AgentSpec, workdir: Path) -> SnmpAgent:
    """Start snmpd (unless ``spec.snmpd`` is False) and lldpd (``spec.lldp_interfaces``) in ``host``'s namespace."""
    _check_lab_namespace(host, "snmpd")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "persist").mkdir(exist_ok=True)
    ifindex = _ifindexes(host)
    agent = SnmpAgent(spec, host, workdir, ifindex)
    agent.write_state()
    if spec.snmpd:
        conf = workdir / "snmpd.conf"
        conf.write_text(_snmpd_conf(spec, workdir, ifindex))
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(workdir / "persist")}
        log = workdir / "snmpd.log"
        snmpd = host.popen(["snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(log), "-p", str(workdir / "snmpd.pid")],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_line(log, "NET-SNMP version", snmpd, f"snmpd in {host.netns}")
    if spec.lldp_interfaces:
        start_lldpd(host, spec, workdir)
    return agent


def start_lldpd(host: LabHost, spec: AgentSpec, workdir: Path) -> None:
    """Start lldpd on ``spec.lldp_interfaces`` of ``host``'s namespace (AgentX to the snmpd there, unless none)."""
    _check_lab_namespace(host, "lldpd")
    workdir.mkdir(parents=True, exist_ok=True)
    Path("/run/lldpd").mkdir(exist_ok=True)  # lldpd's privilege-separation chroot
    lconf = workdir / "lldpd.conf"
    lconf.write_text(_lldpd_conf(spec))
    log = workdir / "lldpd.log"
    with open(log, "w") as out:
        agentx = ["-x", "-X", str(workdir / "agentx.sock")] if spec.snmpd else []
        lldpd = host.popen(["lldpd", "-d", *agentx,
                            "-u", str(workdir / "lldpd.sock"), "-I", ",".join(spec.lldp_interfaces),
                            *(["-M", str(spec.lldp_med_class)] if spec.lldp_med_class else []),
                            "-O", str(lconf)],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    _wait_for_line(log, "protocol LLDP enabled", lldpd, f"lldpd in {host.netns}")
