"""The web application: map, site pages and reports, REST API, Prometheus http_sd and metrics.

`create_app(test_config=None)` builds one Flask app (flaskr's factory): defaults
here, then the caller's overrides.  One blueprint per surface: map, sites, api,
sd, auth.  The inventory is opened once per app; each request gets its own
session, closed on teardown.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

__all__ = ["create_app"]

log = logging.getLogger(__name__)

#: Defaults; `test_config` (or `sitescout serve`) overrides any of them.
DEFAULT_CONFIG: dict[str, Any] = {
    "DATABASE_URL": None,  # None: inventory.db.default_database_url()
    "TILES_FILE": None,  # an MBTiles file for an offline basemap
    "TILE_URL": None,  # or a tile server, e.g. "https://tiles.example.org/{z}/{x}/{y}.png"
    "TILE_ATTRIBUTION": "",
    "SESSION_COOKIE_NAME": "sitescout_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Browsers accept Secure cookies from http://127.0.0.1 and http://localhost; anywhere else the
    # UI must sit behind HTTPS (sitescout serve says so when it listens beyond loopback).
    "SESSION_COOKIE_SECURE": True,
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,  # a survey with snapshots of many cameras
    "BABEL_DEFAULT_LOCALE": "vi",
    "BABEL_TRANSLATION_DIRECTORIES": "translations",
    "LANGUAGES": ("vi", "en"),
    "SITES_CACHE_SECONDS": 5.0,  # how long /api/v1/sites may repeat itself (0: never)
    "PLAN_TIME_LIMIT_S": 5.0,  # most solver time one POST /api/v1/sites/<id>/plans may ask for
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the sitescout web application."""
    from sitescout.web import auth, i18n, map as map_bp, metrics, plans, security, sites, storage, api, sd

    app = Flask(__name__)
    # Every <int:…> in a URL is an id or a tile number: one beyond 64 bits is a 404, not a database overflow.
    app.url_map.converters["int"] = _BoundedInt
    app.config.from_mapping(DEFAULT_CONFIG)
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        # Sessions then last as long as the process; `sitescout serve` passes a kept key.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    storage.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    metrics.init_app(app)
    for module in (auth, map_bp, sites, api, plans, sd):
        app.register_blueprint(module.bp)
    app.add_url_rule("/", "index", map_bp.index)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(PoolTimeout, _busy)
    app.after_request(_access_log)
    return app


_access = logging.getLogger("sitescout.web.access")


def _access_log(response: Response) -> Response:
    """Log one line per request (the WSGI server keeps no access log): who, what, status; never the query."""
    from flask import request

    if _access.isEnabledFor(logging.INFO):
        _access.info("%s %s %s %d %s", request.remote_addr, request.method, request.path, response.status_code,
                     response.content_length if response.content_length is not None else "-")
    return response


def _busy(err: PoolTimeout) -> Response:
    """Every database connection is taken: ask the client to come back (503), do not fail (500)."""
    from flask import jsonify, request

    log.warning("%s %s: no database connection free (%s); answered 503", request.method, request.path,
                type(err).__name__)
    response = jsonify({"error": "the server is busy; try again in a few seconds"})
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


class _BoundedInt(IntegerConverter):
    """``<int:…>`` that matches only numbers a database integer can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _http_error(err: HTTPException) -> Response | tuple[str, int]:
    """Answer errors as JSON under /api and /sd, as a page elsewhere."""
    from flask import jsonify, render_template, request

    code = err.code or 500
    if request.path.startswith(("/api/", "/sd/")):
        response = jsonify({"error": err.description})
        response.status_code = code
        return response
    if code in (301, 302, 303, 307, 308):
        return err.get_response()  # type: ignore[return-value]
    return render_template("error.html", code=code, title=err.name, message=err.description), code
