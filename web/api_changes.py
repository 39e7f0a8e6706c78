"""The change log through the API: ``GET /api/v1/changes`` (editors and admins), newest first, paged.

Filters: ``?object=device`` or ``?object=device:12`` (a type, or one record), ``?site=ID`` (the
site and everything filed under it), ``?since=ISO 8601``.  A token scoped to sites sees those
sites' changes only.  No entry holds a secret (``inventory.changes``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from sitescout.inventory.changes import list_changes
from sitescout.inventory.editing import MAX_ID
from sitescout.web.api_common import BadQuery, field_errors, operation, page, paged, query_int, scope
from sitescout.web.errors import coded
from sitescout.web.security import EDIT_ROLES, token_or_login_required
from sitescout.web.storage import db_session

__all__ = ["bp"]

bp = Blueprint("changes", __name__)

_OBJECT = re.compile(r"([a-z_]{1,40})(?::([0-9]{1,19}))?")


def _object() -> tuple[str | None, int | None]:
    text = request.args.get("object") or ""
    if not text:
        return None, None
    match = _OBJECT.fullmatch(text)
    if match is None or (match.group(2) is not None and int(match.group(2)) > MAX_ID):
        raise BadQuery("object", coded("change_object"))
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _since() -> datetime | None:
    text = request.args.get("since") or ""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadQuery("since", coded("iso_time")) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@bp.get("/changes")
@operation(summary="List changes, newest first (who, when, which record, before and after)", tag="changes",
           ok=(200, "ChangeList"), query=("object", "site", "since", "limit", "offset"), errors=(400, 401, 403, 503))
@token_or_login_required(EDIT_ROLES)
def list_changes_view() -> Response:
    """Return one page of the change log, filtered by ?object=, ?site=, ?since=."""
    try:
        object_type, object_id = _object()
        site_id = query_int("site")
        since = _since()
        where = page()
    except BadQuery as err:
        return field_errors({err.field: str(err)})
    rows, total = list_changes(db_session(), object_type=object_type, object_id=object_id, site_id=site_id,
                               sites=scope(), since=since, offset=where.offset, limit=where.limit or 100)
    return paged("changes", [r.to_dict() for r in rows], total, where)
