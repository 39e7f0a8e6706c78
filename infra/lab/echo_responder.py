"""A user-space ICMP echo responder with known delay, jitter and loss (the lab kernel has no netem).

Run it inside a lab host's namespace::

    ip netns exec NS python -m sitescout.infra.lab.echo_responder --delay-ms 40 --jitter-ms 10 \\
        --loss 0.05 --seed 1 --log truth.jsonl [--tcp-ports 554,80]

It turns the kernel's own echo replies off in that namespace
(``net.ipv4.icmp_echo_ignore_all=1``), reads echo requests on a raw socket and
answers each one after ``delay ± jitter`` (uniform, or normal with
``--jitter-dist normal``), or drops it with probability ``--loss``.  With
``--drop-all`` it answers no echo at all: with ``--tcp-ports`` that is a host
that filters ICMP but accepts TCP; ``--duplicate`` answers every request twice.  Every request is written
to the ``--log`` file as one JSON line (source, destination, identifier, sequence, dropped,
monotonic receive time, planned and applied delay) so tests compare measurements with the exact truth.

It refuses to run in the root network namespace: it would silence this
machine's real echo replies.  It prints ``ready`` once it is listening.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import itertools
import json
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from sitescout.infra.lab.netns import ALLOWED_NETWORKS
from sitescout.probes.net.icmp import ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, build_echo, parse_echo

__all__ = ["Impairment", "EchoResponder", "check_lab_namespace", "read_ground_truth", "main"]

log = logging.getLogger(__name__)

_SOL_RAW = 255
_ICMP_FILTER = 1
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IGNORE_ALL = "/proc/sys/net/ipv4/icmp_echo_ignore_all"


class NotInLabNamespace(RuntimeError):
    """The process is in the root network namespace (or one not made by `ip netns`)."""


def check_lab_namespace() -> str:
    """Return this process's `ip netns` name; raise NotInLabNamespace anywhere that is not a lab namespace.

    Three checks, any one refuses: the namespace has no `ip netns` name; it is
    the namespace of PID 1 (when that is readable: containers often hide it);
    one of its IPv4 addresses is neither loopback nor in the lab ranges, i.e.
    it holds a real interface of this machine.
    """
    cp = subprocess.run(["ip", "netns", "identify", str(os.getpid())], capture_output=True, text=True,
                        timeout=10)
    name = cp.stdout.strip()
    if cp.returncode != 0 or not name:
        raise NotInLabNamespace("refusing to run outside a lab namespace (`ip netns identify` is empty): "
                                "it would silence this machine's echo replies; use `ip netns exec NS ...`")
    try:
        if os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino:
            raise NotInLabNamespace("refusing to run in the root network namespace")
    except PermissionError:
        pass
    cp = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10)
    for line in cp.stdout.splitlines():
        fields = line.split()
        addr = ipaddress.IPv4Interface(fields[3]).ip
        if not addr.is_loopback and not any(addr in net for net in ALLOWED_NETWORKS):
            raise NotInLabNamespace(f"refusing to run: interface {fields[1]} has {addr}, outside the lab "
                                    f"ranges; this is not a lab namespace")
    return name


@dataclass(frozen=True)
class Impairment:
    """What the responder does to each echo request."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    jitter_dist: str = "uniform"
    drop_all: bool = False
    duplicate: bool = False

    def __post_init__(self) -> None:
        if self.delay_ms < 0 or self.jitter_ms < 0 or not 0.0 <= self.loss <= 1.0:
            raise ValueError("delay and jitter must be >= 0 and loss between 0 and 1")
        if self.jitter_dist not in ("uniform", "normal"):
            raise ValueError(f"jitter_dist must be 'uniform' or 'normal', not {self.jitter_dist!r}")

    def draw(self, rng: random.Random) -> float | None:
        """Return the delay in ms for one request, or None to drop it."""
        if self.drop_all or rng.random() < self.loss:
            return None
        if self.jitter_dist == "uniform":
            return max(0.0, self.delay_ms + rng.uniform(-self.jitter_ms, self.jitter_ms))
        return max(0.0, rng.gauss(self.delay_ms, self.jitter_ms))


class EchoResponder:
    """Answers echo requests on a raw socket from two threads: a reader and a precise delayed sender."""

    def __init__(self, impairment: Impairment, *, seed: int | None = None, log_file: IO[str] | None = None) -> None:
        self.impairment = impairment
        self.rng = random.Random(seed)
        self.log_file = log_file
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        # Receive only echo requests.
        self.sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", 0xFFFFFFFF & ~(1 << ICMP_ECHO_REQUEST)))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self._queue: list[tuple[float, int, bytes, str, str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._log_lock = threading.Lock()
        self._counter = itertools.count()

    def _record(self, entry: dict[str, Any]) -> None:
        if self.log_file is None:
            return
        with self._log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def _read_loop(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self.stop.is_set():
                    return
                raise
            rx = time.monotonic()
            req = parse_echo(data, addr[0], has_ip_header=True)
            if req is None or req.icmp_type != ICMP_ECHO_REQUEST or req.destination is None:
                continue
            delay = self.impairment.draw(self.rng)
            entry: dict[str, Any] = {"src": req.source, "dst": req.destination, "id": req.ident,
                                     "seq": req.seq, "dropped": delay is None, "delay_ms": delay}
            if delay is None:
                entry |= {"rx": rx, "applied_ms": None}
                self._record(entry)
                continue
            reply = build_echo(req.ident, req.seq, req.payload, icmp_type=ICMP_ECHO_REPLY)
            with self._cond:
                for extra_ms in (0.0, 1.0) if self.impairment.duplicate else (0.0,):
                    heapq.heappush(self._queue, (rx + (delay + extra_ms) / 1000.0, next(self._counter), reply,
                                                 req.source, req.destination, entry | {"rx": rx}))
                self._cond.notify()

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    if self.stop.is_set() and not self._queue:
                        return
                    wait = 0.2 if not self._queue else self._queue[0][0] - time.monotonic()
                    self._cond.wait(max(0.0, min(wait, 0.2)))
                _due, _n, reply, src, dst, entry = heapq.heappop(self._queue)
            # Answer from the address the request went to (a host may have many).
            pktinfo = struct.pack("@I4s4s", 0, socket.inet_aton(dst), bytes(4))
            try:
                self.sock.sendmsg([reply], [(socket.IPPROTO_IP, _IP_PKTINFO, pktinfo)], 0, (src, 0))
            except OSError as err:
                log.warning("%s: reply failed: %s", src, err)
                entry["error"] = str(err)
            entry["applied_ms"] = (time.monotonic() - entry["rx"]) * 1000.0
            self._record(entry)

    def serve(self) -> None:
        """Answer requests until `stop` is set; pending replies are sent before returning."""
        sender = threading.Thread(target=self._send_loop, name="echo-sender", daemon=True)
        sender.start()
        try:
            self._read_loop()
        finally:
            self.stop.set()
            with self._cond:
                self._cond.notify()
            sender.join(timeout=5)
            self.sock.close()


def _serve_tcp(ports: Sequence[int], stop: threading.Event) -> list[socket.socket]:
    """Accept (and close) TCP connections on `ports` in a background thread."""
    listeners = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(128)
        s.settimeout(0.2)
        listeners.append(s)

    def accept(s: socket.socket) -> None:
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except (TimeoutError, OSError):
                continue
            conn.close()

    for s in listeners:
        threading.Thread(target=accept, args=(s,), daemon=True, name=f"tcp:{s.getsockname()[1]}").start()
    return listeners


def read_ground_truth(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Return the responder's log: one dict per echo request it saw."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the responder (and optional TCP listeners) until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m sitescout.infra.lab.echo_responder",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--jitter-dist", choices=["uniform", "normal"], default="uniform")
    parser.add_argument("--loss", type=float, default=0.0, help="drop probability, 0..1")
    parser.add_argument("--drop-all", action="store_true", help="answer no echo request")
    parser.add_argument("--duplicate", action="store_true", help="answer every request twice, 1 ms apart")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--log", help="JSON-lines ground truth file")
    parser.add_argument("--tcp-ports", default="", help="comma-separated TCP ports to accept on, e.g. 554,80")
    args = parser.parse_args(argv)
    try:
        imp = Impairment(args.delay_ms, args.jitter_ms, args.loss, args.jitter_dist, args.drop_all, args.duplicate)
        ports = [int(p) for p in args.tcp_ports.split(",") if p.strip()]
    except ValueError as err:
        parser.error(str(err))
    try:
        netns = check_lab_namespace()
    except NotInLabNamespace as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with open(_IGNORE_ALL, "w") as fh:  # per-namespace sysctl: only this namespace is affected
        fh.write("1\n")
    log_file = open(args.log, "a", buffering=1) if args.log else None
    responder = EchoResponder(imp, seed=args.seed, log_file=log_file)
    listeners = _serve_tcp(ports, responder.stop)
    signal.signal(signal.SIGTERM, lambda *_: responder.stop.set())
    signal.signal(signal.SIGINT, lambda *_: responder.stop.set())
    print(f"ready {netns} {imp} tcp={ports}", flush=True)
    try:
        responder.serve()
    finally:
        for s in listeners:
            s.close()
        if log_file:
            log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
