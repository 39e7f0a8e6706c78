"""The virtual lab: namespaces are built, wired, and always removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.pytest_plugin import requires_netns

pytestmark = [pytest.mark.netns, requires_netns]


def _namespaces(prefix: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(prefix + "-")}


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=10).stdout
    return {line.split(":")[1].strip() for line in out.splitlines()}


def test_site_wires_hosts_router_and_removes_everything() -> None:
    before = _root_links()
    site = LabSite()
    try:
        router = site.add_router("198.51.100.254/24", "203.0.113.254/24")
        scanner = site.add_scanner("198.51.100.2/24")
        cam = site.add_host("cam", "198.51.100.10/24", mac="00:40:8c:00:00:01")
        far = site.add_host("far", ["203.0.113.10/24", "203.0.113.11/24"], subnet="b")
        assert site.prefix.startswith("ss") and len(site.prefix) == 6
        assert _namespaces(site.prefix) == {f"{site.prefix}-{n}" for n in ("sw", "rt", "scanner", "cam", "far")}
        assert _root_links() == before, "nothing may be created in the root namespace"
        assert cam.mac == "00:40:8c:00:00:01" and far.ips == ["203.0.113.10", "203.0.113.11"]
        link = scanner.run(["ip", "-o", "link", "show", "eth0"]).stdout
        assert "00:40:8c" not in link and scanner.mac in link
        # on-link, routed (both addresses), and the router itself answer
        for ip in (cam.ip, *far.ips, router.ips[1]):
            assert scanner.run(["ping", "-c1", "-W2", ip]).returncode == 0, ip
        assert "224.0.0.0/4 dev eth0" in cam.run(["ip", "route"]).stdout
        assert f"default via {router.ips[1]}" in far.run(["ip", "route"]).stdout
        sleeper = cam.popen(["sleep", "300"])
    finally:
        site.close()
    assert sleeper.poll() is not None, "tracked processes are killed on close"
    assert _namespaces(site.prefix) == set()
    assert _root_links() == before
    site.close()  # idempotent


def test_crowd_gives_each_address_its_own_mac(lab_site: LabSite) -> None:
    scanner = lab_site.add_scanner("198.51.100.2/24")
    ips = [f"198.51.100.{i}" for i in range(100, 110)]
    crowd = lab_site.add_crowd("crowd", ips, 24)
    assert set(crowd.addresses) == set(ips) and len(set(crowd.addresses.values())) == len(ips)
    for ip in ips:
        assert scanner.run(["ping", "-c1", "-W2", ip]).returncode == 0, ip
    neigh = scanner.run(["ip", "neigh", "show", "dev", "eth0"]).stdout
    learned = {line.split()[0]: line.split()[2] for line in neigh.splitlines() if "lladdr" in line}
    assert {ip: learned[ip] for ip in ips} == crowd.addresses


def test_lab_refuses_addresses_outside_the_lab_ranges(lab_site: LabSite) -> None:
    with pytest.raises(ValueError, match="198.51.100.0/24 and 203.0.113.0/24"):
        lab_site.add_host("bad", "192.0.2.10/24")
    with pytest.raises(ValueError, match="already exists"):
        lab_site.add_host("h", "198.51.100.3/24")
        lab_site.add_host("h", "198.51.100.4/24")


def test_fixture_removes_namespaces_when_the_test_fails(tmp_path: Path) -> None:
    record = tmp_path / "prefix.txt"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(f"""
        def test_boom(lab_site):
            lab_site.add_host("h", "198.51.100.7/24")
            open({str(record)!r}, "w").write(lab_site.prefix)
            raise RuntimeError("test body fails")
    """))
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "sitescout.infra.lab.pytest_plugin",
                         "-p", "no:cacheprovider", str(test_file)],
                        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert cp.returncode == 1 and "RuntimeError: test body fails" in cp.stdout, cp.stdout
    prefix = record.read_text()
    assert prefix.startswith("ss") and _namespaces(prefix) == set()


def test_cleanup_stale_removes_only_dead_owners(lab_site: LabSite) -> None:
    lab_site.add_host("live", "198.51.100.8/24")
    code = ("from sitescout.infra.lab.netns import LabSite; import time, sys\n"
            "s = LabSite(); s.add_host('h', '198.51.100.9/24'); print(s.prefix, flush=True); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        stale = proc.stdout.readline().strip()
        assert _namespaces(stale) == {f"{stale}-sw", f"{stale}-h"}
        removed = LabSite.cleanup_stale()
        assert not any(n.startswith((stale, lab_site.prefix)) for n in removed), "live sites are left alone"
        assert _namespaces(stale) == {f"{stale}-sw", f"{stale}-h"}
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # a killed run: no cleanup of its own
        proc.wait(timeout=10)
    removed = LabSite.cleanup_stale()
    assert {f"{stale}-sw", f"{stale}-h"} <= set(removed)
    assert _namespaces(stale) == set()
    assert _namespaces(lab_site.prefix) == {f"{lab_site.prefix}-sw", f"{lab_site.prefix}-live"}
