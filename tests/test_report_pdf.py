"""The survey report's PDF fits A4 portrait: every camera's serial, stream and snapshot inside the page.

Real WeasyPrint, read back with poppler's tools: ``pdftotext`` must find every serial and every
stream and snapshot address (wrapped lines joined), ``pdfimages -list`` every snapshot, and
``pdftoppm`` pages must be blank in the side margins (nothing runs off the page).  A
3,000-host survey must render within the server's caps (web.pdf.PdfLimits' defaults).
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from report_support import many_camera_survey
from support import login
from web_seed import FROZEN_SITE, large_survey

from sitescout.i18n import DOMAIN, TRANSLATIONS_DIR
from sitescout.inventory.survey_report import Reader, render_survey_html
from sitescout.web.isolation import run_isolated
from sitescout.web.pdf import PdfLimits, html_to_pdf

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (tests/run.sh)")

#: 12 mm side margins at 50 dpi are 23.6 px; the outer 20 px of each side must stay white.
MARGIN_PX = 20


def _vi() -> Reader:
    return Reader(gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=["vi"]).gettext, "vi")


def _pdf(tmp_path: Path, html: str, name: str = "report.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(html_to_pdf(html))
    return path


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _squeezed(text: str) -> str:
    """Text with every blank removed: a wrapped address reads whole again."""
    return re.sub(r"\s+", "", text)


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info), info
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def _read_pgm(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    magic, width, height, _maxval, pixels = re.match(rb"(P5)\s+(\d+)\s+(\d+)\s+(\d+)\s(.*)", data, re.S).groups()
    return int(width), int(height), pixels


def _ink_in_side_margins(pdf: Path, tmp_path: Path) -> list[str]:
    """Return "page N: x=…" for every page with a dark pixel in its outer side margins."""
    subprocess.run(["pdftoppm", "-r", "50", "-gray", str(pdf), str(tmp_path / "page")], check=True)
    found = []
    for page in sorted(tmp_path.glob("page-*.pgm")):
        width, height, pixels = _read_pgm(page)
        for y in range(height):
            row = pixels[y * width:(y + 1) * width]
            dark = [x for x in [*range(MARGIN_PX), *range(width - MARGIN_PX, width)] if row[x] < 200]
            if dark:
                found.append(f"{page.name}: x={dark[:3]} y={y}")
                break
    return found


def test_vietnamese_pdf_of_seven_cameras_keeps_everything_inside_a4(tmp_path: Path) -> None:
    doc = many_camera_survey(7)
    pdf = _pdf(tmp_path, render_survey_html(doc, _vi()))
    pages = _pages(pdf)
    text = _text(pdf)
    whole = _squeezed(text)
    cameras = [h for h in doc["hosts"] if h["kind"] == "camera"]
    for host in cameras:
        assert host["onvif"]["serial"] in whole
        for profile in host["onvif"]["profiles"]:
            assert _squeezed(profile["stream_uri"]) in whole and _squeezed(profile["snapshot_uri"]) in whole
    assert "Báo cáo khảo sát" in text and "Trang 1 / " in text and f"Trang {pages} / {pages}" in text
    assert "không cần tài khoản" in text and "not_needed" not in text and "+00:00" not in text
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = [line.split() for line in listing.splitlines()[2:] if line.strip()]
    assert len([i for i in images if i[2] == "image"]) == len(cameras), listing
    assert _ink_in_side_margins(pdf, tmp_path) == []


def test_margin_check_sees_a_table_that_runs_off_the_page(tmp_path: Path) -> None:
    # What the old report did: a wide table of unbreakable cells, no fixed layout.
    cell = "<td>" + "rtsp://198.51.100.30:554/" + "x" * 60 + "</td>"
    style = "<style>@page { size: A4; margin: 12mm }</style>"
    html = f"<html><body>{style}<table><tr>{cell * 3}</tr></table></body></html>"
    assert _ink_in_side_margins(_pdf(tmp_path, html), tmp_path)


def test_3000_host_survey_renders_within_the_server_caps(tmp_path: Path) -> None:
    # Measured on a 2-core machine: ~35 s of CPU, ~240 pages (the server's cap is PdfLimits.cpu_s = 120 s).
    doc = large_survey("Nhà văn hóa Thôn Hướng Đạo", 3000)
    html = render_survey_html(doc, _vi())
    limits = PdfLimits()
    started = time.monotonic()
    data = run_isolated(html_to_pdf, html, memory_bytes=limits.memory_bytes, cpu_s=limits.cpu_s,
                        wall_s=2 * limits.cpu_s + 10)
    elapsed = time.monotonic() - started
    pdf = tmp_path / "large.pdf"
    pdf.write_bytes(data)
    pages = _pages(pdf)
    print(f"3,000 hosts: {pages} pages, {len(data)} bytes, {elapsed:.1f} s wall")
    assert 100 < pages < 400
    text = _text(pdf)
    by_page = text.split("\f")
    # Table headers repeat on every page a table runs over: the findings' and the devices' tables span dozens.
    assert sum("Mức độ" in page for page in by_page) > 20 and sum("Cổng mở" in page for page in by_page) > 20
    whole = _squeezed(text)
    uris = [s["uri"] for h in doc["hosts"] for s in h["streams"]]
    assert len(uris) == 300 and all(uri in whole for uri in uris)


def test_a_viewer_asking_again_gets_the_kept_pdf_without_the_survey_being_loaded(app, site_ids, monkeypatch):  # noqa: F811
    from sitescout.inventory import store

    loads: list[int] = []
    real = store.get_survey_document
    monkeypatch.setattr(store, "get_survey_document", lambda session, survey_id: loads.append(survey_id)
                        or real(session, survey_id))
    client = app.test_client()
    login(client)
    path = f"/sites/{site_ids[FROZEN_SITE]}/report.pdf"
    first = [client.get(path) for _ in range(3)]
    assert all(r.status_code == 200 and r.data == first[0].data for r in first)
    assert len(loads) == 1 and app.extensions["sitescout_pdf_cache"].renders == 1
    client.set_cookie("sitescout_lang", "en")  # another language is another document
    english = client.get(path)
    assert english.status_code == 200 and english.data != first[0].data
    assert len(loads) == 2 and app.extensions["sitescout_pdf_cache"].renders == 2
    assert client.get(f"/sites/{site_ids[FROZEN_SITE]}/report").status_code == 200 and len(loads) == 3
