"""Decisions on findings and candidates are updates: If-Match as every other update (docs/api.md).

The world of test_workflow_api (real app, temporary SQLite inventory, the demo commune and the
frozen site, surveys pushed through the API).  A finding's ETag covers its state and the version
of the device it would change; a candidate's its state: without If-Match a decision is a 428, with
a tag that is no longer current a 412 — in the reader's language, with a stable code — and nothing
changes; with the current tag (or ``*``) it goes through.
"""

from __future__ import annotations

from typing import Any

from support import bearer, login
from test_workflow_api import _findings, _later, _push, world  # noqa: F401 - world is the fixture
from web_seed import FROZEN_SITE, HD, frozen_survey

VI = {"Accept-Language": "vi"}
EN = {"Accept-Language": "en"}


def _decide(world: dict[str, Any], path: str, tag: str | None, body: Any = None,  # noqa: F811
            lang: dict[str, str] | None = None) -> Any:
    headers = {**bearer(world["tokens"]["editor"]), **(lang or {})}
    if tag is not None:
        headers["If-Match"] = f'"{tag}"' if tag != "*" else tag
    return world["client"].post(path, json=body or {}, headers=headers)


def test_a_finding_is_decided_only_with_its_current_etag(world) -> None:  # noqa: F811
    site = world["ids"][FROZEN_SITE]
    moved = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "moved_ip")
    viewer = bearer(world["tokens"]["viewer"])
    one = world["client"].get(f"/api/v1/sites/{site}/findings/{moved['id']}", headers=viewer)
    assert one.status_code == 200 and one.headers["ETag"] == f'"{moved["etag"]}"'
    assert one.get_json()["etag"] == moved["etag"]
    path = f"/api/v1/sites/{site}/findings/{moved['id']}/apply"

    missing = _decide(world, path, None)
    assert missing.status_code == 428 and missing.get_json()["code"] == "precondition_required"
    assert missing.get_json()["message"].startswith("Hãy gửi If-Match")  # the deployment's default: Vietnamese

    # Somebody edits the device the finding would change: the tag the reader holds is stale.
    device = world["client"].get(f"/api/v1/devices/{moved['device_id']}", headers=bearer(world["tokens"]["editor"]))
    edited = world["client"].patch(f"/api/v1/devices/{moved['device_id']}", json={"notes": "thay dây mạng"},
                                   headers={**bearer(world["tokens"]["editor"]), "If-Match": device.headers["ETag"]})
    assert edited.status_code == 200, edited.text
    current = next(f for f in _findings(world, FROZEN_SITE) if f["id"] == moved["id"])
    assert current["etag"] != moved["etag"] and current["status"] == "open"
    stale_vi, stale_en = _decide(world, path, moved["etag"], lang=VI), _decide(world, path, moved["etag"], lang=EN)
    assert stale_vi.status_code == stale_en.status_code == 412
    assert stale_vi.get_json()["code"] == stale_en.get_json()["code"] == "stale_etag"
    assert stale_vi.get_json()["params"] == {"etag": current["etag"]}
    assert stale_vi.get_json()["message"].startswith("Bản ghi đã bị thay đổi")
    assert stale_en.get_json()["message"].startswith("The record was changed since you read it")
    assert next(f for f in _findings(world, FROZEN_SITE) if f["id"] == moved["id"])["status"] == "open"  # unchanged

    applied = _decide(world, path, current["etag"])
    assert applied.status_code == 200, applied.text
    assert applied.get_json()["status"] == "applied" and applied.headers["ETag"] == f'"{applied.get_json()["etag"]}"'
    # Deciding it again with the tag read before it was applied: stale; with * : already decided (409).
    dismiss = f"/api/v1/sites/{site}/findings/{moved['id']}/dismiss"
    assert _decide(world, dismiss, current["etag"], {"reason": "late"}).status_code == 412
    again = _decide(world, dismiss, "*", {"reason": "late"}, lang=EN)
    assert again.status_code == 409 and again.get_json()["code"] == "finding_decided"
    assert again.get_json()["message"] == "This finding is already applied."
    said = _decide(world, dismiss, "*", {"reason": "late"}, lang=VI).get_json()["message"]
    assert said == "Ghi nhận này đã ở trạng thái đã áp dụng."


def test_an_unknown_finding_is_a_404_before_any_precondition(world) -> None:  # noqa: F811
    site = world["ids"][FROZEN_SITE]
    answer = _decide(world, f"/api/v1/sites/{site}/findings/1-{'0' * 24}/apply", None, lang=VI)
    assert answer.status_code == 404 and answer.get_json()["code"] == "no_finding"
    assert answer.get_json()["message"].startswith("Điểm này không có ghi nhận")


def test_a_candidate_is_decided_only_with_its_current_etag(world) -> None:  # noqa: F811
    doc = _later(frozen_survey(HD), 6)
    doc["hosts"][0].update(ip="198.51.100.93", mac="00:aa:bb:cc:dd:03")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:etag-me", serial="ETAG-1",
                                     xaddrs=["http://198.51.100.93/onvif/device_service"])
    doc["hosts"][0]["onvif"]["profiles"][0]["stream_uri"] = "rtsp://198.51.100.93:554/main"
    doc["hosts"][0]["streams"][0]["uri"] = "rtsp://198.51.100.93:554/main"
    candidate = _push(world, doc, HD)["candidates"][0]
    read = world["client"].get(f"/api/v1/candidates/{candidate['id']}", headers=bearer(world["tokens"]["viewer"]))
    assert read.status_code == 200 and read.get_json()["state"] == "pending"
    tag = read.get_json()["etag"]
    assert read.headers["ETag"] == f'"{tag}"'
    viewer = bearer(world["tokens"]["viewer"])
    listed = world["client"].get(f"/api/v1/sites/{world['ids'][HD]}/candidates", headers=viewer)
    assert {c["id"]: c["etag"] for c in listed.get_json()["candidates"]}[candidate["id"]] == tag

    base = f"/api/v1/candidates/{candidate['id']}"
    missing = _decide(world, base + "/reject", None, lang=EN)
    assert missing.status_code == 428 and missing.get_json()["code"] == "precondition_required"
    wrong = _decide(world, base + "/reject", "c0000", lang=EN)
    assert wrong.status_code == 412 and wrong.get_json()["params"] == {"etag": tag}
    assert _decide(world, base + "/reject", tag).status_code == 200
    # Another reader still holds the pending candidate's tag: its accept is refused, the rejection stands.
    late = _decide(world, base + "/accept", tag, {"name": "Camera mới"}, lang=VI)
    assert late.status_code == 412 and late.get_json()["code"] == "stale_etag"
    after = world["client"].get(base, headers=bearer(world["tokens"]["viewer"])).get_json()
    assert after["state"] == "rejected" and after["etag"] != tag
    gone = world["client"].get("/api/v1/candidates/987654", headers={**bearer(world["tokens"]["viewer"]), **VI})
    assert gone.status_code == 404
    assert gone.get_json()["message"] == "Không có thiết bị chờ duyệt nào mang mã số 987654."


def test_who_decided_is_for_editors_and_admins_on_the_page_and_in_the_api(world) -> None:  # noqa: F811
    """The change log's rule (docs/security.md): a viewer reads what was decided and why, never who."""
    site = world["ids"][FROZEN_SITE]
    frozen = next(f for f in _findings(world, FROZEN_SITE) if f["code"] == "frozen")
    reason = "bộ mã hóa đã khởi động lại"
    done = _decide(world, f"/api/v1/sites/{site}/findings/{frozen['id']}/dismiss", "*", {"reason": reason})
    assert done.status_code == 200 and done.get_json()["decided_by"].startswith("token:")
    actor = done.get_json()["decided_by"]

    def listed(role: str) -> dict[str, Any]:
        answer = world["client"].get(f"/api/v1/sites/{site}/findings", headers=bearer(world["tokens"][role]))
        return next(f for f in answer.get_json()["findings"] if f["id"] == frozen["id"])

    seen = listed("viewer")
    assert seen["status"] == "dismissed" and seen["reason"] == reason and "decided_by" not in seen
    assert listed("editor")["decided_by"] == actor
    viewer_token = bearer(world["tokens"]["viewer"])
    one = world["client"].get(f"/api/v1/sites/{site}/findings/{frozen['id']}", headers=viewer_token)
    assert "decided_by" not in one.get_json()
    assert world["client"].get("/api/v1/changes", headers=bearer(world["tokens"]["viewer"])).status_code == 403

    viewer, editor = world["app"].test_client(), world["app"].test_client()
    login(viewer, "viewer")
    login(editor, "editor")
    page = viewer.get(f"/sites/{site}", headers=VI).get_data(as_text=True)
    assert reason in page and actor not in page and 'id="history"' not in page
    page = editor.get(f"/sites/{site}", headers=VI).get_data(as_text=True)
    assert reason in page and actor in page and 'id="history"' in page
