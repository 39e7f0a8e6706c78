"""`sitescout plan place` prints its summary and camera lines in the command's language (vi and en)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sitescout.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _place(capsys: pytest.CaptureFixture[str], lang: str, *extra: str) -> list[str]:
    assert main(["--lang", lang, "plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "4",
                 *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_plan_place_speaks_vietnamese(capsys: pytest.CaptureFixture[str]) -> None:
    out = _place(capsys, "vi")
    summary = out[0]
    assert re.fullmatch(r"Thôn Đồng Bùa: 4 camera, vùng phủ có trọng số \d+,\d{3} trên \d+,\d{3}, sai số so với "
                        r"tối ưu 0,00% \(tối ưu; kết quả từ (MILP|thuật toán tham lam); thuật toán tham lam đạt "
                        r"\d+,\d{3}\)", summary), summary
    cameras = [line for line in out if "HFOV" in line]
    assert len(cameras) == 4
    for line in cameras:
        assert re.search(r"hướng +\d+°  HFOV +\d+,\d°  [\d.]+ kb/s \((đo được|thông số của model|bảng bitrate)\)",
                         line), line
        assert "heading" not in line
    joined = "\n".join(out)
    for english in ("camera(s)", "weighted coverage", "answer from", "optimal;"):
        assert english not in joined


def test_plan_place_speaks_english(capsys: pytest.CaptureFixture[str]) -> None:
    out = _place(capsys, "en")
    assert re.fullmatch(r"Thôn Đồng Bùa: 4 cameras, weighted coverage \d+\.\d{3} of \d+\.\d{3}, gap 0\.00% "
                        r"\(optimal; answer from (MILP|greedy); greedy \d+\.\d{3}\)", out[0]), out[0]
    cameras = [line for line in out if "HFOV" in line]
    assert len(cameras) == 4
    assert all(re.search(r"heading +\d+°  HFOV +\d+\.\d°  [\d,]+ kb/s \((measured|catalogue|bitrate table)\)", line)
               for line in cameras), cameras


@pytest.mark.parametrize("lang,words", [("vi", "sai số so với tối ưu chưa rõ (chỉ thuật toán tham lam; kết quả từ "
                                                "thuật toán tham lam"),
                                        ("en", "gap unknown (greedy only; answer from greedy")])
def test_greedy_only_status_in_both_languages(capsys: pytest.CaptureFixture[str], lang: str, words: str) -> None:
    out = _place(capsys, lang, "--greedy-only")
    assert words in out[0], out[0]


def test_one_camera_is_singular_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "1"]) == 0
    assert ": 1 camera, weighted coverage" in capsys.readouterr().out


@pytest.mark.parametrize("lang,header,first", [
    ("vi", "mức              px/m  tầm xa m mặt đất m",
     "iec62676-4:2014: 1920 px trên góc 90,00°, camera ở độ cao 5 m, mục tiêu cao 1,6 m"),
    ("en", "level            px/m   range m  ground m",
     "iec62676-4:2014: 1920 px across 90.00°, camera at 5 m, target 1.6 m"),
])
def test_plan_dori_table_in_both_languages(capsys: pytest.CaptureFixture[str], lang: str, header: str,
                                           first: str) -> None:
    assert main(["--lang", lang, "plan", "dori", "--resolution", "1920", "--hfov", "90", "--height", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == first and out[1] == header
    identify = next(line for line in out if line.startswith("Nhận dạng" if lang == "vi" else "Identify"))
    assert ("3,84" if lang == "vi" else "3.84") in identify


@pytest.mark.parametrize("lang,words", [("vi", "; hãy kiểm tra --db"), ("en", "; check --db")])
def test_a_db_that_cannot_be_opened_is_said_in_the_command_s_language(capsys: pytest.CaptureFixture[str],
                                                                      lang: str, words: str) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    code = main(["--lang", lang, "plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "1",
                 "--site", "Thôn Đồng Bùa", "--db", "postgresql://127.0.0.1:1/none"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.strip().endswith(words), err
