"""Fuzzing the inventory's inputs: survey documents, CSV / GeoJSON / JSON imports, observation batches.

Property: any input is stored, or refused with the module's typed error naming the row or
field (``SurveyError``, ``ImportFailed`` rows, ``ValidationError``); never an uncaught exception,
and never a partial write (the whole database is identical before and after a refusal).
CSV export neutralises spreadsheet formula injection and still reads back as it was.
Structured strategies mutate a real survey document (``test_ingest._document``, built with the
survey's own ``probes.models``) and a real export of the demo commune; the rest is random JSON/text.
SQLite only (the transaction rules are the same on PostgreSQL; see test_crash_consistency).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from collections import Counter
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from test_ingest import _document, _seed

from sitescout.cli import main
from sitescout.inventory import importexport as ie
from sitescout.inventory import store
from sitescout.inventory.db import ConflictError, Database, open_database
from sitescout.inventory.demo_data import seed_demo
from sitescout.inventory.ingest import SurveyError
from sitescout.inventory.models import Base, Device, ValidationError

FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Strings a person or a hostile device might put anywhere.
NASTY = [
    "", " ", "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "'=x",
    "\x00", "a\x00b", "x" * 5000, "Thôn Đồng Bùa", "NaN", "1e400", "../../etc/passwd", "<script>alert(1)</script>",
    "'; DROP TABLE sites; --", "127.0.0.1", "::1", "00:11:22:33:44:01", "2025-03-01T08:00:00",
    "2025-13-01T08:00:00+07:00", "\ufeffname", "\u202eevil", "1,5", "true",
]
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | st.sampled_from(NASTY))
json_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12
)


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table (what 'identical before and after' compares)."""
    with db.engine.connect() as conn:
        return {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
                for t in Base.metadata.sorted_tables}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Database]:
    """A seeded SQLite inventory shared by a module's examples (each refusal is checked against a fresh dump)."""
    path = tmp_path_factory.mktemp("fuzz") / "inventory.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = open_database(f"sqlite:///{path}")
    with database.session() as s:
        _seed(s)
        seed_demo(s)
    yield database
    database.close()


# ------------------------------------------------------------------ survey documents


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A real survey document with one to four things changed: a value replaced, a key dropped, an item doubled."""
    doc = _document()
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))[1:]
        path = draw(st.sampled_from(paths))
        parent, key = _at(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "add"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "delete" and isinstance(parent, dict):
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
    return doc


def _ingest_or_refuse(db: Database, doc: Any, site_id: int | None = None) -> str:
    before = dump(db)
    try:
        with db.session() as s:
            result = store.ingest_survey(s, doc, site_id=site_id)
    except SurveyError as err:
        assert err.field and err.message, err
        assert dump(db) == before, f"a refused document changed the database: {err}"
        return "refused"
    assert result.survey_id > 0
    json.dumps(result.to_dict())  # the API answers it: it must be JSON
    return "duplicate" if result.duplicate else "stored"


def test_survey_documents_are_stored_or_refused_whole(db: Database) -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(doc=mutated_documents())
    def run(doc: Any) -> None:
        seen[_ingest_or_refuse(db, doc)] += 1

    run()
    print("survey mutations:", dict(seen))
    assert seen["stored"] and seen["refused"], seen


def test_random_json_is_refused_as_a_survey(db: Database) -> None:
    seen: Counter[str] = Counter()
    documents = json_values | st.fixed_dictionaries(
        {"site": json_values, "started_at": json_values, "hosts": st.lists(json_values, max_size=3)},
        optional={"finished_at": json_values, "networks": json_values})

    @FUZZ
    @given(doc=documents, site_id=st.none() | st.integers(-3, 30))
    def run(doc: Any, site_id: int | None) -> None:
        seen[_ingest_or_refuse(db, doc, site_id)] += 1

    run()
    print("random survey JSON:", dict(seen))
    assert seen["refused"]


# ------------------------------------------------------------------ CSV / GeoJSON / JSON imports


def _rows_ok_or_refused(db: Database, rows: Any, kind: str) -> str:
    importer = ie.import_sites if kind == "sites" else ie.import_devices
    before = dump(db)
    try:
        with db.session() as s:
            importer(s, rows, source="fuzz")
    except ie.ImportFailed as err:
        assert err.errors and all(e.row >= 1 and e.reason for e in err.errors), err
        assert dump(db) == before, f"a refused import changed the database: {err}"
        return "refused"
    except ConflictError as err:  # pragma: no cover - checked rows should never reach the constraint
        pytest.fail(f"a uniqueness clash got past the row checks: {err}")
    return "imported"


def _parse_or_refuse(text: str, fmt: str) -> list[tuple[int, dict[str, Any]]] | None:
    try:
        rows = ie.read_rows(text, fmt)
    except ie.ImportFailed as err:
        assert err.errors and all(e.row >= 0 and e.reason for e in err.errors)
        return None
    except ValueError as err:  # the whole file is not CSV / GeoJSON: the message says so
        assert str(err)
        return None
    assert all(isinstance(n, int) and isinstance(f, dict) for n, f in rows)
    return rows


REGIONS = st.sampled_from(["Tuyên Quang", "R", "=cmd|' /C calc'!A0", ""])
NAMES = st.sampled_from(["Thôn A", "Thôn B", "thon a", "X", "", " ", "@evil", "x" * 300]) | st.text(max_size=12)
cells = st.sampled_from(NASTY) | st.text(max_size=12) | st.sampled_from(["1.5", "-91", "105,8", "camera", "active",
                                                                          "planned", "retired", "school", "yes"])


@st.composite
def csv_texts(draw: st.DrawFn, fields: tuple[str, ...]) -> str:
    """CSV with a (possibly odd) header and rows of random cells; sometimes a BOM, CRLF, a huge field or raw junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=300))
    header = draw(st.permutations(fields).map(lambda f: list(f[: max(3, len(f) - 3)])))
    if draw(st.booleans()):
        header.append(draw(st.text(max_size=6)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 6))):
        row = []
        for name in header:
            if name == "region":
                row.append(draw(REGIONS))
            elif name in ("commune", "site", "name"):
                row.append(draw(NAMES))
            else:
                row.append(draw(cells))
        if draw(st.integers(0, 15)) == 0:
            row[draw(st.integers(0, len(row) - 1))] = "y" * 200_000  # past csv's default field limit
        writer.writerow(row[: draw(st.integers(len(row) - 1, len(row)))])
    text = out.getvalue()
    return ("\ufeff" if draw(st.booleans()) else "") + text


def test_csv_imports_are_whole_or_refused(db: Database) -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(kind=st.sampled_from(["sites", "devices"]), data=st.data())
    def run(kind: str, data: st.DataObject) -> None:
        fields = ie.SITE_FIELDS if kind == "sites" else ie.DEVICE_FIELDS
        rows = _parse_or_refuse(data.draw(csv_texts(fields)), "csv")
        seen["unreadable" if rows is None else _rows_ok_or_refused(db, rows, kind)] += 1

    run()
    print("CSV imports:", dict(seen))
    assert seen["refused"] and seen["imported"], seen


@st.composite
def geojson_texts(draw: st.DrawFn) -> str:
    """A real GeoJSON export with features mutated (geometry, coordinates, properties), or random JSON."""
    if draw(st.integers(0, 6)) == 0:
        return json.dumps(draw(json_values))
    doc = json.loads(GEOJSON[draw(st.sampled_from(["sites", "devices"]))])
    doc["features"] = doc["features"][: draw(st.integers(0, 4))]
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_paths(doc))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _at(doc, path[:-1])
        if draw(st.booleans()) or not isinstance(parent, dict):
            parent[path[-1]] = draw(json_values | cells)
        else:
            del parent[path[-1]]
    return json.dumps(doc)


GEOJSON: dict[str, str] = {}


def test_geojson_imports_are_whole_or_refused(db: Database) -> None:
    with db.session() as s:
        GEOJSON.update(sites=ie.export_sites_geojson(s), devices=ie.export_devices_geojson(s))
    seen: Counter[str] = Counter()

    @FUZZ
    @given(text=geojson_texts())
    def run(text: str) -> None:
        rows = _parse_or_refuse(text, "geojson")
        if rows is None:
            seen["unreadable"] += 1
            return
        seen[_rows_ok_or_refused(db, rows, ie.detect_kind(rows))] += 1

    run()
    print("GeoJSON imports:", dict(seen))
    assert seen["refused"] and seen["imported"], seen


def test_survey_json_imports_are_all_or_nothing(db: Database) -> None:
    seen: Counter[str] = Counter()

    @FUZZ.__class__(FUZZ, max_examples=40)
    @given(docs=st.lists(mutated_documents() | json_values, min_size=1, max_size=3))
    def run(docs: list[Any]) -> None:
        before = dump(db)
        try:
            with db.session() as s:
                report = ie.import_surveys(s, docs, source="fuzz")
        except ie.ImportFailed as err:
            assert all(1 <= e.row <= len(docs) and e.reason for e in err.errors)
            assert dump(db) == before, "a refused survey import kept some of its documents"
            seen["refused"] += 1
            return
        assert len(report.surveys) == len(docs)
        seen["imported"] += 1

    run()
    print("survey JSON imports:", dict(seen))
    assert seen["refused"] and seen["imported"], seen


@pytest.fixture
def cli_db(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "cli.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def test_command_refuses_bad_bytes_with_one_line(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad encodings, BOMs and junk through `sitescout import`: exit 0, or 1/2 with an error line and no change."""
    database = open_database(cli_db)
    seen: Counter[str] = Counter()
    good = "region,commune,name,latitude,longitude\nTuyên Quang,Hướng Đạo,Thôn Đồng Bùa,21.5,105.2\n"
    payloads = (st.binary(max_size=200) | st.sampled_from([
        good.encode("utf-8-sig"), good.encode("utf-16"), good.encode("cp1258", "replace"), b"\xff\xfe\x00",
        good.encode() + b"\xc3\x28\n", b'{"type": "FeatureCollection", "features": [1]}', b"[{}]", b"\xef\xbb\xbf[]",
    ]))

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(payload=payloads, suffix=st.sampled_from([".csv", ".geojson", ".json"]))
    def run(payload: bytes, suffix: str) -> None:
        path = tmp_path / f"in{suffix}"
        path.write_bytes(payload)
        before = dump(database)
        try:
            code = main(["import", str(path), "--db", cli_db])
        except SystemExit as exit_:  # usage errors (exit 2) go through argparse
            code = exit_.code
        err = capsys.readouterr().err
        if code != 0:
            assert code in (1, 2) and "error:" in err, (code, err)
            assert "Traceback" not in err
            assert dump(database) == before
        seen[f"exit {code}"] += 1

    try:
        run()
    finally:
        database.close()
    print("command payloads:", dict(seen))
    assert seen["exit 0"] and seen["exit 1"], seen


# ------------------------------------------------------------------ CSV export: formula injection

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_export_neutralises_formulas_and_reads_back(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "x.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = open_database(f"sqlite:///{path}")
    texts = st.sampled_from(NASTY[2:9] + ["-", "@", "'", "''=1", "'-5", "=1+1", "Thôn =A"]) | st.text(
        min_size=1, max_size=15
    )

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(name=texts, notes=texts, address=texts)
    def run(name: str, notes: str, address: str) -> None:
        name = name.strip().replace("\x00", "") or "n"
        notes, address = notes.replace("\x00", "").strip(), address.replace("\x00", "").strip()
        with database.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
        with database.session() as s:
            ie.import_sites(s, [(2, {"region": name, "commune": "C", "name": name, "address": address,
                                     "contact": notes, "latitude": "-12.5", "longitude": "-45"})])
            ie.import_devices(s, [(2, {"region": name, "commune": "C", "site": name, "name": name, "notes": notes,
                                       "model": address})])
        with database.session() as s:
            sites_csv, devices_csv = ie.export_sites_csv(s), ie.export_devices_csv(s)
            before = (ie.export_sites_geojson(s), ie.export_devices_geojson(s))
        for text in (sites_csv, devices_csv):
            for row in csv.reader(io.StringIO(text)):
                for cell in row:
                    assert not cell.startswith(TRIGGERS) or _is_number(cell), f"formula left in export: {cell!r}"
        with database.session() as s:  # the neutralised export reads back to the same inventory
            ie.import_sites(s, ie.read_rows(sites_csv, "csv"))
            ie.import_devices(s, ie.read_rows(devices_csv, "csv"))
            assert (ie.export_sites_geojson(s), ie.export_devices_geojson(s)) == before

    try:
        run()
    finally:
        database.close()


def test_csv_export_of_the_known_formula_payloads(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "x.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = open_database(f"sqlite:///{path}")
    try:
        with database.session() as s:
            ie.import_sites(s, [(2, {"region": "R", "commune": "C", "name": "=cmd|' /C calc'!A0",
                                     "contact": "@SUM(1+1)*cmd|' /C calc'!A0"})])
            text = ie.export_sites_csv(s)
        row = list(csv.DictReader(io.StringIO(text)))[0]
        assert row["name"] == "'=cmd|' /C calc'!A0" and row["contact"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
        assert [f["name"] for _, f in ie.read_rows(text, "csv")] == ["=cmd|' /C calc'!A0"]
    finally:
        database.close()


# ------------------------------------------------------------------ observation batches


def test_observation_batches_are_whole_or_refused(db: Database) -> None:
    with db.session() as s:
        device_ids = list(s.scalars(select(Device.id)))
    good = st.fixed_dictionaries(
        {"device_id": st.sampled_from(device_ids), "kind": st.sampled_from(["link", "stream:p0", "onvif"]),
         "health": st.sampled_from(["ok", "warning", "problem", "unknown"])},
        optional={"observed_at": st.sampled_from(["2025-03-01T08:00:00+07:00", "2025-03-01T01:00:00Z"]),
                  "values": st.dictionaries(st.text(max_size=5), scalars, max_size=3), "reason": st.text(max_size=20)})
    bad_item = st.dictionaries(st.sampled_from(["device_id", "kind", "health", "observed_at", "values", "reason"]),
                               json_values, max_size=6)
    batches = st.lists(good | bad_item | json_values, max_size=6)
    seen: Counter[str] = Counter()
    stored_keys: set[tuple[Any, ...]] = set()  # (device, kind, time): the same one again is not stored twice

    @FUZZ
    @given(batch=batches)
    def run(batch: Any) -> None:
        before = dump(db)
        try:
            with db.session() as s:
                count = store.record_observations(s, batch)
        except ValidationError as err:
            assert err.field.startswith("observations"), err
            assert dump(db) == before
            seen["refused"] += 1
            return
        keys = [(o["device_id"], o["kind"], datetime.fromisoformat(o["observed_at"]).astimezone(timezone.utc))
                for o in batch if o.get("observed_at")]
        new = len(batch) - len(keys) + len(set(keys) - stored_keys)
        stored_keys.update(keys)
        assert count == new, (count, new)
        seen["recorded" if count == len(batch) else "recorded, duplicates skipped"] += 1

    run()
    print("observation batches:", dict(seen))
    assert seen["refused"] and seen["recorded"], seen
