"""`sitescout serve` under slow and oversized requests: a real server process on loopback, real sockets.

The outside review: a 200 MiB anonymous body was read in full (waitress's own limit is 1 GB), and
120 connections from one address sending a byte a second stopped the server (waitress stops
accepting at 100 open connections and only closes *idle* ones).  Attacks here come from 127.0.0.2,
the normal client from 127.0.0.1; both are loopback.
"""

from __future__ import annotations

import re
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_for

ATTACKER = "127.0.0.2"
MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # web.DEFAULT_CONFIG


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[callable]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        log = tmp_path / f"serve-{len(procs)}.log"
        with open(log, "w") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "sitescout", "serve", "--db", f"sqlite:///{tmp_path / 'inv.sqlite3'}",
                 "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), *extra],
                stdout=out, stderr=subprocess.STDOUT))
        port = wait_for("serve to listen", lambda: re.findall(r"http://127\.0\.0\.1:(\d+)/map", log.read_text()), 60)
        return f"127.0.0.1:{port[0]}"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _address(where: str) -> tuple[str, int]:
    host, port = where.rsplit(":", 1)
    return host, int(port)


def _timed_get(where: str, path: str = "/login", timeout_s: float = 8.0) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://{where}{path}", timeout=timeout_s) as response:
        response.read()
        return response.status, time.monotonic() - started


def test_body_over_the_limit_is_refused_before_it_is_read(serve) -> None:
    where = serve()
    # Declared too long: 413 as soon as the headers end, nothing of the body needed.
    with socket.create_connection(_address(where), timeout=5) as sock:
        sock.sendall(f"POST /api/v1/surveys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {MAX_CONTENT_LENGTH + 1}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    # 200 MiB sent as fast as loopback takes it: the server stops reading long before the end.
    body_size, chunk = 200 * 1024 * 1024, b"x" * (1024 * 1024)
    sent, answer = 0, b""
    with socket.create_connection(_address(where), timeout=5) as sock:
        sock.sendall(f"POST /api/v1/surveys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {body_size}\r\n\r\n".encode())
        try:
            while sent < body_size:
                if select.select([sock], [], [], 0)[0]:
                    answer = sock.recv(4096)
                    break
                sent += sock.send(chunk)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 32 * 1024 * 1024, f"the server read {sent / 2**20:.0f} MiB of a body it must refuse"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413")
    assert _timed_get(where)[0] == 200


def _open_slow(where: str, count: int) -> list[socket.socket]:
    """Open `count` connections from ATTACKER; half will trickle headers, half a declared body."""
    socks = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((ATTACKER, 0))
        sock.settimeout(2)
        sock.connect(_address(where))
        sock.setblocking(False)
        if i % 2:
            sock.send(b"POST /api/v1/surveys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n{")
        else:
            sock.send(b"GET /login HTTP/1.1\r\n")
        socks.append(sock)
    return socks


def _trickle(socks: list[socket.socket]) -> int:
    """Send one byte on each connection still open; return how many are still open."""
    alive = 0
    for sock in socks:
        if sock.fileno() < 0:
            continue
        try:
            if select.select([sock], [], [], 0)[0] and not sock.recv(4096, socket.MSG_PEEK):
                raise ConnectionResetError  # closed by the server
            sock.send(b"a")
            alive += 1
        except OSError:
            sock.close()
    return alive


def test_slow_connections_from_one_address_do_not_stop_the_server(serve) -> None:
    where = serve("--request-timeout", "2")
    assert _timed_get(where)[0] == 200
    socks = _open_slow(where, 120)
    try:
        latencies, alive = [], []
        attack_ends = time.monotonic() + 9.0
        next_probe = time.monotonic() + 1.0
        while time.monotonic() < attack_ends:
            alive.append(_trickle(socks))  # a byte a second on every connection: never idle
            if time.monotonic() >= next_probe:
                status, latency = _timed_get(where)
                assert status == 200
                latencies.append(latency)
                next_probe = time.monotonic() + 2.5
            time.sleep(1.0)
        assert latencies and max(latencies) < 3.0, f"normal requests took {latencies} s during the attack"
        # Past the limits (2 s for headers; 2 s of grace, then 16 KiB/s for a body) the server cut them off.
        assert alive[-1] == 0, f"{alive[-1]} slow connections still open after {len(alive)} s: {alive}"
    finally:
        for sock in socks:
            sock.close()


def test_one_address_gets_at_most_its_share_of_connections(serve) -> None:
    where = serve("--max-connections-per-address", "8")
    socks = _open_slow(where, 20)
    try:
        time.sleep(0.5)
        refused = 0
        for sock in socks:
            try:
                ready = select.select([sock], [], [], 0)[0]
                if ready and sock.recv(4096).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except OSError:
                refused += 1
        assert refused == 12, f"{refused} of 20 connections refused; 8 per address may stay"
        assert _timed_get(where)[0] == 200  # another address is served
    finally:
        for sock in socks:
            sock.close()


def _guarded(app, **adjustments):
    """Run the guarded waitress server of `serve` in this process on a loopback port (stopped at the end)."""
    import threading

    from sitescout.httpserver import ClientLimits, create_guarded_server

    server = create_guarded_server(app, limits=ClientLimits(), host="127.0.0.1", port=0, threads=2,
                                   cleanup_interval=1, asyncore_use_poll=True, **adjustments)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def test_an_answer_nobody_reads_is_cut_off_and_frees_its_thread_but_a_slow_answer_is_not():
    big = b"x" * (64 * 1024 * 1024)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            time.sleep(4)  # longer than channel_timeout: computing is not stalling
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
        start_response("200 OK", [("Content-Length", str(len(big)))])
        return [big[i:i + 65536] for i in range(0, len(big), 65536)]

    server = _guarded(app, channel_timeout=2)
    try:
        where = ("127.0.0.1", int(server.effective_port))
        with socket.create_connection(where, timeout=5) as slow:
            slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            assert slow.recv(4096).startswith(b"HTTP/1.1 200")
        hogs = []
        for _ in range(2):  # both threads stuck writing 64 MB nobody reads
            sock = socket.create_connection(where, timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            hogs.append(sock)
        time.sleep(6)  # 2 s without progress, checked every second
        with socket.create_connection(where, timeout=5) as fresh:
            fresh.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            assert fresh.recv(4096).startswith(b"HTTP/1.1 200"), "a thread was freed for this request"
        assert server.cut_off >= 2
        for sock in hogs:
            sock.close()
    finally:
        server.close()
