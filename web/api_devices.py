"""Devices, their camera details and their credentials through the API.

- ``/devices/<id>``: read (ETag), create (``POST /devices``), change (PUT/PATCH with If-Match),
  delete.  The models' rules hold on every write: an IP, a MAC, a lifecycle move, and URIs that
  carry no password and point at the device itself (``sitescout.device_uris``).
- ``/devices/<id>/camera``: the mount and stream facts; PUT creates them (201) or changes them.
- ``/devices/<id>/credentials``: **write-only**.  PUT stores ``{"username", "password"}``
  encrypted (key: ``SITESCOUT_SECRET_KEY`` or ``SITESCOUT_SECRET_KEY_FILE``), DELETE forgets
  them, GET says only ``{"has_credentials": true|false}``.  No answer ever holds the username or
  the password, and the change log records only that a credential was set.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, url_for

from sitescout.inventory import store
from sitescout.inventory.editing import (
    InvalidFields,
    clear_credentials,
    create_record,
    delete_record,
    parse_fields,
    put_camera,
    set_credentials,
    update_record,
)
from sitescout.inventory.models import CameraDetails, Device
from sitescout.inventory.secrets import SecretKeyError, load_key
from sitescout.web.api_common import (
    Refused, actor, check_scope, error, if_match_version, json_answer, json_body, operation, set_etag,
    write,
)
from sitescout.web.api_sites import public_device
from sitescout.web.errors import coded
from sitescout.web.security import EDIT_ROLES, READ_ROLES, token_or_login_required, token_required
from sitescout.web.storage import db_session

__all__ = ["bp", "device_json", "camera_json"]

bp = Blueprint("devices", __name__)

_READ_ERRORS = (401, 403, 404, 503)
_CREATE_ERRORS = (400, 401, 403, 409, 503)
_CHANGE_ERRORS = (400, 401, 403, 404, 409, 412, 428, 503)
_USERNAME_MAX = 200
_PASSWORD_MAX = 1000


def device_json(device: Device) -> dict[str, Any]:
    """Return a device as the listing shows it (health included), with its notes and version; never a secret."""
    summary = next((d for d in store.list_devices(db_session(), site_id=device.site_id) if d.id == device.id), None)
    body: dict[str, Any] = (public_device(summary) if summary is not None
                            else {"id": device.id, "site_id": device.site_id})
    body.update(notes=device.notes, version=device.version, snmp_port=device.snmp_port)
    return body


def camera_json(camera: CameraDetails) -> dict[str, Any]:
    """Return a camera's details (URIs never carry credentials: the model refuses them)."""
    return {"device_id": camera.device_id, "mount_latitude": camera.mount_latitude,
            "mount_longitude": camera.mount_longitude, "height_m": camera.height_m,
            "heading_deg": camera.heading_deg, "hfov_deg": camera.hfov_deg,
            "profiles": list(camera.profiles or []), "stream_uris": list(camera.stream_uris or []),
            "version": camera.version}


def _device_answer(device: Device, status: int = 200) -> Response:
    response = set_etag(json_answer(device_json(device), status), device.version)
    if status == 201:
        response.headers["Location"] = url_for("api.devices.get_device", device_id=device.id)
    return response


def _device(device_id: int, *, lock: bool = False) -> Device:
    device = db_session().get(Device, device_id, with_for_update=lock)
    if device is None:
        raise Refused(404, "no_device", id=device_id)
    check_scope(device.site_id)
    return device


def _read(view: Any) -> Response:
    try:
        return view()
    except Refused as err:
        return error(err.status, str(err))


# --- devices ----------------------------------------------------------------------------------------


@bp.get("/devices/<int:device_id>")
@operation(summary="Read a device (health included, never a secret)", tag="devices", ok=(200, "Device"),
           errors=_READ_ERRORS, etag=True)
@token_or_login_required(READ_ROLES)
def get_device(device_id: int) -> Response:
    """Return one device with its ETag."""
    return _read(lambda: _device_answer(_device(device_id)))


@bp.post("/devices")
@operation(summary="Create a device at a site", tag="devices", body="DeviceWrite", ok=(201, "Device"),
           errors=_CREATE_ERRORS, etag=True, location=True)
@token_required(EDIT_ROLES)
def create_device() -> Response:
    """Create a device → 201 with Location and ETag; 409 for a duplicate name, IP, MAC, serial or endpoint."""
    def run() -> Response:
        fields = parse_fields(db_session(), "device", json_body(), partial=False)
        check_scope(fields["site_id"])
        device = create_record(db_session(), actor(), "device", fields)
        return _device_answer(device, 201)  # type: ignore[arg-type]

    return write(run)


def _change_device(device_id: int, *, partial: bool) -> Response:
    def run() -> Response:
        session = db_session()
        device = _device(device_id, lock=True)
        if_version = if_match_version(device.version)
        fields = parse_fields(session, "device", json_body(), partial=partial)
        if "site_id" in fields:
            check_scope(fields["site_id"])  # moving a device to a site outside the scope is refused too
        update_record(session, actor(), device, fields, if_version=if_version)
        return _device_answer(device)

    return write(run)


@bp.put("/devices/<int:device_id>")
@operation(summary="Replace a device's fields (If-Match required)", tag="devices", body="DeviceWrite",
           ok=(200, "Device"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def replace_device(device_id: int) -> Response:
    """Change a device (every required field sent; the others keep their value)."""
    return _change_device(device_id, partial=False)


@bp.patch("/devices/<int:device_id>")
@operation(summary="Change some of a device's fields (If-Match required)", tag="devices", body="DevicePatch",
           ok=(200, "Device"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def update_device(device_id: int) -> Response:
    """Change the fields sent, if the device is still the version If-Match names."""
    return _change_device(device_id, partial=True)


@bp.delete("/devices/<int:device_id>")
@operation(summary="Delete a device (If-Match required)", tag="devices", ok=(204, None), errors=_CHANGE_ERRORS,
           if_match=True)
@token_required(EDIT_ROLES)
def delete_device(device_id: int) -> Response:
    """Delete a device and its observations → 204 (retiring it, status retired, keeps its history)."""
    def run() -> Response:
        device = _device(device_id, lock=True)
        delete_record(db_session(), actor(), device, if_version=if_match_version(device.version))
        return Response(status=204)

    return write(run)


# --- camera details ---------------------------------------------------------------------------------


def _camera(device_id: int) -> CameraDetails:
    camera = _device(device_id).camera
    if camera is None:
        raise Refused(404, "no_camera", id=device_id)
    return camera


def _camera_answer(camera: CameraDetails, status: int = 200) -> Response:
    response = set_etag(json_answer(camera_json(camera), status), camera.version)
    if status == 201:
        response.headers["Location"] = url_for("api.devices.get_camera", device_id=camera.device_id)
    return response


@bp.get("/devices/<int:device_id>/camera")
@operation(summary="Read a camera's mount and stream details", tag="devices", ok=(200, "Camera"),
           errors=_READ_ERRORS, etag=True)
@token_or_login_required(READ_ROLES)
def get_camera(device_id: int) -> Response:
    """Return a device's camera details with their ETag."""
    return _read(lambda: _camera_answer(_camera(device_id)))


def _put_camera(device_id: int, *, partial: bool) -> Response:
    def run() -> Response:
        session = db_session()
        device = _device(device_id, lock=True)
        if device.camera is None:
            if partial:
                raise Refused(404, "no_camera_yet", id=device_id)
            if_version = None  # nothing to overwrite yet: created
        else:
            if_version = if_match_version(device.camera.version)
        fields = parse_fields(session, "camera", json_body(), partial=partial)
        camera, created = put_camera(session, actor(), device, fields, if_version=if_version)
        return _camera_answer(camera, 201 if created else 200)

    return write(run)


@bp.put("/devices/<int:device_id>/camera")
@operation(summary="Set a camera's details: 201 when created, 200 when changed (If-Match required then)",
           tag="devices", body="CameraWrite", ok=(200, "Camera"), also_ok=(201,), errors=_CHANGE_ERRORS,
           etag=True, if_match=True)
@token_required(EDIT_ROLES)
def put_camera_view(device_id: int) -> Response:
    """Create or change a device's camera details; URIs must point at the device and carry no password."""
    return _put_camera(device_id, partial=False)


@bp.patch("/devices/<int:device_id>/camera")
@operation(summary="Change some of a camera's details (If-Match required)", tag="devices", body="CameraWrite",
           ok=(200, "Camera"), errors=_CHANGE_ERRORS, etag=True, if_match=True)
@token_required(EDIT_ROLES)
def update_camera(device_id: int) -> Response:
    """Change the camera fields sent."""
    return _put_camera(device_id, partial=True)


@bp.delete("/devices/<int:device_id>/camera")
@operation(summary="Delete a camera's details (If-Match required)", tag="devices", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_camera(device_id: int) -> Response:
    """Forget a device's camera details → 204."""
    def run() -> Response:
        camera = _camera(device_id)
        delete_record(db_session(), actor(), camera, if_version=if_match_version(camera.version))
        return Response(status=204)

    return write(run)


# --- credentials (write-only) -----------------------------------------------------------------------


def _credential_key() -> bytes:
    configured = current_app.config.get("CREDENTIAL_KEY")
    try:
        return load_key() if not configured else load_key(environ={"SITESCOUT_SECRET_KEY": str(configured)})
    except SecretKeyError:
        raise Refused(503, "no_credential_key") from None


def _parse_credentials(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise InvalidFields({"body": coded("credentials_body")})
    errors: dict[str, str] = {}
    unknown = sorted(set(body) - {"username", "password"})
    if unknown:
        errors[str(unknown[0])[:100]] = coded("unknown_field")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not 0 < len(username) <= _USERNAME_MAX or "\x00" in username:
        errors["username"] = coded("username_length", most=_USERNAME_MAX)
    if not isinstance(password, str) or len(password) > _PASSWORD_MAX or "\x00" in password:
        errors["password"] = coded("password_length", most=_PASSWORD_MAX)
    if errors:
        raise InvalidFields(errors)
    return str(username), str(password)


@bp.get("/devices/<int:device_id>/credentials")
@operation(summary="Say whether a device has credentials (never what they are)", tag="devices",
           ok=(200, "CredentialState"), errors=_READ_ERRORS)
@token_or_login_required(EDIT_ROLES)
def get_credentials(device_id: int) -> Response:
    """Return ``{"has_credentials": true|false}``, nothing more."""
    return _read(lambda: json_answer({"has_credentials": _device(device_id).credential_encrypted is not None}))


@bp.put("/devices/<int:device_id>/credentials")
@operation(summary="Set a device's login (write-only; If-Match with the device's ETag)", tag="devices",
           body="CredentialWrite", ok=(204, None), errors=(*_CHANGE_ERRORS, 503), if_match=True)
@token_required(EDIT_ROLES)
def put_credentials(device_id: int) -> Response:
    """Store the device's username and password encrypted → 204; they are never returned."""
    def run() -> Response:
        device = _device(device_id, lock=True)
        if_version = if_match_version(device.version)
        username, password = _parse_credentials(json_body())
        set_credentials(db_session(), actor(), device, username, password, key=_credential_key(),
                        if_version=if_version)
        return Response(status=204)

    return write(run)


@bp.delete("/devices/<int:device_id>/credentials")
@operation(summary="Forget a device's login (If-Match with the device's ETag)", tag="devices", ok=(204, None),
           errors=_CHANGE_ERRORS, if_match=True)
@token_required(EDIT_ROLES)
def delete_credentials(device_id: int) -> Response:
    """Forget the device's credentials → 204."""
    def run() -> Response:
        device = _device(device_id, lock=True)
        clear_credentials(db_session(), actor(), device, if_version=if_match_version(device.version))
        return Response(status=204)

    return write(run)

