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
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from sitescout.device_names import maker_and_model

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
    "SITE_TIMEZONE": "Asia/Ho_Chi_Minh",  # the zone times are shown in (sitescout serve --timezone)
    "SITES_CACHE_SECONDS": 5.0,  # how long /api/v1/sites may repeat itself (0: never)
    "METRICS_CACHE_SECONDS": 15.0,  # how old /metrics' sites-by-health figures may be (anonymous scrapes)
    "PLAN_TIME_LIMIT_S": 5.0,  # most solver time one POST /api/v1/sites/<id>/plans may ask for
    # A plan is refused (413) when its estimated cost (inventory.planning.plan_cost) is over these, before solving;
    # it is solved in a child process capped at PLAN_MEMORY_BYTES of memory, for when the estimate misses.
    "PLAN_COST_BYTES": 768 * 1024 * 1024,
    "PLAN_COST_SECONDS": 60.0,
    "PLAN_MEMORY_BYTES": 1024 * 1024 * 1024,
    "PLAN_CONCURRENCY": 2,  # plans solved at once; more wait PLAN_QUEUE_WAIT_S, then 503
    "PLAN_QUEUE_WAIT_S": 2.0,  # short: each waiting request holds one of the server's threads
    # A report's PDF is made once per document in a child process (web.pdf.PdfCache), one at a time:
    "PDF_CPU_S": 120.0,  # CPU one PDF may take (WeasyPrint: ~13 ms per host; 3,000 hosts ~ 45 s)
    "PDF_MEMORY_BYTES": 1024 * 1024 * 1024,
    "PDF_WAIT_S": 20.0,  # a viewer waits this long for a PDF being made, then gets a 503 "try again"
    "PDF_WAITERS": 2,  # viewers waiting at once (each holds a server thread); more get the 503 at once
    "PDF_CACHE_BYTES": 64 * 1024 * 1024,  # PDFs kept, least recently used dropped first
    "PDF_FAIL_SECONDS": 3600.0,  # a document too large for a PDF is not tried again for this long
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the sitescout web application."""
    from sitescout.web import (accounts, admin, auth, i18n, map as map_bp, metrics, plans, security, sites, storage,
                               api, sd)

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
    app.jinja_env.globals["maker_and_model"] = maker_and_model  # "AXIS Q6045-E", never "AXIS AXIS Q6045-E"
    security.init_app(app)
    metrics.init_app(app)
    for module in (auth, map_bp, sites, api, plans, sd, accounts, admin):
        app.register_blueprint(module.bp)
    from sitescout.web import alerts  # Alertmanager's webhook and site alerts (issue #16)

    app.register_blueprint(alerts.bp)
    from sitescout.web import device_credentials, site_edit, workflow_api  # findings, candidates, edit forms (#13)

    app.register_blueprint(workflow_api.bp)
    app.register_blueprint(site_edit.bp)
    app.register_blueprint(device_credentials.bp)
    from sitescout.web import plan_print, workbench  # the planners' workbench (issue #18)

    app.register_blueprint(workbench.bp)
    app.register_blueprint(plan_print.bp)
    from sitescout.web import contacts  # who hears about a site's alerts: API and page

    app.register_blueprint(contacts.bp)
    app.add_url_rule("/", "index", map_bp.index)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(PoolTimeout, _busy)
    app.register_error_handler(OperationalError, _locked)
    app.after_request(_access_log)
    return app


_access = logging.getLogger("sitescout.web.access")


def _access_log(response: Response) -> Response:
    """Log one line per request (the WSGI server keeps no access log): who, what, status; never the query.

    Method and path are escaped (a %0A in a path would otherwise forge a second line).
    """
    from flask import request

    from sitescout.web.validate import printable

    if _access.isEnabledFor(logging.INFO):
        _access.info("%s %s %s %d %s", request.remote_addr, printable(request.method), printable(request.path),
                     response.status_code,
                     response.content_length if response.content_length is not None else "-")
    return response


def _busy(err: Exception) -> Response:
    """Every database connection is taken: ask the client to come back (503), do not fail (500)."""
    from flask import request

    from sitescout.web.error_pages import error_response
    from sitescout.web.storage import discard_session
    from sitescout.web.validate import printable

    # The failed transaction is rolled back here: left to the teardown, its commit raised
    # PendingRollbackError and turned this 503 into a 500 (concurrent observation posts on SQLite).
    discard_session()
    log.warning("%s %s: no database connection free (%s); answered 503", printable(request.method),
                printable(request.path), type(err).__name__)
    return error_response(503, headers=[("Retry-After", "5")],
                          json_error="unavailable")


def _locked(err: OperationalError) -> Response:
    """SQLite refused a write because another one won the race (SQLITE_BUSY): a 503 to retry, not a 500.

    A transaction that read first and then writes cannot wait for the lock in WAL mode (its snapshot
    is stale once another writer commits), so busy_timeout does not help; any other database error
    is still a 500.
    """
    if "database is locked" not in str(err.orig):
        raise err
    return _busy(err)


class _BoundedInt(IntegerConverter):
    """``<int:…>`` that matches only numbers a database integer can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _http_error(err: HTTPException) -> Response:
    """Answer errors as JSON under /api and /sd, as a page in the reader's language elsewhere."""
    from sitescout.web.error_pages import error_response

    code = err.code or 500
    if code in (301, 302, 303, 307, 308):
        return err.get_response()  # type: ignore[return-value]
    # Werkzeug's stock description is English: the page says ours; a view's own (translated) one is kept.
    own = err.description if err.description != type(err).description else None
    return error_response(code, own, err.get_headers())
