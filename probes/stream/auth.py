"""Before a stream check hands its credentials to FFmpeg, ask the server ourselves what it wants.

FFmpeg answers whatever challenge a server sends: HTTP Basic (the password in
clear, to be read off the wire or by a device spoofing the camera) as readily as
Digest.  After an RTSP redirect it keeps the credentials, and the scheme it
settled on, for the next host: it sent the next DESCRIBE with an Authorization
header to a host that had asked for nothing (issue #11).

`preflight` sends the stream's first request (RTSP DESCRIBE, or HTTP GET for
MJPEG) without credentials, follows redirects on the same host, answers a Digest
challenge (Basic only when the operator allows plaintext), and decides:

* the server asks for nothing: FFmpeg gets no credentials at all;
* it asks for Digest, or for Basic with plaintext allowed, and answers our
  authenticated request without sending us elsewhere: FFmpeg gets them;
* it asks only for Basic, without plaintext allowed: the check stops with an
  ``auth`` error, nothing sent;
* it redirects to another host, or to another port or scheme of the same host,
  before or after authentication: the check stops with an ``auth`` error, nothing
  sent there.

The pre-flight and FFmpeg send the same User-Agent (:data:`USER_AGENT`), so a server
cannot tell them apart by it; the stream worker runs the pre-flight again before
its UDP re-open.

What stays open: FFmpeg then talks to the same server again, and a server that
answers our pre-flight with Digest could still answer FFmpeg with Basic or a
redirect a few milliseconds later (telling them apart by timing, connection
count or header order rather than by User-Agent).  Only a client of our own for the whole session closes
that (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from sitescout.device_uris import service_of
from sitescout.probes.errors import AuthError, MalformedError, ProbeError, ProbeTimeout, UnreachableError
from sitescout.probes.stream.config import USER_AGENT  # its home: the worker needs it without this module

__all__ = ["USER_AGENT", "Preflight", "preflight"]


_MAX_HEAD_BYTES = 64 * 1024
_MAX_HOPS = 5
_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


@dataclass(frozen=True)
class Preflight:
    """What the pre-flight decided: give FFmpeg the credentials or not, or stop the check with `error`.

    `held` is the pre-flight's connection, left open until FFmpeg has opened the stream
    (`release()`): GStreamer's RTSP server unprepares a shared media when the connection
    that described it closes, and answered FFmpeg's DESCRIBE a moment later with 503.
    """

    send_credentials: bool = False
    #: Why the check stops here; its text and code go to the result (probes/errors.py error_fields).
    error: ProbeError | None = None
    held: Any = field(default=None, compare=False, repr=False)

    def release(self) -> None:
        """Close the held connection, if any."""
        if self.held is not None:
            self.held.close()


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: list[tuple[str, str]]

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


class _Dialog:
    """One connection to the stream's server, request by request (bounded reads, one timeout each)."""

    def __init__(self, uri: str, deadline: float) -> None:
        parts = urllib.parse.urlsplit(uri)
        self.deadline = deadline
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or _PORTS.get(self.scheme, 554)
        self.rtsp = self.scheme.startswith("rtsp")
        sock = socket.create_connection((self.host, self.port), timeout=self._left_s())
        if self.scheme in ("rtsps", "https"):
            # FFmpeg does not verify camera certificates either (self-signed): TLS here hides the bytes.
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self.cseq = 0

    def _left_s(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("pre-flight out of time")
        return left

    def request(self, uri: str, authorization: str | None) -> _Reply:
        """Send the stream's first request for `uri` and read the reply's head (by the deadline)."""
        self.sock.settimeout(self._left_s())
        self.cseq += 1
        parts = urllib.parse.urlsplit(uri)
        if self.rtsp:
            lines = [f"DESCRIBE {uri} RTSP/1.0", f"CSeq: {self.cseq}", "Accept: application/sdp"]
        else:
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: keep-alive"]
        lines.append(f"User-Agent: {USER_AGENT}")
        if authorization:
            lines.append(f"Authorization: {authorization}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        return self._read_head()

    def _read_head(self) -> _Reply:
        data = b""
        while b"\r\n\r\n" not in data:
            self.sock.settimeout(self._left_s())
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
            if len(data) > _MAX_HEAD_BYTES:
                raise ValueError("reply head too long")
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        fields = lines[0].split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith(("RTSP/", "HTTP/")) or not fields[1].isdigit():
            raise ValueError("not an RTSP or HTTP reply")
        headers = [(k.strip().lower(), v.strip()) for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)]
        return _Reply(int(fields[1]), headers)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _challenges(reply: _Reply) -> dict[str, dict[str, str]]:
    """Return the offered schemes (lower case) and their parameters, from every WWW-Authenticate header."""
    offered: dict[str, dict[str, str]] = {}
    for value in reply.all("www-authenticate"):
        scheme, _, rest = value.partition(" ")
        params: dict[str, str] = {}
        for part in rest.split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        offered.setdefault(scheme.lower(), params)
    return offered


def _digest(user: str, password: str, params: dict[str, str], method: str, uri: str) -> str:
    """Return a Digest Authorization value (RFC 2617: MD5, qop auth when offered)."""
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce, nc = os.urandom(8).hex(), "00000001"
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def _authorization(dialog: _Dialog, uri: str, offered: dict[str, dict[str, str]], credentials: tuple[str, str],
                   allow_basic: bool) -> str | None:
    """Return the Authorization answering `offered` (Digest first), or None if none may be sent."""
    user, password = credentials
    if "digest" in offered:
        parts = urllib.parse.urlsplit(uri)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        method, digest_uri = ("DESCRIBE", uri) if dialog.rtsp else ("GET", path)
        return _digest(user, password, offered["digest"], method, digest_uri)
    if "basic" in offered and allow_basic:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return None


def preflight(uri: str, credentials: tuple[str, str], *, allow_basic: bool, timeout_s: float) -> Preflight:
    """Ask the server of `uri` what it wants before FFmpeg gets `credentials` (see the module docstring)."""
    if urllib.parse.urlsplit(uri).scheme.lower() not in _PORTS:
        return Preflight()  # a scheme we cannot ask (rtmp, ...): FFmpeg gets no credentials
    try:
        return _converse(uri, credentials, allow_basic, timeout_s)
    except ConnectionRefusedError:
        return Preflight(error=UnreachableError(uri, "connection refused"))
    except TimeoutError:
        return Preflight(error=ProbeTimeout(uri, f"stream did not open within {timeout_s:g} s"))
    except (OSError, ValueError):
        return Preflight()  # nothing we can read: FFmpeg, without credentials, says what it is


def _converse(uri: str, credentials: tuple[str, str], allow_basic: bool, timeout_s: float) -> Preflight:
    """Request `uri`, answer one challenge, follow same-host redirects; decide (all within `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    protocol = "RTSP" if uri.lower().startswith("rtsp") else "HTTP"
    host = (urllib.parse.urlsplit(uri).hostname or "").lower()
    authorization: str | None = None
    current = uri
    dialog: _Dialog | None = None
    try:
        for _ in range(_MAX_HOPS):
            dialog, reply = _ask(dialog, current, authorization, deadline)
            if reply.status == 401:
                if authorization is not None:
                    return Preflight(error=AuthError(uri, f"the camera refused the credentials ({protocol} 401)"))
                offered = _challenges(reply)
                authorization = _authorization(dialog, current, offered, credentials, allow_basic)
                if authorization is None:
                    return Preflight(error=_refusal(uri, protocol, offered))
                continue
            if 300 <= reply.status < 400 and reply.all("location"):
                target = urllib.parse.urljoin(current, reply.all("location")[0])
                parts = urllib.parse.urlsplit(target)
                if (parts.hostname or "").lower() != host:
                    shown = "".join(c for c in (parts.hostname or "?") if c.isprintable())[:80]
                    return Preflight(error=AuthError(uri, f"redirected to another host ({shown}): the credentials are "
                                                          "not sent there"))
                if service_of(target) != service_of(uri):
                    # Same address, another port or scheme: another service (at a NAT'd site, another
                    # camera).  The credentials go only to the stream's recorded (scheme, port).
                    return Preflight(error=AuthError(uri, "redirected to another port or scheme: the credentials "
                                                          "are not sent there"))
                current = target
                continue
            # 2xx (or an error FFmpeg will name): credentials only if the server asked for them.
            held, dialog = dialog, None
            return Preflight(send_credentials=authorization is not None, held=held)
        return Preflight(error=MalformedError(uri, f"redirect loop: more than {_MAX_HOPS} {protocol} redirects"))
    finally:
        if dialog is not None:
            dialog.close()


def _ask(dialog: _Dialog | None, uri: str, authorization: str | None, deadline: float) -> tuple[_Dialog, _Reply]:
    """Send one request on `dialog`, or on a new connection if there is none or the server closed it."""
    if dialog is not None:
        try:
            return dialog, dialog.request(uri, authorization)
        except (ConnectionError, BrokenPipeError):
            dialog.close()  # HTTP/1.0 servers close after each reply
    dialog = _Dialog(uri, deadline)
    return dialog, dialog.request(uri, authorization)


def _refusal(uri: str, protocol: str, offered: dict[str, dict[str, str]]) -> AuthError:
    """Return the error of a challenge the check does not answer."""
    if "basic" in offered:
        return AuthError(uri, f"the camera asks for {protocol} Basic, which sends the password in clear: "
                              "not answered without --allow-plaintext-auth")
    schemes = ", ".join(sorted("".join(c for c in k if c.isprintable())[:20] for k in offered)) or "none named"
    return AuthError(uri, f"the camera asks for an authentication scheme sitescout does not answer "
                          f"({schemes[:60]})")
