"""Findings and candidates as resources (issue #13): read, apply, dismiss, merge; one candidate per device.

A real app on a temporary SQLite inventory seeded with the demo commune and the frozen site
(tests/web_seed.py); surveys are pushed through POST /api/v1/surveys as the field would.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support import bearer, csrf_token as _csrf, login
from web_seed import FROZEN_SITE, HD, frozen_survey, large_survey, seed_commune

from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Candidate, CameraDetails, Device, Site
from sitescout.inventory.secrets import generate_key, get_device_credential, set_device_credential
from sitescout.web import create_app


@pytest.fixture()
def world(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    ids = seed_commune(database)
    with database.session() as session:
        tokens = {role: store.create_token(session, role) for role in ("editor", "viewer", "admin")}
    app = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 64, "SITES_CACHE_SECONDS": 0})
    yield {"app": app, "db": database, "ids": ids, "tokens": tokens, "client": app.test_client()}
    database.close()


def _push(world: dict[str, Any], doc: dict[str, Any], site: str | None = None) -> dict[str, Any]:
    url = "/api/v1/surveys" + (f"?site={world['ids'][site]}" if site else "")
    response = world["client"].post(url, json=doc, headers=bearer(world["tokens"]["editor"]))
    assert response.status_code in (200, 201), response.text
    return response.get_json()


def _findings(world: dict[str, Any], site: str, lang: str = "en", **query: str) -> list[dict[str, Any]]:
    response = world["client"].get(f"/api/v1/sites/{world['ids'][site]}/findings", query_string=query,
                                    headers={**bearer(world["tokens"]["viewer"]), "Accept-Language": lang})
    assert response.status_code == 200, response.text
    return response.get_json()["findings"]


def _post(world: dict[str, Any], path: str, body: Any = None, role: str = "editor", if_match: str = "*") -> Any:
    """POST as `role`; a decision is an update, so it says which version it decides (``*``: whatever it is)."""
    return world["client"].post(path, json=body if body is not None else {},
                                headers={**bearer(world["tokens"][role]), "If-Match": if_match})


def _later(doc: dict[str, Any], day: int) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["started_at"] = f"2026-03-{day:02d}T08:00:00+00:00"
    doc["finished_at"] = f"2026-03-{day:02d}T08:01:30+00:00"
    return doc


def _device(world: dict[str, Any], name: str, site: str = HD) -> Device:
    with world["db"].session() as session:
        device = session.query(Device).filter_by(name=name, site_id=world["ids"][site]).one()
        session.expunge(device)
        return device


def test_findings_carry_codes_params_words_and_an_open_status(world) -> None:
    findings = _findings(world, FROZEN_SITE)
    by_code = {f["code"]: f for f in findings}
    assert by_code["frozen"]["severity"] == "problem" and by_code["frozen"]["applicable"] is False
    assert by_code["frozen"]["text"] == "frozen picture (main)"
    assert by_code["moved_ip"]["params"]["old"] == "127.77.99.1" and by_code["moved_ip"]["applicable"] is True
    assert by_code["moved_ip"]["text"] == "Camera cổng: address changed from 127.77.99.1 to 198.51.100.21"
    assert {f["status"] for f in findings} == {"open"}
    assert {f["host"] for f in findings if f["code"] == "new_identity"} == {"198.51.100.21"}  # where it was surveyed
    assert findings[0]["severity"] == "problem"  # problems first
    vi = {f["code"]: f for f in _findings(world, FROZEN_SITE, "vi")}
    assert vi["frozen"]["text"] == "hình bị đứng (main)"
    assert vi["moved_ip"]["text"] == "Camera cổng: địa chỉ đổi từ 127.77.99.1 sang 198.51.100.21"
    assert vi["new_identity"]["severity_label"] == "thông tin"


def test_apply_changes_the_device_and_stays_applied_when_the_survey_is_read_again(world) -> None:
    site_id = world["ids"][FROZEN_SITE]
    firmware = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "new_identity"
                    and f["params"]["field"] == "firmware")
    response = _post(world, f"/api/v1/sites/{site_id}/findings/{firmware['id']}/apply")
    assert response.status_code == 200, response.text
    assert response.get_json()["status"] == "applied"
    assert _device(world, "Camera cổng", FROZEN_SITE).firmware == "V5.5.0"

    _push(world, frozen_survey(), FROZEN_SITE)  # the same document again: stored once, read again
    again = {f["id"]: f for f in _findings(world, FROZEN_SITE)}
    assert again[firmware["id"]]["status"] == "applied"
    assert _findings(world, FROZEN_SITE, status="applied")[0]["id"] == firmware["id"]
    # Applying it twice is a conflict, not a second change.
    assert _post(world, f"/api/v1/sites/{site_id}/findings/{firmware['id']}/apply").status_code == 409


def test_dismiss_needs_a_reason_and_stays_dismissed(world) -> None:
    site_id = world["ids"][FROZEN_SITE]
    frozen = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "frozen")
    path = f"/api/v1/sites/{site_id}/findings/{frozen['id']}"
    assert _post(world, path + "/apply").status_code == 409  # a picture problem is not an inventory change
    assert _post(world, path + "/dismiss", {"reason": "  "}).status_code == 400
    response = _post(world, path + "/dismiss", {"reason": "encoder restarted on site"})
    assert response.status_code == 200 and response.get_json()["status"] == "dismissed"
    _push(world, frozen_survey(), FROZEN_SITE)
    kept = next(f for f in _findings(world, FROZEN_SITE) if f["id"] == frozen["id"])
    assert kept["status"] == "dismissed" and kept["reason"] == "encoder restarted on site"
    assert response.get_json()["decided_by"].startswith("token:")  # the editor who decided reads who did
    assert "decided_by" not in kept  # a viewer reads what was decided and why, not who (docs/security.md)


def test_viewers_cannot_decide_and_findings_are_addressed_through_their_site(world) -> None:
    frozen_site, hd = world["ids"][FROZEN_SITE], world["ids"][HD]
    finding = next(f for f in _findings(world, FROZEN_SITE) if f["applicable"])
    assert _post(world, f"/api/v1/sites/{frozen_site}/findings/{finding['id']}/apply", role="viewer").status_code == 403
    assert _post(world, f"/api/v1/sites/{hd}/findings/{finding['id']}/apply").status_code == 404  # another site's
    assert _post(world, f"/api/v1/sites/{frozen_site}/findings/not-an-id/apply").status_code == 404
    assert _post(world, "/api/v1/sites/999999/findings/1-" + "0" * 24 + "/apply").status_code == 404
    assert _device(world, "Camera cổng", FROZEN_SITE).ip == "127.77.99.1"  # nothing changed
    # A session is enough to read, never to write through the API (no CSRF there: tokens only).
    client = world["app"].test_client()
    login(client, "editor")
    assert client.get(f"/api/v1/sites/{frozen_site}/findings").status_code == 200
    assert client.post(f"/api/v1/sites/{frozen_site}/findings/{finding['id']}/apply").status_code == 401


def _unknown_host(ip: str, mac: str | None) -> dict[str, Any]:
    return {"ip": ip, "mac": mac, "vendor": "TP-Link", "open_ports": [80], "kind": "host", "link": None,
            "onvif": None, "streams": [], "errors": []}


def _survey(site: str, day: int, hosts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"site": site, "started_at": f"2026-04-{day:02d}T08:00:00+00:00", "finished_at": None,
            "networks": ["198.51.100.0/24"], "hosts": hosts}


def test_the_same_unknown_device_in_two_pending_surveys_is_one_candidate(world) -> None:
    """Same MAC at a new address, and same address without a MAC: one candidate each, seen twice."""
    first = _push(world, _survey(HD, 1, [_unknown_host("198.51.100.50", "00:11:22:33:44:55"),
                                         _unknown_host("198.51.100.60", None)]), HD)
    second = _push(world, _survey(HD, 2, [_unknown_host("198.51.100.51", "00:11:22:33:44:55"),
                                          _unknown_host("198.51.100.60", None),
                                          _unknown_host("198.51.100.70", "00:11:22:33:44:66")]), HD)
    assert len(first["candidates"]) == 2
    assert {c["id"] for c in first["candidates"]} < {c["id"] for c in second["candidates"]}
    response = world["client"].get(f"/api/v1/sites/{world['ids'][HD]}/candidates",
                                   headers=bearer(world["tokens"]["viewer"]))
    candidates = {c["identity"]["mac"] or c["ip"]: c for c in response.get_json()["candidates"]}
    assert set(candidates) >= {"00:11:22:33:44:55", "198.51.100.60", "00:11:22:33:44:66"}
    assert candidates["00:11:22:33:44:55"]["sightings"] == 2
    assert candidates["00:11:22:33:44:55"]["ip"] == "198.51.100.51"  # the newest address
    assert candidates["198.51.100.60"]["sightings"] == 2
    assert candidates["00:11:22:33:44:66"]["sightings"] == 1
    with world["db"].session() as session:
        macs = [c.identity.get("mac") for c in session.query(Candidate).filter_by(site_id=world["ids"][HD])]
    assert macs.count("00:11:22:33:44:55") == 1


def test_merge_gives_the_device_the_surveyed_facts_and_leaves_its_credential(world) -> None:
    key = generate_key().encode()
    hd = world["ids"][HD]
    with world["db"].session() as session:
        device = Device(site_id=hd, kind="camera", name="Camera chợ", ip="198.51.100.90", status="active")
        session.add(device)
        session.flush()
        set_device_credential(session, device.id, "admin", "cho-secret-1", key=key)
        device_id = device.id
    doc = _later(frozen_survey(HD), 5)
    doc["hosts"][0].update(ip="198.51.100.91", mac="00:aa:bb:cc:dd:01")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:merge-me", serial="MERGE-1",
                                     xaddrs=["http://198.51.100.91/onvif/device_service"])
    doc["hosts"][0]["onvif"]["profiles"][0]["stream_uri"] = "rtsp://198.51.100.91:554/main"
    doc["hosts"][0]["streams"][0]["uri"] = "rtsp://198.51.100.91:554/main"
    candidate = _push(world, doc, HD)["candidates"][0]

    other_site = world["ids"][FROZEN_SITE]
    other = _device(world, "Camera cổng", FROZEN_SITE)
    assert other.site_id == other_site
    refused = _post(world, f"/api/v1/candidates/{candidate['id']}/merge", {"device_id": other.id})
    assert refused.status_code == 400 and refused.get_json()["fields"]["device_id"]["code"] == "merge_other_site"
    assert _post(world, f"/api/v1/candidates/{candidate['id']}/merge", {"device_id": "x"}).status_code == 400
    assert _post(world, f"/api/v1/candidates/{candidate['id']}/merge", {"device_id": device_id},
                 role="viewer").status_code == 403

    response = _post(world, f"/api/v1/candidates/{candidate['id']}/merge", {"device_id": device_id})
    assert response.status_code == 200, response.text
    with world["db"].session() as session:
        device = session.get(Device, device_id)
        assert (device.ip, device.mac, device.serial, device.onvif_endpoint, device.name) == (
            "198.51.100.91", "00:aa:bb:cc:dd:01", "MERGE-1", "urn:uuid:merge-me", "Camera chợ")
        assert device.camera.stream_uris == ["rtsp://198.51.100.91:554/main"]
        assert get_device_credential(session, device_id, key=key).password == "cho-secret-1"
        assert session.get(Candidate, candidate["id"]).state == "accepted"
        assert session.get(Candidate, candidate["id"]).device_id == device_id
        assert session.query(Device).filter_by(site_id=hd).count() == len(store.list_devices(session, site_id=hd))
    assert "cho-secret-1" not in response.text
    assert _post(world, f"/api/v1/candidates/{candidate['id']}/merge", {"device_id": device_id}).status_code == 400


def test_a_planned_camera_found_by_a_survey_becomes_active_not_a_second_device(world) -> None:
    hd = world["ids"][HD]
    with world["db"].session() as session:
        session.add(Device(site_id=hd, kind="camera", name="Camera dự kiến", status="planned",
                           camera=CameraDetails(mount_latitude=21.7, mount_longitude=105.3)))
        before = session.query(Device).filter_by(site_id=hd).count()
    doc = _later(frozen_survey(HD), 6)
    doc["hosts"][0].update(ip="198.51.100.95", mac="00:aa:bb:cc:dd:02")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:planned-one", serial="PLAN-1",
                                     xaddrs=["http://198.51.100.95/onvif/device_service"])
    doc["hosts"][0]["onvif"]["profiles"][0]["stream_uri"] = "rtsp://198.51.100.95:554/main"
    doc["hosts"][0]["streams"][0]["uri"] = "rtsp://198.51.100.95:554/main"
    _push(world, doc, HD)
    found = [f for f in _findings(world, HD) if f["code"] == "planned_camera_found"]
    assert len(found) == 1 and found[0]["params"] == {"device": "Camera dự kiến", "ip": "198.51.100.95"}
    vi = next(f for f in _findings(world, HD, "vi") if f["code"] == "planned_camera_found")
    assert vi["text"] == "đã tìm thấy camera dự kiến Camera dự kiến tại 198.51.100.95"
    response = _post(world, f"/api/v1/sites/{hd}/findings/{found[0]['id']}/apply")
    assert response.status_code == 200, response.text
    with world["db"].session() as session:
        assert session.query(Device).filter_by(site_id=hd).count() == before
        device = session.query(Device).filter_by(name="Camera dự kiến").one()
        assert (device.status, device.ip, device.serial) == ("active", "198.51.100.95", "PLAN-1")
        assert device.camera.mount_latitude == 21.7  # the plan's mount is kept
    assert next(f for f in _findings(world, HD) if f["id"] == found[0]["id"])["status"] == "applied"
    with world["db"].session() as session:
        assert not store.list_candidates(session, site_id=hd)


def test_a_planned_camera_with_its_planned_ip_is_matched_then_activated(world) -> None:
    hd = world["ids"][HD]
    with world["db"].session() as session:
        session.add(Device(site_id=hd, kind="camera", name="Camera cổng trường", status="planned", ip="198.51.100.96"))
    doc = _later(frozen_survey(HD), 7)
    doc["hosts"][0].update(ip="198.51.100.96", mac="00:aa:bb:cc:dd:03")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:planned-two", serial="PLAN-2",
                                     xaddrs=["http://198.51.100.96/onvif/device_service"])
    doc["hosts"][0]["onvif"]["profiles"][0]["stream_uri"] = "rtsp://198.51.100.96:554/main"
    doc["hosts"][0]["streams"][0]["uri"] = "rtsp://198.51.100.96:554/main"
    assert _push(world, doc, HD)["candidates"] == []
    findings = {f["code"]: f for f in _findings(world, HD)}
    assert findings["planned_camera_found"]["params"]["device"] == "Camera cổng trường"
    path = f"/api/v1/sites/{hd}/findings/"
    assert _post(world, path + findings["planned_camera_found"]["id"] + "/apply").status_code == 200
    assert _post(world, path + findings["new_streams"]["id"] + "/apply").status_code == 200
    device = _device(world, "Camera cổng trường")
    assert device.status == "active"
    with world["db"].session() as session:
        assert session.get(Device, device.id).camera.stream_uris == ["rtsp://198.51.100.96:554/main"]


def test_a_missing_device_is_proposed_offline_never_changed_silently(world) -> None:
    hd = world["ids"][HD]
    with world["db"].session() as session:
        session.add(Device(site_id=hd, kind="switch", name="Switch hội trường", ip="198.51.100.97", status="active"))
    _push(world, _survey(HD, 8, [_unknown_host("198.51.100.98", None)]), HD)
    assert _device(world, "Switch hội trường").status == "active"  # the survey alone changes nothing
    missing = next(f for f in _findings(world, HD) if f["code"] == "missing_device"
                   and f["params"]["device"] == "Switch hội trường")
    assert missing["severity"] == "problem" and missing["applicable"] and missing["host"] == "198.51.100.97"
    assert _post(world, f"/api/v1/sites/{hd}/findings/{missing['id']}/apply").status_code == 200
    assert _device(world, "Switch hội trường").status == "offline"


def test_a_change_applied_over_a_newer_edit_is_refused(world) -> None:
    site_id = world["ids"][FROZEN_SITE]
    moved = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "moved_ip")
    with world["db"].session() as session:
        session.query(Device).filter_by(name="Camera cổng", site_id=site_id).one().ip = "127.77.99.2"
    response = _post(world, f"/api/v1/sites/{site_id}/findings/{moved['id']}/apply")
    assert response.status_code == 409 and "127.77.99.2" in response.get_json()["error"]
    assert _device(world, "Camera cổng", FROZEN_SITE).ip == "127.77.99.2"


# ---------------------------------------------------------------------------
# The edit forms: a version field refuses a save over someone else's change.


def _form(client: Any, path: str) -> dict[str, str]:
    import re

    page = client.get(path).text
    fields = dict(re.findall(r'name="(csrf_token|version)" value="([^"]*)"', page))
    return fields


def test_site_form_saves_and_refuses_a_stale_version(world) -> None:
    client = world["app"].test_client()
    login(client, "editor")
    hd = world["ids"][HD]
    fields = _form(client, f"/sites/{hd}/edit")
    assert fields["version"]
    data = {**fields, "name": "Nhà văn hóa Hướng Đạo (mới)", "kind": "village_hall", "status": "active",
            "latitude": "21.70", "longitude": "105.30", "address": "Xóm 1", "contact": "Anh Tuấn"}
    response = client.post(f"/sites/{hd}/edit", data=data)
    assert response.status_code == 302, response.text
    assert "Nhà văn hóa Hướng Đạo (mới)" in client.get(f"/sites/{hd}").text
    stale = client.post(f"/sites/{hd}/edit", data={**data, "name": "Tên khác"})  # the old version again
    assert stale.status_code == 409
    with world["db"].session() as session:
        assert session.get(Site, hd).name == "Nhà văn hóa Hướng Đạo (mới)"
    bad = client.post(f"/sites/{hd}/edit", data={**_form(client, f"/sites/{hd}/edit"), **{
        k: v for k, v in data.items() if k not in ("csrf_token", "version")}, "latitude": "95"})
    assert bad.status_code == 400


def test_new_site_from_map_coordinates_and_move_with_the_seen_position(world) -> None:
    client = world["app"].test_client()
    login(client, "editor")
    page = client.get("/sites/new?lat=21.7123&lon=105.3456").text
    assert 'value="21.7123"' in page and 'value="105.3456"' in page
    with world["db"].session() as session:
        commune_id = session.get(Site, world["ids"][HD]).commune_id
    response = client.post("/sites/new", data={"csrf_token": _csrf(client, "/sites/new"), "commune_id": commune_id,
                                               "name": "Trạm y tế Bản Mới", "kind": "health_station",
                                               "status": "active", "latitude": "21.7123", "longitude": "105.3456"})
    assert response.status_code == 302
    new_id = int(response.headers["Location"].rsplit("/", 1)[1])
    token = _csrf(client, "/map")
    moved = client.post(f"/sites/{new_id}/move", data={"latitude": "21.72", "longitude": "105.35",
                                                        "seen_latitude": "21.7123", "seen_longitude": "105.3456"},
                        headers={"X-CSRF-Token": token})
    assert moved.status_code == 200, moved.text
    stale = client.post(f"/sites/{new_id}/move", data={"latitude": "21.8", "longitude": "105.4",
                                                        "seen_latitude": "21.7123", "seen_longitude": "105.3456"},
                        headers={"X-CSRF-Token": token})
    assert stale.status_code == 409
    with world["db"].session() as session:
        site = session.get(Site, new_id)
        assert (site.latitude, site.longitude) == (21.72, 105.35)
    viewer = world["app"].test_client()
    login(viewer, "viewer")
    assert viewer.post(f"/sites/{new_id}/move", data={"latitude": "1", "longitude": "1", "seen_latitude": "21.72",
                                                       "seen_longitude": "105.35"},
                       headers={"X-CSRF-Token": _csrf(viewer, "/map")}).status_code == 403


def test_device_form_follows_the_lifecycle(world) -> None:
    client = world["app"].test_client()
    login(client, "editor")
    device = _device(world, "Camera cổng", FROZEN_SITE)
    path = f"/devices/{device.id}/edit"
    base = {"name": "Camera cổng", "kind": "camera", "ip": "127.77.99.1", "notes": ""}
    back = client.post(path, data={**_form(client, path), **base, "status": "planned"})
    assert back.status_code == 400  # active → planned is not a move of the lifecycle
    assert client.post(path, data={**_form(client, path), **base, "status": "offline",
                                   "notes": "mất điện"}).status_code == 302
    after = _device(world, "Camera cổng", FROZEN_SITE)
    assert (after.status, after.notes) == ("offline", "mất điện")
    assert client.post(path, data={**_form(client, path), **base, "status": "retired"}).status_code == 302
    assert _device(world, "Camera cổng", FROZEN_SITE).status == "retired"


def test_apply_all_from_one_survey_applies_its_changes_only(world) -> None:
    site_id = world["ids"][FROZEN_SITE]
    survey_id = _findings(world, FROZEN_SITE)[0]["survey_id"]
    path = f"/api/v1/sites/{site_id}/surveys/{survey_id}/findings/apply"
    with world["db"].session() as session:  # the surveyed address is taken: the move is refused
        session.add(Device(site_id=site_id, kind="switch", name="Switch", ip="198.51.100.21", status="active"))
    response = _post(world, path)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert {"new_identity"} == {f["code"] for f in body["applied"]}
    refused = {f["id"]: f for f in _findings(world, FROZEN_SITE, status="open") if f["id"] in body["refused"]}
    assert {f["code"] for f in refused.values()} == {"moved_ip", "new_streams"}  # streams point at the new address
    assert any("địa chỉ IP" in why for why in body["refused"].values())  # said in the default language
    camera = _device(world, "Camera cổng", FROZEN_SITE)
    assert (camera.ip, camera.firmware, camera.serial) == ("127.77.99.1", "V5.5.0", "DS1023-0001")

    with world["db"].session() as session:
        session.query(Device).filter_by(site_id=site_id, name="Switch").delete()
    again = _post(world, path).get_json()
    assert [f["code"] for f in again["applied"]] == ["moved_ip", "new_streams"] and again["refused"] == {}
    with world["db"].session() as session:
        camera = session.query(Device).filter_by(site_id=site_id, name="Camera cổng").one()
        assert camera.ip == "198.51.100.21" and camera.camera.stream_uris == ["rtsp://198.51.100.21:554/main"]
    assert "frozen" in {f["code"] for f in _findings(world, FROZEN_SITE, status="open")}  # not a change
    assert _post(world, f"/api/v1/sites/{world['ids'][HD]}/surveys/{survey_id}/findings/apply").status_code == 404
    assert _post(world, path, role="viewer").status_code == 403


def test_the_site_page_lists_a_bounded_number_of_findings_the_api_all(world) -> None:
    from sitescout.web.sites import FINDINGS_ON_PAGE

    _push(world, large_survey(HD, 300), HD)  # every host loses 5 % of its echoes: 300 findings and more
    every = _findings(world, HD)
    assert len(every) > FINDINGS_ON_PAGE
    client = world["app"].test_client()
    login(client, "editor")
    page = client.get(f"/sites/{world['ids'][HD]}").text
    assert page.count('<tr class="finding ') == FINDINGS_ON_PAGE
    import re

    note = re.search(r'<p id="more-findings"[^>]*>([^<]*)</p>', page)
    assert note and note.group(1).startswith(f"Còn {len(every) - FINDINGS_ON_PAGE} ghi nhận"), note


def test_decisions_are_in_the_sites_change_log(world) -> None:
    # A finding dismissed and a finding applied are in GET /api/v1/changes, filed under their site.
    site_id = world["ids"][FROZEN_SITE]
    frozen = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "frozen")
    assert _post(world, f"/api/v1/sites/{site_id}/findings/{frozen['id']}/dismiss",
                 {"reason": "encoder restarted"}).status_code == 200
    response = world["client"].get("/api/v1/changes", query_string={"site": site_id},
                                   headers=bearer(world["tokens"]["editor"]))
    assert response.status_code == 200, response.text
    body = response.get_json()
    entries = body.get("changes", body.get("items", body)) if isinstance(body, dict) else body
    dismissed = [c for c in entries if c["action"] == "dismiss"]
    assert len(dismissed) == 1, entries
    assert dismissed[0]["object_type"] == "finding" and frozen["id"] in dismissed[0]["object_repr"]
    assert dismissed[0]["after"]["reason"] == "encoder restarted"
