"""The benchmark ledger's tooling (benchmarks/ledger): summaries, the compare rule, the generated docs blocks.

No benchmark runs here: entries are built from made-up samples, except the check
that docs/benchmarks.md's generated blocks match the committed ledger.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ledger import compare, model, render  # noqa: E402
from benchmarks.ledger.__main__ import main as ledger_main  # noqa: E402
from benchmarks.ledger.registry import BENCHMARKS, BY_NAME, select  # noqa: E402


def _stream_samples(check_cpu: list[float], ffmpeg_cpu: list[float]) -> list[dict[str, float]]:
    return [{"survey_cpu_s": c, "survey_sched_cpu_s": c, "monitoring_cpu_s": c * 0.9,
             "monitoring_sched_cpu_s": c * 0.9, "ffmpeg_cpu_s": f} for c, f in zip(check_cpu, ffmpeg_cpu)]


def _entry(entry_id: str, benchmarks: dict[str, Any], commit: str = "a" * 40) -> dict[str, Any]:
    return {"schema": 1, "id": entry_id, "date": f"2026-12-06T{entry_id[9:11]}:{entry_id[11:13]}:00+00:00",
            "commit": commit, "dirty": False, "set": "quick", "note": "",
            "machine": {"cores": 2, "python": "3.11.7"}, "load_before": [1.0, 1.0, 1.0],
            "load_after": [2.0, 1.0, 1.0], "benchmarks": benchmarks}


def _stream_result(check_cpu: list[float], ffmpeg_cpu: list[float]) -> dict[str, Any]:
    bench = BY_NAME["stream_check"]
    return {"status": "ok", "title": bench.title, "anchor": bench.anchor, "load_before": [1.0, 1.0, 1.0],
            "load_after": [1.5, 1.0, 1.0], "repeats": len(check_cpu), "invocations": 1,
            "command": "python benchmarks/bench_stream_check.py --runs 5",
            **model.summarise(bench, _stream_samples(check_cpu, ffmpeg_cpu))}


def test_summary_is_median_runs_and_relative_range() -> None:
    s = model.summary([0.30, 0.20, 0.25, 0.22, 0.28])
    assert s["value"] == 0.25 and s["n"] == 5
    assert s["spread"] == pytest.approx((0.30 - 0.20) / 0.25)
    assert model.summary([0.4])["spread"] is None
    assert model.summary([])["value"] is None


def test_ratios_are_paired_per_sample() -> None:
    # Run 2's check is slow but so is its ffmpeg (a loaded moment): the paired ratio stays flat.
    result = model.summarise(BY_NAME["stream_check"], _stream_samples([0.08, 0.16, 0.08], [0.4, 0.8, 0.4]))
    ratio = result["ratios"]["survey_vs_ffmpeg"]
    assert ratio["runs"] == [0.2, 0.2, 0.2] and ratio["spread"] == 0
    assert result["figures"]["survey_cpu_s"]["value"] == 0.08
    assert result["figures"]["survey_cpu_s"]["tracked"] and not result["figures"]["ffmpeg_cpu_s"]["tracked"]


def test_tolerance_is_twice_the_baseline_iqr_with_a_floor() -> None:
    ratio = {"of": ["a", "b"]}
    # Quartiles of 0.8, 0.9, 1.0, 1.1, 1.2 ("inclusive"): 0.9 and 1.1, IQR 0.2 over median 1.0.
    assert compare.tolerance({**ratio, "runs": [1.0, 0.8, 1.2, 0.9, 1.1]})[0] == pytest.approx(0.4)
    # One outlier run (a neighbour's burst) does not widen the tolerance: the IQR ignores it.
    assert compare.tolerance({**ratio, "runs": [1.0, 1.01, 0.99, 1.0, 3.0]})[0] == compare.MIN_TOLERANCE
    assert compare.tolerance({**ratio, "runs": [1.0]})[0] == compare.SINGLE_RUN_TOLERANCE
    assert compare.tolerance({**ratio, "runs": [0.9, 1.1]})[0] == pytest.approx(0.2)  # two runs: the range
    # An absolute figure (no anchor shares its load) has the wider floor.
    assert compare.tolerance({"unit": "s", "runs": [1.0, 1.01, 0.99]})[0] == compare.ABSOLUTE_MIN_TOLERANCE
    assert compare.tolerance({"unit": "s", "runs": [1.0]})[0] == compare.ABSOLUTE_MIN_TOLERANCE


def test_worse_by_follows_the_direction() -> None:
    assert compare.worse_by(0.2, 0.3, "lower") == pytest.approx(0.5)
    assert compare.worse_by(1.5, 1.0, "higher") == pytest.approx(0.5)
    assert compare.worse_by(1.0, 1.5, "higher") < 0


def test_compare_flags_a_slower_stream_check_and_not_noise() -> None:
    base = _entry("20261206T100000Z-aaaaaaa-quick", {"stream_check": _stream_result(
        [0.080, 0.082, 0.078, 0.081, 0.079], [0.40, 0.41, 0.39, 0.40, 0.40])})
    noisy = _entry("20261206T110000Z-bbbbbbb-quick", {"stream_check": _stream_result(
        [0.084, 0.085, 0.083, 0.086, 0.084], [0.40, 0.41, 0.39, 0.40, 0.40])})  # +5 %: inside the 10 % floor
    slow = _entry("20261206T120000Z-ccccccc-quick", {"stream_check": _stream_result(
        [0.130, 0.128, 0.131, 0.129, 0.132], [0.40, 0.41, 0.39, 0.40, 0.40])})  # +60 %, the regression
    entries = [base, noisy, slow]
    assert not any(f.flagged for f in compare.compare_entries(noisy, entries))
    flagged = {f.metric for f in compare.compare_entries(slow, entries, baseline=base) if f.flagged}
    assert {"survey_vs_ffmpeg", "monitoring_vs_ffmpeg", "survey_cpu_s", "monitoring_cpu_s"} <= flagged
    # Figures that are only recorded (ffmpeg's own CPU) are never compared.
    assert not any(f.metric == "ffmpeg_cpu_s" for f in compare.compare_entries(slow, entries))


def test_a_noisy_baseline_widens_the_tolerance() -> None:
    bench = BY_NAME["probe_rate"]
    noisy = model.summarise(bench, [{"sitescout_rps": s, "blackbox_rps": 1000.0} for s in (1000, 1500, 2000)])
    base = _entry("20261206T100000Z-aaaaaaa-quick", {"probe_rate": {"status": "ok", **noisy}})
    drop = model.summarise(bench, [{"sitescout_rps": s, "blackbox_rps": 1000.0} for s in (1100, 1200, 1150)])
    new = _entry("20261206T110000Z-bbbbbbb-quick", {"probe_rate": {"status": "ok", **drop}})
    (finding,) = compare.compare_entries(new, [base, new])
    # Median 1.5 -> 1.15 is 30 % worse (higher is better), inside 2 × the baseline's IQR (2 × 33 %).
    assert finding.worse_by == pytest.approx(1.5 / 1.15 - 1, rel=1e-3) and not finding.flagged
    collapse = model.summarise(bench, [{"sitescout_rps": s, "blackbox_rps": 1000.0} for s in (500, 550, 520)])
    worse = _entry("20261206T120000Z-ccccccc-quick", {"probe_rate": {"status": "ok", **collapse}})
    assert compare.compare_entries(worse, [base, worse])[0].flagged


def test_a_goal_met_in_the_baseline_and_missed_now_is_flagged_within_tolerance() -> None:
    bench = BY_NAME["cameras"]
    sample = {"found": 50, "distinct_endpoints": 50, "identified": 50, "discovery_s": 3.0, "interrogation_s": 1.4}
    base = _entry(
        "20261206T100000Z-aaaaaaa-full", {"cameras": {"status": "ok", **model.summarise(bench, [sample] * 3)}}
    )
    lost = _entry("20261206T110000Z-bbbbbbb-full", {"cameras": {"status": "ok", **model.summarise(
        bench, [{**sample, "found": 47, "identified": 47}] * 3)}})
    findings = {f.metric: f for f in compare.compare_entries(lost, [base, lost])}
    assert findings["found"].worse_by < compare.MIN_TOLERANCE and findings["found"].flagged
    assert "goal 50 met in every baseline repeat" in findings["found"].note
    assert not findings["interrogation_s"].flagged


def test_a_failed_run_is_flagged_a_skipped_one_is_not() -> None:
    base = _entry("20261206T100000Z-aaaaaaa-quick", {"stream_check": _stream_result([0.08, 0.08], [0.4, 0.4])})
    failed = _entry("20261206T110000Z-bbbbbbb-quick", {"stream_check": {"status": "failed", "reason": "exit 1"}})
    skipped = _entry("20261206T120000Z-ccccccc-quick", {"stream_check": {"status": "skipped", "reason": "no ffmpeg"}})
    assert compare.compare_entries(failed, [base, failed])[0].flagged
    assert not compare.compare_entries(skipped, [base, skipped])[0].flagged


def test_baseline_is_the_newest_earlier_entry_where_the_benchmark_ran() -> None:
    old = _entry("20261206T090000Z-aaaaaaa-full", {"stream_check": _stream_result([0.1, 0.1], [0.4, 0.4]),
                                                    "metrics": {"status": "ok"}})
    mid = _entry("20261206T100000Z-bbbbbbb-only", {"stream_check": {"status": "skipped", "reason": "x"}})
    new = _entry("20261206T110000Z-ccccccc-only", {"stream_check": _stream_result([0.1, 0.1], [0.4, 0.4])})
    later = _entry("20261206T120000Z-ddddddd-only", {"stream_check": _stream_result([0.1, 0.1], [0.4, 0.4])})
    assert compare.baseline_for("stream_check", [old, mid, new, later], new["id"]) is old
    assert compare.baseline_for("cameras", [old, mid, new], new["id"]) is None


def test_compare_command_exits_1_when_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _entry("20261206T100000Z-aaaaaaa-quick", {"stream_check": _stream_result(
        [0.076, 0.08, 0.078, 0.077, 0.079], [0.4] * 5)})
    slow = _entry("20261206T120000Z-ccccccc-quick", {"stream_check": _stream_result([0.13] * 5, [0.4] * 5)})
    same = _entry("20261206T130000Z-ddddddd-quick", {"stream_check": _stream_result(
        [0.08, 0.081, 0.079, 0.08, 0.082], [0.4] * 5)})  # +3 %: noise
    paths = {}
    for e in (base, slow, same):
        paths[e["id"]] = model.save_entry(e, tmp_path)
    assert ledger_main(["compare", str(paths[slow["id"]]), "--baseline", str(paths[base["id"]])]) == 1
    out = capsys.readouterr().out
    assert "!!stream_check" in out and "survey_vs_ffmpeg" in out
    assert ledger_main(["compare", str(paths[same["id"]]), "--baseline", str(paths[base["id"]])]) == 0


def test_render_rebuilds_blocks_and_keeps_prose() -> None:
    entry = _entry("20261206T100000Z-aaaaaaa-quick", {"stream_check": _stream_result(
        [0.08, 0.09, 0.07], [0.40, 0.40, 0.40]), "cameras": {"status": "skipped", "reason": "needs root"}})
    text = ("# B\n\nprose above\n\n<!-- ledger:begin summary -->\nold table\n<!-- ledger:end summary -->\n\n"
            "## Stream\n\nhand prose\n\n<!-- ledger:begin stream_check -->\n<!-- ledger:end stream_check -->\n\n"
            "## End\n\nlast words\n")
    out = render.render_text(text, [entry])
    assert "old table" not in out and "prose above" in out and "hand prose" in out and out.endswith("last words\n")
    assert "| stream_check | survey check / ffmpeg | 0.2 × | 0.175–0.225 (n=3) | 25% | ≤ 0.2 met |" in out
    assert "| cameras | — | skipped: needs root |" in out
    assert "`python benchmarks/bench_stream_check.py --runs 5`" in out
    assert render.render_text(out, [entry]) == out  # idempotent
    assert render.block_names(out) == ["summary", "stream_check"]


def test_render_marks_a_missed_goal() -> None:
    entry = _entry("20261206T100000Z-aaaaaaa-quick", {"stream_check": _stream_result([0.13] * 3, [0.38] * 3)})
    assert "≤ 0.2 **missed**" in render.benchmark_block([entry], "stream_check")


def test_unknown_block_is_an_error() -> None:
    with pytest.raises(KeyError):
        render.render_text("<!-- ledger:begin nosuch -->\n<!-- ledger:end nosuch -->\n", [])


def test_registry_extractors_read_the_scripts_json() -> None:
    stream = {"check": {"cpu_s_runs": [0.08, 0.09], "ns_cpu_s_runs": [0.075, 0.085]},
              "monitoring_check": {"cpu_s_runs": [0.07, 0.07], "ns_cpu_s_runs": [0.069, 0.07]},
              "ffmpeg_cpu_s_runs": [0.4, 0.41]}
    assert BY_NAME["stream_check"].extract(stream)[1] == {
        "survey_cpu_s": 0.09, "survey_sched_cpu_s": 0.085, "monitoring_cpu_s": 0.07, "monitoring_sched_cpu_s": 0.07,
        "ffmpeg_cpu_s": 0.41}
    hosts = {"times": {"sitescout": [0.8, 0.9], "nmap -sn -n": [3.0, 3.1], "arp-scan": [0.6, 0.6]}}
    assert BY_NAME["host_discovery"].extract(hosts)[0] == {"sweep_s": 0.8, "nmap_s": 3.0, "arp_scan_s": 0.6}
    imports = {"results": {"sqlite": {"devices_import_s": 60.0, "devices_import_cpu_s": 20.0, "devices_per_s": 1600},
                           "sqlite_raw": {"devices_import_s": 0.9, "devices_import_cpu_s": 0.8, "devices_per_s": 1e5},
                           "postgresql_skipped": {"reason": "no server"}}}
    (sample,) = BY_NAME["import"].extract(imports)
    assert sample["sqlite_import_cpu_s"] == 20.0 and sample["sqlite_raw_import_cpu_s"] == 0.8
    assert "postgresql_import_cpu_s" not in sample
    ratio = model.summarise(BY_NAME["import"], [sample])["ratios"]["sqlite_cpu_vs_raw"]
    assert ratio["value"] == 25.0 and ratio["n"] == 1


def test_quick_subset_is_part_of_the_full_set() -> None:
    quick, full = select(None, quick=True), select(None, quick=False)
    assert quick and set(b.name for b in quick) < set(b.name for b in full) == set(BY_NAME)
    assert "stream_check" in {b.name for b in quick}
    with pytest.raises(KeyError):
        select(["nosuch"], quick=True)


def test_committed_entries_are_well_formed() -> None:
    entries = model.load_entries()
    assert entries, "the ledger holds no entry"
    for entry in entries:
        assert entry["id"] == f"{entry['id']}" and len(entry["commit"]) == 40
        for name, result in entry["benchmarks"].items():
            assert name in BY_NAME and result["status"] in ("ok", "skipped", "failed")
            if result["status"] != "ok":
                assert result["reason"], f"{entry['id']} {name}: a skipped or failed run says why"
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    json.dumps(entries, allow_nan=False)  # no NaN slipped into a committed entry


def test_docs_blocks_are_current_with_the_committed_ledger() -> None:
    text = render.DOCS.read_text(encoding="utf-8")
    assert render.render_text(text, model.load_entries()) == text, "run: python -m benchmarks.ledger render"
    names = render.block_names(text)
    assert {"summary", "history"} <= set(names)
    assert set(BY_NAME) <= set(names), "every registry benchmark has its block in docs/benchmarks.md"
    # The file's last section is hand-written prose only (other work appends there).
    assert "ledger:" not in text.rsplit("\n## ", 1)[1]
    assert len(BENCHMARKS) == len(BY_NAME)


def test_a_missing_tool_is_recorded_as_skipped_with_the_reason(tmp_path: Path) -> None:
    from dataclasses import replace

    from benchmarks.ledger import runner

    bench = replace(BY_NAME["stream_check"], tools=("sitescout-no-such-tool",), needs_root=False)
    result = runner.run_benchmark(bench, quick=True, log_dir=tmp_path)
    assert result["status"] == "skipped" and "sitescout-no-such-tool" in result["reason"]
    assert "figures" not in result and not list(tmp_path.iterdir())  # nothing ran


def test_a_failing_script_is_recorded_as_failed_with_its_output(tmp_path: Path) -> None:
    from dataclasses import replace

    from benchmarks.ledger import runner

    # bench_placement.py rejects an unknown size at once (argparse exit 2), without measuring anything.
    bench = replace(BY_NAME["placement"], args=("--size", "1x1"), quick_args=())
    result = runner.run_benchmark(bench, quick=True, log_dir=tmp_path)
    assert result["status"] == "failed" and result["reason"].startswith("exit 2")
    assert "--size" in result["reason"]
