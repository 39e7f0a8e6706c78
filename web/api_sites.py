"""Sites through the API: one site as a GeoJSON Feature (with its ETag), and creating, changing, deleting one.

``GET /api/v1/sites`` and ``GET /api/v1/sites/<id>`` stay in `web.api` (their contract is the
brief's); the writes are here: ``POST /api/v1/sites`` → 201 with ``Location`` and ``ETag``,
``PUT``/``PATCH /api/v1/sites/<id>`` with ``If-Match``, ``DELETE`` (409 while it has devices:
retire it instead).  A token scoped to sites may change only those sites and create none.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Response, url_for

from sitescout.inventory import store
from sitescout.inventory.editing import create_record, delete_record, parse_fields, update_record
from sitescout.inventory.models import Site
from sitescout.inventory.records import DeviceSummary, SiteSummary
from sitescout.web.api_common import (
    Refused, actor, check_scope, error, if_match_version, json_answer, json_body, operation, scope, set_etag, write,
)
from sitescout.web.health_words import describe
from sitescout.web.security import EDIT_ROLES, token_required
from sitescout.web.storage import db_session

__all__ = ["bp", "site_feature", "site_path", "site_answer", "public_device"]

bp = Blueprint("site_edit", __name__)

#: Never in an API answer, whatever the inventory's records grow to hold.
SECRET_FIELDS = frozenset({"credential", "credential_encrypted", "password", "password_hash", "token_hash"})


def site_path() -> str:
    """Return the path of the site pages, without the id."""
    return url_for("sites.show_site", site_id=0).removesuffix("0")


def site_feature(site: SiteSummary, site_path: str) -> dict[str, Any]:
    """Return a site as a GeoJSON Feature (geometry null when it has no coordinates)."""
    geometry = None
    if site.latitude is not None and site.longitude is not None:
        geometry = {"type": "Point", "coordinates": [site.longitude, site.latitude]}
    return {
        "type": "Feature", "id": site.id, "geometry": geometry,
        "properties": {
            "id": site.id, "name": site.name, "kind": site.kind, "status": site.status,
            "commune": site.commune, "region": site.region, "is_demo": site.is_demo, "health": site.health,
            "device_count": site.device_count, "problem_count": site.problem_count,
            "warning_count": site.warning_count, "url": f"{site_path}{site.id}",
        },
    }


def public_device(device: DeviceSummary) -> dict[str, Any]:
    """Return a device's JSON form without any secret (only ``has_credential``)."""
    return {k: v for k, v in device.to_dict().items() if k not in SECRET_FIELDS}


def site_answer(site_id: int, status: int = 200) -> Response:
    """Return one site as a GeoJSON Feature with its devices, surveys, candidates, findings and ETag."""
    session = db_session()
    detail = store.get_site(session, site_id)
    row = session.get(Site, site_id)
    if detail is None or row is None:
        return error(404, "no_site", id=site_id)
    if not scope_allows(site_id):
        return error(403, "out_of_scope")
    feature = site_feature(detail.site, site_path())
    feature["properties"].update(
        address=detail.address, contact=detail.contact, commune_id=row.commune_id, version=row.version,
        devices=[{**public_device(d), "reasons": describe(d.to_dict()["reasons"])} for d in detail.devices],
        surveys=[s.to_dict() for s in detail.surveys],
        candidates=[c.to_dict() for c in detail.candidates],
        findings=[f.to_dict() for f in detail.findings])
    response = set_etag(json_answer(feature, status, mimetype="application/geo+json"), row.version)
    if status == 201:
        response.headers["Location"] = url_for("api.get_site", site_id=site_id)
    return response


def scope_allows(site_id: int) -> bool:
    """Return whether this request's token may see the site."""
    sites = scope()
    return sites is None or site_id in sites


_SITE_ERRORS = (400, 401, 403, 409, 503)


@bp.post("/sites")
@operation(summary="Create a site", tag="sites", body="SiteWrite", ok=(201, "SiteFeature"), errors=_SITE_ERRORS,
           etag=True, location=True, mimetype="application/geo+json")
@token_required(EDIT_ROLES)
def create_site() -> Response:
    """Create a site (in a commune) → 201, Location and ETag; 409 when the commune has a site of that name."""
    def run() -> Response:
        if scope() is not None:
            raise Refused(403, "scoped_site_create")
        fields = parse_fields(db_session(), "site", json_body(), partial=False)
        site = cast(Site, create_record(db_session(), actor(), "site", fields))  # the "site" resource is a Site
        return site_answer(site.id, 201)  # read in the same transaction, which then commits

    return write(run)


def _change_site(site_id: int, *, partial: bool) -> Response:
    def run() -> Response:
        session = db_session()
        site = session.get(Site, site_id, with_for_update=True)
        if site is None:
            raise Refused(404, "no_site", id=site_id)
        check_scope(site_id)
        if_version = if_match_version(site.version)
        fields = parse_fields(session, "site", json_body(), partial=partial)
        update_record(session, actor(), site, fields, if_version=if_version)
        return site_answer(site_id)

    return write(run)


_CHANGE_ERRORS = (400, 401, 403, 404, 409, 412, 428, 503)


@bp.put("/sites/<int:site_id>")
@operation(summary="Replace a site's fields (If-Match required)", tag="sites", body="SiteWrite",
           ok=(200, "SiteFeature"), errors=_CHANGE_ERRORS, etag=True, if_match=True,
           mimetype="application/geo+json")
@token_required(EDIT_ROLES)
def replace_site(site_id: int) -> Response:
    """Change a site: the required fields must all be sent; fields left out keep their value."""
    return _change_site(site_id, partial=False)


@bp.patch("/sites/<int:site_id>")
@operation(summary="Change some of a site's fields (If-Match required)", tag="sites", body="SitePatch",
           ok=(200, "SiteFeature"), errors=_CHANGE_ERRORS, etag=True, if_match=True,
           mimetype="application/geo+json")
@token_required(EDIT_ROLES)
def update_site(site_id: int) -> Response:
    """Change the fields sent, if the site is still the version If-Match names."""
    return _change_site(site_id, partial=True)


@bp.delete("/sites/<int:site_id>")
@operation(summary="Delete a site without devices (If-Match required)", tag="sites", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_site(site_id: int) -> Response:
    """Delete a site → 204; 409 while it has devices (retire it instead: status retired)."""
    def run() -> Response:
        session = db_session()
        site = session.get(Site, site_id, with_for_update=True)
        if site is None:
            raise Refused(404, "no_site", id=site_id)
        check_scope(site_id)
        delete_record(session, actor(), site, if_version=if_match_version(site.version))
        return Response(status=204)

    return write(run)
