"""Logging in and out of the UI, and the language switch."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from sitescout.inventory import store
from sitescout.web.i18n import LANG_COOKIE
from sitescout.web.security import login_stamp
from sitescout.web.storage import db_session

__all__ = ["bp", "safe_next"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Return target if it is a path on this server, else default (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _password_hash(username: str) -> str:
    from sqlalchemy import select

    from sitescout.inventory.models import User

    return str(db_session().scalar(select(User.password_hash).where(User.username == username)) or "")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """Show the login form, or log the user in."""
    next_url = safe_next(request.values.get("next"), url_for("map.show_map"))
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        role = store.check_user(db_session(), username, request.form.get("password", ""))
        if role is None:
            log.warning("%s: failed login for user %r", request.remote_addr, username)
            flash(_("User name or password is wrong."), "error")
            return render_template("login.html", next_url=next_url), 401  # type: ignore[return-value]
        csrf = session.get("csrf")
        session.clear()  # a fresh session on login: no fixation
        session.permanent = True
        session.update(username=username, role=str(role), stamp=login_stamp(_password_hash(username)))
        if csrf:
            session["csrf"] = csrf
        log.info("%s: user %r logged in as %s", request.remote_addr, username, role)
        return redirect(next_url)  # type: ignore[return-value]
    return render_template("login.html", next_url=next_url)


@bp.post("/logout")
def logout() -> Response:
    """Log the user out."""
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
