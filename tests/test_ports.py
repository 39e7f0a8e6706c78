"""TCP port scan: open ports of real listeners, on loopback and against the lab's plain hosts."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest

from sitescout.infra.lab.hosts import PLAIN_HOST_PROFILES, serve_plain_host
from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.pytest_plugin import requires_netns
from sitescout.probes.net.ports import DEFAULT_PORTS, PORT_REASONS, async_scan_ports


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_default_ports_are_documented_and_plain_profiles_use_them() -> None:
    assert set(DEFAULT_PORTS) == set(PORT_REASONS) and 3702 not in DEFAULT_PORTS
    for profile, ports in PLAIN_HOST_PROFILES.items():
        assert set(ports) <= set(DEFAULT_PORTS), profile


def test_scan_finds_listeners_and_closes_every_socket() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: refuses
    port, closed_port = listener.getsockname()[1], closed.getsockname()[1]
    try:
        before = _open_fds()
        found = asyncio.run(async_scan_ports(["127.0.0.1", "127.0.0.2"], [port, closed_port],
                                             timeout_s=1.0, concurrency=1))
        assert found == {"127.0.0.1": [port], "127.0.0.2": []}
        assert _open_fds() == before
    finally:
        listener.close()
        closed.close()


def test_scan_of_plain_host_in_process() -> None:
    with serve_plain_host("127.0.0.1", "loudspeaker") as host:
        found = asyncio.run(async_scan_ports(["127.0.0.1"], host.ports, timeout_s=1.0))
    assert found == {"127.0.0.1": list(PLAIN_HOST_PROFILES["loudspeaker"])}


def test_scan_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        asyncio.run(async_scan_ports(["127.0.0.1"], concurrency=0))
    with pytest.raises(ValueError):
        asyncio.run(async_scan_ports(["127.0.0.1"], timeout_s=0))


_SCAN = """
import asyncio, json, sys
from sitescout.probes.net.ports import async_scan_ports
ips = sys.argv[1:]
print(json.dumps(asyncio.run(async_scan_ports(ips, timeout_s=1.0))))
"""


@pytest.mark.netns
@requires_netns
def test_plain_host_profiles_seen_from_the_scanner(lab_site: LabSite) -> None:
    lab_site.add_router("198.51.100.254/24", "203.0.113.254/24")
    scanner = lab_site.add_scanner("198.51.100.2/24")
    expected: dict[str, list[int]] = {}
    procs = []
    for i, profile in enumerate(sorted(PLAIN_HOST_PROFILES)):
        subnet = "b" if profile == "router" else "a"
        ip = f"203.0.113.{20 + i}" if subnet == "b" else f"198.51.100.{20 + i}"
        host = lab_site.add_host(profile, f"{ip}/24", subnet=subnet)
        procs.append(host.popen([sys.executable, "-m", "sitescout.infra.lab.hosts", "--ip", ip,
                                 "--profile", profile], stdout=subprocess.PIPE, text=True))
        expected[ip] = list(PLAIN_HOST_PROFILES[profile])
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().startswith("ready ")
    silent = "198.51.100.99"
    lab_site.add_host("silent", f"{silent}/24")
    expected[silent] = []
    cp = scanner.run([sys.executable, "-c", _SCAN, *expected], timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == expected
    # the switch's web UI answers with a page naming the device
    page = scanner.run(
        [
            sys.executable,
            "-c",
            "import urllib.request; print(urllib.request.urlopen('http://198.51.100.24/', timeout=5).read().decode())",
        ]
    )
    assert "<title>TL-SG2210MP Managed PoE Switch</title>" in page.stdout, page.stderr
