"""The targets file: one invalid file per rule with its exact message (blackbox config/testdata style)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitescout.probes.worker.kinds.link import DEFAULT_LINK, LinkSettings
from sitescout.probes.worker.kinds.onvif import DEFAULT_ONVIF_SETTINGS
from sitescout.probes.worker.kinds.stream import DEFAULT_STREAM_SETTINGS
from sitescout.probes.worker.records import StreamTarget, Target, TargetsError, in_shard, parse_shard
from sitescout.probes.worker.targets import load_targets, parse_targets

DATA = Path(__file__).parent / "testdata" / "targets"

INVALID = {
    "invalid_yaml": "3: invalid YAML: expected ',' or ']', but got '<stream end>'",
    "empty": "1: empty file: expected a mapping with 'targets' (and optional 'defaults', 'sites')",
    "top_not_mapping": "1: top level: must be a mapping, not a list",
    "unknown_top_key": "2: top level: unknown key 'tragets' (expected: defaults, targets, sites)",
    "missing_targets": "1: top level: missing key 'targets'",
    "targets_not_list": "1: targets: must be a list, not a mapping",
    "unknown_kind_section": "2: defaults: unknown key 'ping' (expected: link, stream, onvif, snmp)",
    "unknown_setting": "4: defaults.link: unknown key 'intervl' "
                       "(expected: interval_s, count, echo_interval_s, timeout_s, concurrency)",
    "setting_wrong_type": "3: defaults.link.count: must be an integer, not a string",
    "setting_not_bool": "3: defaults.onvif.allow_plaintext_auth: must be true or false, not a string",
    "setting_out_of_range": "3: defaults.stream.interval_s: must be between 0.1 and 86400, not 0",
    "burst_longer_than_interval": "3: defaults.link: a burst (20 x 0.2 s + 1 s timeout) does not fit in interval_s 2",
    "stream_timeout_below_window": "2: defaults.stream: timeout_s (5) must be at least window_s + 1 (11)",
    "target_not_mapping": "2: targets[1]: must be a mapping, not a string",
    "target_missing_device": "2: targets[1]: missing key 'device'",
    "target_unknown_key": "5: targets[1]: unknown key 'password' "
                          "(expected: site, device, ip, kind, onvif, tcp_port, streams, snmp)",
    "bad_ip": "4: targets[1].ip: '198.51.100.300' is not an IPv4 or IPv6 address",
    "bad_device_kind": "5: targets[1].kind: must be one of camera, host, switch, router, not 'cam'",
    "empty_site": "2: targets[1].site: must not be empty",
    "bad_tcp_port": "5: targets[1].tcp_port: must be between 1 and 65535, not 70000",
    "bad_onvif_url": "5: targets[1].onvif: must be a URL with scheme http, https, not 'ftp://198.51.100.10/onvif'",
    "streams_not_list": "5: targets[1].streams: must be a list, not a string",
    "stream_missing_uri": "6: targets[1].streams[1]: missing key 'uri'",
    "stream_credentials": "6: targets[1].streams[1].uri: must not carry a user or password (use --credentials)",
    # XMEye-style: the password in the query is a credential too (sitescout.device_uris.has_credentials).
    "stream_query_password": "6: targets[1].streams[1].uri: must not carry a user or password (use --credentials)",
    # A mistyped scheme: the message quotes the URI without its password.
    "stream_scheme_with_password": "6: targets[1].streams[1].uri: must be a URL with scheme rtsp, rtsps, http, https, "
                                   "not 'rstp://198.51.100.10/live'",
    "stream_unknown_key": "7: targets[1].streams[1]: unknown key 'fps' "
                          "(expected: uri, profile, expected_fps, expected_width, expected_height)",
    "stream_bad_fps": "7: targets[1].streams[1].expected_fps: must be between 0 and 240, not -1",
    "duplicate_profile": "7: targets[1].streams[2]: duplicate profile 'main' (first at line 6)",
    "duplicate_device": "4: targets[3]: duplicate device 'b' in site 'a' (first at line 2)",
    "duplicate_key": "5: duplicate key 'ip' (first at line 4)",
    "not_utf8": "2: not UTF-8 text",
    "snmp_bad_port": "6: targets[1].snmp.port: must be between 1 and 65535, not 0",
    "snmp_unknown_key": "6: targets[1].snmp: unknown key 'community' (expected: port, uplinks, camera_ports)",
    "snmp_timeout_below_request": "2: defaults.snmp: timeout_s (2) must be at least request_timeout_s + 1.5 (2.5)",
}


def test_every_invalid_file_has_a_test() -> None:
    on_disk = {p.stem for p in DATA.glob("*.yml")} - {"valid", "minimal"}
    assert on_disk == set(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_file_gives_its_exact_message(name: str) -> None:
    path = DATA / f"{name}.yml"
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert str(info.value) == f"{path}:{INVALID[name]}"
    assert info.value.line == int(INVALID[name].split(":")[0])


@pytest.mark.parametrize("name", ["stream_credentials", "stream_query_password", "stream_scheme_with_password"])
def test_password_never_quoted_in_errors(name: str) -> None:
    with pytest.raises(TargetsError) as info:
        load_targets(DATA / f"{name}.yml")
    assert "s3cret-pw" not in str(info.value) and "admin" not in str(info.value)


def test_valid_file_with_every_key() -> None:
    config = load_targets(DATA / "valid.yml")
    cam, switch = config.targets
    assert cam == Target("Thôn Đồng Bùa", "cam-dong-bua-1", "198.51.100.10", "camera",
                         "http://198.51.100.10/onvif/device_service", 554,
                         (StreamTarget("rtsp://198.51.100.10/Streaming/Channels/101", "Profile_1", 25, 1920, 1080),
                          StreamTarget("rtsp://198.51.100.10/Streaming/Channels/102", "stream2")))
    assert cam.line == 7 and switch.kind == "host" and switch.streams == ()
    assert config.defaults.link == LinkSettings(15, 10, 0.2, 1.0)
    assert config.defaults.stream.window_s == 4 and config.defaults.onvif.interval_s == 600
    assert config.defaults.onvif.allow_plaintext_auth is True


def test_defaults_applied_when_absent() -> None:
    config = load_targets(DATA / "minimal.yml")
    assert config.defaults.link is DEFAULT_LINK
    assert config.defaults.stream is DEFAULT_STREAM_SETTINGS and config.defaults.onvif is DEFAULT_ONVIF_SETTINGS
    (t,) = config.targets
    assert (t.kind, t.onvif, t.tcp_port, t.streams) == ("camera", None, None, ())
    # The brief's defaults: link 15 s, stream 60 s, ONVIF 10 min.
    assert (DEFAULT_LINK.interval_s, DEFAULT_STREAM_SETTINGS.interval_s, DEFAULT_ONVIF_SETTINGS.interval_s) == \
        (15.0, 60.0, 600.0)


def test_partial_section_keeps_other_defaults() -> None:
    config = parse_targets("defaults:\n  link: {count: 5}\ntargets: []\n")
    assert config.defaults.link == LinkSettings(count=5)


def test_unreadable_file() -> None:
    with pytest.raises(TargetsError, match=r"^/nonexistent/t.yml:0: cannot read: No such file or directory$"):
        load_targets("/nonexistent/t.yml")


def test_shards_are_stable_disjoint_and_cover_everything() -> None:
    targets = [Target(f"site{i % 7}", f"dev{i}", "198.51.100.1") for i in range(300)]
    owners = [[k for k in (1, 2, 3) if in_shard(t, (k, 3))] for t in targets]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(1 for o in owners if o == [k]) for k in (1, 2, 3)]
    assert min(sizes) > 60, sizes
    # Order in the file does not matter: the same target gets the same shard alone.
    assert [k for k in (1, 2, 3) if in_shard(targets[42], (k, 3))] == owners[42]
    assert parse_shard("2/5") == (2, 5)
    for bad in ("0/2", "3/2", "x", "1-2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_check_config_exit_status_and_message() -> None:
    bad = DATA / "bad_ip.yml"
    cp = subprocess.run([sys.executable, "-m", "sitescout", "worker", "--targets", str(bad), "--check-config"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 2
    assert cp.stderr.strip() == f"{bad}:{INVALID['bad_ip']}"
    good = DATA / "valid.yml"
    cp = subprocess.run([sys.executable, "-m", "sitescout", "worker", "--targets", str(good), "--check-config"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and ": ok, 2 targets" in cp.stdout


def test_sites_give_coordinates_and_are_checked() -> None:
    from sitescout.probes.worker.records import SiteInfo, TargetsError
    from sitescout.probes.worker.targets import parse_targets

    config = parse_targets(
        'sites:\n  "Thôn Đồng Bùa": {latitude: 21.7312, longitude: 105.3128}\n'
        "targets:\n  - {site: Thôn Đồng Bùa, device: cam-1, ip: 198.51.100.10}\n", "t.yml")
    assert config.sites == (SiteInfo("Thôn Đồng Bùa", 21.7312, 105.3128),)
    with pytest.raises(TargetsError) as err:
        parse_targets('sites:\n  "X": {latitude: 91, longitude: 0}\ntargets: []\n', "t.yml")
    assert str(err.value) == "t.yml:2: sites['X'].latitude: must be between -90 and 90, not 91"
    with pytest.raises(TargetsError) as err:
        parse_targets('sites:\n  "X": {latitude: 1}\ntargets: []\n', "t.yml")
    assert "longitude" in str(err.value) and str(err.value).startswith("t.yml:2:")


def test_payload_size_is_not_a_targets_file_key() -> None:
    # LinkSettings is shared with the survey (probes/net/link_quality.py); its payload_size stays out of the file.
    with pytest.raises(TargetsError) as err:
        parse_targets("defaults:\n  link: {payload_size: 100}\ntargets: []\n", "t.yml")
    assert "payload_size" in str(err.value)
