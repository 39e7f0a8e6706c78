"""The shipped Prometheus config and rules pass promtool, and every alert has unit tests that fire and clear."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "infra" / "prometheus"
RULES = [PROM / "rules" / "sitescout-recording.yml", PROM / "rules" / "sitescout-alerts.yml"]
UNIT_TESTS = sorted((PROM / "tests").glob("*.test.yml"))
PROMTOOL = shutil.which("promtool")

#: The alerts the worker contract (and the issue) promise.
CONTRACT_ALERTS = {
    "SitescoutCameraDown", "SitescoutStreamDown", "SitescoutStreamFrozen", "SitescoutStreamBlack",
    "SitescoutStreamFpsLow", "SitescoutLinkLossHigh", "SitescoutLinkLatencyHigh", "SitescoutCameraClockSkew",
    "SitescoutWorkerDown", "SitescoutConfigReloadFailed", "SitescoutUplinkDown", "SitescoutPoeBudgetNearlyExhausted",
    "SitescoutCameraPortDown", "SitescoutUplinkSaturated",
}
#: Alerts about a worker rather than a device: they name the instance instead of site and device.
WORKER_ALERTS = {"SitescoutWorkerDown", "SitescoutConfigReloadFailed"}

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def _promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES[1].read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_example_config_is_valid() -> None:
    done = _promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rule files found" in done.stdout


@needs_promtool
def test_rule_files_are_valid() -> None:
    done = _promtool("check", "rules", *map(str, RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout and "SUCCESS: 14 rules found" in done.stdout


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    assert UNIT_TESTS, "no promtool unit tests found"
    done = _promtool("test", "rules", *(str(p.relative_to(PROM)) for p in UNIT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(UNIT_TESTS)


def test_contract_alerts_are_defined() -> None:
    assert {a["alert"] for a in _alerts()} == CONTRACT_ALERTS


def test_every_alert_is_unit_tested_firing_and_clearing() -> None:
    """Each alert has a case where it fires and a later case, in the same test, where it has cleared."""
    fires: set[str] = set()
    clears: set[str] = set()
    quiet_before: set[str] = set()
    for path in UNIT_TESTS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["tests"]:
            checks = sorted(case.get("alert_rule_test", []), key=lambda c: _seconds(c["eval_time"]))
            for i, check in enumerate(checks):
                name = check["alertname"]
                if check["exp_alerts"]:
                    fires.add(name)
                    earlier = [c for c in checks[:i] if c["alertname"] == name]
                    later = [c for c in checks[i + 1:] if c["alertname"] == name]
                    if any(not c["exp_alerts"] for c in earlier):
                        quiet_before.add(name)
                    if any(not c["exp_alerts"] for c in later):
                        clears.add(name)
    assert fires == CONTRACT_ALERTS, f"never shown firing: {CONTRACT_ALERTS - fires}"
    assert quiet_before == CONTRACT_ALERTS, f"not shown pending before its `for`: {CONTRACT_ALERTS - quiet_before}"
    assert clears == CONTRACT_ALERTS, f"never shown clearing: {CONTRACT_ALERTS - clears}"


def test_alerts_carry_severity_and_name_what_they_are_about() -> None:
    for rule in _alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule.get("for"), f"{name}: no `for`: a single bad probe would page someone"
        summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
        needed = ["$labels.instance"] if name in WORKER_ALERTS else ["$labels.site", "$labels.device"]
        for text in (summary, description):
            for label in needed:
                assert label in text, f"{name}: {label} missing in {text!r}"


@needs_promtool
def test_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """Mutate one alert (a longer `for`, a looser threshold): the unit tests must fail."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES[0], tmp_path / "rules" / RULES[0].name)
    for path in UNIT_TESTS:
        shutil.copy(path, tmp_path / "tests" / path.name)
    original = RULES[1].read_text(encoding="utf-8")
    mutations = [
        ("expr: sitescout_device_up == 0\n        for: 2m", "expr: sitescout_device_up == 0\n        for: 3m"),
        ("sitescout:link_loss_ratio:avg1m > 0.05", "sitescout:link_loss_ratio:avg1m > 0.25"),
        ("abs(sitescout_onvif_clock_offset_seconds) > 5", "sitescout_onvif_clock_offset_seconds > 5"),
        ("(sitescout_interface_admin_up == 1)", "(sitescout_interface_admin_up >= 0)"),
        ("(sitescout_poe_budget_watts > 0) > 0.8", "(sitescout_poe_budget_watts > 0) > 0.9"),
        ("(sitescout_interface_camera == 1)", "(sitescout_interface_camera >= 0)"),
        ("ratio_rate5m > 0.7\n", "ratio_rate5m > 0.85\n"),
        ("(sitescout_interface_uplink == 1)\n        for: 10m", "(sitescout_interface_uplink >= 0)\n        for: 10m"),
    ]
    for old, new in mutations:
        assert old in original, old
        (tmp_path / "rules" / RULES[1].name).write_text(original.replace(old, new), encoding="utf-8")
        done = _promtool("test", "rules", *(f"tests/{p.name}" for p in UNIT_TESTS), cwd=tmp_path)
        assert done.returncode != 0, f"unit tests still pass after {old!r} -> {new!r}"
        assert "FAILED" in done.stdout + done.stderr


def _seconds(text: str) -> float:
    """Turn a Prometheus duration such as 1m30s into seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(text))
    assert parts, text
    return sum(float(n) * units[u] for n, u in parts)


def test_rules_and_their_tests_name_only_defined_metrics() -> None:
    """Every sitescout_ metric in the rules and their promtool tests is one of probes/worker/metric_defs.py."""
    from sitescout.probes.worker.metric_defs import BY_NAME
    for path in [*RULES, *UNIT_TESTS]:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"(?<![\w:\"-])(sitescout_[a-z0-9_]+)", text):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in BY_NAME or base in BY_NAME, (
                f"{path.name}: {name} is not defined in probes/worker/metric_defs.py"
            )
