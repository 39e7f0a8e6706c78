"""Logging in and out of the UI, and the language switch."""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from flask import (
    Blueprint, Response, current_app, flash, make_response, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _

from sitescout.inventory import store
from sitescout.web.i18n import LANG_COOKIE
from sitescout.web.security import login_stamp
from sitescout.web.storage import commit_session, db_session
from sitescout.web.throttle import LoginThrottle

__all__ = ["bp", "safe_next"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

_THROTTLE_KEY = "sitescout_login_throttle"


def safe_next(target: str | None, default: str) -> str:
    """Return target if it is a path on this server, else default (no open redirect, no header injection)."""
    if not target:
        return default
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target):
        return default  # CR/LF would split the Location header (a 500 from the server, or worse behind a proxy)
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # "/[" style netlocs urlsplit cannot read
        return default
    if parts.scheme or parts.netloc:
        return default
    return target


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions.setdefault(_THROTTLE_KEY, LoginThrottle())
    return throttle


def _throttle_keys(username: str) -> tuple[str, str]:
    return f"user:{username[:100]}", f"addr:{request.remote_addr or '-'}"


def _throttled(wait_s: float, username: str, next_url: str) -> Response:
    """Refuse a login attempt at once, without hashing its password (429 with Retry-After)."""
    seconds = max(1, math.ceil(wait_s))
    log.warning("%s: login for user %r refused without checking: too many failures, %d s to wait",
                request.remote_addr, username, seconds)
    flash(_("Too many failed logins. Try again in %(seconds)d seconds.", seconds=seconds), "error")
    response = make_response(render_template("login.html", next_url=next_url), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _start_session(username: str, role: str) -> None:
    """Log the user in: a fresh cookie (no fixation, a new CSRF token) naming a new server-side session."""
    lifetime = current_app.permanent_session_lifetime
    commit_session()  # end the password check's read: the writes below then wait for SQLite's lock
    store.end_web_session(db_session(), session.get("sid"))  # the session this browser had before, if any
    session_id = store.start_web_session(db_session(), username, lifetime)
    stamp = login_stamp(_password_hash(username))
    commit_session()
    session.clear()
    session.permanent = True
    session.update(username=username, role=str(role), stamp=stamp, sid=session_id)


def _password_hash(username: str) -> str:
    from sqlalchemy import select

    from sitescout.inventory.models import User

    return str(db_session().scalar(select(User.password_hash).where(User.username == username)) or "")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """Show the login form, or log the user in (failures throttled per user name and per address)."""
    next_url = safe_next(request.values.get("next"), url_for("map.show_map"))
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user_key, address_key = _throttle_keys(username)
        wait_s, reserved = _throttle().attempt(user_key, address_key)  # reserved: already counted as failed
        if wait_s > 0:
            return _throttled(wait_s, username, next_url)
        role = store.check_user(db_session(), username, request.form.get("password", ""))
        if role is None:
            _throttle().failed(*(k for k in (user_key, address_key) if k not in reserved))
            log.warning("%s: failed login for user %r", request.remote_addr, username)
            flash(_("User name or password is wrong."), "error")
            return render_template("login.html", next_url=next_url), 401  # type: ignore[return-value]
        _throttle().succeeded(user_key, *(k for k in reserved if k != user_key))
        _start_session(username, role)
        log.info("%s: user %r logged in as %s", request.remote_addr, username, role)
        return redirect(next_url)  # type: ignore[return-value]
    return render_template("login.html", next_url=next_url)


@bp.post("/logout")
def logout() -> Response:
    """Log the user out: the server forgets the session, so a copy of the cookie no longer works."""
    store.end_web_session(db_session(), session.get("sid"))
    commit_session()
    session.clear()
    return redirect(url_for("auth.login"))  # type: ignore[return-value]


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    """Switch the UI language (kept in a cookie) and go back to the page."""
    response = redirect(safe_next(request.args.get("next"), url_for("map.show_map")))
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response  # type: ignore[return-value]
