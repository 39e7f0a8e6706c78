"""Prometheus HTTP service discovery: the targets of every monitored device, from the inventory.

``/sd/prometheus`` answers every target; ``?commune=<id or name>`` the targets of one commune and
``?shard=K/N`` shard K of N by the worker's own rule (``inventory.shards.shard_of``), so each
Prometheus or worker of a province reads only its part.  Every answer carries an ETag (a hash of
its bytes): a client that sends it back in If-None-Match gets 304 and no body while nothing changed.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.wsgi import wrap_file

from sitescout.inventory import store
from sitescout.inventory.shards import ShardError, parse_shard
from sitescout.web.errors import Coded, api_error
from sitescout.web.security import TARGET_ROLES, token_required, token_sites
from sitescout.web.storage import db_session, inventory_changed

__all__ = ["bp", "forget_targets"]

bp = Blueprint("sd", __name__, url_prefix="/sd")

_CACHE_KEY = "sitescout_sd_cache"
#: Writes that never change a target (observations only add health; logins touch no device).
_WRITES_KEEPING_TARGETS = frozenset({"api.post_observations", "auth.login", "auth.logout", "alerts.post_alerts"})


#: Which part of the targets an answer holds: (commune ids or None, (K, N) or None).
_Part = tuple[tuple[int, ...] | None, tuple[int, int] | None]
_WHOLE: _Part = (None, None)
#: Parts kept at once (each commune and shard asked for is one; the whole answer is one more).
_MAX_PARTS = 256


@dataclass
class _Answer:
    """One built answer: the JSON bytes, when they expire, their ETag, and their gzip form once asked for."""

    body: bytes
    expires: float
    gzipped: bytes | None = None
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        # blake2b reads ~1 GB/s: 30 ms for the 32 MB whole answer at 100,000 devices, once per build.
        self.etag = '"' + hashlib.blake2b(self.body, digest_size=12).hexdigest() + '"'


@dataclass
class _TargetsCache:
    """The app's cached answer; `generation` moves on every drop, so a build begun before a write is not kept."""

    build_lock: threading.Lock = field(default_factory=threading.Lock)
    gzip_lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0
    answers: dict[_Part, _Answer] = field(default_factory=dict)


def _cache(app: Flask) -> _TargetsCache:
    cache: _TargetsCache = app.extensions.setdefault(_CACHE_KEY, _TargetsCache())
    return cache


def forget_targets() -> None:
    """Drop the cached targets (after a write through this app)."""
    cache = _cache(current_app)
    cache.generation += 1
    cache.answers = {}


@bp.after_app_request
def _forget_after_writes(response: Response) -> Response:
    # Only a request that committed a change to the inventory drops the answer (web.storage marks it
    # when its transaction flushed something and committed).  Before, any non-GET dropped it, whatever
    # its status: an anonymous 401 or a 404 POST loop made every poller rebuild (median answer
    # 0.03 s -> 1.6 s).  Refused, failed and anonymous requests never reach a commit.  Workers post
    # observations all the time and those never change a target, so they keep the answer.
    if inventory_changed() and request.endpoint not in _WRITES_KEEPING_TARGETS:
        forget_targets()
    return response


def _ttl() -> float:
    config = current_app.config
    return float(config.get("SD_CACHE_SECONDS", config.get("SITES_CACHE_SECONDS", 0)) or 0)


def _build(part: _Part, sites: frozenset[int] | None = None) -> _Answer:
    communes, shard = part
    return _Answer(store.prometheus_targets_json(db_session(), sites=sites, communes=communes, shard=shard), 0.0)


def _targets_answer(part: _Part) -> _Answer:
    # 100,000 devices make a ~32 MB answer that takes 1-2 s of CPU to build; every Prometheus server
    # (and every worker fed by the inventory) asks for it, so it is kept for SD_CACHE_SECONDS
    # (default: SITES_CACHE_SECONDS), one answer per part asked for (whole, a commune, a shard).
    # Writes through this app drop them all at once; a write behind the app's back (a CLI import)
    # shows within that many seconds.  As with /api/v1/sites, one request rebuilds an expired answer
    # while the others get the old bytes: a stampede of builds would hold one 32 MB copy and ~80 MB
    # of parts per request in flight.
    ttl = _ttl()
    if ttl <= 0:
        return _build(part)
    cache = _cache(current_app)
    hit = cache.answers.get(part)
    if hit is not None and hit.expires > time.monotonic():
        return hit
    if hit is not None and not cache.build_lock.acquire(blocking=False):
        return hit  # another request is rebuilding: the answer a few seconds old will do
    if hit is None:
        cache.build_lock.acquire()
    try:
        again = cache.answers.get(part)
        if again is not None and again.expires > time.monotonic():
            return again  # built while this request waited
        generation = cache.generation
        answer = _build(part)
        answer.expires = time.monotonic() + ttl
        if cache.generation == generation:  # no write dropped the targets while this was built
            if part not in cache.answers and len(cache.answers) >= _MAX_PARTS:
                cache.answers = {}  # a client walking through made-up parts does not grow this forever
            cache.answers[part] = answer
        return answer
    finally:
        cache.build_lock.release()


def _scoped_answer(part: _Part) -> _Answer | None:
    """The targets of a token scoped to some sites (built for it, not cached: a scope is a few sites), or None."""
    sites = token_sites()
    if sites is None:
        return None
    return _build(part, sites)


class _BadPart(ValueError):
    """A ?commune= or ?shard= the answer cannot be built for: the status and message to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _part() -> _Part:
    """Return the part of the targets the query asks for; raise _BadPart for a bad one."""
    shard = None
    text = request.args.get("shard")
    if text is not None:
        try:
            shard = parse_shard(text)
        except ShardError as err:
            raise _BadPart(400, str(err)) from None
        if shard[1] == 1:
            shard = None  # 1/1 is the whole answer: one cache entry, one ETag
    communes = None
    text = request.args.get("commune")
    if text is not None:
        found = store.find_communes(db_session(), text)
        if not found:
            raise _BadPart(404, Coded("no_commune_named", "no commune %(name)r: give its id or its name", name=text))
        if len(found) > 1:
            listed = ", ".join(f"{cid} ({name}, {region})" for cid, name, region in found)
            raise _BadPart(400, Coded("communes_named", "several communes are named %(name)r: give the id of one of "
                                      "%(communes)s", name=text, communes=listed))
        communes = (found[0][0],)
    return communes, shard


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


def _not_modified(answer: _Answer, gzip_tag: str) -> bool:
    """Say whether the client's If-None-Match already names this answer (either encoding of it)."""
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or answer.etag in tags or gzip_tag in tags


@bp.get("/prometheus")
@token_required(TARGET_ROLES)
def prometheus() -> Response:
    """Return http_sd target groups (a worker token suffices); ?commune= and ?shard=K/N give one part.

    gzip when the client accepts it; 304 with no body when If-None-Match names the current answer.
    """
    try:
        part = _part()
    except _BadPart as err:
        return api_error(err.status, str(err))  # with a code; the words are for the worker's operator
    answer = _scoped_answer(part) or _targets_answer(part)
    # Prometheus (2.42) sends neither Accept-Encoding nor If-None-Match for http_sd; workers, curl
    # --compressed and proxies do.  The gzip form is another representation: its own (derived) tag.
    gzip_tag = answer.etag[:-1] + '-gz"'
    wants_gzip = _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    if _not_modified(answer, gzip_tag):
        response = Response(status=304)
    elif wants_gzip:
        response = _shared_bytes_response(_gzipped(answer))
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = _shared_bytes_response(answer.body)
    response.headers["ETag"] = gzip_tag if wants_gzip else answer.etag
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
