"""The HTTP snapshot fetch: one JPEG from a camera's snapshot URI, bounded in time and size.

Each socket the fetch opens is registered so a deadline can cut it (``urlopen``'s own timeout is
per read, not per fetch); credentials go as HTTP auth, never in the URL, and are scrubbed from
every error.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from sitescout.probes.credentials import Credential
from sitescout.probes.errors import AuthError, MalformedError, ProbeError, ProbeTimeout, UnreachableError
from sitescout.probes.stream.metrics import jpeg_size
from sitescout.probes.stream.redact import redact_uri, scrub, split_credentials

__all__ = ["SnapshotResult", "check_snapshot"]


@dataclass
class SnapshotResult:
    """One HTTP snapshot fetch: the JPEG bytes and what they hold."""

    url: str
    up: bool = False
    fetch_s: float | None = None
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    error: str | None = None
    #: The kind of ``error`` and its parameters (probes/errors.py).
    error_code: dict[str, Any] | None = None
    jpeg: bytes | None = field(default=None, repr=False)

    def fail(self, err: ProbeError) -> None:
        """Record why the fetch failed: the text and, beside it, its kind."""
        self.error, self.error_code = err.as_text(), err.as_code()


_SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024


def _cut_sockets(sockets: list[socket.socket], cut: threading.Event) -> None:
    """Shut down every connection of a fetch that ran out of time (its blocked read returns)."""
    cut.set()
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    """Open HTTP connections and note their sockets, so a timer can cut them."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        class _Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        return self.do_open(_Connection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    """The HTTPS twin of `_DeadlineHTTPHandler`."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self._sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        sockets = self._sockets

        class _Connection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        return self.do_open(_Connection, req, context=self._context)  # type: ignore[attr-defined]


def check_snapshot(
    url: str, *, credentials: Credential | None = None, timeout_s: float = 5.0, max_bytes: int = _SNAPSHOT_MAX_BYTES,
    allow_basic: bool = False,
) -> SnapshotResult:
    """Fetch a snapshot URI (digest auth; basic only with `allow_basic`), size-capped, and check that it is a JPEG.

    HTTP Basic sends the password in clear to whoever asks for it, so a device on the
    site network could collect it: it is answered only when the operator allows it.
    """
    url, creds = split_credentials(url, credentials)
    result = SnapshotResult(url=redact_uri(url))
    handlers: list[urllib.request.BaseHandler] = []
    if creds is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, creds.username, creds.password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
        if allow_basic:
            handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
    # The socket timeout bounds each read, not the fetch: a camera that drips a byte a
    # second never trips it.  A timer cuts every connection of the fetch at timeout_s.
    sockets: list[socket.socket] = []
    cut = threading.Event()
    opener = urllib.request.build_opener(*handlers, _DeadlineHTTPHandler(sockets), _DeadlineHTTPSHandler(sockets))
    timer = threading.Timer(timeout_s, _cut_sockets, args=(sockets, cut))
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        with opener.open(url, timeout=timeout_s) as response:
            result.content_type = response.headers.get("Content-Type")
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as err:
        cls: type[ProbeError] = AuthError if err.code in (401, 403) else UnreachableError
        detail = f"HTTP {err.code} {err.reason}"
        challenge = (err.headers.get("WWW-Authenticate") or "") if err.headers else ""
        if err.code == 401 and creds is not None and not allow_basic and challenge.lower().startswith("basic"):
            detail += " (the camera asks for HTTP Basic, which sends the password in clear: not answered " \
                      "without --allow-plaintext-auth)"
        result.fail(cls(result.url, detail))
        return result
    except (TimeoutError, OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if cut.is_set():
            result.fail(ProbeTimeout(result.url, f"no complete snapshot within {timeout_s:g} s"))
            return result
        cls = ProbeTimeout if isinstance(reason, TimeoutError) or "timed out" in str(reason) else UnreachableError
        detail = scrub(str(reason), creds) or type(err).__name__
        result.fail(cls(result.url, detail))
        return result
    finally:
        timer.cancel()
        result.fetch_s = round(time.monotonic() - started, 4)
    if cut.is_set():  # the cut read ends like a closed connection: what came is a fragment
        result.fail(ProbeTimeout(result.url, f"no complete snapshot within {timeout_s:g} s "
                                                f"({len(data)} bytes came)"))
        return result
    if len(data) > max_bytes:
        result.fail(MalformedError(result.url, f"snapshot larger than {max_bytes} bytes"))
        return result
    size = jpeg_size(data)
    if size is None:
        result.fail(MalformedError(result.url, f"not a complete JPEG ({len(data)} bytes, {result.content_type})"))
        return result
    result.up, result.jpeg, result.size_bytes = True, data, len(data)
    result.width, result.height = size
    return result
