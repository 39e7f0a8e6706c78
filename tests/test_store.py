"""Store API: site list with health and diacritic-free search, devices, observations, targets, tokens, users."""

from __future__ import annotations

import pytest

from sitescout.inventory import store
from sitescout.inventory.demo_data import VILLAGES, attach_addresses, seed_demo
from sitescout.inventory.models import Device, ValidationError


def test_demo_commune_list_and_search(database) -> None:
    with database.session() as s:
        seed = seed_demo(s)
    with database.session() as s:
        assert seed_demo(s).site_ids == seed.site_ids  # seeding twice adds nothing
        sites = store.list_sites(s)
        assert len(sites) == len(VILLAGES) + 5 and all(x.is_demo for x in sites)
        assert all(x.health == "unknown" and x.device_count >= 1 for x in sites)
        # The commune is "Xã Hướng Đạo (demo)": searching its name finds all of its sites.
        assert len(store.list_sites(s, query="huong dao")) == len(sites)
        assert [x.name for x in store.list_sites(s, query="tieu hoc")] == ["Trường Tiểu học Hướng Đạo"]
        assert [x.name for x in store.list_sites(s, query="ĐỒNG BÙA")] == [
            "Ngã ba Đồng Bùa",
            "Nhà văn hóa Thôn Đồng Bùa",
        ]
        assert store.list_sites(s, problems_only=True) == []
        assert store.get_site(s, 10**6) is None
        kinds = {d.kind for d in store.list_devices(s, site_id=seed.site_ids[0])}
        assert kinds <= {"camera", "switch", "router", "loudspeaker"} and "camera" in kinds
        assert all(t["targets"][0].startswith("127.") for t in store.prometheus_targets(s))


def test_observations_drive_health(database) -> None:
    with database.session() as s:
        seed = seed_demo(s)
        cam, other = seed.camera_ids[0], seed.camera_ids[1]
        attach_addresses(s, {cam: "127.0.0.17"}, stream_uris={cam: ["rtsp://127.0.0.17:8554/main"]})
        with pytest.raises(ValueError, match="not a loopback address"):
            attach_addresses(s, {cam: "198.51.100.7"})
    with database.session() as s:
        n = store.record_observations(s, [
            {"device_id": cam, "kind": "stream", "health": "problem", "reason": "frozen",
             "observed_at": "2025-03-01T08:00:00+07:00", "values": {"fps": 0}},
            {"device_id": cam, "kind": "link", "health": "ok", "observed_at": "2025-03-01T08:00:00+07:00"},
            {"device_id": other, "kind": "link", "health": "ok"},
        ])
        assert n == 3
    with database.session() as s:
        site_id = s.get(Device, cam).site_id
        detail = store.get_site(s, site_id)
        assert detail.site.health == "problem" and detail.site.problem_count == 1
        by_id = {d.id: d for d in detail.devices}
        assert by_id[cam].health == "problem" and by_id[cam].health_reason == "frozen"
        assert by_id[cam].ip == "127.0.0.17" and by_id[cam].camera.stream_uris == ["rtsp://127.0.0.17:8554/main"]
        assert [x.id for x in store.list_sites(s, problems_only=True)] == [site_id]
        assert [o.kind for o in store.device_observations(s, cam)] in (["link", "stream"], ["stream", "link"])
        # An older observation does not replace newer health.
        store.record_observations(s, [{"device_id": cam, "kind": "link", "health": "ok",
                                       "observed_at": "2025-01-01T00:00:00Z"}])
        assert next(d for d in store.list_devices(s, site_id=site_id) if d.id == cam).health == "problem"
        with pytest.raises(ValidationError, match=r"observations\[0\].device_id: no device"):
            store.record_observations(s, [{"device_id": 10**6, "kind": "link", "health": "ok"}])
        with pytest.raises(ValidationError, match=r"observations\[0\].health"):
            store.record_observations(s, [{"device_id": cam, "kind": "link", "health": "fine"}])


def test_latest_of_each_kind_decides_health(database) -> None:
    # A frozen stream checked a minute ago is not hidden by a link echo answered since;
    # an hour-old verdict of a kind no longer probed stops counting.
    with database.session() as s:
        cam = seed_demo(s).camera_ids[0]
        store.record_observations(s, [{"device_id": cam, "kind": "stream:main", "health": "problem",
                                       "reason": "frozen", "observed_at": "2025-03-01T08:00:00Z"}])
        store.record_observations(s, [{"device_id": cam, "kind": "link", "health": "ok",
                                       "observed_at": "2025-03-01T08:01:00Z"}])
        device = next(d for d in store.list_devices(s) if d.id == cam)
        assert (device.health, device.health_reason) == ("problem", "frozen")
        store.record_observations(s, [{"device_id": cam, "kind": "stream:main", "health": "ok",
                                       "observed_at": "2025-03-01T08:02:00Z"}])
        assert next(d for d in store.list_devices(s) if d.id == cam).health == "ok"
        store.record_observations(s, [{"device_id": cam, "kind": "survey", "health": "warning",
                                       "observed_at": "2025-03-01T08:03:00Z"}])
        assert next(d for d in store.list_devices(s) if d.id == cam).health == "warning"
        store.record_observations(s, [{"device_id": cam, "kind": "link", "health": "ok",
                                       "observed_at": "2025-03-01T09:30:00Z"}])
        assert next(d for d in store.list_devices(s) if d.id == cam).health == "ok"


def test_targets_skip_planned_and_retired(database) -> None:
    with database.session() as s:
        seed = seed_demo(s)
        planned = s.get(Device, seed.device_ids[0])
        planned.status = "retired"
    with database.session() as s:
        targets = store.prometheus_targets(s)
        ids = {t["labels"]["__meta_sitescout_device_id"] for t in targets}
        assert str(seed.device_ids[0]) not in ids and len(targets) == len(seed.device_ids) - 1
        group = targets[0]
        assert set(group) == {"targets", "labels"} and {"site", "device", "kind"} <= set(group["labels"])


def test_tokens_and_users(database) -> None:
    with database.session() as s:
        token = store.create_token(s, "worker", label="village worker")
        store.create_user(s, "lan", "correct horse", "editor")
    with database.session() as s:
        assert store.check_token(s, token) == "worker"
        assert store.check_token(s, token + "x") is None and store.check_token(s, "") is None
        assert store.check_user(s, "lan", "correct horse") == "editor"
        assert store.check_user(s, "lan", "wrong horse!") is None
        assert store.check_user(s, "nobody", "correct horse") is None
        from sqlalchemy import text

        stored = s.execute(text("SELECT token_sha256 FROM api_tokens")).scalar_one()
        assert token not in stored
    with pytest.raises(ValidationError, match="role: 'god' is not one of"):
        with database.session() as s:
            store.create_token(s, "god")
    for machine in ("worker", "alertmanager"):  # machines use tokens, never a login
        with pytest.raises(ValidationError, match=f"{machine} is a machine's role, used with a token"):
            with database.session() as s:
                store.create_user(s, "bot", "long enough", machine)
