"""Namespace-agnostic helpers, SOAP faults and the lenient paths of parse_xml."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from sitescout.probes.errors import MalformedError
from sitescout.probes.onvif.soapxml import (
    find_local,
    findall_local,
    iter_local,
    localname,
    parse_xml,
    soap_fault,
    text_local,
)

CAPTURES = Path(__file__).resolve().parents[1] / "infra" / "lab" / "captures"


def _load(rel: str):
    return parse_xml((CAPTURES / rel).read_bytes(), target=rel)


def test_find_local_ignores_prefixes_and_namespaces() -> None:
    root = _load("device_info/hikvision_ds2cd2012i_devinfo.xml")
    resp = find_local(root, "Body", "GetDeviceInformationResponse")
    assert resp is not None and localname(resp) == "GetDeviceInformationResponse"
    assert text_local(resp, "Model") == "DS-2CD2012-I"
    assert text_local(resp, "Nope") == ""
    assert find_local(root, "Body", "Nope", "Model") is None
    assert find_local(None, "Body") is None


def test_findall_and_iter_local() -> None:
    root = _load("profiles/hikvision_ds2cd2012i_media1_profiles.xml")
    profiles = findall_local(root, "Body", "GetProfilesResponse", "Profiles")
    assert len(profiles) >= 2
    assert all(p.get("token") for p in profiles)
    assert len(iter_local(root, "Profiles")) == len(profiles)
    assert findall_local(None, "x") == [] and iter_local(None, "x") == []


def test_text_local_strips_wrapped_values() -> None:
    root = _load("probematch/axis_apg_example_onvifrs.xml")
    assert text_local(root, "Header", "Action") == "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"


def test_soap12_fault_with_subcodes() -> None:
    fault = soap_fault(_load("fault/axis_q6045e_notauthorized.xml"))
    assert fault is not None
    assert fault.code == "SOAP-ENV:Sender"
    assert fault.subcodes == ["ter:NotAuthorized"]
    assert fault.reason == "Sender not authorized"
    assert fault.has_code("NotAuthorized") and fault.has_code("ter:NotAuthorized") and not fault.has_code("NoConfig")


def test_nested_subcodes_and_gsoap_fault_without_subcode() -> None:
    fault = soap_fault(_load("fault/dahua_notimplemented_hammeraj.xml"))
    assert fault is not None and fault.subcodes == ["ter:ActionNotSupported", "ter:NotImplemented"]
    gsoap = soap_fault(_load("fault/generic_ipdh4k8m05_fault.xml"))
    assert gsoap is not None and gsoap.subcodes == [] and "not implemented" in gsoap.reason


def test_soap11_fault() -> None:
    doc = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Client</faultcode><faultstring>Bad request</faultstring></s:Fault></s:Body></s:Envelope>"
    )
    fault = soap_fault(parse_xml(doc))
    assert fault is not None and (fault.soap_version, fault.code, fault.reason) == ("1.1", "s:Client", "Bad request")


def test_no_fault_in_normal_reply() -> None:
    assert soap_fault(_load("device_info/axis_q6045e_devinfo.xml")) is None


def test_bom_and_leading_whitespace() -> None:
    doc = b'<?xml version="1.0" encoding="UTF-8"?><Envelope><Body><x>1</x></Body></Envelope>'
    assert text_local(parse_xml(codecs.BOM_UTF8 + doc), "Body", "x") == "1"
    assert text_local(parse_xml(b"\r\n   " + doc), "Body", "x") == "1"


def test_declared_legacy_encoding_honoured() -> None:
    doc = '<?xml version="1.0" encoding="gb2312"?><Envelope><Body><Name>摄像机</Name></Body></Envelope>'
    assert text_local(parse_xml(doc.encode("gb2312")), "Body", "Name") == "摄像机"


def test_size_limit_is_configurable() -> None:
    with pytest.raises(MalformedError, match="exceeds the 10-byte limit"):
        parse_xml(b"<Envelope/>", max_bytes=10)


def test_deep_nesting_refused() -> None:
    deep = b"<a>" * 5000 + b"</a>" * 5000
    with pytest.raises(MalformedError):
        parse_xml(deep)


def test_error_names_target() -> None:
    with pytest.raises(MalformedError) as err:
        parse_xml(b"<broken", target="198.51.100.9")
    assert err.value.target == "198.51.100.9" and err.value.kind == "malformed"
