"""Migration 0005_uri_userinfo: no stored URI keeps a userinfo, and a device's URIs point at the device.

Rows are written as they could be before the fix (raw SQL around the models' rules: userinfo
in every place a URI is kept, a camera's endpoint and streams on another host), the schema is
put back to 0002, and the upgrade must clean them, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from sitescout.inventory.db import MIGRATIONS_DIR, Database
from sitescout.inventory.ingest import ingest_survey
from sitescout.inventory.models import Base, CameraDetails, Candidate, Commune, Device, Region, Site
from sitescout.inventory.search import fold

SECRET = "Zq9-s3cret"
OTHER = "203.0.113.9"


def _alembic(database: Database) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = database.engine
    return config


def _survey() -> dict:
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake").decode()
    return {
        "site": "Thôn Lab", "started_at": "2026-12-01T08:00:00+00:00", "finished_at": "2026-12-01T08:01:00+00:00",
        "networks": ["127.0.0.0/24"],
        "hosts": [
            {"ip": "127.0.0.9", "kind": "camera", "open_ports": [554], "onvif": None, "errors": [],
             "streams": [{"uri": "rtsp://127.0.0.9/live", "profile": "p", "up": True}]},
            {"ip": "127.0.0.50", "kind": "camera", "open_ports": [80], "errors": [],
             "onvif": {"endpoint": "urn:uuid:50", "xaddrs": ["http://127.0.0.50/onvif/device_service"],
                       "profiles": [{"token": "p", "stream_uri": "rtsp://127.0.0.50/p"}]},
             "streams": [], "snapshot": {"source": "http", "uri": "http://127.0.0.50/snap.jpg", "jpeg_base64": jpeg}},
        ],
    }


def _dirty(database: Database) -> tuple[int, int]:
    """Store clean rows through the models, then dirty them around the models' rules."""
    with database.session() as s:
        region = Region(name="Tuyên Quang", name_folded=fold("Tuyên Quang"))
        site = Site(commune=Commune(region=region, name="Hướng Đạo", name_folded=fold("Hướng Đạo")), name="Thôn Lab",
                    name_folded=fold("Thôn Lab"), kind="village_hall")
        device = Device(site=site, kind="camera", name="cam", ip="127.0.0.9",
                        onvif_endpoint="http://127.0.0.9:8080/onvif/device_service")
        device.camera = CameraDetails(stream_uris=["rtsp://127.0.0.9/live"], profiles=[])
        s.add(device)
        s.flush()
        device_id = device.id
        ingest_survey(s, _survey())
        candidate_id = s.scalars(select(Candidate.id)).one()
    dirty_doc = _survey()
    dirty_doc["hosts"][0]["streams"][0]["uri"] = f"rtsp://admin:{SECRET}@127.0.0.9/live"
    dirty_doc["hosts"][0]["errors"] = [f"open failed: rtsp://admin:{SECRET}@127.0.0.9/live refused"]
    identity = {"onvif": {"endpoint": f"http://u:{SECRET}@{OTHER}/onvif/device_service",
                          "xaddrs": [f"http://{OTHER}/onvif/device_service"],
                          "profiles": [{"token": "p", "stream_uri": f"rtsp://u:{SECRET}@{OTHER}:8554/p"}]}}
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE devices SET onvif_endpoint = :e WHERE id = :i"),
                     {"e": f"http://admin:{SECRET}@{OTHER}:8080/onvif/device_service", "i": device_id})
        conn.execute(text("UPDATE camera_details SET stream_uris = :u, profiles = :p WHERE device_id = :i"),
                     {"u": json.dumps([f"rtsp://admin:{SECRET}@127.0.0.9/live", f"rtsp://{OTHER}/other"]),
                      "p": json.dumps([{"token": "p", "stream_uri": f"rtsp://{OTHER}:554/p",
                                        "snapshot_uri": f"http://admin:{SECRET}@127.0.0.9/snap"}]),
                      "i": device_id})
        conn.execute(text("UPDATE surveys SET document = :d"), {"d": json.dumps(dirty_doc)})
        conn.execute(text("UPDATE survey_snapshots SET uri = :u"), {"u": f"http://admin:{SECRET}@127.0.0.50/snap.jpg"})
        conn.execute(text("UPDATE observations SET \"values\" = :v"),
                     {"v": json.dumps({"streams": [{"uri": f"rtsp://admin:{SECRET}@127.0.0.9/live"}]})})
        conn.execute(text("UPDATE candidates SET identity = :d"), {"d": json.dumps(identity)})
        conn.execute(text("UPDATE findings SET observed_value = :v"), {"v": f"rtsp://admin:{SECRET}@127.0.0.9/x"})
    return device_id, candidate_id


def _dump(database: Database) -> str:
    """Every row of every table the database has at its current revision (later ones may not exist yet)."""
    from sqlalchemy import inspect

    with database.engine.connect() as conn:
        found = inspect(conn)
        present = set(found.get_table_names())
        # ... and only the columns it has (0007 added a version column to the curated tables).
        columns = {t: {c["name"] for c in found.get_columns(t)} for t in present}
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables if table.name in present
                         for row in conn.execute(select(*[c for c in table.c if c.name in columns[table.name]])))


def test_upgrade_cleans_userinfo_and_rebases_device_uris(database: Database) -> None:
    device_id, candidate_id = _dirty(database)
    config = _alembic(database)
    command.downgrade(config, "0004_fieldcli")  # data only: nothing to undo, the schema is the same
    assert SECRET in _dump(database)
    command.upgrade(config, "head")
    dump = _dump(database)
    assert SECRET not in dump
    assert "admin@" not in dump and "u@" not in dump
    with database.session() as s:
        device = s.get(Device, device_id)
        assert device is not None and device.camera is not None
        assert device.onvif_endpoint == "http://127.0.0.9:8080/onvif/device_service"
        assert device.camera.stream_uris == ["rtsp://127.0.0.9/live", "rtsp://127.0.0.9/other"]
        assert device.camera.profiles == [{"token": "p", "stream_uri": "rtsp://127.0.0.9:554/p",
                                           "snapshot_uri": "http://127.0.0.9/snap"}]
        candidate = s.get(Candidate, candidate_id)
        assert candidate is not None
        onvif = candidate.identity["onvif"]
        assert onvif["endpoint"] == "http://127.0.0.50/onvif/device_service"
        assert onvif["xaddrs"] == ["http://127.0.0.50/onvif/device_service"]
        assert onvif["profiles"][0]["stream_uri"] == "rtsp://127.0.0.50:8554/p"
    # Text around the URI is kept; only the userinfo went.
    assert "open failed: rtsp://127.0.0.9/live refused" in dump
    # The cleaned rows pass the models' rules again (an edit of the device is not refused).
    with database.session() as s:
        device = s.get(Device, device_id)
        assert device is not None
        device.notes = "checked"


def test_a_clash_of_rebased_endpoints_leaves_the_endpoint_empty(database: Database) -> None:
    with database.session() as s:
        region = Region(name="R", name_folded="r")
        commune = Commune(region=region, name="C", name_folded="c")
        one = Site(commune=commune, name="One", name_folded="one", kind="village_hall")
        two = Site(commune=commune, name="Two", name_folded="two", kind="village_hall")
        # Two sites, the same private address: one endpoint re-based would collide with the other.
        s.add_all([Device(site=one, kind="camera", name="a", ip="127.0.0.9",
                          onvif_endpoint="http://127.0.0.9/onvif/device_service"),
                   Device(site=two, kind="camera", name="b", ip="127.0.0.9")])
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE devices SET onvif_endpoint = :e WHERE name = 'b'"),
                     {"e": f"http://{OTHER}/onvif/device_service"})
    config = _alembic(database)
    command.downgrade(config, "0004_fieldcli")
    command.upgrade(config, "head")
    with database.session() as s:
        endpoints = {d.name: d.onvif_endpoint for d in s.scalars(select(Device))}
    assert endpoints == {"a": "http://127.0.0.9/onvif/device_service", "b": None}


@pytest.mark.parametrize("uri", ["rtsp://[::1/x", "not a uri", ""])
def test_unparsable_values_are_left_alone(uri: str) -> None:
    import importlib

    migration = importlib.import_module("sitescout.inventory.migrations.versions.0005_uri_userinfo")
    assert migration.rebase(uri, "127.0.0.9") == uri
    assert migration.strip_text(f"x rtsp://a:{SECRET}@h/y") == "x rtsp://h/y"
