"""Access management API (/api/v1/tokens, /api/v1/users): admins only.

Tokens: create (the secret is in the 201 answer and nowhere else, ever), list without
secrets, revoke at once (the next request with the token is a 401).  Users: create,
list, read (with an ETag), change role or password (``If-Match`` required: two admins
cannot silently overwrite each other), remove; the last admin can be neither removed
nor demoted (409).  Writes take a Bearer token only, as every write API does.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, url_for
from sqlalchemy import select

from sitescout.inventory import accounts
from sitescout.inventory.auth import SCOPED_ROLES, create_user, issue_token
from sitescout.inventory.choices import Role
from sitescout.inventory.db import ConflictError
from sitescout.inventory.models import Site, ValidationError
from sitescout.web.security import token_or_login_required, token_required
from sitescout.web.errors import WebError, api_error, field_body
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import query_id

__all__ = ["bp", "ADMIN_ROLES", "parse_token_request", "FieldErrors"]

log = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")

ADMIN_ROLES = frozenset({"admin"})
#: Most rows one page of a listing holds.
MAX_PAGE = 500
_LABEL_MAX = 200


class FieldErrors(WebError, ValueError):
    """A request body with wrong fields: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


def _error(status: int, message: str) -> Response:
    """An error answer with its code and words in the request's language (web/errors.py)."""
    return api_error(status, message)


def _json_body() -> Any:
    if not request.is_json:
        raise ValueError("send JSON (Content-Type: application/json)")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise ValueError("the body is nested too deeply") from None
    if data is None:
        raise ValueError("the body is not valid JSON")
    return data


def _field_errors(err: FieldErrors) -> Response:
    return _json(field_body(err.errors), 400)  # "fields" with codes, "errors" as before


def _page() -> tuple[int, int]:
    limit = query_id("limit")
    offset = query_id("offset") or 0
    limit = 100 if limit is None else max(1, min(limit, MAX_PAGE))
    return offset, limit


def _listing(name: str, rows: list[Any], total: int, offset: int, limit: int, endpoint: str) -> Response:
    following = offset + limit
    body = {name: [r.to_dict() for r in rows], "total": total, "offset": offset, "limit": limit,
            "next": url_for(endpoint, offset=following, limit=limit) if following < total else None}
    return _json(body)


def parse_expiry(value: Any) -> datetime | None:
    """Return an ISO 8601 time (a time without a zone is UTC) as an aware datetime; ValueError if not one."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("give an ISO 8601 time such as 2027-01-31T00:00:00+07:00, or null")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("give an ISO 8601 time such as 2027-01-31T00:00:00+07:00, or null") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= datetime.now(UTC):
        raise ValueError("this time has passed; give a time in the future")
    return when


def parse_token_request(session: Any, body: Any) -> dict[str, Any]:
    """Check a token request ({"role", "label", "expires_at", "sites"}); FieldErrors naming each wrong field."""
    if not isinstance(body, dict):
        raise FieldErrors({"body": 'send an object: {"role": "worker", "label": "…", "expires_at": null}'})
    errors: dict[str, str] = {}
    role = body.get("role")
    if role not in {r.value for r in Role}:
        errors["role"] = "one of viewer, editor, admin, worker, alertmanager"
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > _LABEL_MAX:
        errors["label"] = f"text of at most {_LABEL_MAX} characters"
    expires_at = None
    try:
        expires_at = parse_expiry(body.get("expires_at"))
    except ValueError as err:
        errors["expires_at"] = str(err)
    sites = body.get("sites")
    if sites is not None:
        if not isinstance(sites, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                  and 0 < s < 2**63 for s in sites) or len(sites) > 10_000:
            errors["sites"] = "a list of site ids, e.g. [3, 7], or leave it out for every site"
        else:
            known = set(session.scalars(select(Site.id).where(Site.id.in_(set(sites)))))
            unknown = sorted(set(sites) - known)
            if unknown:
                errors["sites"] = f"no site with id {', '.join(map(str, unknown[:10]))}"
        if "sites" not in errors and role in {r.value for r in Role} and role not in SCOPED_ROLES:
            errors["sites"] = (f"a {role} token cannot be scoped to sites (only "
                               f"{' and '.join(sorted(SCOPED_ROLES))} tokens can); leave sites out")
    if errors:
        raise FieldErrors(errors)
    return {"role": role, "label": label.strip() if isinstance(label, str) else "", "expires_at": expires_at,
            "sites": sites}


# ---------------------------------------------------------------------------
# Tokens.


@bp.post("/tokens")
@token_required(ADMIN_ROLES)
def create_token() -> Response:
    """Create an API token; the answer holds its secret, shown this once."""
    session = db_session()
    try:
        wanted = parse_token_request(session, _json_body())
        token_id, secret = issue_token(session, wanted["role"], label=wanted["label"], sites=wanted["sites"],
                                       expires_at=wanted["expires_at"])
        commit_session()
    except FieldErrors as err:
        discard_session()
        return _field_errors(err)
    except (ValueError, ValidationError) as err:
        discard_session()
        return _error(400, str(err))
    log.info("%s: admin created %s token %d (%r)", request.remote_addr, wanted["role"], token_id, wanted["label"])
    info = accounts.get_token(db_session(), token_id)
    body: dict[str, Any] = info.to_dict() if info is not None else {"id": token_id}
    body["token"] = secret
    response = _json(body, 201)
    response.headers["Location"] = url_for("accounts.get_token", token_id=token_id)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@token_or_login_required(ADMIN_ROLES)
def list_tokens() -> Response:
    """List API tokens without their secrets (?offset=, ?limit= up to 500)."""
    offset, limit = _page()
    session = db_session()
    rows = accounts.list_tokens(session, offset=offset, limit=limit)
    return _listing("tokens", rows, accounts.count_tokens(session), offset, limit, "accounts.list_tokens")


@bp.get("/tokens/<int:token_id>")
@token_or_login_required(ADMIN_ROLES)
def get_token(token_id: int) -> Response:
    """Return one token without its secret."""
    token = accounts.get_token(db_session(), token_id)
    if token is None:
        return _error(404, f"no token {token_id}")
    return _json(token.to_dict())


@bp.delete("/tokens/<int:token_id>")
@token_required(ADMIN_ROLES)
def revoke_token(token_id: int) -> Response:
    """Revoke a token: its next request is refused (401)."""
    if not accounts.revoke_token(db_session(), token_id):
        discard_session()
        return _error(404, f"no token {token_id}")
    commit_session()
    log.info("%s: admin revoked token %d", request.remote_addr, token_id)
    return Response(status=204)


# ---------------------------------------------------------------------------
# Users.


def _user_answer(user: accounts.UserInfo, status: int = 200) -> Response:
    response = _json(user.to_dict(), status)
    response.set_etag(user.etag)
    return response


def _parse_user(body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FieldErrors({"body": 'send an object: {"username": "…", "password": "…", "role": "viewer"}'})
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {}
    if creating:
        username = body.get("username")
        if not isinstance(username, str) or not username.strip() or len(username.strip()) > 100:
            errors["username"] = "a name of 1 to 100 characters"
        else:
            wanted["username"] = username.strip()
    for name in ("role", "password"):
        if name in body or creating:
            wanted[name] = body.get(name)
    if "role" in wanted and wanted["role"] not in ("admin", "editor", "viewer"):
        errors["role"] = "one of admin, editor, viewer (workers use tokens)"
    if "password" in wanted and (not isinstance(wanted["password"], str) or not 8 <= len(wanted["password"]) <= 1000):
        errors["password"] = "at least 8 characters"
    unknown = (
        sorted(set(body) - {"username", "role", "password"}) if creating else sorted(set(body) - {"role", "password"})
    )
    if unknown:
        errors[unknown[0]] = "unknown field" if creating or unknown[0] != "username" else "a user cannot be renamed"
    if not creating and not wanted and not errors:
        errors["body"] = "give role and/or password"
    if errors:
        raise FieldErrors(errors)
    return wanted


@bp.get("/users")
@token_or_login_required(ADMIN_ROLES)
def list_users() -> Response:
    """List UI users (never a password hash), ?offset=, ?limit=."""
    offset, limit = _page()
    session = db_session()
    rows = accounts.list_users(session, offset=offset, limit=limit)
    return _listing("users", rows, accounts.count_users(session), offset, limit, "accounts.list_users")


@bp.post("/users")
@token_required(ADMIN_ROLES)
def create_user_view() -> Response:
    """Create a UI user → 201 with Location and ETag; 409 when the name is taken."""
    session = db_session()
    try:
        wanted = _parse_user(_json_body(), creating=True)
        if accounts.find_user(session, wanted["username"]) is not None:
            discard_session()
            return _error(409, f"a user named {wanted['username']!r} exists")
        user_id = create_user(session, wanted["username"], wanted["password"], wanted["role"])
        commit_session()
    except FieldErrors as err:
        discard_session()
        return _field_errors(err)
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    except (ValueError, ValidationError) as err:
        discard_session()
        return _error(400, str(err))
    user = accounts.get_user(db_session(), user_id)
    assert user is not None
    log.info("%s: admin created user %r (%s)", request.remote_addr, user.username, user.role)
    response = _user_answer(user, 201)
    response.headers["Location"] = url_for("accounts.get_user", user_id=user_id)
    return response


@bp.get("/users/<int:user_id>")
@token_or_login_required(ADMIN_ROLES)
def get_user(user_id: int) -> Response:
    """Return one user with an ETag to send back in If-Match."""
    user = accounts.get_user(db_session(), user_id)
    if user is None:
        return _error(404, f"no user {user_id}")
    return _user_answer(user)


def _if_match() -> str | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    return header.strip().removeprefix("W/").strip('"')


@bp.patch("/users/<int:user_id>")
@token_required(ADMIN_ROLES)
def update_user(user_id: int) -> Response:
    """Change a user's role and/or password; If-Match with the user's ETag is required (412 when stale)."""
    session = db_session()
    if accounts.get_user(session, user_id) is None:
        return _error(404, f"no user {user_id}")
    if_match = _if_match()
    if if_match is None:
        return _error(428, "send If-Match with the user's ETag (GET it first), so no change is lost")
    try:
        wanted = _parse_user(_json_body(), creating=False)
        user = accounts.update_user(session, user_id, role=wanted.get("role"), password=wanted.get("password"),
                                    if_match=if_match)
        commit_session()
    except FieldErrors as err:
        discard_session()
        return _field_errors(err)
    except accounts.StaleError as err:
        discard_session()
        return _error(412, str(err))
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    except (ValueError, ValidationError) as err:
        discard_session()
        return _error(400, str(err))
    assert user is not None
    log.info("%s: admin changed user %r (%s)", request.remote_addr, user.username, ", ".join(sorted(wanted)))
    return _user_answer(user)


@bp.delete("/users/<int:user_id>")
@token_required(ADMIN_ROLES)
def delete_user(user_id: int) -> Response:
    """Remove a user (204); 409 for the last admin; If-Match, when sent, must match (412)."""
    session = db_session()
    try:
        found = accounts.delete_user(session, user_id, if_match=_if_match())
    except accounts.StaleError as err:
        discard_session()
        return _error(412, str(err))
    except ConflictError as err:
        discard_session()
        return _error(409, str(err))
    if not found:
        discard_session()
        return _error(404, f"no user {user_id}")
    commit_session()
    log.info("%s: admin removed user %d", request.remote_addr, user_id)
    return Response(status=204)
