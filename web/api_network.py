"""A device's interfaces and the cables between them through the API (issue #15; NetBox's dcim interfaces/cables).

- ``/devices/<id>/interfaces``: list (paged) and create (201 + Location + ETag).
- ``/interfaces/<id>``: read (ETag), change (PATCH with If-Match), delete (its cable goes with it).
- ``/cables`` (``?site=``, ``?device=``): list and create; a cable to an interface that already has
  one is a 409 naming that cable.  ``/cables/<id>``: read, delete.

Same rules as every resource (web.api_common): viewers read, editor and admin tokens write, a
token scoped to sites sees and changes only their records (a cable: both ends), every write is
in the change log.  An interface of its sites whose cable goes to another site shows that cable's
id but not its far end, and the token may neither cable that interface again (the 409 would name
the far end) nor delete it (that would delete the other site's cable): 403 (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, url_for
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from sitescout.inventory.editing import parse_fields, update_record
from sitescout.inventory.model_network import Cable, Interface
from sitescout.inventory.models import Device
from sitescout.inventory.network import (
    cable_of, create_cable, create_interface, delete_cable, delete_interface, far_end,
)
from sitescout.web.api_common import (
    BadQuery, Refused, actor, check_scope, error, field_errors, if_match_version, in_scope, json_answer, json_body,
    operation, page, paged, query_int, scope, set_etag, write,
)
from sitescout.web.security import EDIT_ROLES, READ_ROLES, token_or_login_required, token_required
from sitescout.web.storage import db_session

__all__ = ["bp", "interface_json", "cable_json"]

bp = Blueprint("network", __name__)

_READ_ERRORS = (401, 403, 404, 503)
_LIST_ERRORS = (400, 401, 403, 404, 503)
_CREATE_ERRORS = (400, 401, 403, 404, 409, 503)
_CHANGE_ERRORS = (400, 401, 403, 404, 409, 412, 428, 503)


def interface_json(interface: Interface) -> dict[str, Any]:
    """Return an interface with its cable (id and the far end), if it has one."""
    cable = cable_of(db_session(), interface.id)
    peer = None
    far = far_end(cable, interface.id) if cable is not None else None
    if far is not None and in_scope(far.device.site_id):  # another site's device is not named to a scoped token
        peer = {"interface_id": far.id, "name": far.name, "device_id": far.device_id, "device": far.device.name}
    return {"id": interface.id, "device_id": interface.device_id, "name": interface.name,
            "if_index": interface.if_index, "description": interface.description, "kind": interface.kind,
            "speed_bps": interface.speed_bps, "mac": interface.mac, "poe": interface.poe, "uplink": interface.uplink,
            "enabled": interface.enabled, "version": interface.version,
            "cable_id": cable.id if cable is not None else None, "peer": peer}


def _end(interface: Interface) -> dict[str, Any]:
    return {"interface_id": interface.id, "name": interface.name, "device_id": interface.device_id,
            "device": interface.device.name, "site_id": interface.device.site_id}


def cable_json(cable: Cable) -> dict[str, Any]:
    """Return a cable with both ends (interface, device, site)."""
    return {"id": cable.id, "a_interface_id": cable.a_interface_id, "b_interface_id": cable.b_interface_id,
            "status": cable.status, "version": cable.version, "a": _end(cable.a_interface),
            "b": _end(cable.b_interface)}


def _read(view: Any) -> Response:
    try:
        return view()
    except Refused as err:
        return error(err.status, str(err))
    except BadQuery as err:
        return field_errors({err.field: str(err)})


def _device(device_id: int) -> Device:
    device = db_session().get(Device, device_id)
    if device is None:
        raise Refused(404, "no_device", id=device_id)
    check_scope(device.site_id)
    return device


def _interface(interface_id: int, *, lock: bool = False) -> Interface:
    interface = db_session().get(Interface, interface_id, with_for_update=lock)
    if interface is None:
        raise Refused(404, "no_interface", id=interface_id)
    check_scope(interface.device.site_id)
    return interface


def _check_cable_scope(interface: Interface) -> None:
    """Refuse (403) a write through an interface whose cable goes to a site outside this token's scope."""
    cable = cable_of(db_session(), interface.id)
    if cable is not None:
        check_scope(far_end(cable, interface.id).device.site_id)


def _cable(cable_id: int, *, lock: bool = False) -> Cable:
    cable = db_session().get(Cable, cable_id, with_for_update=lock)
    if cable is None:
        raise Refused(404, "no_cable", id=cable_id)
    check_scope(cable.a_interface.device.site_id)
    check_scope(cable.b_interface.device.site_id)
    return cable


def _interface_answer(interface: Interface, status: int = 200) -> Response:
    response = set_etag(json_answer(interface_json(interface), status), interface.version)
    if status == 201:
        response.headers["Location"] = url_for("api.network.get_interface", interface_id=interface.id)
    return response


def _cable_answer(cable: Cable, status: int = 200) -> Response:
    response = set_etag(json_answer(cable_json(cable), status), cable.version)
    if status == 201:
        response.headers["Location"] = url_for("api.network.get_cable", cable_id=cable.id)
    return response


# --- interfaces -------------------------------------------------------------------------------------


@bp.get("/devices/<int:device_id>/interfaces")
@operation(summary="List a device's interfaces (ports), each with its cable", tag="network",
           ok=(200, "InterfaceList"), errors=_LIST_ERRORS, query=("limit", "offset"))
@token_or_login_required(READ_ROLES)
def list_interfaces(device_id: int) -> Response:
    """Return one page of a device's interfaces, by name."""
    def run() -> Response:
        device = _device(device_id)
        where = page()
        session = db_session()
        stmt = select(Interface).where(Interface.device_id == device.id)
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = session.scalars(stmt.order_by(Interface.name, Interface.id).offset(where.offset).limit(where.limit))
        return paged("interfaces", [interface_json(i) for i in rows], total, where)

    return _read(run)


@bp.post("/devices/<int:device_id>/interfaces")
@operation(summary="Add an interface to a device", tag="network", body="InterfaceWrite", ok=(201, "Interface"),
           errors=_CREATE_ERRORS, etag=True, location=True)
@token_required(EDIT_ROLES)
def create_interface_view(device_id: int) -> Response:
    """Create an interface → 201 with Location and ETag; 409 when the device has one of that name."""
    def run() -> Response:
        device = _device(device_id)
        fields = parse_fields(db_session(), "interface", json_body(), partial=False)
        return _interface_answer(create_interface(db_session(), actor(), device, fields), 201)

    return write(run)


@bp.get("/interfaces/<int:interface_id>")
@operation(summary="Read an interface (with its cable)", tag="network", ok=(200, "Interface"), errors=_READ_ERRORS,
           etag=True)
@token_or_login_required(READ_ROLES)
def get_interface(interface_id: int) -> Response:
    """Return one interface with its ETag."""
    return _read(lambda: _interface_answer(_interface(interface_id)))


@bp.patch("/interfaces/<int:interface_id>")
@operation(summary="Change some of an interface's fields (If-Match required)", tag="network",
           body="InterfacePatch", ok=(200, "Interface"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def update_interface(interface_id: int) -> Response:
    """Change the fields sent (uplink, poe, speed…), if the interface is still the version If-Match names."""
    def run() -> Response:
        interface = _interface(interface_id, lock=True)
        if_version = if_match_version(interface.version)
        fields = parse_fields(db_session(), "interface", json_body(), partial=True)
        update_record(db_session(), actor(), interface, fields, if_version=if_version)
        return _interface_answer(interface)

    return write(run)


@bp.delete("/interfaces/<int:interface_id>")
@operation(summary="Delete an interface and its cable (If-Match required)", tag="network", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_interface_view(interface_id: int) -> Response:
    """Delete an interface → 204; its cable is deleted too (both in the change log)."""
    def run() -> Response:
        interface = _interface(interface_id, lock=True)
        _check_cable_scope(interface)  # deleting it deletes its cable: both ends must be in scope
        delete_interface(db_session(), actor(), interface, if_version=if_match_version(interface.version))
        return Response(status=204)

    return write(run)


# --- cables -----------------------------------------------------------------------------------------


def _cables_query() -> Any:
    """The cables this request may see, filtered by ?site= (either end) and ?device= (either end)."""
    a_if, b_if = aliased(Interface), aliased(Interface)
    a_dev, b_dev = aliased(Device), aliased(Device)
    stmt = (select(Cable).join(a_if, a_if.id == Cable.a_interface_id).join(b_if, b_if.id == Cable.b_interface_id)
            .join(a_dev, a_dev.id == a_if.device_id).join(b_dev, b_dev.id == b_if.device_id))
    site, device = query_int("site", least=1), query_int("device", least=1)
    if site is not None:
        stmt = stmt.where(or_(a_dev.site_id == site, b_dev.site_id == site))
    if device is not None:
        stmt = stmt.where(or_(a_dev.id == device, b_dev.id == device))
    sites = scope()
    if sites is not None:
        allowed = sorted(sites)
        stmt = stmt.where(and_(a_dev.site_id.in_(allowed), b_dev.site_id.in_(allowed)))
    return stmt


@bp.get("/cables")
@operation(summary="List cables (?site=, ?device=: either end)", tag="network", ok=(200, "CableList"),
           errors=(400, 401, 403, 503), query=("site", "device", "limit", "offset"))
@token_or_login_required(READ_ROLES)
def list_cables() -> Response:
    """Return one page of cables, oldest first."""
    def run() -> Response:
        stmt = _cables_query()
        where = page()
        session = db_session()
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = session.scalars(stmt.order_by(Cable.id).offset(where.offset).limit(where.limit))
        return paged("cables", [cable_json(c) for c in rows], total, where)

    return _read(run)


@bp.post("/cables")
@operation(summary="Cable two interfaces (409 when either already has a cable)", tag="network", body="CableWrite",
           ok=(201, "Cable"), errors=_CREATE_ERRORS, etag=True, location=True)
@token_required(EDIT_ROLES)
def create_cable_view() -> Response:
    """Create a cable → 201 with Location and ETag; 409 naming the cable an end already has."""
    def run() -> Response:
        session = db_session()
        fields = parse_fields(session, "cable", json_body(), partial=False)
        for key in ("a_interface_id", "b_interface_id"):
            _check_cable_scope(_interface(fields[key]))  # both ends, and any cable they have, inside the scope
        return _cable_answer(create_cable(session, actor(), fields), 201)

    return write(run)


@bp.get("/cables/<int:cable_id>")
@operation(summary="Read a cable", tag="network", ok=(200, "Cable"), errors=_READ_ERRORS, etag=True)
@token_or_login_required(READ_ROLES)
def get_cable(cable_id: int) -> Response:
    """Return one cable with its ETag."""
    return _read(lambda: _cable_answer(_cable(cable_id)))


@bp.delete("/cables/<int:cable_id>")
@operation(summary="Delete a cable (If-Match required)", tag="network", ok=(204, None), errors=_CHANGE_ERRORS,
           if_match=True)
@token_required(EDIT_ROLES)
def delete_cable_view(cable_id: int) -> Response:
    """Delete a cable → 204 (its interfaces stay)."""
    def run() -> Response:
        cable = _cable(cable_id, lock=True)
        delete_cable(db_session(), actor(), cable, if_version=if_match_version(cable.version))
        return Response(status=204)

    return write(run)
