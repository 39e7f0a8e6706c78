"""Placement plans through the API: solve and save a plan for a site, read it back as GeoJSON for the map."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from sitescout.inventory import plan_io
from sitescout.inventory.db import ConflictError
from sitescout.inventory.plans import PlanError, PlanRecord, get_plan, list_plans, save_plan
from sitescout.inventory.store import get_site
from sitescout.web.api import _error, _json, _json_body, forget_sites
from sitescout.web.security import EDIT_ROLES, READ_ROLES, token_or_login_required, token_required
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import check_json, check_plan_size

__all__ = ["bp", "MAX_CAMERAS"]

log = logging.getLogger(__name__)

bp = Blueprint("plans", __name__, url_prefix="/api/v1")

#: Most cameras one request may ask for.
MAX_CAMERAS = 200
#: Input sections the CLI may load from files; over HTTP they must be inline (the server reads no files).
_FILE_SECTIONS = ("demand", "mounts", "obstacles", "survey")
#: Request options that may travel in a wrapper body {"input": {...}, "k": 4, ...} instead of the query.
_OPTIONS = ("k", "budget", "name", "time_limit_s")


def _options(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a request body into (plan input, options); query parameters win over body options."""
    options: dict[str, Any] = {}
    if isinstance(body, dict) and isinstance(body.get("input"), dict):
        extra = sorted(set(body) - {"input", *_OPTIONS})
        if extra:
            raise ValueError(f"unknown key {extra[0]!r} beside 'input'; allowed: {', '.join(_OPTIONS)}")
        options = {k: body[k] for k in _OPTIONS if k in body}
        body = body["input"]
    if not isinstance(body, dict):
        raise ValueError("send a plan input object (see docs/examples/plan_village.json)")
    for key in _OPTIONS:
        if key in request.args:
            options[key] = request.args[key]
    for key in _FILE_SECTIONS:
        if isinstance(body.get(key), str):
            raise ValueError(f"{key}: give it inline (a list or a FeatureCollection); the server reads no files")
    return body, options


def _number(options: dict[str, Any], key: str, default: float | None, lo: float, hi: float) -> float | None:
    value = options.get(key, default)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not lo <= number <= hi:
        raise ValueError(f"{key} must be between {lo:g} and {hi:g}")
    return number


def _answer(record: PlanRecord) -> dict[str, Any]:
    geojson = dict(record.geojson or {})
    geojson["saved"] = {"plan_id": record.id, "site_id": record.site_id, "name": record.name,
                        "created_at": record.created_at.isoformat(), "device_ids": record.device_ids,
                        "map": url_for("map.show_map", plan=record.id)}
    return geojson


@bp.post("/sites/<int:site_id>/plans")
@token_required(EDIT_ROLES)
def create_plan(site_id: int) -> Response:
    """Solve a plan input (the body) for a site, save it with planned cameras, return its GeoJSON."""
    limit_max = float(current_app.config.get("PLAN_TIME_LIMIT_S", 5.0))
    try:
        raw = _json_body()
        check_json(raw)
        body, options = _options(raw)
        check_plan_size(body)
        k = int(_number(options, "k", 4, 1, MAX_CAMERAS) or 4)
        budget = _number(options, "budget", None, 0, 1e12)
        time_limit = _number(options, "time_limit_s", min(1.5, limit_max), 0.01, limit_max) or limit_max
        name = str(options.get("name") or f"K={k}").strip()
        session = db_session()
        if get_site(session, site_id) is None:
            return _error(404, f"no site {site_id}")
        inp = plan_io.parse_plan_input(body, Path("/nonexistent"))
        result = plan_io.make_plan(inp, k, budget=budget, time_limit_s=time_limit)
        record = save_plan(session, site_id, plan_io.plan_geojson(result), name=name)
        answer = _answer(record)
        commit_session()
        forget_sites()
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    except PlanError as err:
        discard_session()
        return _error(400, err.message)
    except (ValueError, LookupError) as err:
        discard_session()
        return _error(400, str(err))
    except (TypeError, AttributeError) as err:
        # The plan input parser (inventory.plan_io) does not type-check every field yet: a list where it
        # wants a number ends here.  Still the client's mistake, so a 400; logged to find the field.
        discard_session()
        log.warning("%s: plan input with a field of the wrong type: %s", request.remote_addr, err, exc_info=True)
        return _error(400, f"the plan input has a field of the wrong type ({err}); see docs/examples/plan_village.json")
    log.info("%s: plan %s saved for site %s (%d cameras, objective %s, gap %s)", request.remote_addr, record.id,
             site_id, len(record.device_ids), record.objective, record.gap)
    return _json(answer, 201, mimetype="application/geo+json")


@bp.get("/sites/<int:site_id>/plans")
@token_or_login_required(READ_ROLES)
def site_plans(site_id: int) -> Response:
    """List a site's saved plans, newest first (no GeoJSON)."""
    session = db_session()
    if get_site(session, site_id) is None:
        return _error(404, f"no site {site_id}")
    plans = [p.to_dict() for p in list_plans(session, site_id)]
    for p in plans:
        p.pop("geojson", None)
        p["url"] = url_for("plans.show_plan", site_id=site_id, plan_id=p["id"])
        p["map"] = url_for("map.show_map", plan=p["id"])
    return _json({"plans": plans})


@bp.get("/sites/<int:site_id>/plans/<int:plan_id>")
@token_or_login_required(READ_ROLES)
def show_plan(site_id: int, plan_id: int) -> Response:
    """Return a saved plan as GeoJSON (cameras, coverage bands by DORI level, demand, infeasible mounts)."""
    record = get_plan(db_session(), plan_id)
    if record is None or record.site_id != site_id:
        return _error(404, f"site {site_id} has no plan {plan_id}")
    return _json(_answer(record), mimetype="application/geo+json")
