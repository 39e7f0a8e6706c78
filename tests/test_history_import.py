"""Imports write the change log (issue #13): one entry per record created or changed, by "import:cli".

`sitescout import` runs for real on a temporary SQLite inventory; the entries are read back through
``inventory.changes.list_changes`` (what GET /api/v1/changes and the pages show).
"""

from __future__ import annotations

from sqlalchemy import func, select
from test_ingest import _document

from sitescout.cli import main
from sitescout.inventory import importexport as ie
from sitescout.inventory.changes import list_changes
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Change, Device, Region, Site

SITES = ("region,commune,name,kind,latitude,longitude,address\n"
         "Tuyên Quang,Hướng Đạo,Thôn Đồng Bùa,village_hall,21.71,105.30,Xóm 1\n"
         "Tuyên Quang,Hướng Đạo,Chợ Hướng Đạo,market,21.72,105.31,\n")
DEVICES = ("region,commune,site,name,kind,ip,stream_uris\n"
           "Tuyên Quang,Hướng Đạo,Thôn Đồng Bùa,Camera cổng,camera,127.77.5.1,rtsp://127.77.5.1/main\n"
           "Tuyên Quang,Hướng Đạo,Thôn Đồng Bùa,Switch,switch,127.77.5.2,\n")


def _changes(db) -> list:
    with db.session() as session:
        rows, total = list_changes(session, limit=500)
    assert total == len(rows)
    return rows


def test_the_command_logs_each_record_it_creates_and_changes(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    (tmp_path / "sites.csv").write_text(SITES, encoding="utf-8")
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    assert main(["import", "--db", url, str(tmp_path / "devices.csv"), str(tmp_path / "sites.csv")]) == 0
    db = open_database(url)
    try:
        rows = _changes(db)
        assert {r.actor for r in rows} == {"import:cli"}
        created = sorted((r.object_type, r.object_repr) for r in rows if r.action == "create")
        assert created == [("commune", "Hướng Đạo"), ("device", "Camera cổng"), ("device", "Switch"),
                           ("region", "Tuyên Quang"), ("site", "Chợ Hướng Đạo"),
                           ("site", "Thôn Đồng Bùa")]
        with db.session() as session:
            camera = session.scalars(select(Device).where(Device.name == "Camera cổng")).one()
            site = session.scalars(select(Site).where(Site.name == "Thôn Đồng Bùa")).one()
        entry = next(r for r in rows if r.object_id == camera.id and r.object_type == "device")
        assert entry.site_id == site.id and entry.after["ip"] == "127.77.5.1"
        assert entry.after["camera"]["stream_uris"] == ["rtsp://127.77.5.1/main"]
        # The same files again change nothing: no entry.  A changed cell: one update with before and after.
        assert main(["import", "--db", url, str(tmp_path / "sites.csv"), str(tmp_path / "devices.csv")]) == 0
        assert len(_changes(db)) == len(rows)
        (tmp_path / "sites.csv").write_text(SITES.replace("Xóm 1", "Xóm 2"), encoding="utf-8")
        assert main(["import", "--db", url, str(tmp_path / "sites.csv")]) == 0
        newest = _changes(db)[0]
        assert (newest.action, newest.object_type, newest.object_id) == ("update", "site", site.id)
        assert newest.diff == {"address": ["Xóm 1", "Xóm 2"], "version": [1, 2]}
        capsys.readouterr()
    finally:
        db.close()


def test_an_import_with_a_bad_row_logs_nothing(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'inv.sqlite3'}")
    try:
        bad = SITES + "Tuyên Quang,Hướng Đạo,Thôn Lỗi,village_hall,95,105,\n"
        rows = ie.read_rows(bad, "csv", source="sites.csv")
        try:
            with db.session() as session:
                ie.import_sites(session, rows, source="sites.csv")
        except ie.ImportFailed:
            pass
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Change)) == 0
            assert session.scalar(select(func.count()).select_from(Region)) == 0
    finally:
        db.close()


def test_surveys_and_device_updates_are_logged_with_the_actor_given(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'inv.sqlite3'}")
    try:
        with db.session() as session:
            ie.import_sites(session, ie.read_rows(SITES, "csv"), actor="import:lan")
            ie.import_devices(session, ie.read_rows(DEVICES, "csv"), actor="import:lan")
        changed = DEVICES.replace("Switch,switch,127.77.5.2", "Switch,switch,127.77.5.3")
        with db.session() as session:
            ie.import_devices(session, ie.read_rows(changed, "csv"), actor="import:lan")
            doc = _document()
            doc["site"] = "Thôn Đồng Bùa"
            ie.import_surveys(session, doc, actor="import:lan")
        rows = _changes(db)
        assert {r.actor for r in rows} == {"import:lan"}
        update = next(r for r in rows if r.action == "update" and r.object_type == "device")
        assert update.diff["ip"] == ["127.77.5.2", "127.77.5.3"]
        assert any(r.object_type == "survey" and r.action == "create" for r in rows)
    finally:
        db.close()
