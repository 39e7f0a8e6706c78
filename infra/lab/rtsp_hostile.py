"""A hand-written RTSP server that misbehaves on purpose: the RTSP half of the hostile device zoo.

The GStreamer lab server (`rtsp.py`) plays well-formed streams that freeze,
blacken, blur, stall or hang.  What GStreamer will not do — answer 401 forever,
redirect in a loop, or send garbage after a valid handshake — is done here in
plain asyncio.  The mode is chosen by the request path's first segment
(``rtsp://HOST:PORT/auth-forever/x``), or by `default_mode` for any other path
(so a camera persona's own stream path can be made hostile):

================  ==============================================================
healthy           RTP/JPEG (RFC 2435) over TCP, 320x240 at 15 fps, a moving picture
auth-forever      401 to every request, Basic only; the reason phrase and a header
                  echo the credentials the client sent (a hostile camera's "echo")
redirect-self     DESCRIBE -> 401 (Basic) until the client sends credentials, then 302
                  to the same URL with those credentials echoed into the Location
redirect-pingpong DESCRIBE on .../a -> 302 .../b -> 302 .../a ...
silent            accepts the connection, reads, never answers
stall-mid         healthy for `stall_after_s`, then no byte more; the session stays up
silent-after-play a valid handshake (PLAY answered 200), then not one byte
garbage-bytes     valid handshake, then random bytes (not interleaved frames)
garbage-rtp       valid handshake, then interleaved frames whose RTP headers are invalid
endless-frame     valid handshake, then one interleaved frame of 65535 bytes trickled
                  a byte every 20 ms: the connection is never idle, the frame never ends
flood-fragment    valid H.264 handshake, then FU-A fragments of one NAL unit at full
                  speed, never an end fragment: a never-ending picture (memory test)
basic-only        DESCRIBE -> 401 with only a Basic challenge until the right
                  credentials come, then healthy
digest-only       the same with only a Digest challenge (RFC 2617, MD5, no qop)
redirect-other    Digest as digest-only, then 302 to `redirect_to` (another host)
redirect-other-basic  Basic as basic-only, then 302 to `redirect_to`
ua-split          Digest to the first User-Agent the server saw, Basic to any other (a server
                  telling a client's pre-flight from FFmpeg), then streams as healthy
udp-then-basic    Digest and 461 for RTP over TCP, as udp-only; once TCP was refused, Basic only
                  (a server changing its answer for the client's UDP re-open)
udp-only          SETUP over TCP -> 461 Unsupported Transport; over UDP -> the
                  healthy picture as RTP/JPEG datagrams to the client's port
udp-silent        as udp-only, but not one datagram arrives (a firewall dropping UDP)
udp-setup-silent  SETUP over TCP gets no answer at all (the connection stays open); over UDP ->
                  the healthy picture as udp-only (a server or middlebox that swallows TCP SETUP)
udp-setup-silent-dropped  as udp-setup-silent, but not one datagram arrives
udp-flood         as udp-only, but H.264: FU-A fragments of one NAL unit as fast as
                  datagrams go, never an end fragment (flood-fragment over UDP)
================  ==============================================================

Every Authorization header the server receives is kept in `authorizations`
(mode, header value), so tests can say exactly what reached which server.

Run it in a lab namespace with ``python -m sitescout.infra.lab.rtsp_hostile --host IP
--port 554 [--default-mode MODE]``; it prints ``ready PORT`` once listening.  In
tests, `HostileRtspServer` runs the same loop in a thread on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import random
import socket
import struct
import threading
import time
import urllib.parse
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

__all__ = ["MODES", "HostileRtspServer", "jpeg_rtp_payloads", "main"]

MODES = (
    "healthy",
    "auth-forever",
    "redirect-self",
    "redirect-pingpong",
    "silent",
    "stall-mid",
    "garbage-bytes",
    "garbage-rtp",
    "endless-frame",
    "flood-fragment",
    "silent-after-play",
    "basic-only",
    "digest-only",
    "redirect-other",
    "redirect-other-basic",
    "udp-only",
    "udp-silent",
    "udp-flood",
    "ua-split",
    "udp-then-basic",
    "udp-setup-silent",
    "udp-setup-silent-dropped",
)
_UDP_MODES = ("udp-only", "udp-silent", "udp-flood", "udp-then-basic", "udp-setup-silent", "udp-setup-silent-dropped")
_H264_MODES = ("flood-fragment", "udp-flood")
#: Modes that want credentials, and the challenge each sends.
_CHALLENGE = {
    "basic-only": "basic",
    "digest-only": "digest",
    "redirect-other": "digest",
    "redirect-other-basic": "basic",
}
_REALM, _NONCE = "hostile-lab", "5175ca7e0f0a"
_DATA_DIR = Path(__file__).with_name("data")
_FPS = 15
_MAX_RTP_PAYLOAD = 1400
_MAX_REQUEST_BYTES = 64 * 1024


# ---------------------------------------------------------------------------
# Frames: RTP/JPEG (RFC 2435) from the lab's shipped pictures.


def _load_jpegs() -> list[bytes]:
    """Return baseline 4:2:0 JPEGs of the shipped 320x240 frames with a box sliding across them."""
    import cv2

    pictures = [p for p in (cv2.imread(str(f)) for f in sorted(_DATA_DIR.glob("mjpeg-normal-320x240-*.jpg")))
                if p is not None]
    if not pictures:
        raise FileNotFoundError(f"no mjpeg-normal-320x240 frames in {_DATA_DIR}")
    out = []
    for i in range(45):  # 3 s at 15 fps: the box's path does not repeat within a check's window
        picture = pictures[i % len(pictures)].copy()
        x = (i * 7) % 260
        cv2.rectangle(picture, (x, 30), (x + 60, 90), (255, 255, 255), -1)
        ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            out.append(data.tobytes())
    return out


def jpeg_rtp_payloads(jpeg: bytes, max_payload: int = _MAX_RTP_PAYLOAD) -> list[bytes]:
    """Split one baseline 4:2:0 JPEG into RTP/JPEG payloads (type 1, Q=255 with in-band tables)."""
    i, tables, size, scan = 2, b"", (0, 0), b""
    while i + 4 <= len(jpeg):
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        body = jpeg[i + 4:i + 2 + length]
        if marker == 0xDB:
            for j in range(0, len(body), 65):
                tables += body[j + 1:j + 65]
        elif marker == 0xC0:
            size = struct.unpack(">HH", body[1:5])[::-1]
        elif marker == 0xDA:
            scan = jpeg[i + 2 + length:]
            scan = scan[:-2] if scan.endswith(b"\xff\xd9") else scan
            break
        i += 2 + length
    width, height = size
    payloads: list[bytes] = []
    offset = 0
    while offset < len(scan) or not payloads:
        header = (
            struct.pack(">B", 0) + offset.to_bytes(3, "big") + struct.pack(">BBBB", 1, 255, width // 8, height // 8)
        )
        if offset == 0:
            header += struct.pack(">BBH", 0, 0, len(tables)) + tables
        chunk = scan[offset:offset + max_payload - len(header)]
        payloads.append(header + chunk)
        offset += len(chunk)
    return payloads


def _rtp(seq: int, ts: int, payload: bytes, *, marker: bool, pt: int = 26) -> bytes:
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x5175ca7) + payload


def _interleaved(packet: bytes, channel: int = 0) -> bytes:
    return b"$" + bytes([channel]) + struct.pack(">H", len(packet)) + packet


_SDP_JPEG = "v=0\r\no=- 0 0 IN IP4 {ip}\r\ns=hostile\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" \
            "m=video 0 RTP/AVP 26\r\na=control:track0\r\na=framerate:15\r\n"
# SPS/PPS of a 320x240 baseline stream (x264), so FFmpeg knows the picture before any frame.
_SPS_PPS = "Z0LADNkBQfsBEAAAAwAQAAADAeDxQqSA,aMuDyyA="
_SDP_H264 = "v=0\r\no=- 0 0 IN IP4 {ip}\r\ns=hostile\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" \
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" \
            f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={_SPS_PPS}\r\na=control:track0\r\n"


# ---------------------------------------------------------------------------
# The server.


class _Request:
    """One RTSP request as read off the wire."""

    def __init__(self, method: str, url: str, headers: dict[str, str]) -> None:
        self.method, self.url, self.headers = method, url, headers

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")

    def digest_fields(self) -> dict[str, str]:
        """Return the fields of a Digest Authorization header (empty if there is none)."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("digest "):
            return {}
        fields = {}
        for part in value[7:].split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                fields[k.strip().lower()] = v.strip().strip('"')
        return fields

    def basic_credentials(self) -> str | None:
        """Return "user:password" from a Basic Authorization header, if the client sent one."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            return base64.b64decode(value[6:].strip()).decode("utf-8", "replace")
        except ValueError:
            return None


class _Hostile:
    """The asyncio side: one connection handler, modes by path."""

    def __init__(self, default_mode: str, stall_after_s: float, credentials: tuple[str, str] | None = None,
                 redirect_to: str | None = None) -> None:
        self.default_mode = default_mode
        self.stall_after_s = stall_after_s
        self.credentials = credentials
        self.redirect_to = redirect_to
        self.authorizations: list[tuple[str, str]] = []
        #: Every (mode, User-Agent) received; ua-split challenges the first User-Agent seen with
        #: Digest and any other with Basic (a server telling a pre-flight from FFmpeg).
        self.user_agents: list[tuple[str, str]] = []
        #: udp-then-basic: set once SETUP over TCP was refused; from then on the challenge is Basic.
        self.refused_tcp = False
        self._udp_peers: dict[asyncio.StreamWriter, tuple[str, int]] = {}
        #: Every SETUP received: (mode, "tcp" or "udp" as its Transport header asked).
        self.setups: list[tuple[str, str]] = []
        self.connections = 0
        self.requests = 0
        self._jpegs: list[list[bytes]] | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def mode_of(self, url: str) -> str:
        path = urllib.parse.urlsplit(url).path
        first = path.strip("/").split("/", 1)[0]
        return first if first in MODES else self.default_mode

    def frames(self) -> list[list[bytes]]:
        if self._jpegs is None:
            self._jpegs = [jpeg_rtp_payloads(j) for j in _load_jpegs()]
        return self._jpegs

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        streaming: asyncio.Task[None] | None = None
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests += 1
                mode = self.mode_of(request.url)
                if "authorization" in request.headers:
                    self.authorizations.append((mode, request.headers["authorization"]))
                self.user_agents.append((mode, request.headers.get("user-agent", "")))
                if mode == "silent":
                    continue  # read everything, answer nothing
                if request.method == "SETUP":
                    lower = "tcp" if "TCP" in request.headers.get("transport", "").upper() else "udp"
                    self.setups.append((mode, lower))
                    if mode.startswith("udp-setup-silent") and lower == "tcp":
                        continue  # swallow SETUP over TCP: no answer, the connection stays open
                reply = self._reply(mode, request, writer)
                writer.write(reply)
                await writer.drain()
                if request.method == "PLAY" and streaming is None:
                    streaming = asyncio.create_task(self._stream(mode, writer))
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            if streaming is not None:
                streaming.cancel()
            self._writers.discard(writer)
            self._udp_peers.pop(writer, None)
            writer.close()

    def _reply(self, mode: str, req: _Request, writer: asyncio.StreamWriter) -> bytes:
        host, port = writer.get_extra_info("sockname")[:2]
        if mode == "auth-forever":
            echoed = req.basic_credentials()
            reason = f"Unauthorized {echoed} at {req.url}" if echoed else "Unauthorized"
            extra = {"WWW-Authenticate": f'Basic realm="hostile-{os.urandom(4).hex()}"'}
            if echoed:
                extra["X-Echo"] = f"{echoed} {req.headers.get('authorization', '')}"
            return _response(req, 401, reason, extra)
        if req.method == "OPTIONS":
            return _response(req, 200, "OK", {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"})
        if mode in _CHALLENGE or mode in ("ua-split", "udp-then-basic"):
            if mode == "udp-then-basic":
                scheme = "basic" if self.refused_tcp else "digest"
            else:
                scheme = _CHALLENGE.get(mode) or self._scheme_by_user_agent(req)
            if not self._authorized(scheme, req):
                challenge = 'Basic realm="%s"' % _REALM if scheme == "basic" else \
                    'Digest realm="%s", nonce="%s"' % (_REALM, _NONCE)
                return _response(req, 401, "Unauthorized", {"WWW-Authenticate": challenge})
            if mode.startswith("redirect-other") and req.method == "DESCRIBE" and self.redirect_to:
                return _response(req, 302, "Moved", {"Location": self.redirect_to})
        if mode == "redirect-self" and req.method == "DESCRIBE" and "authorization" not in req.headers:
            return _response(req, 401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="hostile"'})
        if mode.startswith("redirect") and req.method == "DESCRIBE":
            parts = urllib.parse.urlsplit(req.url)
            path = parts.path
            if mode == "redirect-pingpong":
                path = path[:-1] + ("b" if path.endswith("a") else "a") if path[-1:] in "ab" else path + "/a"
            echoed = req.basic_credentials()
            userinfo = "".join(urllib.parse.quote(part, safe="") + sep for part, sep in
                               zip(echoed.split(":", 1), (":", "@"))) if echoed and ":" in echoed else ""
            location = urllib.parse.urlunsplit(("rtsp", f"{userinfo}{host}:{port}", path, parts.query, ""))
            return _response(req, 302, f"Moved to {location}", {"Location": location})
        if req.method == "DESCRIBE":
            sdp = (_SDP_H264 if mode in _H264_MODES else _SDP_JPEG).format(ip=host).encode()
            return _response(
                req, 200, "OK", {"Content-Type": "application/sdp", "Content-Base": req.url.rstrip("/") + "/"}, sdp
            )
        if req.method == "SETUP":
            transport = req.headers.get("transport", "")
            if mode in _UDP_MODES:
                return self._setup_udp(req, transport, writer)
            if "TCP" not in transport.upper():
                return _response(req, 461, "Unsupported Transport")
            return _response(req, 200, "OK", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1",
                                              "Session": "5175ca7;timeout=60"})
        return _response(req, 200, "OK", {"Session": "5175ca7"})

    def _setup_udp(self, req: _Request, transport: str, writer: asyncio.StreamWriter) -> bytes:
        """Refuse RTP over TCP (461); accept UDP and note where the client wants the datagrams."""
        if "TCP" in transport.upper() or "client_port=" not in transport:
            self.refused_tcp = True
            return _response(req, 461, "Unsupported Transport")
        first = int(transport.split("client_port=", 1)[1].split("-", 1)[0].split(";", 1)[0])
        peer = writer.get_extra_info("peername")[0]
        self._udp_peers[writer] = (peer, first)
        return _response(req, 200, "OK", {"Transport": f"RTP/AVP;unicast;client_port={first}-{first + 1};"
                                                       "server_port=40000-40001",
                                          "Session": "5175ca7;timeout=60"})

    def _scheme_by_user_agent(self, req: _Request) -> str:
        """ua-split: Digest for the first User-Agent this server saw, Basic for any other."""
        first = next((ua for m, ua in self.user_agents if m == "ua-split"), "")
        return "digest" if req.headers.get("user-agent", "") == first else "basic"

    def _authorized(self, scheme: str, req: _Request) -> bool:
        """Say whether `req` carries the right credentials in `scheme` (any, when none are set)."""
        if scheme == "basic":
            given = req.basic_credentials()
            return given is not None and (self.credentials is None or given == ":".join(self.credentials))
        fields = req.digest_fields()
        if not fields or fields.get("nonce") != _NONCE:
            return False
        if self.credentials is None:
            return True
        user, password = self.credentials
        ha1 = hashlib.md5(f"{user}:{_REALM}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{req.method}:{fields.get('uri', '')}".encode()).hexdigest()
        return fields.get("username") == user and fields.get("response") == hashlib.md5(
            f"{ha1}:{_NONCE}:{ha2}".encode()).hexdigest()

    async def _stream(self, mode: str, writer: asyncio.StreamWriter) -> None:
        """Send what `mode` sends after PLAY, until the client goes away."""
        try:
            if mode in ("udp-only", "udp-setup-silent") and writer in self._udp_peers:
                await self._stream_jpeg_udp(writer, self._udp_peers[writer])
            elif mode == "udp-flood" and writer in self._udp_peers:
                await self._flood_udp(writer, self._udp_peers[writer])
            elif mode in ("healthy", "stall-mid", "ua-split") or mode in _CHALLENGE:
                await self._stream_jpeg(writer, self.stall_after_s if mode == "stall-mid" else None)
            elif mode == "garbage-bytes":
                rng = random.Random(7)
                while not writer.is_closing():  # ~1 MB/s of noise, never an interleaved frame ('$' removed)
                    writer.write(rng.randbytes(16384).replace(b"$", b"#"))
                    await writer.drain()
                    await asyncio.sleep(0.016)
            elif mode == "garbage-rtp":
                rng = random.Random(8)
                while not writer.is_closing():  # RTP version 0/1/3, random payload types: no valid RTP header
                    # One write per drain: writing on after the peer left only logs asyncio warnings.
                    writer.write(b"".join(_interleaved(bytes([rng.choice((0x00, 0x40, 0xC0)) | rng.randrange(16)])
                                                       + rng.randbytes(rng.randrange(11, 1400))) for _ in range(20)))
                    await writer.drain()
                    await asyncio.sleep(0.02)
            elif mode == "endless-frame":
                writer.write(b"$\x00\xff\xff")
                while not writer.is_closing():
                    writer.write(b"\x80")
                    await writer.drain()
                    await asyncio.sleep(0.02)
            elif mode == "flood-fragment":
                await self._flood_fragment(writer)
            # silent-after-play: a valid handshake, then nothing at all
            await _hold(writer)
        except (ConnectionError, OSError):
            return

    async def _stream_jpeg(self, writer: asyncio.StreamWriter, stop_after_s: float | None) -> None:
        frames = self.frames()
        started = time.monotonic()
        seq, index = 0, 0
        while (stop_after_s is None or time.monotonic() - started < stop_after_s) and not writer.is_closing():
            payloads = frames[index % len(frames)]
            ts = index * 90000 // _FPS
            writer.write(b"".join(_interleaved(_rtp(seq + n, ts, payload, marker=n == len(payloads) - 1))
                                  for n, payload in enumerate(payloads)))
            seq += len(payloads)
            await writer.drain()
            index += 1
            await asyncio.sleep(max(0.0, started + index / _FPS - time.monotonic()))

    async def _stream_jpeg_udp(self, writer: asyncio.StreamWriter, peer: tuple[str, int]) -> None:
        """Send the healthy picture as RTP/JPEG datagrams to `peer` while the RTSP connection lives."""
        frames = self.frames()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            started = time.monotonic()
            seq, index = 0, 0
            while not writer.is_closing():
                payloads = frames[index % len(frames)]
                ts = index * 90000 // _FPS
                for n, payload in enumerate(payloads):
                    sock.sendto(_rtp(seq + n, ts, payload, marker=n == len(payloads) - 1), peer)
                seq += len(payloads)
                index += 1
                await asyncio.sleep(max(0.0, started + index / _FPS - time.monotonic()))
        finally:
            sock.close()

    async def _flood_udp(self, writer: asyncio.StreamWriter, peer: tuple[str, int]) -> None:
        """The fragment flood as datagrams (what the receiver cannot take is dropped, as on a network)."""
        fill = b"\xff" * 1400
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.sendto(_rtp(0, 0, bytes([0x7C, 0x85]) + fill, marker=False, pt=96), peer)
            seq = 1
            while not writer.is_closing():
                for _ in range(64):
                    try:
                        sock.sendto(_rtp(seq, 0, bytes([0x7C, 0x05]) + fill, marker=False, pt=96), peer)
                    except BlockingIOError:
                        break
                    seq += 1
                await asyncio.sleep(0)
        finally:
            sock.close()

    async def _flood_fragment(self, writer: asyncio.StreamWriter) -> None:
        # FU-A (type 28) of an IDR slice (type 5): start bit on the first fragment,
        # then middle fragments forever. 0xFF bytes hold no start code, so a parser
        # that joins fragments until the picture ends never sees an end.
        fill = b"\xff" * 1400
        seq = 0
        writer.write(_interleaved(_rtp(seq, 0, bytes([0x7C, 0x85]) + fill, marker=False, pt=96)))
        while not writer.is_closing():
            writer.write(b"".join(_interleaved(_rtp(seq + i, 0, bytes([0x7C, 0x05]) + fill, marker=False, pt=96))
                                  for i in range(1, 65)))
            seq += 64
            await writer.drain()
            await asyncio.sleep(0)

    def close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()


async def _hold(writer: asyncio.StreamWriter) -> None:
    """Keep the connection open (the reader side still answers requests) until it closes."""
    while not writer.is_closing():
        await asyncio.sleep(0.5)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """Read one request; skip interleaved frames (RTCP) the client sends; None at EOF."""
    while True:
        first = await reader.read(1)
        if not first:
            return None
        if first == b"$":
            head = await reader.readexactly(3)
            await reader.readexactly(struct.unpack(">H", head[1:])[0])
            continue
        head = first + await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_REQUEST_BYTES:
            return None
        lines = head.decode("utf-8", "replace").split("\r\n")
        method, url, *_ = (lines[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        if 0 < length <= _MAX_REQUEST_BYTES:
            await reader.readexactly(length)
        return _Request(method, url, headers)


def _response(req: _Request, code: int, reason: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"RTSP/1.0 {code} {reason}", f"CSeq: {req.cseq}", "Server: sitescout-hostile"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HostileRtspServer:
    """The hostile server on its own event loop in a daemon thread.

    Usage::

        with HostileRtspServer("127.0.0.1", 0) as srv:
            url = srv.url("auth-forever")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, default_mode: str = "healthy",
                 stall_after_s: float = 1.0, credentials: tuple[str, str] | None = None,
                 redirect_to: str | None = None) -> None:
        if default_mode not in MODES:
            raise ValueError(f"mode {default_mode!r}: expected one of {MODES}")
        self.host, self.port = host, port
        self._hostile = _Hostile(default_mode, stall_after_s, credentials, redirect_to)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    def __repr__(self) -> str:
        return f"HostileRtspServer({self.host}:{self.port}, default={self._hostile.default_mode})"

    @property
    def authorizations(self) -> list[tuple[str, str]]:
        """Return every (mode, Authorization header) the server received, in order."""
        return list(self._hostile.authorizations)

    @property
    def user_agents(self) -> list[tuple[str, str]]:
        """Return every (mode, User-Agent header) the server received, in order ("" when absent)."""
        return list(self._hostile.user_agents)

    @property
    def connections(self) -> int:
        """Return how many connections the server accepted."""
        return self._hostile.connections

    @property
    def setups(self) -> list[tuple[str, str]]:
        """Return every SETUP received so far: (mode, "tcp" or "udp")."""
        return list(self._hostile.setups)

    def start(self) -> None:
        """Listen (port 0 picks one) and serve in a daemon thread."""
        self._hostile.frames()  # encode the pictures now, not inside the first client's open timeout
        loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(asyncio.start_server(self._hostile.handle, self.host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="hostile-rtsp", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every connection, and stop the loop."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def _shutdown() -> None:
            assert self._server is not None
            self._server.close()
            self._hostile.close_all()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(_shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()

    def url(self, mode: str, suffix: str = "stream") -> str:
        """Return the rtsp:// URL of one mode (any further path segments are ignored by the mode)."""
        return f"rtsp://{self.host}:{self.port}/{mode}/{suffix}"

    def __enter__(self) -> HostileRtspServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the hostile RTSP modes until SIGTERM; print "ready PORT" once listening."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m sitescout.infra.lab.rtsp_hostile", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--default-mode", choices=MODES, default="healthy",
                        help="mode for paths whose first segment names no mode")
    parser.add_argument("--stall-after", type=float, default=1.0, help="seconds of frames before stall-mid stops")
    args = parser.parse_args(argv)
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # clients that leave mid-write are the point here
    hostile = _Hostile(args.default_mode, args.stall_after)
    hostile.frames()

    async def run() -> None:
        server = await asyncio.start_server(hostile.handle, args.host, args.port)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await stop.wait()
        hostile.close_all()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
