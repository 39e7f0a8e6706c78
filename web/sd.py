"""Prometheus HTTP service discovery: the targets of every monitored device, from the inventory."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.wsgi import wrap_file

from sitescout.inventory import store
from sitescout.web.security import TARGET_ROLES, token_required
from sitescout.web.storage import db_session

__all__ = ["bp", "forget_targets"]

bp = Blueprint("sd", __name__, url_prefix="/sd")

_CACHE_KEY = "sitescout_sd_cache"
#: Writes that never change a target (observations only add health; logins touch no device).
_WRITES_KEEPING_TARGETS = frozenset({"api.post_observations", "auth.login", "auth.logout"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Answer:
    """One built answer: the JSON bytes, when they expire, and their gzip form once a client asked for it."""

    body: bytes
    expires: float
    gzipped: bytes | None = None


@dataclass
class _TargetsCache:
    """The app's cached answer; `generation` moves on every drop, so a build begun before a write is not kept."""

    build_lock: threading.Lock = field(default_factory=threading.Lock)
    gzip_lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0
    answer: _Answer | None = None


def _cache(app: Flask) -> _TargetsCache:
    cache: _TargetsCache = app.extensions.setdefault(_CACHE_KEY, _TargetsCache())
    return cache


def forget_targets() -> None:
    """Drop the cached targets (after a write through this app)."""
    cache = _cache(current_app)
    cache.generation += 1
    cache.answer = None


@bp.after_app_request
def _forget_after_writes(response: Response) -> Response:
    # Every write through this app is a POST (forms and API); dropping on each one, whatever its
    # endpoint or status, cannot miss a write the way a call in each view could.  Workers post
    # observations all the time and those never change a target, so they keep the answer.
    if request.method not in _SAFE_METHODS and request.endpoint not in _WRITES_KEEPING_TARGETS:
        forget_targets()
    return response


def _ttl() -> float:
    config = current_app.config
    return float(config.get("SD_CACHE_SECONDS", config.get("SITES_CACHE_SECONDS", 0)) or 0)


def _targets_answer() -> _Answer:
    # 100,000 devices make a ~32 MB answer that takes 1-2 s of CPU to build; every Prometheus server
    # (and every worker fed by the inventory) asks for it, so it is kept for SD_CACHE_SECONDS
    # (default: SITES_CACHE_SECONDS).  Writes through this app drop it at once; a write behind the
    # app's back (a CLI import) shows within that many seconds.  As with /api/v1/sites, one request
    # rebuilds an expired answer while the others get the old bytes: a stampede of builds would
    # hold one 32 MB copy and ~80 MB of parts per request in flight.
    ttl = _ttl()
    if ttl <= 0:
        return _Answer(store.prometheus_targets_json(db_session()), 0.0)
    cache = _cache(current_app)
    hit = cache.answer
    if hit is not None and hit.expires > time.monotonic():
        return hit
    if hit is not None and not cache.build_lock.acquire(blocking=False):
        return hit  # another request is rebuilding: the answer a few seconds old will do
    if hit is None:
        cache.build_lock.acquire()
    try:
        again = cache.answer
        if again is not None and again.expires > time.monotonic():
            return again  # built while this request waited
        generation = cache.generation
        answer = _Answer(store.prometheus_targets_json(db_session()), 0.0)
        answer.expires = time.monotonic() + ttl
        if cache.generation == generation:  # no write dropped the targets while this was built
            cache.answer = answer
        return answer
    finally:
        cache.build_lock.release()


def _gzipped(answer: _Answer) -> bytes:
    if answer.gzipped is None:
        with _cache(current_app).gzip_lock:
            if answer.gzipped is None:
                answer.gzipped = gzip.compress(answer.body, compresslevel=5, mtime=0)
    return answer.gzipped


def _accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() == "gzip":
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.", "0.0", "0.00", "0.000"))
    return False


@bp.get("/prometheus")
@token_required(TARGET_ROLES)
def prometheus() -> Response:
    """Return http_sd target groups (a worker token suffices); gzip when the client accepts it."""
    answer = _targets_answer()
    # Prometheus (2.42) sends no Accept-Encoding for http_sd; curl --compressed and proxies do.
    if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
        response = _shared_bytes_response(_gzipped(answer))
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = _shared_bytes_response(answer.body)
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _shared_bytes_response(data: bytes) -> Response:
    # Waitress copies a bytes body into a buffer of its own for each answer (32 MB per request, then
    # a temporary file), and each of its threads' malloc arenas kept the high-water mark: RSS grew by
    # 32 MB per request served from the cache.  Given a file wrapper it reads the file a chunk at a
    # time instead; BytesIO shares the cached bytes until written to, so nothing is copied.
    body = wrap_file(request.environ, BytesIO(data), buffer_size=256 * 1024)
    response = Response(body, mimetype="application/json", direct_passthrough=True)
    response.content_length = len(data)
    return response
