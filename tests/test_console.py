"""The terminal output: survey table at 80 and 100 columns, in Vietnamese and English; progress; empty survey."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from rich.console import Console

from sitescout import console, i18n

FIXTURE = Path(__file__).with_name("testdata") / "survey_console.json"
CATALOGUES = Path(i18n.__file__).with_name("translations")


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")


def _doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _render(doc: dict, lang: str, width: int) -> str:
    i18n.set_language(lang)
    out = Console(width=width, record=True, file=open("/dev/null", "w"), highlight=False)  # noqa: SIM115
    console.print_summary(doc, console=out)
    return out.export_text()


def _english_sentences() -> list[str]:
    """Every English text of the CLI catalogue that its Vietnamese translation changes, as literal fragments."""
    with (CATALOGUES / "vi" / "LC_MESSAGES" / "cli.po").open("rb") as f:
        catalogue = read_po(f)
    fragments = []
    for message in catalogue:
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if not message.id or ids == strings:
            continue
        for part in (p for text in ids if text not in strings for p in re.split(r"\{\w+\}", text)):
            part = part.strip(" ,.;:()—…")
            if any(part in string for string in strings):  # a word the translation keeps (glossary: "switch")
                continue
            if re.search(r"[A-Za-z]{3}", part):  # units such as "ms" are the same in both
                fragments.append(part)
    return fragments


@pytest.mark.parametrize("width", [80, 100])
def test_vietnamese_summary_has_no_english_sentence(width: int) -> None:
    text = _render(_doc(), "vi", width)
    english = [f for f in _english_sentences()
               if (re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text) if " " not in f else f in text)]
    assert not english, f"English left in the Vietnamese summary: {english}\n{text}"
    assert "Khảo sát Nhà văn hóa Thôn Đồng Bùa" in text
    assert "hình bị đứng (Profile_1)" in text  # the frozen stream, rendered from its code
    assert "đồng hồ camera lệch giờ +2,0 ngày" in text  # numbers per locale
    assert "TCP 14 ms, mất" in text  # a connect-time link is labelled TCP (its loss may wrap at 80)
    assert "sự cố" in text and "cảnh báo" in text


@pytest.mark.parametrize(("lang", "width"), [("vi", 80), ("vi", 100), ("en", 80), ("en", 100)])
def test_addresses_whole_headers_unbroken_and_inside_the_width(lang: str, width: int) -> None:
    doc = _doc()
    text = _render(doc, lang, width)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width, text
    table_lines = lines[1:lines.index(next(line for line in lines if line.startswith("─"))) + 1 + len(doc["hosts"]) * 4]
    for host in doc["hosts"]:
        assert any(line.startswith(host["ip"] + " ") for line in lines), (host["ip"], text)
        if host["mac"]:
            assert any(f" {host['mac']} " in f"{line} " and line.startswith(host["ip"]) for line in table_lines), text
    header = lines[next(i for i, line in enumerate(lines) if line.startswith("─")) - 1]
    i18n.set_language(lang)
    for word in ("IP", "MAC", i18n._("Kind"), i18n._("Link"), i18n._("Maker / model")):
        assert word in header, (word, header)
    # every column left out of the table is printed below it, for each host that has a value
    assert "V5.7.12 build 220819" in " ".join(text.split())


def test_english_summary_reads_english() -> None:
    text = _render(_doc(), "en", 80)
    assert "Survey of Nhà văn hóa Thôn Đồng Bùa" in text
    assert "frozen picture (Profile_1)" in text
    assert "camera clock is off by +2.0 days" in text
    assert "TCP 14 ms" in text
    assert "TCP: connect time to an open port" in text
    assert "something the table does not know yet" in text  # unknown errors keep their stored text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_empty_survey_says_what_to_check(lang: str) -> None:
    doc = _doc() | {"hosts": []}
    text = _render(doc, lang, 80)
    assert "198.51.100.0/24, 203.0.113.0/24" in text
    assert "--network" in text and "VLAN" in text
    assert ("cáp" if lang == "vi" else "cable") in text


def test_progress_never_shows_none() -> None:
    """Stages start with an unknown total (0): the count must not read 0/None, during or after."""
    out = Console(width=80, record=True, file=open("/dev/null", "w"), force_terminal=True)  # noqa: SIM115
    with console.SurveyProgress(out) as progress:
        progress.update("sweep", 0, 0)
        progress._progress.refresh()
        progress.update("sweep", 12, 12)
        progress.update("ws-discovery", 0, 0)
        progress._progress.refresh()
        progress.update("ws-discovery", 0, 0)  # no camera answered
        progress.update("onvif", 0, 0)
    text = out.export_text()
    assert "None" not in text, text
    assert "12/12" in text


def test_language_follows_the_environment() -> None:
    assert i18n.detect_language({"LANG": "vi_VN.UTF-8"}) == "vi"
    assert i18n.detect_language({"LANG": "en_US.UTF-8"}) == "en"
    assert i18n.detect_language({"LC_MESSAGES": "vi_VN", "LANG": "en_US.UTF-8"}) == "vi"
    assert i18n.detect_language({"LC_ALL": "C", "LC_MESSAGES": "vi_VN"}) == "en"
    assert i18n.detect_language({}) == "en"


def test_device_text_cannot_drive_the_terminal() -> None:
    """A camera's model, error or finding with escape sequences or rich markup prints them inert (\\x1b shown)."""
    import io

    doc = _doc()
    doc["hosts"][0]["onvif"]["model"] = "EVIL\x1b[2J\x1b]0;pwned\x07model\rX"
    doc["hosts"][0]["errors"].append("onvif: GetProfiles: malformed: bad \x1b[31mred\x1b[0m \x9b2J")
    doc["hosts"][1]["onvif"]["findings"] = ["note \x1b[1A\x1b[2K"]
    doc["site"] = "Thôn\x1b[5m [/x]"
    doc["hosts"][2]["vendor"] = "[/bold] [link=http://198.51.100.9]maker"  # rich markup is not read either
    buf = io.StringIO()
    out = Console(file=buf, width=100, force_terminal=True, color_system=None)
    console.print_summary(doc, console=out)
    text = buf.getvalue()
    assert not any(c in text for c in "\x1b\x07\x9b\r"), repr(text)
    assert "EVIL\\x1b[2J" in text.replace("\n", "")  # visible, so the technician sees the device sent it
    assert "[/x]" in text and "[/bold]" in " ".join(text.split())


def test_errors_at_the_edge_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """An error quoting outside text (here a file name; a server's answer to --push alike) prints it inert."""
    import subprocess
    import sys

    bad = tmp_path / "token\x1b]0;pwned\x07"
    result = subprocess.run([sys.executable, "-m", "sitescout", "--lang", "en", "survey", "--site", "x", "--network",
                             "127.0.0.16/30", "--push", "http://127.0.0.1:9", "--token-file", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "token\\x1b]0;pwned\\x07" in result.stderr


def test_a_camera_that_needs_credentials_is_said_once() -> None:
    """auth "required": one finding asking for the account, not one "refused" per ONVIF call."""
    from sitescout.inventory.findings import coded_findings

    doc = _doc()
    doc["hosts"][1]["errors"].append("onvif: GetNetworkInterfaces: auth: not sent (credentials required)")
    codes = [f.code for f in coded_findings(doc) if f.host == "198.51.100.102"]
    assert codes.count("auth_required") == 1
    assert "error_auth" not in codes
    assert "error_timeout" in codes  # other errors of that camera stay


def test_unknown_codes_and_broken_translations_fall_back_to_stored_text() -> None:
    """A code this table does not know yet (e.g. a device URI rule) prints the words stored with it."""
    from sitescout.inventory.findings import CodedFinding, render_finding

    stored = CodedFinding("uri_userinfo", "warning", "198.51.100.10", {"uri": "rtsp://…"}, "stream URI carried a user")
    assert render_finding(stored, lambda s: s) == ("stream URI carried a user", "")
    skew = CodedFinding("clock_skew", "warning", "198.51.100.10", {"offset_s": 90.0}, "clock off")
    assert render_finding(skew, lambda s: "lệch {nothing}" if "{offset_s}" in s else s)[0] == "clock off"
    assert render_finding(skew)[0] == "camera clock is off by +90.0 s"
