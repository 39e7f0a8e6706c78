"""The API's readable page, GET /api/v1/docs (issue #13): made on the server from the OpenAPI document.

A real app on a temporary inventory (the shared fixtures).  The page must list every operation the
document describes, load nothing from elsewhere (it works offline), speak both languages, and,
like the document, need no login and show no inventory data.
"""

from __future__ import annotations

import html as htmllib
import re

from web_seed import FROZEN_SITE

DATABASE_BACKENDS = ("sqlite",)

_METHODS = ("get", "post", "put", "patch", "delete")


def test_the_page_lists_every_operation_of_the_document(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/v1/docs", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.text
    rows = [(m, htmllib.unescape(p)) for m, p in
            re.findall(r'<code class="method">(\w+)</code>.*?<code class="path">([^<]+)</code>', html, re.S)]
    expected = {(m.upper(), p) for p, item in spec["paths"].items() for m in _METHODS if m in item}
    assert len(rows) == len(expected) and set(rows) == expected
    assert ("PATCH", "/api/v1/devices/{device_id}") in set(rows)
    assert "List changes, newest first" in html  # a summary as the document has it
    assert "<code>If-Match</code>" in html and "<code>412</code>" in html and "<code>DeviceWrite</code>" in html
    assert 'id="tag-devices"' in html and "API reference" in html


def test_the_page_loads_nothing_from_elsewhere_and_holds_no_inventory(client, site_ids) -> None:
    html = client.get("/api/v1/docs").text
    assert "<script" not in html
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith(("/", "#")), url
    assert FROZEN_SITE not in html and "Camera cổng" not in html


def test_the_headings_are_in_vietnamese_and_english(client) -> None:
    vi = client.get("/api/v1/docs", headers={"Accept-Language": "vi"}).text
    assert "Tài liệu API" in vi and "Phương thức" in vi and "Đường dẫn" in vi
    assert "Nhật ký thay đổi" in vi
    assert "để nguyên tiếng Anh" in vi
    en = client.get("/api/v1/docs", headers={"Accept-Language": "en"}).text
    assert "Method" in en and "Change log" in en and "Tài liệu API" not in en
