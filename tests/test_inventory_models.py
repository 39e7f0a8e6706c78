"""Model rules: validate() messages, unique constraints with actionable messages, lifecycle moves."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from sitescout.inventory.db import ConflictError
from sitescout.inventory.models import CameraDetails, Commune, Device, Region, Site, ValidationError


def _site(session, name: str = "Thôn Đồng Bùa", **kw) -> Site:
    region = Region(name="Tuyên Quang")
    site = Site(name=name, commune=Commune(name="Hướng Đạo", region=region), **kw)
    session.add(region)
    return site


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"latitude": 91.0, "longitude": 105.0}, "latitude: 91.0 is outside -90..90"),
        ({"latitude": 21.0, "longitude": 181.0}, "longitude: 181.0 is outside -180..180"),
        ({"latitude": 21.0}, "latitude: give both latitude and longitude, or neither"),
        ({"kind": "pagoda"}, "kind: 'pagoda' is not one of"),
    ],
)
def test_site_rules(database, fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        with database.session() as s:
            _site(s, **fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ip": "300.1.1.1"}, "ip: '300.1.1.1' is not an IPv4 or IPv6 address"),
        ({"ip": "127.0.0.9", "mac": "00:11:22:33:44"}, "mac: '00:11:22:33:44' is not a MAC address"),
        ({"ip": None}, "ip: an active camera needs an IP address"),
        ({"ip": "127.0.0.9", "status": "broken"}, "status: 'broken' is not one of"),
    ],
)
def test_device_rules(database, fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        with database.session() as s:
            _site(s).devices.append(Device(name="cam", kind="camera", **fields))


def test_mac_and_ip_are_normalised(database) -> None:
    with database.session() as s:
        site = _site(s)
        site.devices.append(Device(name="cam", kind="camera", ip=" 127.0.0.9", mac="00-11-22-AA-BB-CC"))
    with database.session() as s:
        d = s.query(Device).one()
        assert (d.ip, d.mac) == ("127.0.0.9", "00:11:22:aa:bb:cc")
        assert s.query(Site).one().name_folded == "thon dong bua"


def test_camera_uris_must_not_carry_credentials(database) -> None:
    with pytest.raises(ValidationError, match="must not carry credentials"):
        with database.session() as s:
            d = Device(name="cam", kind="camera", ip="127.0.0.9")
            d.camera = CameraDetails(stream_uris=["rtsp://admin:pw@127.0.0.9/live"])
            _site(s).devices.append(d)


def test_lifecycle_transitions(database) -> None:
    with database.session() as s:
        _site(s).devices.append(Device(name="cam", kind="camera", ip="127.0.0.9", status="planned"))
    for status in ("active", "offline", "active", "retired"):
        with database.session() as s:
            s.query(Device).one().status = status
    with pytest.raises(ValidationError, match="cannot go from retired to active; from retired only to nothing"):
        with database.session() as s:
            s.query(Device).one().status = "active"
    with pytest.raises(ValidationError, match="cannot go from planned to offline"):
        with database.session() as s:
            s.query(Device).one().name = "other"
            s.add(Device(name="cam2", kind="switch", status="planned", site_id=s.query(Site).one().id))
            s.flush()
            d2 = s.query(Device).filter_by(name="cam2").one()
            d2.status = "offline"


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"name": "cam", "ip": "127.0.0.10"}, "this site already has a device with this name"),
        ({"name": "cam2", "ip": "127.0.0.9"}, "another device at this site already has this IP address"),
        ({"name": "cam2", "ip": "127.0.0.10", "mac": "00:11:22:33:44:55"}, "another device already has this MAC"),
        ({"name": "cam2", "ip": "127.0.0.10", "onvif_endpoint": "urn:uuid:1"}, "same camera"),
        ({"name": "cam2", "ip": "127.0.0.10", "manufacturer": "Acme", "serial": "S1"}, "already has this serial"),
    ],
)
def test_unique_constraints_have_messages(database, second, message) -> None:
    with database.session() as s:
        _site(s).devices.append(Device(name="cam", kind="camera", ip="127.0.0.9", mac="00:11:22:33:44:55",
                                       onvif_endpoint="urn:uuid:1", manufacturer="Acme", serial="S1"))
    with pytest.raises(ConflictError, match=message):
        with database.session() as s:
            s.add(Device(site_id=s.query(Site).one().id, kind="camera", **second))
    with database.session() as s:
        assert s.query(Device).count() == 1


def test_sqlite_has_wal_and_foreign_keys(database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migration_matches_models(database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sitescout.inventory.models import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "alembic_version" in inspect(database.engine).get_table_names()


# A camera's password goes only to the camera: its URIs carry no userinfo and point at its own address.


@pytest.mark.parametrize(
    ("endpoint", "camera", "message"),
    [
        (
            "http://203.0.113.9/onvif/device_service",
            None,
            "onvif_endpoint: host 203.0.113.9 is not the device's address",
        ),
        ("http://admin:pw@127.0.0.9/onvif/device_service", None, "onvif_endpoint: URIs must not carry credentials"),
        (None, {"stream_uris": ["rtsp://203.0.113.9/live"]}, "stream_uris: host 203.0.113.9 is not the device's"),
        (
            None,
            {"profiles": [{"token": "p", "snapshot_uri": "http://cam.example/snap"}]},
            "profiles.snapshot_uri: host cam.example is not the device's address 127.0.0.9",
        ),
        (None, {"profiles": [{"token": "p", "stream_uri": "rtsp://u:pw@127.0.0.9/p"}]}, "must not carry credentials"),
        # XMEye-style: the password in the query or the path is a credential too.
        (None, {"profiles": [{"token": "p", "snapshot_uri": "http://127.0.0.9/webcapture.jpg?user=admin&password=pw"}]},
         "profiles.snapshot_uri: URIs must not carry credentials"),
        (None, {"stream_uris": ["rtsp://127.0.0.9:554/user=admin_password=pw_channel=1.sdp"]},
         "stream_uris: URIs must not carry credentials"),
    ],
)
def test_device_uris_must_point_at_the_device(database, endpoint, camera, message) -> None:
    with pytest.raises(ValidationError, match=message):
        with database.session() as s:
            d = Device(name="cam", kind="camera", ip="127.0.0.9", onvif_endpoint=endpoint)
            if camera is not None:
                d.camera = CameraDetails(**camera)
            _site(s).devices.append(d)
    with database.session() as s:
        assert s.query(Device).count() == 0


def test_an_edit_cannot_point_a_stored_camera_elsewhere(database) -> None:
    with database.session() as s:
        d = Device(name="cam", kind="camera", ip="127.0.0.9", onvif_endpoint="urn:uuid:1")
        d.camera = CameraDetails(stream_uris=["rtsp://127.0.0.9/live"])
        _site(s).devices.append(d)
    with pytest.raises(ValidationError, match="stream_uris: host 203.0.113.9"):
        with database.session() as s:
            s.query(CameraDetails).one().stream_uris = ["rtsp://203.0.113.9/live"]
    with pytest.raises(ValidationError, match="onvif_endpoint: host 203.0.113.9"):
        with database.session() as s:
            s.query(Device).one().onvif_endpoint = "http://203.0.113.9:8080/onvif/device_service"


def test_a_camera_that_moves_takes_its_uris_along(database) -> None:
    with database.session() as s:
        d = Device(name="cam", kind="camera", ip="127.0.0.9",
                   onvif_endpoint="http://127.0.0.9:8080/onvif/device_service")
        d.camera = CameraDetails(stream_uris=["rtsp://127.0.0.9/live"],
                                 profiles=[{"token": "p", "stream_uri": "rtsp://127.0.0.9/live",
                                            "snapshot_uri": "http://127.0.0.9/snap"}])
        _site(s).devices.append(d)
    with database.session() as s:
        s.query(Device).one().ip = "127.0.0.10"  # a moved_ip finding applied, or an edit
    with database.session() as s:
        d = s.query(Device).one()
        assert d.onvif_endpoint == "http://127.0.0.10:8080/onvif/device_service"
        assert d.camera is not None and d.camera.stream_uris == ["rtsp://127.0.0.10/live"]
        assert d.camera.profiles == [{"token": "p", "stream_uri": "rtsp://127.0.0.10/live",
                                      "snapshot_uri": "http://127.0.0.10/snap"}]
