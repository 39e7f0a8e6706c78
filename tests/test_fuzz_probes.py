"""Property tests for every parser that device input reaches: any bytes a camera sends either parse or raise
the module's typed error (probes/errors.py), never another exception, never a hang.

Inputs: random bytes, real captures (infra/lab/captures/) mutated byte-wise and token-wise, and near-valid
SOAP / WS-Discovery envelopes built from the element names our parsers look for.  Each example has a
deadline; the whole file stays under about a minute.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sitescout.probes.onvif import parse
from sitescout.probes.errors import MalformedError, ProbeError
from sitescout.probes.models import MediaProfile
from sitescout.probes.onvif.soap import DigestChallenge, _fault_error
from sitescout.probes.credentials import Credential
from sitescout.probes.net.oui import vendor_for_mac
from sitescout.probes.onvif.soapxml import find_local, parse_xml, soap_fault, text_local
from sitescout.probes.onvif.wsd_messages import (
    normalize_endpoint,
    normalize_mac,
    parse_probe_matches,
    scope_value,
    scope_values,
)
from sitescout.probes.onvif.wsdiscovery import DiscoveryCollector
from sitescout.probes.onvif.xaddr import (
    XAddrChoice,
    choose_xaddr,
    normalize_uri,
    rebase_url,
    repair_url,
    split_xaddrs,
    strip_credentials,
    url_host,
)

CAPTURES = Path(__file__).resolve().parents[1] / "infra" / "lab" / "captures"
CAPTURE_BYTES = [p.read_bytes() for p in sorted(CAPTURES.glob("*/*.xml"))]
PROBEMATCHES = [p.read_bytes() for p in sorted((CAPTURES / "probematch").glob("*.xml"))]
SOURCE = "198.51.100.9"
# Examples per property: the whole file runs in about 30 s on a 2-core machine; each example has 2 s.
# SITESCOUT_FUZZ_SCALE=N runs N times as many (a deeper hunt, outside CI).
_SCALE = max(1, int(os.environ.get("SITESCOUT_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=300 * _SCALE, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])
FUZZ_MORE = settings(FUZZ, max_examples=800 * _SCALE)

# -- strategies --------------------------------------------------------------------------------------

# Tokens real and hostile devices put in replies: entity tricks, encodings, prefixes, broken numbers, URLs.
NASTY = [
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&lol9;", b"]]>", b"<![CDATA[",
    b"<?xml version='1.0' encoding='utf-16'?>", b"<?xml version='1.0' encoding='bogus'?>", b"\xef\xbb\xbf",
    b"\xff\xfe", b"\x00", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"<a:", b"</a:b>", b"xmlns:a=''", b"<x y='>",
    b"inf", b"-inf", b"nan", b"1e999", b"-1", b"99999999999999999999999", b"\xd9\xa3", b"0x10", b" ",
    b"http://[::1", b"http://h:80:80:80/p", b"http://u:p@198.51.100.3/x?password=s", b"http://0.0.0.0/",
    b"https://[fe80::1%eth0]:8443/onvif", b"urn:uuid:{ABC}", b"onvif://www.onvif.org/MAC/00-11-22-33-44-55",
    b"\n\t", b"<" * 50, b"'" * 20, b'"' * 20,
]
NAMES = [
    "Envelope", "Header", "Body", "Fault", "Code", "Value", "Subcode", "Reason", "Text", "Detail", "faultcode",
    "faultstring", "detail", "GetDeviceInformationResponse", "Manufacturer", "Model", "FirmwareVersion",
    "SerialNumber", "HardwareId", "SystemDateAndTime", "UTCDateTime", "Date", "Year", "Month", "Day", "Time",
    "Hour", "Minute", "Second", "Services", "Service", "Namespace", "XAddr", "Capabilities", "Extension",
    "Device", "Media", "PTZ", "NetworkInterfaces", "Enabled", "Info", "HwAddress", "Scopes", "ScopeItem",
    "Profiles", "Name", "VideoEncoderConfiguration", "Configurations", "VideoEncoder", "Encoding",
    "Resolution", "Width", "Height", "RateControl", "FrameRateLimit", "BitrateLimit", "MediaUri", "Uri",
    "ProbeMatches", "ProbeMatch", "ResolveMatches", "Hello", "Bye", "Probe", "EndpointReference", "Address",
    "Types", "XAddrs", "MetadataVersion", "MessageID", "RelatesTo",
]
NAMESPACES = [
    "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/",
    "http://www.onvif.org/ver10/device/wsdl", "http://www.onvif.org/ver10/schema",
    "http://schemas.xmlsoap.org/ws/2005/04/discovery", "http://schemas.xmlsoap.org/ws/2004/08/addressing", "",
]
SERVICE_NS = list(parse.SERVICE_NAMESPACES) + ["urn:x"]

texty = st.one_of(
    st.text(max_size=40),
    st.sampled_from([t.decode("utf-8", "replace") for t in NASTY]),
    st.sampled_from(SERVICE_NS),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "1", "H264", "JPEG", "00:11:22:33:44:55", "ter:NotAuthorized",
                     "http://198.51.100.10/onvif/device_service", "rtsp://198.51.100.10:554/s?user=a&password=b"]),
)


@st.composite
def element(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    name = draw(st.sampled_from(NAMES))
    ns = draw(st.sampled_from(NAMESPACES))
    el = etree.Element(f"{{{ns}}}{name}" if ns else name)
    if draw(st.booleans()):
        el.set("token", draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                                     max_size=12)))
    if depth < 5 and draw(st.booleans()):
        for _ in range(draw(st.integers(0, 4))):
            el.append(draw(element(depth + 1)))
    else:
        text = draw(texty)
        el.text = "".join(c for c in text if c in "\t\n\r" or (" " <= c and c not in "\ufffe\uffff"
                                                                and not "\ud800" <= c <= "\udfff"))
    return el


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """A near-valid SOAP envelope (1.1 or 1.2) whose Body holds ONVIF / WS-Discovery-shaped elements."""
    soap_ns = draw(st.sampled_from(NAMESPACES[:2]))
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"s": soap_ns, "tt": NAMESPACES[3]})
    if draw(st.booleans()):
        env.append(etree.Element(f"{{{soap_ns}}}Header"))
        for _ in range(draw(st.integers(0, 3))):
            env[0].append(draw(element(3)))
    body = etree.SubElement(env, f"{{{soap_ns}}}Body")
    for _ in range(draw(st.integers(0, 3))):
        body.append(draw(element(0)))
    return etree.tostring(env, xml_declaration=draw(st.booleans()), encoding="utf-8")


@st.composite
def mutated(draw: st.DrawFn, pool: list[bytes] = CAPTURE_BYTES) -> bytes:
    """A real capture, then up to five edits: flip, cut, insert a nasty token, delete, duplicate a range."""
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete", "dup"]))
        n = len(data)
        i = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.one_of(st.sampled_from(NASTY), st.binary(max_size=16)))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "dup" and n:
            data[i:i] = data[i:i + draw(st.integers(1, 256))] * draw(st.integers(1, 8))
    return bytes(data)


url_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from([t.decode("utf-8", "replace") for t in NASTY]),
    st.builds(lambda scheme, user, host, port, path: f"{scheme}://{user}{host}{port}{path}",
              st.sampled_from(["http", "https", "rtsp", "HTTP", "ftp", ""]),
              st.sampled_from(["", "u:p@", "admin:s3cr%40t@", "@", ":@"]),
              st.sampled_from(["198.51.100.7", "[fe80::1]", "[::1", "::1]", "0.0.0.0", "cam.local", "",
                               "[fe80::1%25eth0]", "127.0.0.1", "256.1.1.1", "[v1.x]"]),
              st.sampled_from(["", ":80", ":80:80", ":", ":99999", ":-1", ":8o"]),
              st.sampled_from(["", "/onvif/device_service", "/s?password=x&user=y", "/a;pwd=z", "#f", "?&&="])),
)


numbers = st.one_of(st.sampled_from(["inf", "-inf", "nan", "1e999", "-1", "0", "1e308", "", " 7 ", "\u0663",
                                      "99999999999999999999999", "2.5", "0x10", "+3", "1_000"]),
                    st.integers(-10**6, 10**6).map(str), st.floats().map(repr))


@st.composite
def profiles_reply(draw: st.DrawFn) -> bytes:
    """GetProfiles (Media1 or Media2 shape) whose numbers are anything a device might send."""
    media2 = draw(st.booleans())
    profiles = []
    for i in range(draw(st.integers(1, 3))):
        enc_tag = "tr2:VideoEncoder" if media2 else "tt:VideoEncoderConfiguration"
        fields = (f"<tt:Encoding>{draw(st.sampled_from(['H264', 'JPEG', '', 'H265']))}</tt:Encoding>"
                  f"<tt:Resolution><tt:Width>{draw(numbers)}</tt:Width><tt:Height>{draw(numbers)}</tt:Height>"
                  f"</tt:Resolution><tt:RateControl><tt:FrameRateLimit>{draw(numbers)}</tt:FrameRateLimit>"
                  f"<tt:BitrateLimit>{draw(numbers)}</tt:BitrateLimit></tt:RateControl>")
        enc = f"<tr2:Configurations><{enc_tag}>{fields}</{enc_tag}></tr2:Configurations>" if media2 \
            else f"<{enc_tag}>{fields}</{enc_tag}>"
        profiles.append(f'<tr2:Profiles token="p{i}"><tt:Name>n</tt:Name>{enc}</tr2:Profiles>')
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/'
            'schema" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"><s:Body><tr2:GetProfilesResponse>'
            + "".join(profiles) + "</tr2:GetProfilesResponse></s:Body></s:Envelope>").encode("utf-8")


@st.composite
def clock_reply(draw: st.DrawFn) -> bytes:
    """GetSystemDateAndTime with any numbers in its UTC fields."""
    parts = {k: draw(numbers) for k in ("Year", "Month", "Day", "Hour", "Minute", "Second")}
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/'
            'schema"><s:Body><GetSystemDateAndTimeResponse><tt:SystemDateAndTime><tt:UTCDateTime><tt:Time>'
            f"<tt:Hour>{parts['Hour']}</tt:Hour><tt:Minute>{parts['Minute']}</tt:Minute>"
            f"<tt:Second>{parts['Second']}</tt:Second></tt:Time><tt:Date><tt:Year>{parts['Year']}</tt:Year>"
            f"<tt:Month>{parts['Month']}</tt:Month><tt:Day>{parts['Day']}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tt:SystemDateAndTime></GetSystemDateAndTimeResponse></s:Body></s:Envelope>").encode()


@st.composite
def probematch(draw: st.DrawFn) -> bytes:
    """A ProbeMatches datagram with any endpoint, scopes, XAddrs and MetadataVersion."""
    def field(strategy: st.SearchStrategy[str]) -> str:
        return escape(draw(strategy))
    scopes = " ".join(draw(st.lists(st.one_of(st.text(max_size=30), st.sampled_from([
        "onvif://www.onvif.org/MAC/00-11-22-33-44-55", "onvif://www.onvif.org/name/%E2%9C%93",
        "onvif://www.onvif.org/hardware/", "onvif://www.onvif.org/serial/%zz", "onvif://www.onvif.org/"])),
        max_size=6)))
    xaddrs = " ".join(draw(st.lists(url_text, max_size=4)))
    body = (f"<d:ProbeMatch><a:EndpointReference><a:Address>{field(st.text(max_size=50))}</a:Address>"
            f"</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>{escape(scopes)}</d:Scopes><d:XAddrs>{escape(xaddrs)}</d:XAddrs>"
            f"<d:MetadataVersion>{field(numbers)}</d:MetadataVersion></d:ProbeMatch>")
    wrapper = draw(st.sampled_from(["ProbeMatches", "ResolveMatches", ""]))
    if wrapper:
        body = f"<d:{wrapper}>{body}</d:{wrapper}>"
    text = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/'
            '2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
            f"<a:MessageID>{field(st.text(max_size=40))}</a:MessageID><a:RelatesTo>{field(st.text(max_size=40))}"
            f"</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>")
    return text.encode("utf-8", "surrogatepass")


any_reply = st.one_of(profiles_reply(), clock_reply(), st.binary(max_size=2048), mutated(), envelopes(),
                      envelopes().map(lambda b: b.decode("utf-8")), mutated().flatmap(
                          lambda b: st.sampled_from([b.decode("latin-1"), b.decode("utf-8", "replace")])))

# -- properties -------------------------------------------------------------------------------------


def _parse_all(root: etree._Element) -> None:
    """Run every ONVIF reply parser on one tree; they return defaults, never raise."""
    utc = parse.parse_camera_utc(root)
    assert utc is None or isinstance(utc, dt.datetime)
    ident = parse.parse_device_information(root)
    assert all(isinstance(v, str) for v in vars(ident).values())
    for services in (parse.parse_services(root), parse.parse_capabilities(root)):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in services.items())
    mac = parse.parse_mac(root)
    assert mac is None or isinstance(mac, str)
    assert all(isinstance(s, str) for s in parse.parse_scopes(root))
    assert isinstance(parse.parse_uri(root), str)
    assert all(isinstance(t, str) for t in parse.parse_profile_tokens(root))
    for profile in parse.parse_profiles(root, limit=16):
        assert isinstance(profile, MediaProfile)
        assert isinstance(profile.width, int) and isinstance(profile.height, int)
        # The survey document is JSON: no NaN or infinity may leave the parser.
        for value in (profile.fps_limit, profile.bitrate_kbps):
            assert value is None or (value == value and abs(value) != float("inf"))


def _device_reply(data: bytes | str) -> None:
    """The path of an ONVIF reply: parse, fault check, field parsers."""
    try:
        root = parse_xml(data, target="fuzz")
    except MalformedError as err:
        assert err.detail and "\n" not in err.as_text()
        return
    fault = soap_fault(root)
    if fault is not None:
        err = _fault_error("fuzz", fault)
        assert isinstance(err, ProbeError) and err.as_text()
    _parse_all(root)
    # SoapCaller hands the parsers the first element of the Body, as here.
    body = find_local(root, "Body")
    first = None if body is None else next((el for el in body if isinstance(el.tag, str)), None)
    if first is not None:
        _parse_all(first)
    assert isinstance(text_local(root), str)


def _wsd_reply(data: bytes) -> None:
    """The path of a WS-Discovery datagram: parse, collect, dedup, choose an XAddr."""
    try:
        matches = parse_probe_matches(data, SOURCE)
    except MalformedError:
        matches = []
    for m in matches:
        assert m.endpoint and m.source_ip == SOURCE
        assert len(m.xaddrs) <= 64 and len(m.scopes) <= 64
    collector = DiscoveryCollector(our_message_ids=["uuid:00000000-0000-0000-0000-000000000001"])
    collector.add_datagram(data, SOURCE)
    collector.add_datagram(data, SOURCE)  # duplicate: counted, not parsed again
    assert collector.datagrams == 2 and collector.parsed <= 1
    for device in collector.devices():
        choice = device.choose_xaddr()
        assert choice is None or isinstance(choice, XAddrChoice)
        normalize_endpoint(device.endpoint)
        scope_value(device.scopes, "name")


@FUZZ_MORE
@given(any_reply)
def test_onvif_replies_parse_or_are_malformed(data: bytes | str) -> None:
    _device_reply(data)


@FUZZ
@given(st.one_of(mutated(PROBEMATCHES), probematch(), envelopes(), st.binary(max_size=1024)))
def test_wsdiscovery_datagrams_parse_or_are_malformed(data: bytes) -> None:
    _wsd_reply(data)


@FUZZ
@given(st.lists(url_text, max_size=5), st.sampled_from([None, "198.51.100.7", "127.0.0.5", "::1"]),
       st.sampled_from([None, "203.0.113.9"]))
def test_xaddr_choice_never_raises(xaddrs: list[str], reply_ip: str | None, fallback: str | None) -> None:
    joined = " ".join(xaddrs)
    assert split_xaddrs(joined) == split_xaddrs(split_xaddrs(joined))
    choice = choose_xaddr(joined, reply_ip, fallback_host=fallback)
    if choice is not None:
        assert isinstance(choice.url, str) and all(isinstance(f, str) for f in choice.findings)
    for url in xaddrs:
        repair_url(url)
        url_host(url)
        normalize_uri(url)
        clean = strip_credentials(url)
        if "://admin:s3cr%40t@" in url:  # a password in the userinfo never survives, parsable or not
            assert "s3cr" not in clean, (url, clean)
        if url_host(url) is not None:
            rebase_url(url, "198.51.100.8", 8080)


@FUZZ
@given(st.lists(st.text(max_size=60), max_size=8), st.text(max_size=20))
def test_scope_and_identity_helpers_never_raise(scopes: list[str], key: str) -> None:
    for value in scope_values(scopes, key or "name"):
        assert isinstance(value, str)
    for text in [*scopes, key]:
        normalize_endpoint(text)
        mac = normalize_mac(text)
        assert mac is None or len(mac) == 17
        assert vendor_for_mac(text) is None or isinstance(vendor_for_mac(text), str)


@FUZZ
@given(st.one_of(st.text(max_size=200), st.builds(
    lambda parts: "Digest " + ", ".join(parts),
    st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
        ["realm", "nonce", "qop", "algorithm", "opaque", "stale", "domain", "x"]),
        st.one_of(st.text(max_size=20), st.text(max_size=20).map(lambda t: f'"{t}"'),
                  st.sampled_from(['"auth,auth-int"', "SHA-256", "MD5-sess", "SHA-256-SESS", '""', "auth"]))),
        max_size=7))))
def test_digest_challenges_parse_or_are_refused(header: str) -> None:
    """WWW-Authenticate comes from the device: any value gives a challenge we can answer, or None."""
    challenge = DigestChallenge.parse(header)
    if challenge is not None:
        value = challenge.authorization(Credential("admin", "pw"), "POST", "/onvif/device_service")
        assert value.startswith("Digest ") and "response=" in value
