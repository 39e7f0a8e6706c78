"""The command line: usage errors exit 2 with one line, --help works for every subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: (tmp / "not-a-db.sqlite3").write_text("not a database") and tmp / "not-a-db.sqlite3",
     "is not a SQLite database"),
    (lambda tmp: Path("/proc/no-such-folder/inventory.sqlite3"), "cannot create the folder /proc/no-such-folder"),
])
def test_a_database_that_cannot_be_opened_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            make: Any, words: str) -> None:
    """A file that is not SQLite, or a folder that cannot be made, says so naming --db (exit 1, as for any
    database that cannot be opened): no traceback."""
    path = make(tmp_path)
    code = main(["--lang", "en", "export", "sites", "--db", f"sqlite:///{path}"])
    err = capsys.readouterr().err
    assert code == 1 and words in err and "check --db" in err and "Traceback" not in err, err
