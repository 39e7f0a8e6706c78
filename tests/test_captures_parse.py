"""Every capture parses safely; hostile XML is refused quickly and without side effects."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sitescout.probes.errors import MalformedError
from sitescout.probes.onvif.soapxml import find_local, iter_local, localname, parse_xml, text_local

CAPTURES = Path(__file__).resolve().parents[1] / "infra" / "lab" / "captures"
ALL_FILES = sorted(p for p in CAPTURES.glob("*/*") if p.is_file())
# SOURCES.md "wf = NO": not namespace-well-formed, parsed leniently (see probes/onvif/soapxml.py).
NOT_WELL_FORMED = {
    "probematch/hikvision_dfi6256te_kerberos.xml",
    "capabilities/unknown_encoder_utf16decl_agsh.xml",
    "stream_uri/unknown_mc1prefix_go2rtc.xml",
}


def _rel(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


def test_capture_set_is_present() -> None:
    names = {_rel(p) for p in ALL_FILES}
    assert len(ALL_FILES) >= 100
    assert NOT_WELL_FORMED <= names


@pytest.mark.parametrize("path", ALL_FILES, ids=_rel)
def test_every_capture_parses_or_is_malformed(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".json":
        with pytest.raises(MalformedError):
            parse_xml(data, target=path.name)
        return
    root = parse_xml(data, target=path.name)
    assert localname(root) == "Envelope"
    assert find_local(root, "Body") is not None


def test_unbound_prefixes_recovered_with_content() -> None:
    root = parse_xml((CAPTURES / "probematch/hikvision_dfi6256te_kerberos.xml").read_bytes())
    match = find_local(root, "Body", "ProbeMatches", "ProbeMatch")
    assert text_local(match, "EndpointReference", "Address") == "urn:uuid:cea94000-fb96-11b3-8260-686dbc5cb15d"
    assert text_local(match, "XAddrs") == "http://192.168.12.123/onvif/device_service"


def test_utf16_declared_on_ascii_parses() -> None:
    data = (CAPTURES / "capabilities/unknown_encoder_utf16decl_agsh.xml").read_bytes()
    assert b'encoding="utf-16"' in data[:60]
    root = parse_xml(data)
    media = find_local(root, "Body", "GetCapabilitiesResponse", "Capabilities", "Media")
    assert text_local(media, "XAddr") == "http://192.168.30.65/onvif/device_service"
    assert len(iter_local(root, "XAddr")) >= 5


def test_elided_root_tag_recovered() -> None:
    root = parse_xml((CAPTURES / "stream_uri/unknown_mc1prefix_go2rtc.xml").read_bytes())
    uri = text_local(root, "Body", "GetStreamUriResponse", "MediaUri", "Uri")
    assert uri == "rtsp://192.168.5.53:8090/profile1=r"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol9 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
]>
<lolz>&lol9;</lolz>"""


def test_billion_laughs_refused() -> None:
    start = time.monotonic()
    with pytest.raises(MalformedError, match="DOCTYPE"):
        parse_xml(BILLION_LAUGHS)
    assert time.monotonic() - start < 0.5


def test_external_entity_refused_and_not_resolved() -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(MalformedError) as err:
        parse_xml(xxe)
    assert "root:" not in str(err.value)
    # Lower-case / spaced variants and a bare entity reference never expand either.
    with pytest.raises(MalformedError):
        parse_xml(b'<!doctype r SYSTEM "file:///etc/passwd"><r/>')
    with pytest.raises(MalformedError, match="not defined"):
        parse_xml(b"<Envelope><Body><r>&x;</r></Body></Envelope>")


def test_50mb_body_refused_quickly() -> None:
    big = b"<Envelope>" + b"a" * (50 * 1024 * 1024) + b"</Envelope>"
    start = time.monotonic()
    with pytest.raises(MalformedError, match="exceeds"):
        parse_xml(big)
    assert time.monotonic() - start < 0.1


def test_utf16_declared_on_ascii_inline() -> None:
    root = parse_xml(b'<?xml version="1.0" encoding="utf-16"?><Envelope><Body><x>ok</x></Body></Envelope>')
    assert text_local(root, "Body", "x") == "ok"


def test_real_utf16_still_decoded() -> None:
    doc = '<?xml version="1.0" encoding="utf-16"?><Envelope><Body><x>Thôn Đồng Bùa</x></Body></Envelope>'
    assert text_local(parse_xml(doc.encode("utf-16")), "Body", "x") == "Thôn Đồng Bùa"


def test_invalid_utf8_replaced() -> None:
    root = parse_xml(b"<Envelope><Body><Manufacturer>Cam\xff\xfeEra\x01</Manufacturer></Body></Envelope>")
    assert text_local(root, "Body", "Manufacturer") == "Cam\ufffd\ufffdEra\ufffd"


def test_bare_ampersand_escaped() -> None:
    root = parse_xml(b"<Envelope><Body><Manufacturer>A&B Security</Manufacturer></Body></Envelope>")
    assert text_local(root, "Body", "Manufacturer") == "A&B Security"


def test_garbage_and_truncation_are_malformed_not_crash() -> None:
    for junk in (b"", b"   ", b"\x00\x01\x02", b"<html><body>401", b"HTTP/1.1 401 Unauthorized", b"<a><b></a>",
                 b"<Envelope><Body><GetDeviceInformationResponse><Model>DS-2"):
        with pytest.raises(MalformedError):
            parse_xml(junk)
