"""The REST API (/api/v1): sites as GeoJSON, devices, survey upload and observations from workers."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from sitescout.inventory import store
from sitescout.inventory.db import ConflictError
from sitescout.inventory.records import DeviceSummary, SiteSummary
from sitescout.web.security import EDIT_ROLES, OBSERVATION_ROLES, READ_ROLES, token_or_login_required, token_required
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import check_observations, check_survey

__all__ = ["bp", "site_feature", "forget_sites"]

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Never in an API answer, whatever the inventory's records grow to hold.
_CACHE_KEY = "sitescout_sites_cache"
_SECRET_FIELDS = frozenset({"credential", "credential_encrypted", "password", "password_hash", "token_hash"})


def _json(data: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype=mimetype)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def site_feature(site: SiteSummary, site_path: str) -> dict[str, Any]:
    """Return a site as a GeoJSON Feature (geometry null when it has no coordinates)."""
    geometry = None
    if site.latitude is not None and site.longitude is not None:
        geometry = {"type": "Point", "coordinates": [site.longitude, site.latitude]}
    return {
        "type": "Feature", "id": site.id, "geometry": geometry,
        "properties": {
            "id": site.id, "name": site.name, "kind": site.kind, "status": site.status,
            "commune": site.commune, "region": site.region, "is_demo": site.is_demo, "health": site.health,
            "device_count": site.device_count, "problem_count": site.problem_count,
            "warning_count": site.warning_count, "url": f"{site_path}{site.id}",
        },
    }


def _device(device: DeviceSummary) -> dict[str, Any]:
    return {k: v for k, v in device.to_dict().items() if k not in _SECRET_FIELDS}


def _site_path() -> str:
    return url_for("sites.show_site", site_id=0).removesuffix("0")


def forget_sites() -> None:
    """Drop the cached site collections (after a write through this app)."""
    current_app.extensions.setdefault(_CACHE_KEY, {}).clear()


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
            for old in sorted(cache, key=lambda k: cache[k][0])[: len(cache) - _CACHE_MAX + 1]:
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


@bp.get("/sites")
@token_or_login_required(READ_ROLES)
def list_sites() -> Response:
    """Return every site as a GeoJSON FeatureCollection (?q= search, ?problems=1)."""
    body, etag = _sites_body(request.args.get("q") or None, request.args.get("problems") in ("1", "true", "yes"))
    response = Response(body, mimetype="application/geo+json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@bp.get("/sites/<int:site_id>")
@token_or_login_required(READ_ROLES)
def get_site(site_id: int) -> Response:
    """Return one site as a GeoJSON Feature with its devices, surveys and pending candidates."""
    detail = store.get_site(db_session(), site_id)
    if detail is None:
        return _error(404, f"no site {site_id}")
    feature = site_feature(detail.site, _site_path())
    props = feature["properties"]
    props.update(address=detail.address, contact=detail.contact,
                 devices=[_device(d) for d in detail.devices],
                 surveys=[s.to_dict() for s in detail.surveys],
                 candidates=[c.to_dict() for c in detail.candidates],
                 findings=[f.to_dict() for f in detail.findings])
    return _json(feature, mimetype="application/geo+json")


@bp.get("/devices")
@token_or_login_required(READ_ROLES)
def list_devices() -> Response:
    """Return devices, all or of one site (?site=ID); credentials never leave the server."""
    site = request.args.get("site")
    site_id: int | None = None
    if site is not None:
        if not site.isdigit():
            return _error(400, "site must be a site number, e.g. ?site=3")
        site_id = int(site)
    devices = store.list_devices(db_session(), site_id=site_id)
    return _json({"devices": [_device(d) for d in devices]})


def _json_body() -> Any:
    if not request.is_json:
        raise ValueError("send the document as JSON (Content-Type: application/json)")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the json module recurses once per level: "[[[[…" would otherwise be a 500
        raise ValueError("the body is nested too deeply") from None
    if data is None:
        raise ValueError("the body is not valid JSON")
    return data


@bp.post("/surveys")
@token_required(EDIT_ROLES)
def post_survey() -> Response:
    """Store a survey document pushed from the field (editor or admin token); the same survey twice is one."""
    try:
        doc = _json_body()
        if not isinstance(doc, dict) or not isinstance(doc.get("site"), str) or not isinstance(doc.get("hosts"), list):
            raise ValueError("a survey document needs 'site' (text) and 'hosts' (a list); see the brief")
        check_survey(doc)
        site_id = request.args.get("site", type=int)
        result = store.ingest_survey(db_session(), doc, site_id=site_id)
        commit_session()
        forget_sites()
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    except (ValueError, LookupError) as err:
        discard_session()
        return _error(400, str(err))
    log.info("%s: survey of %r stored as %s (duplicate: %s)", request.remote_addr, doc.get("site"),
             result.survey_id, result.duplicate)
    body = result.to_dict()
    body["report"] = url_for("sites.report", site_id=result.site_id, survey=result.survey_id)
    return _json(body, 200 if result.duplicate else 201)


@bp.post("/observations")
@token_required(OBSERVATION_ROLES)
def post_observations() -> Response:
    """Record observations from a worker: a JSON list (or {"observations": [...]})."""
    try:
        data = _json_body()
        if isinstance(data, dict):
            data = data.get("observations")
        if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
            raise ValueError("send a list of observation objects")
        check_observations(data)
        count = store.record_observations(db_session(), data)
        commit_session()
        forget_sites()
    except (ValueError, LookupError) as err:
        discard_session()
        return _error(400, str(err))
    return _json({"recorded": count}, 201)
