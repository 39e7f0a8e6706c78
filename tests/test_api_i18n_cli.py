"""The command's refusals in both languages: plan and inventory errors go through the ``cli`` catalogue.

Runs ``python -m sitescout`` as a user would (a subprocess, LANG as the shell sets it) and reads
stderr: the same refusal in Vietnamese and in English, the placeholders filled in both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(*args: str, lang: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": lang}
    return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd)


def test_plan_refusals_speak_the_users_language() -> None:
    vi = _run("plan", "dori", "--resolution", "1920", "--hfov", "200", lang="vi_VN.UTF-8")
    en = _run("plan", "dori", "--resolution", "1920", "--hfov", "200", lang="C.UTF-8")
    assert vi.returncode == en.returncode == 2
    assert "--hfov phải nằm trong khoảng 0 đến 180 độ" in vi.stderr and "must be" not in vi.stderr
    assert "--hfov must be between 0 and 180 degrees" in en.stderr


def test_import_refusals_speak_the_users_language(tmp_path: Path) -> None:
    odd = tmp_path / "sites.txt"
    odd.write_text("name\n", encoding="utf-8")
    vi = _run("import", str(odd), "--db", f"sqlite:///{tmp_path / 'i.sqlite3'}", lang="vi_VN.UTF-8")
    en = _run("import", str(odd), "--db", f"sqlite:///{tmp_path / 'i.sqlite3'}", lang="C.UTF-8")
    assert vi.returncode == en.returncode == 2, (vi.stderr, en.stderr)
    assert f"{odd}: không biết định dạng từ tên tệp; hãy thêm --format csv|geojson|json" in vi.stderr
    assert f"{odd}: cannot tell the format from the name; add --format csv|geojson|json" in en.stderr


def test_serve_and_worker_refusals_speak_the_users_language(tmp_path: Path) -> None:
    vi = _run("serve", "--threads", "0", "--data-dir", str(tmp_path), lang="vi_VN.UTF-8")
    en = _run("serve", "--threads", "0", "--data-dir", str(tmp_path), lang="C.UTF-8")
    assert vi.returncode == en.returncode == 2, (vi.stderr, en.stderr)
    assert "--threads phải từ 1 đến 256" in vi.stderr and "--threads must be between 1 and 256" in en.stderr
    vi = _run("worker", "--targets", str(tmp_path / "t.json"), "--inventory", "http://127.0.0.1:9", lang="vi_VN.UTF-8")
    assert vi.returncode == 2 and "--targets và --inventory chỉ dùng một trong hai" in vi.stderr, vi.stderr
