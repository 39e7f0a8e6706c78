"""Who may do what: UI login roles, API tokens, CSRF and the security headers of every response.

Roles: ``admin`` > ``editor`` > ``viewer`` for people; ``worker`` for probe workers,
which may only read Prometheus targets and post observations.  The UI uses a
signed session cookie (HttpOnly, SameSite=Lax, Secure); the API takes
``Authorization: Bearer <token>`` (or a logged-in session for reads).
Forms carry a per-session CSRF token that must match on every unsafe request
made with the session cookie; token-authenticated API calls carry no cookie
and need none.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, Response, abort, g, redirect, request, session, url_for
from flask_babel import gettext as _

from sitescout.web.errors import api_error
from sitescout.web.validate import printable

__all__ = [
    "READ_ROLES",
    "EDIT_ROLES",
    "TARGET_ROLES",
    "OBSERVATION_ROLES",
    "csrf_token",
    "current_role",
    "token_sites",
    "login_stamp",
    "login_required",
    "token_or_login_required",
    "token_required",
    "page_csp",
    "init_app",
]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

READ_ROLES = frozenset({"admin", "editor", "viewer"})
EDIT_ROLES = frozenset({"admin", "editor"})
TARGET_ROLES = frozenset({"admin", "editor", "viewer", "worker"})
OBSERVATION_ROLES = frozenset({"admin", "worker"})

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _check_csrf() -> None:
    # Only cookie-authenticated requests can be forged cross-site.  Unsafe API methods take a Bearer
    # token only (a browser never sends one by itself), so the session cookie grants nothing there.
    # Pages ignore Bearer tokens, so an Authorization header does not excuse a form post from CSRF.
    if request.method not in _UNSAFE or request.path.startswith("/api/"):
        return
    expected = session.get("csrf")
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), sent):
        log.warning("%s: CSRF token missing or wrong on %s", request.remote_addr, printable(request.path))
        abort(400, description=_("The form had expired or came from another page (CSRF): reload the page and "
                                 "try again."))


def login_stamp(password_hash: str) -> str:
    """Return what a session keeps of the user's password hash: a new password ends every older session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


def current_role() -> str | None:
    """Return the role of the logged-in user as the inventory has it now, or None.

    The signed cookie names a server-side session (``web_sessions``), checked with the user's
    row on each request (once): logging out deletes the session, so a copied cookie stops
    working; a deleted user is logged out, a changed role applies at once, and a changed
    password ends every session made with the old one.
    """
    if "session_role" in g:
        return g.session_role
    role = None
    username = session.get("username")
    if username and session.get("role"):
        from sitescout.inventory import store
        from sitescout.web.storage import db_session

        row = store.find_web_session(db_session(), session.get("sid"), str(username))
        if row is not None and hmac.compare_digest(login_stamp(row[1]), str(session.get("stamp", ""))):
            role = row[0]
        else:
            log.info("%s: session of %r no longer valid (logged out, expired, user removed or password changed)",
                     request.remote_addr, username)
            session.clear()
    g.session_role = role
    return role


def _bearer_role() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    from sitescout.inventory import store
    from sitescout.web.storage import db_session

    grant = store.find_token(db_session(), token.strip())
    if grant is None:
        log.warning("%s: API token refused on %s", request.remote_addr, printable(request.path))
        return None
    g.api_grant = grant
    return grant.role


def token_sites() -> frozenset[int] | None:
    """Return the site ids this request's token is scoped to (None: every site, or no token)."""
    grant = g.get("api_grant")
    return grant.sites if grant is not None else None


def login_required(roles: Iterable[str] = READ_ROLES) -> Callable[[F], F]:
    """Let a view through only for a logged-in user whose role is in `roles`."""
    allowed = frozenset(roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            role = current_role()
            if role is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _api_error(status: int, code: str, **params: Any) -> Response:
    response = api_error(status, code, **params)  # a code, said in the request's language
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sitescout"'
    return response


def token_required(roles: Iterable[str]) -> Callable[[F], F]:
    """Let an API view through only with a Bearer token whose role is in `roles`."""
    allowed = frozenset(roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not request.headers.get("Authorization"):
                return _api_error(401, "token_required")
            role = _bearer_role()
            if role is None:
                return _api_error(401, "token_not_accepted")
            if role not in allowed:
                return _api_error(403, "role_token_refused", role=role)
            g.api_role = role
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def token_or_login_required(roles: Iterable[str]) -> Callable[[F], F]:
    """Like `token_required`, but a logged-in user with an allowed role also passes (reads from the map)."""
    allowed = frozenset(roles)

    def decorator(view: F) -> F:
        token_view = token_required(allowed)(view)

        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if request.headers.get("Authorization"):
                return token_view(*args, **kwargs)
            role = current_role()
            if role is None:
                return _api_error(401, "login_or_token")
            if role not in allowed:
                return _api_error(403, "role_refused", role=role)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


#: Pages load scripts, styles and pictures from this server only: no inline script anywhere.
_BASE_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def page_csp(**overrides: str) -> str:
    """Return the Content-Security-Policy of a page, with some directives replaced."""
    policy = dict(_BASE_CSP)
    policy.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return "; ".join(f"{k} {v}" for k, v in policy.items())


def _tile_origin(tile_url: str | None) -> str:
    """Return " ORIGIN" of the configured tile server for img-src, or "" (no --tile-url, or not a plain URL)."""
    from sitescout.web.tiles import tile_server_origin

    origin = tile_server_origin(tile_url) if tile_url else None
    return f" {origin}" if origin else ""


def _add_headers(response: Response) -> Response:
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        from flask import current_app

        img = "'self' data:" + _tile_origin(current_app.config.get("TILE_URL"))
        headers["Content-Security-Policy"] = page_csp(img_src=img)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if session.get("role") or g.get("session_role"):
        headers.setdefault("Cache-Control", "private, no-store")
    return response


def init_app(app: Flask) -> None:
    """Check CSRF before every request and add security headers to every response."""
    app.before_request(_check_csrf)
    app.after_request(_add_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_role"] = current_role
