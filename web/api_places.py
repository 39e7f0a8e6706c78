"""Regions and communes through the API: list (paged, ?q= without diacritics), read, create, change, delete.

A region or commune is shared by every site under it, so a token scoped to some sites may read
them but not change them (403).  Deleting one that still holds communes or sites is a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitescout.inventory.editing import create_record, delete_record, parse_fields, update_record
from sitescout.inventory.models import Base, Commune, Region, Site
from sitescout.inventory.search import LIKE_ESCAPE, contains_pattern
from sitescout.web.api_common import (
    BadQuery, Refused, actor, error, field_errors, if_match_version, json_answer, json_body, operation, page,
    paged, query_int, scope, set_etag, write,
)
from sitescout.web.security import EDIT_ROLES, READ_ROLES, token_or_login_required, token_required
from sitescout.web.storage import db_session
from sitescout.web.validate import search_query

__all__ = ["bp", "region_json", "commune_json"]

bp = Blueprint("places", __name__)

_LIST_ERRORS = (400, 401, 403, 404, 503)
_READ_ERRORS = (401, 403, 404, 503)
_CREATE_ERRORS = (400, 401, 403, 409, 503)
_CHANGE_ERRORS = (400, 401, 403, 404, 409, 412, 428, 503)


def region_json(session: Session, region: Region) -> dict[str, Any]:
    """Return a region's JSON form (with how many communes it has)."""
    communes = session.scalar(select(func.count()).where(Commune.region_id == region.id)) or 0
    return {"id": region.id, "name": region.name, "commune_count": int(communes), "version": region.version}


def commune_json(session: Session, commune: Commune) -> dict[str, Any]:
    """Return a commune's JSON form (with its region's name and how many sites it has)."""
    sites = session.scalar(select(func.count()).where(Site.commune_id == commune.id)) or 0
    return {"id": commune.id, "region_id": commune.region_id, "region": commune.region.name, "name": commune.name,
            "is_demo": bool(commune.is_demo), "site_count": int(sites), "version": commune.version}


# kind -> (model, its JSON form, the endpoint that reads one, that endpoint's id argument)
_SHAPES: dict[str, tuple[type[Region] | type[Commune], Callable[[Session, Any], dict[str, Any]], str, str]] = {
    "region": (Region, region_json, "api.places.get_region", "region_id"),
    "commune": (Commune, commune_json, "api.places.get_commune", "commune_id")}


def _answer(kind: str, obj: Base, status: int = 200) -> Response:
    _model, shape, endpoint, arg = _SHAPES[kind]
    response = set_etag(json_answer(shape(db_session(), obj), status), obj.version)  # type: ignore[attr-defined]
    if status == 201:
        response.headers["Location"] = url_for(endpoint, **{arg: obj.id})  # type: ignore[attr-defined]
    return response


def _listing(kind: str, stmt: Any, name_column: Any) -> Response:
    try:
        where = page()
    except BadQuery as err:
        return field_errors({err.field: str(err)})
    query = search_query()
    if query:
        stmt = stmt.where(name_column.like(contains_pattern(query), escape=LIKE_ESCAPE))
    session = db_session()
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.scalars(stmt.order_by(name_column, _SHAPES[kind][0].id).offset(where.offset).limit(where.limit))
    shape = _SHAPES[kind][1]
    return paged(f"{kind}s", [shape(session, r) for r in rows], total, where)


def _refuse_scoped() -> None:
    if scope() is not None:
        raise Refused(403, "scoped_places")


def _create(kind: str) -> Response:
    def run() -> Response:
        _refuse_scoped()
        fields = parse_fields(db_session(), kind, json_body(), partial=False)
        return _answer(kind, create_record(db_session(), actor(), kind, fields), 201)

    return write(run)


def _change(kind: str, obj_id: int, *, partial: bool) -> Response:
    def run() -> Response:
        session = db_session()
        obj = session.get(_SHAPES[kind][0], obj_id, with_for_update=True)
        if obj is None:
            raise Refused(404, f"no_{kind}", id=obj_id)
        _refuse_scoped()
        if_version = if_match_version(obj.version)  # type: ignore[attr-defined]
        fields = parse_fields(session, kind, json_body(), partial=partial)
        return _answer(kind, update_record(session, actor(), obj, fields, if_version=if_version))

    return write(run)


def _delete(kind: str, obj_id: int) -> Response:
    def run() -> Response:
        session = db_session()
        obj = session.get(_SHAPES[kind][0], obj_id, with_for_update=True)
        if obj is None:
            raise Refused(404, f"no_{kind}", id=obj_id)
        _refuse_scoped()
        delete_record(session, actor(), obj, if_version=if_match_version(obj.version))  # type: ignore[attr-defined]
        return Response(status=204)

    return write(run)


def _get(kind: str, obj_id: int) -> Response:
    obj = db_session().get(_SHAPES[kind][0], obj_id)
    if obj is None:
        return error(404, f"no_{kind}", id=obj_id)
    return _answer(kind, obj)


# --- regions ---------------------------------------------------------------------------------------


@bp.get("/regions")
@operation(summary="List regions (?q= ignores case and diacritics)", tag="places", ok=(200, "RegionList"),
           query=("q", "limit", "offset"), errors=_LIST_ERRORS)
@token_or_login_required(READ_ROLES)
def list_regions() -> Response:
    """Return one page of regions by name."""
    return _listing("region", select(Region), Region.name_folded)


@bp.post("/regions")
@operation(summary="Create a region", tag="places", body="RegionWrite", ok=(201, "Region"), errors=_CREATE_ERRORS,
           etag=True, location=True)
@token_required(EDIT_ROLES)
def create_region() -> Response:
    """Create a region → 201 with Location and ETag; 409 when the name is taken."""
    return _create("region")


@bp.get("/regions/<int:region_id>")
@operation(summary="Read a region", tag="places", ok=(200, "Region"), errors=_READ_ERRORS, etag=True)
@token_or_login_required(READ_ROLES)
def get_region(region_id: int) -> Response:
    """Return one region with its ETag."""
    return _get("region", region_id)


@bp.put("/regions/<int:region_id>")
@operation(summary="Replace a region's fields (If-Match required)", tag="places", body="RegionWrite",
           ok=(200, "Region"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def replace_region(region_id: int) -> Response:
    """Rename a region (every required field sent)."""
    return _change("region", region_id, partial=False)


@bp.patch("/regions/<int:region_id>")
@operation(summary="Change a region (If-Match required)", tag="places", body="RegionPatch", ok=(200, "Region"),
           errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def update_region(region_id: int) -> Response:
    """Change the fields sent."""
    return _change("region", region_id, partial=True)


@bp.delete("/regions/<int:region_id>")
@operation(summary="Delete a region without communes (If-Match required)", tag="places", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_region(region_id: int) -> Response:
    """Delete a region → 204; 409 while it has communes."""
    return _delete("region", region_id)


# --- communes --------------------------------------------------------------------------------------


@bp.get("/communes")
@operation(summary="List communes (?region=, ?q= ignores case and diacritics)", tag="places", ok=(200, "CommuneList"),
           query=("region", "q", "limit", "offset"), errors=_LIST_ERRORS)
@token_or_login_required(READ_ROLES)
def list_communes() -> Response:
    """Return one page of communes by name, of one region with ?region=."""
    try:
        region = query_int("region")
    except BadQuery as err:
        return field_errors({err.field: str(err)})
    stmt = select(Commune)
    if region is not None:
        stmt = stmt.where(Commune.region_id == region)
    return _listing("commune", stmt, Commune.name_folded)


@bp.post("/communes")
@operation(summary="Create a commune in a region", tag="places", body="CommuneWrite", ok=(201, "Commune"),
           errors=_CREATE_ERRORS, etag=True, location=True)
@token_required(EDIT_ROLES)
def create_commune() -> Response:
    """Create a commune → 201 with Location and ETag; 409 when its region has one of that name."""
    return _create("commune")


@bp.get("/communes/<int:commune_id>")
@operation(summary="Read a commune", tag="places", ok=(200, "Commune"), errors=_READ_ERRORS, etag=True)
@token_or_login_required(READ_ROLES)
def get_commune(commune_id: int) -> Response:
    """Return one commune with its ETag."""
    return _get("commune", commune_id)


@bp.put("/communes/<int:commune_id>")
@operation(summary="Replace a commune's fields (If-Match required)", tag="places", body="CommuneWrite",
           ok=(200, "Commune"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def replace_commune(commune_id: int) -> Response:
    """Change a commune (every required field sent)."""
    return _change("commune", commune_id, partial=False)


@bp.patch("/communes/<int:commune_id>")
@operation(summary="Change a commune (If-Match required)", tag="places", body="CommunePatch", ok=(200, "Commune"),
           errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def update_commune(commune_id: int) -> Response:
    """Change the fields sent."""
    return _change("commune", commune_id, partial=True)


@bp.delete("/communes/<int:commune_id>")
@operation(summary="Delete a commune without sites (If-Match required)", tag="places", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_commune(commune_id: int) -> Response:
    """Delete a commune → 204; 409 while it has sites."""
    return _delete("commune", commune_id)
