"""The REST API (/api/v1): sites as GeoJSON (read and edited), devices, survey upload, observations from workers.

The other resources are blueprints nested under this one (``api.places``, ``api.devices``,
``api.changes``, ``api.openapi``); their shared rules (status codes, pages, ETags, scope) are
`web.api_common`, described in docs/api.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, request, url_for
from sqlalchemy.exc import OperationalError

from sitescout.inventory import store
from sitescout.inventory.changes import record_change
from sitescout.inventory.db import ConflictError
from sitescout.inventory.choices import DeviceKind, SiteKind, Status
from sitescout.inventory.models import Survey
from sitescout.inventory.records import DeviceSummary
from sitescout.inventory.search import fold
from sitescout.web import api_changes, api_devices, api_docs, api_network, api_openapi, api_places, api_sites
from sitescout.web.api_common import (
    SITES_CACHE_KEY, BadQuery, actor, field_errors, forget_sites, in_scope, operation, page, paged, scope,
)
from sitescout.web.api_common import error as _error, json_answer as _json, json_body as _json_body
from sitescout.web.api_sites import public_device as _device, site_answer, site_feature, site_path as _site_path
from sitescout.web.errors import coded
from sitescout.web.security import (
    EDIT_ROLES, OBSERVATION_ROLES, READ_ROLES, token_or_login_required, token_required, token_sites,
)
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import check_observations, check_survey, query_id, search_query

__all__ = ["bp", "site_feature", "forget_sites"]

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
for _child in (api_places.bp, api_sites.bp, api_devices.bp, api_changes.bp, api_openapi.bp, api_docs.bp,
               api_network.bp):
    bp.register_blueprint(_child)

#: Never in an API answer, whatever the inventory's records grow to hold.
_CACHE_KEY = SITES_CACHE_KEY


#: Lock stripes for rebuilding cached collections: one rebuild per key at a time, bounded memory.
_REBUILD_LOCKS = tuple(threading.Lock() for _ in range(16))
#: Most cached collections kept (each search string is a key).
_CACHE_MAX = 32


def _sites_body(query: str | None, problems_only: bool) -> tuple[bytes, str]:
    # Building the collection for 10,000 sites takes ~0.5-1 s (the health of 100,000 devices, then
    # JSON); the map and many viewers ask for it again and again, so the bytes are kept for
    # SITES_CACHE_SECONDS.  Writes through this app drop them at once; a worker writing to the
    # database directly shows up within that many seconds.  When the bytes expire, one request
    # rebuilds them while the others keep getting the expired copy (or wait for the first build):
    # without that, every request in flight rebuilt at once and 64 clients timed out.
    ttl = float(current_app.config.get("SITES_CACHE_SECONDS", 0) or 0)
    key = (query, problems_only)
    if ttl <= 0:
        return _build_sites_body(query, problems_only)
    cache: dict[tuple[str | None, bool], tuple[float, bytes, str]] = current_app.extensions.setdefault(_CACHE_KEY, {})
    hit = cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    lock = _REBUILD_LOCKS[hash(key) % len(_REBUILD_LOCKS)]
    if hit is not None and not lock.acquire(blocking=False):
        return hit[1], hit[2]  # another request is rebuilding: the copy a few seconds old will do
    if hit is None:
        lock.acquire()
    try:
        again = cache.get(key)
        if again is not None and again[0] > time.monotonic():
            return again[1], again[2]  # built while this request waited
        body, etag = _build_sites_body(query, problems_only)
        if len(cache) >= _CACHE_MAX:
            # Searches make room among themselves: they never push out the map's own collections.
            searches = sorted((k for k in cache if k[0] is not None), key=lambda k: cache[k][0])
            for old in searches[: len(cache) - _CACHE_MAX + 1]:
                cache.pop(old, None)
        cache[key] = (time.monotonic() + ttl, body, etag)
        return body, etag
    finally:
        lock.release()


def _build_sites_body(query: str | None, problems_only: bool) -> tuple[bytes, str]:
    sites = store.list_sites(db_session(), query=query, problems_only=problems_only)
    path = _site_path()
    collection = {"type": "FeatureCollection", "features": [site_feature(s, path) for s in sites]}
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode()
    return body, hashlib.sha256(body).hexdigest()[:32]


_SITE_KINDS = tuple(k.value for k in SiteKind)
_DEVICE_KINDS = tuple(k.value for k in DeviceKind)
_STATUSES = tuple(s.value for s in Status)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise BadQuery(name, coded("not_a_choice", choices=", ".join(allowed)))
    return value


@bp.get("/sites")
@operation(
    summary="List sites as a GeoJSON FeatureCollection",
    tag="sites",
    ok=(200, "SiteCollection"),
    query=("q", "problems", "kind", "status", "limit", "offset"),
    errors=(304, 400, 401, 403, 412, 503),
    etag=True,
    mimetype="application/geo+json",
)
@token_or_login_required(READ_ROLES)
def list_sites() -> Response:
    """Return every site as a GeoJSON FeatureCollection (?q= search, ?problems=1, ?kind=, ?status=, pages)."""
    try:
        kind, status = _choice("kind", _SITE_KINDS), _choice("status", _STATUSES)
        where = page(default=None)
    except BadQuery as err:
        return field_errors({err.field: str(err)})
    query, problems = search_query(), request.args.get("problems") in ("1", "true", "yes")
    if kind is None and status is None and where.limit is None and not where.offset and scope() is None:
        body, etag = _sites_body(query, problems)
        response = Response(body, mimetype="application/geo+json")
    else:
        body, etag, total = _filtered_sites(query, problems, kind, status, where)
        response = Response(body, mimetype="application/geo+json")
        listing = paged("features", [], total, where)
        if "Link" in listing.headers:
            response.headers["Link"] = listing.headers["Link"]
    return _conditional(response, etag)


def _conditional(response: Response, etag: str) -> Response:
    """Answer If-None-Match (304) and If-Match (412 unless it names this ETag or is *) of a GET.

    Werkzeug's make_conditional answered ``If-Match: *`` with a 412 (it treats a matching If-Match
    as "not modified"); RFC 9110 section 13.1.1 says ``*`` matches any current representation.
    """
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    if request.if_match and not request.if_match.contains(etag):
        return _error(412, "stale_collection")
    if request.if_none_match and request.if_none_match.contains(etag):
        not_modified = Response(status=304)
        not_modified.set_etag(etag)
        not_modified.headers["Cache-Control"] = "private, no-cache"
        return not_modified
    return response


def _filtered_sites(query: str | None, problems: bool, kind: str | None, status: str | None,
                    where: Any) -> tuple[bytes, str, int]:
    sites = [s for s in store.list_sites(db_session(), query=query, problems_only=problems)
             if (kind is None or s.kind == kind) and (status is None or s.status == status) and in_scope(s.id)]
    chosen = sites[where.offset:] if where.limit is None else sites[where.offset:where.offset + where.limit]
    path = _site_path()
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": [site_feature(s, path) for s in chosen],
                                  "total": len(sites)}
    if where.limit is not None and where.offset + where.limit < len(sites):
        collection["next"] = url_for("api.list_sites", **{**request.args, "offset": where.offset + where.limit})
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode()
    return body, hashlib.sha256(body).hexdigest()[:32], len(sites)


@bp.get("/sites/<int:site_id>")
@operation(summary="Read one site (GeoJSON Feature) with its devices, surveys, candidates and findings", tag="sites",
           ok=(200, "SiteFeature"), errors=(401, 403, 404, 503), etag=True, mimetype="application/geo+json")
@token_or_login_required(READ_ROLES)
def get_site(site_id: int) -> Response:
    """Return one site as a GeoJSON Feature with its devices, surveys and pending candidates; ETag: its version."""
    return site_answer(site_id)


def _device_matches(device: DeviceSummary, kind: str | None, status: str | None, folded: str | None) -> bool:
    if kind is not None and device.kind != kind or status is not None and device.status != status:
        return False
    if folded is None:
        return True
    haystack = " ".join(str(v) for v in (device.name, device.ip, device.mac, device.manufacturer, device.model,
                                         device.serial, device.vendor) if v)
    return folded in fold(haystack)


@bp.get("/devices")
@operation(summary="List devices (all of them unless ?limit= is given)", tag="devices", ok=(200, "DeviceList"),
           query=("site", "kind", "status", "q", "limit", "offset"), errors=(400, 401, 403, 404, 503))
@token_or_login_required(READ_ROLES)
def list_devices() -> Response:
    """Return devices, all or of one site (?site=ID), ?kind=, ?status=, ?q= (diacritics ignored); never a secret."""
    try:
        kind, status = _choice("kind", _DEVICE_KINDS), _choice("status", _STATUSES)
        where = page(default=None)
    except BadQuery as err:
        return field_errors({err.field: str(err)})
    folded = search_query()
    devices = [d for d in store.list_devices(db_session(), site_id=query_id("site"))
               if in_scope(d.site_id) and _device_matches(d, kind, status, folded)]
    end = None if where.limit is None else where.offset + where.limit
    return paged("devices", [_device(d) for d in devices[where.offset:end]], len(devices), where)


@bp.post("/surveys")
@operation(summary="Store a survey document (the brief's format); the same survey twice is stored once", tag="surveys",
           body="SurveyDocument", ok=(201, "SurveyStored"), also_ok=(200,), errors=(400, 401, 403, 404, 409, 413, 503),
           query=("site",))
@token_required(EDIT_ROLES)
def post_survey() -> Response:
    """Store a survey document pushed from the field (editor or admin token); the same survey twice is one."""
    try:
        doc = _json_body()
        if not isinstance(doc, dict) or not isinstance(doc.get("site"), str) or not isinstance(doc.get("hosts"), list):
            raise ValueError("a survey document needs 'site' (text) and 'hosts' (a list); see the brief")
        check_survey(doc)
        result = store.ingest_survey(db_session(), doc, site_id=query_id("site"))
        survey = db_session().get(Survey, result.survey_id) if not result.duplicate else None
        if survey is not None:
            record_change(db_session(), actor(), survey, "create")
        commit_session()
        forget_sites()
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    except (ValueError, LookupError) as err:
        discard_session()
        return _error(400, str(err))
    except OperationalError:
        discard_session()  # a locked SQLite is a 503 (web._locked), not a 500 at the teardown's commit
        raise
    log.info("%s: survey of %r stored as %s (duplicate: %s)", request.remote_addr, doc.get("site"),
             result.survey_id, result.duplicate)
    body = result.to_dict()
    body["report"] = url_for("sites.report", site_id=result.site_id, survey=result.survey_id)
    return _json(body, 200 if result.duplicate else 201)


@bp.post("/observations")
@operation(summary="Record observations from a worker", tag="observations", body="Observations",
           ok=(201, "ObservationsRecorded"), also_ok=(200,), errors=(400, 401, 403, 413, 503))
@token_required(OBSERVATION_ROLES)
def post_observations() -> Response:
    """Record observations from a worker: a JSON list (or {"observations": [...]}).

    The plausible ones are stored; the answer lists the others (``refused``: index, field,
    error), so a worker drops them instead of sending them again.  A worker token speaks only
    for the devices /sd/prometheus gives it (its scope); an admin token for any device.
    """
    try:
        data = _json_body()
        if isinstance(data, dict):
            data = data.get("observations")
        if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
            raise ValueError("send a list of observation objects")
        check_observations(data)
        devices = None
        if g.api_role != "admin":
            devices = store.target_device_ids(db_session(), [o.get("device_id") for o in data], sites=token_sites())
        result = store.accept_observations(db_session(), data, devices=devices)
        commit_session()
        if result.recorded:
            forget_sites()
    except (ValueError, LookupError) as err:
        discard_session()
        return _error(400, str(err))
    except OperationalError:
        discard_session()
        raise
    body: dict[str, Any] = {"recorded": result.recorded}
    if result.refused:
        body["refused"] = [r.to_dict() for r in result.refused]
        log.warning("%s: %d observation(s) refused, e.g. %s: %s", _client(), len(result.refused),
                    result.refused[0].field, result.refused[0].message)
    return _json(body, 201 if result.recorded else 200)


def _client() -> str:
    return str(request.remote_addr or "-")
