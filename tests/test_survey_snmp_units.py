"""The SNMP stage's pure parts: findings from the document, the [snmp] credentials table, the probe's parser."""

from __future__ import annotations

import gettext
import os
from pathlib import Path
from typing import Any

import pytest

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.findings import coded_findings, render_finding
from sitescout.probes.credentials import CredentialsFileError, load_credentials, load_snmp_credentials
from sitescout.probes.snmp.detect import parse_answer, v2c_get, v3_discovery


def _iface(name: str, **kw: Any) -> dict[str, Any]:
    return {"if_index": 1, "name": name, "alias": None, "mac": None, "speed_bps": 1_000_000_000, "admin_up": True,
            "oper_up": True, "in_errors": 0, "out_errors": 0, "uplink": False, "poe": None} | kw


def _doc(**switch: Any) -> dict[str, Any]:
    snmp = {"sys_name": "sw1", "sys_descr": "a switch", "credential": "v2c", "default_communities": [],
            "fdb_entries": 12, "error_kind": None, "error": None, "credentials_tried": 1,
            "poe": {"budget_w": 60, "used_w": 50, "free_w": 10, "threshold_pct": 80},
            "interfaces": [_iface("p1", in_errors=7, out_errors=2), _iface("p2", speed_bps=10_000_000),
                           _iface("p3"), _iface("up1", uplink=True, oper_up=False)]} | switch
    return {"site": "s", "networks": [], "hosts": [
        {"ip": "10.0.0.2", "kind": "host", "snmp": snmp, "open_ports": [], "errors": []},
        {"ip": "10.0.0.10", "kind": "camera", "attached_to": {"device": "10.0.0.2", "port": "p1", "switch": "sw1"}},
        {"ip": "10.0.0.11", "kind": "camera", "attached_to": {"device": "10.0.0.2", "port": "p2", "switch": "sw1"}},
        {"ip": "10.0.0.12", "kind": "camera", "attached_to": {"device": "10.0.0.2", "port": "p3", "switch": "sw1"}},
        {"ip": "10.0.0.13", "kind": "camera", "attached_to": None},
    ]}


def _codes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f.code, f.host) for f in coded_findings(doc)}


def test_port_budget_uplink_and_unknown_camera_findings() -> None:
    codes = _codes(_doc())
    assert ("port_errors", "10.0.0.10") in codes
    assert ("port_speed_low", "10.0.0.11") in codes
    assert ("uplink_down", "10.0.0.2") in codes
    assert ("poe_budget_low", "10.0.0.2") in codes
    assert ("camera_port_unknown", "10.0.0.13") in codes
    assert not {c for c in codes if c[1] == "10.0.0.12"}  # a clean gigabit port says nothing
    assert ("unknown_device", "10.0.0.2") not in codes  # the agent said what it is


def test_no_finding_without_evidence() -> None:
    healthy = _doc(poe={"budget_w": 120, "used_w": 19, "free_w": 101, "threshold_pct": 80}, fdb_entries=0,
                   interfaces=[_iface("p1"), _iface("p2"), _iface("p3"), _iface("up1", uplink=True)])
    codes = {c for c, _h in _codes(healthy)}
    assert not codes & {"poe_budget_low", "uplink_down", "port_errors", "port_speed_low", "camera_port_unknown"}


def test_poe_budget_is_low_when_one_camera_no_longer_fits_or_past_the_threshold() -> None:
    def low(budget: int, used: int, threshold: int | None) -> bool:
        doc = _doc(poe={"budget_w": budget, "used_w": used, "free_w": budget - used, "threshold_pct": threshold})
        return any(f.code == "poe_budget_low" for f in coded_findings(doc))

    assert low(60, 50, 95)  # 10 W free: a class 3 camera (15.4 W) does not fit
    assert low(370, 300, None) and not low(370, 290, None)  # 81 % / 78 % of the budget, default 80 %
    assert low(370, 260, 70) and not low(120, 19, 80)


def test_access_findings_say_why_without_secrets() -> None:
    doc = _doc(credential=None, error_kind="unreachable", error="x", credentials_tried=3,
               default_communities=["public", "private"])
    found = {f.code: f for f in coded_findings(doc)}
    assert found["snmp_no_access"].params == {"tried": 3}
    assert found["snmp_default_community"].params == {"community": "public, private"}
    none = _doc(credential=None, error_kind="auth", credentials_tried=0)
    assert "snmp_no_credentials" in {f.code for f in coded_findings(none)}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_snmp_findings_render_in_both_languages(lang: str) -> None:
    translation = gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[lang])
    doc = _doc(default_communities=["public"], error_kind="malformed", error="OID not increasing")
    texts = {f.code: render_finding(f, translation.gettext, lang) for f in coded_findings(doc)}
    if lang == "vi":
        assert "cổng uplink up1" in texts["uplink_down"][0]
        assert "10 Mbit/s" in texts["port_speed_low"][0] and "community" in texts["snmp_default_community"][0]
        assert "15,4 W" in texts["poe_budget_low"][0]
        assert texts["snmp_error"][0] == "dừng đọc SNMP (trả lời hỏng): OID not increasing"
    else:
        assert texts["port_errors"][0] == "camera port sw1 p1 has 9 input/output errors"
        assert texts["snmp_error"][0] == "SNMP reading stopped (broken answer): OID not increasing"
        assert texts["poe_budget_low"][0].endswith("10 W free of 60 W, one more camera needs up to 15.4 W")
    for text, advice in texts.values():
        assert "{" not in text and advice


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_snmp_table_is_read_in_order_and_a_camera_only_file_is_unchanged(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[credentials]]\nusername = "admin"\npassword = "pw"\n'
                            '[snmp]\nmax_attempts = 2\ncommunities = ["c-one", "c-two"]\n'
                            '[[snmp.v3]]\nusername = "ops"\nauth_key = "auth-key-1"\npriv_key = "priv-key-1"\n'
                            'auth_protocol = "SHA-256"\n')
    creds = load_snmp_credentials(path)
    assert [type(c).__name__ for c in creds.candidates()] == ["V3User", "V2cCommunity"]  # v3 first, capped at 2
    assert creds.v3_users[0].auth_protocol == "SHA-256" and creds.communities[1].community == "c-two"
    assert "c-one" not in repr(creds) and "auth-key-1" not in repr(creds)
    assert [c.username for c in load_credentials(path)] == ["admin"]
    assert load_credentials(_write(tmp_path, '[snmp]\ncommunities = ["x-ro"]\n')) == []
    camera_only = _write(tmp_path, '[[credentials]]\nusername = "a"\npassword = "b"\n')
    assert load_snmp_credentials(camera_only).candidates() == []


@pytest.mark.parametrize("body, message", [
    ('[snmp]\nmax_attempts = 40\n', "'max_attempts' must be an integer from 1 to 5"),
    ('[snmp]\ncommunity = "s3cret-x"\n', "[snmp]: unknown key(s) community"),
    ('[snmp]\ncommunities = "s3cret-x"\n', "'communities' must be a list of non-empty strings"),
    ('[[snmp.v3]]\nusername = "ops"\nauth_key = "s3cret"\n', "'auth_key' must be a string of at least 8 characters"),
    ('[[snmp.v3]]\nusername = "ops"\nauth_key = "s3cret-long"\npriv_protocol = "ROT13"\n', "'priv_protocol' must be"),
])
def test_bad_snmp_tables_are_named_without_their_secrets(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CredentialsFileError) as info:
        load_snmp_credentials(_write(tmp_path, body))
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)


def test_probe_parser_takes_only_clean_answers() -> None:
    assert parse_answer(v3_discovery(77)) == ("v3", 77)
    assert parse_answer(v2c_get("public", 5)) is None  # a request is no GetResponse
    response = bytearray(v2c_get("public", 5))
    response[response.index(0xA0)] = 0xA2
    assert parse_answer(bytes(response)) == ("v2c", 5)
    for size in (0, 1, 2, 5, 40, 400):
        for _ in range(200):
            result = parse_answer(os.urandom(size))  # never raises on garbage
            assert result is None or result[0] in ("v3", "v2c")
    assert parse_answer(b"\x30\x84\xff\xff\xff\xff") is None
