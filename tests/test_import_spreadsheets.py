"""`sitescout import` reads what spreadsheets write (issue 13): ';' delimiters, decimal commas, a BOM, empty rows,
wrong columns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitescout.inventory import importexport as ie
from sitescout.inventory import store
from sitescout.inventory.db import open_database

#: What Excel in a Vietnamese locale saves as "CSV UTF-8": a BOM, ';', CRLF, trailing rows of bare delimiters.
EXCEL_VI = ("\ufeffregion;commune;name;kind;status;latitude;longitude;address;contact;is_demo\r\n"
            "Tuyên Quang;Hướng Đạo;Thôn Đồng Bùa;village_hall;active;21,77;105.25;\"Xóm 1; cạnh chợ\";;false\r\n"
            ";;;;;;;;;\r\n"
            "Tuyên Quang;Hướng Đạo;Chợ Hướng Đạo;market;active;;;;;false\r\n"
            ";;;;;;;;;\r\n")


def _import(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sites.csv").write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "sitescout", "import", "--db", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                           str(tmp_path / "sites.csv")], capture_output=True, text=True, timeout=60)


def test_a_vietnamese_excel_export_imports_and_the_skipped_rows_are_named(tmp_path: Path) -> None:
    result = _import(tmp_path, EXCEL_VI)
    assert result.returncode == 0, result.stderr
    assert "sites: 2 created" in result.stdout
    assert "row 3: skipped: the row is empty" in result.stderr and "row 5: skipped: the row is empty" in result.stderr
    database = open_database(f"sqlite:///{tmp_path / 'i.sqlite3'}")
    try:
        with database.session() as session:
            sites = {s.name: s for s in store.list_sites(session)}
            detail = store.get_site(session, sites["Thôn Đồng Bùa"].id)
    finally:
        database.close()
    assert set(sites) == {"Thôn Đồng Bùa", "Chợ Hướng Đạo"}  # the BOM is not part of the first column's name
    assert detail is not None and detail.address == "Xóm 1; cạnh chợ"  # a quoted ';' stays in its cell
    assert detail.site.latitude == pytest.approx(21.77)  # written with a decimal comma


def test_unknown_columns_are_refused_naming_the_expected_ones(tmp_path: Path) -> None:
    result = _import(tmp_path, "region,commune,ten,latitude\nR,C,Thôn A,21\n")
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "unknown column(s) 'ten'" in line and "the columns are: region, commune, name, kind" in line


def test_a_row_with_more_cells_than_columns_is_a_numbered_error_not_a_silent_loss() -> None:
    with pytest.raises(
        ie.ImportFailed, match=r"row 3: 4 cells but 3 columns; put quotes around a value that holds ';'"
    ):
        ie.read_rows("region;commune;name\nR;C;A\nR;C;B;extra\n", "csv")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_the_one_the_header_uses(delimiter: str) -> None:
    rows = ie.read_rows(f"region{delimiter}commune{delimiter}name\nR{delimiter}C{delimiter}N\n", "csv")
    assert rows == [(2, {"region": "R", "commune": "C", "name": "N"})]
