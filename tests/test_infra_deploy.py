"""Deployment files: the compose file (parsed: no container engine here) and the systemd units (verified)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
UNITS = {
    "serve": INFRA / "systemd" / "sitescout-serve.service",
    "worker": INFRA / "systemd" / "sitescout-worker.service",
}


def _unit(path: Path) -> dict[str, list[str]]:
    """Parse a unit file into key -> values (keys may repeat; continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _help(command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "sitescout", command, "--help"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        pytest.skip(f"`sitescout {command} --help` fails: {done.stderr.strip()[-200:]}")
    return done.stdout


def test_compose_file_parses_and_wires_the_repository_files() -> None:
    doc = yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    assert set(services) == {"prometheus", "grafana", "sitescout-serve", "sitescout-worker"}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin the image"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (INFRA / source).exists(), f"{name}: {source} does not exist"
    assert services["sitescout-worker"]["cap_add"] == ["NET_RAW"]
    assert "prometheus.yml" in " ".join(services["prometheus"]["command"])
    assert (INFRA / "prometheus" / "prometheus.yml").exists()
    build = services["sitescout-serve"]["build"]
    assert (INFRA / build["context"] / "setup.cfg").exists() and "pip install" in build["dockerfile_inline"]
    assert set(doc["volumes"]) == {"prometheus-data", "grafana-data", "serve-data"}


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_compose_commands_use_existing_options(command: str) -> None:
    doc = yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))
    argv = doc["services"][f"sitescout-{command}"]["command"]
    assert argv[0] == command
    usage = _help(command)
    for option in (a for a in argv if a.startswith("--")):
        assert option in usage, f"compose: sitescout {command} has no {option}"


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_unit_hardening_and_options(command: str) -> None:
    unit = _unit(UNITS[command])
    for key, value in [("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
                       ("RestrictSUIDSGID", "yes"), ("SystemCallArchitectures", "native")]:
        assert unit.get(key) == [value], f"{command}: {key}={unit.get(key)}"
    caps = "CAP_NET_RAW" if command == "worker" else ""
    assert unit["CapabilityBoundingSet"] == [caps] and unit["AmbientCapabilities"] == [caps]
    exec_start = unit["ExecStart"][0].split()
    assert exec_start[1] == command and "127.0.0.1:" in unit["ExecStart"][0]
    usage = _help(command)
    for option in (a for a in exec_start if a.startswith("--")):
        assert option in usage, f"{UNITS[command].name}: sitescout {command} has no {option}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify, with ExecStart pointed at this checkout's installed command."""
    sitescout = Path(sys.executable).with_name("sitescout")
    if not sitescout.exists():
        pytest.skip("the sitescout command is not installed next to this python")
    copies = []
    for path in UNITS.values():
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace("/opt/sitescout/bin/sitescout", str(sitescout)),
                        encoding="utf-8")
        copies.append(str(copy))
    done = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 0 and not problems, "\n".join(problems)
