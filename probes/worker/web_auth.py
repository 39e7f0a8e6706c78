"""Checking a request against the worker's web config: basic auth (bcrypt), client SANs, rate limit.

:class:`WebGuard` holds the config in force: the TLS context the port listens with and the checks
each request passes.  It re-reads the file on :meth:`WebGuard.reload` (SIGHUP, ``POST /-/reload``):
users, headers and the rate limit change at once; certificate and key files are read again, so a
renewed certificate is served to the next connections (through the context's SNI callback, which
OpenSSL calls on every handshake, with or without SNI).  A file that fails to load, or changes
other TLS settings (those need a restart), keeps the config in force.

Basic auth follows exporter-toolkit ``web/handler.go``: a user that does not exist still costs a
bcrypt check (against a dummy hash of the same cost), so timing does not tell which users exist;
only one bcrypt check runs at a time (it is CPU-bound and runs in a thread of its own, never on
the worker's event loop).  A verified (user, password) pair is remembered — keyed by an HMAC
under a per-process random key, never the password itself — so a scrape every 15 s costs a
dictionary look-up, not a bcrypt each time; a failed attempt is never remembered, so each one
costs a bcrypt.  When more than :data:`MAX_PENDING_CHECKS` checks wait, further unverified
attempts are answered 429 at once: a password-guessing flood cannot queue unbounded work, and
clients already verified keep getting in meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import logging
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt

from sitescout.probes.worker.web_config import RateLimit, WebConfig, WebConfigError, load_web_config

__all__ = ["AuthOutcome", "BasicAuth", "MAX_PENDING_CHECKS", "Refusal", "TokenBucket", "WebGuard",
           "is_allowed_client"]

log = logging.getLogger(__name__)

#: Unverified attempts waiting for the bcrypt thread before more are refused (429).
MAX_PENDING_CHECKS = 16
#: Verified (user, password) pairs remembered.
_CACHE_SIZE = 100

AuthOutcome = str  # "ok" | "denied" | "busy"


def _cost(hashed: bytes) -> int:
    return int(hashed.split(b"$")[2])


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes; remembers verified pairs only."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        cost = max((_cost(h) for h in self._users.values()), default=10)
        # Unknown users are checked against this, so they cost what a known one does.
        self._dummy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(cost))
        self._key = os.urandom(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bcrypt")
        self._pending = 0
        self.checks = 0  # bcrypt checks run (for tests and debugging)

    def _cache_key(self, user: str, hashed: bytes, password: bytes) -> bytes:
        msg = b"\0".join((user.encode("utf-8", "surrogateescape"), hashed, password))
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool:
        self.checks += 1
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:
            return False

    @staticmethod
    def _credentials(header: str | None) -> tuple[str, bytes] | None:
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        user, sep, password = raw.partition(b":")
        if not sep:
            return None
        return user.decode("utf-8", "surrogateescape"), password

    async def async_check(self, header: str | None) -> AuthOutcome:
        """Return "ok", "denied" (401) or "busy" (too many unverified attempts waiting: 429)."""
        got = self._credentials(header)
        if got is None:
            return "denied"
        user, password = got
        hashed = self._users.get(user)
        is_user = hashed is not None
        hashed = hashed if hashed is not None else self._dummy
        key = self._cache_key(user, hashed, password)
        with self._lock:
            if is_user and key in self._verified:
                self._verified.move_to_end(key)
                return "ok"
            if self._pending >= MAX_PENDING_CHECKS:
                return "busy"
            self._pending += 1
        try:
            ok = await asyncio.get_running_loop().run_in_executor(self._executor, self._bcrypt, password, hashed)
        finally:
            with self._lock:
                self._pending -= 1
        if not (ok and is_user):
            return "denied"
        with self._lock:
            self._verified[key] = None
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return "ok"

    def close(self, *, finish_pending: bool = False) -> None:
        """Stop the bcrypt thread (after the checks already waiting, with `finish_pending`)."""
        self._executor.shutdown(wait=False, cancel_futures=not finish_pending)


class TokenBucket:
    """``rate_limit``: `burst` requests at once, one more every `interval_s` (exporter-toolkit's limiter)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._at = time.monotonic()

    def allow(self) -> bool:
        """Take a token if there is one (on the event loop: no lock needed)."""
        now = time.monotonic()
        self._tokens = min(float(self.limit.burst), self._tokens + (now - self._at) / self.limit.interval_s)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def is_allowed_client(peercert: Mapping[str, Any] | None, allowed_sans: tuple[str, ...]) -> bool:
    """Return True when the verified client certificate names one of `allowed_sans` (DNS, IP, email, URI)."""
    if not allowed_sans:
        return True
    if not peercert:
        return False
    names = {value for kind, value in peercert.get("subjectAltName", ()) if kind in ("DNS", "IP Address", "email",
                                                                                       "URI")}
    return any(name in names for name in allowed_sans)


#: A refused request: status, body, extra headers.
Refusal = tuple[int, bytes, dict[str, str]]


class WebGuard:
    """The web config in force: the listening TLS context and the per-request checks."""

    def __init__(self, config: WebConfig | None = None, path: str | Path | None = None) -> None:
        self.path = path
        self.config = config or WebConfig()
        self._auth: BasicAuth | None = None
        self._bucket: TokenBucket | None = None
        self._current: ssl.SSLContext | None = None
        #: The context the port listens with (None: plain HTTP); it hands each handshake the current one.
        self.ssl_context: ssl.SSLContext | None = None
        self._adopt(self.config)
        if self._current is not None:
            self.ssl_context = self._current
            self.ssl_context.sni_callback = self._use_current

    def _use_current(self, conn: ssl.SSLObject, _name: str | None, ctx: ssl.SSLContext) -> None:
        if self._current is not None and self._current is not ctx:
            conn.context = self._current

    def _adopt(self, config: WebConfig) -> None:
        self._current = config.tls.ssl_context() if config.tls is not None else None
        old, self._auth = self._auth, BasicAuth(config.users) if config.users else None
        if old is not None:
            old.close(finish_pending=True)  # requests already waiting on it still get their answer
        self._bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self.config = config

    @property
    def headers(self) -> Mapping[str, str]:
        """Return the extra response headers."""
        return self.config.headers

    @property
    def auth(self) -> BasicAuth | None:
        """Return the basic-auth checker in force, if any."""
        return self._auth

    def reload(self) -> tuple[bool, str]:
        """Re-read the file; on error, or a TLS change that needs a restart, keep the config in force."""
        if self.path is None:
            return True, "no web config file"
        try:
            config = load_web_config(self.path)
        except WebConfigError as err:
            log.error("web config reload failed, keeping the one in force: %s", err)
            return False, str(err)
        old_tls, new_tls = self.config.tls, config.tls
        if (old_tls is None) != (new_tls is None) or (old_tls is not None and old_tls != new_tls):
            message = f"{self.path}: tls_server_config changed; restart the worker to apply it"
            log.error("web config reload: %s", message)
            return False, message
        try:
            self._adopt(config)  # certificate and key files are read again
        except (OSError, ssl.SSLError) as err:
            log.error("web config reload failed, keeping the one in force: %s", err)
            return False, f"{self.path}: {err}"
        return True, "web config reloaded"

    async def async_check(self, authorization: str | None, peercert: Mapping[str, Any] | None) -> Refusal | None:
        """Return None when the request may go on, else the refusal to answer with."""
        if self._bucket is not None and not self._bucket.allow():
            return 429, b"Too Many Requests\n", {}
        tls = self.config.tls
        if tls is not None and not is_allowed_client(peercert, tls.client_allowed_sans):
            return 403, b"Forbidden: client certificate not allowed\n", {}
        if self._auth is None:
            return None
        outcome = await self._auth.async_check(authorization)
        if outcome == "ok":
            return None
        if outcome == "busy":
            return 429, b"Too Many Requests: too many authentication attempts in progress\n", {"Retry-After": "1"}
        return 401, b"Unauthorized\n", {"WWW-Authenticate": "Basic"}

    def close(self) -> None:
        """Stop the bcrypt thread."""
        if self._auth is not None:
            self._auth.close()
