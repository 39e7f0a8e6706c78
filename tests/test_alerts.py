"""Alertmanager's webhook into the inventory and out to people: POST /api/v1/alerts, site health, messages.

A real Flask app on a fresh database (SQLite and PostgreSQL); the SMS gateway, Zalo OA and SMTP server are
loopback stubs that record what they receive (tests/notify_stubs.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notify_stubs import SmsGatewayStub, SmtpStub, ZaloOaStub
from sqlalchemy import select, update

from sitescout.inventory import store
from sitescout.inventory.alert_models import Alert, Notification
from sitescout.inventory.alerts import add_contact
from sitescout.inventory.models import Commune, Device, Region, Site
from sitescout.inventory.observations import MAX_CLOCK_SKEW, MAX_OBSERVATION_AGE
from sitescout.inventory.search import fold
from sitescout.web import create_app
from sitescout.web.notify import NotifySettings
from sitescout.web.notify_channels import EmailChannel, SmsHttpChannel, ZaloOaChannel


#: The alerts' times: yesterday (UTC) at 02:47:05 and 03:10, 09:47 in Asia/Ho_Chi_Minh.  Relative to
#: today, because the webhook refuses times too far in the past or the future.
_DAY = (datetime.now(UTC) - timedelta(days=1)).date()
STARTS = f"{_DAY.isoformat()}T02:47:05.123456789Z"
ENDS = f"{_DAY.isoformat()}T03:10:00Z"
SINCE_LOCAL = f"09:47 {_DAY.strftime('%d/%m/%Y')}"
#: The same time on the site page: Babel's short form for Vietnamese ("09:47 5/12/26").
SINCE_PAGE = f"09:47 {_DAY.day}/{_DAY.month}/{_DAY.strftime('%y')}"

SITE, COMMUNE, REGION = "Thôn Đồng Bùa", "Xã Hướng Đạo", "Tuyên Quang"
OTHER_SITE = "Chợ Hướng Đạo"


class Clock:
    """A settable clock for the notifier (hold-down, quiet hours)."""

    def __init__(self) -> None:
        self.now = datetime(_DAY.year, _DAY.month, _DAY.day, 3, 0, tzinfo=UTC)  # 10:00 in Asia/Ho_Chi_Minh

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    app: Any
    database: Any
    site_id: int
    other_site_id: int
    tokens: dict[str, str]
    sms: SmsGatewayStub
    zalo: ZaloOaStub
    smtp: SmtpStub
    clock: Clock

    def post(self, payload: dict[str, Any], role: str = "alertmanager") -> Any:
        return self.app.test_client().post("/api/v1/alerts", json=payload,
                                           headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def get(self, path: str) -> Any:
        return self.app.test_client().get(path, headers={"Authorization": f"Bearer {self.tokens['admin']}"})


def _seed(session: Any) -> tuple[int, int]:
    region = Region(name=REGION, name_folded=fold(REGION))
    commune = Commune(name=COMMUNE, name_folded=fold(COMMUNE), region=region)
    session.add(commune)
    site = Site(name=SITE, commune=commune, latitude=21.53, longitude=105.31)
    other = Site(name=OTHER_SITE, commune=commune, latitude=21.50, longitude=105.28)
    for n in range(3):
        site.devices.append(Device(name=f"cam-{n}", kind="camera", ip=f"198.51.100.{10 + n}"))
    other.devices.append(Device(name="cam-9", kind="camera", ip="198.51.100.30"))
    session.add_all([site, other])
    session.flush()
    return site.id, other.id


@pytest.fixture
def world(database: Any) -> Iterator[World]:
    sms, zalo, smtp = SmsGatewayStub(), ZaloOaStub(), SmtpStub()
    clock = Clock()
    with database.session() as session:
        site_id, other_id = _seed(session)
        add_contact(session, site_id, "Anh Tuấn (kỹ thuật)", phone="+84912345678", zalo_user_id="zl-tuan",
                    email="tuan@xa.example.vn")
        add_contact(session, site_id, "Chị Lan", phone="+84987654321", opted_out=True)
        add_contact(session, other_id, "Anh Bình", phone="+84900000001", quiet_hours="22:00-06:00")
        tokens = {role: store.create_token(session, role) for role in ("admin", "alertmanager", "worker", "viewer")}
    settings = NotifySettings(
        channels=(SmsHttpChannel(url=sms.url, fields={"to": "{phone}", "message": "{text}", "api_key": "sms-key"}),
                  ZaloOaChannel(access_token="zalo-token", url=zalo.url),
                  EmailChannel(host="127.0.0.1", port=smtp.port, sender="noc@tinh.example.vn")),
        base_url="https://noc.example.vn", hold_down_s=3600, now=clock)
    app = create_app({"DATABASE": database, "TESTING": True, "NOTIFY": settings, "SITES_CACHE_SECONDS": 0})
    try:
        yield World(app, database, site_id, other_id, tokens, sms, zalo, smtp, clock)
    finally:
        for stub in (sms, zalo, smtp):
            stub.close()


def alert(name: str, status: str, *, site: str = SITE, device: str | None = None, fingerprint: str | None = None,
          severity: str = "critical", starts: str = STARTS) -> dict[str, Any]:
    labels = {"alertname": name, "severity": severity, "site": site, "commune": COMMUNE, "region": REGION}
    if device:
        labels["device"] = device
    return {"status": status, "labels": labels, "annotations": {"summary": f"{name} {device or site}"},
            "startsAt": starts,
            "endsAt": ENDS if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://vmalert/", "fingerprint": fingerprint or f"{name}-{site}-{device}"[:64]}


def webhook(status: str, alerts: list[dict[str, Any]], site: str = SITE) -> dict[str, Any]:
    return {"version": "4", "groupKey": f'{{}}/{{}}:{{commune="{COMMUNE}", region="{REGION}", site="{site}"}}',
            "truncatedAlerts": 0, "status": status, "receiver": "sitescout", "groupLabels": {"site": site},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093", "alerts": alerts}


def test_firing_alert_marks_the_site_and_sends_one_vietnamese_message_per_channel(world: World) -> None:
    before = world.get(f"/api/v1/sites/{world.site_id}").get_json()
    assert before["properties"]["health"] == "unknown"  # no observation ever arrived

    answer = world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-1")]))
    assert answer.status_code == 200, answer.text
    assert answer.get_json() == {"alerts": 1, "unknown_site": 0, "messages_sent": 3}

    site = world.get(f"/api/v1/sites/{world.site_id}").get_json()
    assert site["properties"]["health"] == "problem"
    listed = world.get(f"/api/v1/sites/{world.site_id}/alerts").get_json()["alerts"]
    assert [(a["alertname"], a["status"], a["labels"]["device"]) for a in listed] == [
        ("SitescoutCameraDown", "firing", "cam-1")]
    with world.database.session() as session:
        device_id = session.scalar(select(Device.id).where(Device.name == "cam-1"))
    assert listed[0]["device_id"] == device_id

    expected = ("[sitescout] SỰ CỐ tại Thôn Đồng Bùa (Xã Hướng Đạo): cam-1 không phản hồi. "
                f"Từ {SINCE_LOCAL}. https://noc.example.vn/sites/{world.site_id}")
    assert world.sms.messages() == [("+84912345678", expected)]  # not the opted-out contact
    [zalo] = world.zalo.requests
    assert zalo.headers["access_token"] == "zalo-token" and zalo.headers["content-type"] == "application/json"
    assert zalo.json == {"recipient": {"user_id": "zl-tuan"}, "message": {"text": expected}}
    [(sender, rcpts, mail)] = world.smtp.messages
    assert (sender, rcpts) == ("noc@tinh.example.vn", ["tuan@xa.example.vn"])
    assert mail["Subject"] == "sitescout: sự cố tại Thôn Đồng Bùa (Xã Hướng Đạo)"
    assert mail.get_content().strip() == expected


def test_resolved_alert_closes_and_the_site_is_no_longer_a_problem(world: World) -> None:
    world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-1")]))
    world.clock.now += timedelta(minutes=20)
    answer = world.post(webhook("resolved", [alert("SitescoutCameraDown", "resolved", device="cam-1")]))
    assert answer.status_code == 200
    assert world.get(f"/api/v1/sites/{world.site_id}").get_json()["properties"]["health"] == "unknown"
    assert world.get(f"/api/v1/sites/{world.site_id}/alerts").get_json()["alerts"] == []
    with world.database.session() as session:
        row = session.scalar(select(Alert))
        assert row.status == "resolved" and row.ends_at == datetime(_DAY.year, _DAY.month, _DAY.day, 3, 10, tzinfo=UTC)
    texts = [t for _, t in world.sms.messages()]
    assert len(texts) == 2 and texts[1].startswith("[sitescout] ĐÃ KHẮC PHỤC tại Thôn Đồng Bùa (Xã Hướng Đạo): cam-1")


def test_a_flapping_camera_sends_one_message_not_fifty(world: World) -> None:
    for _ in range(25):
        world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-2")]))
        world.clock.now += timedelta(seconds=30)
        world.post(webhook("resolved", [alert("SitescoutCameraDown", "resolved", device="cam-2")]))
        world.clock.now += timedelta(seconds=30)
    texts = [t for _, t in world.sms.messages()]
    assert len(texts) == 2, texts  # one "problem", one "resolved" within the hour's hold-down
    with world.database.session() as session:
        skipped = session.scalars(select(Notification.detail).where(Notification.channel == "sms",
                                                                     Notification.outcome == "skipped")).all()
    assert skipped.count("already sent (hold-down)") == 48
    world.clock.now += timedelta(hours=2)  # after the hold-down the same fault is news again
    world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-2")]))
    assert len(world.sms.messages()) == 3


def test_site_down_with_its_cameras_is_one_message(world: World) -> None:
    alerts = [alert("SitescoutCameraDown", "firing", device=f"cam-{n}") for n in (2, 0, 1)]
    alerts.insert(1, alert("SitescoutSiteDown", "firing"))
    world.post(webhook("firing", alerts))
    [(phone, text)] = world.sms.messages()
    assert phone == "+84912345678"
    assert text.startswith("[sitescout] SỰ CỐ tại Thôn Đồng Bùa (Xã Hướng Đạo): không thiết bị nào phản hồi "
                           "(mất điện hoặc mất đường truyền); cam-0 không phản hồi; cam-1 không phản hồi và 1 lỗi "
                           f"khác. Từ {SINCE_LOCAL}.")  # the site first, three named, one counted


def test_quiet_hours_and_english_contacts(world: World) -> None:
    world.clock.now = datetime(
        _DAY.year, _DAY.month, _DAY.day, 16, 30, tzinfo=UTC
    )  # 23:30 in Vietnam: Anh Bình's quiet hours
    world.post(webhook("firing", [alert("SitescoutStreamFrozen", "firing", site=OTHER_SITE, device="cam-9")],
                       site=OTHER_SITE))
    assert world.sms.messages() == []
    with world.database.session() as session:
        assert session.scalars(select(Notification.detail)).all() == ["quiet hours"]
        add_contact(session, world.other_site_id, "Mr Smith", email="smith@example.org", language="en")
    world.clock.now = datetime(_DAY.year, _DAY.month, _DAY.day, 1, 0, tzinfo=UTC)  # 08:00: quiet hours over
    world.post(webhook("firing", [alert("SitescoutStreamFrozen", "firing", site=OTHER_SITE, device="cam-9")],
                       site=OTHER_SITE))
    assert [p for p, _ in world.sms.messages()] == ["+84900000001"]
    [(_, rcpts, mail)] = world.smtp.messages
    assert rcpts == ["smith@example.org"]
    assert mail.get_content().startswith("[sitescout] PROBLEM at Chợ Hướng Đạo (Xã Hướng Đạo): cam-9: picture frozen.")


def test_a_channel_that_refuses_is_recorded_and_the_others_still_deliver(world: World) -> None:
    settings: NotifySettings = world.app.config["NOTIFY"]
    world.app.config["NOTIFY"] = replace(settings, channels=(
        ZaloOaChannel(access_token="wrong-token", url=world.zalo.url), *settings.channels[:1]))
    world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-0")]))
    assert len(world.sms.messages()) == 1
    with world.database.session() as session:
        rows = session.execute(select(Notification.channel, Notification.outcome, Notification.detail)
                               .where(Notification.outcome == "failed")).all()
    assert rows == [("zalo", "failed", "Zalo OA refused the message: error -216 Access token is invalid")]


def test_only_alertmanager_or_admin_tokens_post_alerts(world: World) -> None:
    payload = webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-1")])
    assert world.post(payload, "worker").status_code == 403
    assert world.post(payload, "viewer").status_code == 403
    assert world.app.test_client().post("/api/v1/alerts", json=payload).status_code == 401
    with world.database.session() as session:
        assert session.scalar(select(Alert)) is None
    assert world.post(payload, "admin").status_code == 200
    observation = [{"device_id": 1, "kind": "stream", "health": "problem", "reason": "x"}]
    refused = world.app.test_client().post("/api/v1/observations", json=observation,
                                           headers={"Authorization": f"Bearer {world.tokens['alertmanager']}"})
    assert refused.status_code == 403


@pytest.mark.parametrize("payload, field", [
    ({"version": "3", "status": "firing", "groupKey": "k", "alerts": []}, "version"),
    ({"version": "4", "status": "burning", "groupKey": "k", "alerts": []}, "status"),
    ({"version": "4", "status": "firing", "groupKey": "k", "alerts": [{"status": "firing"}]}, "fingerprint"),
    ({"version": "4", "status": "firing", "groupKey": "k",
      "alerts": [{"status": "firing", "fingerprint": "f", "startsAt": "yesterday"}]}, "startsAt"),
    ({"version": "4", "status": "firing", "groupKey": "k",
      "alerts": [{"status": "firing", "fingerprint": "f", "startsAt": STARTS,
                  "labels": {"site": 5}}]}, "labels"),
])
def test_malformed_webhooks_are_refused_with_the_field(world: World, payload: dict[str, Any], field: str) -> None:
    answer = world.post(payload)
    assert answer.status_code == 400 and field in answer.get_json()["error"]
    with world.database.session() as session:
        assert session.scalar(select(Alert)) is None


def test_alert_for_an_unknown_site_is_kept_but_marks_nothing(world: World) -> None:
    answer = world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", site="Nowhere", device="x")],
                                site="Nowhere"))
    assert answer.get_json() == {"alerts": 1, "unknown_site": 1, "messages_sent": 0}
    healths = {f["properties"]["name"]: f["properties"]["health"]
               for f in world.get("/api/v1/sites").get_json()["features"]}
    assert healths[SITE] == "unknown" and healths[OTHER_SITE] == "unknown"


def test_contacts_are_added_and_listed_by_editors_only(world: World) -> None:
    client = world.app.test_client()
    with world.database.session() as session:
        editor = store.create_token(session, "editor")
    url = f"/api/v1/sites/{world.other_site_id}/contacts"
    created = client.post(url, json={"name": "Chị Hoa", "phone": "0912000111", "zalo_user_id": "zl-hoa",
                                     "quiet_hours": "21:30-05:45", "language": "vi"},
                          headers={"Authorization": f"Bearer {editor}"})
    assert created.status_code == 201, created.text
    assert created.get_json()["quiet_hours"] == "21:30-05:45"
    listed = client.get(url, headers={"Authorization": f"Bearer {editor}"}).get_json()["contacts"]
    assert [c["name"] for c in listed] == ["Anh Bình", "Chị Hoa"]
    assert client.get(url, headers={"Authorization": f"Bearer {world.tokens['viewer']}"}).status_code == 403
    for bad, field in (({"name": "X", "phone": "call me"}, "phone"), ({"name": "X"}, "phone"),
                       ({"name": "X", "email": "x@y.vn", "quiet_hours": "late"}, "quiet_hours"),
                       ({"name": "X", "email": "x@y.vn", "opted_out": "yes"}, "opted_out"),
                       ({"name": "X", "email": "x@y.vn", "secret": 1}, "secret")):
        answer = client.post(url, json=bad, headers={"Authorization": f"Bearer {editor}"})
        assert answer.status_code == 400 and field in answer.get_json()["error"], (bad, answer.text)
    assert len(client.get(url, headers={"Authorization": f"Bearer {editor}"}).get_json()["contacts"]) == 2


def test_the_site_page_lists_its_active_alerts_in_the_readers_language(world: World) -> None:
    import re

    with world.database.session() as session:
        store.create_user(session, "ktv", "ktv-password", "viewer")
    client = world.app.test_client()
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": "ktv", "password": "ktv-password", "csrf_token": csrf}
                       ).status_code == 302
    assert 'id="site-alerts"' not in client.get(f"/sites/{world.site_id}").text
    world.post(webhook("firing", [alert("SitescoutStreamFrozen", "firing", device="cam-2")]))
    page = client.get(f"/sites/{world.site_id}", headers={"Accept-Language": "vi"}).text
    section = page[page.index('id="site-alerts"'):]
    assert "Cảnh báo đang có" in section and "cam-2: hình bị đứng" in section and SINCE_PAGE in section
    english = client.get(f"/sites/{world.site_id}", headers={"Accept-Language": "en"}).text
    assert "Active alerts" in english and "cam-2: picture frozen" in english
    resolved = alert("SitescoutStreamFrozen", "resolved", device="cam-2")
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # the page shows the last 7 days
    resolved["endsAt"] = ended.isoformat().replace("+00:00", "Z")
    world.post(webhook("resolved", [resolved]))
    page = client.get(f"/sites/{world.site_id}", headers={"Accept-Language": "vi"}).text
    assert 'id="site-alerts-active"' not in page
    history = page[page.index('id="site-alerts-resolved"'):]
    local = ended.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    until = f"{local:%H:%M} {local.day}/{local.month}/{local:%y}"  # Babel's short form for Vietnamese
    assert "Cảnh báo đã khắc phục trong 7 ngày qua" in page and "cam-2: hình bị đứng" in history and until in history
    with world.database.session() as session:  # older than 7 days: no longer on the page
        session.execute(update(Alert).values(ends_at=ended - timedelta(days=8)))
    assert 'id="site-alerts"' not in client.get(f"/sites/{world.site_id}").text


@pytest.mark.parametrize("label", ["²", "٣", "+3", "1" * 20, "9" * 5000])
def test_a_site_id_label_that_is_no_id_marks_nothing_and_is_no_500(world: World, label: str) -> None:
    firing = alert("SitescoutCameraDown", "firing", site="Nowhere", fingerprint=f"bad-id-{len(label)}-{label[:1]}")
    firing["labels"]["site_id"] = label
    answer = world.post(webhook("firing", [firing], site="Nowhere"))
    assert answer.status_code == 200, answer.text
    assert answer.get_json()["unknown_site"] == 1


def test_a_site_id_label_in_ascii_digits_names_the_site(world: World) -> None:
    firing = alert("SitescoutSiteDown", "firing", site="Nowhere")
    firing["labels"]["site_id"] = f"00{world.other_site_id}"
    assert world.post(webhook("firing", [firing], site="Nowhere")).get_json()["unknown_site"] == 0
    assert world.get(f"/api/v1/sites/{world.other_site_id}").get_json()["properties"]["health"] == "problem"


def test_a_camera_password_in_an_alert_is_not_stored(world: World) -> None:
    leaky = alert("SitescoutStreamFrozen", "firing", device="cam-0")
    leaky["labels"]["instance"] = "rtsp://admin:pw@198.51.100.10:554/live"
    leaky["annotations"]["description"] = "no frame from rtsp://admin:pw@198.51.100.10:554/live for 5 min"
    assert world.post(webhook("firing", [leaky])).status_code == 200
    with world.database.session() as session:
        row = session.scalar(select(Alert))
        assert row.labels["instance"] == "rtsp://198.51.100.10:554/live"
        assert row.annotations["description"] == "no frame from rtsp://198.51.100.10:554/live for 5 min"
    listed = world.get(f"/api/v1/sites/{world.site_id}/alerts").text
    assert "admin:pw" not in listed and "admin:pw" not in " ".join(t for _, t in world.sms.messages())


def _scoped_token(world: World, *site_ids: int) -> str:
    with world.database.session() as session:
        return store.create_token(session, "alertmanager", sites=list(site_ids))


def _post_with(world: World, token: str, payload: dict[str, Any]) -> Any:
    return world.app.test_client().post("/api/v1/alerts", json=payload, headers={"Authorization": f"Bearer {token}"})


def _health_of(world: World, site_id: int) -> str:
    return world.get(f"/api/v1/sites/{site_id}").get_json()["properties"]["health"]


def test_a_scoped_token_posts_alerts_for_its_sites_only(world: World) -> None:
    token = _scoped_token(world, world.site_id)
    mine = alert("SitescoutCameraDown", "firing", device="cam-1")
    theirs = alert("SitescoutCameraDown", "firing", site=OTHER_SITE, device="cam-9")
    nowhere = alert("SitescoutSiteDown", "firing", site="Nowhere")
    answer = _post_with(world, token, webhook("firing", [theirs, mine, nowhere]))
    assert answer.status_code == 200, answer.text
    body = answer.get_json()
    assert body["alerts"] == 1 and body["unknown_site"] == 0
    assert [(r["index"], r["field"]) for r in body["refused"]] == [(0, "alerts[0].labels"), (2, "alerts[2].labels")]
    assert _health_of(world, world.site_id) == "problem" and _health_of(world, world.other_site_id) == "unknown"
    with world.database.session() as session:
        assert session.scalars(select(Alert.fingerprint)).all() == [mine["fingerprint"]]


def test_a_scoped_token_cannot_resolve_another_sites_alert_by_its_fingerprint(world: World) -> None:
    theirs = alert("SitescoutStreamFrozen", "firing", site=OTHER_SITE, device="cam-9")
    assert world.post(webhook("firing", [theirs], site=OTHER_SITE)).get_json()["alerts"] == 1
    fingerprint = world.get(f"/api/v1/sites/{world.other_site_id}/alerts").get_json()["alerts"][0]["fingerprint"]
    forged = alert("SitescoutStreamFrozen", "resolved", device="cam-1", fingerprint=fingerprint)  # labels: my site
    answer = _post_with(world, _scoped_token(world, world.site_id), webhook("resolved", [forged]))
    assert answer.get_json()["alerts"] == 0 and answer.get_json()["refused"][0]["field"] == "alerts[0].labels"
    assert _health_of(world, world.other_site_id) == "problem" and _health_of(world, world.site_id) == "unknown"


def test_a_fingerprint_bound_to_a_site_never_moves_to_another(world: World) -> None:
    first = alert("SitescoutCameraDown", "firing", device="cam-1", fingerprint="fp-1")
    world.post(webhook("firing", [first]))
    moved = alert("SitescoutCameraDown", "firing", site=OTHER_SITE, device="cam-9", fingerprint="fp-1")
    answer = world.post(webhook("firing", [moved], site=OTHER_SITE), "admin")
    assert answer.get_json()["alerts"] == 0 and "cannot move" in answer.get_json()["refused"][0]["error"]
    with world.database.session() as session:
        assert session.scalar(select(Alert.site_id).where(Alert.fingerprint == "fp-1")) == world.site_id
    assert _health_of(world, world.other_site_id) == "unknown"


def test_alert_times_are_bounded_as_observations_are(world: World) -> None:
    now = datetime.now(UTC)
    future = alert("SitescoutCameraDown", "firing", device="cam-0", fingerprint="future",
                   starts=(now + MAX_CLOCK_SKEW + timedelta(minutes=1)).isoformat())
    stale = alert("SitescoutCameraDown", "resolved", device="cam-1", fingerprint="stale",
                  starts=(now - MAX_OBSERVATION_AGE - timedelta(days=2)).isoformat())
    stale["endsAt"] = (now - MAX_OBSERVATION_AGE - timedelta(days=1)).isoformat()
    long_outage = alert("SitescoutCameraDown", "firing", device="cam-2", fingerprint="long",
                        starts=(now - MAX_OBSERVATION_AGE - timedelta(days=30)).isoformat())
    body = world.post(webhook("firing", [future, stale, long_outage])).get_json()
    assert body["alerts"] == 1
    assert [r["field"] for r in body["refused"]] == ["alerts[0].startsAt", "alerts[1].endsAt"]


class HangingSmsGateway(SmsGatewayStub):
    """An SMS gateway that takes a request and then answers only when the test lets it (a hung gateway)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        super().__init__()

    def answer(self, rec: Any) -> tuple[int, Any]:
        self.release.wait(timeout=30)
        return super().answer(rec)


def test_a_hung_sms_gateway_holds_no_transaction(world: World) -> None:
    hung = HangingSmsGateway()
    settings: NotifySettings = world.app.config["NOTIFY"]
    world.app.config["NOTIFY"] = replace(settings, channels=(
        SmsHttpChannel(url=hung.url, fields={"to": "{phone}", "message": "{text}", "api_key": "sms-key"},
                       timeout_s=30),))
    with world.database.session() as session:
        camera = session.scalar(select(Device.id).where(Device.name == "cam-9"))
    answers: dict[str, Any] = {}

    def post_alert() -> None:
        answers["alert"] = world.post(webhook("firing", [alert("SitescoutCameraDown", "firing", device="cam-1")]))

    def post_observation() -> None:
        answers["observation"] = world.app.test_client().post(
            "/api/v1/observations", json=[{"device_id": camera, "kind": "link", "health": "ok",
                                           "observed_at": datetime.now(UTC).isoformat()}],
            headers={"Authorization": f"Bearer {world.tokens['worker']}"})

    alerting = threading.Thread(target=post_alert)
    try:
        alerting.start()
        deadline = time.monotonic() + 15
        while not hung.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hung.requests, "the webhook never reached the SMS gateway"
        observing = threading.Thread(target=post_observation)
        started = time.monotonic()
        observing.start()
        observing.join(timeout=8)
        assert not observing.is_alive() and answers["observation"].status_code == 201, "blocked by the webhook"
        assert time.monotonic() - started < 8 and not hung.release.is_set()
        # the alert is already committed: another request sees it while the gateway still hangs
        listed = world.get(f"/api/v1/sites/{world.site_id}/alerts").get_json()["alerts"]
        assert [a["alertname"] for a in listed] == ["SitescoutCameraDown"]
    finally:
        hung.release.set()
        alerting.join(timeout=30)
        hung.close()
    assert answers["alert"].get_json() == {"alerts": 1, "unknown_site": 0, "messages_sent": 1}
    with world.database.session() as session:
        assert sorted(session.scalars(select(Notification.outcome)).all()) == ["sent", "skipped"]  # Chị Lan opted out
