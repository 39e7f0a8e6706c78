"""Held-out-device quirks, on the real captures (infra/lab/captures/, = shared/fixtures/onvif/).

Axis repeats its maker in the model ("AXIS" + "AXIS Q6045-E") and sends BitrateLimit 0 for "no limit";
unbranded and OEM firmware sends placeholder makers ("H264", "NONE", "ONVIF", "").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from sitescout import console
from sitescout.device_names import maker_and_model
from sitescout.inventory.survey_report import render_survey_html
from sitescout.probes.onvif import parse
from sitescout.probes.onvif.soapxml import find_local, parse_xml

CAPTURES = Path(__file__).resolve().parent.parent / "infra" / "lab" / "captures"


def _reply(rel: str) -> etree._Element:
    """The first element of the capture's SOAP Body, as the SOAP client hands it to the parsers."""
    body = find_local(parse_xml((CAPTURES / rel).read_bytes()), "Body")
    assert body is not None
    return next(el for el in body if isinstance(el.tag, str))


def _axis() -> parse.DeviceIdentity:
    return parse.parse_device_information(_reply("device_info/axis_q6045e_devinfo.xml"))


@pytest.mark.parametrize("maker,model,want", [
    ("AXIS", "AXIS Q6045-E", "AXIS Q6045-E"),
    ("axis", "AXIS  Q6045-E", "AXIS Q6045-E"),  # case and whitespace do not matter
    (" AXIS ", "AXIS", "AXIS"),
    ("AXIS", "M2025-LE", "AXIS M2025-LE"),
    ("AXIS", "AXISQ6045", "AXIS AXISQ6045"),  # a prefix only at a word boundary
    ("HIKVISION", "HIKVISION-DS-2CD", "HIKVISION-DS-2CD"),
    ("", "GX728MF-IR28", "GX728MF-IR28"),
    (None, None, ""),
    ("Bosch", "", "Bosch"),
])
def test_maker_and_model(maker: Any, model: Any, want: str) -> None:
    assert maker_and_model(maker, model) == want


def test_axis_capture_maker_is_not_repeated_in_any_view() -> None:
    ident = _axis()
    assert (ident.manufacturer, ident.model) == ("AXIS", "AXIS Q6045-E")
    assert maker_and_model(ident.manufacturer, ident.model) == "AXIS Q6045-E"
    host = {"ip": "198.51.100.10", "mac": "00:40:8c:00:00:01", "vendor": "Axis Communications AB",
            "open_ports": [80], "kind": "camera", "link": None, "streams": [], "errors": [],
            "onvif": {"endpoint": "urn:uuid:1", "manufacturer": ident.manufacturer, "model": ident.model,
                      "firmware": ident.firmware, "serial": ident.serial, "auth": "ok", "profiles": [],
                      "findings": []}}
    assert console._identity(host) == "AXIS Q6045-E"
    doc = {"site": "s", "started_at": "2026-11-29T10:00:00+00:00", "finished_at": "2026-11-29T10:01:00+00:00",
           "networks": ["198.51.100.0/24"], "hosts": [host]}
    html = render_survey_html(doc)
    assert "AXIS Q6045-E" in html and "AXIS AXIS" not in html


@pytest.mark.parametrize("capture,raw", [
    ("xmeye_sunba405_devinfo.xml", "H264"),
    ("univiewoem_gx728mf_devinfo.xml", "NONE"),
    ("hikoem_enp1a14_devinfo.xml", "ONVIF"),
    ("generic_ipdh4k8m05_devinfo.xml", ""),
])
def test_placeholder_makers_are_no_maker(capture: str, raw: str) -> None:
    reply = _reply(f"device_info/{capture}")
    assert find_local(reply, "Manufacturer") is not None and (find_local(reply, "Manufacturer").text or "") == raw
    ident = parse.parse_device_information(reply)
    assert ident.manufacturer == "" and ident.model
    # The MAC vendor stands in where a view falls back to it.
    host = {"ip": "198.51.100.10", "vendor": "OUI Vendor", "onvif": {"manufacturer": ident.manufacturer,
                                                                      "model": ident.model}}
    assert console._identity(host) == f"OUI Vendor {ident.model}"


@pytest.mark.parametrize("capture", ["axis_q6045e_devinfo.xml", "bosch_flexidome5100i_devinfo.xml",
                                     "hikvision_ds2cd2012i_devinfo.xml", "trendnet_tvip320pi_devinfo.xml"])
def test_real_makers_are_kept(capture: str) -> None:
    assert parse.parse_device_information(_reply(f"device_info/{capture}")).manufacturer


def test_axis_bitrate_limit_zero_is_unknown() -> None:
    reply = _reply("profiles/axis_q6045e_media1_profiles.xml")
    limits = [el.text for el in reply.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "BitrateLimit"]
    assert limits and set(limits) == {"0"}
    profiles = parse.parse_profiles(reply, limit=16)
    assert profiles and all(p.bitrate_kbps is None for p in profiles)


def test_positive_bitrate_limit_is_kept() -> None:
    profiles = parse.parse_profiles(_reply("profiles/hikvision_ds2cd2012i_media1_profiles.xml"), limit=16)
    assert profiles[0].bitrate_kbps == 2048


def test_site_pages_join_with_the_same_function(app: Any) -> None:
    page = app.jinja_env.from_string("{{ maker_and_model(maker or vendor, model) }}")
    assert page.render(maker="AXIS", vendor=None, model="AXIS Q6045-E") == "AXIS Q6045-E"
    assert page.render(maker=None, vendor="Axis Communications AB", model="Q6045-E") == "Axis Communications AB Q6045-E"
