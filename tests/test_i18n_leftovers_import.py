"""`sitescout import` says its refused rows in the command's language (vi and en): coded reasons, said at the edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitescout.cli import main
from sitescout.inventory.errors import Coded
from sitescout.inventory.importexport import ImportFailed, read_rows

SITES = ("region,commune,name,latitude,longitude\n"
         "Tuyên Quang,Hùng Lợi,Thôn Đồng Bùa,95,105\n"
         "Tuyên Quang,Hùng Lợi,Chợ,21.8,abc\n"
         "Tuyên Quang,Hùng Lợi,Thôn Đồng Bùa,21.8,105.2\n")
DEVICES = ("region,commune,site,name,ip\n"
           "Tuyên Quang,Hùng Lợi,Không có,Cổng,10.0.0.1\n")


def _import(tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    assert main(["--lang", lang, "import", "--db", db, str(path)]) == 1
    return capsys.readouterr().err.strip().splitlines()


def test_row_reasons_are_coded() -> None:
    with pytest.raises(ImportFailed) as failed:
        read_rows("region,commune,name\nR,C,S,x\n", "csv", source="x.csv")
    reason = failed.value.errors[0].reason
    assert isinstance(reason, Coded) and reason.code == "cells_columns"
    assert reason.params == {"cells": 4, "columns": 3, "delimiter": ","}


def test_import_rows_in_vietnamese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _import(tmp_path, capsys, "vi", "sites.csv", SITES)
    assert "dòng 2: latitude: 95.0 nằm ngoài khoảng -90..90 (vĩ độ và kinh độ có bị đảo chỗ không?)" in err
    assert "dòng 3: longitude: 'abc' không phải là số" in err
    assert "dòng 4: name: điểm này đã có ở dòng 2" in err
    assert err[-1].endswith(f"{tmp_path / 'sites.csv'}: 3 dòng không hợp lệ, chưa nhập gì; hãy sửa các dòng đó "
                            "rồi nhập lại"), err
    assert not any(word in line for line in err for word in ("row ", "is outside", "not a number", "nothing imported"))
    err = _import(tmp_path, capsys, "vi", "devices.csv", DEVICES)
    assert "dòng 2: site: 'Không có' (Hùng Lợi, Tuyên Quang) chưa có trong danh mục; hãy nhập các điểm trước" in err


def test_import_rows_in_english(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _import(tmp_path, capsys, "en", "sites.csv", SITES)
    assert "row 2: latitude: 95.0 is outside -90..90 (are latitude and longitude swapped?)" in err
    assert "row 3: longitude: 'abc' is not a number" in err
    assert "row 4: name: the same site is already on row 2" in err
    assert err[-1].endswith("sites.csv: 3 bad rows, nothing imported; fix the rows and import again"), err
    err = _import(tmp_path, capsys, "en", "bad.csv", "region,commune,name\nR,C\nR,C,S,extra\n")
    assert "row 3: 4 cells but 3 columns; put quotes around a value that holds ','" in err
    assert err[-1].endswith("bad.csv: 1 bad row, nothing imported; fix the row and import again"), err


@pytest.mark.parametrize("lang,words", [
    ("vi", "unknown.csv: cột không có: 'ten'; các cột là: region, commune, name, kind"),
    ("en", "unknown.csv: unknown column(s) 'ten'; the columns are: region, commune, name, kind"),
])
def test_an_unknown_column_is_said_once_in_the_command_s_language(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  lang: str, words: str) -> None:
    (line,) = _import(tmp_path, capsys, lang, "unknown.csv", "region,commune,ten\nR,C,Thôn A\n")
    assert words in line, line
    assert line.count("unknown.csv") == 1, line  # the file is named once (it was named twice)
