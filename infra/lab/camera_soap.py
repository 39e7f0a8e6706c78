"""SOAP plumbing of the simulated camera: faults it answers, element lookup, the clock in captures."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from lxml import etree

__all__ = ["MEDIA2_NS"]

MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"

_SOAP_CT = "application/soap+xml; charset=utf-8"
_WELLFORMED_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:WellFormed</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">Well-formed Error</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>
"""
_NOPROFILE_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<SOAP-ENV:Body><SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:InvalidArgVal</SOAP-ENV:Value>
<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NoProfile</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Subcode></SOAP-ENV:Code>
<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">The requested profile token ProfileToken does not exist.</SOAP-ENV:Text></SOAP-ENV:Reason>
</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>
"""  # noqa: E501  (a device's answer, kept byte for byte)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find(root: etree._Element, name: str) -> etree._Element | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None

def _with_time(body: bytes, now: datetime) -> bytes:
    """Set the UTC and local date/time fields of a GetSystemDateAndTime capture to ``now``."""

    def read(block: bytes) -> datetime | None:
        vals = {k: re.search(rb"<(?:[\w.-]+:)?" + k + rb">\s*(\d+)\s*<", block) for k in
                (b"Year", b"Month", b"Day", b"Hour", b"Minute", b"Second")}
        if not all(vals.values()):
            return None
        try:
            y, mo, d, h, mi, s = (int(v.group(1)) for v in vals.values())  # type: ignore[union-attr]
            return datetime(y, mo, d, h, mi, min(s, 59), tzinfo=timezone.utc)
        except ValueError:
            return None

    def write(block: bytes, t: datetime) -> bytes:
        for k, v in ((b"Year", t.year), (b"Month", t.month), (b"Day", t.day),
                     (b"Hour", t.hour), (b"Minute", t.minute), (b"Second", t.second)):
            block = re.sub(rb"(<(?:[\w.-]+:)?" + k + rb">)\s*\d+\s*(<)",
                           rb"\g<1>" + str(v).encode() + rb"\g<2>", block)
        return block

    pat = {k: re.compile(rb"(<(?:[\w.-]+:)?" + k + rb">)(.*?)(</(?:[\w.-]+:)?" + k + rb">)", re.S)
           for k in (b"UTCDateTime", b"LocalDateTime")}
    mu, ml = pat[b"UTCDateTime"].search(body), pat[b"LocalDateTime"].search(body)
    offset = timedelta(0)
    if mu and ml:
        cu, cl = read(mu.group(2)), read(ml.group(2))
        if cu and cl:
            offset = cl - cu
    out = body
    if ml:
        out = pat[b"LocalDateTime"].sub(
            lambda m: m.group(1) + write(m.group(2), now + offset) + m.group(3), out, count=1
        )
    if mu:
        out = pat[b"UTCDateTime"].sub(lambda m: m.group(1) + write(m.group(2), now) + m.group(3), out, count=1)
    return out

