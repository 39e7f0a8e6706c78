"""The HTTP server of `sitescout serve`: waitress, with the limits waitress lacks against slow clients.

Waitress reads every request whole (headers and body) in its main loop before a worker thread
sees it, so a slow client costs a connection, not a thread; but it stops accepting once
`connection_limit` connections are open, and its only timeout is for *idle* connections
(`channel_timeout`).  A client sending a byte a second is never idle: the outside review held 120
such connections from one address and the server answered no one else.  This module adds:

- a deadline for a request's headers (`header_timeout_s` from its first byte);
- a minimum rate for its body: after `body_grace_s`, the bytes received since the headers ended
  must keep up with `min_body_rate` bytes a second (a real upload over a slow link passes; a trickle
  is cut off);
- a deadline for a stalled answer: a client that reads nothing for `channel_timeout` seconds while
  an answer waits for it is cut off, which frees the worker thread blocked on its buffer;
- at most `max_per_address` connections from one client address (more get a 503 and are closed at
  once), so one address cannot take the `connection_limit` slots that everyone shares;
- bodies bounded before they are read: `max_request_body_size` is the app's MAX_CONTENT_LENGTH, so
  a longer Content-Length is a 413 as soon as the headers end (waitress's default read 1 GB).

Behind a reverse proxy every connection comes from the proxy's address: raise or disable
`max_per_address` there and let the proxy limit per client (docs/deploy.md).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

__all__ = ["ClientLimits", "GuardedChannel", "GuardedServer", "create_guarded_server"]

log = logging.getLogger(__name__)

_TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Retry-After: 10\r\nConnection: close\r\nContent-Length: 46\r\n\r\n"
             b"too many connections from your address; retry\n")


@dataclass(frozen=True)
class ClientLimits:
    """What one client may cost the server: time to send a request, connections from one address."""

    header_timeout_s: float = 15.0
    body_grace_s: float = 10.0
    min_body_rate: float = 16 * 1024.0  # bytes a second, averaged since the headers ended
    max_per_address: int = 32  # 0: no limit (behind a reverse proxy that limits per client)


class GuardedChannel(HTTPChannel):
    """A waitress channel that knows when its unfinished request began and when its headers ended."""

    partial_started: float | None = None
    headers_done_at: float | None = None
    #: (when pending output was first seen without progress, last_activity then): the stalled-answer clock.
    _stall: tuple[float, float] | None = None

    def received(self, data: bytes) -> bool:
        """Feed data to waitress, then note the timing of the request still being received (if any)."""
        now = time.monotonic()
        before = self.request
        if before is None:
            self.partial_started = now
        result = super().received(data)
        partial = self.request
        if partial is None:
            self.partial_started = self.headers_done_at = None
        else:
            if partial is not before:  # a pipelined request began inside this data
                self.partial_started, self.headers_done_at = now, None
            if partial.headers_finished and self.headers_done_at is None:
                self.headers_done_at = now
        return bool(result)

    counted_host: str | None = None

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        if self._fileno is not None:  # still open: count it against its client address
            self.counted_host = _host(addr)
            server.per_address[self.counted_host] += 1

    def del_channel(self, map: Any = None) -> None:
        """Unregister the channel and release its client address's slot (once)."""
        super().del_channel(map)
        host, self.counted_host = self.counted_host, None
        if host is not None:
            counts: Counter[str] = self.server.per_address
            counts[host] -= 1
            if counts[host] <= 0:
                del counts[host]

    def overdue(self, now: float, limits: ClientLimits, channel_timeout: float) -> str | None:
        """Return why this channel must be closed now (a slow request or a stalled answer), else None."""
        partial = self.request
        if partial is not None and not partial.completed and self.partial_started is not None:
            if not partial.headers_finished:
                if now - self.partial_started > limits.header_timeout_s:
                    return f"headers not complete after {limits.header_timeout_s:g} s"
            elif self.headers_done_at is not None:
                elapsed = now - self.headers_done_at - limits.body_grace_s
                if elapsed > 0 and partial.body_bytes_received < elapsed * limits.min_body_rate:
                    return f"body slower than {limits.min_body_rate:g} bytes/s"
        return self._stalled(channel_timeout)

    def _stalled(self, channel_timeout: float) -> str | None:
        # The clock starts when maintenance first sees output waiting, not at the request's last byte:
        # an answer that took a minute to compute is not "unread" the moment it is written.
        if not (self.requests and self.total_outbufs_len):
            self._stall = None
            return None
        now = time.time()
        if self._stall is None or self._stall[1] != self.last_activity:
            self._stall = (now, self.last_activity)
            return None
        if now - self._stall[0] > channel_timeout:
            return f"answer not read for {channel_timeout:g} s"
        return None


class GuardedServer(TcpWSGIServer):
    """Waitress's TCP server with per-address connection limits and request deadlines."""

    channel_class = GuardedChannel

    def __init__(self, application: Any, *, limits: ClientLimits, **kw: Any) -> None:
        self.limits = limits
        self.per_address: Counter[str] = Counter()
        self.refused = 0
        self.cut_off = 0
        super().__init__(application, **kw)

    def handle_accept(self) -> None:
        """Accept a connection, unless its address already holds `max_per_address` of them."""
        try:
            accepted = self.accept()
        except OSError:
            log.debug("accept() failed", exc_info=True)
            return
        if accepted is None:
            return
        conn, addr = accepted
        limit = self.limits.max_per_address
        if limit and self.per_address[_host(addr)] >= limit:
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                log.warning("%s: more than %d connections from this address; refused (%d so far)",
                            _host(addr), limit, self.refused)
            _refuse(conn)
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def maintenance(self, now: float) -> None:
        """Close idle channels (waitress), then channels whose request or answer is overdue."""
        super().maintenance(now)
        mono = time.monotonic()
        closed = 0
        for channel in list(self.active_channels.values()):
            reason = channel.overdue(mono, self.limits, self.adj.channel_timeout) if isinstance(
                channel, GuardedChannel) else None
            if reason:
                closed += 1
                log.info("%s: connection closed: %s", _host(channel.addr), reason)
                # Close now, from the loop's own thread: `will_close` waits for the socket to be
                # writable, which a client that reads nothing never makes it.  A worker thread
                # blocked writing the answer wakes up, finds the client gone and ends its task.
                channel.handle_close()
        self.cut_off += closed


def _host(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)


def _refuse(conn: socket.socket) -> None:
    try:
        conn.setblocking(False)
        conn.send(_TOO_MANY)
    except OSError:
        pass
    finally:
        conn.close()


def create_guarded_server(application: Any, *, limits: ClientLimits,
                          **adjustments: Any) -> GuardedServer | MultiSocketServer:
    """Return a listening server (waitress Adjustments as keywords); one per address a host name resolves to."""
    adj = Adjustments(**adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    servers = [GuardedServer(application, limits=limits, map=socket_map, dispatcher=dispatcher, adj=adj,
                             sockinfo=sockinfo) for sockinfo in adj.listen]
    if len(servers) == 1:
        return servers[0]
    listening = [(s.effective_host, s.effective_port) for s in servers]
    return MultiSocketServer(socket_map, adj, listening, dispatcher, servers[-1].log_info)
