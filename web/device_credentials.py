"""Setting or forgetting a camera's login from the device page (editors and admins).

The form is write-only: the username and password fields are never filled in, the answer never
echoes them, and the page says only whether a login is set.  The login is stored encrypted
(``inventory.editing.set_credentials``) with the server's key (``SITESCOUT_SECRET_KEY`` /
``SITESCOUT_SECRET_KEY_FILE``, or the app's ``CREDENTIAL_KEY``); the change log records that it
was set, never what it is.  Without a key the form says so and nothing is stored (the API
answers 503 then).  The form carries the device's version: a save after someone else changed
the device is refused, as the API refuses a stale ``If-Match``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from sitescout.inventory.editing import StaleError, clear_credentials, set_credentials
from sitescout.inventory.models import Device
from sitescout.inventory.secrets import SecretKeyError, load_key
from sitescout.web.security import EDIT_ROLES, login_required
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.workflow_api import actor_name

__all__ = ["bp", "credential_key"]

log = logging.getLogger(__name__)

bp = Blueprint("credentials", __name__)

#: The same limits as the API's credentials resource.
USERNAME_MAX = 200
PASSWORD_MAX = 1000


def credential_key() -> bytes | None:
    """Return the key camera logins are encrypted with, or None when this server has none."""
    configured = current_app.config.get("CREDENTIAL_KEY")
    try:
        return load_key() if not configured else load_key(environ={"SITESCOUT_SECRET_KEY": str(configured)})
    except SecretKeyError:
        return None


def _back(device_id: int) -> Response:
    return redirect(url_for("edit.edit_device", device_id=device_id) + "#credentials")  # type: ignore[return-value]


def _version() -> int:
    return request.form.get("device_version", type=int) or 0  # none sent: never the current version


@bp.post("/devices/<int:device_id>/credentials")
@login_required(EDIT_ROLES)
def set_from_form(device_id: int) -> Response:
    """Store the login typed in the form (action=set), or forget the device's login (action=clear)."""
    device = db_session().get(Device, device_id)
    if device is None:
        abort(404, description=_("No device has this number."))
    clearing = request.form.get("action") == "clear"
    username, password = request.form.get("username", ""), request.form.get("password", "")
    key = credential_key()
    if not clearing and key is None:
        flash(_("This server keeps no camera logins: set SITESCOUT_SECRET_KEY or SITESCOUT_SECRET_KEY_FILE "
                "and restart it."), "error")
        return _back(device_id)
    if not clearing and (not 0 < len(username) <= USERNAME_MAX or len(password) > PASSWORD_MAX
                         or "\x00" in username + password):
        flash(_("Give a user name (at most %(u)d characters) and a password (at most %(p)d).",
                u=USERNAME_MAX, p=PASSWORD_MAX), "error")
        return _back(device_id)
    try:
        if clearing:
            clear_credentials(db_session(), actor_name(), device, if_version=_version())
        else:
            assert key is not None
            set_credentials(db_session(), actor_name(), device, username, password, key=key,
                            if_version=_version())
        commit_session()
    except StaleError:
        discard_session()
        flash(_("Someone changed this device since you opened the page. Reload it and try again."), "error")
        return _back(device_id)
    log.info("device %d: login %s by %s", device_id, "forgotten" if clearing else "set", actor_name())
    flash(_("Camera login forgotten.") if clearing else _("Camera login saved."), "info")
    return _back(device_id)
