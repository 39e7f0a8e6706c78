"""The pure-Python SNMPv2c client on loopback: what it ignores, what it refuses, how it waits, and the worker's
snmp kind reading the lab's hostile agent (run on 127.0.0.x, no namespace needed) in-process.

A scripted agent here is a real UDP socket on 127.0.0.1 answering with the hostile agent's own BER
writer (infra/lab/snmp_hostile.py); the real-agent comparison with net-snmp is test_snmp_v2c_lab.py.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitescout.infra.lab import snmp_hostile
from sitescout.probes.snmp.client import SnmpCredentials, V2cCommunity, open_session
from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind
from sitescout.probes.snmp.v2c import V2cSession
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
from sitescout.probes.worker.kinds.snmp import SnmpResult, SnmpSettings, probe_snmp
from sitescout.probes.worker.records import SnmpTarget, Target

COMMUNITY = "c0mmune-v2c"
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
Reply = Callable[[socket.socket, socket.socket, tuple[str, int], tuple[Any, ...]], None]


class Agent:
    """A scripted agent on 127.0.0.1: ``reply(sock, other_sock, peer, request)`` for every datagram."""

    def __init__(self, reply: Reply) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # another port of the same address
        self.other.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[Any, ...]] = []
        self._reply = reply
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            request = snmp_hostile._parse_request(data)
            self.requests.append(request)
            self._reply(self.sock, self.other, peer, request)

    def seen(self, count: int) -> int:
        """Return how many requests arrived, waiting (up to 10 s) for ``count`` of them."""
        deadline = time.monotonic() + 10
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        self.other.close()

    def session(self, budget_s: float = 5.0, timeout_s: float = 1.0, retries: int = 1) -> V2cSession:
        return V2cSession("127.0.0.1", COMMUNITY, deadline=time.monotonic() + budget_s, timeout_s=timeout_s,
                          port=self.port, retries=retries)


@pytest.fixture
def agent_with() -> Iterator[Callable[[Reply], Agent]]:
    made: list[Agent] = []

    def make(reply: Reply) -> Agent:
        made.append(Agent(reply))
        return made[-1]

    yield make
    for agent in made:
        agent.close()


def _answer(request: tuple[Any, ...], value: bytes, *, community: bytes | None = None, request_id: int | None = None,
            oid: tuple[int, ...] | None = None) -> bytes:
    version, asked_community, _, asked_id, _, _, oids = request
    return snmp_hostile._response(version, community if community is not None else asked_community,
                                  request_id if request_id is not None else asked_id,
                                  [(oid or oids[0], 0x04, value)])


def test_stray_and_spoofed_datagrams_are_ignored(agent_with: Callable[[Reply], Agent]) -> None:
    """From another port, for another request, with another community, not SNMP: only the agent's answer counts."""

    def reply(sock: socket.socket, other: socket.socket, peer: tuple[str, int], request: tuple[Any, ...]) -> None:
        other.sendto(_answer(request, b"spoofed-port"), peer)
        sock.sendto(_answer(request, b"other-request", request_id=request[3] + 1), peer)
        sock.sendto(_answer(request, b"other-community", community=b"public"), peer)
        sock.sendto(b"\x30\x03\x02\x01", peer)  # not even BER
        sock.sendto(_answer(request, b"sw1"), peer)

    agent = agent_with(reply)
    session = agent.session()
    try:
        assert session.get([SYS_NAME])[SYS_NAME].value == b"sw1"
    finally:
        session.close()


def test_a_lost_request_is_sent_again_with_its_request_id(agent_with: Callable[[Reply], Agent]) -> None:
    def reply(sock: socket.socket, other: socket.socket, peer: tuple[str, int], request: tuple[Any, ...]) -> None:
        if len(agent.requests) > 1:  # the first one is "lost"
            sock.sendto(_answer(request, b"sw1"), peer)

    agent = agent_with(reply)
    session = agent.session(timeout_s=0.3, retries=1)
    try:
        assert session.get([SYS_NAME])[SYS_NAME].value == b"sw1"
    finally:
        session.close()
    assert len(agent.requests) == 2 and agent.requests[0] == agent.requests[1]  # the same request-id
    assert session.requests == 1


@pytest.mark.parametrize("case, detail", [
    ("genErr", "the agent answered genErr at varbind 1"),
    ("other name", "a GET answered with other names than asked"),
    ("broken body", "undecodable answer"),
])
def test_broken_answers_end_as_malformed(agent_with: Callable[[Reply], Agent], case: str, detail: str) -> None:
    def reply(sock: socket.socket, other: socket.socket, peer: tuple[str, int], request: tuple[Any, ...]) -> None:
        data = _answer(request, b"sw1", oid=(1, 3, 6, 1, 2, 1, 1, 6, 0) if case == "other name" else None)
        if case == "genErr":  # error-status is the second INTEGER of the PDU: 0 -> 5
            data = data.replace(b"\x02\x01\x00\x02\x01\x00", b"\x02\x01\x05\x02\x01\x01", 1)
        if case == "broken body":  # the value's tag made unknown
            data = data[:-5] + b"\x47" + data[-4:]
        sock.sendto(data, peer)

    session = agent_with(reply).session()
    try:
        with pytest.raises(SnmpError) as info:
            session.get([SYS_NAME])
    finally:
        session.close()
    assert info.value.kind is SnmpErrorKind.MALFORMED and detail in info.value.detail


def test_a_getbulk_answered_with_more_than_asked_is_malformed(agent_with: Callable[[Reply], Agent]) -> None:
    def reply(sock: socket.socket, other: socket.socket, peer: tuple[str, int], request: tuple[Any, ...]) -> None:
        version, community, _, request_id, _, _, oids = request
        varbinds = [(oids[0] + (i,), 0x02, i) for i in range(1, 12)]
        sock.sendto(snmp_hostile._response(version, community, request_id, varbinds), peer)

    session = agent_with(reply).session()
    try:
        with pytest.raises(SnmpError, match="a GETBULK of 1 × 10 answered 11 varbinds"):
            session.walk_columns([(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)], rows_hint=9)
    finally:
        session.close()


def test_silence_is_no_answer_and_the_budget_is_a_timeout(agent_with: Callable[[Reply], Agent]) -> None:
    agent = agent_with(lambda *_: None)
    session = agent.session(budget_s=10.0, timeout_s=0.2, retries=1)
    with pytest.raises(SnmpError) as info:
        session.get([SYS_NAME])
    session.close()
    assert (info.value.kind, info.value.detail) == (SnmpErrorKind.UNREACHABLE, "no answer")
    assert agent.seen(2) == 2
    session = agent.session(budget_s=0.3, timeout_s=5.0, retries=3)  # the first wait is cut to the budget
    with pytest.raises(SnmpError) as info:
        session.get([SYS_NAME])
    session.close()
    assert info.value.kind is SnmpErrorKind.TIMEOUT and agent.seen(3) == 3


def test_nothing_listening_is_unreachable_at_once() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a port nobody holds: the kernel answers ICMP port unreachable
    with pytest.raises(SnmpError) as info:
        open_session("127.0.0.1", SnmpCredentials(communities=(V2cCommunity(COMMUNITY),)), budget_s=30,
                     timeout_s=10, port=port, v2c_client="native")
    assert info.value.kind is SnmpErrorKind.UNREACHABLE and "port unreachable" in info.value.detail


def test_open_session_tries_each_community_once(agent_with: Callable[[Reply], Agent]) -> None:
    """A wrong community is not asked again (an agent counts them); the session then retries its requests."""

    def reply(sock: socket.socket, other: socket.socket, peer: tuple[str, int], request: tuple[Any, ...]) -> None:
        if request[1] == COMMUNITY.encode():
            sock.sendto(_answer(request, b"\x06\x01"), peer)

    agent = agent_with(reply)
    creds = SnmpCredentials(communities=(V2cCommunity("wrong-1"), V2cCommunity(COMMUNITY)))
    session = open_session("127.0.0.1", creds, budget_s=10, timeout_s=0.3, port=agent.port, v2c_client="native")
    session.close()
    assert [r[1] for r in agent.requests] == [b"wrong-1", COMMUNITY.encode()]
    assert isinstance(session, V2cSession) and session.retries == 1
    with pytest.raises(ValueError, match="v2c_client"):
        open_session("127.0.0.1", creds, v2c_client="pysnmp")


# -- the worker's snmp kind, in-process, against the hostile agent on loopback ------------------------

HOSTILE = {"slow": "127.0.0.21", "loop": "127.0.0.22", "million": "127.0.0.23", "wrongtype": "127.0.0.24",
           "community": "127.0.0.25"}


@pytest.fixture(scope="module")
def hostile_port() -> Iterator[int]:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.21", 0))
    port = probe.getsockname()[1]
    probe.close()
    argv = [sys.executable, "-m", "sitescout.infra.lab.snmp_hostile", "--port", str(port)]
    for mode, ip in HOSTILE.items():
        argv += ["--serve", f"{mode}={ip}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_worker_reads_hostile_agents_in_process_within_its_budget(hostile_port: int) -> None:
    jobs = [ProbeJob("snmp", Target("A", mode, ip, "switch", snmp=SnmpTarget(hostile_port)))
            for mode, ip in HOSTILE.items()]
    ctx = ProbeContext(snmp_credentials=SnmpCredentials(communities=(V2cCommunity(COMMUNITY),)))
    settings = SnmpSettings(timeout_s=3.0, request_timeout_s=0.5, max_rows=500)

    async def run() -> list[Any]:  # every device at once, each on a thread of its own
        return [r for rs in await asyncio.gather(*(probe_snmp([j], settings, ctx) for j in jobs)) for r in rs]

    results = {r.job.target.device: r for r in asyncio.run(run())}
    assert (results["slow"].up, results["slow"].reason) == (False, "unreachable")
    assert (results["community"].up, results["community"].reason) == (False, "unreachable")
    assert (results["loop"].up, results["loop"].reason) == (False, "malformed")
    assert "not increasing" in (results["loop"].detail or "")
    million = results["million"]
    assert million.up and "tables cut at max_rows" in (million.detail or "")
    assert isinstance(million, SnmpResult) and len(million.ports) <= 500
    wrong = results["wrongtype"]
    assert wrong.up and isinstance(wrong, SnmpResult) and [p.name for p in wrong.ports] == ["eth1", "eth2"]
    for r in results.values():
        assert r.duration_s <= settings.timeout_s + 0.5, (r.job.target.device, r.duration_s)  # its budget
        assert COMMUNITY not in (r.detail or "")
