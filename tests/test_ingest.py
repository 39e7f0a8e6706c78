"""Survey ingestion: matching order, findings instead of overwrites, candidates, idempotence, one transaction."""

from __future__ import annotations

import base64
import copy

import pytest
from sqlalchemy import func, select

from sitescout.inventory import ingest, store
from sitescout.inventory.ingest import SurveyError
from sitescout.inventory.models import (
    Candidate,
    CameraDetails,
    Commune,
    Device,
    Finding,
    Observation,
    Region,
    Site,
    Survey,
    SurveySnapshot,
)
from sitescout.probes.models import (
    HostRecord,
    LinkStats,
    MediaProfile,
    OnvifInfo,
    Snapshot,
    StreamCheck,
    SurveyDocument,
)

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"


def _link() -> LinkStats:
    return LinkStats(
        sent=20, received=20, loss_ratio=0.0, rtt_min_ms=0.1, rtt_avg_ms=0.2, rtt_max_ms=0.4, jitter_ms=0.05
    )


def _document() -> dict:
    """A survey as `sitescout survey --json` writes it (built from probes.models)."""
    cam_a = HostRecord(
        ip="127.0.0.21", mac="00:11:22:33:44:01", kind="camera", open_ports=[80, 554], link=_link(),
        onvif=OnvifInfo(endpoint="urn:uuid:cam-a", manufacturer="Acme", model="IPC-1", firmware="2.0",
                        serial="A1", profiles=[MediaProfile("p0", "main", "H264", 1920, 1080,
                                                            stream_uri="rtsp://127.0.0.21/main")]),
        streams=[StreamCheck(uri="rtsp://127.0.0.21/main", profile="p0", up=True, fps=25.0, frozen=True,
                             problems=["frozen"])],
        snapshot=Snapshot(source="http", uri="http://127.0.0.21/snap.jpg", width=1920, height=1080,
                          size_bytes=len(JPEG), jpeg_base64=base64.b64encode(JPEG).decode()),
    )
    cam_b = HostRecord(ip="127.0.0.22", mac="00:11:22:33:44:02", kind="camera", link=_link(),
                       onvif=OnvifInfo(endpoint="urn:uuid:cam-b", manufacturer="Acme", model="IPC-1", serial="B1"))
    cam_c = HostRecord(ip="127.0.0.23", kind="camera", link=_link(),
                       onvif=OnvifInfo(endpoint="urn:uuid:new", manufacturer="Acme", model="IPC-2", serial="C1"))
    switch = HostRecord(ip="127.0.0.2", mac="00:11:22:33:44:09", kind="host", link=_link())
    stranger = HostRecord(ip="127.0.0.30", mac="00:11:22:33:44:30", vendor="Unknown Corp", link=_link())
    return SurveyDocument(site="thon dong bua", started_at="2025-03-01T08:00:00+07:00",
                          finished_at="2025-03-01T08:02:00+07:00", networks=["127.0.0.0/27"],
                          hosts=[cam_a, cam_b, cam_c, switch, stranger]).to_dict()


def _seed(session) -> dict[str, int]:
    region = Region(name="Tuyên Quang")
    site = Site(name="Thôn Đồng Bùa", commune=Commune(name="Hướng Đạo", region=region))
    # cam A: matched by endpoint although its IP moved and firmware changed.
    a = Device(name="cam A", kind="camera", ip="127.0.0.11", onvif_endpoint="urn:uuid:cam-a", firmware="1.0",
               mac="00:11:22:33:44:01", manufacturer="Acme", model="IPC-1", serial="A1")
    a.camera = CameraDetails(stream_uris=["rtsp://127.0.0.11/main"])
    # cam B: no endpoint in the inventory, matched by MAC.
    b = Device(name="cam B", kind="camera", ip="127.0.0.22", mac="00:11:22:33:44:02")
    # cam C: matched by serial only (the inventory had a wrong IP).
    c = Device(name="cam C", kind="camera", ip="127.0.0.13", manufacturer="Acme", serial="C1")
    sw = Device(name="switch", kind="switch", ip="127.0.0.2")
    gone = Device(name="loudspeaker", kind="loudspeaker", ip="127.0.0.20")
    planned = Device(name="future cam", kind="camera", ip="127.0.0.25", status="planned")
    site.devices.extend([a, b, c, sw, gone, planned])
    session.add(region)
    session.flush()
    return {d.name: d.id for d in site.devices} | {"site": site.id}


def test_matching_findings_and_candidates(database) -> None:
    with database.session() as s:
        ids = _seed(s)
    with database.session() as s:
        result = store.ingest_survey(s, _document())
    assert result.duplicate is False
    assert result.matched == {"127.0.0.21": ids["cam A"], "127.0.0.22": ids["cam B"],
                              "127.0.0.23": ids["cam C"], "127.0.0.2": ids["switch"]}
    assert result.match_keys == {"127.0.0.21": "onvif_endpoint", "127.0.0.22": "mac",
                                 "127.0.0.23": "serial", "127.0.0.2": "ip"}
    kinds = {(f.kind, f.device_id) for f in result.findings}
    assert ("moved_ip", ids["cam A"]) in kinds and ("new_firmware", ids["cam A"]) in kinds
    assert ("new_identity", ids["cam B"]) in kinds  # its endpoint, reported not written
    assert ("moved_ip", ids["cam C"]) in kinds
    assert ("missing_device", ids["loudspeaker"]) in kinds
    assert all(f.device_id != ids["future cam"] for f in result.findings)  # planned: not expected yet
    assert [c.ip for c in result.candidates] == ["127.0.0.30"]
    assert any(f.kind == "unknown_device" and f.observed_value == "127.0.0.30" for f in result.findings)
    moved = next(f for f in result.findings if f.kind == "moved_ip" and f.device_id == ids["cam A"])
    assert (moved.inventory_value, moved.observed_value) == ("127.0.0.11", "127.0.0.21")
    with database.session() as s:
        a = s.get(Device, ids["cam A"])
        assert (a.ip, a.firmware) == ("127.0.0.11", "1.0")  # never silently overwritten
        assert s.get(Device, ids["cam B"]).onvif_endpoint is None
        detail = store.get_site(s, ids["site"])
        assert detail.site.health == "problem"  # frozen stream on cam A, loudspeaker missing
        health = {d.name: d.health for d in detail.devices}
        assert health["cam A"] == "problem" and health["loudspeaker"] == "problem" and health["cam B"] == "ok"
        assert health["future cam"] == "unknown"
        snap_id = detail.snapshot_ids[ids["cam A"]]
        assert store.get_snapshot(s, snap_id) == JPEG
        assert store.get_survey_document(s, result.survey_id) == _document()
        assert [x.id for x in store.list_sites(s, problems_only=True)] == [ids["site"]]
        from sitescout.inventory.candidates import apply_finding

        apply_finding(s, moved.id)
    with database.session() as s:
        assert s.get(Device, ids["cam A"]).ip == "127.0.0.21"


def test_same_survey_twice_creates_no_duplicates(database) -> None:
    with database.session() as s:
        _seed(s)
    with database.session() as s:
        first = store.ingest_survey(s, _document())
    with database.session() as s:
        second = store.ingest_survey(s, copy.deepcopy(_document()))
    assert second.duplicate is True and second.survey_id == first.survey_id
    assert [f.id for f in second.findings] == [f.id for f in first.findings]
    with database.session() as s:
        counts = [
            s.scalar(select(func.count()).select_from(t))
            for t in (Survey, Finding, Candidate, Observation, SurveySnapshot)
        ]
    assert counts == [1, len(first.findings), 1, first.observations, 1]
    later = _document()
    later["started_at"] = "2025-03-02T08:00:00+07:00"
    with database.session() as s:
        third = store.ingest_survey(s, later)
    assert third.duplicate is False and third.survey_id != first.survey_id


def test_accept_and_reject_candidates(database) -> None:
    with database.session() as s:
        ids = _seed(s)
    with database.session() as s:
        result = store.ingest_survey(s, _document())
    cand = result.candidates[0]
    with database.session() as s:
        store.reject_candidate(s, cand.id)
    later = _document()
    later["started_at"] = "2025-03-02T08:00:00+07:00"
    with database.session() as s:
        again = store.ingest_survey(s, later)
    assert [c.state for c in again.candidates] == ["rejected"]  # not asked again
    assert not any(f.kind == "unknown_device" for f in again.findings)
    third = _document()
    third["started_at"] = "2025-03-03T08:00:00+07:00"
    third["hosts"][4]["mac"] = "00:11:22:33:44:31"
    third["hosts"][4]["ip"] = "127.0.0.31"
    with database.session() as s:
        res = store.ingest_survey(s, third)
        pending = [c for c in res.candidates if c.state == "pending"]
        device_id = store.accept_candidate(s, pending[0].id, name="new switch", kind="switch")
    with database.session() as s:
        d = s.get(Device, device_id)
        assert (d.site_id, d.ip, d.mac, d.kind) == (ids["site"], "127.0.0.31", "00:11:22:33:44:31", "switch")
        assert store.list_candidates(s, site_id=ids["site"]) == []
        with pytest.raises(ValueError, match="already accepted"):
            store.accept_candidate(s, pending[0].id)


def test_ingestion_is_one_transaction(database, monkeypatch) -> None:
    with database.session() as s:
        _seed(s)
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # after observations, findings and a candidate were added
            raise RuntimeError("power cut")
        return None

    monkeypatch.setattr(ingest, "_snapshot", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        with database.session() as s:
            store.ingest_survey(s, _document())
    with database.session() as s:
        for table in (Survey, Finding, Candidate, Observation, SurveySnapshot):
            assert s.scalar(select(func.count()).select_from(table)) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(started_at="yesterday"), "started_at: 'yesterday' is not an ISO 8601 time"),
        (lambda d: d.update(site="Nowhere"), "no site named 'Nowhere' in the inventory"),
        (lambda d: d["hosts"][0].update(ip="127.0.0.300"), r"hosts\[0\].ip"),
        (lambda d: d["hosts"][1].update(ip="127.0.0.21"), "appears twice"),
        (lambda d: d["hosts"][0]["snapshot"].update(jpeg_base64="@@@"), "not valid base64"),
        (lambda d: d.update(hosts="none"), "hosts: must be a list"),
        # found by tests/test_fuzz_inventory.py: each was an uncaught TypeError/AttributeError or a DB error
        (lambda d: d["hosts"][0]["onvif"].update(endpoint=["urn:x"]), r"hosts\[0\].onvif.endpoint: must be text"),
        (lambda d: d["hosts"][0]["onvif"].update(manufacturer={"a": 1}), r"onvif.manufacturer: must be text"),
        (lambda d: d["hosts"][0].update(mac=["00:11:22:33:44:01"]), r"hosts\[0\].mac: must be text"),
        (lambda d: d["hosts"][0].update(link=[1]), r"hosts\[0\].link: must be an object"),
        (lambda d: d["hosts"][0]["streams"].append(7), r"hosts\[0\].streams\[1\]: must be an object"),
        (lambda d: d["hosts"][0]["link"].update(jitter_ms=float("nan")), "link.jitter_ms: nan is not a finite"),
        (lambda d: d["hosts"][0]["onvif"].update(firmware="x" * 201), "longer than 200 characters"),
        (lambda d: d["hosts"][0].update(vendor="a\x00b"), "NUL character"),
        (lambda d: d.update(networks="10.0.0.0/8"), "networks: must be a list"),
        (lambda d: d.update(finished_at="0001-01-01T00:00:00+07:00"), "finished_at: .* is out of range"),
        (lambda d: d["hosts"][0].update(extra=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
         "nested more than 32 levels"),
    ],
)
def test_bad_documents_are_refused_and_store_nothing(database, change, message) -> None:
    with database.session() as s:
        _seed(s)
    doc = _document()
    change(doc)
    with pytest.raises(SurveyError, match=message):
        with database.session() as s:
            store.ingest_survey(s, doc)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Survey)) == 0


def test_uris_are_bound_to_their_host_and_lose_userinfo(database) -> None:
    """A survey naming another host for a camera's URIs: re-based onto the camera, with code+parameter findings."""
    with database.session() as s:
        ids = _seed(s)
    doc = _document()
    stranger = doc["hosts"][4]
    stranger["kind"] = "camera"
    stranger["onvif"] = {"endpoint": "http://203.0.113.9:8080/onvif/device_service",
                         "xaddrs": ["http://203.0.113.9:8080/onvif/device_service",
                                    "http://127.0.0.30:8080/onvif/device_service"],
                         "services": {"media": "http://203.0.113.9:8080/onvif/media"},
                         "profiles": [{"token": "p", "stream_uri": "rtsp://admin:Pw-9@203.0.113.9:8554/p",
                                       "snapshot_uri": "ftp://127.0.0.30/snap"}]}
    doc["hosts"][0]["snapshot"]["uri"] = "http://203.0.113.9/snap.jpg"
    stranger["streams"] = [{"uri": "rtsp://admin:Pw-9@203.0.113.9:8554/p", "profile": "p", "up": False,
                            "error": "unreachable: rtsp://admin:Pw-9@203.0.113.9:8554/p"}]
    with database.session() as s:
        result = store.ingest_survey(s, doc)
        stored = store.get_survey_document(s, result.survey_id)
        (candidate,) = [c for c in result.candidates if c.ip == "127.0.0.30"]
        device_id = store.accept_candidate(s, candidate.id)
    assert "Pw-9" not in repr(stored) and "Pw-9" not in repr(result)
    host = stored["hosts"][4]
    assert host["onvif"]["endpoint"] == "http://127.0.0.30:8080/onvif/device_service"
    # The XAddr on B re-bases onto the one the camera advertised on its own address: kept once, no finding.
    assert host["onvif"]["xaddrs"] == ["http://127.0.0.30:8080/onvif/device_service"]
    assert host["onvif"]["services"] == {"media": "http://127.0.0.30:8080/onvif/media"}
    assert host["onvif"]["profiles"][0]["stream_uri"] == "rtsp://127.0.0.30:8554/p"
    assert host["onvif"]["profiles"][0]["snapshot_uri"] is None
    assert host["streams"][0] == {"uri": "rtsp://127.0.0.30:8554/p", "profile": "p", "up": False,
                                  "error": "unreachable: rtsp://203.0.113.9:8554/p"}
    found = {(f.kind, f.field, f.observed_value, f.inventory_value, f.candidate_id) for f in result.findings
             if f.kind.startswith("uri_") and f.device_id is None}
    cid = candidate.id
    assert found == {("uri_rebased", "endpoint", "203.0.113.9", "127.0.0.30", cid),
                     ("uri_rebased", "service", "203.0.113.9", "127.0.0.30", cid),
                     ("uri_rebased", "stream_uri", "203.0.113.9", "127.0.0.30", cid),
                     ("uri_userinfo_removed", "stream_uri", None, "127.0.0.30", cid),
                     ("uri_refused", "snapshot_uri", "scheme", "127.0.0.30", cid),
                     ("uri_rebased", "stream", "203.0.113.9", "127.0.0.30", cid),
                     ("uri_userinfo_removed", "stream", None, "127.0.0.30", cid),
                     ("uri_userinfo_removed", "text", "1", None, None)}
    with database.session() as s:
        device = s.get(Device, device_id)
        assert device.onvif_endpoint == "http://127.0.0.30:8080/onvif/device_service"
        assert device.camera.stream_uris == ["rtsp://127.0.0.30:8554/p"]
    # A matched device gets the same, the finding on the device.
    assert any(f.kind == "uri_rebased" and f.field == "snapshot" and f.device_id == ids["cam A"]
               for f in result.findings)
    assert stored["hosts"][0]["snapshot"]["uri"] == "http://127.0.0.21/snap.jpg"


def test_password_parameters_in_a_surveys_uris_are_redacted_before_the_inventory_keeps_them(database) -> None:
    """A survey from another tool (or an old sitescout) naming an XMEye snapshot URI with its password in the query."""
    with database.session() as s:
        _seed(s)
    doc = _document()
    stranger = doc["hosts"][4]
    stranger["kind"] = "camera"
    stranger["onvif"] = {"endpoint": "http://127.0.0.30:8899/onvif/device_service",
                         "profiles": [{"token": "p",
                                       "stream_uri": "rtsp://127.0.0.30:554/user=admin_password=Pw-9_channel=1.sdp",
                                       "snapshot_uri": "http://127.0.0.30/webcapture.jpg?user=admin&password=Pw-9"}]}
    with database.session() as s:
        result = store.ingest_survey(s, doc)
        stored = store.get_survey_document(s, result.survey_id)
        (candidate,) = [c for c in result.candidates if c.ip == "127.0.0.30"]
        device_id = store.accept_candidate(s, candidate.id)
    assert "Pw-9" not in repr(stored) and "Pw-9" not in repr(result)
    profile = stored["hosts"][4]["onvif"]["profiles"][0]
    assert profile["snapshot_uri"] == "http://127.0.0.30/webcapture.jpg?user=REDACTED&password=REDACTED"
    assert profile["stream_uri"] == "rtsp://127.0.0.30:554/user=REDACTED_password=REDACTED_channel=1.sdp"
    assert {(f.kind, f.field) for f in result.findings if f.candidate_id == candidate.id} >= {
        ("uri_userinfo_removed", "snapshot_uri"), ("uri_userinfo_removed", "stream_uri")}
    with database.session() as s:
        assert "Pw-9" not in repr(s.get(Device, device_id).camera.profiles)


def test_password_parameters_quoted_in_a_surveys_texts_are_redacted_too(database) -> None:
    """An error text of a stream or snapshot check quotes the URI it tried, password parameters and all."""
    with database.session() as s:
        _seed(s)
    doc = _document()
    doc["hosts"][4]["error"] = ("snapshot failed: http://127.0.0.30/webcapture.jpg?command=snap&user=admin&password=Pw-9"
                                " timed out; rtsp://127.0.0.30/user=admin_password=Pw-9_channel=1.sdp refused")
    with database.session() as s:
        result = store.ingest_survey(s, doc)
        stored = store.get_survey_document(s, result.survey_id)
    assert "Pw-9" not in repr(stored)
    assert stored["hosts"][4]["error"] == (
        "snapshot failed: http://127.0.0.30/webcapture.jpg?command=snap&user=REDACTED&password=REDACTED timed out;"
        " rtsp://127.0.0.30/user=REDACTED_password=REDACTED_channel=1.sdp refused")
