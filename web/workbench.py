"""The planners' workbench: a page per site to draw, optimise and hand-edit camera plans, and its API.

Writes take a Bearer token (editor or admin) or, from the workbench page, the session of an
editor together with the page's CSRF token in ``X-CSRF-Token`` (the session cookie alone
grants nothing: a forged cross-site request carries no such header).  Every plan read or
written by id is checked against the token's site scope.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import time
from typing import Any, TypeVar
from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, render_template, request, session, url_for
from flask_babel import gettext as _

from sitescout.inventory import store
from sitescout.inventory.db import ConflictError
from sitescout.inventory.models import ValidationError
from sitescout.inventory.planning import catalogue, workbench
from sitescout.inventory.planning.dori import DEFAULT_PROFILE
from sitescout.inventory.planning.network_freshness import (ACTOR, refresh_plan, refreshed_state, site_stamp,
                                                           with_workbench_network)
from sitescout.inventory.planning.plan_cost import PlanLimits, PlanTooLarge
from sitescout.inventory.planning.plan_input import PlanInputError
from sitescout.inventory.planning.plan_io import LEVEL_COLOURS, PlanResult
from sitescout.inventory.planning.plans import (PlanError, PlanRecord, adopt_plan, create_alternative, get_plan,
                                                list_plans, update_plan)
from sitescout.web.api_common import error as error_response, json_answer as json_response, json_body
from sitescout.web.isolation import JobFailed, run_isolated
from sitescout.web.map import basemap_config, tiles_source
from sitescout.web.plan_words import add_words, level_words
from sitescout.web.security import (EDIT_ROLES, READ_ROLES, csrf_token, current_role, login_required,
                                    token_or_login_required, token_sites)
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import check_json

__all__ = ["bp", "layout_result", "workbench_state", "session_csrf"]

log = logging.getLogger(__name__)

bp = Blueprint("workbench", __name__)

F = TypeVar("F", bound=Callable[..., Any])
#: Most cameras the workbench's optimiser may be asked for.
MAX_CAMERAS = 50


def session_csrf(view: F) -> F:
    """Refuse a write made with the session cookie unless it carries the page's CSRF token."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not request.headers.get("Authorization"):
            expected = session.get("csrf")
            sent = request.headers.get("X-CSRF-Token") or ""
            if not expected or not hmac.compare_digest(str(expected), sent):
                log.warning("%s: workbench write without its CSRF token", request.remote_addr)
                return error_response(400, "CSRF token missing or wrong; reload the page and try again")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _in_scope(site_id: int) -> bool:
    sites = token_sites()
    return sites is None or site_id in sites


def _plan_or_none(plan_id: int) -> PlanRecord | None:
    record = get_plan(db_session(), plan_id)
    if record is None or not _in_scope(record.site_id):
        return None
    return record


def _fresh_plan(plan_id: int) -> PlanRecord | None:
    """Return a plan in scope, re-evaluated first when its network facts are not the site's any more (#15, #18)."""
    record = _plan_or_none(plan_id)
    if record is None:
        return None
    return refresh_plan(db_session(), record, _limits(), actor=ACTOR) or record


def _site_point(site_id: int) -> tuple[str, tuple[float, float] | None] | None:
    detail = store.get_site(db_session(), site_id)
    if detail is None:
        return None
    site = detail.site
    point = (site.latitude, site.longitude) if site.latitude is not None and site.longitude is not None else None
    return site.name, point


def _cameras() -> list[dict[str, Any]]:
    return [catalogue.plan_camera(row) for row in catalogue.list_camera_models(db_session())]


def _limits() -> PlanLimits:
    config = current_app.config
    return PlanLimits(max_bytes=int(config["PLAN_COST_BYTES"]), max_seconds=float(config["PLAN_COST_SECONDS"]))


def _state(record: PlanRecord) -> dict[str, Any]:
    state = (record.geojson or {}).get("workbench")
    if not isinstance(state, dict):
        raise PlanInputError("this plan was made without the workbench (no design to edit); start an alternative")
    return dict(state)


def layout_result(state: dict[str, Any]) -> PlanResult:
    """Return the solved-plan view of a workbench state: its layout's coverage, checks and cost."""
    return workbench.state_result(state, _limits())


def workbench_state(record: PlanRecord) -> dict[str, Any]:
    """Return a plan's workbench state, with the site's current network facts; PlanInputError without the workbench.

    Nothing is saved: a printed plan shows the facts of today, its next read through the workbench saves them.
    """
    state = _state(record)
    return refreshed_state(db_session(), record.site_id, state) or state


def _evaluated(state: dict[str, Any]) -> dict[str, Any]:
    """Return the plan GeoJSON of the state's layout, with its summary and the state itself."""
    return workbench.evaluate_state(state, _limits())


def _answer(record: PlanRecord) -> dict[str, Any]:
    geojson = dict(record.geojson or {})
    if isinstance(geojson.get("workbench"), dict):  # the plan input is the server's own: not sent to the page
        geojson["workbench"] = {k: v for k, v in geojson["workbench"].items()
                                if k not in ("input", "input_digest", "network_stamp")}
    geojson["saved"] = {"plan_id": record.id, "site_id": record.site_id, "name": record.name,
                        "of_record": bool(record.device_ids), "device_ids": record.device_ids}
    add_words(geojson)
    return geojson


def _failure(err: Exception) -> Response:
    discard_session()
    if isinstance(err, PlanTooLarge):
        return error_response(413, str(err))
    if isinstance(err, JobFailed):
        return error_response(413 if err.reason in ("memory", "cpu") else 503, f"the plan could not be solved: {err}")
    if isinstance(err, (PlanError, ValidationError)):
        return error_response(400, err.message)
    if isinstance(err, ConflictError):
        return error_response(409, str(err))
    return error_response(400, str(err))


_ERRORS = (PlanInputError, PlanTooLarge, JobFailed, PlanError, ValidationError, ConflictError, ValueError,
           LookupError, TypeError)


# ---------------------------------------------------------------------------
# The page.


@bp.get("/sites/<int:site_id>/plan")
@login_required()
def show_workbench(site_id: int) -> str:
    """Show the planning workbench of a site (editors draw and edit; viewers look)."""
    site = _site_point(site_id)
    if site is None:
        abort(404, description=_("No site has this number."))
    name, point = site
    stamp = site_stamp(db_session(), site_id)
    plans = [{"id": p.id, "name": p.name, "cameras": p.camera_count, "objective": p.objective, "gap": p.gap,
              "of_record": bool(p.device_ids), "summary": p.summary,
              # facts taken before the site's last survey, cable or planned camera: evaluated again when opened
              "network_stale": "network_stamp" in p.summary and p.summary["network_stamp"] != stamp}
             for p in list_plans(db_session(), site_id)]
    config = {
        "siteId": site_id, "siteName": name, "center": point, "canEdit": current_role() in EDIT_ROLES,
        "csrf": csrf_token(), "plans": plans,
        "urls": {"models": url_for("workbench.list_models"),
                 "create": url_for("workbench.create_alternative_view", site_id=site_id),
                 "plan": url_for("workbench.show_workbench_plan", plan_id=0).removesuffix("0"),
                 "print": url_for("plan_print.print_plan", site_id=site_id, plan_id=0).removesuffix("0/print")},
        "levels": [{"name": n, "text": level_words(n), "colour": LEVEL_COLOURS.get(n, "#888")}
                   for n in DEFAULT_PROFILE.headline],
        "labels": _labels(),
    }
    config.update(_workbench_basemap())
    return render_template("plan_workbench.html", site_id=site_id, site_name=name,
                           config=json.dumps(config, ensure_ascii=False))


def _workbench_basemap() -> dict[str, Any]:
    """Return the map page's basemap (its MBTiles, tile server, or the notice of none) for the workbench's map."""
    tiles = basemap_config(tiles_source())
    return {k: v for k, v in tiles.items() if k == "tiles"}  # no notice: the workbench draws on plain ground too


def _labels() -> dict[str, str]:
    return {
        "demand": _("Demand area"), "poi": _("Point of interest"), "obstacle": _("Obstacle"),
        "mount": _("Candidate mount"), "switch": _("Switch"), "finish": _("Finish shape"),
        "cancel": _("Cancel"), "optimise": _("Optimise"), "cameras": _("Cameras"), "budget": _("Budget"),
        "coverage": _("Coverage"), "gap": _("Optimality gap"), "cost": _("Cost"), "uncovered": _("Not covered"),
        "infeasible": _("Mount not usable"), "heading": _("Heading"), "model": _("Model"),
        "saved": _("Saved."), "failed": _("The request failed"), "newAlternative": _("New alternative"),
        "adopt": _("Make this the plan of record"), "ofRecord": _("Plan of record"), "none": _("none"),
        "height": _("Height (m)"), "power": _("Power"), "cable": _("Cable (m, empty: measured)"),
        "name": _("Name"), "level": _("DORI level"), "importObstacles": _("Import obstacles (GeoJSON)"),
        "poe": _("PoE load (W)"), "uplink": _("Uplink load (kb/s)"), "compare": _("Alternatives"),
        "clickMap": _("Click on the map to place points; finish the shape with the button."),
        "print": _("Print"), "unknown": _("unknown"), "problems": _("Problems"),
        "switchPort": _("Switch port"),
        "networkStale": _("Network facts out of date: evaluated again when opened"),
    }


# ---------------------------------------------------------------------------
# The camera catalogue.


@bp.get("/api/v1/camera-models")
@token_or_login_required(READ_ROLES)
def list_models() -> Response:
    """Return the camera catalogue (the generic profiles until the deployment adds its own)."""
    rows = catalogue.list_camera_models(db_session())
    answer = {"models": [r.to_dict() for r in rows]}
    commit_session()  # the generic profiles, written on first use
    return json_response(answer)


@bp.post("/api/v1/camera-models")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def create_model() -> Response:
    """Add a camera model to the catalogue."""
    try:
        data = json_body()
        check_json(data)
        if not isinstance(data, dict):
            raise ValueError("send a camera model object")
        row = catalogue.create_camera_model(db_session(), data)
        answer = row.to_dict()
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, 201)


@bp.patch("/api/v1/camera-models/<int:model_id>")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def update_model(model_id: int) -> Response:
    """Change a camera model of the catalogue."""
    try:
        data = json_body()
        check_json(data)
        if not isinstance(data, dict):
            raise ValueError("send the fields to change as an object")
        row = catalogue.update_camera_model(db_session(), model_id, data)
        if row is None:
            return error_response(404, f"no camera model {model_id}")
        answer = row.to_dict()
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer)


# ---------------------------------------------------------------------------
# Plans on the workbench: alternatives, the optimiser, hand edits.


def _design_state(design: Any, site_id: int, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the workbench state of a design: its plan input, switch point and the layout kept so far.

    The surveyed switches count over the drawn one (#15, #18); the planned cameras of the site's
    plans (this one's, and the plan of record's that an alternative would replace) hold no budget
    or port (network_freshness.site_facts).
    """
    check_json(design)
    site = _site_point(site_id)
    if site is None:
        raise LookupError(f"no site {site_id}")
    name, point = site
    session = db_session()
    return workbench.design_state(design, _cameras(), site_name=name, site=point, previous=previous,
                                  network=lambda doc: with_workbench_network(session, site_id, doc),
                                  stamp=site_stamp(session, site_id))


@bp.post("/api/v1/sites/<int:site_id>/plan-alternatives")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def create_alternative_view(site_id: int) -> Response:
    """Start a plan alternative of a site from a design ({"name", "design"}), with no cameras yet."""
    if not _in_scope(site_id) or _site_point(site_id) is None:
        return error_response(404, f"no site {site_id}")
    try:
        body = json_body()
        if not isinstance(body, dict):
            raise ValueError("send {\"name\": ..., \"design\": a FeatureCollection}")
        design = body.get("design") or {"type": "FeatureCollection", "features": []}
        state = _design_state(design, site_id)
        geojson = _evaluated(state)
        record = create_alternative(db_session(), site_id, geojson, name=str(body.get("name") or _("Alternative")))
        answer = _answer(record)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, 201, mimetype="application/geo+json")


@bp.get("/api/v1/plans/<int:plan_id>")
@token_or_login_required(READ_ROLES)
def show_workbench_plan(plan_id: int) -> Response:
    """Return a plan with its workbench state (design, layout) and coverage summary.

    A plan whose network facts are out of date is evaluated again with the site's and saved first.
    """
    try:
        record = _fresh_plan(plan_id)
        if record is None:
            return error_response(404, f"no plan {plan_id}")
        answer = _answer(record)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, mimetype="application/geo+json")


@bp.put("/api/v1/plans/<int:plan_id>/design")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def put_design(plan_id: int) -> Response:
    """Replace a plan's design (a FeatureCollection); its cameras stay and their coverage is recomputed."""
    record = _plan_or_none(plan_id)
    if record is None:
        return error_response(404, f"no plan {plan_id}")
    try:
        design = json_body()
        previous = (record.geojson or {}).get("workbench")
        state = _design_state(design, record.site_id, previous if isinstance(previous, dict) else None)
        geojson = _evaluated(state)
        updated = update_plan(db_session(), plan_id, geojson)
        assert updated is not None
        answer = _answer(updated)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, mimetype="application/geo+json")


def _number(body: dict[str, Any], key: str, default: float | None, lo: float, hi: float) -> float | None:
    value = body.get(key, default)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{key} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not lo <= number <= hi:
        raise ValueError(f"{key} must be between {lo:g} and {hi:g}")
    return number


@bp.post("/api/v1/plans/<int:plan_id>/optimise")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def optimise_plan(plan_id: int) -> Response:
    """Choose up to `k` cameras (within `budget`) for the plan's design; the layout is replaced."""
    try:
        record = _fresh_plan(plan_id)  # the optimiser works with the site's network facts of today
        if record is None:
            return error_response(404, f"no plan {plan_id}")
        commit_session()
        body = json_body()
        if not isinstance(body, dict):
            raise ValueError("send {\"k\": cameras, \"budget\": optional}")
        k = int(_number(body, "k", 4, 1, MAX_CAMERAS) or 4)
        budget = _number(body, "budget", None, 0, 1e15)
        limit_max = float(current_app.config.get("PLAN_TIME_LIMIT_S", 5.0))
        time_limit = _number(body, "time_limit_s", min(1.5, limit_max), 0.01, limit_max) or 1.5
        state = _state(record)
        discard_session()  # no database connection held while a plan is solved
        config = current_app.config
        solved = run_isolated(workbench.optimise_input, state["input"], k, budget, time_limit, _limits(),
                              memory_bytes=int(config["PLAN_MEMORY_BYTES"]),
                              cpu_s=float(config["PLAN_COST_SECONDS"]) + time_limit + 5,
                              wall_s=2 * float(config["PLAN_COST_SECONDS"]) + time_limit + 10)
        geojson = workbench.optimised_state(state, solved, k, budget)
        updated = update_plan(db_session(), plan_id, geojson)
        if updated is None:
            return error_response(404, f"no plan {plan_id}")
        answer = _answer(updated)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, mimetype="application/geo+json")


_CAMERA_FIELDS = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "heading_deg": (-720.0, 720.0),
                  "hfov_deg": (1.0, 179.0), "height_m": (0.0, 100.0)}


def _changed_camera(camera: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    extra = sorted(set(body) - set(_CAMERA_FIELDS) - {"model"})
    if extra:
        raise ValueError(f"unknown field {extra[0]!r}; change lat, lon, heading_deg, hfov_deg, height_m or model")
    changed = dict(camera)
    for key, (lo, hi) in _CAMERA_FIELDS.items():
        if key in body:
            changed[key] = _number(body, key, None, lo, hi)
    if "model" in body:
        if not isinstance(body["model"], str):
            raise ValueError("model must be the name of a catalogue model")
        changed["model"] = body["model"]
        if "hfov_deg" not in body:
            changed.pop("hfov_deg", None)  # the new model's own (widest) field of view
    if "heading_deg" in changed and changed["heading_deg"] is not None:
        changed["heading_deg"] = round(float(changed["heading_deg"]) % 360.0, 2)
    return changed


@bp.patch("/api/v1/plans/<int:plan_id>/cameras/<int:n>")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def patch_camera(plan_id: int, n: int) -> Response:
    """Move, rotate or change the model of camera `n` (1 = cam-01); answer the recomputed plan and summary."""
    started = time.perf_counter()
    try:
        record = _fresh_plan(plan_id)
        if record is None:
            return error_response(404, f"no plan {plan_id}")
        body = json_body()
        if not isinstance(body, dict):
            raise ValueError("send the fields to change as an object")
        state = _state(record)
        layout = list(state.get("layout") or [])
        if not 1 <= n <= len(layout):
            return error_response(404, f"plan {plan_id} has no camera {n}")
        layout[n - 1] = _changed_camera(layout[n - 1], body)
        state["layout"] = layout
        geojson = _evaluated(state)
        updated = update_plan(db_session(), plan_id, geojson)
        assert updated is not None
        answer = _answer(updated)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    answer["plan"]["answered_in_s"] = round(time.perf_counter() - started, 4)
    return json_response(answer, mimetype="application/geo+json")


@bp.post("/api/v1/plans/<int:plan_id>/adopt")
@token_or_login_required(EDIT_ROLES)
@session_csrf
def adopt(plan_id: int) -> Response:
    """Make the plan the site's plan of record: its cameras become planned devices."""
    try:
        record = _fresh_plan(plan_id)  # adopted as it stands on the site's network of today
        if record is None:
            return error_response(404, f"no plan {plan_id}")
        adopted = adopt_plan(db_session(), plan_id)
        assert adopted is not None
        answer = _answer(adopted)
        commit_session()
    except _ERRORS as err:
        return _failure(err)
    return json_response(answer, mimetype="application/geo+json")
