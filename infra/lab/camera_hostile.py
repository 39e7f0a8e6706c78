"""Hostile behaviours of the simulated camera: what broken or malicious devices send back.

Each mode is one line of the reliability issue (docs/reliability.md, "Hostile devices"):

* ``bomb`` / ``xxe``: every SOAP reply carries a billion-laughs DTD / an external entity
  (``file:///etc/passwd``);
* ``huge``: a 100 MB body announced by Content-Length; ``huge_chunked``: 100 MB sent
  chunked, with no length announced, so only a streaming cap stops it;
* ``hang``: accepts and never answers; ``slow``: the right reply at 1 byte per second;
* ``garbage``: bytes that are neither UTF-8 nor XML; ``bad_utf8``: well-formed replies
  whose text carries invalid UTF-8 sequences; ``utf16decl``: ``encoding="utf-16"``
  declared on ASCII bytes (agsh/onvif mock);
* ``soap11``: every reply (faults included) in SOAP 1.1 instead of 1.2;
* ``wsd_flood``: 10,000 ProbeMatches with random endpoints within about a second;
  ``wsd_spoof``: on each Probe, answers first (no delay) claiming other cameras'
  endpoints and addresses, each spoofed datagram repeated many times;
* ``snapshot_endless``: the snapshot URI streams JPEG bytes forever, as fast as the
  client reads; ``snapshot_drip``: forever, one small chunk per second.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "HOSTILE_MODES",
    "HUGE_BYTES",
    "SOAP11_NS",
    "SOAP12_NS",
    "hostile_reply",
    "send_flood",
    "send_spoof",
    "spoof_phantoms",
    "stream_huge",
    "stream_slow",
    "stream_snapshot_forever",
    "to_soap11",
]

HOSTILE_MODES = (
    "bomb", "xxe", "huge", "huge_chunked", "hang", "slow", "garbage", "bad_utf8", "utf16decl", "soap11",
    "wsd_flood", "wsd_spoof", "snapshot_endless", "snapshot_drip",
)
HUGE_BYTES = 100 * 1024 * 1024
SOAP12_NS = b"http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS = b"http://schemas.xmlsoap.org/soap/envelope/"
SOAP_CT = "application/soap+xml; charset=utf-8"
SOAP11_CT = "text/xml; charset=utf-8"
FLOOD_REPLIES = 10_000
SPOOF_COPIES = 200  # identical copies of each spoofed datagram

_BOMB_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""
_XXE_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")
_BODY_START = re.compile(rb"(<(?:[\w.-]+:)?Body\b[^>]*>)")
# Text of these elements gets invalid UTF-8 in bad_utf8 mode (Model stays clean, so the device is recognisable).
_UTF8_FIELDS = (b"Manufacturer", b"FirmwareVersion", b"Name", b"Text")
_BAD_UTF8 = b"\xff\xc3\x28\xa0\xa1\xed\xa0\x80\xf8"


def _with_entity(dtd: bytes, entity: bytes, body: bytes) -> bytes:
    """Return the reply with a DTD in front and the entity referenced first thing in its Body."""
    rest = _XML_DECL.sub(b"", body, count=1)
    if _BODY_START.search(rest):
        rest = _BODY_START.sub(lambda m: m.group(1) + b"<x>" + entity + b"</x>", rest, count=1)
    else:
        rest = b"<x>" + entity + b"</x>" + rest
    return dtd + rest


def _bad_utf8(body: bytes) -> bytes:
    for name in _UTF8_FIELDS:
        body = re.sub(rb"(<(?:[\w.-]+:)?" + name + rb"\b[^>/]*>)([^<]*)(<)",
                      lambda m: m.group(1) + m.group(2) + _BAD_UTF8 + m.group(3), body)
    return body


def to_soap11(body: bytes) -> bytes:
    """Rewrite a SOAP 1.2 reply as SOAP 1.1: envelope namespace, and Fault as faultcode/faultstring."""
    out = body.replace(SOAP12_NS, SOAP11_NS)
    fault = re.search(rb"<((?:[\w.-]+:)?)Fault\b[^>]*>(.*?)</(?:[\w.-]+:)?Fault>", out, re.S)
    if fault is None:
        return out
    prefix, inner = fault.group(1), fault.group(2)
    values = re.findall(rb"<(?:[\w.-]+:)?Value>\s*([^<]*?)\s*</(?:[\w.-]+:)?Value>", inner)
    texts = re.findall(rb"<(?:[\w.-]+:)?Text\b[^>]*>([^<]*)</(?:[\w.-]+:)?Text>", inner)
    # SOAP 1.1 has one fault code; ONVIF 1.1 stacks (gSOAP) put the most specific subcode there.
    code = values[-1] if values else prefix + b"Server"
    new = (b"<" + prefix + b"Fault><faultcode>" + code + b"</faultcode><faultstring>"
           + (texts[0] if texts else b"") + b"</faultstring></" + prefix + b"Fault>")
    return out[: fault.start()] + new + out[fault.end():]


def hostile_reply(mode: str | None, action: str, status: int, body: bytes) -> tuple[int, bytes, str]:
    """Return (status, body, content type) as this hostile device would send the SOAP reply."""
    if mode == "bomb":
        return status, _with_entity(_BOMB_DTD, b"&lol9;", body), SOAP_CT
    if mode == "xxe":
        return status, _with_entity(_XXE_DTD, b"&xxe;", body), SOAP_CT
    if mode == "garbage":
        return status, b"\xff\xfe\xc3\x28<env:Envelope\xa0\xa1" + os.urandom(512) + b"\x80\x81", SOAP_CT
    if mode == "bad_utf8":
        return status, _bad_utf8(body), SOAP_CT
    if mode == "utf16decl":
        decl = b'<?xml version="1.0" encoding="utf-16"?>'
        if body.lstrip().startswith(b"<?xml"):
            return status, re.sub(rb"^\s*<\?xml[^>]*\?>", decl, body, count=1), SOAP_CT
        return status, decl + b"\n" + body, SOAP_CT
    if mode == "soap11":
        # SOAP 1.1 sends faults with HTTP 500 (SOAP 1.2 over HTTP uses 400 for Sender faults).
        new_status = 500 if status == 400 else status
        return new_status, to_soap11(body), SOAP11_CT
    return status, body, SOAP_CT


def stream_huge(handler: Any, status: int, body: bytes, *, chunked: bool, stop: threading.Event) -> None:
    """Send a 100 MB reply that opens like the real one, then fills with an XML comment."""
    head = body.split(b"<", 3)
    opening = b"<" + head[1] + b"<" + head[2] if len(head) > 2 else b""
    filler = b"<!-- " + b"x" * 65526 + b" -->"
    handler.send_response(status)
    handler.send_header("Content-Type", SOAP_CT)
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(HUGE_BYTES))
    handler.end_headers()

    def write(data: bytes) -> None:
        if chunked:
            handler.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            handler.wfile.write(data)

    write(opening)
    sent = len(opening)
    while sent < HUGE_BYTES and not stop.is_set():
        chunk = filler[: HUGE_BYTES - sent]
        write(chunk)
        sent += len(chunk)
    if chunked:
        handler.wfile.write(b"0\r\n\r\n")
    handler.close_connection = True


def stream_slow(handler: Any, status: int, body: bytes, *, stop: threading.Event) -> None:
    """Send the right reply at one byte per second."""
    handler.send_response(status)
    handler.send_header("Content-Type", SOAP_CT)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.flush()
    for i in range(len(body)):
        if stop.wait(1.0):
            break
        handler.wfile.write(body[i:i + 1])
        handler.wfile.flush()
    handler.close_connection = True


def stream_snapshot_forever(handler: Any, jpeg: bytes, *, drip: bool, stop: threading.Event) -> None:
    """Answer a snapshot GET with a JPEG that never ends: no length, the image data repeated forever."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(jpeg[:-2])  # everything but the EOI marker: the picture never completes
    scan = jpeg[len(jpeg) // 2: -2]
    while not stop.is_set():
        if drip:
            if stop.wait(1.0):
                break
            handler.wfile.write(scan[:64])
        else:
            handler.wfile.write(scan)
        handler.wfile.flush()
    handler.close_connection = True


def send_flood(sock: socket.socket, addr: tuple[str, int], make_reply: Callable[[str], bytes],
               stop: threading.Event) -> None:
    """Send 10,000 ProbeMatches with random endpoints (every tenth a repeat) within about a second."""
    last = make_reply(f"urn:uuid:{uuid.uuid4()}")
    for i in range(FLOOD_REPLIES):
        if stop.is_set():
            return
        if i % 10:
            last = make_reply(f"urn:uuid:{uuid.uuid4()}")
        try:
            sock.sendto(last, addr)
        except OSError:
            return
        if i % 100 == 99:
            time.sleep(0.008)


def spoof_phantoms(victims: Sequence[tuple[str, str]]) -> list[str]:
    """Return one random endpoint per victim: a phantom that claims the victim's address too."""
    return [f"urn:uuid:{uuid.uuid4()}" for _ in victims]


def send_spoof(sock: socket.socket, addr: tuple[str, int], victims: Sequence[tuple[str, str]],
               make_reply: Callable[[str, str], bytes], stop: threading.Event,
               phantoms: Sequence[str] = ()) -> None:
    """Claim each victim's endpoint and address (``make_reply(endpoint, ip)``), many copies of each, at once.

    `phantoms` (:func:`spoof_phantoms`, drawn once per device) are endpoints that claim the victims'
    addresses too, the same in every burst: how many Probes a scan sends (and so how many bursts it
    gets) must not change how many devices it is told about.
    """
    replies = [make_reply(endpoint, ip) for endpoint, ip in victims]
    replies += [make_reply(endpoint, ip) for endpoint, (_, ip) in zip(phantoms or spoof_phantoms(victims), victims)]
    for _ in range(SPOOF_COPIES):
        for data in replies:
            if stop.is_set():
                return
            try:
                sock.sendto(data, addr)
            except OSError:
                return
