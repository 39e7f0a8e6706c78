"""The command line: usage errors exit 2 with one line, --help works for every subcommand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sitescout.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["survey", "demo"])
def test_help_for_every_subcommand(command: str) -> None:
    result = _run(command, "--help")
    assert result.returncode == 0
    assert f"usage: sitescout {command}" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["survey", "--site", "x", "--network", "not-a-network"], "is not a CIDR network"),
        (["survey", "--site", "x", "--network", "10.0.0.0/8"], "over the limit"),
        (["survey", "--site", "x", "--network", "2001:db8::/64"], "only IPv4"),
        (["survey", "--site", "x", "--network", "127.0.0.0/30", "--wait", "0"], "--wait"),
        (["survey", "--site", "x", "--network", "127.0.0.0/30", "--credentials", "/nonexistent.toml"],
         "--credentials"),
        (["demo", "--cameras", "40"], "--cameras"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert result.stdout == ""


def test_missing_required_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["survey", "--network", "127.0.0.0/30"])
    assert exc.value.code == 2
    assert "--site" in capsys.readouterr().err
