"""The command's catalogue (gettext domain ``cli``): complete, never fuzzy, current with the source, compiled.

CI runs this file: a message added to src/sitescout or inventory/findings.py without its
Vietnamese translation fails here (see src/sitescout/i18n.py for the pybabel commands).
"""

from __future__ import annotations

import gettext
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from sitescout import i18n

ROOT = Path(__file__).resolve().parents[1]
SOURCE_CATALOGUES = ROOT / "src" / "sitescout" / "translations"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def _catalogue(lang: str) -> Catalog:
    with (SOURCE_CATALOGUES / lang / "LC_MESSAGES" / "cli.po").open("rb") as f:
        return read_po(f, locale=lang)


def _extracted() -> set[str]:
    """The msgids pybabel extracts today from the command, the shared findings table and the survey report."""
    shared = [ROOT / "inventory" / name for name in ("findings.py", "survey_report.py", "report_topology.py")]
    files = sorted((ROOT / "src" / "sitescout").rglob("*.py")) + shared
    found = set()
    for path in files:
        for _lineno, message, _comments, _context in extract_from_file("python", str(path), keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_vietnamese_catalogue_is_complete_and_not_fuzzy() -> None:
    catalogue = _catalogue("vi")
    assert not catalogue.fuzzy, "the catalogue header is marked fuzzy"
    untranslated = [m.id for m in catalogue if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not untranslated, f"messages without a Vietnamese translation: {untranslated}"
    assert not fuzzy, f"fuzzy messages: {fuzzy}"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_catalogue_matches_the_source(lang: str) -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(lang) if m.id}
    extracted = _extracted()
    assert not extracted - ids, f"not in the {lang} catalogue (run pybabel extract/update): {extracted - ids}"
    assert not ids - extracted, f"no longer in the source (run pybabel update): {ids - extracted}"


def test_compiled_catalogue_is_current() -> None:
    """The installed .mo gives every Vietnamese string of the .po (pybabel compile was run)."""
    translation = gettext.translation(i18n.DOMAIN, i18n.TRANSLATIONS_DIR, languages=["vi"])
    stale = [m.id for m in _catalogue("vi") if m.id and isinstance(m.id, str) and translation.gettext(m.id) != m.string]
    assert not stale, f"cli.mo is older than cli.po for: {stale}"


def test_placeholders_survive_translation() -> None:
    """A translation names exactly the parameters of its message (else .format() fails at the edge)."""
    import re

    names = re.compile(r"\{(\w*)\}")
    wrong = [m.id for m in _catalogue("vi") if m.id and isinstance(m.id, str)
             and sorted(names.findall(m.id)) != sorted(names.findall(m.string))]
    assert not wrong, wrong


def test_lang_option_and_environment_choose_the_language() -> None:
    """A usage error at the edge is printed in the chosen language; --lang beats LANG."""
    def run(*args: str, lang: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "LANG": lang}
        return subprocess.run([sys.executable, "-m", "sitescout", *args, "demo", "--cameras", "40"],
                              capture_output=True, text=True, timeout=60, env=env)

    vi = run(lang="vi_VN.UTF-8")
    assert vi.returncode == 2
    assert vi.stderr.strip() == "sitescout demo: lỗi: --cameras phải từ 1 đến 12"
    en = run(lang="C.UTF-8")
    assert en.stderr.strip() == "sitescout demo: error: --cameras must be between 1 and 12"
    forced = run("--lang", "en", lang="vi_VN.UTF-8")
    assert forced.stderr.strip() == "sitescout demo: error: --cameras must be between 1 and 12"
    forced_vi = run("--lang", "vi", lang="C.UTF-8")
    assert "lỗi: --cameras" in forced_vi.stderr


def test_vietnamese_catalogue_follows_the_glossary() -> None:
    """No word the glossary rejects (docs/glossary.md, "Words we do not use") is in the command's catalogue."""
    import re

    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    section = glossary.split("## Words we do not use", 1)[1].split("\n## ", 1)[0]
    rejected = re.findall(r"^- `([^`]+)`", section, re.M)
    assert len(rejected) >= 5, "the glossary's list of rejected words went missing"
    used = [(word, m.string) for m in _catalogue("vi") if m.id and isinstance(m.string, str)
            for word in rejected if word.lower() in m.string.lower()
            and not (word == "phát hiện" and m.id == "Detect")]  # the DORI level itself (plan_words.LEVELS)
    assert not used, f"words the glossary rejects: {used}"


def test_option_type_errors_speak_the_chosen_language() -> None:
    """argparse checks --listen while it parses, before --lang is read: the language is set first."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run([sys.executable, "-m", "sitescout", "--lang=vi", "demo", "--listen", "10.0.0.1:80"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "demo chỉ chạy trên loopback" in result.stderr
