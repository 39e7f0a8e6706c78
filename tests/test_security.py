"""Who may do what, checked route by route over the app's url_map; cookies, CSRF, CSP, loopback defaults.

Every (endpoint, method) the app serves must have a row in POLICY: a new route
without one fails `test_every_route_has_a_policy`, so nobody adds a view and
forgets to decide who may call it.  Each row is then tried with every identity
(anonymous, a session of each role, a Bearer token of each role, a wrong token)
and the answer compared with what the row promises; a refused write leaves the
database byte-for-byte as it was.

The planted-password test (a whole lab survey, server and worker, every output
grepped) is at the end of this file; it needs network namespaces.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import bearer, csrf_token, login, make_app, secret_forms, wait_for
from web_seed import FROZEN_SITE, HD, frozen_survey

from sitescout.inventory import store
from sitescout.inventory.auth import issue_token
from sitescout.inventory.db import open_database
from sitescout.web.security import EDIT_ROLES, OBSERVATION_ROLES, READ_ROLES, TARGET_ROLES

DATABASE_BACKENDS = ("sqlite",)  # the web app is tested on SQLite; the inventory tests cover PostgreSQL
ROOT = Path(__file__).resolve().parents[1]
ROLES = ("admin", "editor", "viewer", "worker", "alertmanager")
PEOPLE = ("admin", "editor", "viewer")

# ---------------------------------------------------------------------------
# The policy table: one row per (endpoint, method).


@dataclass(frozen=True)
class Rule:
    """Who may call a route: `gate` is how it checks, `roles` who passes it."""

    gate: str  # "public" | "page" (session login) | "api" (token or session) | "token" (Bearer only)
    roles: frozenset[str] = frozenset()
    form: bool = False  # a POST made by a browser form: CSRF token required

    @property
    def is_write(self) -> bool:
        return self.form or self.gate == "token" and self is not SD_RULE


SD_RULE = Rule("token", TARGET_ROLES)
ADMIN = frozenset({"admin"})

POLICY: dict[tuple[str, str], Rule] = {
    ("static", "GET"): Rule("public"),
    ("metrics", "GET"): Rule("public"),  # the web process's own counters: no inventory content, loopback by default
    ("index", "GET"): Rule("public"),  # a redirect to the map
    ("auth.login", "GET"): Rule("public"),
    ("auth.login", "POST"): Rule("public", form=True),
    ("auth.logout", "POST"): Rule("public", form=True),
    ("auth.set_language", "GET"): Rule("public"),
    ("map.show_map", "GET"): Rule("page", READ_ROLES),
    ("map.tile", "GET"): Rule("page", READ_ROLES),
    ("sites.list_all", "GET"): Rule("page", READ_ROLES),
    ("sites.show_site", "GET"): Rule("page", READ_ROLES),
    ("sites.snapshot", "GET"): Rule("page", READ_ROLES),
    ("sites.report", "GET"): Rule("page", READ_ROLES),
    ("sites.report_pdf", "GET"): Rule("page", READ_ROLES),
    ("sites.decide_candidate", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("api.list_sites", "GET"): Rule("api", READ_ROLES),
    ("api.get_site", "GET"): Rule("api", READ_ROLES),
    ("api.list_devices", "GET"): Rule("api", READ_ROLES),
    ("plans.site_plans", "GET"): Rule("api", READ_ROLES),
    ("plans.show_plan", "GET"): Rule("api", READ_ROLES),
    ("api.post_survey", "POST"): Rule("token", EDIT_ROLES),
    ("api.post_observations", "POST"): Rule("token", OBSERVATION_ROLES),
    ("plans.create_plan", "POST"): Rule("token", EDIT_ROLES),
    ("sd.prometheus", "GET"): SD_RULE,
    # Access management (issue 13): admins only; reads by token or session, writes by token or admin form.
    ("accounts.list_tokens", "GET"): Rule("api", ADMIN),
    ("accounts.get_token", "GET"): Rule("api", ADMIN),
    ("accounts.create_token", "POST"): Rule("token", ADMIN),
    ("accounts.revoke_token", "DELETE"): Rule("token", ADMIN),
    ("accounts.list_users", "GET"): Rule("api", ADMIN),
    ("accounts.get_user", "GET"): Rule("api", ADMIN),
    ("accounts.create_user_view", "POST"): Rule("token", ADMIN),
    ("accounts.update_user", "PATCH"): Rule("token", ADMIN),
    ("accounts.delete_user", "DELETE"): Rule("token", ADMIN),
    ("admin.users", "GET"): Rule("page", ADMIN),
    ("admin.add_user", "POST"): Rule("page", ADMIN, form=True),
    ("admin.set_role", "POST"): Rule("page", ADMIN, form=True),
    ("admin.set_password", "POST"): Rule("page", ADMIN, form=True),
    ("admin.remove_user", "POST"): Rule("page", ADMIN, form=True),
    ("admin.tokens", "GET"): Rule("page", ADMIN),
    ("admin.add_token", "POST"): Rule("page", ADMIN, form=True),
    ("admin.revoke_token", "POST"): Rule("page", ADMIN, form=True),
    ("alerts.post_alerts", "POST"): Rule("token", frozenset({"admin", "alertmanager"})),
    ("alerts.site_alerts", "GET"): Rule("api", READ_ROLES),
    ("alerts.list_contacts", "GET"): Rule("api", EDIT_ROLES),  # phone numbers: personal data
    ("alerts.create_contact", "POST"): Rule("token", EDIT_ROLES),
    # REST API v1 resources (issue 13): reads by token or session, writes by Bearer token only.
    ("api.places.list_regions", "GET"): Rule("api", READ_ROLES),
    ("api.places.get_region", "GET"): Rule("api", READ_ROLES),
    ("api.places.create_region", "POST"): Rule("token", EDIT_ROLES),
    ("api.places.replace_region", "PUT"): Rule("token", EDIT_ROLES),
    ("api.places.update_region", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.places.delete_region", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.places.list_communes", "GET"): Rule("api", READ_ROLES),
    ("api.places.get_commune", "GET"): Rule("api", READ_ROLES),
    ("api.places.create_commune", "POST"): Rule("token", EDIT_ROLES),
    ("api.places.replace_commune", "PUT"): Rule("token", EDIT_ROLES),
    ("api.places.update_commune", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.places.delete_commune", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.site_edit.create_site", "POST"): Rule("token", EDIT_ROLES),
    ("api.site_edit.replace_site", "PUT"): Rule("token", EDIT_ROLES),
    ("api.site_edit.update_site", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.site_edit.delete_site", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.devices.get_device", "GET"): Rule("api", READ_ROLES),
    ("api.devices.create_device", "POST"): Rule("token", EDIT_ROLES),
    ("api.devices.replace_device", "PUT"): Rule("token", EDIT_ROLES),
    ("api.devices.update_device", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.devices.delete_device", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.devices.get_camera", "GET"): Rule("api", READ_ROLES),
    ("api.devices.put_camera_view", "PUT"): Rule("token", EDIT_ROLES),
    ("api.devices.update_camera", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.devices.delete_camera", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.devices.get_credentials", "GET"): Rule("api", EDIT_ROLES),  # says only whether there are any
    ("api.devices.put_credentials", "PUT"): Rule("token", EDIT_ROLES),
    ("api.devices.delete_credentials", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.changes.list_changes_view", "GET"): Rule("api", EDIT_ROLES),
    # Interfaces and cables (issue #15, web/api_network.py): as devices.
    ("api.network.list_interfaces", "GET"): Rule("api", READ_ROLES),
    ("api.network.create_interface_view", "POST"): Rule("token", EDIT_ROLES),
    ("api.network.get_interface", "GET"): Rule("api", READ_ROLES),
    ("api.network.update_interface", "PATCH"): Rule("token", EDIT_ROLES),
    ("api.network.delete_interface_view", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.network.list_cables", "GET"): Rule("api", READ_ROLES),
    ("api.network.create_cable_view", "POST"): Rule("token", EDIT_ROLES),
    ("api.network.get_cable", "GET"): Rule("api", READ_ROLES),
    ("api.network.delete_cable_view", "DELETE"): Rule("token", EDIT_ROLES),
    ("api.openapi.openapi_document", "GET"): Rule("public"),  # the API's description: no inventory data
    ("api.docs.api_docs", "GET"): Rule("public"),  # the same description as a page
    # Findings, candidates and edit forms (issue #13, web/workflow_api.py and web/site_edit.py).
    ("workflow.list_findings", "GET"): Rule("api", READ_ROLES),
    ("workflow.apply_finding", "POST"): Rule("token", EDIT_ROLES),
    ("workflow.dismiss_finding", "POST"): Rule("token", EDIT_ROLES),
    ("workflow.list_candidates", "GET"): Rule("api", READ_ROLES),
    ("workflow.decide_candidate", "POST"): Rule("token", EDIT_ROLES),
    ("workflow.get_finding", "GET"): Rule("api", READ_ROLES),
    ("workflow.get_candidate", "GET"): Rule("api", READ_ROLES),
    ("edit.new_site", "GET"): Rule("page", EDIT_ROLES),
    ("edit.new_site", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("edit.edit_site", "GET"): Rule("page", EDIT_ROLES),
    ("edit.edit_site", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("edit.move_site", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("edit.edit_device", "GET"): Rule("page", EDIT_ROLES),
    ("edit.edit_device", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("credentials.set_from_form", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("edit.decide_finding", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("edit.merge", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("workflow.apply_survey", "POST"): Rule("token", EDIT_ROLES),
    ("edit.apply_survey", "POST"): Rule("page", EDIT_ROLES, form=True),
    # The planners' workbench (issue 18): writes by token, or by an editor's session with the page's CSRF header.
    ("workbench.show_workbench", "GET"): Rule("page", READ_ROLES),
    ("workbench.list_models", "GET"): Rule("api", READ_ROLES),
    ("workbench.create_model", "POST"): Rule("api", EDIT_ROLES),
    ("workbench.update_model", "PATCH"): Rule("api", EDIT_ROLES),
    ("workbench.create_alternative_view", "POST"): Rule("api", EDIT_ROLES),
    ("workbench.show_workbench_plan", "GET"): Rule("api", READ_ROLES),
    ("workbench.put_design", "PUT"): Rule("api", EDIT_ROLES),
    ("workbench.optimise_plan", "POST"): Rule("api", EDIT_ROLES),
    ("workbench.patch_camera", "PATCH"): Rule("api", EDIT_ROLES),
    ("workbench.adopt", "POST"): Rule("api", EDIT_ROLES),
    ("plan_print.print_plan", "GET"): Rule("page", READ_ROLES),
    # Contacts (issue 16): viewers list them without phone, Zalo id or e-mail; editors and admins change them.
    ("contacts.list_contacts", "GET"): Rule("api", READ_ROLES),
    ("contacts.get_contact", "GET"): Rule("api", READ_ROLES),
    ("contacts.create_contact", "POST"): Rule("token", EDIT_ROLES),
    ("contacts.update_contact", "PATCH"): Rule("token", EDIT_ROLES),
    ("contacts.delete_contact", "DELETE"): Rule("token", EDIT_ROLES),
    ("contacts.page", "GET"): Rule("page", EDIT_ROLES),
    ("contacts.add_from_form", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("contacts.change_from_form", "POST"): Rule("page", EDIT_ROLES, form=True),
    ("contacts.delete_from_form", "POST"): Rule("page", EDIT_ROLES, form=True),
}

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def app_routes(app: Any) -> list[tuple[str, str, Any]]:
    """Return (endpoint, method, rule) for every route the app serves (HEAD and OPTIONS follow GET)."""
    return [(r.endpoint, m, r) for r in app.url_map.iter_rules() for m in sorted(r.methods - _IGNORED_METHODS)]


# ---------------------------------------------------------------------------
# Fixtures: a seeded inventory with a pending candidate and a saved plan.


@dataclass
class World:
    app: Any
    database: Any
    path: Path
    site_ids: dict[str, int]
    tokens: dict[str, str]
    candidate_id: int
    snapshot_id: int
    plan_id: int
    camera_id: int
    spare_token_id: int  # a token and a user the access-management routes may revoke, change or remove
    spare_user_id: int


def _snapshot_id(database: Any) -> int:
    from sitescout.inventory.models import SurveySnapshot

    with database.session() as session:
        return int(session.query(SurveySnapshot.id).order_by(SurveySnapshot.id).first()[0])


@pytest.fixture()
def world(tmp_path: Path, database: Any, site_ids: dict[str, int], admin: tuple[str, str]) -> Iterator[World]:
    path = tmp_path / "inventory.sqlite3"  # the database fixture's file
    with database.session() as session:
        tokens = {role: store.create_token(session, role) for role in ROLES}
        spare_token_id = issue_token(session, "worker", label="spare")[0]
        spare_user_id = store.create_user(session, "spare", "spare-password", "viewer")
    app = make_app(database, SITES_CACHE_SECONDS=0)
    client = app.test_client()
    doc = frozen_survey(HD)
    doc["hosts"][0].update(ip="198.51.100.77", mac="00:aa:bb:cc:dd:ee")
    doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:candidate", serial="NEW-1")
    assert client.post("/api/v1/surveys", json=doc, headers=bearer(tokens["editor"])).status_code == 201
    plan = client.post(f"/api/v1/sites/{site_ids[HD]}/plans?k=1&time_limit_s=0.5", json=_plan_input(),
                       headers=bearer(tokens["editor"]))
    assert plan.status_code == 201, plan.text
    with database.session() as session:
        candidate = store.get_site(session, site_ids[HD]).candidates[0]
        camera = next(d for d in store.list_devices(session, site_id=site_ids[HD]) if d.kind == "camera")
    yield World(app, database, path, site_ids, tokens, candidate.id, _snapshot_id(database),
                plan.get_json()["saved"]["plan_id"], camera.id, spare_token_id, spare_user_id)


def _plan_input() -> dict[str, Any]:
    from test_web_plans import sample_input

    return sample_input()


def fingerprint(path: Path) -> dict[str, Any]:
    """Return every table's rows (the whole inventory), to show a refused request changed nothing.

    Login sessions (``web_sessions``) are left out: the identities under test log in first.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name != 'web_sessions' ORDER BY name")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Requests: a URL and a body for each endpoint, valid enough that only the gate can refuse them.


def _open_finding(world: World) -> str:
    """Return the path of an open finding of the frozen site (the seed's survey gives several)."""
    from sitescout.inventory.workflow import site_findings

    frozen = world.site_ids[FROZEN_SITE]
    with world.database.session() as session:
        open_ = site_findings(session, frozen, status="open")
    return f"/sites/{frozen}/findings/{open_[0].id}" if open_ else f"/sites/{frozen}/findings/1-{'0' * 24}"


def _url(world: World, endpoint: str) -> str:
    hd = world.site_ids[HD]
    if endpoint in ("workflow.apply_survey", "edit.apply_survey"):
        from sitescout.inventory.models import Survey

        frozen = world.site_ids[FROZEN_SITE]
        with world.database.session() as session:
            survey_id = session.query(Survey.id).filter_by(site_id=frozen).order_by(Survey.id).first()[0]
        path = f"/sites/{frozen}/surveys/{survey_id}"
        return f"/api/v1{path}/findings/apply" if endpoint.startswith("workflow.") else f"{path}/apply"
    if endpoint == "workflow.get_finding":
        return f"/api/v1{_open_finding(world)}"
    if endpoint in ("workflow.apply_finding", "workflow.dismiss_finding", "edit.decide_finding"):
        verb = "apply" if endpoint == "workflow.apply_finding" else "dismiss"
        return ("/api/v1" if endpoint.startswith("workflow.") else "") + f"{_open_finding(world)}/{verb}"
    return {
        "static": "/static/app.css",
        "metrics": "/metrics",
        "index": "/",
        "auth.login": "/login",
        "auth.logout": "/logout",
        "auth.set_language": "/lang/en?next=/map",
        "map.show_map": "/map",
        "map.tile": "/tiles/0/0/0.png",
        "sites.list_all": "/sites",
        "sites.show_site": f"/sites/{hd}",
        "sites.snapshot": f"/snapshots/{world.snapshot_id}.jpg",
        "sites.report": f"/sites/{world.site_ids[FROZEN_SITE]}/report",
        "sites.report_pdf": f"/sites/{world.site_ids[FROZEN_SITE]}/report.pdf",
        "sites.decide_candidate": f"/candidates/{world.candidate_id}/accept",
        "api.list_sites": "/api/v1/sites",
        "api.get_site": f"/api/v1/sites/{hd}",
        "api.list_devices": "/api/v1/devices",
        "plans.site_plans": f"/api/v1/sites/{hd}/plans",
        "plans.show_plan": f"/api/v1/sites/{hd}/plans/{world.plan_id}",
        "api.post_survey": "/api/v1/surveys",
        "api.post_observations": "/api/v1/observations",
        "plans.create_plan": f"/api/v1/sites/{hd}/plans?k=1&time_limit_s=0.3",
        "sd.prometheus": "/sd/prometheus",
        "accounts.list_tokens": "/api/v1/tokens",
        "accounts.get_token": f"/api/v1/tokens/{world.spare_token_id}",
        "accounts.create_token": "/api/v1/tokens",
        "accounts.revoke_token": f"/api/v1/tokens/{world.spare_token_id}",
        "accounts.list_users": "/api/v1/users",
        "accounts.get_user": f"/api/v1/users/{world.spare_user_id}",
        "accounts.create_user_view": "/api/v1/users",
        "accounts.update_user": f"/api/v1/users/{world.spare_user_id}",
        "accounts.delete_user": f"/api/v1/users/{world.spare_user_id}",
        "admin.users": "/admin/users",
        "admin.add_user": "/admin/users",
        "admin.set_role": f"/admin/users/{world.spare_user_id}/role",
        "admin.set_password": f"/admin/users/{world.spare_user_id}/password",
        "admin.remove_user": f"/admin/users/{world.spare_user_id}/delete",
        "admin.tokens": "/admin/tokens",
        "admin.add_token": "/admin/tokens",
        "admin.revoke_token": f"/admin/tokens/{world.spare_token_id}/revoke",
        "alerts.post_alerts": "/api/v1/alerts",
        "alerts.site_alerts": f"/api/v1/sites/{hd}/alerts",
        "alerts.list_contacts": f"/api/v1/sites/{hd}/contacts",
        "alerts.create_contact": f"/api/v1/sites/{hd}/contacts",
        **_api_v1_urls(world),
        "workflow.list_findings": f"/api/v1/sites/{hd}/findings",
        "workflow.list_candidates": f"/api/v1/sites/{hd}/candidates",
        "workflow.decide_candidate": f"/api/v1/candidates/{world.candidate_id}/reject",
        "workflow.get_candidate": f"/api/v1/candidates/{world.candidate_id}",
        "edit.new_site": "/sites/new?lat=21.7&lon=105.3",
        "edit.edit_site": f"/sites/{hd}/edit",
        "edit.move_site": f"/sites/{hd}/move",
        "edit.edit_device": f"/devices/{world.camera_id}/edit",
        "credentials.set_from_form": f"/devices/{world.camera_id}/credentials",
        "edit.merge": f"/candidates/{world.candidate_id}/merge",
        "workbench.show_workbench": f"/sites/{hd}/plan",
        "workbench.list_models": "/api/v1/camera-models",
        "workbench.create_model": "/api/v1/camera-models",
        "workbench.update_model": "/api/v1/camera-models/1",
        "workbench.create_alternative_view": f"/api/v1/sites/{hd}/plan-alternatives",
        "workbench.show_workbench_plan": f"/api/v1/plans/{world.plan_id}",
        "workbench.put_design": f"/api/v1/plans/{world.plan_id}/design",
        "workbench.optimise_plan": f"/api/v1/plans/{world.plan_id}/optimise",
        "workbench.patch_camera": f"/api/v1/plans/{world.plan_id}/cameras/1",
        "workbench.adopt": f"/api/v1/plans/{world.plan_id}/adopt",
        "plan_print.print_plan": f"/sites/{hd}/plans/{world.plan_id}/print",
        "contacts.list_contacts": "/api/v1/contacts", "contacts.get_contact": "/api/v1/contacts/1",
        "contacts.create_contact": "/api/v1/contacts", "contacts.update_contact": "/api/v1/contacts/1",
        "contacts.delete_contact": "/api/v1/contacts/1", "contacts.page": "/contacts",
        "contacts.add_from_form": "/contacts", "contacts.change_from_form": "/contacts/1",
        "contacts.delete_from_form": "/contacts/1/delete",
    }[endpoint]


def _api_v1_urls(world: World) -> dict[str, str]:
    """URLs of the REST resources (issue 13): the HD site, its commune and region, the surveyed camera."""
    from sitescout.inventory.models import Site

    with world.database.session() as session:
        site = session.get(Site, world.site_ids[HD])
        commune, region = site.commune_id, site.commune.region_id
    hd, cam = world.site_ids[HD], world.camera_id
    urls = {"api.openapi.openapi_document": "/api/v1/openapi.json", "api.docs.api_docs": "/api/v1/docs",
            "api.changes.list_changes_view": "/api/v1/changes",
            "api.places.list_regions": "/api/v1/regions", "api.places.create_region": "/api/v1/regions",
            "api.places.list_communes": "/api/v1/communes", "api.places.create_commune": "/api/v1/communes",
            "api.site_edit.create_site": "/api/v1/sites", "api.devices.create_device": "/api/v1/devices"}
    for name in ("get_region", "replace_region", "update_region", "delete_region"):
        urls[f"api.places.{name}"] = f"/api/v1/regions/{region}"
    for name in ("get_commune", "replace_commune", "update_commune", "delete_commune"):
        urls[f"api.places.{name}"] = f"/api/v1/communes/{commune}"
    for name in ("replace_site", "update_site", "delete_site"):
        urls[f"api.site_edit.{name}"] = f"/api/v1/sites/{hd}"
    for name in ("get_device", "replace_device", "update_device", "delete_device"):
        urls[f"api.devices.{name}"] = f"/api/v1/devices/{cam}"
    for name in ("get_camera", "put_camera_view", "update_camera", "delete_camera"):
        urls[f"api.devices.{name}"] = f"/api/v1/devices/{cam}/camera"
    for name in ("get_credentials", "put_credentials", "delete_credentials"):
        urls[f"api.devices.{name}"] = f"/api/v1/devices/{cam}/credentials"
    for name in ("list_interfaces", "create_interface_view"):
        urls[f"api.network.{name}"] = f"/api/v1/devices/{cam}/interfaces"
    for name in ("get_interface", "update_interface", "delete_interface_view"):
        urls[f"api.network.{name}"] = "/api/v1/interfaces/1"  # none yet: the gate answers before the 404
    for name in ("list_cables", "create_cable_view"):
        urls[f"api.network.{name}"] = "/api/v1/cables"
    for name in ("get_cable", "delete_cable_view"):
        urls[f"api.network.{name}"] = "/api/v1/cables/1"
    return urls


def _json_body(world: World, endpoint: str) -> Any:
    if endpoint == "api.post_survey":
        doc = frozen_survey(HD)
        doc["hosts"][0]["onvif"].update(endpoint="urn:uuid:0000-role-test", serial="ROLE-1")
        doc["started_at"] = "2026-04-01T08:00:00+00:00"
        return doc
    if endpoint == "api.post_observations":
        return [{"device_id": world.camera_id, "kind": "stream", "health": "problem", "reason": "main: black"}]
    if endpoint == "plans.create_plan":
        return _plan_input()
    if endpoint == "accounts.create_token":
        return {"role": "worker", "label": "role test", "expires_at": None}
    if endpoint == "accounts.create_user_view":
        return {"username": "role-test", "password": "role-test-password", "role": "viewer"}
    if endpoint == "accounts.update_user":
        return {"role": "editor"}
    if endpoint == "workflow.dismiss_finding":
        return {"reason": "policy test"}
    if endpoint in ("workflow.apply_finding", "workflow.decide_candidate", "workflow.apply_survey"):
        return {}
    if endpoint == "contacts.create_contact":
        return {"site_id": world.site_ids[HD], "name": "Chị Hoa", "phone": "0912000111"}
    if endpoint == "contacts.update_contact":
        return {"quiet_hours": "22:00-06:00"}
    if endpoint == "alerts.create_contact":
        return {"name": "Anh Tuấn", "phone": "+84912345678"}
    api_bodies = {
        "api.places.create_region": {"name": "Vùng thử"}, "api.places.replace_region": {"name": "Vùng đổi"},
        "api.places.update_region": {"name": "Vùng đổi"}, "api.places.create_commune": None,
        "api.places.replace_commune": {"name": "Xã đổi"}, "api.places.update_commune": {"name": "Xã đổi"},
        "api.site_edit.replace_site": {"address": "Đổi"}, "api.site_edit.update_site": {"address": "Đổi"},
        "api.devices.replace_device": {"notes": "đổi"}, "api.devices.update_device": {"notes": "đổi"},
        "api.devices.put_camera_view": {"height_m": 4.5}, "api.devices.update_camera": {"height_m": 4.5},
        "api.devices.put_credentials": {"username": "admin", "password": "policy-test-password"},
        "api.network.create_interface_view": {"name": "eth0"}, "api.network.update_interface": {"uplink": True},
        "api.network.create_cable_view": {"a_interface_id": 1, "b_interface_id": 2},
    }
    if endpoint in ("api.places.create_commune", "api.site_edit.create_site", "api.devices.create_device"):
        from sitescout.inventory.models import Site

        with world.database.session() as session:
            site = session.get(Site, world.site_ids[HD])
            commune, region = site.commune_id, site.commune.region_id
        return {"api.places.create_commune": {"name": "Xã thử", "region_id": region},
                "api.site_edit.create_site": {"name": "Thôn thử", "commune_id": commune},
                "api.devices.create_device": {"name": "Thiết bị thử", "site_id": world.site_ids[HD]}}[endpoint]
    if endpoint in api_bodies:
        return api_bodies[endpoint]
    if endpoint == "alerts.post_alerts":
        return {"version": "4", "status": "firing", "groupKey": "{}:{site=\"x\"}", "alerts": [
            {"status": "firing", "fingerprint": "f1", "startsAt": "2026-12-06T00:00:00Z", "labels": {"site": HD}}]}
    return None


IDENTITIES = ("anonymous", "bad-token", *(f"session:{r}" for r in PEOPLE), *(f"token:{r}" for r in ROLES))


def _client(world: World, identity: str) -> tuple[Any, dict[str, str]]:
    client = world.app.test_client()
    headers: dict[str, str] = {}
    if identity.startswith("session:"):
        role = identity.split(":")[1]
        assert login(client, role, f"{role}-password").status_code == 302
    elif identity.startswith("token:"):
        headers = bearer(world.tokens[identity.split(":")[1]])
    elif identity == "bad-token":
        headers = bearer("sst_not-a-token")
    return client, headers


def _call(world: World, endpoint: str, method: str, identity: str) -> Any:
    client, headers = _client(world, identity)
    url = _url(world, endpoint)
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    if method == "PATCH":
        return client.patch(url, json=_json_body(world, endpoint), headers={**headers, "If-Match": "*"})
    if method == "PUT":
        return client.put(url, json=_json_body(world, endpoint), headers={**headers, "If-Match": "*"})
    body = _json_body(world, endpoint)
    if body is not None:
        return client.post(url, json=body, headers=headers)
    data = {"csrf_token": csrf_token(client, "/login"), "site_id": str(world.site_ids[HD])}
    if endpoint.startswith("admin."):
        data.update(username="form-test", password="form-test-password", role="editor", label="form test")
    if endpoint == "auth.login":
        data.update(username="viewer", password="viewer-password")
    return client.post(url, data=data, headers=headers)


def _expected(rule: Rule, identity: str) -> str:
    """Return "allow", "login" (redirect to the login page), 401 or 403 as text."""
    kind, _, role = identity.partition(":")
    if rule.gate == "public":
        return "allow"
    if rule.gate == "page":  # pages know sessions only; a Bearer token is no login
        if kind != "session":
            return "login"
        return "allow" if role in rule.roles else "403"
    if rule.gate == "api":
        if identity == "anonymous" or identity == "bad-token":
            return "401"
        return "allow" if role in rule.roles else "403"
    # "token": a Bearer token only; a session cookie grants nothing on these
    if kind in ("anonymous", "session") or identity == "bad-token":
        return "401"
    return "allow" if role in rule.roles else "403"


def _outcome(response: Any) -> str:
    if response.status_code in (301, 302, 303) and response.headers["Location"].startswith("/login"):
        return "login"
    if response.status_code in (401, 403):
        return str(response.status_code)
    return "allow"


# ---------------------------------------------------------------------------
# Roles.


def test_every_route_has_a_policy(world: World) -> None:
    served = {(endpoint, method) for endpoint, method, _ in app_routes(world.app)}
    missing = sorted(served - set(POLICY))
    assert not missing, f"routes without a row in POLICY (decide who may call them): {missing}"
    stale = sorted(set(POLICY) - served)
    assert not stale, f"POLICY rows for routes that no longer exist: {stale}"


@pytest.mark.parametrize("key", sorted(POLICY), ids=lambda k: f"{k[1]} {k[0]}")
def test_route_answers_each_identity_as_its_policy_says(world: World, key: tuple[str, str]) -> None:
    endpoint, method = key
    rule = POLICY[key]
    wrong: list[str] = []
    for identity in IDENTITIES:
        expected = _expected(rule, identity)
        before = fingerprint(world.path) if method != "GET" and expected != "allow" else None
        response = _call(world, endpoint, method, identity)
        got = _outcome(response)
        if rule.gate == "public" and got == "login":
            got = "allow"  # logging out (or in) ends on the login page
        if got != expected:
            wrong.append(f"{identity}: expected {expected}, got {response.status_code} {response.text[:120]!r}")
        if expected in ("401", "403") and endpoint.startswith(("api.", "plans.", "sd.")):
            assert response.is_json and response.get_json()["error"], (identity, response.text[:200])
        if expected == "401" and got == "401" and endpoint.startswith(("api.", "plans.", "sd.")):
            assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
        if before is not None:
            assert fingerprint(world.path) == before, f"{identity}: a refused {method} {endpoint} changed the database"
    assert not wrong, "\n".join(wrong)


def test_worker_token_reads_targets_and_posts_observations_only(world: World) -> None:
    allowed = []
    for endpoint, method, _ in app_routes(world.app):
        rule = POLICY[(endpoint, method)]
        if rule.gate == "public":
            continue  # open to anyone (login page, static files, language switch, own metrics)
        if _outcome(_call(world, endpoint, method, "token:worker")) == "allow":
            allowed.append((endpoint, method))
    assert sorted(allowed) == [("api.post_observations", "POST"), ("sd.prometheus", "GET")]


def test_viewer_cannot_write_anything(world: World) -> None:
    writes = [(e, m) for e, m, _ in app_routes(world.app) if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes  # the app has writes: surveys, observations, plans, candidates, login/logout
    for endpoint, method in writes:
        if POLICY[(endpoint, method)].gate == "public":
            continue  # logging in and out changes no inventory row
        for identity in ("session:viewer", "token:viewer"):
            before = fingerprint(world.path)
            response = _call(world, endpoint, method, identity)
            assert response.status_code in (302, 401, 403), (endpoint, identity, response.status_code)
            assert fingerprint(world.path) == before, (endpoint, identity)


# ---------------------------------------------------------------------------
# CSRF.


def _session_posts(app: Any) -> list[str]:
    return [e for e, m, _ in app_routes(app) if m == "POST" and POLICY[(e, m)].form]


def test_every_form_post_needs_its_csrf_token(world: World) -> None:
    endpoints = _session_posts(world.app)
    assert set(endpoints) >= {"auth.login", "auth.logout", "sites.decide_candidate"}
    for endpoint in endpoints:
        url = _url(world, endpoint)
        for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            for extra in ({}, {"Authorization": "Bearer junk"}, {"X-CSRF-Token": "forged"}):
                client = world.app.test_client()
                login(client, "admin", "admin-password")
                before = fingerprint(world.path)
                data = {**sent, "site_id": str(world.site_ids[HD]), "username": "viewer", "password": "viewer-password"}
                response = client.post(url, data=data, headers=extra)
                assert response.status_code == 400, (endpoint, sent, extra, response.status_code)
                assert "CSRF" in response.text
                assert fingerprint(world.path) == before
                assert client.get("/map").status_code == 200  # still logged in as admin: nothing happened


def test_every_form_on_every_page_carries_a_csrf_token(world: World) -> None:
    client = world.app.test_client()
    pages = ["/login"]
    assert login(client, "admin", "admin-password").status_code == 302
    pages += ["/map", "/sites", f"/sites/{world.site_ids[HD]}", f"/sites/{world.site_ids[FROZEN_SITE]}",
              "/admin/users", "/admin/tokens"]
    forms = 0
    for page in pages:
        html = client.get(page).text
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                forms += 1
                assert re.search(r'name="csrf_token" value="[^"]{20,}"', form), (page, form[:200])
    assert forms >= 3  # logout, and accept/reject on the site with a candidate


# ---------------------------------------------------------------------------
# Cookies and headers.


def test_every_cookie_is_httponly_samesite_and_secure(world: World) -> None:
    client = world.app.test_client()
    headers = [client.get("/login").headers.getlist("Set-Cookie")]  # the anonymous session (its CSRF token)
    token = csrf_token(client)
    headers.append(client.post("/login", data={"username": "viewer", "password": "viewer-password",
                                               "csrf_token": token}).headers.getlist("Set-Cookie"))
    headers.append(client.get("/lang/en?next=/map").headers.getlist("Set-Cookie"))
    cookies = [c for group in headers for c in group]
    assert {c.split("=")[0] for c in cookies} >= {"sitescout_session", "sitescout_lang"}
    for cookie in cookies:
        flags = [p.strip().lower() for p in cookie.split(";")[1:]]
        assert "httponly" in flags, cookie
        assert "secure" in flags, cookie
        assert any(f.startswith("samesite=") and f != "samesite=none" for f in flags), cookie


def test_login_gives_a_fresh_session_and_logout_ends_it(world: World) -> None:
    client = world.app.test_client()
    client.get("/login")
    before = client.get_cookie("sitescout_session").value
    login(client, "viewer", "viewer-password")
    after = client.get_cookie("sitescout_session").value
    assert before != after
    token = csrf_token(client, "/map")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/map").status_code == 302


def test_a_session_follows_the_user_row_role_change_password_change_removal(world: World) -> None:
    from sitescout.inventory.auth import set_password
    from sitescout.inventory.models import User

    editor = world.app.test_client()
    login(editor, "editor", "editor-password")
    url = _url(world, "sites.decide_candidate")
    # Demoted to viewer: the next form post is refused, though the cookie still says "editor".
    with world.database.session() as session:
        session.query(User).filter_by(username="editor").one().role = "viewer"
    before = fingerprint(world.path)
    assert editor.post(url, data={"csrf_token": csrf_token(editor, "/map")}).status_code == 403
    assert fingerprint(world.path) == before
    # A new password ends the sessions made with the old one.
    viewer = world.app.test_client()
    login(viewer, "viewer", "viewer-password")
    assert viewer.get("/map").status_code == 200
    with world.database.session() as session:
        assert set_password(session, "viewer", "a-new-viewer-password")
    assert viewer.get("/map").status_code == 302
    assert viewer.get("/api/v1/sites").status_code == 401
    # A removed user is logged out at once.
    admin = world.app.test_client()
    login(admin, "admin", "admin-password")
    with world.database.session() as session:
        session.query(User).filter_by(username="admin").delete()
    assert admin.get("/map").status_code == 302


def _html_answers(world: World) -> Iterator[tuple[str, Any]]:
    client = world.app.test_client()
    for path in ("/login", "/nowhere", "/map"):  # anonymous: the login page, a 404 page, a redirect
        yield path, client.get(path)
    yield "bad CSRF", client.post("/login", data={})
    login(client, "admin", "admin-password")
    for endpoint, method, _ in app_routes(world.app):
        if method == "GET":
            yield endpoint, client.get(_url(world, endpoint))
    for path in ("/sites/999999", f"/sites/{world.site_ids[HD]}/report", "/api/v1/nowhere", "/nowhere"):
        yield path, client.get(path)
    viewer = world.app.test_client()
    login(viewer, "viewer", "viewer-password")
    yield "403 page", viewer.post(_url(world, "sites.decide_candidate"),
                                  data={"csrf_token": csrf_token(viewer, "/map")})


def test_every_answer_has_a_csp_and_html_pages_allow_no_inline_script(world: World) -> None:
    html_pages = 0
    for what, response in _html_answers(world):
        csp = response.headers.get("Content-Security-Policy", "")
        assert csp, what
        assert response.headers.get("X-Content-Type-Options") == "nosniff", what
        if response.mimetype == "text/html":
            html_pages += 1
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
            assert directives["script-src"] in ("'self'", "'none'"), (what, csp)
            assert "unsafe" not in csp, (what, csp)
            assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'", what
            assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'", what
            body = response.get_data(as_text=True)
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body, re.I), what  # no inline script
            assert not re.search(r"\son[a-z]+\s*=", body.split("</head>")[-1], re.I), what  # no onclick= etc.
    assert html_pages >= 10


def test_logged_in_answers_are_not_cached_by_shared_caches(world: World) -> None:
    client = world.app.test_client()
    login(client, "viewer", "viewer-password")
    for path in ("/map", f"/sites/{world.site_ids[HD]}", "/api/v1/sites"):
        control = client.get(path).headers.get("Cache-Control", "")
        assert "private" in control or "no-store" in control, path


# ---------------------------------------------------------------------------
# Loopback by default.


def test_serve_worker_and_demo_listen_on_loopback_by_default() -> None:
    from sitescout.cli import build_parser

    parser = build_parser()
    serve = parser.parse_args(["serve"])
    assert serve.listen.startswith("127.0.0.1:")
    worker = parser.parse_args(["worker", "--targets", "t.yml"])
    assert worker.listen.startswith("127.0.0.1:")
    demo = parser.parse_args(["demo"])
    assert demo.listen[0] == "127.0.0.1" and demo.metrics_listen[0] == "127.0.0.1"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["demo", "--listen", "0.0.0.0:8080"])  # the demo never leaves loopback
    assert exit_info.value.code == 2


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("198.51.100.2", False), ("noc.example", False),
])
def test_serve_warns_when_it_listens_beyond_loopback(host: str, loopback: bool) -> None:
    from sitescout.cmd_serve import listen_warning

    warning = listen_warning(host)
    if loopback:
        assert warning is None
    else:
        assert warning is not None and "HTTPS" in warning and "loopback" in warning


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("[::1]", True), ("localhost", True), ("0.0.0.0", False), ("198.51.100.2", False),
])
def test_worker_warns_when_it_listens_beyond_loopback(host: str, loopback: bool) -> None:
    from sitescout.cmd_worker import listen_warning

    warning = listen_warning(host)
    if loopback:
        assert warning is None
    else:
        assert warning is not None and "/probe" in warning and "loopback" in warning


# ---------------------------------------------------------------------------
# A planted camera password never leaves the credentials file.
#
# Seam: the only place the password enters sitescout is the --credentials TOML file
# (survey and worker) and set_device_credential (the inventory, Fernet-encrypted).
# Everything that comes out is collected and grepped: the survey's stdout, stderr,
# JSON and HTML report; `sitescout serve`'s log and every page and API answer; the
# worker's log, /metrics and /probe; CSV/GeoJSON/JSON exports; the database files.
# (The simulated camera itself gets the password on its command line: lab only.)

_FETCH = r'''
import json, re, sys, urllib.error, urllib.parse, urllib.request
spec = json.load(open(sys.argv[1]))
out = spec["out"]
cookie = ""

def fetch(url, method="GET", headers=None, data=None):
    global cookie
    headers = dict(headers or {})
    if cookie:
        headers["Cookie"] = cookie
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        resp = opener.open(req, timeout=60)
        status, body, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, body, hdrs = err.code, err.read(), err.headers
    for value in hdrs.get_all("Set-Cookie") or []:
        if value.startswith("sitescout_session="):
            cookie = value.split(";")[0]
    return status, body, hdrs

base = spec["web"]
status, body, _ = fetch(base + "/login")
token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
form = urllib.parse.urlencode({"username": "admin", "password": spec["admin_password"], "csrf_token": token}).encode()
status, _, _ = fetch(base + "/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, form)
assert status == 302, status
results = {}
for name, url, auth in spec["fetch"]:
    headers = {"Authorization": "Bearer " + spec["tokens"][auth]} if auth else {}
    status, body, hdrs = fetch(url if "://" in url else base + url, headers=headers)
    open(f"{out}/{name}", "wb").write(b"".join(f"{k}: {v}\n".encode() for k, v in hdrs.items()) + b"\n" + body)
    results[name] = status
print(json.dumps(results))
'''


def test_secret_forms_find_a_password_in_any_encoding() -> None:
    import base64
    from urllib.parse import quote

    password = "pw-0123456789abcdef@/+"
    leaks = [
        f"rtsp://admin:{quote(password, safe='')}@198.51.100.10/main",
        "Authorization: Basic " + base64.b64encode(f"admin:{password}".encode()).decode(),
        *(base64.b64encode(b"x" * pad + password.encode() + b"tail").decode() for pad in range(3)),
        f"password = {password}",
    ]
    for text in leaks:
        assert any(needle in text.encode() for needle in secret_forms(password).values()), text
    clean = "rtsp://198.51.100.10/main " + base64.b64encode(b"admin:another-password").decode()
    assert not any(needle in clean.encode() for needle in secret_forms(password).values())



def test_planted_password_is_in_no_output_of_survey_serve_and_worker(tmp_path: Path) -> None:
    import secrets
    import subprocess
    import sys

    from sitescout.infra.lab.netns import LabSite, stop_process_group
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns
    from sitescout.infra.lab.rtsp import gstreamer_available
    from sitescout.infra.lab.scenario import build_survey_lab
    from sitescout.inventory.secrets import generate_key, get_device_credential, set_device_credential

    skip_unless_netns()
    py = sys.executable
    password = f"pw-{secrets.token_hex(8)}@/+"  # '@', '/' and '+' make its URL-encoded forms differ
    decoy = f"pw-{secrets.token_hex(8)}"  # tried first on every camera, refused
    creds = tmp_path / "cameras.toml"
    creds.write_text(f'[[credentials]]\nusername = "admin"\npassword = "{decoy}"\n'
                     f'[[credentials]]\nusername = "admin"\npassword = "{password}"\n')
    outputs: dict[str, bytes] = {}
    use_rtsp = gstreamer_available()
    server_db, field_db = tmp_path / "server.sqlite3", tmp_path / "field.sqlite3"
    (tmp_path / "sites.csv").write_text(SITES_CSV, encoding="utf-8")
    for db in (server_db, field_db):
        done = subprocess.run([py, "-m", "sitescout", "import", "--kind", "sites", "--db", f"sqlite:///{db}",
                               str(tmp_path / "sites.csv")], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    server = open_database(f"sqlite:///{server_db}")
    with server.session() as session:
        worker_token = store.create_token(session, "worker")
        viewer_token = store.create_token(session, "viewer")
    (tmp_path / "worker-token").write_text(worker_token + "\n")
    (tmp_path / "settings.yaml").write_text(
        "defaults:\n  link: {interval_s: 1, count: 2, echo_interval_s: 0.1, timeout_s: 0.5}\n"
        "  onvif: {interval_s: 2, timeout_s: 3}\n")
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    procs: list[subprocess.Popen[Any]] = []
    with LabSite() as site:
        lab = build_survey_lab(site, ["hikvision_ds2cd2012i", "axis_q6045e"], ["switch"],
                               credentials={0: ("admin", password), 1: ("admin", password)}, rtsp=use_rtsp)
        try:
            # 1. The server, at debug level, on the scanner's loopback.
            with open(serve_log, "w") as log:
                procs.append(lab.scanner.popen(
                    [py, "-m", "sitescout", "-vv", "serve", "--db", f"sqlite:///{server_db}", "--listen",
                     "127.0.0.1:0", "--data-dir", str(tmp_path / "data")], stdout=log, stderr=subprocess.STDOUT))
            port = wait_for(
                "serve to listen", lambda: re.findall(r"http://127\.0\.0\.1:(\d+)/map", serve_log.read_text()), 60.0
            )
            web = f"http://127.0.0.1:{port[0]}"
            admin_file = (tmp_path / "data" / "admin-credentials.txt").read_text()
            admin_password = re.search(r"password = (\S+)", admin_file).group(1)
            (tmp_path / "admin-token").write_text(re.search(r"api_token = (\S+)", admin_file).group(1) + "\n")

            # 2. The survey: --db (the field laptop's inventory), --push (the server), --json, --report.
            survey = lab.survey(
                "--site", "thon lab", "--network", "198.51.100.0/24", "--credentials", str(creds),
                "--db", f"sqlite:///{field_db}", "--push", web, "--token-file", str(tmp_path / "admin-token"),
                "--json", str(tmp_path / "survey.json"), "--report", str(tmp_path / "report.html"),
                *(() if use_rtsp else ("--no-streams",)), timeout=180)
            assert survey.returncode == 0, survey.stderr
            outputs["survey stdout"], outputs["survey stderr"] = survey.stdout.encode(), survey.stderr.encode()
            verbose = lab.scanner.run([py, "-m", "sitescout", "-vv", "survey", "--site", "thon lab", "--network",
                                       "198.51.100.0/24", "--credentials", str(creds), "--json", "-", "--no-streams",
                                       "--wait", "1"], timeout=180)
            assert verbose.returncode == 0, verbose.stderr
            assert "DEBUG" in verbose.stderr
            outputs["survey -vv stdout"], outputs["survey -vv stderr"] = (
                verbose.stdout.encode(),
                verbose.stderr.encode(),
            )
            doc = json.loads((tmp_path / "survey.json").read_text())
            cameras = {h["ip"]: h for h in doc["hosts"] if h["kind"] == "camera"}
            assert {c.ip for c in lab.cameras} <= set(cameras)
            assert all(cameras[c.ip]["onvif"]["auth"] == "ok" for c in lab.cameras)  # the planted password worked

            # 3. Candidates accepted on the server; the camera login stored encrypted (Fernet) at rest.
            key = generate_key().encode()
            with server.session() as session:
                (lab_site,) = store.list_sites(session)
                device_ids = [store.accept_candidate(session, c.id) for c in store.list_candidates(session)]
                for device_id in device_ids:
                    set_device_credential(session, device_id, "admin", password, key=key)
            with server.session() as session:
                assert get_device_credential(session, device_ids[0], key=key).password == password

            # 3b. The review's attack: host B on the lab network records every byte it receives, on the
            # cameras' ONVIF port and on RTSP's.  (a) An editor's survey names B for a camera's ONVIF
            # endpoint, XAddr, stream and snapshot; the candidate is accepted.  (b) A row from before the
            # fix (written around the models' rules): a real camera's endpoint and one of its streams on B.
            host_b = site.add_host("hostb", "198.51.100.77/24")
            received = tmp_path / "host-b.bin"
            received.touch()
            onvif_port = lab.cameras[0].onvif_port
            recorder = host_b.popen([py, str(Path(__file__).with_name("support.py")), host_b.ip, str(onvif_port),
                                     "554", str(received)], stdout=subprocess.PIPE, text=True)
            procs.append(recorder)
            assert recorder.stdout is not None and recorder.stdout.readline().startswith("ready")
            on_b = f"http://{host_b.ip}:{onvif_port}/onvif/device_service"
            hostile = {"site": "thon lab", "started_at": "2026-12-01T08:00:00+00:00", "networks": [],
                       "hosts": [{"ip": "198.51.100.250", "kind": "camera", "open_ports": [onvif_port],
                                  "onvif": {"endpoint": on_b, "xaddrs": [on_b], "manufacturer": "Evil",
                                            "profiles": [{"token": "p", "stream_uri": f"rtsp://{host_b.ip}/p",
                                                          "snapshot_uri": f"http://{host_b.ip}/snap.jpg"}]},
                                  "streams": [{"uri": f"rtsp://{host_b.ip}/p", "profile": "p", "up": True}]}]}
            with server.session() as session:
                result = store.ingest_survey(session, hostile)
                (evil,) = [c for c in result.candidates if c.ip == "198.51.100.250"]
                store.accept_candidate(session, evil.id)
            assert {f.kind for f in result.findings} >= {"uri_rebased"}
            with server.session() as session:
                cam0 = next(d.id for d in store.list_devices(session) if d.ip == lab.cameras[0].ip)
            with server.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE devices SET onvif_endpoint = ? WHERE id = ?", (on_b, cam0))
                changed = conn.exec_driver_sql("UPDATE camera_details SET stream_uris = ? WHERE device_id = ?",
                                               (json.dumps([f"rtsp://{host_b.ip}/hostile"]), cam0))
                assert changed.rowcount == 1
            with server.session() as session:
                assert host_b.ip in json.dumps(store.prometheus_targets(session))  # the inventory hands B out

            # 4. The worker: targets from the server, the planted password in its credentials file.
            with open(worker_log, "w") as log:
                worker = lab.scanner.popen(
                    [py, "-m", "sitescout", "-vv", "worker", "--inventory", web, "--token-file",
                     str(tmp_path / "worker-token"), "--settings", str(tmp_path / "settings.yaml"), "--credentials",
                     str(creds), "--listen", "127.0.0.1:0", "--refresh", "1", "--flush-interval", "0.5",
                     "--observations-spool", str(tmp_path / "spool.jsonl")],
                    stdout=subprocess.PIPE, stderr=log, text=True)
            procs.append(worker)
            ready = worker.stdout.readline() if worker.stdout else ""
            assert ready.startswith("ready"), (ready, worker_log.read_text()[-2000:])
            metrics_url = ready.split()[1]

            def camera_health_known() -> bool:
                with server.session() as session:
                    return all(d.health != "unknown" for d in store.list_devices(session) if d.kind == "camera")

            wait_for("the worker's observations of the cameras", camera_health_known, 60.0)

            # 5. Every page and answer, fetched from the running server and worker.
            cam_ip = lab.cameras[0].ip
            stream = next((p["stream_uri"] for p in cameras[cam_ip]["onvif"]["profiles"] if p["stream_uri"]), None)
            fetches = [
                ("map", "/map", None), ("sites page", "/sites", None), ("site page", f"/sites/{lab_site.id}", None),
                ("report", f"/sites/{lab_site.id}/report", None),
                ("api sites", "/api/v1/sites", "viewer"), ("api site", f"/api/v1/sites/{lab_site.id}", "viewer"),
                ("api devices", "/api/v1/devices", "viewer"),
                ("api devices of site", f"/api/v1/devices?site={lab_site.id}", "viewer"),
                ("api plans", f"/api/v1/sites/{lab_site.id}/plans", "viewer"),
                ("sd", "/sd/prometheus", "worker"), ("serve metrics", "/metrics", None),
                ("worker metrics", metrics_url, None),
                ("worker probe onvif", metrics_url.replace("/metrics", f"/probe?module=onvif&target={cam_ip}"), None),
                ("worker probe icmp", metrics_url.replace("/metrics", f"/probe?module=icmp&target={cam_ip}"), None),
            ]
            if stream:
                from urllib.parse import quote

                fetches.append(
                    (
                        "worker probe stream",
                        metrics_url.replace("/metrics", f"/probe?module=stream&target={quote(stream, safe='')}"),
                        None,
                    )
                )
            (tmp_path / "pages").mkdir()
            spec = {"web": web, "out": str(tmp_path / "pages"), "admin_password": admin_password,
                    "tokens": {"viewer": viewer_token, "worker": worker_token}, "fetch": fetches}
            (tmp_path / "fetch.json").write_text(json.dumps(spec))
            fetched = lab.scanner.run([py, "-c", _FETCH, str(tmp_path / "fetch.json")], timeout=180)
            assert fetched.returncode == 0, fetched.stderr
            statuses = json.loads(fetched.stdout)
            assert all(status == 200 for status in statuses.values()), statuses
            for page in sorted((tmp_path / "pages").iterdir()):
                outputs[f"GET {page.name}"] = page.read_bytes()
            assert b"probe_success 1" in outputs["GET worker probe onvif"]  # the worker's credentials opened it
            assert b'sitescout_onvif_up{' in outputs["GET worker metrics"]
        finally:
            for proc in reversed(procs):
                stop_process_group(proc)
            lab.close()
    outputs["serve log"], outputs["worker log"] = serve_log.read_bytes(), worker_log.read_bytes()
    outputs["host B received"] = received.read_bytes()
    assert outputs["host B received"] == b"", outputs["host B received"][:2000]  # nothing at all went to B
    assert b"is not the device's address" in outputs["worker log"]  # the worker re-based B's URIs
    assert b"DEBUG" in outputs["worker log"] and b"GET /sd/prometheus" in outputs["serve log"]
    for name in ("survey.json", "report.html"):
        outputs[name] = (tmp_path / name).read_bytes()
    for spool in tmp_path.glob("spool.jsonl*"):  # the worker's queue of observations not yet delivered
        outputs[f"worker {spool.name}"] = spool.read_bytes()

    # 6. Exports of both inventories, and the database files themselves.
    for db in (server_db, field_db):
        for kind, fmt in (("sites", "csv"), ("sites", "geojson"), ("devices", "csv"), ("devices", "geojson"),
                          ("surveys", "json")):
            done = subprocess.run([py, "-m", "sitescout", "export", kind, "--format", fmt, "--db", f"sqlite:///{db}"],
                                  capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr
            outputs[f"export {db.stem} {kind}.{fmt}"] = done.stdout + done.stderr
        for file in db.parent.glob(db.name + "*"):  # the database, its -wal and -shm
            outputs[f"file {file.name}"] = file.read_bytes()
    server.close()
    outputs["server db after close"] = server_db.read_bytes()
    assert b"admin" in outputs["export server devices.csv"] or len(outputs["export server devices.csv"]) > 50

    leaks = [f"{name}: the {form} form of the {which} password"
             for which, secret in (("planted", password), ("decoy", decoy))
             for form, needle in secret_forms(secret).items()
             for name, data in outputs.items() if needle in data]
    assert not leaks, "\n".join(leaks)
    assert len(outputs) >= 35, sorted(outputs)


SITES_CSV = (
    "region,commune,name,kind,status,latitude,longitude,address,contact,is_demo\n"
    "Tuyên Quang,Hướng Đạo,Thôn Lab,village_hall,active,21.77,105.25,,,false\n"
)
