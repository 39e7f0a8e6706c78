"""A virtual site made of network namespaces: a switch, hosts, a scanner, a router, crowds.

Everything lives in namespaces whose names start with a per-site prefix
(``ss`` + 4 hex digits); nothing is created in the root namespace.  Veth pairs
are created inside the switch namespace with their peer placed directly in the
host namespace, so no interface ever appears in the root namespace.

Usage::

    with LabSite() as site:
        scanner = site.add_scanner("198.51.100.2/24")
        cam = site.add_host("cam1", "198.51.100.10/24", mac="00:40:8c:00:00:01")
        print(scanner.run(["ping", "-c1", cam.ip]).stdout)

Only 198.51.100.0/24 and 203.0.113.0/24 may be used inside a site (lab-notes).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LabSite", "LabHost", "LabCrowd", "LabError", "netns_available", "ALLOWED_NETWORKS", "stop_process_group"]

log = logging.getLogger(__name__)

ALLOWED_NETWORKS = (ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv4Network("203.0.113.0/24"))
_OWNER_DIR = Path("/run/sitescout-lab")
_CMD_TIMEOUT_S = 20.0
_KILL_GRACE_S = 2.0


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=_CMD_TIMEOUT_S)
    if check and cp.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {cp.stderr.strip()}")
    return cp


def _ns_exec(netns: str, *argv: str) -> None:
    cp = subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True,
                        timeout=_CMD_TIMEOUT_S)
    if cp.returncode != 0:
        raise LabError(f"{netns}: {' '.join(argv)}: {cp.stderr.strip()}")


def _ip_batch(netns: str, lines: Sequence[str]) -> None:
    cp = subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(lines) + "\n",
                        capture_output=True, text=True, timeout=_CMD_TIMEOUT_S * 3)
    if cp.returncode != 0:
        raise LabError(f"{netns}: ip -batch: {cp.stderr.strip()}")


def netns_available() -> tuple[bool, str]:
    """Say whether this process can build lab sites, and why not."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    try:
        cp = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"'ip netns' unavailable: {err}"
    if cp.returncode != 0:
        return False, f"'ip netns' unavailable: {cp.stderr.strip()}"
    return True, ""


def _check_allowed(cidr: str) -> ipaddress.IPv4Interface:
    iface = ipaddress.IPv4Interface(cidr)
    if not any(iface.ip in net for net in ALLOWED_NETWORKS):
        raise ValueError(f"{cidr}: lab sites may only use 198.51.100.0/24 and 203.0.113.0/24")
    return iface


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def stop_process_group(proc: subprocess.Popen[Any] | None) -> None:
    """End a process started in its own session/group: SIGTERM, then SIGKILL after a grace period."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=_KILL_GRACE_S)


def _delete_netns(name: str) -> None:
    # Processes still inside keep the namespace (and its veths) alive after the
    # name is removed: end them by pid first.  They were all started by the lab.
    cp = _ip("netns", "pids", name, check=False)
    for pid in (int(p) for p in cp.stdout.split() if p.isdigit()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _ip("netns", "del", name, check=False)


@dataclass
class LabHost:
    """One namespace of a site: a host, the scanner or the router."""

    name: str
    netns: str
    ip: str
    mac: str
    ips: list[str] = field(default_factory=list)
    ifname: str = "eth0"
    subnet: str = "a"
    _site: LabSite | None = field(default=None, repr=False)

    def run(self, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run a command inside this namespace and wait for it (text output, 60 s timeout by default)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(["ip", "netns", "exec", self.netns, *argv], **kw)

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a command inside this namespace in its own process group, killed when the site closes."""
        kw.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], **kw)
        if self._site is not None:
            self._site._procs.append(proc)
        return proc


@dataclass
class LabCrowd(LabHost):
    """Many live addresses in one namespace, each on its own macvlan with its own MAC."""

    addresses: dict[str, str] = field(default_factory=dict)


class LabSite:
    """A site of namespaces; a context manager that removes everything it made on exit."""

    def __init__(self, prefix: str = "ss") -> None:
        if not re.fullmatch(r"[a-z]{1,4}", prefix):
            raise ValueError("prefix must be 1-4 lowercase letters")
        self.prefix = prefix + secrets.token_hex(2)
        self.hosts: dict[str, LabHost] = {}
        self.router: LabHost | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._namespaces: list[str] = []
        self._veths = 0
        self._macs = 0
        self._closed = False
        self._owner = _OWNER_DIR / f"{self.prefix}.owner"
        _OWNER_DIR.mkdir(parents=True, exist_ok=True)
        # Written before any namespace exists so cleanup_stale can tell a live
        # site of a parallel run from the leftovers of a killed one.
        self._owner.write_text(f"{os.getpid()} {_proc_start_time(os.getpid())}\n")
        try:
            self.switch = self._add_netns("sw")
            lines = [f"link add br-{s} type bridge mcast_snooping 0 forward_delay 0 stp_state 0"
                     for s in ("a", "b")]
            lines += [f"link set br-{s} up" for s in ("a", "b")] + ["link set lo up"]
            _ip_batch(self.switch, lines)
        except BaseException:
            self.close()
            raise

    # -- building -------------------------------------------------------------

    def _add_netns(self, short: str) -> str:
        name = f"{self.prefix}-{short}"
        if name in self._namespaces:
            raise ValueError(f"{short}: a namespace of that name already exists in this site")
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ns_exec(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1")
        return name

    def _next_mac(self) -> str:
        # Locally administered, unique per site and per run.
        self._macs += 1
        h = self.prefix[-4:]
        return (
            f"02:{h[:2]}:{h[2:]}:{(self._macs >> 16) & 0xFF:02x}:{(self._macs >> 8) & 0xFF:02x}:{self._macs & 0xFF:02x}"
        )

    def _plug(self, netns: str, ifname: str, subnet: str, mac: str | None) -> str:
        """Create a veth in the switch, its peer `ifname` in `netns`, attach to the subnet's bridge."""
        if subnet not in ("a", "b"):
            raise ValueError(f"subnet must be 'a' or 'b', not {subnet!r}")
        self._veths += 1
        port = f"p{self._veths}"
        mac = (mac or self._next_mac()).lower()
        _ip("link", "add", port, "type", "veth", "peer", "name", ifname, "netns", netns,
            "address", mac, netns=self.switch)
        _ip_batch(self.switch, [f"link set {port} master br-{subnet}", f"link set {port} up"])
        return mac

    def _configure(self, netns: str, ifname: str, addrs: Sequence[ipaddress.IPv4Interface]) -> None:
        lines = [f"addr add {a.with_prefixlen} dev {ifname}" for a in addrs]
        lines += [f"link set {ifname} up", "link set lo up"]
        _ip_batch(netns, lines)

    def _default_route(self, host: LabHost, subnet: str) -> None:
        if self.router is None:
            return
        gw = self.router.ips[0] if subnet == "a" else self.router.ips[1]
        if gw in host.ips:
            return
        _ip("route", "replace", "default", "via", gw, netns=host.netns)

    def add_host(self, name: str, ip_cidr: str | list[str], *, mac: str | None = None,
                 subnet: str = "a") -> LabHost:
        """Add a host namespace with eth0 on the subnet's bridge, its addresses and routes."""
        if not re.fullmatch(r"[A-Za-z0-9_]{1,12}", name):
            raise ValueError(f"{name!r}: host names are 1-12 letters, digits or '_'")
        cidrs = [ip_cidr] if isinstance(ip_cidr, str) else list(ip_cidr)
        addrs = [_check_allowed(c) for c in cidrs]
        netns = self._add_netns(name)
        mac = self._plug(netns, "eth0", subnet, mac)
        self._configure(netns, "eth0", addrs)
        host = LabHost(name, netns, str(addrs[0].ip), mac, [str(a.ip) for a in addrs], subnet=subnet,
                       _site=self)
        self._default_route(host, subnet)
        # lab-notes: without a route a namespace cannot send to a multicast group.
        _ip("route", "replace", "224.0.0.0/4", "dev", "eth0", netns=netns)
        self.hosts[name] = host
        return host

    def add_scanner(self, ip_cidr: str | list[str], *, mac: str | None = None, subnet: str = "a") -> LabHost:
        """Add the namespace the scanner runs in (a host named 'scanner')."""
        return self.add_host("scanner", ip_cidr, mac=mac, subnet=subnet)

    def add_router(self, ip_a_cidr: str, ip_b_cidr: str) -> LabHost:
        """Add a router between bridge a (eth0) and bridge b (eth1); hosts get default routes via it."""
        if self.router is not None:
            raise ValueError("this site already has a router")
        a, b = _check_allowed(ip_a_cidr), _check_allowed(ip_b_cidr)
        netns = self._add_netns("rt")
        mac = self._plug(netns, "eth0", "a", None)
        self._plug(netns, "eth1", "b", None)
        _ip_batch(netns, [f"addr add {a.with_prefixlen} dev eth0", f"addr add {b.with_prefixlen} dev eth1",
                          "link set eth0 up", "link set eth1 up", "link set lo up"])
        _ns_exec(netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.router = LabHost("router", netns, str(a.ip), mac, [str(a.ip), str(b.ip)], _site=self)
        for host in self.hosts.values():
            self._default_route(host, host.subnet)
        return self.router

    def add_crowd(self, name: str, ips: Sequence[str], prefixlen: int, *, subnet: str = "a") -> LabCrowd:
        """Add many live addresses in one namespace, one macvlan (own MAC) per address."""
        addrs = [_check_allowed(f"{ip}/{prefixlen}") for ip in ips]
        if not addrs:
            raise ValueError("a crowd needs at least one address")
        netns = self._add_netns(name)
        self._plug(netns, "eth0", subnet, None)
        # Several interfaces on one segment: answer ARP only for the address of
        # the interface the request came in on, with that interface's MAC.
        _ns_exec(netns, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1",
                 "net.ipv4.conf.all.arp_announce=2", "net.ipv4.conf.all.rp_filter=0",
                 "net.ipv4.conf.default.arp_ignore=1", "net.ipv4.conf.default.arp_announce=2",
                 "net.ipv4.conf.default.rp_filter=0")
        members: dict[str, str] = {}
        lines = ["link set eth0 up", "link set lo up"]
        for i, a in enumerate(addrs):
            mac = self._next_mac()
            members[str(a.ip)] = mac
            lines += [f"link add m{i} link eth0 address {mac} type macvlan mode bridge",
                      f"addr add {a.with_prefixlen} dev m{i}", f"link set m{i} up"]
        _ip_batch(netns, lines)
        crowd = LabCrowd(name, netns, str(addrs[0].ip), members[str(addrs[0].ip)],
                         list(members), ifname="m0", subnet=subnet, _site=self,
                         addresses=members)
        self._default_route(crowd, subnet)
        self.hosts[name] = crowd
        return crowd

    # -- teardown -------------------------------------------------------------

    def close(self) -> None:
        """Kill tracked processes and delete every namespace this site made; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self._procs):
            try:
                stop_process_group(proc)
            except Exception as err:  # keep tearing down whatever happens
                log.warning("%s: could not stop pid %s: %s", self.prefix, proc.pid, err)
        for name in reversed(self._namespaces):
            _delete_netns(name)
        self._owner.unlink(missing_ok=True)

    def __enter__(self) -> LabSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def cleanup_stale(prefix: str = "ss") -> list[str]:
        """Delete namespaces of sites whose owning process is gone; return their names."""
        listing = _ip("netns", "list", check=False).stdout
        names = [line.split()[0] for line in listing.splitlines() if line.strip()]
        removed = []
        for name in names:
            m = re.fullmatch(rf"({re.escape(prefix)}[0-9a-f]{{4}})-\w+", name)
            if not m or _owner_alive(m.group(1)):
                continue
            _delete_netns(name)
            removed.append(name)
        for owner in (_OWNER_DIR.glob(f"{prefix}*.owner") if _OWNER_DIR.exists() else []):
            if not _owner_alive(owner.name.removesuffix(".owner")):
                owner.unlink(missing_ok=True)
        if removed:
            log.info("removed stale lab namespaces: %s", ", ".join(removed))
        return removed


def _owner_alive(site_prefix: str) -> bool:
    try:
        pid_s, start = (_OWNER_DIR / f"{site_prefix}.owner").read_text().split()
    except (OSError, ValueError):
        return False
    return _proc_start_time(int(pid_s)) == start


def wait_for(predicate: Any, timeout_s: float = 5.0, interval_s: float = 0.05) -> bool:
    """Poll `predicate()` until it is true or the timeout passes; return its last truth."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
