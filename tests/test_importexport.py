"""Import/export: round trips (CSV, GeoJSON, survey JSON), bad rows with numbers, all-or-nothing, the command."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from test_ingest import _document

from sitescout.cli import main
from sitescout.inventory import importexport as ie
from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.demo_data import seed_demo
from sitescout.inventory.models import Device, Site


def _inventory(db) -> tuple[list, list]:
    """Return sites and devices without ids (what must survive a round trip)."""
    with db.session() as s:
        sites = [{k: v for k, v in x.to_dict().items() if k != "id"} for x in store.list_sites(s)]
        names = {x.id: x.name for x in store.list_sites(s)}
        devices = sorted(
            ({**{k: v for k, v in d.to_dict().items() if k not in ("id", "site_id")}, "site": names[d.site_id]}
             for d in store.list_devices(s)),
            key=lambda d: (d["site"], d["name"]),
        )
    return sites, devices


def _seed_rich(db) -> None:
    with db.session() as s:
        seed = seed_demo(s)
        d = s.get(Device, seed.camera_ids[0])
        d.mac, d.manufacturer, d.serial, d.firmware = "00:11:22:33:44:55", "Acme", "SN-1", "5.1"
        d.onvif_endpoint, d.notes = "urn:uuid:demo-1", 'mounted on the "old" pole, east side'
        d.camera.stream_uris = ["rtsp://127.77.1.11/main", "rtsp://127.77.1.11/sub"]
        d.camera.profiles = [{"token": "p0", "name": "main", "encoding": "H264", "width": 1920, "height": 1080}]
        s.add(Device(site_id=seed.site_ids[0], name="Planned cam", kind="camera", status="planned"))
        site = s.get(Site, seed.site_ids[1])
        site.latitude = site.longitude = None
        site.address = "Xóm 3,\nđường liên thôn"


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_round_trip_into_an_empty_database(database, tmp_path, fmt) -> None:
    _seed_rich(database)
    with database.session() as s:
        sites_text = ie.export_sites_csv(s) if fmt == "csv" else ie.export_sites_geojson(s)
        devices_text = ie.export_devices_csv(s) if fmt == "csv" else ie.export_devices_geojson(s)
    empty = open_database(_sibling_url(database, tmp_path))
    try:
        with empty.session() as s:
            assert ie.import_sites(s, ie.read_rows(sites_text, fmt)).created == 19
            assert ie.import_devices(s, ie.read_rows(devices_text, fmt)).created == 76
        assert _inventory(empty) == _inventory(database)
        with empty.session() as s:  # importing the same files again changes nothing
            report = ie.import_devices(s, ie.read_rows(devices_text, fmt))
            assert (report.created, report.updated) == (0, 76)
        assert _inventory(empty) == _inventory(database)
    finally:
        empty.close()


def _sibling_url(database, tmp_path) -> str:
    """Return an empty database on the same backend as database."""
    if database.engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    url = database.engine.url
    name = f"{url.database}_empty"
    from sitescout.infra.lab.postgres import PostgresServer

    server = PostgresServer()
    server.dir = url.query["host"]
    server.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def test_surveys_round_trip(database, tmp_path) -> None:
    from test_ingest import _seed

    with database.session() as s:
        _seed(s)
        store.ingest_survey(s, _document())
    with database.session() as s:
        text = ie.export_surveys_json(s)
    assert json.loads(text) == [_document()]
    with database.session() as s:
        report = ie.import_surveys(s, json.loads(text))
    assert report.created == 0 and len(report.surveys) == 1  # already stored: idempotent


def test_bad_rows_are_numbered_and_nothing_changes(database) -> None:
    _seed_rich(database)
    before = _inventory(database)
    csv_text = (
        "region,commune,name,kind,latitude,longitude\n"
        "R,C,Good site,school,21.5,105.1\n"
        "R,C,Bad lat,school,121.5,105.1\n"
        "R,C,Bad kind,pagoda,21.5,105.1\n"
        "R,,No commune,school,21.5,105.1\n"
        "R,C,Good site,market,21.5,105.1\n"
    )
    with pytest.raises(ie.ImportFailed) as failed:
        with database.session() as s:
            ie.import_sites(s, ie.read_rows(csv_text, "csv"))
    assert [str(e) for e in failed.value.errors] == [
        "row 3: latitude: 121.5 is outside -90..90 (are latitude and longitude swapped?)",
        "row 4: kind: 'pagoda' is not one of: "
        "village_hall, market, school, health_station, crossroads, commune_office, other",
        "row 5: commune: must not be empty",
        "row 6: name: the same site is already on row 2",
    ]
    assert _inventory(database) == before
    with database.session() as s:
        devices_csv = ie.export_devices_csv(s)
    lines = devices_csv.splitlines()
    dup = lines[1].split(",")
    dup[3] = "Copy"  # a new device name with the same IP as row 2: clash inside the same file
    rows = [lines[0], *lines[1:], ",".join(dup), "Nowhere,C,S,cam,camera,active,127.0.0.1"]
    with pytest.raises(ie.ImportFailed) as failed:
        with database.session() as s:
            ie.import_devices(s, ie.read_rows("\n".join(rows) + "\n", "csv"))
    reasons = [str(e) for e in failed.value.errors]
    assert reasons[0].startswith(f"row {len(lines) + 1}: ip: ") and "already used by row 2" in reasons[0]
    assert reasons[1] == f"row {len(lines) + 2}: site: 'S' (C, Nowhere) is not in the inventory; import the sites first"
    assert _inventory(database) == before


def test_command_import_export(tmp_path, capsys) -> None:
    src = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    dst = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    db = open_database(src)
    _seed_rich(db)
    db.close()
    assert main(["export", "sites", "--db", src, "--format", "geojson", "-o", str(tmp_path / "sites.geojson")]) == 0
    assert main(["export", "devices", "--db", src, "-o", str(tmp_path / "devices.csv")]) == 0
    assert main(["import", "--db", dst, str(tmp_path / "devices.csv"), str(tmp_path / "sites.geojson")]) == 0
    out = capsys.readouterr().out
    assert "sites: 19 created" in out and "devices: 76 created" in out
    a, b = open_database(src), open_database(dst)
    assert _inventory(a) == _inventory(b)
    a.close()
    b.close()
    bad = tmp_path / "bad.csv"
    bad.write_text("region,commune,name,latitude,longitude\nR,C,S,95,105\n", encoding="utf-8")
    assert main(["import", "--db", dst, str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 2: latitude: 95.0 is outside -90..90" in err and "nothing imported" in err
    with pytest.raises(SystemExit) as exit_:
        main(["import", "--db", dst, str(tmp_path / "sites.txt")])
    assert exit_.value.code == 2
    assert main(["export", "surveys", "--db", dst]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [  # found by tests/test_fuzz_inventory.py: each was an uncaught csv.Error, AttributeError or TypeError
        ("region,commune,name\nR,C," + "x" * 200_000 + "\n", "csv", "row 2: not readable as CSV"),
        ('{"type": "FeatureCollection", "features": [1]}', "geojson", "row 1: feature: must be a GeoJSON Feature"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
         '"geometry": {"type": "Point", "coordinates": ["105", 21]}}]}', "geojson", "row 1: geometry: a Point needs"),
        ('{"type": "FeatureCollection", "features": [{"properties": [], "geometry": null}]}', "geojson",
         "row 1: properties: must be an object"),
    ],
)
def test_unreadable_rows_are_numbered(text, fmt, message) -> None:
    with pytest.raises(ie.ImportFailed, match=message):
        ie.read_rows(text, fmt)


def test_wrong_types_and_lengths_are_row_errors(database) -> None:
    rows = [
        (1, {"region": "R", "commune": "C", "name": {"a": 1}}),
        (2, {"region": "R", "commune": "C", "name": "x" * 201}),
        (3, {"region": "R", "commune": "C", "name": "N", "latitude": "nan", "longitude": "1"}),
        (4, {"region": "R", "commune": "C", "name": "a\x00b"}),
    ]
    with pytest.raises(ie.ImportFailed) as failed:
        with database.session() as s:
            ie.import_sites(s, rows)
    assert [str(e) for e in failed.value.errors] == [
        "row 1: name: must be text, not a JSON object", "row 2: name: is longer than 200 characters",
        "row 3: latitude: 'nan' is not a finite number", "row 4: name: contains a NUL character"]


def test_csv_export_neutralises_formulas(database) -> None:
    with database.session() as s:
        ie.import_sites(s, [(2, {"region": "R", "commune": "C", "name": "=cmd|' /C calc'!A0", "contact": "-1+2",
                                 "latitude": "-12.5", "longitude": "-45"})])
        text = ie.export_sites_csv(s)
    assert ",'=cmd|' /C calc'!A0," in text and ",'-1+2," in text and ",-12.5,-45.0," in text
    rows = ie.read_rows(text, "csv")
    assert (rows[0][1]["name"], rows[0][1]["contact"]) == ("=cmd|' /C calc'!A0", "-1+2")


#: Cells a spreadsheet runs although they do not start with the trigger itself.
_HIDDEN_FORMULAS = (" =1+1", "\u00a0=HYPERLINK(\"http://198.51.100.9\",\"x\")", "\u2003+1", "\u200b@SUM(A1)",
                    " \u00a0 -2+3", "' =already quoted", "''\u00a0=two", "\n=cmd")


@pytest.mark.parametrize("value", _HIDDEN_FORMULAS, ids=repr)
def test_csv_export_neutralises_formulas_behind_blanks_and_the_round_trip_is_exact(database, tmp_path, value) -> None:
    with database.session() as s:
        ie.import_sites(s, [(2, {"region": "R", "commune": "C", "name": "Site"})])
        site = s.scalars(select(Site)).one()  # as an API write or an older import may have kept them
        site.contact, site.address = value, "addr " + value
        s.flush()
        text = ie.export_sites_csv(s)
        kept = s.scalars(select(Site)).one()
        original = (kept.contact, kept.address)
        assert original == (value, "addr " + value)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["contact"].startswith("'"), rows[0]["contact"]  # a spreadsheet shows it as text
    assert rows[0]["address"] == original[1]  # not at the start: left alone
    read = ie.read_rows(text, "csv")[0][1]
    assert (read["contact"], read["address"]) == original  # the CSV round trip is exact
    other = open_database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        with other.session() as s:
            ie.import_sites(s, ie.read_rows(text, "csv"))
            site = s.scalars(select(Site)).one()
            # The import trims every text field (whatever its content): that is all that changes.
            assert (site.contact, site.address) == (value.strip(), ("addr " + value).strip())
    finally:
        other.close()


@given(st.text(max_size=12, alphabet=st.sampled_from("'=+-@ \t\r\n\u00a0\u2003\u200bab1")))
def test_neutralise_and_restore_are_inverse_and_leave_no_formula(value) -> None:
    cell = ie.neutralise_formula(value)
    assert ie.restore_formula(cell) == value
    body = cell.lstrip().lstrip("\u200b").lstrip()
    assert not body.startswith(ie.FORMULA_TRIGGERS) or cell.startswith("'")


@pytest.mark.parametrize("value", ["plain", " leading space", "\u00a0NBSP then text", "'quoted", "a=b", "1-2"])
def test_csv_cells_that_are_no_formula_are_left_alone(value) -> None:
    assert ie.neutralise_formula(value) == value and ie.restore_formula(value) == value


def test_imported_camera_uris_must_point_at_the_camera(database) -> None:
    """An import cannot give a camera an endpoint or stream on another host (its password would go there)."""
    _seed_rich(database)
    before = _inventory(database)
    with database.session() as s:
        site = s.get(Site, store.list_sites(s)[0].id)
        place = {"region": site.commune.region.name, "commune": site.commune.name, "site": site.name}
    rows = [
        (2, {**place, "name": "cam x", "kind": "camera", "ip": "127.0.0.40",
             "stream_uris": ["rtsp://203.0.113.9/main"]}),
        (3, {**place, "name": "cam y", "kind": "camera", "ip": "127.0.0.41",
             "onvif_endpoint": "http://203.0.113.9/onvif/device_service"}),
        (4, {**place, "name": "cam z", "kind": "camera", "ip": "127.0.0.42",
             "stream_uris": ["rtsp://admin:pw@127.0.0.42/main"]}),
    ]
    with pytest.raises(ie.ImportFailed) as failed:
        with database.session() as s:
            ie.import_devices(s, rows)
    assert [str(e) for e in failed.value.errors] == [
        "row 2: stream_uris: host 203.0.113.9 is not the device's address 127.0.0.40; a device's URIs point at the "
        "device itself",
        "row 3: onvif_endpoint: host 203.0.113.9 is not the device's address 127.0.0.41; a device's URIs point at the "
        "device itself",
        "row 4: stream_uris: URIs must not carry credentials; store them with set_device_credential",
    ]
    assert _inventory(database) == before
