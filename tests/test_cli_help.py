"""`sitescout --help` and every subcommand's help in Vietnamese and English, argparse's own words included.

The help texts go through the `cli` catalogue; argparse's words ("usage:", "options",
"show this help message and exit", "the following arguments are required") through the
small `argparse` catalogue (src/sitescout/i18n.py).
"""

from __future__ import annotations

import argparse
import gettext
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from sitescout import i18n
from sitescout.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
ARGPARSE_PO = ROOT / "src" / "sitescout" / "translations" / "vi" / "LC_MESSAGES" / "argparse.po"

#: Words that read the same in the Vietnamese help: names, protocols, formats, the glossary's kept words.
KEPT = {
    "onvif", "json", "html", "csv", "geojson", "yaml", "toml", "mbtiles", "sqlite", "http", "https", "url", "api",
    "rest", "token", "worker", "metrics", "prometheus", "sd", "icmp", "tcp", "arp", "multicast", "unicast", "ws",
    "discovery", "dori", "milp", "highs", "poe", "iec", "rtt", "jitter", "admin", "editor", "viewer", "stdout",
    "stdin", "root", "loopback", "ctrl", "username", "password", "credentials", "security", "passwordtext", "basic",
    "blackbox", "sighup", "post", "reload", "tls", "bcrypt", "exporter", "toolkit", "web", "raw", "datagram",
    "zalo", "oa", "mail", "sms", "openstreetmap", "contributors", "user", "agent", "webp", "png", "jpeg", "mib",
    "kib", "cpu", "noc", "monitor", "inspect", "camera", "script", "header", "reverse", "proxy", "module",
    "sitescout", "vi", "en", "vv", "uplink", "http_sd", "internet", "stream", "model", "profile",
    "snmp", "community", "communities",  # docs/glossary.md keeps "community" (every switch menu says it)
    "switch",  # docs/glossary.md keeps "switch" ("bộ chuyển mạch" only in textbooks)
    "socket", "terminal", "id", "in", "so",  # Vietnamese words too: "in" (to print), "so" ("so với": compared with)
}


@pytest.fixture()
def vi() -> Iterator[None]:
    i18n.set_language("vi")
    yield
    i18n.set_language("en")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Yield the parser and every subcommand's parser, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _helps(lang: str) -> dict[str, str]:
    i18n.set_language(lang)
    try:
        return {p.prog: p.format_help() for p in _parsers(build_parser())}
    finally:
        i18n.set_language("en")


def _english_texts() -> list[str]:
    """Every help and description text as the English parser has it (the cli catalogue's help msgids)."""
    i18n.set_language("en")
    texts = []
    for p in _parsers(build_parser()):
        texts += [p.description or ""] + [a.help for a in p._actions if a.help and a.help is not argparse.SUPPRESS]
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts += [c.help for c in action._choices_actions if c.help]
    return [t for t in texts if t]


def _words(text: str) -> set[str]:
    """Lower-case ASCII words of a help page, leaving out option names, metavars, paths and examples."""
    text = re.sub(r"`[^`]*`|\S*[/.$=@]\S*|--?[\w-]+|\b[A-Z][A-Z0-9_:|.-]+\b|'[^']*'|\{[^}]*\}", " ", text)
    return {w.lower() for w in re.findall(r"\b[A-Za-z]{2,}\b", text)}


def test_every_help_page_is_vietnamese_with_no_english_sentence_or_word_left() -> None:
    english_texts = _english_texts()
    english_words = set().union(*(_words(t) for t in english_texts)) - KEPT
    english_words |= {"usage", "options", "positional", "arguments", "show", "this", "help", "message", "exit"}
    pages = _helps("vi")
    assert len(pages) >= 16, sorted(pages)  # the command, its subcommands and theirs (plan dori, tiles fetch…)
    for prog, page in pages.items():
        assert page.startswith("cách dùng: "), prog
        assert "tùy chọn:" in page and "hiện phần trợ giúp này rồi thoát" in page, prog
        for sentence in english_texts:
            assert sentence not in page, (prog, sentence)
        # Command names are names: the program's own ("sitescout plan dori") and the list of subcommands.
        names = re.sub(r"(?m)^ {4}[a-z-]+(?= {2,}|$)", " ", page.replace(prog, " "))
        left = _words(names) & english_words
        assert not left, f"{prog}: English words in the Vietnamese help: {sorted(left)}"


#: Placeholders that read the same in Vietnamese: protocol words, units, letters.
KEPT_METAVARS = {"SNMP",
                 "URL", "CIDR", "IF", "HOST", "PORT", "N", "K", "S", "M", "MM", "PX", "DEG", "ID", "MODULE", "EMAIL",
                 "Z1", "Z2", "JSON", "HTML", "TOML", "YAML", "CSV", "API", "HTTP", "HTTPS", "DORI", "MILP", "ONVIF",
                 "PTZ", "RTSP", "SQLITE", "MBTILES", "NOC", "TLS", "UI", "IEC", "KIB", "MIB", "ICMP", "TCP", "ARP",
                 "RTT", "CPU", "SIGHUP", "POST", "REST", "SMS", "OA", "PNG", "JPEG", "WS", "POE", "ISO",
                 "LANG", "LC_ALL", "LC_MESSAGES", "SITESCOUT_TOKEN"}  # environment variables: names


def test_placeholders_are_vietnamese_too() -> None:
    """FILE, SECONDS, SITE… in the usage lines are words: the Vietnamese help names them in Vietnamese."""
    def placeholders(page: str) -> set[str]:
        return set(re.findall(r"(?<![\w./-])[A-Z][A-Z0-9_]+(?![\w./-])", page)) - KEPT_METAVARS  # not in paths

    en, vi = _helps("en"), _helps("vi")
    english = set().union(*(placeholders(page) for page in en.values()))
    assert {"FILE", "SECONDS", "SITE", "COMMAND"} <= english  # the check sees them
    for prog, page in vi.items():
        left = placeholders(page) & english
        assert not left, f"{prog}: English placeholders in the Vietnamese help: {sorted(left)}"


def test_every_help_text_goes_through_the_catalogue() -> None:
    """A help= or description= not wrapped in _() reads the same in both languages: none does."""
    en, vi = _helps("en"), _helps("vi")
    assert en.keys() == vi.keys()
    for prog in en:
        assert en[prog].startswith("usage: ") and "options:" in en[prog], prog
        lines_en = {line.strip() for line in en[prog].splitlines() if len(_words(line)) >= 3}
        same = [line for line in lines_en if line in vi[prog] and not line.startswith(("usage", "[", "--"))]
        assert not same, f"{prog}: the same in both languages: {same}"


def _run(*args: str, lang: str = "vi_VN.UTF-8") -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": lang}
    return subprocess.run([sys.executable, "-m", "sitescout", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd="/")


def test_survey_help_follows_lang_and_lang_option_chooses_english() -> None:
    vi = _run("survey", "--help")
    assert vi.returncode == 0
    assert vi.stdout.startswith("cách dùng: sitescout survey") and "hiện phần trợ giúp này rồi thoát" in vi.stdout
    assert "dải mạng cần khảo sát" in vi.stdout
    assert not {"usage", "options", "network", "survey", "the", "and", "of"} & {
        w.lower() for w in re.findall(r"\b[a-z]+\b", re.sub(r"--?[\w-]+|sitescout survey", " ", vi.stdout))}
    en = _run("--lang", "en", "survey", "--help")
    assert en.stdout.startswith("usage: sitescout survey") and "show this help message and exit" in en.stdout
    assert "network to survey (repeatable); only these are swept" in en.stdout
    assert "cách dùng" not in en.stdout and "khảo sát" not in en.stdout
    assert _run("--help", lang="C.UTF-8").stdout.startswith("usage: sitescout")
    assert _run("--lang=vi", "--help", lang="C.UTF-8").stdout.startswith("cách dùng: sitescout")


def test_argparse_errors_speak_vietnamese() -> None:
    missing = _run("survey")
    assert missing.returncode == 2
    assert "sitescout survey: lỗi: còn thiếu các tham số bắt buộc: --site, --network" in missing.stderr
    assert missing.stderr.startswith("cách dùng: ")
    wrong = _run("--lang", "fr", "survey")
    assert wrong.returncode == 2 and "lựa chọn không hợp lệ: 'fr' (chọn một trong: 'vi', 'en')" in wrong.stderr
    unknown = _run("tiles", "fetch", "--bbox", "1,2,3,4", "--zoom", "1", "--url", "u", "--out", "o", "--bogus")
    assert unknown.returncode == 2 and "không hiểu các tham số: --bogus" in unknown.stderr
    typed = _run("demo", "--cameras", "many")
    assert typed.returncode == 2 and "giá trị int không hợp lệ: 'many'" in typed.stderr
    english = _run("--lang", "en", "survey")
    assert "the following arguments are required: --site, --network" in english.stderr


def test_argparse_catalogue_covers_this_pythons_argparse_and_is_compiled() -> None:
    """Every msgid of the running Python's argparse.py has its Vietnamese (a new Python adds some: add them)."""
    wanted = set()
    for _lineno, message, _comments, _context in extract_from_file(
            "python", argparse.__file__, keywords={"_": None, "ngettext": (1, 2)}):
        wanted.add(message if isinstance(message, str) else message[0])
    with ARGPARSE_PO.open("rb") as f:
        catalogue = read_po(f, locale="vi")
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogue if m.id}
    assert not wanted - have.keys(), f"argparse msgids without Vietnamese: {sorted(wanted - have.keys())}"
    assert not catalogue.fuzzy and not any(m.fuzzy for m in have.values())
    compiled = gettext.translation(i18n.ARGPARSE_DOMAIN, i18n.TRANSLATIONS_DIR, languages=["vi"])
    for msgid, message in have.items():
        text = message.string if isinstance(message.string, str) else message.string[0]
        assert text and text != msgid, msgid
        got = compiled.gettext(msgid) if isinstance(message.id, str) else compiled.ngettext(msgid, message.id[1], 1)
        assert got == text, f"argparse.mo is older than argparse.po (pybabel compile -D argparse): {msgid}"
