"""The site page, the map tooltip's data and GET /api/v1/sites/<id> say what is wrong in words, since when."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from support import login
from web_seed import FROZEN_SITE, HD

from sitescout.inventory import store

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL

VI, EN = {"Accept-Language": "vi"}, {"Accept-Language": "en"}


@pytest.fixture()
def client(app):
    """A client logged in as the viewer."""
    client = app.test_client()
    login(client)
    return client


def _reasons(client, site_id, headers):
    feature = client.get(f"/api/v1/sites/{site_id}", headers=headers).get_json()
    return {d["name"]: d["reasons"] for d in feature["properties"]["devices"] if d["reasons"]}


def test_frozen_camera_in_words_with_local_time_in_vi_and_en(client, site_ids):
    """The seeded survey finished 2026-03-01 08:01:30 UTC: 15:01 in Asia/Ho_Chi_Minh."""
    site = site_ids[FROZEN_SITE]
    en = _reasons(client, site, EN)["Camera cổng"]
    assert [r["code"] for r in en] == ["stream_frozen"] and en[0]["level"] == "problem"
    assert en[0]["params"] == {"stream": "main"}
    assert en[0]["since_local"] == "2026-03-01T15:01:30+07:00"
    assert en[0]["text"] == "picture frozen (main) since 15:01 on Mar 1, 2026"
    vi = _reasons(client, site, VI)["Camera cổng"]
    assert vi[0]["text"].startswith("hình bị đứng (main) từ 15:01 ngày ")
    page_en = client.get(f"/sites/{site}", headers=EN).text
    page_vi = client.get(f"/sites/{site}", headers=VI).text
    assert "picture frozen (main) since 15:01 on Mar 1, 2026" in page_en
    assert vi[0]["text"] in page_vi and "hình bị đứng" not in page_en
    assert "last observed 15:01 on Mar 1, 2026" in page_en  # the site's time, no longer UTC


def test_worker_evidence_since_the_first_bad_observation(client, database, site_ids):
    """A link losing 12 % for the last twenty minutes reads so, since the first lossy echo, today's time only."""
    with database.session() as session:
        device = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.ip)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        rows = [{"device_id": device.id, "kind": "link", "health": "ok", "values": {"loss_ratio": 0.0},
                 "observed_at": (now - timedelta(minutes=30)).isoformat()}]
        rows += [{"device_id": device.id, "kind": "link", "health": "problem",
                  "values": {"loss_ratio": 0.12, "verdicts": [{"level": "problem", "code": "link_loss",
                                                               "params": {"loss": 0.12}}]},
                  "observed_at": (now - timedelta(minutes=m)).isoformat()} for m in (20, 10, 1)]
        store.accept_observations(session, rows)
    first_bad = (now - timedelta(minutes=20)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    reason = _reasons(client, site_ids[HD], EN)[device.name][0]
    assert reason["since_local"] == first_bad.isoformat()
    if first_bad.date() == datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date():
        assert reason["text"] == f"12% loss on the link to the device since {first_bad:%H:%M}"
    vi = _reasons(client, site_ids[HD], VI)[device.name][0]["text"]
    assert vi.startswith("mất gói 12")


def test_problems_only_shows_problems_only(client, database, site_ids):
    """A site with a warning (3 % loss) is on the map, but not under "problems only"."""
    with database.session() as session:
        device = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.ip)
        at = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
        store.accept_observations(session, [{"device_id": device.id, "kind": "link", "health": "warning",
                                             "values": {"loss_ratio": 0.03}, "observed_at": at}])
    everything = client.get("/api/v1/sites").get_json()["features"]
    health = {f["properties"]["name"]: f["properties"]["health"] for f in everything}
    assert health[HD] == "warning" and health[FROZEN_SITE] == "problem"
    problems = client.get("/api/v1/sites?problems=1").get_json()["features"]
    assert [f["properties"]["name"] for f in problems] == [FROZEN_SITE]
    page = client.get("/sites?problems=1", headers=EN).text
    assert FROZEN_SITE in page and HD not in page


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_reason_is_in_the_web_catalogue(lang):
    """inventory/health.py's sentences are not extracted from web/ (N_ marks them): both catalogues must hold them."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    from sitescout.inventory.health import REASONS

    path = Path(__file__).parents[1] / f"web/translations/{lang}/LC_MESSAGES/messages.po"
    with path.open("rb") as f:
        catalogue = read_po(f)
    wanted = {m for m in REASONS.values() if m != "%(text)s"}
    wanted |= {"%(n)s s", "%(n)s min", "%(n)s h", "%(n)s days", "%(amount)s ahead", "%(amount)s behind"}
    for message in wanted:
        entry = catalogue.get(message)
        assert entry is not None and entry.string and not entry.fuzzy, (lang, message)


def test_survey_rows_stored_before_verdicts_are_judged_again(client, database, site_ids):
    """A survey observation stored as text reasons only (before this change) still reads in words."""
    from sqlalchemy import select

    from sitescout.inventory.models import Observation

    with database.session() as session:
        row = session.scalars(select(Observation).where(Observation.kind == "survey")).one()
        values = dict(row.values)
        assert values.pop("verdicts")
        row.values = {**values, "reasons": ["main: frozen"]}  # as ingestion wrote them then
    reason = _reasons(client, site_ids[FROZEN_SITE], EN)["Camera cổng"]
    assert [r["text"] for r in reason] == ["picture frozen (main) since 15:01 on Mar 1, 2026"]
    assert _reasons(client, site_ids[FROZEN_SITE], VI)["Camera cổng"][0]["text"].startswith("hình bị đứng (main)")
