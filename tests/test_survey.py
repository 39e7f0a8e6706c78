"""End to end: `sitescout survey --json -` inside the scanner namespace of a lab site.

The lab has cameras replaying eight personas on the scanner's subnet, one more
behind a router (found only by unicast WS-Discovery), ten plain hosts, a
camera that needs credentials and one whose clock is three days ahead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.personas import load_persona
from sitescout.infra.lab.scenario import ROUTER_IPS, SurveyLab, build_survey_lab

pytestmark = pytest.mark.netns

PERSONAS = [
    "hikvision_ds2cd2012i", "axis_q6045e", "bosch_flexidome5100i", "trendnet_tvip320pi",
    "hikoem_enp1a14", "univiewoem_sunba_perf", "generic_ipdh4k8m05", "xmeye_sunba405",
]
ROUTED = ["hikvision_ds2df7276ael"]
PLAIN = ["switch", "loudspeaker", "router", "nvr", "pc"] * 2
PASSWORD = "Zq-planted-secret-7731"
SKEW_S = 3 * 86400.0


@pytest.fixture(scope="module")
def survey_lab() -> Iterator[SurveyLab]:
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns

    skip_unless_netns()
    with LabSite() as site:
        lab = build_survey_lab(
            site, PERSONAS, PLAIN, routed_personas=ROUTED,
            credentials={0: ("admin", PASSWORD)}, clock_skew_s={1: SKEW_S},
        )
        try:
            yield lab
        finally:
            lab.close()


@pytest.fixture(scope="module")
def survey(survey_lab: SurveyLab, tmp_path_factory: pytest.TempPathFactory) -> dict:
    creds = tmp_path_factory.mktemp("creds") / "cameras.toml"
    creds.write_text(
        '[[credentials]]\nusername = "admin"\npassword = "not-this-one"\n'
        f'[[credentials]]\nusername = "admin"\npassword = "{PASSWORD}"\n'
    )
    report = creds.parent / "report.html"
    result = survey_lab.survey(
        "--site", "lab", "--network", "198.51.100.0/24", "--network", "203.0.113.0/24",
        "--credentials", str(creds), "--json", "-", "--report", str(report),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # nothing but the document on stdout
    doc["_stderr"] = result.stderr
    doc["_report"] = report.read_text()
    return doc


def _hosts(doc: dict) -> dict[str, dict]:
    return {h["ip"]: h for h in doc["hosts"]}


def test_every_host_found_once_with_its_mac(survey_lab: SurveyLab, survey: dict) -> None:
    hosts = _hosts(survey)
    assert len(hosts) == len(survey["hosts"])
    expected = {c.ip for c in survey_lab.cameras} | {p.host.ip for p in survey_lab.plain_hosts}
    expected |= set(ROUTER_IPS)
    assert set(hosts) == expected
    for lab_host in [c.host for c in survey_lab.cameras] + [p.host for p in survey_lab.plain_hosts]:
        assert hosts[lab_host.ip]["mac"] == lab_host.mac, lab_host.ip
    assert survey["networks"] == ["198.51.100.0/24", "203.0.113.0/24"]


def test_every_host_has_a_clean_link(survey: dict) -> None:
    # The lab's veths lose nothing: every echo of every burst comes back, in well under a millisecond.
    for host in survey["hosts"]:
        link = host["link"]
        assert link["method"] == "icmp", host["ip"]
        assert link["sent"] >= 10 and link["received"] == link["sent"], host["ip"]
        assert link["loss_ratio"] == 0.0
        assert 0.0 < link["rtt_min_ms"] <= link["rtt_avg_ms"] <= link["rtt_max_ms"] < 50.0


def test_plain_hosts_have_their_ports_and_are_not_cameras(survey_lab: SurveyLab, survey: dict) -> None:
    hosts = _hosts(survey)
    for plain in survey_lab.plain_hosts:
        record = hosts[plain.host.ip]
        assert record["kind"] == "host"
        assert record["onvif"] is None
        assert record["open_ports"] == sorted(plain.ports), plain.profile


def test_every_camera_identified_as_its_persona(survey_lab: SurveyLab, survey: dict) -> None:
    hosts = _hosts(survey)
    for camera in survey_lab.cameras:
        record = hosts[camera.ip]
        assert record["kind"] == "camera", camera.persona
        onvif = record["onvif"]
        expected = load_persona(camera.persona).expected_identity(ip=camera.ip)
        for key in ("manufacturer", "model", "firmware", "serial", "hardware_id"):
            assert onvif[key] == expected[key], (camera.persona, key)
        assert onvif["endpoint"] == camera.endpoint
        got = [(p["token"], p["name"], p["encoding"], p["width"], p["height"], p["fps_limit"],
                p["bitrate_kbps"], p["stream_uri"], p["snapshot_uri"]) for p in onvif["profiles"]]
        want = [(p["token"], p["name"], p["encoding"], p["width"], p["height"], p["fps_limit"],
                 p["bitrate_kbps"], p["stream_uri"], p["snapshot_uri"]) for p in expected["profiles"]]
        assert got == want, camera.persona


def test_routed_camera_found_by_unicast(survey_lab: SurveyLab, survey: dict) -> None:
    routed = [c for c in survey_lab.cameras if c.ip.startswith("203.0.113.")]
    assert routed
    for camera in routed:
        record = _hosts(survey)[camera.ip]
        assert record["onvif"]["model"] == load_persona(camera.persona).expected_identity()["model"]
        # No ARP across the router: the MAC comes from GetNetworkInterfaces.
        assert record["mac"] == camera.host.mac


def test_credentials_tried_in_order_and_clock_skew_measured(survey_lab: SurveyLab, survey: dict) -> None:
    hosts = _hosts(survey)
    protected, skewed = survey_lab.cameras[0], survey_lab.cameras[1]
    assert hosts[protected.ip]["onvif"]["auth"] == "ok"
    assert hosts[protected.ip]["onvif"]["serial"]
    offset = hosts[skewed.ip]["onvif"]["clock_offset_s"]
    assert abs(offset - SKEW_S) < 2.0
    for camera in survey_lab.cameras[2:]:
        assert abs(hosts[camera.ip]["onvif"]["clock_offset_s"]) < 2.0, camera.persona


def test_password_never_in_any_output(survey: dict) -> None:
    text = json.dumps(survey)
    assert PASSWORD not in text
    assert PASSWORD not in survey["_report"]
    assert "not-this-one" not in text


def test_report_lists_cameras_and_skew_finding(survey_lab: SurveyLab, survey: dict) -> None:
    report = survey["_report"]
    assert "camera clock is off by +3.0 days" in report
    for camera in survey_lab.cameras:
        assert camera.ip in report


def test_summary_table_on_stderr(survey: dict) -> None:
    assert "Survey of lab" in survey["_stderr"]
    assert f"{len(survey['hosts'])} hosts" in survey["_stderr"]
