"""Every persona loads, its expected identity is complete, and every reply it serves parses."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from sitescout.infra.lab.personas import PERSONAS, load_persona, parse_xml, rewrite_urls

# Captures the persona layer may serve although they are not namespace-well-formed (none today).
NOT_WELL_FORMED: frozenset[str] = frozenset()
IP, ONVIF_PORT, RTSP_PORT = "198.51.100.23", 8080, 8554
ALL_ACTIONS = (
    "GetSystemDateAndTime", "GetDeviceInformation", "GetCapabilities", "GetServices",
    "GetNetworkInterfaces", "GetScopes", "GetProfiles", "GetStreamUri", "GetSnapshotUri",
    "Media2.GetProfiles", "Media2.GetStreamUri", "Media2.GetSnapshotUri", "GetStorageConfigurations",
)


def test_at_least_eight_personas() -> None:
    assert len(PERSONAS) >= 8
    assert len(set(PERSONAS)) == len(PERSONAS)


@pytest.mark.parametrize("name", PERSONAS)
def test_expected_identity_complete(name: str) -> None:
    ident = load_persona(name).expected_identity()
    for key in ("model", "firmware", "serial", "hardware_id"):
        assert ident[key], f"{name}: {key} empty"
    if name == "generic_ipdh4k8m05":
        assert ident["manufacturer"] == ""  # the capture's Manufacturer element is empty
    elif name in ("hikoem_enp1a14", "univiewoem_gx728mf", "xmeye_sunba405"):
        assert ident["manufacturer"] == ""  # placeholders "ONVIF", "NONE", "H264" name no maker
    else:
        assert ident["manufacturer"]
    for prof in ident["profiles"]:
        assert prof["token"] and prof["encoding"] in ("H264", "H265", "JPEG", "MPEG4")
        assert prof["width"] > 0 and prof["height"] > 0
    assert all(p.startswith("/") for p in ident["stream_paths"] + ident["snapshot_paths"])


@pytest.mark.parametrize("name", PERSONAS)
def test_every_reply_parses_and_points_at_the_lab(name: str) -> None:
    persona = load_persona(name)
    for action in ALL_ACTIONS:
        resp = persona.response(action, ip=IP, onvif_port=ONVIF_PORT, rtsp_port=RTSP_PORT)
        key = f"{name}:{action}"
        if key in NOT_WELL_FORMED:
            continue
        root = parse_xml(resp.body)
        body = next(el for el in root.iter() if etree.QName(el).localname == "Body")
        first = body[0]
        if resp.status == 200:
            assert etree.QName(first).localname == action.split(".")[-1] + "Response", key
        else:
            assert etree.QName(first).localname == "Fault", key
            assert resp.status in (400, 500)
        urls = re.findall(rb"(?:https?|rtsp)://(?:192\.168|10\.10|162\.191)\.", resp.body)
        assert not urls, key


@pytest.mark.parametrize("name", PERSONAS)
def test_missing_actions_are_declared_faults(name: str) -> None:
    persona = load_persona(name)
    for action in persona.missing:
        assert not persona.has(action)
        resp = persona.response(action, ip=IP, onvif_port=80, rtsp_port=554)
        assert resp.status == 500 and b"Fault" in resp.body and not resp.captured


def test_axis_getservices_is_the_captured_fault() -> None:
    resp = load_persona("axis_q6045e").response("GetServices", ip=IP, onvif_port=80, rtsp_port=554)
    assert resp.status == 500 and resp.captured and b"Action failed" in resp.body


def test_expected_identity_values_from_captures() -> None:
    ident = load_persona("hikvision_ds2cd2012i").expected_identity(ip=IP, onvif_port=8080, rtsp_port=8554)
    assert (ident["manufacturer"], ident["model"], ident["mac"]) == ("HIKVISION", "DS-2CD2012-I", "c0:56:e3:f9:55:68")
    main = ident["profiles"][0]
    assert (main["token"], main["width"], main["height"], main["fps_limit"], main["bitrate_kbps"]) == (
        "Profile_1", 1280, 720, 10.0, 2048)
    assert main["stream_uri"] == f"rtsp://{IP}:8554/Streaming/Channels/2?transportmode=unicast&profile=Profile_2"
    assert main["snapshot_uri"] == f"http://{IP}:8080/onvif-http/snapshot"
    assert load_persona("hikvision_ds2cd2012i").stream_paths() == ["/Streaming/Channels/2"]


def test_rewrite_keeps_paths_and_link_local() -> None:
    data = (b"<a>rtsp://10.0.0.1/x?a=1&amp;b=2</a><b>http://192.168.1.127:85/images/s.jpg</b>"
            b"<c>http://169.254.3.4/onvif/device_service</c><d>https://10.0.0.1/onvif</d>"
            b'<e xmlns:tt="http://www.onvif.org/ver10/schema"/>')
    out = rewrite_urls(data, IP, 80, 554)
    assert out == (f"<a>rtsp://{IP}/x?a=1&amp;b=2</a><b>http://{IP}:80/images/s.jpg</b>"
                   "<c>http://169.254.3.4/onvif/device_service</c>"
                   f'<d>https://{IP}/onvif</d><e xmlns:tt="http://www.onvif.org/ver10/schema"/>').encode()


def test_unknown_persona() -> None:
    with pytest.raises(KeyError):
        load_persona("nope")
