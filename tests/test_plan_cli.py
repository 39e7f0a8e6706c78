"""`sitescout plan dori` and `sitescout plan place` on the sample village."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from sitescout.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_plan_dori_prints_the_four_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dori", "--resolution", "1920", "--hfov", "90"]) == 0
    out = capsys.readouterr().out
    for level, metres in [("Identify", "3.84"), ("Recognise", "7.68"), ("Observe", "15.36"), ("Detect", "38.40")]:
        assert any(line.startswith(level) and metres in line for line in out.splitlines()), out
    assert "Monitor" not in out


def test_plan_dori_lens_json_and_2025(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dori", "--resolution", "2560", "--focal-mm", "4", "--sensor-mm", "5.6", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    identify = next(r for r in doc["ranges"] if r["level"] == "Identify")
    assert identify["slant_m"] == pytest.approx(7.3143, abs=1e-4)
    assert main(["plan", "dori", "--resolution", "1920", "--hfov", "90", "--profile", "iec62676-4:2025",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["slant_m"] for r in doc["ranges"]] == [48.0, 24.0, 12.0, 7.68, 3.84, 1.92, 0.64]


def test_plan_dori_height_correction(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dori", "--resolution", "1920", "--hfov", "90", "--height", "5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    identify = next(r for r in doc["ranges"] if r["level"] == "Identify")
    assert doc["target_height_m"] == 1.6
    assert identify["ground_m"] == pytest.approx((3.84**2 - 3.4**2) ** 0.5, abs=1e-4)


@pytest.mark.parametrize("args,message", [
    (["--resolution", "1920"], "give --hfov, or --focal-mm and --sensor-mm"),
    (["--resolution", "1920", "--hfov", "200"], "--hfov must be between 0 and 180"),
    (["--resolution", "1920", "--hfov", "90", "--profile", "x"], "unknown DORI profile"),
    (["--resolution", "0", "--hfov", "90"], "--resolution must be a positive"),
])
def test_plan_dori_bad_usage(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plan", "dori", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plan_place_writes_geojson_bom_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("plan_village.json", "plan_village_buildings.geojson"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    gj, bom, report = tmp_path / "plan.geojson", tmp_path / "bom.csv", tmp_path / "plan.html"
    assert main(["plan", "place", "--input", str(tmp_path / "plan_village.json"), "--k", "4", "--geojson", str(gj),
                 "--bom", str(bom), "--report", str(report)]) == 0
    captured = capsys.readouterr()
    assert "gap 0.00% (optimal" in captured.out
    assert "not used: entrance-pole: no power at the mount" in captured.err

    doc = json.loads(gj.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and doc["plan"]["status"] == "optimal"
    kinds: dict[str, list[dict]] = {}
    for f in doc["features"]:
        kinds.setdefault(f["properties"]["kind"], []).append(f)
    cameras = kinds["camera"]
    assert len(cameras) == 4 and all(c["properties"]["status"] == "planned" for c in cameras)
    camera_ids = {c["properties"]["camera_id"] for c in cameras}
    bands = kinds["coverage"]
    assert {b["properties"]["camera_id"] for b in bands} == camera_ids
    assert {b["properties"]["dori_level"] for b in bands} <= {"Detect", "Observe", "Recognise", "Identify"}
    assert all(b["properties"]["colour"].startswith("#") and b["geometry"]["type"] == "Polygon" for b in bands)
    assert all(b["geometry"]["coordinates"][0][0] == b["geometry"]["coordinates"][0][-1] for b in bands)
    infeasible = {f["properties"]["mount_id"]: f["properties"]["reasons"] for f in kinds["infeasible_mount"]}
    assert set(infeasible) == {"health-wall", "entrance-pole", "temple-wall"}
    assert all(infeasible.values())
    assert any("Fresnel" in r for r in infeasible["health-wall"])
    assert not {c["properties"]["mount_id"] for c in cameras} & set(infeasible)

    rows = list(csv.DictReader(bom.open(encoding="utf-8")))
    assert sum(int(r["quantity"]) for r in rows if r["item"] == "camera") == 4
    assert rows[-1]["item"] == "TOTAL"
    assert float(rows[-1]["total_price"]) == pytest.approx(sum(float(r["total_price"]) for r in rows[:-1]))

    html = report.read_text(encoding="utf-8")
    assert "Thôn Đồng Bùa" in html and "<svg" in html and "health-wall" in html and "Fresnel" in html


def test_plan_place_budget_and_greedy_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = EXAMPLES / "plan_village.json"
    assert main(["plan", "place", "--input", str(src), "--k", "4", "--budget", "130"]) == 0
    out = capsys.readouterr().out
    assert ": 1 camera," in out or ": 2 cameras," in out
    assert main(["plan", "place", "--input", str(src), "--k", "2", "--greedy-only"]) == 0
    assert "gap unknown (greedy only" in capsys.readouterr().out


@pytest.mark.parametrize("doc,message", [
    ({"mounts": []}, "at least one candidate mount"),
    ({"mounts": [{"id": "a", "lat": 21.5, "lon": 105.3, "height_m": 4, "colour": "red"}]}, "unknown key 'colour'"),
    ({"mounts": [{"id": "a", "lat": 21.5, "lon": 105.3, "height_m": 4}],
      "demand": [{"id": "d", "lat": 21.5, "lon": 105.3, "level": "Stare"}]}, "demand[0].level"),
])
def test_plan_place_bad_input_is_usage_error(tmp_path: Path, doc: dict, message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["plan", "place", "--input", str(path), "--k", "2"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plan_place_unwritable_output_is_command_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "1",
                 "--bom", str(tmp_path / "missing" / "bom.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_bill_of_materials_cells_from_the_plan_input_are_no_spreadsheet_formulas(tmp_path: Path) -> None:
    """A model name from the plan's input such as "=HYPERLINK(…)" is written as text, not run by a spreadsheet."""
    shutil.copy(EXAMPLES / "plan_village_buildings.geojson", tmp_path / "plan_village_buildings.geojson")
    plan = json.loads((EXAMPLES / "plan_village.json").read_text(encoding="utf-8"))
    renamed = {c["model"]: f"=HYPERLINK(\"http://203.0.113.9/\",\"{n}\")" for n, c in enumerate(plan["cameras"])}
    for camera in plan["cameras"]:
        camera["model"] = renamed[camera["model"]]
    text = json.dumps(plan, ensure_ascii=False)
    for old, new in renamed.items():  # mounts and other references name the models too
        text = text.replace(json.dumps(old, ensure_ascii=False), json.dumps(new, ensure_ascii=False))
    (tmp_path / "plan_village.json").write_text(text, encoding="utf-8")
    bom = tmp_path / "bom.csv"
    assert main(["plan", "place", "--input", str(tmp_path / "plan_village.json"), "--k", "4",
                 "--bom", str(bom)]) == 0
    cameras = [r for r in csv.DictReader(bom.open(encoding="utf-8")) if r["item"] == "camera"]
    assert cameras and all(r["model"].startswith("'=HYPERLINK(") for r in cameras), cameras


def test_plan_place_says_why_a_mount_is_not_used_in_vietnamese(capsys: pytest.CaptureFixture[str]) -> None:
    """`--lang vi`: every infeasibility reason of the sample village is in Vietnamese; no English sentence stays."""
    from sitescout.inventory.planning import plan_input, plan_io
    from sitescout.plan_words import REASONS

    inp = plan_input.load_plan_input(EXAMPLES / "plan_village.json")
    result = plan_io.make_plan(inp, 2, time_limit_s=0.5, use_milp=False)
    english = [str(r) for c in result.checks for r in c.all_reasons()]
    codes = {r.code for c in result.checks for r in c.all_reasons()}
    assert len(english) >= 3 and len(codes) >= 2
    assert main(["--lang", "vi", "plan", "place", "--input", str(EXAMPLES / "plan_village.json"), "--k", "2",
                 "--greedy-only"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == len(english) and all(line.startswith("  không dùng được: ") for line in lines), err
    assert "không có điện tại điểm lắp" in err, err
    for text in english:
        assert text not in err and text.split(";")[0].split(":")[-1].strip() not in err, (text, err)
    for sentence, _params in REASONS.values():  # nor the fixed words of any English sentence ("switch" is Vietnamese)
        parts = [part.split("}")[-1].strip(" ;:,.()") for part in sentence.split("{")]
        words = [w for w in parts if len(w.split()) >= 3]
        assert not any(w in err for w in words), (words, err)


def test_every_reason_code_has_vietnamese_words() -> None:
    """All twelve reason codes render in Vietnamese, numbers in the Vietnamese way, the model in front."""
    from sitescout.i18n import set_language
    from sitescout.plan_words import REASONS, reason_text

    params = {"cable_m": 1234.4, "max_m": 90, "patch_m": 10, "uplink": "cáp-quang", "headroom_kbps": 1500.2,
              "need_kbps": 4096, "capacity_kbps": 2000, "power_w": 13.0, "port_w": 15.4, "switch": "sw-1",
              "left_w": 3.25, "distance_m": 820, "los_m": 2.5, "need_m": 4.75, "speed_mbps": 100,
              "utilisation_pct": 85}
    try:
        set_language("vi")
        for code, (sentence, _params) in REASONS.items():
            text = reason_text({"code": code, "model": "Bullet 4MP", **params})
            assert text.startswith("Bullet 4MP: ") and "{" not in text, text
            assert text.removeprefix("Bullet 4MP: ") != sentence.format(share="60 %", **{
                k: "" for k in ("cable", "max", "patch", "uplink", "headroom", "need", "capacity", "power", "port",
                                "switch", "left", "distance", "los", "utilisation", "speed")}), code
        assert "1.234 m" in reason_text({"code": "cable_too_long", **params})
        assert "(60%" in reason_text({"code": "radio_clearance", **params}).replace("\xa0", "").replace(" ", "")
        assert reason_text({"code": "new_code", "text": "x"}) == "{'code': 'new_code', 'text': 'x'}"
        set_language("en")
        assert reason_text({"code": "port_power", **params}) == "draws 13 W, the switch port gives 15.4 W"
    finally:
        set_language("en")
