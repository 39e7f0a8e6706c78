"""The map: sites coloured by health, problem sites never clustered, offline basemap from MBTiles."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from sitescout.web.security import login_required
from sitescout.web.tiles import MBTiles, open_mbtiles

__all__ = ["bp", "index"]

log = logging.getLogger(__name__)

bp = Blueprint("map", __name__)


def index() -> Response:
    """Send visitors of / to the map."""
    return redirect(url_for("map.show_map"))  # type: ignore[return-value]


def _tiles() -> MBTiles | None:
    path = current_app.config.get("TILES_FILE")
    if not path:
        return None
    cached = current_app.extensions.get("sitescout_tiles")
    if cached is None:
        cached = open_mbtiles(path)
        current_app.extensions["sitescout_tiles"] = cached
    return cached


def _plan_ref(plan_id: int | None) -> dict[str, Any] | None:
    """Return where the map fetches plan `plan_id` (None when there is no such plan)."""
    if plan_id is None:
        return None
    from sitescout.inventory.plans import get_plan
    from sitescout.web.storage import db_session

    record = get_plan(db_session(), plan_id)
    if record is None:
        return None
    return {"id": record.id, "name": record.name, "siteId": record.site_id,
            "url": url_for("plans.show_plan", site_id=record.site_id, plan_id=record.id)}


def _map_config() -> dict[str, Any]:
    tiles = _tiles()
    config: dict[str, Any] = {
        "sitesUrl": url_for("api.list_sites"),
        "siteUrl": url_for("sites.show_site", site_id=0).removesuffix("0"),
        "labels": {
            "ok": _("OK"), "warning": _("Warning"), "problem": _("Problem"), "unknown": _("Unknown"),
            "sites": _("sites"), "loadFailed": _("Could not load the sites."),
            "noMatch": _("No site matches."),
            "plannedCamera": _("Planned camera"), "infeasibleMount": _("Mount not usable"),
            "coverage": _("Coverage"), "heading": _("heading"), "planLoadFailed": _("Could not load the plan."),
            "plan": _("Plan"),
        },
    }
    plan = _plan_ref(request.args.get("plan", type=int))
    if plan is not None:
        config["plan"] = plan
    if tiles is not None:
        config["tiles"] = {"url": url_for("map.tile", z=0, x=0, y=0).replace("/0/0/0.png", "/{z}/{x}/{y}.png"),
                           "minZoom": tiles.minzoom, "maxZoom": tiles.maxzoom, "attribution": tiles.attribution}
    elif current_app.config.get("TILE_URL"):
        config["tiles"] = {"url": current_app.config["TILE_URL"], "minZoom": 0, "maxZoom": 19,
                           "attribution": current_app.config.get("TILE_ATTRIBUTION", "")}
    return config


@bp.get("/map")
@login_required()
def show_map() -> str:
    """Show the map of every site."""
    # The configuration travels in a data attribute: the page has no inline script (CSP script-src 'self').
    return render_template("map.html", map_config=json.dumps(_map_config(), ensure_ascii=False))


@bp.get("/tiles/<int:z>/<int:x>/<int:y>.png")
@login_required()
def tile(z: int, x: int, y: int) -> Response:
    """Return one basemap tile from the MBTiles file; 404 when there is none."""
    tiles = _tiles()
    if tiles is None:
        abort(404)
    data = tiles.read_tile(z, x, y)
    if data is None:
        abort(404)
    response = Response(data, mimetype=tiles.mimetype)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
