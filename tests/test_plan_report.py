"""The plan report on paper, parsed: every coverage sector in the sketch, points of interest labelled by their
given names, and the total cost equal to the bill of materials with its currency.

Two renderers: `sitescout plan place --report` (inventory/planning/plan_report.py, English) and the workbench's
print page (/sites/<id>/plans/<n>/print, in the reader's language).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support import bearer, login
from web_seed import HD

from sitescout.inventory.planning import plan_input, plan_io, plan_report

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "plan_village.json"
DATABASE_BACKENDS = ("sqlite",)
SVG = "{http://www.w3.org/2000/svg}"


class _Cells(HTMLParser):
    """Collect the page's one inline SVG (as text) and the text of each table cell with a class."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.svg: list[str] = []
        self.in_svg = 0
        self.classed: dict[str, str] = {}
        self._cell: str | None = None
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" or self.in_svg:
            self.in_svg += tag == "svg"
            self.svg.append(self.get_starttag_text() or "")
            return
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = a.get("class") or ""
            self.rows[-1].append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_svg:
            self.svg.append(self.get_starttag_text() or "")  # <polygon …/> as written
        else:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.in_svg:
            self.svg.append(f"</{tag}>")
            self.in_svg -= tag == "svg"
            return
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self.in_svg:
            self.svg.append(data.replace("&", "&amp;").replace("<", "&lt;"))
        elif self._cell is not None:
            self.rows[-1][-1] += data
            if self._cell:
                self.classed[self._cell] = self.classed.get(self._cell, "") + data


def _parse(html: str) -> tuple[ET.Element, _Cells]:
    cells = _Cells()
    cells.feed(html)
    svg = "".join(cells.svg).replace("<br>", "")
    return ET.fromstring(svg), cells


def _number(text: str, lang: str) -> float:
    """Read a number as the page writes it (en: 1,234.5; vi: 1.234,5)."""
    digits = re.search(r"[\d.,]+", text).group(0)
    if lang == "vi":
        digits = digits.replace(".", "").replace(",", ".")
    else:
        digits = digits.replace(",", "")
    return float(digits)


def test_the_cli_report_has_every_sector_named_points_and_the_bill_total_with_currency() -> None:
    inp = plan_input.load_plan_input(SAMPLE)
    result = plan_io.make_plan(inp, 4, time_limit_s=3.0)
    geojson = plan_io.plan_geojson(result)
    svg, cells = _parse(plan_report.render_plan_html(result))
    sectors = [f for f in geojson["features"] if f["properties"]["kind"] == "coverage"]
    polygons = svg.findall(f"{SVG}polygon")
    assert len(polygons) == len(sectors) > 0
    # Every sector whole inside the drawing (its corners within the view box).
    _, _, width, height = (float(v) for v in svg.get("viewBox").split())
    for polygon in polygons:
        for corner in polygon.get("points").split():
            x, y = (float(v) for v in corner.split(","))
            assert -0.5 <= x <= width + 0.5 and -0.5 <= y <= height + 0.5, (x, y, width, height)
    labels = {t.text for t in svg.findall(f"{SVG}text")}
    given = {"Cổng làng", "Chợ", "Cổng trường", "Trạm y tế", "Ngã tư", "Nhà văn hoá"}
    assert set(inp.names.values()) == given and given <= labels, labels
    total_row = next(r for r in cells.rows if r and r[0] == "TOTAL")
    bom_total = float(total_row[5])
    assert bom_total == pytest.approx(plan_report.bom_total(result)) and bom_total > geojson["plan"]["cost"] > 0
    cost = cells.classed["total-cost"]
    assert cost.endswith(" USD") and _number(cost, "en") == pytest.approx(bom_total), cost


def test_a_wrong_currency_is_refused() -> None:
    doc = __import__("json").loads(SAMPLE.read_text(encoding="utf-8"))
    doc["currency"] = "dollars"
    with pytest.raises(plan_input.PlanInputError, match="currency"):
        plan_input.parse_plan_input(doc, SAMPLE.parent)


def test_the_print_page_has_every_sector_named_points_and_the_bill_total_in_vnd(app, database, tokens,
                                                                                  site_ids) -> None:
    from test_planner_workbench import _design, _optimised

    client = app.test_client()
    design = _design(database, site_ids[HD], pois=6, mounts=6)
    doc = _optimised(client, site_ids[HD], design, bearer(tokens["editor"]), k=3)
    login(client, "viewer")
    client.get("/lang/vi?next=/map")
    page = client.get(f"/sites/{site_ids[HD]}/plans/{doc['saved']['plan_id']}/print")
    assert page.status_code == 200
    svg, cells = _parse(page.text)
    sectors = sum(f["properties"]["kind"] == "coverage" for f in doc["features"])
    assert len(svg.findall(f"{SVG}polygon")) == sectors > 0
    labels = {t.text for t in svg.findall(f"{SVG}text")}
    names = {f["properties"]["name"] for f in design["features"] if f["properties"]["kind"] in ("poi", "demand")}
    assert names and names <= labels, (names, labels)
    total_row = next(r for r in cells.rows if r and r[0] == "Tổng cộng")
    cost = cells.classed["total-cost"]
    assert cost.strip().endswith("VND") and "(VND)" in page.text
    total = _number(total_row[-1], "vi")
    assert total > 0 and _number(cost, "vi") == pytest.approx(total), (cost, total_row)
