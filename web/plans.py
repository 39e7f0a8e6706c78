"""Placement plans through the API: solve and save a plan for a site, read it back as GeoJSON for the map."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _

from sitescout.inventory.planning import plan_io
from sitescout.inventory.db import ConflictError
from sitescout.inventory.planning.network_facts import with_site_network
from sitescout.inventory.planning.plan_cost import PlanLimits, PlanTooLarge
from sitescout.inventory.planning.plans import PlanError, PlanRecord, PlanTooFar, get_plan, list_plans, save_plan
from sitescout.inventory.store import get_site
from sitescout.web.api import forget_sites
from sitescout.web.api_common import error as error_response, field_errors, json_answer as json_response, json_body
from sitescout.web.isolation import JobFailed, run_isolated
from sitescout.web.metrics import count_refusal
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
#: Plans solved at once (each in its own capped process); more wait PLAN_QUEUE_WAIT_S, then get a 503.
_SLOTS_KEY = "sitescout_plan_slots"
_slots_lock = threading.Lock()


def _slots() -> threading.BoundedSemaphore:
    with _slots_lock:
        slots = current_app.extensions.get(_SLOTS_KEY)
        if slots is None:
            slots = threading.BoundedSemaphore(int(current_app.config.get("PLAN_CONCURRENCY", 2)))
            current_app.extensions[_SLOTS_KEY] = slots
        return slots


def _solve(body: dict[str, Any], k: int, budget: float | None, time_limit: float) -> dict[str, Any]:
    """Solve in a child process: refused by the cost model before allocating, capped if the model misses."""
    config = current_app.config
    limits = PlanLimits(max_bytes=int(config["PLAN_COST_BYTES"]), max_seconds=float(config["PLAN_COST_SECONDS"]))
    geojson: dict[str, Any] = run_isolated(
        plan_io.solve_to_geojson, body, k, budget, time_limit, limits,
        memory_bytes=int(config["PLAN_MEMORY_BYTES"]), cpu_s=float(config["PLAN_COST_SECONDS"]) + time_limit + 5,
        wall_s=2 * float(config["PLAN_COST_SECONDS"]) + time_limit + 10)
    return geojson


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
        raw = json_body()
        check_json(raw)
        body, options = _options(raw)
        check_plan_size(body)
        k = int(_number(options, "k", 4, 1, MAX_CAMERAS) or 4)
        budget = _number(options, "budget", None, 0, 1e12)
        time_limit = _number(options, "time_limit_s", min(1.5, limit_max), 0.01, limit_max) or limit_max
        name = str(options.get("name") or f"K={k}").strip()
        session = db_session()
        if get_site(session, site_id) is None:
            return error_response(404, f"no site {site_id}")
        body = with_site_network(session, site_id, body)  # the surveyed switches over typed numbers (#15, #18)
        discard_session()  # no database connection held while a plan is solved
        slots = _slots()
        if not slots.acquire(timeout=float(current_app.config.get("PLAN_QUEUE_WAIT_S", 2.0))):
            count_refusal("plan", "busy")
            return _busy("other plans are being solved; try again in a minute")
        try:
            geojson = _solve(body, k, budget, time_limit)
        finally:
            slots.release()
        session = db_session()
        record = save_plan(session, site_id, geojson, name=name)
        answer = _answer(record)
        commit_session()
        forget_sites()
    except ConflictError as err:
        discard_session()
        return error_response(409, str(err))
    except PlanTooLarge as err:
        discard_session()
        log.warning("%s: plan refused before solving: %s", request.remote_addr, err)
        count_refusal("plan", "cost")
        return error_response(413, str(err))
    except JobFailed as err:
        discard_session()
        log.warning("%s: plan stopped by its %s limit: %s", request.remote_addr, err.reason, err)
        if err.reason in ("memory", "cpu"):
            count_refusal("plan", err.reason)
            return error_response(
                413,
                f"the plan is too large to solve on this server: {err}; raise spacing_m, "
                "simplify obstacles, or give fewer mounts, headings or zoom steps",
            )
        return _busy(f"the plan could not be solved: {err}")
    except PlanTooFar as err:
        discard_session()
        return field_errors({"site": too_far_words(err)})
    except PlanError as err:
        discard_session()
        return error_response(400, err.message)
    except (ValueError, LookupError) as err:
        discard_session()
        return error_response(400, str(err))
    except (TypeError, AttributeError) as err:
        # The plan input parser (inventory.planning.plan_input) does not type-check every field yet: a list where it
        # wants a number ends here.  Still the client's mistake, so a 400; logged to find the field.
        discard_session()
        log.warning("%s: plan input with a field of the wrong type: %s", request.remote_addr, err, exc_info=True)
        return error_response(
            400, f"the plan input has a field of the wrong type ({err}); see docs/examples/plan_village.json"
        )
    log.info("%s: plan %s saved for site %s (%d cameras, objective %s, gap %s)", request.remote_addr, record.id,
             site_id, len(record.device_ids), record.objective, record.gap)
    return json_response(answer, 201, mimetype="application/geo+json")


def too_far_words(err: PlanTooFar) -> str:
    """Return why a plan far from its site is refused, in the reader's language."""
    return _("The plan lies %(distance)s km from the site %(site)s; every point of a plan must be within "
             "%(limit)s km of its site. Check that this is the right site and that the plan's latitude and "
             "longitude are right.", distance=format_decimal(round(err.distance_m / 1000, 1)), site=err.site_name,
             limit=format_decimal(err.limit_m / 1000))


def _busy(message: str) -> Response:
    response = error_response(503, message)
    response.headers["Retry-After"] = "30"
    return response


@bp.get("/sites/<int:site_id>/plans")
@token_or_login_required(READ_ROLES)
def site_plans(site_id: int) -> Response:
    """List a site's saved plans, newest first (no GeoJSON)."""
    session = db_session()
    if get_site(session, site_id) is None:
        return error_response(404, f"no site {site_id}")
    plans = [p.to_dict() for p in list_plans(session, site_id)]
    for p in plans:
        p.pop("geojson", None)
        p["url"] = url_for("plans.show_plan", site_id=site_id, plan_id=p["id"])
        p["map"] = url_for("map.show_map", plan=p["id"])
    return json_response({"plans": plans})


@bp.get("/sites/<int:site_id>/plans/<int:plan_id>")
@token_or_login_required(READ_ROLES)
def show_plan(site_id: int, plan_id: int) -> Response:
    """Return a saved plan as GeoJSON (cameras, coverage bands by DORI level, demand, infeasible mounts)."""
    record = get_plan(db_session(), plan_id)
    if record is None or record.site_id != site_id:
        return error_response(404, f"site {site_id} has no plan {plan_id}")
    return json_response(_answer(record), mimetype="application/geo+json")
