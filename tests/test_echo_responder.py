"""The lab's user-space echo responder: safety checks, impairment draws, replies and ground truth."""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from sitescout.infra.lab.echo_responder import Impairment, read_ground_truth
from sitescout.infra.lab.netns import LabSite

PY = sys.executable
_IGNORE_ALL = Path("/proc/sys/net/ipv4/icmp_echo_ignore_all")


def test_refuses_to_run_in_the_root_namespace() -> None:
    before = _IGNORE_ALL.read_text()
    cp = subprocess.run([PY, "-m", "sitescout.infra.lab.echo_responder", "--delay-ms", "5"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 2
    assert "refusing" in cp.stderr
    assert _IGNORE_ALL.read_text() == before  # the machine's own echo replies untouched


def test_uniform_draws_match_the_configuration() -> None:
    imp, rng = Impairment(delay_ms=40, jitter_ms=10, loss=0.05), random.Random(1)
    draws = [imp.draw(rng) for _ in range(20000)]
    kept = [d for d in draws if d is not None]
    loss = 1 - len(kept) / len(draws)
    assert abs(loss - 0.05) < 3 * (0.05 * 0.95 / len(draws)) ** 0.5
    assert min(kept) >= 30 and max(kept) <= 50
    assert abs(statistics.fmean(kept) - 40) < 0.2


def test_normal_draws_and_drop_all_and_validation() -> None:
    rng = random.Random(2)
    kept = [Impairment(100, 5, jitter_dist="normal").draw(rng) for _ in range(5000)]
    assert abs(statistics.fmean(kept) - 100) < 0.5 and abs(statistics.pstdev(kept) - 5) < 0.3
    assert Impairment(drop_all=True).draw(rng) is None
    with pytest.raises(ValueError):
        Impairment(loss=1.5)
    with pytest.raises(ValueError):
        Impairment(jitter_dist="pareto")


@pytest.mark.netns
def test_replies_from_the_address_asked_and_logs_ground_truth(lab_site: LabSite, tmp_path: Path) -> None:
    scanner = lab_site.add_scanner("198.51.100.2/24")
    host = lab_site.add_host("multi", ["198.51.100.20/24", "198.51.100.21/24"])
    quiet = lab_site.add_host("quiet", "198.51.100.30/24")
    truth = tmp_path / "truth.jsonl"
    procs = [host.popen([PY, "-m", "sitescout.infra.lab.echo_responder", "--delay-ms", "20", "--log", str(truth)],
                        stdout=subprocess.PIPE, text=True),
             quiet.popen([PY, "-m", "sitescout.infra.lab.echo_responder", "--drop-all", "--tcp-ports", "554,80"],
                         stdout=subprocess.PIPE, text=True)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().startswith("ready")
    # Kernel replies are off in the responder's namespace only.
    assert host.run(["sysctl", "-n", "net.ipv4.icmp_echo_ignore_all"]).stdout.strip() == "1"
    assert scanner.run(["sysctl", "-n", "net.ipv4.icmp_echo_ignore_all"]).stdout.strip() == "0"
    cp = scanner.run(["ping", "-n", "-c", "3", "-i", "0.05", "-W", "1", "198.51.100.21"])
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "64 bytes from 198.51.100.21" in cp.stdout  # the second address answers as itself
    rtts = [float(line.split("time=")[1].split()[0]) for line in cp.stdout.splitlines() if "time=" in line]
    assert len(rtts) == 3 and all(20 <= r < 30 for r in rtts), rtts
    entries = read_ground_truth(truth)
    assert [(e["src"], e["dst"], e["dropped"]) for e in entries] == [("198.51.100.2", "198.51.100.21", False)] * 3
    assert all(20 <= e["applied_ms"] < 25 for e in entries), entries
    # The ICMP-filtering host: no echo reply, but TCP 554 and 80 accept.
    assert scanner.run(["ping", "-n", "-c", "2", "-i", "0.05", "-W", "1", quiet.ip]).returncode != 0
    for port in (554, 80):
        check = scanner.run([PY, "-c", f"import socket; socket.create_connection(('{quiet.ip}', {port}), 2).close()"])
        assert check.returncode == 0, check.stderr
