"""A survey with real RTSP streams: every distinct stream checked, faults classified, a snapshot kept."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from sitescout.infra.lab.netns import LabSite
from sitescout.infra.lab.rtsp import gstreamer_available
from sitescout.infra.lab.scenario import SurveyLab, build_survey_lab

pytestmark = [pytest.mark.netns, pytest.mark.gstreamer]

# Personas with modest stream sizes, so three encoders fit on a 2-core machine.
PERSONAS = ["hikvision_ds2cd2012i", "axis_q6045e", "trendnet_tvip320pi", "hikvision_ds2df7276ael"]
BEHAVIOUR = {1: "frozen", 2: "black", 3: "stall"}
PASSWORD = "stream-secret-4411"


@pytest.fixture(scope="module")
def lab_and_doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SurveyLab, dict, str]]:
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns

    skip_unless_netns()
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    tmp = tmp_path_factory.mktemp("streams")
    creds = tmp / "cameras.toml"
    creds.write_text(f'[[credentials]]\nusername = "admin"\npassword = "{PASSWORD}"\n')
    report = tmp / "report.html"
    with LabSite() as site:
        lab = build_survey_lab(site, PERSONAS, rtsp=True, stream_behaviour=BEHAVIOUR,
                               credentials={0: ("admin", PASSWORD)})
        try:
            result = lab.survey("--site", "streams", "--network", "198.51.100.0/24", "--json", "-",
                                "--credentials", str(creds), "--report", str(report), timeout=180)
        finally:
            lab.close()
    assert result.returncode == 0, result.stderr
    yield lab, json.loads(result.stdout), report.read_text() + result.stderr


def _streams(doc: dict, ip: str) -> list[dict]:
    return next(h for h in doc["hosts"] if h["ip"] == ip)["streams"]


def test_every_distinct_stream_checked_once(lab_and_doc: tuple[SurveyLab, dict, str]) -> None:
    lab, doc, _ = lab_and_doc
    for camera in lab.cameras:
        host = next(h for h in doc["hosts"] if h["ip"] == camera.ip)
        uris = {p["stream_uri"] for p in host["onvif"]["profiles"] if p["stream_uri"]}
        assert sorted(s["uri"] for s in host["streams"]) == sorted(uris), camera.persona
        served = sorted(t for s in host["streams"] for t in s["profiles"])
        assert served == sorted(p["token"] for p in host["onvif"]["profiles"] if p["stream_uri"])


def test_healthy_stream_measured_against_its_profile(lab_and_doc: tuple[SurveyLab, dict, str]) -> None:
    lab, doc, _ = lab_and_doc
    (stream,) = _streams(doc, lab.cameras[0].ip)  # protected camera: credentials used at open time
    assert stream["up"] and stream["problems"] == [], stream["error"]
    assert (stream["width"], stream["height"]) == (stream["expected_width"], stream["expected_height"])
    assert stream["fps"] == pytest.approx(stream["expected_fps"], rel=0.15)
    assert stream["bitrate_kbps"] > 50 and stream["sharpness"] > 100
    assert PASSWORD not in stream["uri"]


@pytest.mark.parametrize(("index", "problem"), [(1, "frozen"), (2, "black"), (3, "stalled")])
def test_faulty_streams_classified(lab_and_doc: tuple[SurveyLab, dict, str], index: int, problem: str) -> None:
    lab, doc, _ = lab_and_doc
    (stream,) = _streams(doc, lab.cameras[index].ip)
    assert problem in stream["problems"], stream
    if problem == "stalled":
        assert stream["up"] is False and stream["stalled"] is True


def test_snapshot_kept_and_in_report(lab_and_doc: tuple[SurveyLab, dict, str]) -> None:
    lab, doc, report = lab_and_doc
    for camera in lab.cameras:
        snap = next(h for h in doc["hosts"] if h["ip"] == camera.ip)["snapshot"]
        jpeg = base64.b64decode(snap["jpeg_base64"])
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
        assert snap["size_bytes"] == len(jpeg)
    assert report.count('src="data:image/jpeg;base64,') == len(lab.cameras)
    assert "frozen picture" in report and "black picture" in report and "stream stalled" in report
    assert PASSWORD not in report
