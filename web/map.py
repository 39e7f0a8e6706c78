"""The map: sites coloured by health, problem sites never clustered, offline basemap from MBTiles."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect, render_template, url_for
from flask_babel import gettext as _

from sitescout.web.plan_words import level_words
from sitescout.web.security import login_required
from sitescout.web.tiles import MBTiles, MBTilesError, file_version, open_mbtiles, plain_attribution
from sitescout.web.validate import query_id

__all__ = ["bp", "index"]

log = logging.getLogger(__name__)

bp = Blueprint("map", __name__)

#: DORI levels whose names the map's legend and tooltips show in the reader's language.
_LEVELS = ("Monitor", "Detect", "Observe", "Recognise", "Identify", "Inspect")


def index() -> Response:
    """Send visitors of / to the map."""
    return redirect(url_for("map.show_map"))  # type: ignore[return-value]


def tiles_source() -> MBTiles | None:
    """Return the app's MBTiles basemap, opened again when the file was replaced (its version changed)."""
    path = current_app.config.get("TILES_FILE")
    if not path:
        return None
    cached = current_app.extensions.get("sitescout_tiles")
    if cached is None or _replaced(cached):
        try:
            cached = open_mbtiles(path)
        except MBTilesError as err:  # replaced by a broken file while serving: say so, answer 404s, retry later
            log.warning("basemap: %s", err)
            return cached
        current_app.extensions["sitescout_tiles"] = cached
    return cached


def _replaced(tiles: MBTiles) -> bool:
    try:
        return file_version(tiles.path) != tiles.version
    except OSError:
        return False  # the file went away: keep what was open (its reads find nothing: 404s)


def _plan_ref(plan_id: int | None) -> dict[str, Any] | None:
    """Return where the map fetches plan `plan_id` (None when there is no such plan)."""
    if plan_id is None:
        return None
    from sitescout.inventory.planning.plans import get_plan
    from sitescout.web.storage import db_session

    record = get_plan(db_session(), plan_id)
    if record is None:
        return None
    return {"id": record.id, "name": record.name, "siteId": record.site_id,
            "url": url_for("plans.show_plan", site_id=record.site_id, plan_id=record.id)}


def basemap_config(tiles: MBTiles | None) -> dict[str, Any]:
    """Return where the map's tiles come from: the local MBTiles route, a tile server, or nothing (and why)."""
    if tiles is not None:
        # The file's version is in every tile URL, so a tile can be cached as immutable: a new file, new URLs.
        url = url_for("map.tile", z=0, x=0, y=0).replace("/0/0/0.png", "/{z}/{x}/{y}.png")
        attribution = tiles.attribution or tiles.name
        if tiles.is_demo:
            attribution = _("Demo basemap, drawn by sitescout from the demo commune's made-up positions: "
                            "not a real map")
        # Beyond the file's deepest zoom its tiles are enlarged (maxNativeZoom), so a plan can still be seen close up.
        return {"tiles": {"url": f"{url}?v={tiles.version}", "minZoom": tiles.minzoom,
                          "maxNativeZoom": tiles.maxzoom, "maxZoom": min(max(tiles.maxzoom + 3, 18), 22),
                          "attribution": attribution, "local": True, "demo": tiles.is_demo,
                          # Leaflet asks for no tile outside the file's area (each would be a 404).
                          "bounds": [[tiles.bounds[1], tiles.bounds[0]], [tiles.bounds[3], tiles.bounds[2]]]
                          if tiles.bounds else None}}
    tile_url = current_app.config.get("TILE_URL")
    if tile_url:
        attribution = plain_attribution(current_app.config.get("TILE_ATTRIBUTION") or "")
        host = urlsplit(tile_url).hostname or ""
        return {"tiles": {"url": tile_url, "minZoom": 0, "maxZoom": 19, "local": False,
                          "attribution": attribution or _("Map tiles: %(host)s", host=host)}}
    return {"noBasemap": {
        "title": _("No basemap is configured."),
        "text": _("Sites are drawn on a plain background. To show roads, rivers and villages, start the server "
                  "with --tiles FILE.mbtiles (an offline basemap; make one with “sitescout tiles fetch”) or "
                  "--tile-url URL (a tile server you may use, e.g. your province's own)."),
    }}


def _map_config() -> dict[str, Any]:
    tiles = tiles_source()
    config: dict[str, Any] = {
        "sitesUrl": url_for("api.list_sites"),
        "siteUrl": url_for("sites.show_site", site_id=0).removesuffix("0"),
        "siteApiUrl": url_for("api.get_site", site_id=0).removesuffix("0"),
        "labels": {
            "ok": _("OK"), "warning": _("Warning"), "problem": _("Problem"), "unknown": _("Unknown"),
            "sites": _("sites"), "loadFailed": _("Could not load the sites."),
            "noMatch": _("No site matches."),
            "plannedCamera": _("Planned camera"), "infeasibleMount": _("Mount not usable"),
            "coverage": _("Coverage"), "heading": _("heading"), "planLoadFailed": _("Could not load the plan."),
            "plan": _("Plan"), "obstacle": _("Building (blocks the view)"),
            "levels": {name: level_words(name) for name in _LEVELS},
        },
    }
    plan = _plan_ref(query_id("plan"))
    if plan is not None:
        config["plan"] = plan
    config.update(basemap_config(tiles))
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
    tiles = tiles_source()
    if tiles is None:
        abort(404)
    data = tiles.read_tile(z, x, y)
    if data is None:
        abort(404)
    response = Response(data, mimetype=tiles.mimetype)
    # Tile URLs carry the file's version (?v=…): a tile never changes under its URL.  Private: only
    # logged-in users may fetch tiles, so no shared cache keeps them.
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
