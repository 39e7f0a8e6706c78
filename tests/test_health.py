"""inventory/health.py: the one table of health thresholds, and report, ingestion and worker agreeing on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sitescout.inventory import health, store
from sitescout.inventory.db import open_database
from sitescout.inventory.findings import coded_findings, render_finding
from sitescout.inventory.ingest import host_health
from sitescout.inventory.models import Commune, Device, DeviceHealth, Region, Site
from sitescout.inventory.search import fold
from sitescout.probes.worker.inventory_link import api_observation


def test_the_threshold_table_is_pinned():
    assert health.THRESHOLDS == (
        ("loss_ratio", ">", 0.01, "warning"),
        ("loss_ratio", ">", 0.05, "problem"),
        ("jitter_ms", ">", 30.0, "warning"),
        ("abs(clock_offset_s)", ">", 5.0, "warning"),
    )
    assert health.STREAM_LEVELS == {"down": "problem", "stalled": "problem", "frozen": "problem",
                                    "black": "problem", "blurred": "warning", "fps_mismatch": "warning",
                                    "size_mismatch": "warning"}
    assert health.AUTH_LEVELS == {"required": "warning", "failed": "problem"}


@pytest.mark.parametrize(("loss", "level"), [(None, "ok"), (0.0, "ok"), (0.01, "ok"), (0.0101, "warning"),
                                             (0.03, "warning"), (0.05, "warning"), (0.0501, "problem"),
                                             (1.0, "problem")])
def test_loss_verdicts_at_the_edges(loss, level):
    verdict = health.link_loss_verdict(loss)
    assert verdict.level == level
    assert verdict.code == ("" if level == "ok" else "link_loss")


def test_other_verdicts_at_the_edges():
    assert health.jitter_verdict(30.0).level == "ok" and health.jitter_verdict(30.1).level == "warning"
    assert health.clock_skew_verdict(-5.0).level == "ok" and health.clock_skew_verdict(-5.1).level == "warning"
    assert health.clock_skew_verdict(48 * 3600).params == {"offset_s": 172800.0}
    assert health.reachability_verdict(False).to_dict() == {"level": "problem", "code": "not_answering",
                                                             "params": {}}
    assert health.stream_verdict("frozen", "main").to_dict() == {"level": "problem", "code": "stream_frozen",
                                                                "params": {"stream": "main"}}
    assert health.stream_verdict("whatever").level == "ok"
    assert health.level_of([]) == "ok"


def test_reasons_render_in_words():
    assert health.render_reason("stream_frozen", {"stream": "main"}) == "picture frozen (main)"
    assert health.render_reason("link_loss", {"loss": 0.12}) == "12% loss on the link to the device"
    assert health.render_reason("clock_skew", {"offset_s": 48 * 3600.0}) == "clock 48 h ahead"
    assert health.render_reason("clock_skew", {"offset_s": -12.0}) == "clock 12 s behind"
    assert health.render_reason("no_such_code", {}) == "no_such_code"


def _survey(loss: float) -> dict:
    return {"site": "Thôn Thử", "started_at": "2026-03-01T08:00:00+00:00",
            "finished_at": "2026-03-01T08:01:00+00:00", "networks": ["198.51.100.0/24"],
            "hosts": [{"ip": "198.51.100.30", "mac": "00:12:34:56:78:30", "kind": "host", "open_ports": [80],
                       "vendor": "X", "link": {"sent": 100, "received": round(100 * (1 - loss)), "loss_ratio": loss,
                                               "jitter_ms": 1.0},
                       "errors": []}]}


@pytest.fixture()
def database(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with db.session() as session:
        region = Region(name="Tuyên Quang", name_folded=fold("Tuyên Quang"))
        commune = Commune(region=region, name="Xã Thử", name_folded=fold("Xã Thử"))
        site = Site(commune=commune, name="Thôn Thử", name_folded=fold("Thôn Thử"), kind="village_hall",
                    address="", contact="")
        session.add_all([region, commune, site,
                         Device(site=site, kind="switch", name="Switch", ip="198.51.100.30", mac="00:12:34:56:78:30")])
    yield db
    db.close()


def _device_health(db) -> str:
    with db.session() as session:
        device = session.query(Device).one()
        return session.get(DeviceHealth, device.id).health


@pytest.mark.parametrize(("loss", "level"), [(0.03, "warning"), (0.12, "problem"), (0.005, "ok")])
def test_report_ingestion_and_worker_agree(database, loss, level):
    """The same loss is the same verdict in the printed report, after ingestion and from the worker."""
    doc = _survey(loss)
    report = [f for f in coded_findings(doc) if f.code == "link_loss"]
    assert (report[0].severity if report else "ok") == level
    if report:
        assert render_finding(report[0])[0] == f"link loses {round(loss * 100)}% of packets"
    assert host_health(doc["hosts"][0])[0] == level
    with database.session() as session:
        store.ingest_survey(session, doc, site_id=session.query(Site).one().id)
    assert _device_health(database) == level
    with database.session() as session:
        device_id = session.query(Device).one().id
        at = datetime.now(timezone.utc) - timedelta(seconds=5)
        item = api_observation({"kind": "link", "up": True, "observed_at": at.timestamp(),
                                "values": {"loss_ratio": loss, "rtt_avg_ms": 1.0}}, device_id)
        assert item["health"] == level
        assert store.accept_observations(session, [item]).recorded == 1
    assert _device_health(database) == level


def test_worker_says_not_answering_and_frozen_as_codes():
    down = api_observation({"kind": "link", "up": False, "values": {}}, 1)
    assert down["health"] == "problem" and down["values"]["verdicts"][0]["code"] == "not_answering"
    frozen = api_observation({"kind": "stream", "profile": "main", "up": True, "values": {"frozen": True}}, 1)
    assert frozen["health"] == "problem"
    assert frozen["values"]["verdicts"] == [{"level": "problem", "code": "stream_frozen", "params": {"stream": "main"}}]
    fine = api_observation({"kind": "link", "up": True, "values": {"loss_ratio": 0.0}}, 1)
    assert fine["health"] == "ok" and "verdicts" not in fine["values"]


def test_the_loss_alert_and_the_survey_clock_limit_use_the_table():
    """Prometheus' loss alert fires above the problem threshold; the survey notes clock skew at the same limit."""
    from pathlib import Path

    import yaml

    from sitescout.probes.onvif.types import OnvifConfig

    rules = yaml.safe_load((Path(__file__).parents[1] / "infra/prometheus/rules/sitescout-alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert f"sitescout:link_loss_ratio:avg1m > {health.LINK_LOSS_PROBLEM}" in alerts["SitescoutLinkLossHigh"]
    assert (
        f"abs(sitescout_onvif_clock_offset_seconds) > {health.CLOCK_SKEW_LIMIT_S:g}"
        in alerts["SitescoutCameraClockSkew"]
    )
    assert OnvifConfig().clock_skew_finding_s == health.CLOCK_SKEW_LIMIT_S
