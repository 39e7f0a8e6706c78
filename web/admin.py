"""Admin pages: users (/admin/users) and API tokens (/admin/tokens).

Forms post back to these pages with the session's CSRF token (the write API takes Bearer
tokens only).  A new token's secret is rendered once in the answer to the form that made
it, never flashed (a flash message lives in the signed, readable session cookie) and never
shown again.  Role changes carry the user's ETag, so an admin who acted on a stale page is
told instead of overwriting a colleague's change.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from sitescout.inventory import accounts
from sitescout.inventory.auth import create_user, issue_token
from sitescout.inventory.db import ConflictError
from sitescout.inventory.models import ValidationError
from sitescout.web.accounts import ADMIN_ROLES, FieldErrors, parse_token_request
from sitescout.web.security import login_required
from sitescout.web.storage import commit_session, db_session, discard_session

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")

_PAGE = 500


def _back_to_users() -> Response:
    return redirect(url_for("admin.users"))  # type: ignore[return-value]


@bp.get("/users")
@login_required(ADMIN_ROLES)
def users() -> str:
    """List the UI users with forms to add one, change a role or password, or remove one."""
    return render_template("admin_users.html", users=accounts.list_users(db_session(), limit=_PAGE))


@bp.post("/users")
@login_required(ADMIN_ROLES)
def add_user() -> Response:
    """Create a user from the form."""
    username = request.form.get("username", "").strip()
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    if not username or role not in ("admin", "editor", "viewer") or len(password) < 8:
        flash(_("Give a user name, a role and a password of at least 8 characters."), "error")
        return _back_to_users()
    session = db_session()
    if accounts.find_user(session, username) is not None:
        flash(_("A user named %(name)s already exists.", name=username), "error")
        return _back_to_users()
    try:
        create_user(session, username, password, role)
        commit_session()
    except (ConflictError, ValidationError, ValueError):
        discard_session()
        flash(_("The user could not be created; check the name."), "error")
        return _back_to_users()
    log.info("%s: admin created user %r (%s) in the UI", request.remote_addr, username, role)
    flash(_("User %(name)s created.", name=username), "info")
    return _back_to_users()


@bp.post("/users/<int:user_id>/role")
@login_required(ADMIN_ROLES)
def set_role(user_id: int) -> Response:
    """Change a user's role (the form's ETag must still match)."""
    return _update(user_id, role=request.form.get("role", ""))


@bp.post("/users/<int:user_id>/password")
@login_required(ADMIN_ROLES)
def set_password(user_id: int) -> Response:
    """Set a user's password (their open sessions end)."""
    password = request.form.get("password", "")
    if len(password) < 8:
        flash(_("Give a password of at least 8 characters."), "error")
        return _back_to_users()
    return _update(user_id, password=password)


def _update(user_id: int, *, role: str | None = None, password: str | None = None) -> Response:
    session = db_session()
    try:
        user = accounts.update_user(session, user_id, role=role, password=password,
                                    if_match=request.form.get("etag") or None)
        commit_session()
    except accounts.StaleError:
        discard_session()
        flash(_("Someone changed this user meanwhile; look again and repeat your change."), "error")
        return _back_to_users()
    except ConflictError:
        discard_session()
        flash(_("The last admin cannot be demoted or removed; make another admin first."), "error")
        return _back_to_users()
    except (ValidationError, ValueError):
        discard_session()
        flash(_("Choose admin, editor or viewer."), "error")
        return _back_to_users()
    if user is None:
        flash(_("No user has this number."), "error")
    else:
        log.info("%s: admin changed user %r in the UI", request.remote_addr, user.username)
        flash(_("User %(name)s changed.", name=user.username), "info")
    return _back_to_users()


@bp.post("/users/<int:user_id>/delete")
@login_required(ADMIN_ROLES)
def remove_user(user_id: int) -> Response:
    """Remove a user (not the last admin)."""
    session = db_session()
    try:
        found = accounts.delete_user(session, user_id, if_match=request.form.get("etag") or None)
        commit_session()
    except accounts.StaleError:
        discard_session()
        flash(_("Someone changed this user meanwhile; look again and repeat your change."), "error")
        return _back_to_users()
    except ConflictError:
        discard_session()
        flash(_("The last admin cannot be demoted or removed; make another admin first."), "error")
        return _back_to_users()
    flash(_("User removed.") if found else _("No user has this number."), "info" if found else "error")
    return _back_to_users()


def _tokens_page(new_token: str | None = None, status: int = 200) -> tuple[str, int]:
    rows = accounts.list_tokens(db_session(), limit=_PAGE)
    return render_template("admin_tokens.html", tokens=rows, new_token=new_token), status


@bp.get("/tokens")
@login_required(ADMIN_ROLES)
def tokens() -> tuple[str, int]:
    """List API tokens (never their secrets) with a form to create one and a button to revoke each."""
    return _tokens_page()


def _form_sites(text: str) -> list[int] | None:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
        raise ValueError(text)
    return [int(p) for p in parts]


def _form_expiry(text: str) -> str | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return text  # parse_token_request names it
    return datetime.combine(day, time(0, 0), tzinfo=UTC).isoformat()


@bp.post("/tokens")
@login_required(ADMIN_ROLES)
def add_token() -> tuple[str, int] | Response:
    """Create a token from the form and show its secret on this answer only."""
    session = db_session()
    try:
        body = {"role": request.form.get("role", ""), "label": request.form.get("label", ""),
                "expires_at": _form_expiry(request.form.get("expires_at", "").strip()),
                "sites": _form_sites(request.form.get("sites", ""))}
        wanted = parse_token_request(session, body)
        token_id, secret = issue_token(session, wanted["role"], label=wanted["label"], sites=wanted["sites"],
                                       expires_at=wanted["expires_at"])
        commit_session()
    except (FieldErrors, ValueError) as err:
        discard_session()
        fields = ", ".join(sorted(err.errors)) if isinstance(err, FieldErrors) else "sites"
        flash(_("The token was not created; check these fields: %(fields)s.", fields=fields), "error")
        return redirect(url_for("admin.tokens"))  # type: ignore[return-value]
    log.info("%s: admin created %s token %d in the UI", request.remote_addr, wanted["role"], token_id)
    return _tokens_page(new_token=secret, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required(ADMIN_ROLES)
def revoke_token(token_id: int) -> Response:
    """Revoke a token at once."""
    found = accounts.revoke_token(db_session(), token_id)
    commit_session()
    if found:
        log.info("%s: admin revoked token %d in the UI", request.remote_addr, token_id)
        flash(_("Token revoked: it is refused from now on."), "info")
    else:
        flash(_("No token has this number."), "error")
    return redirect(url_for("admin.tokens"))  # type: ignore[return-value]
