"""The command's own modules hold no English sentence outside the catalogue, and its options parsed below it
(--network, --listen, --probe-limit, the worker's check) answer in the reader's language.

The scan reads ``src/sitescout/*.py`` as Python: every string of three English words or more must be the
argument of ``_()``, ``N_()`` or ``ngettext()``, a docstring, a log line (for the operator, in English), or
one of the few listed below with the reason it is not said to a user.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ROOT / "src" / "sitescout"

#: Calls whose string arguments are not user words (gettext marks them; logs and argparse plumbing are not said).
_NOT_SAID = {"_", "N_", "ngettext", "debug", "info", "warning", "exception", "getLogger", "basicConfig"}
#: (module, start of the string) -> why it stays English.
ALLOWED = {
    ("demo_basemap.py", "sitescout demo basemap"): "MBTiles metadata in the file; the map says its own words",
    ("demo_basemap.py", "Drawn by sitescout"): "MBTiles metadata in the file; the map says its own words",
    ("demo_basemap.py", "Demo basemap drawn"): "MBTiles metadata; web/map.py shows a catalogued attribution instead",
    ("demo_basemap.py", "cannot write the demo basemap"): "an OSError the demo logs and goes on without the map",
    ("demo_plan.py", "the demo site "): "a bug guard: the demo seeds that site itself",
    ("demo_plan.py", " is missing or has no coordinates"): "a bug guard: the demo seeds that site itself",
    ("httpserver.py", "headers not complete after "): "why a connection was closed: a log line",
    ("httpserver.py", "body slower than "): "why a connection was closed: a log line",
    ("httpserver.py", "answer not read for "): "why a connection was closed: a log line",
}


def _english(text: str) -> bool:
    # placeholders, options, paths, file names and keys are not words
    bare = re.sub(r"%\(\w+\)\w|\{[^}]*\}|--[\w.-]+|\S*[/_=]\S*|\S*\w[.-]\w\S*", " ", text)
    return len(re.findall(r"\b[A-Za-z][a-z]+\b", bare)) >= 3


def _unsaid(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.add(id(first.value))  # a docstring
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in _NOT_SAID or (name == "error" and isinstance(func, ast.Attribute)
                                     and getattr(func.value, "id", "") == "log"):
                skip.update(id(sub) for sub in ast.walk(node))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and _english(node.value)]


def test_the_command_says_no_sentence_outside_its_catalogue() -> None:
    found = []
    for path in sorted(COMMAND.glob("*.py")):
        for line, text in _unsaid(path):
            if not any(path.name == name and text.startswith(start) for name, start in ALLOWED):
                found.append(f"{path.name}:{line}: {text[:80]!r}")
    assert not found, "English the user reads, not through the cli catalogue:\n" + "\n".join(found)


def test_the_scan_finds_what_it_is_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('raise UsageError(f"--db {url} cannot be opened; check it")\n'
                      'print(_("this one is said"))\nlog.info("%s: a log line for the operator", x)\n',
                      encoding="utf-8")
    assert [text for _line, text in _unsaid(sample)] == [" cannot be opened; check it"]


def _run(*args: str, lang: str = "vi_VN.UTF-8") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": lang}
    return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.mark.parametrize("args,vi,en", [
    (("survey", "--site", "Thôn Đồng Bùa", "--network", "198.51.100.0/33"),
     "--network '198.51.100.0/33' không phải dải mạng CIDR như 198.51.100.0/24",
     "--network '198.51.100.0/33' is not a CIDR network such as 198.51.100.0/24"),
    (("survey", "--site", "Thôn Đồng Bùa", "--network", "2001:db8::/64"),
     "--network '2001:db8::/64': chỉ quét được dải mạng IPv4", "--network '2001:db8::/64': only IPv4 networks"),
    (("worker", "--targets", "t.yml", "--listen", "9110"),
     "--listen phải có dạng HOST:PORT (ví dụ 127.0.0.1:9110), không phải '9110'",
     "--listen must be HOST:PORT (e.g. 127.0.0.1:9110), not '9110'"),
    (("worker", "--targets", "t.yml", "--probe-limit", "icmp"),
     "--probe-limit 'icmp': cần MODULE=N với MODULE là một trong", "--probe-limit 'icmp': expected MODULE=N"),
    (("serve", "--timezone", "Asia/Atlantis"), "không có múi giờ 'Asia/Atlantis'", "unknown time zone 'Asia/Atlantis'"),
])
def test_options_parsed_below_the_command_are_said_in_both_languages(tmp_path: Path, args: tuple[str, ...], vi: str,
                                                                     en: str) -> None:
    args = tuple(str(tmp_path / a) if a == "t.yml" else a for a in args)
    said_vi, said_en = _run(*args), _run("--lang", "en", *args)
    assert said_vi.returncode == said_en.returncode == 2, (said_vi.stderr, said_en.stderr)
    assert vi in said_vi.stderr and "Traceback" not in said_vi.stderr, said_vi.stderr
    assert en in said_en.stderr, said_en.stderr


def test_the_worker_s_check_says_how_many_targets_in_both_languages(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yml"
    targets.write_text("targets:\n  - site: Thôn Đồng Bùa\n    device: cam-1\n    ip: 127.0.0.1\n",
                       encoding="utf-8")
    vi = _run("worker", "--targets", str(targets), "--check-config")
    en = _run("--lang", "en", "worker", "--targets", str(targets), "--check-config")
    assert vi.returncode == en.returncode == 0, (vi.stderr, en.stderr)
    assert vi.stdout.strip() == f"{targets}: ổn, 1 mục tiêu"
    assert en.stdout.strip() == f"{targets}: ok, 1 target"


def test_tokens_list_says_times_in_the_sites_zone(tmp_path: Path) -> None:
    """Tokens are stored in UTC; the list says them in the sites' zone (TZ, else Asia/Ho_Chi_Minh), with the offset."""
    from datetime import UTC, datetime

    from sitescout.inventory import store
    from sitescout.inventory.db import open_database
    from sitescout.inventory.model_accounts import ApiToken

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    database = open_database(url)
    with database.session() as session:
        store.create_token(session, "viewer")
        token = session.query(ApiToken).one()
        token.created_at = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)
        token.expires_at = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    database.close()
    listed = _run("tokens", "list", "--db", url)
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1].split("\t")
    assert row[4:] == ["2026-12-07T03:30+07:00", "2027-01-01T07:00+07:00"], row
