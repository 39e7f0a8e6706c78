"""The scanner's own IPv4 addresses, so a survey knows which networks are on-link."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import logging
import shutil
import socket
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from sitescout.inventory.errors import Coded

__all__ = ["LocalAddress", "local_ipv4_addresses", "parse_networks"]

log = logging.getLogger(__name__)

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


@dataclass(frozen=True)
class LocalAddress:
    """One IPv4 address of this machine (in the current network namespace)."""

    interface: str
    ip: str
    prefixlen: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        """Return the on-link network of this address."""
        return ipaddress.IPv4Network(f"{self.ip}/{self.prefixlen}", strict=False)


def _from_iproute2() -> list[LocalAddress]:
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=5, check=True
    ).stdout
    result = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                result.append(LocalAddress(link["ifname"], info["local"], int(info["prefixlen"])))
    return result


def _from_ioctl() -> list[LocalAddress]:
    # Primary address per interface only; used where iproute2 is missing.
    result = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                ip = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, req)[20:24])
                mask = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFNETMASK, req)[20:24])
            except OSError:
                continue
            prefixlen = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
            result.append(LocalAddress(name, ip, prefixlen))
    return result


def local_ipv4_addresses() -> list[LocalAddress]:
    """Return every IPv4 address of this namespace, loopback included."""
    if shutil.which("ip"):
        try:
            return _from_iproute2()
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as err:
            log.debug("ip -j addr failed (%s); falling back to ioctl", err)
    return _from_ioctl()


def parse_networks(texts: Sequence[str], max_addresses: int) -> list[ipaddress.IPv4Network]:
    """Parse ``--network`` values; raise ValueError naming the bad one (its message coded: the command says it)."""
    networks = []
    for text in texts:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as err:
            raise ValueError(Coded("network_not_cidr", "--network %(value)r is not a CIDR network such as "
                                   "198.51.100.0/24", value=text)) from err
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValueError(Coded("network_not_ipv4", "--network %(value)r: only IPv4 networks can be swept",
                                   value=text))
        if net.num_addresses > max_addresses:
            raise ValueError(Coded("network_too_large", "--network %(value)r has %(count)s addresses, over the limit "
                                   "of %(most)s; survey smaller networks", value=text, count=net.num_addresses,
                                   most=max_addresses))
        networks.append(net)
    return networks
