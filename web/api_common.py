"""What every REST resource of /api/v1 shares: JSON answers, field errors, pages, ETags, scope, actor.

Status codes (docs/api.md): 201 with ``Location`` for a create, 204 for a delete, 400 with
``{"error", "code", "message", "errors": {"field": "message"}, "fields": {"field": {"code", "message"}}}``
for wrong fields (every error answer has a stable ``code`` and its words in the request's
language: web/errors.py), 403 for a role or a
site outside the token's scope, 404, 409 for a uniqueness conflict (or a record still in use),
412 when ``If-Match`` names a version that is no longer current, 428 when a PUT, PATCH or
DELETE comes without ``If-Match`` (RFC 6585: an update must say which version it changes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Response, current_app, g, request, session

from sqlalchemy.exc import OperationalError

from sitescout.inventory.db import ConflictError
from sitescout.inventory.editing import MAX_ID, InvalidFields, StaleError
from sitescout.inventory.models import ValidationError
from sitescout.web.errors import API_WORDS, WebError, api_error, coded, field_body, json_response
from sitescout.web.security import token_sites
from sitescout.web.storage import commit_session, discard_session

__all__ = [
    "json_answer", "error", "field_errors", "json_body", "Page", "page", "paged", "etag_of", "set_etag",
    "if_match_version", "PreconditionFailed", "actor", "in_scope", "scope", "operation", "BadQuery", "query_int",
    "MAX_PAGE", "DEFAULT_PAGE", "SITES_CACHE_KEY", "forget_sites", "write",
    "Refused", "check_scope",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Most rows one page holds, and how many when ``?limit=`` is not given.
MAX_PAGE = 500
DEFAULT_PAGE = 100


#: Where the app keeps the cached site collections of GET /api/v1/sites.
SITES_CACHE_KEY = "sitescout_sites_cache"


def forget_sites() -> None:
    """Drop the cached site collections (after a write through this app)."""
    current_app.extensions.setdefault(SITES_CACHE_KEY, {}).clear()


json_answer = json_response  # the one JSON writer (web/errors.py)


def error(status: int, message: str | None = None, **params: Any) -> Response:
    """Return ``{"error", "code", "message"}`` with `status`, in the request's language.

    `message` is a code of ``web.errors.API_WORDS`` (with `params`), a Coded message, or a plain
    sentence (looked up in the catalogue; the status's code then); None: the status's own words.
    """
    return api_error(status, message, **params)


def field_errors(errors: dict[str, str]) -> Response:
    """Return a 400 naming each wrong field (``errors`` and ``fields``: see web.errors.field_body)."""
    return json_answer(field_body(errors), 400)


class BadQuery(WebError, ValueError):
    """A query argument that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def json_body() -> Any:
    """Return the request's JSON body; BadQuery("body", …) when it is not JSON."""
    if not request.is_json:
        raise BadQuery("body", coded("not_json"))
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise BadQuery("body", coded("too_deep")) from None
    if data is None:
        raise BadQuery("body", coded("bad_json"))
    return data


def query_int(name: str, *, least: int = 0, most: int = MAX_ID) -> int | None:
    """Return query argument `name` as a whole number in least..most, None when absent; BadQuery otherwise."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if not re.fullmatch(r"[0-9]{1,19}", text) or not least <= int(text) <= most:
        raise BadQuery(name, coded("whole_number", least=least, most=most))
    return int(text)


class Page:
    """Where one page of a listing starts and how long it is (None: everything, for the older listings)."""

    def __init__(self, offset: int, limit: int | None) -> None:
        self.offset = offset
        self.limit = limit


def page(*, default: int | None = DEFAULT_PAGE) -> Page:
    """Return the page asked for by ``?offset=`` and ``?limit=`` (1..MAX_PAGE); BadQuery when out of range."""
    return Page(query_int("offset") or 0, query_int("limit", least=1, most=MAX_PAGE) or default)


def _page_url(offset: int, limit: int) -> str:
    args = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}
    args.update(offset=str(offset), limit=str(limit))
    return f"{request.path}?{urlencode(args)}"


def paged(name: str, items: list[Any], total: int, where: Page) -> Response:
    """Return a listing: ``{name: [...], "total", "offset", "limit", "next"}`` plus a ``Link`` header (RFC 8288)."""
    body: dict[str, Any] = {name: items, "total": total, "offset": where.offset, "limit": where.limit, "next": None}
    links = []
    if where.limit is not None:
        if where.offset + where.limit < total:
            body["next"] = _page_url(where.offset + where.limit, where.limit)
            links.append(f'<{body["next"]}>; rel="next"')
        if where.offset > 0:
            links.append(f'<{_page_url(max(0, where.offset - where.limit), where.limit)}>; rel="prev"')
    response = json_answer(body)
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def etag_of(version: int) -> str:
    """Return the (strong) entity tag of a record's version, without quotes."""
    return f"v{version}"


def set_etag(response: Response, version: int) -> Response:
    """Put the record's version in the answer's ETag."""
    response.set_etag(etag_of(version))
    return response


class PreconditionFailed(WebError):
    """If-Match is missing (428) or names no current version (412)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


_TAG = re.compile(r'\s*(?:W/)?"v([0-9]{1,18})"\s*')


def if_match_version(current: int) -> int | None:
    """Return the version If-Match names (None for ``*``); PreconditionFailed when missing or stale.

    A list of tags matches when one of them is the current version (RFC 9110 section 13.1.1).
    """
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise PreconditionFailed(428, coded("precondition_required"))
    if header.strip() == "*":
        return None
    versions = [int(m.group(1)) for part in header.split(",") if (m := _TAG.fullmatch(part))]
    if current in versions:
        return current
    raise PreconditionFailed(412, coded("stale_etag", etag=etag_of(current)))


def actor() -> str:
    """Return who makes this request, as the change log names them: ``token:ID`` or ``user:NAME``."""
    grant = g.get("api_grant")
    if grant is not None:
        return f"token:{grant.token_id} ({grant.role})"
    username = session.get("username")
    return f"user:{username}" if username else "unknown"


def scope() -> frozenset[int] | None:
    """Return the site ids this request may see and change (None: every site)."""
    return token_sites()


def in_scope(site_id: int | None) -> bool:
    """Return whether this request may see or change records of `site_id`."""
    sites = scope()
    return sites is None or (site_id is not None and site_id in sites)


def operation(**spec: Any) -> Callable[[F], F]:
    """Describe a view for the OpenAPI document (web.openapi): summary, body, responses, parameters, tags.

    Put it below the route decorator: the description travels with the view that is registered.
    """

    def decorator(view: F) -> F:
        view.openapi = spec  # type: ignore[attr-defined]
        return view

    return decorator


def _field_of(err: ValidationError) -> str:
    # The models name some fields for people ("site name"); the API names the JSON field.
    return "name" if err.field.endswith(" name") else err.field


def write(action: Callable[[], Response]) -> Response:
    """Run one write and commit it; map each refusal to its status code, leaving nothing half done."""
    try:
        response = action()
        commit_session()
    except InvalidFields as err:
        discard_session()
        return field_errors(err.errors)
    except BadQuery as err:
        discard_session()
        return field_errors({err.field: str(err)})
    except ValidationError as err:
        discard_session()
        return field_errors({_field_of(err): err.message})
    except PreconditionFailed as err:
        discard_session()
        return error(err.status, str(err))
    except StaleError as err:
        discard_session()
        return error(412, str(err))
    except ConflictError as err:
        discard_session()
        return error(409, str(err))
    except Refused as err:
        discard_session()
        return error(err.status, str(err))
    except OperationalError:
        # SQLite's "database is locked" (another writer won): the app answers 503 (web._locked).  Roll
        # back here, or the teardown's commit of the failed transaction turned that 503 into a 500.
        discard_session()
        raise
    forget_sites()
    return response


class Refused(WebError):
    """A request refused with a status and a message (403 outside the scope, 404, 409…).

    `message` is best a code of ``web.errors.API_WORDS`` (with `params`): the answer says it in the
    request's language; a plain sentence is kept as it is (with the status's code).
    """

    def __init__(self, status: int, message: str, **params: Any) -> None:
        self.status = status
        super().__init__(coded(message, **params) if params or _is_code(message) else message)


def _is_code(message: str) -> bool:
    return isinstance(message, str) and message in API_WORDS


def check_scope(site_id: int | None) -> None:
    """Refuse (403) a request for a record of a site outside this token's scope."""
    if not in_scope(site_id):
        raise Refused(403, coded("out_of_scope"))
