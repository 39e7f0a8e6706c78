"""The change log on the site page and the device page (issue #13): who, when, field before → after.

A real app on a temporary inventory seeded with the demo commune and the frozen site
(tests/web_seed.py, the shared fixtures of tests/conftest.py); edits go through the real forms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from support import login
from web_seed import FROZEN_SITE

from sitescout.inventory.changes import record_event
from sitescout.inventory.models import Change, Device
from sitescout.web.history import HISTORY_ON_PAGE

DATABASE_BACKENDS = ("sqlite",)


def _camera(database: Any, site_id: int) -> Device:
    with database.session() as session:
        return session.scalars(select(Device).where(Device.name == "Camera cổng", Device.site_id == site_id)).one()


def _form(client: Any, path: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|version)" value="([^"]*)"', client.get(path).text))


def _edit_notes(client: Any, device: Device, notes: str) -> None:
    path = f"/devices/{device.id}/edit"
    data = {**_form(client, path), "name": device.name, "kind": device.kind, "ip": device.ip or "",
            "status": device.status, "notes": notes}
    assert client.post(path, data=data).status_code == 302


def _history(page: str) -> str:
    start = page.index('id="history-heading"')
    return page[start:]


def test_an_edit_shows_on_the_site_and_device_pages_in_both_languages(app, database, site_ids) -> None:
    client = app.test_client()
    login(client, "editor")
    device = _camera(database, site_ids[FROZEN_SITE])
    _edit_notes(client, device, "dời lên cột điện")
    site_page = client.get(f"/sites/{site_ids[FROZEN_SITE]}", headers={"Accept-Language": "vi"}).text
    history = _history(site_page)
    assert "Lịch sử thay đổi" in site_page
    assert "editor" in history and "Ghi chú" in history and "— → dời lên cột điện" in history
    assert "thiết bị Camera cổng: đã sửa" in history
    assert f'href="/api/v1/changes?site={site_ids[FROZEN_SITE]}"' in history
    client.set_cookie("sitescout_lang", "en")
    device_page = client.get(f"/devices/{device.id}/edit").text
    history = _history(device_page)
    assert "History of changes" in device_page and "Notes</span>: — → dời lên cột điện" in history
    assert "device Camera cổng: changed" in history
    assert f'href="/api/v1/changes?object=device:{device.id}"' in history


def test_the_time_is_the_sites_zone_and_the_list_is_capped_with_a_link(app, database, site_ids) -> None:
    site_id = site_ids[FROZEN_SITE]
    with database.session() as session:
        for n in range(HISTORY_ON_PAGE + 5):
            row = record_event(session, "user:lan", "site", site_id, "move", {"latitude": n}, {"latitude": n + 1},
                               site_id=site_id)
            row.changed_at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    client = app.test_client()
    login(client, "editor")
    client.set_cookie("sitescout_lang", "en")
    history = _history(client.get(f"/sites/{site_id}").text)
    assert history.count('class="change"') == HISTORY_ON_PAGE
    # 03:04 UTC is 10:04 in Asia/Ho_Chi_Minh, the deployment's default zone.
    assert "10:04" in history and "03:04" not in history
    assert "5 older changes are not listed here." in history
    with database.session() as session:
        assert session.scalar(select(Change.id).limit(1)) is not None


def test_a_viewer_sees_no_history_as_the_api_refuses_it(app, site_ids, tokens) -> None:
    client = app.test_client()
    login(client, "viewer")
    page = client.get(f"/sites/{site_ids[FROZEN_SITE]}").text
    assert 'id="history-heading"' not in page
    assert client.get("/api/v1/changes").status_code == 403
