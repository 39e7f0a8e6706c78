"""Link quality against user-space impaired links in network namespaces, checked against ground truth and fping.

Lab (one site, built once for the module): the scanner 198.51.100.2; h40 answers after
40 ms ± 10 ms (uniform) and drops 5 %; h120 answers after 120 ms and drops 20 %; clean is
answered by its kernel; tcponly drops all ICMP and accepts TCP on 554 and 80; .99 is unused.
The measurement runs inside the scanner namespace (`python -m sitescout.probes.net.link_quality`),
with fping on the same hosts at the same time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sitescout.infra.lab.echo_responder import read_ground_truth
from sitescout.infra.lab.netns import LabHost, LabSite
from sitescout.infra.lab.pytest_plugin import skip_unless_netns
from sitescout.probes.net.link_quality import (
    SURVEY_LINK,
    IcmpPinger,
    LinkSettings,
    LinkResult,
    async_tcp_connect_burst,
    async_tcp_connect_time,
    jitter_ms,
    summarize,
)

PY = sys.executable
COUNT, INTERVAL_S, TIMEOUT_S = 200, 0.01, 0.6
FPING_COUNT = 50
UNUSED = "198.51.100.99"
IMPAIRED = {"h40": (40.0, 10.0, 0.05), "h120": (120.0, 0.0, 0.20)}  # mean ms, ± ms, loss


@dataclass
class Lab:
    site: LabSite
    scanner: LabHost
    hosts: dict[str, LabHost]
    truth: dict[str, Path]
    ours: dict[str, dict[str, Any]]
    fping: dict[str, list[float | None]]


def _start_responder(host: LabHost, *args: str) -> None:
    proc = host.popen([PY, "-m", "sitescout.infra.lab.echo_responder", *args], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("ready"), f"responder did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"


def _parse_fping(stderr: str) -> dict[str, list[float | None]]:
    out = {}
    for line in stderr.splitlines():
        if " : " in line:
            ip, values = line.split(" : ", 1)
            out[ip.strip()] = [None if v == "-" else float(v) for v in values.split()]
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    skip_unless_netns()
    tmp = tmp_path_factory.mktemp("link")
    with LabSite() as site:
        scanner = site.add_scanner("198.51.100.2/24")
        hosts = {name: site.add_host(name, f"198.51.100.{10 + i}/24")
                 for i, name in enumerate(["h40", "h120", "clean", "tcponly", "dup", "slow"])}
        truth = {name: tmp / f"{name}.jsonl" for name in hosts}
        for name, (mean, jit, loss) in IMPAIRED.items():
            _start_responder(hosts[name], "--delay-ms", str(mean), "--jitter-ms", str(jit), "--loss", str(loss),
                             "--seed", "7", "--log", str(truth[name]))
        _start_responder(hosts["tcponly"], "--drop-all", "--tcp-ports", "554,80", "--log", str(truth["tcponly"]))
        _start_responder(hosts["dup"], "--duplicate", "--log", str(truth["dup"]))
        _start_responder(hosts["slow"], "--delay-ms", "300", "--log", str(truth["slow"]))
        targets = [hosts[n].ip for n in ("h40", "h120", "clean", "tcponly")] + [UNUSED]
        # fping at the same time as our burst: both read replies on raw sockets and must not mix them up.
        fping = scanner.popen(["fping", "-C", str(FPING_COUNT), "-q", "-p", "20", "-t", "500",
                               *(hosts[n].ip for n in ("h40", "h120", "clean"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cp = scanner.run([PY, "-m", "sitescout.probes.net.link_quality", "--count", str(COUNT),
                          "--interval", str(INTERVAL_S), "--timeout", str(TIMEOUT_S), *targets])
        assert cp.returncode == 0, cp.stderr
        _, fping_err = fping.communicate(timeout=30)
        ours = json.loads(cp.stdout)["results"]
        by_ip = _parse_fping(fping_err)
        yield Lab(site, scanner, hosts, truth, {n: ours[h.ip] for n, h in hosts.items() if h.ip in ours}
                  | {"unused": ours[UNUSED]},
                  {n: by_ip[hosts[n].ip] for n in ("h40", "h120", "clean")})


def _our_truth(lab: Lab, name: str) -> list[dict[str, Any]]:
    ident = lab.ours[name]["ident"]
    return [e for e in read_ground_truth(lab.truth[name]) if e["id"] == ident]


@pytest.mark.netns
@pytest.mark.parametrize("name", list(IMPAIRED))
def test_rtt_average_within_2ms_of_configured_mean(lab: Lab, name: str) -> None:
    mean, _jit, _loss = IMPAIRED[name]
    r = lab.ours[name]
    assert r["sent"] == COUNT
    assert abs(r["rtt_avg_ms"] - mean) <= 2.0, r
    assert r["rtt_min_ms"] <= r["rtt_avg_ms"] <= r["rtt_max_ms"]


@pytest.mark.netns
@pytest.mark.parametrize("name", list(IMPAIRED))
def test_loss_within_three_binomial_sigmas(lab: Lab, name: str) -> None:
    _mean, _jit, loss = IMPAIRED[name]
    sigma = math.sqrt(loss * (1 - loss) / COUNT)
    assert abs(lab.ours[name]["loss_ratio"] - loss) <= 3 * sigma, lab.ours[name]


@pytest.mark.netns
@pytest.mark.parametrize("name", list(IMPAIRED))
def test_measurement_matches_responder_ground_truth(lab: Lab, name: str) -> None:
    truth = _our_truth(lab, name)
    r = lab.ours[name]
    assert len(truth) == COUNT  # every echo we sent reached the responder, once
    answered = sorted((e for e in truth if not e["dropped"]), key=lambda e: e["rx"])  # arrival = send order
    # Nothing is lost on the veth: our received count is exactly the responder's answers.
    assert r["received"] == len(answered)
    applied = [e["applied_ms"] for e in answered]
    # Our RTT = applied delay + the path through two namespaces and two Python processes (< 1 ms).
    overhead = r["rtt_avg_ms"] - statistics.fmean(applied)
    assert 0.0 < overhead < 1.0, overhead
    # Jitter: mean |Δ| of consecutive RTTs, hand-computable from the applied delays.
    truth_jitter = jitter_ms(applied)
    assert abs(r["jitter_ms"] - truth_jitter) < 0.5, (r["jitter_ms"], truth_jitter)
    if name == "h40":
        # Uniform ±10 ms: E|X−Y| = 20/3 ms for two independent draws.
        assert abs(r["jitter_ms"] - 20 / 3) < 1.0


@pytest.mark.netns
@pytest.mark.parametrize("name", ["h40", "h120", "clean"])
def test_fping_on_the_same_host_agrees(lab: Lab, name: str) -> None:
    ours, theirs = lab.ours[name], [v for v in lab.fping[name] if v is not None]
    assert len(lab.fping[name]) == FPING_COUNT and theirs, lab.fping[name]
    their_avg = statistics.fmean(theirs)
    # Two independent samples of the same delay distribution: allow 3 standard errors (at least 2 ms).
    se = math.hypot(statistics.pstdev(theirs) / math.sqrt(len(theirs)),
                    statistics.pstdev(ours["rtts_ms"]) / math.sqrt(ours["received"]))
    assert abs(ours["rtt_avg_ms"] - their_avg) <= max(2.0, 3 * se), (ours["rtt_avg_ms"], their_avg)
    loss = IMPAIRED.get(name, (0, 0, 0.0))[2]
    their_loss = 1 - len(theirs) / FPING_COUNT
    assert abs(their_loss - loss) <= max(3 * math.sqrt(loss * (1 - loss) / FPING_COUNT), 0.0), their_loss


@pytest.mark.netns
def test_clean_host_has_no_loss_and_sub_millisecond_rtt(lab: Lab) -> None:
    r = lab.ours["clean"]
    assert (r["sent"], r["received"], r["loss_ratio"], r["duplicates"], r["late"]) == (COUNT, COUNT, 0.0, 0, 0)
    assert 0 < r["rtt_avg_ms"] < 1.0


@pytest.mark.netns
def test_unused_address_and_icmp_filtering_host_are_total_loss(lab: Lab) -> None:
    for name in ("unused", "tcponly"):
        r = LinkResult(**lab.ours[name])
        assert (r.sent, r.received, r.loss_ratio, r.rtt_avg_ms, r.jitter_ms) == (COUNT, 0, 1.0, None, None)
        stats = r.to_stats()
        assert (stats.received, stats.loss_ratio, stats.rtt_avg_ms, stats.jitter_ms) == (0, 1.0, 0.0, 0.0)
    assert all(e["dropped"] for e in _our_truth(lab, "tcponly"))


@pytest.mark.netns
def test_tcp_only_host_gets_a_connect_time(lab: Lab) -> None:
    ip = lab.hosts["tcponly"].ip
    cp = lab.scanner.run([PY, "-m", "sitescout.probes.net.link_quality", "--tcp-port", "554", "--count", "5",
                          "--interval", "0.02", "--timeout", "1", ip, UNUSED])
    assert cp.returncode == 0, cp.stderr
    res = json.loads(cp.stdout)["results"]
    assert res[ip]["received"] == 5 and 0 < res[ip]["rtt_avg_ms"] < 50, res[ip]
    assert res[UNUSED]["received"] == 0 and res[UNUSED]["loss_ratio"] == 1.0


@pytest.mark.netns
def test_unprivileged_datagram_socket_matches_by_sequence_and_source(lab: Lab) -> None:
    lab.scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    try:
        cp = lab.scanner.run([PY, "-m", "sitescout.probes.net.link_quality", "--socket", "dgram", "--count", "40",
                              "--interval", "0.01", "--timeout", "0.5", lab.hosts["clean"].ip,
                              lab.hosts["h40"].ip])
    finally:
        lab.scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"], check=True)
    assert cp.returncode == 0, cp.stderr
    res = json.loads(cp.stdout)["results"]
    assert res[lab.hosts["clean"].ip]["received"] == 40
    h40 = res[lab.hosts["h40"].ip]
    truth = [e for e in read_ground_truth(lab.truth["h40"]) if e["id"] == h40["ident"]]
    assert len(truth) == 40 and h40["received"] == sum(not e["dropped"] for e in truth)
    assert abs(h40["rtt_avg_ms"] - statistics.fmean(e["applied_ms"] for e in truth if not e["dropped"])) < 1.0


@pytest.mark.netns
def test_duplicates_and_late_replies_are_counted_not_received_twice(lab: Lab) -> None:
    dup, slow = lab.hosts["dup"].ip, lab.hosts["slow"].ip
    # 20 echoes 50 ms apart, 0.2 s timeout: the slow host's 300 ms replies to the first
    # echoes arrive while later ones are still being sent, after their own timeout.
    cp = lab.scanner.run([PY, "-m", "sitescout.probes.net.link_quality", "--count", "20", "--interval", "0.05",
                          "--timeout", "0.2", dup, slow])
    assert cp.returncode == 0, cp.stderr
    res = json.loads(cp.stdout)["results"]
    assert (res[dup]["received"], res[dup]["duplicates"], res[dup]["loss_ratio"]) == (20, 20, 0.0)
    assert res[slow]["received"] == 0 and res[slow]["loss_ratio"] == 1.0
    assert 15 <= res[slow]["late"] <= 20, res[slow]


_CONCURRENT = r"""
import asyncio, json, sys
from sitescout.probes.net.link_quality import IcmpPinger, LinkSettings
async def main():
    pinger = IcmpPinger("dgram")
    targets = sys.argv[1:]
    # 20 bursts per target at once on one socket (a ping socket: every burst has the same identifier).
    burst = LinkSettings(count=5, echo_interval_s=0.0, timeout_s=0.5)
    runs = [pinger.async_measure_links([t], burst) for t in targets for _ in range(20)]
    got = await asyncio.gather(*runs)
    fds = pinger._icmp.fileno() if pinger._icmp else None
    pinger.close()
    print(json.dumps({"fd": fds, "results": [{k: vars(v) for k, v in g.items()} for g in got]}))
asyncio.run(main())
"""


@pytest.mark.netns
def test_concurrent_bursts_on_one_socket_count_only_their_own_replies(lab: Lab) -> None:
    clean, dup, h40 = (lab.hosts[n].ip for n in ("clean", "dup", "h40"))
    lab.scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    try:
        cp = lab.scanner.run([PY, "-c", _CONCURRENT, clean, dup, h40], timeout=60)
    finally:
        lab.scanner.run(["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"], check=True)
    assert cp.returncode == 0, cp.stderr
    results = [r for g in json.loads(cp.stdout)["results"] for r in g.values()]
    by = {ip: [r for r in results if r["target"] == ip] for ip in (clean, dup, h40)}
    assert [(r["sent"], r["received"], r["duplicates"]) for r in by[clean]] == [(5, 5, 0)] * 20
    # Each burst counts its own replies once, and at most its own five duplicates (those arriving
    # after its last first reply find it finished), never another burst's.
    assert all((r["sent"], r["received"]) == (5, 5) and r["duplicates"] <= 5 for r in by[dup]), by[dup]
    ident = by[h40][0]["ident"]
    assert all(r["ident"] == ident for r in results)  # one socket for all 60 bursts
    truth = [e for e in read_ground_truth(lab.truth["h40"]) if e["id"] == ident]
    assert len(truth) == 100
    assert sum(r["received"] for r in by[h40]) == sum(not e["dropped"] for e in truth)


# -- without namespaces ---------------------------------------------------------------------------

def test_jitter_is_mean_absolute_difference_of_consecutive_rtts() -> None:
    # |12-10| + |11-12| + |15-11| = 2 + 1 + 4 = 7 over 3 differences.
    assert jitter_ms([10.0, 12.0, 11.0, 15.0]) == pytest.approx(7 / 3)
    assert jitter_ms([5.0]) == 0.0 and jitter_ms([]) == 0.0


def test_summarize_counts_loss_and_no_reply_is_a_measurement() -> None:
    r = summarize("x", 4, [10.0, 20.0, 30.0])
    assert (r.sent, r.received, r.loss_ratio, r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms) == (4, 3, 0.25, 10, 20, 30)
    none = summarize("y", 10, [])
    assert (none.loss_ratio, none.rtt_avg_ms) == (1.0, None)
    assert none.to_stats().to_dict() == {"sent": 10, "received": 0, "loss_ratio": 1.0, "rtt_min_ms": 0.0,
                                         "rtt_avg_ms": 0.0, "rtt_max_ms": 0.0, "jitter_ms": 0.0,
                                         "method": "icmp"}


def test_rtt_comes_from_one_clock_and_is_never_zero() -> None:
    # CI once measured a veth echo at 0.0 ms: the kernel's wall-clock arrival stamp was moved onto the
    # monotonic clock with two clock reads, and a preemption between them made the reply arrive "before"
    # it was sent.  Now the send is stamped on the kernel's clock and the two are compared directly.
    from types import SimpleNamespace
    from sitescout.probes.net.icmp import ICMP_ECHO_REPLY, EchoReply
    from sitescout.probes.net.link_quality import _Burst, _Target

    target = _Target("cam", "198.51.100.10", 3)
    burst = _Burst(SimpleNamespace(keeps_identifier=False), [target], LinkSettings(count=3, echo_interval_s=0.01,
                                                                                 timeout_s=1.0))
    for k in range(3):
        target.sent_at[k], target.sent_wall[k] = 50.0 + k, 1_800_000_000_000_000_000 + k * 1_000_000_000
        burst.outstanding += 1

    def reply(k: int) -> EchoReply:
        return EchoReply(target.ip or "", ICMP_ECHO_REPLY, burst.ident, target.seq0 + k, burst.token)

    # Read 40 ms late by a busy loop; the kernel stamped it 30 us after the send: the RTT is 30 us.
    burst.on_reply(reply(0), 50.040, 1_800_000_000_000_030_000)
    # A wall-clock step backwards between send and receive: the monotonic reading is used instead.
    burst.on_reply(reply(1), 51.002, 1_800_000_000_500_000_000)
    # No kernel stamp, and a read that (by clock granularity) equals the send: still a positive time.
    burst.on_reply(reply(2), 52.0, None)
    assert target.rtts[0] == pytest.approx(0.030, abs=1e-6)
    assert target.rtts[1] == pytest.approx(2.0, abs=1e-6)
    assert target.rtts[2] is not None and target.rtts[2] > 0.0


def test_default_configs_and_validation() -> None:
    assert (SURVEY_LINK.count, SURVEY_LINK.echo_interval_s) == (20, 0.05)
    # One link-settings class for the survey, the worker's targets file and /probe.
    from sitescout.probes.worker import targets
    assert targets.LinkSettings is LinkSettings and targets.DEFAULT_LINK == LinkSettings()
    with pytest.raises(ValueError, match="count"):
        LinkSettings(count=0, echo_interval_s=0.1, timeout_s=1.0)
    with pytest.raises(ValueError, match="payload_size"):
        LinkSettings(count=1, echo_interval_s=0.1, timeout_s=1.0, payload_size=4)


def test_tcp_connect_time_on_loopback() -> None:
    async def run() -> tuple[float | None, float | None, LinkResult]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            ok = await async_tcp_connect_time("127.0.0.1", port, timeout_s=2)
            burst = await async_tcp_connect_burst("127.0.0.1", port,
                                                  LinkSettings(count=3, echo_interval_s=0.01, timeout_s=2.0))
        refused = await async_tcp_connect_time("127.0.0.1", port, timeout_s=2)
        return ok, refused, burst

    ok, refused, burst = asyncio.run(run())
    assert ok is not None and 0 < ok < 100
    assert refused is None
    assert (burst.sent, burst.received, burst.loss_ratio) == (3, 3, 0.0)


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")
def test_pinger_keeps_one_socket_for_concurrent_bursts_on_loopback() -> None:
    async def run() -> tuple[list[dict[str, LinkResult]], int, int, int]:
        pinger = IcmpPinger("raw")
        try:
            first = await pinger.async_measure_links(["127.0.0.1"],
                                                     LinkSettings(count=3, echo_interval_s=0.0, timeout_s=0.5))
            fd = pinger._icmp.fileno() if pinger._icmp else -1
            got = await asyncio.gather(
                *(
                    pinger.async_measure_links(
                        ["127.0.0.1", "127.0.0.2"], LinkSettings(count=5, echo_interval_s=0.0, timeout_s=0.5)
                    )
                    for _ in range(30)
                )
            )
            same = pinger._icmp.fileno() if pinger._icmp else -2
            pinger.close()
            again = await pinger.async_measure_links(["127.0.0.1"],
                                                     LinkSettings(count=2, echo_interval_s=0.01, timeout_s=0.5))
            return [first, again, *got], fd, same, len(pinger._bursts)
        finally:
            pinger.close()

    results, fd, same, pending = asyncio.run(run())
    assert fd == same and pending == 0
    first, again, *bursts = results
    assert (first["127.0.0.1"].sent, first["127.0.0.1"].received) == (3, 3)
    assert (again["127.0.0.1"].sent, again["127.0.0.1"].received) == (2, 2)  # reopened after close()
    for burst in bursts:
        for r in burst.values():
            assert (r.sent, r.received, r.duplicates, r.loss_ratio) == (5, 5, 0, 0.0)
            assert r.jitter_ms is not None and r.rtt_max_ms is not None and r.rtt_max_ms < 500
