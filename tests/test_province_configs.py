"""The province reference deployment's configs (infra/province/) pass their own tools, and route as documented.

promtool checks the agent configs and unit-tests the site-level alert; vmalert (the rule engine that runs
against the central store) loads every rule file; amtool checks the Alertmanager config and shows where
each kind of alert goes; the notification settings example loads.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sitescout.web.notify import load_notify_settings

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = ROOT / "infra" / "province"
ALL_RULES = [ROOT / "infra" / "prometheus" / "rules" / "sitescout-recording.yml",
             ROOT / "infra" / "prometheus" / "rules" / "sitescout-alerts.yml",
             PROVINCE / "rules" / "sitescout-site-alerts.yml"]
PROMTOOL, AMTOOL, VMALERT = shutil.which("promtool"), shutil.which("amtool"), shutil.which("vmalert")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=PROVINCE, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
@pytest.mark.parametrize("config", ["agent-1.yml", "agent-2.yml"])
def test_agent_configs_are_valid(config: str) -> None:
    done = _run(str(PROMTOOL), "check", "config", "--agent", config)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_site_alert_rules_and_unit_tests() -> None:
    done = _run(str(PROMTOOL), "check", "rules", "rules/sitescout-site-alerts.yml")
    assert done.returncode == 0 and "SUCCESS: 1 rules found" in done.stdout, done.stdout + done.stderr
    done = _run(str(PROMTOOL), "test", "rules", "tests/sitescout-site-alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(VMALERT is None, reason="vmalert not installed (Debian package victoria-metrics)")
def test_vmalert_loads_every_rule_file(tmp_path: Path) -> None:
    done = _run(str(VMALERT), "-dryRun", *(f"-rule={p}" for p in ALL_RULES))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    broken = tmp_path / "broken.yml"  # and it does refuse a broken one (the check is not a no-op)
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: max by (site (x)\n")
    assert _run(str(VMALERT), "-dryRun", f"-rule={broken}").returncode != 0


needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (Debian prometheus-alertmanager)")


@needs_amtool
def test_alertmanager_config_is_valid() -> None:
    done = _run(str(AMTOOL), "check-config", "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 inhibit rules" in done.stdout and "4 receivers" in done.stdout


@needs_amtool
@pytest.mark.parametrize("labels, receivers", [
    # every alert reaches sitescout serve (site contacts); the region's or commune's NOC too
    ({"region": "Tuyên Quang", "commune": "Xã Hướng Đạo", "site": "Thôn Đồng Bùa",
      "alertname": "SitescoutCameraDown", "severity": "critical"}, "sitescout,noc-huong-dao"),
    ({"region": "Tuyên Quang", "commune": "Xã Đạo Viện", "site": "Chợ", "alertname": "SitescoutStreamBlack",
      "severity": "warning"}, "sitescout,noc-tuyen-quang"),
    ({"region": "Vĩnh Phúc", "commune": "Xã Đạo Trù", "site": "Chợ", "alertname": "SitescoutSiteDown",
      "severity": "critical"}, "sitescout"),
    # a worker's own trouble goes to the platform team, whatever region its target is labelled with
    ({"region": "Tuyên Quang", "commune": "Xã Hướng Đạo", "alertname": "SitescoutWorkerDown",
      "severity": "critical"}, "sitescout,noc-platform"),
])
def test_alertmanager_routes(labels: dict[str, str], receivers: str) -> None:
    done = _run(str(AMTOOL), "config", "routes", "test", "--config.file=alertmanager.yml",
                *(f"{k}={v}" for k, v in labels.items()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receivers


def test_notify_settings_example_loads(tmp_path: Path) -> None:
    shutil.copy(PROVINCE / "notify.yml", tmp_path / "notify.yml")
    for name, secret in (("sms-api-key", "k1"), ("zalo-oa-access-token", "z1"), ("smtp-password", "p1")):
        (tmp_path / name).write_text(secret + "\n")
    settings = load_notify_settings(tmp_path / "notify.yml")
    assert [c.name for c in settings.channels] == ["sms", "zalo", "email"]
    sms, zalo, email = settings.channels
    assert sms.fields["api_key"] == "k1" and zalo.access_token == "z1" and email.password == "p1"  # type: ignore[attr-defined]
    assert settings.timezone == "Asia/Ho_Chi_Minh" and settings.hold_down_s == 3600
    (tmp_path / "notify.yml").write_text("smss: {}\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_notify_settings(tmp_path / "notify.yml")


def test_serve_refuses_a_broken_notify_config(tmp_path: Path) -> None:
    import sys

    bad = tmp_path / "notify.yml"
    bad.write_text("zalo:\n  access_token_file: missing-token\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitescout",
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'i.sqlite3'}",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            "127.0.0.1:0",
            "--notify-config",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "missing-token" in done.stderr and "check --notify-config" in done.stderr
