"""Per-network SNMP credentials (``[[snmp.scope]]``, docs/snmp.md "Credentials"), without the lab.

Real TOML files through the real loader, the request's dict form, the worker's snmp kind (a real child
process on loopback, nothing listening); the lab test is tests/test_snmp_credentials_lab.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from pathlib import Path

import pytest

from sitescout.probes.credentials import CredentialsFileError, load_snmp_credentials
from sitescout.probes.snmp.__main__ import credentials_from_dict
from sitescout.probes.snmp.client import SnmpCredentials, SnmpScope, V2cCommunity, V3User
from sitescout.probes.worker.jobs import ProbeContext, ProbeJob
from sitescout.probes.worker.kinds.snmp import SnmpSettings, probe_snmp
from sitescout.probes.worker.records import SnmpTarget, Target

SECRET = "g1obal-Secret-17"
VILLAGE = "vi11age-Secret-42"
HAMLET = "haml3t-Secret-07"
KEY = "scope-auth-Key-993"

FILE = f"""
[snmp]
max_attempts = 5
communities = ["{SECRET}"]

[[snmp.v3]]
username = "noc"
auth_key = "global-auth-key-1"
priv_key = "global-priv-key-1"

[[snmp.scope]]
network = "198.51.100.0/24"
communities = ["{VILLAGE}", "{SECRET}"]

[[snmp.scope]]
network = "198.51.100.0/26"
communities = ["{HAMLET}"]

[[snmp.scope.v3]]
username = "hamlet"
auth_key = "{KEY}"
auth_protocol = "SHA-256"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _labels(creds: SnmpCredentials) -> list[str]:
    return [c.username if isinstance(c, V3User) else c.community for c in creds.candidates()]


def test_a_device_gets_its_scopes_most_specific_first_then_the_global_ones(tmp_path: Path) -> None:
    creds = load_snmp_credentials(_write(tmp_path, FILE))
    assert [str(s.network) for s in creds.scopes] == ["198.51.100.0/24", "198.51.100.0/26"]
    # In the /26 and the /24: v3 users (scoped, then global), then communities (/26, /24, global), each once.
    assert _labels(creds.for_device("198.51.100.3")) == ["hamlet", "noc", HAMLET, VILLAGE, SECRET]
    assert creds.for_device("198.51.100.3").v3_users[0].auth_protocol == "SHA-256"
    assert _labels(creds.for_device("198.51.100.200")) == ["noc", VILLAGE, SECRET]  # the /24 only
    assert _labels(creds.for_device("203.0.113.5")) == ["noc", SECRET]  # no scope: the global ones
    assert _labels(creds.for_device("2001:db8::1")) == ["noc", SECRET]  # another address family
    assert _labels(creds.for_device("not-an-address")) == ["noc", SECRET]
    assert creds.for_device("198.51.100.3").scopes == ()


def test_max_attempts_caps_the_whole_list_scopes_included(tmp_path: Path) -> None:
    creds = load_snmp_credentials(_write(tmp_path, FILE.replace("max_attempts = 5", "max_attempts = 2")))
    assert _labels(creds.for_device("198.51.100.3")) == ["hamlet", "noc"]
    assert _labels(creds.for_device("203.0.113.5")) == ["noc", SECRET]


def test_scopes_only_mean_no_credentials_outside_them(tmp_path: Path) -> None:
    creds = load_snmp_credentials(_write(tmp_path, f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\n'
                                                   f'communities = ["{VILLAGE}"]\n'))
    assert creds.candidates() == [] and creds.for_device("203.0.113.5").candidates() == []
    assert _labels(creds.for_device("198.51.100.9")) == [VILLAGE]


def test_no_scope_secret_in_a_repr(tmp_path: Path) -> None:
    creds = load_snmp_credentials(_write(tmp_path, FILE))
    for text in (repr(creds), repr(creds.for_device("198.51.100.3")), str(creds.scopes)):
        assert not any(s in text for s in (SECRET, VILLAGE, HAMLET, KEY)), text


def test_the_request_form_reads_the_same_scopes() -> None:
    data = {"communities": [SECRET], "max_attempts": 4,
            "scope": [{"network": "198.51.100.0/24", "communities": [VILLAGE],
                       "v3": [{"username": "hamlet", "auth_key": KEY}]}]}
    creds = credentials_from_dict(data)
    assert creds.scopes == (SnmpScope(ipaddress.ip_network("198.51.100.0/24"), (V3User("hamlet", KEY),),
                                      (V2cCommunity(VILLAGE),)),)
    assert _labels(creds.for_device("198.51.100.7")) == ["hamlet", VILLAGE, SECRET]


@pytest.mark.parametrize("body, message", [
    ('[snmp]\nscope = "198.51.100.0/24"\n', "[snmp]: 'scope' must be an array of tables ([[snmp.scope]])"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\ncommunity = "{SECRET}"\n',
     "[[snmp.scope]] entry 1: unknown key(s) community"),
    (f'[[snmp.scope]]\ncommunities = ["{SECRET}"]\n', "[[snmp.scope]] entry 1: 'network' must be a network address"),
    (f'[[snmp.scope]]\nnetwork = "{SECRET}"\ncommunities = ["x-ro"]\n', "entry 1: 'network' must be a network"),
    ('[[snmp.scope]]\nnetwork = "198.51.100.7/24"\ncommunities = ["x-ro"]\n', "(no host bits set)"),
    ('[[snmp.scope]]\nnetwork = "198.51.100.0/24"\n', "entry 1: gives no credentials"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\ncommunities = "{SECRET}"\n',
     "[[snmp.scope]] entry 1: 'communities' must be a list of non-empty strings"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\n[[snmp.scope.v3]]\nusername = "ops"\nauth_key = "{SECRET[:6]}"\n',
     "[[snmp.scope]] entry 1, [[snmp.scope.v3]] entry 1 (username 'ops'): 'auth_key' must be a string of at least"),
    ('[[snmp.scope]]\nnetwork = "198.51.100.0/24"\ncommunities = ["a-ro"]\n'
     '[[snmp.scope]]\nnetwork = "198.51.100.0/24"\ncommunities = ["b-ro"]\n', "two entries have the same 'network'"),
    (f'[[snmp.scope]]\nnetwork = "198.51.100.0/24"\ncommunities = ["x-ro"]\n[[snmp.v3]]\nusername = "o"\n'
     f'auth_key = "{SECRET}"\npriv_protocol = "ROT13"\n', "[[snmp.v3]] entry 1: 'priv_protocol' must be one of"),
])
def test_scope_errors_name_the_key_never_the_value(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CredentialsFileError) as info:
        load_snmp_credentials(_write(tmp_path, body))
    assert message in str(info.value)
    assert SECRET not in str(info.value) and SECRET[:6] not in str(info.value)


def _job(ip: str = "127.0.0.1") -> ProbeJob:
    return ProbeJob("snmp", Target("A", "sw1", ip, "switch", snmp=SnmpTarget(9)))


def test_the_worker_sends_a_scope_only_to_devices_of_its_network() -> None:
    scoped = SnmpCredentials(scopes=(SnmpScope(ipaddress.ip_network("198.51.100.0/24"), (),
                                               (V2cCommunity(VILLAGE),)),))
    started = time.monotonic()
    [result] = asyncio.run(probe_snmp([_job()], SnmpSettings(), ProbeContext(snmp_credentials=scoped)))
    assert (result.up, result.reason) == (False, "auth")  # 127.0.0.1 is in no scope: nothing is sent
    assert time.monotonic() - started < 0.1  # no collection process was started
    loopback = SnmpCredentials(scopes=(SnmpScope(ipaddress.ip_network("127.0.0.0/8"), (), (V2cCommunity(VILLAGE),)),))
    settings = SnmpSettings(timeout_s=3.0, request_timeout_s=0.3)
    [result] = asyncio.run(probe_snmp([_job()], settings, ProbeContext(snmp_credentials=loopback)))
    assert (result.up, result.reason) == (False, "unreachable")  # its scope's community was tried; nobody listens
    assert VILLAGE not in (result.detail or "")
