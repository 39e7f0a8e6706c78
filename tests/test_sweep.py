"""Host discovery: the found set equals the live set, with the right MACs and methods."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys

import pytest

from sitescout.infra.lab.netns import LabHost, LabSite
from sitescout.infra.lab.pytest_plugin import requires_netns
from sitescout.probes.net.sweep import SweepHit, sweep

A, B = "198.51.100.0/24", "203.0.113.0/24"


def _run_sweep(scanner: LabHost, *args: str, user: str | None = None) -> tuple[list[dict], str]:
    argv = [sys.executable, "-m", "sitescout.probes.net.sweep", "-v", *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    cp = scanner.run(argv, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout), cp.stderr


@pytest.fixture
def site(lab_site: LabSite) -> dict:
    """A site with a router, a scanner, named hosts, a crowd on subnet a and hosts behind the router."""
    router = lab_site.add_router("198.51.100.254/24", "203.0.113.254/24")
    scanner = lab_site.add_scanner("198.51.100.2/24")
    axis = lab_site.add_host("axis", "198.51.100.10/24", mac="00:40:8c:11:22:33")
    hik = lab_site.add_host("hik", "198.51.100.11/24", mac="44:19:b6:44:55:66")
    crowd = lab_site.add_crowd("crowd", [f"198.51.100.{i}" for i in range(40, 200, 7)], 24)
    far = lab_site.add_host("far", "203.0.113.10/24", subnet="b")
    farcrowd = lab_site.add_crowd("farcrowd", [f"203.0.113.{i}" for i in range(50, 250, 13)], 24, subnet="b")
    on_link = {router.ip: router.mac, axis.ip: axis.mac, hik.ip: hik.mac, **crowd.addresses}
    routed = {ip: None for ip in [far.ip, router.ips[1], *farcrowd.addresses]}
    return {"scanner": scanner, "on_link": on_link, "routed": routed}


@pytest.mark.netns
@requires_netns
def test_sweep_finds_exactly_the_live_hosts_with_their_macs(site: dict) -> None:
    hits, log = _run_sweep(site["scanner"], A, B)
    found = {h["ip"]: h["mac"] for h in hits}
    assert found == {**site["on_link"], **site["routed"]}
    methods = {h["ip"]: h["method"] for h in hits}
    assert {methods[ip] for ip in site["on_link"]} == {"arp"}
    assert {methods[ip] for ip in site["routed"]} == {"icmp"}
    assert "198.51.100.2" not in found, "the scanner's own address is excluded"
    assert "arp sweep of 253 addresses" in log and "254 addresses: icmp echo sweep" in log


@pytest.mark.netns
@requires_netns
def test_sweep_with_named_interface_and_no_retry(site: dict) -> None:
    hits, _ = _run_sweep(site["scanner"], A, "--interface", "eth0", "--retries", "0")
    assert {h["ip"]: h["mac"] for h in hits} == site["on_link"]


@pytest.mark.netns
@requires_netns
def test_unprivileged_sweep_uses_ping_sockets_when_allowed(site: dict) -> None:
    scanner = site["scanner"]
    scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    hits, log = _run_sweep(scanner, A, B, user="65534")
    assert {h["ip"] for h in hits} == set(site["on_link"]) | set(site["routed"])
    assert {h["method"] for h in hits} == {"icmp-dgram"} and "icmp-dgram echo sweep" in log
    assert all(h["mac"] is None for h in hits)


@pytest.mark.netns
@requires_netns
def test_unprivileged_sweep_falls_back_to_tcp_connect(site: dict) -> None:
    scanner = site["scanner"]
    scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"], check=True)
    hits, log = _run_sweep(scanner, B, "--wait", "1.0", user="65534")
    # Linux hosts refuse the connection with a RST: that proves they are there.
    assert {h["ip"] for h in hits} == set(site["routed"])
    assert {h["method"] for h in hits} == {"tcp"} and "tcp connect discovery" in log


def test_sweep_refuses_networks_over_the_cap() -> None:
    with pytest.raises(ValueError, match="over the sweep limit of 65536"):
        sweep([ipaddress.IPv4Network("127.0.0.0/8")])
    with pytest.raises(ValueError, match="over the sweep limit of 256"):
        sweep([ipaddress.IPv4Network("127.0.0.0/23")], max_addresses=256)
    with pytest.raises(ValueError, match="only IPv4"):
        sweep([ipaddress.ip_network("::1/128")])  # type: ignore[list-item]


def test_loopback_sweep_counts_only_accepted_connections() -> None:
    # Every 127.x answers ICMP and refuses TCP: only listeners prove a (simulated) host.
    listeners = []
    try:
        for ip, port in (("127.77.0.9", 8080), ("127.77.0.3", 554)):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.listen(8)
            listeners.append(s)
        hits = sweep([ipaddress.IPv4Network("127.77.0.0/28")], wait_s=2.0)  # 0.5 s found nothing once in CI
    finally:
        for s in listeners:
            s.close()
    assert hits == [SweepHit("127.77.0.3", None, "tcp"), SweepHit("127.77.0.9", None, "tcp")]
