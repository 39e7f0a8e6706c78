"""No English a user reads bypasses the web catalogue: the templates' text and the scripts' messages.

A template's literal text (outside ``{{ _() }}``) and its title, placeholder, aria-label and alt
attributes are read with Jinja blocks, comments, scripts and tags taken out: what is left must be
names that are the same in both languages (IP, ONVIF, PDF …), a language's own name, or a CSS
class a block gives.  A script in web/static (vendor excepted) must show no English string
literal of its own to a user (``textContent =``, ``alert``, ``confirm``, its status line): its
words come from the page (``data-*`` attributes, a JSON of labels made with the catalogue).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "web"

#: Same in both languages: names, formats, units; the languages' own names (endonyms) on the switch.
SAME_IN_BOTH = {
    "IP", "MAC", "ONVIF", "RTSP", "API", "GeoJSON", "CSV", "JSON", "PDF", "HTML", "DORI", "SNMP", "PoE", "VLAN",
    "LLDP", "sitescout", "OpenStreetMap", "Leaflet", "HFOV", "ETag", "URL", "URI", "NTP", "fps", "Prometheus",
    "MBTiles", "OpenAPI", "Zalo", "English", "api", "openapi", "json",
    "map-page", "workbench-page",  # CSS classes a block gives the page's body
}
_ATTRS = re.compile(r'\s(?:title|placeholder|aria-label|alt)="([^"]*)"')


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z'’-]{2,}", text)


def _outside_jinja(text: str) -> str:
    for pattern in (r"{#.*?#}", r"<script.*?</script>", r"<style.*?</style>", r"{{.*?}}", r"{%.*?%}"):
        text = re.sub(pattern, " ", text, flags=re.S)
    return text


def test_templates_have_no_literal_english() -> None:
    found = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = _outside_jinja(path.read_text(encoding="utf-8"))
        attributes = [v for v in _ATTRS.findall(text) if set(_words(v)) - SAME_IN_BOTH]
        words = re.sub(r"&[a-z]+;|&#\d+;", " ", re.sub(r"<[^>]*>", " ", text))
        left = [w for w in _words(words) if w not in SAME_IN_BOTH]
        if left or attributes:
            found[path.name] = left + attributes
    assert found == {}, f"text outside the catalogue (wrap it in _()): {found}"


_SHOWN = re.compile(r"""(?:textContent\s*=|innerText\s*=|alert\(|confirm\(|\bsay\(|\bstatus\()\s*(['"])(.*?)\1""")


def test_scripts_show_no_english_of_their_own() -> None:
    found = []
    for path in sorted((ROOT / "static").glob("*.js")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("//", 1)[0]
            found += [f"{path.name}:{number}: {m.group(2)}" for m in _SHOWN.finditer(code)
                      if re.search(r"[A-Za-z]{2,}", m.group(2))]
    assert found == [], found
