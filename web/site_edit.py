"""The editor's forms: create a site (from the map), edit or move a site, edit a device, decide findings and merges.

Every view here is for editors and admins (``login_required(EDIT_ROLES)``), every POST carries
the session's CSRF token (``web.security``), and every edit form carries the ``version`` of the
record it was filled from: a save over someone else's change is refused (409) and the form shown
again with the current values.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from sitescout.inventory import site_forms as editing
from sitescout.inventory.candidates import merge_candidate
from sitescout.inventory.choices import ALLOWED_TRANSITIONS, DeviceKind, SiteKind, Status
from sitescout.inventory.db import ConflictError, conflict_message
from sitescout.inventory.models import Candidate, Device, Site, ValidationError
from sitescout.inventory.workflow import (
    FindingStateError, apply_site_finding, apply_survey_findings, dismiss_site_finding, log_change,
)
from sitescout.web.api import forget_sites
from sitescout.web.device_credentials import credential_key
from sitescout.web.errors import api_error, coded, say
from sitescout.web.history import device_history
from sitescout.web.security import EDIT_ROLES, login_required
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.workflow_api import actor_name

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("edit", __name__)


class _FormErrors(ValueError):
    """Fields of a form that cannot be read, each with its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _text(name: str, limit: int = 200) -> str:
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        raise _FormErrors({name: _("At most %(n)d characters.", n=limit)})
    return value


def _coordinate(name: str, bound: float) -> float | None:
    raw = request.form.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _FormErrors({name: _("Write a number in degrees, e.g. 21.71.")}) from None
    if not math.isfinite(value) or abs(value) > bound:
        raise _FormErrors({name: _("Out of range (±%(bound)d degrees).", bound=int(bound))})
    return value


def _site_form() -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, read in (("name", lambda: _text("name")), ("kind", lambda: _text("kind", 40)),
                       ("status", lambda: _text("status", 40)), ("latitude", lambda: _coordinate("latitude", 90)),
                       ("longitude", lambda: _coordinate("longitude", 180)),
                       ("address", lambda: _text("address", 500)), ("contact", lambda: _text("contact", 500))):
        try:
            values[name] = read()
        except _FormErrors as err:
            errors.update(err.errors)
    if errors:
        raise _FormErrors(errors)
    return values


def _model_error(err: Exception) -> dict[str, str]:
    """A refusal of the inventory as form errors (the message names what to do)."""
    # The inventory's messages are codes or English: web.errors.say gives their words in the reader's language.
    if isinstance(err, ValidationError):
        return {err.field: say(err.message)[1]}
    if isinstance(err, IntegrityError):
        return {"": say(conflict_message(err) or coded("conflict"), 409)[1]}
    return {"": say(str(err))[1]}


def _choices() -> dict[str, Any]:
    return {"site_kinds": [k.value for k in SiteKind], "device_kinds": [k.value for k in DeviceKind],
            "statuses": [s.value for s in Status]}


# ---------------------------------------------------------------------------
# Sites.


@bp.route("/sites/new", methods=["GET", "POST"])
@login_required(EDIT_ROLES)
def new_site() -> Any:
    """Show the new-site form (coordinates from the map click: ?lat=&lon=), or create the site."""
    session = db_session()
    communes = editing.communes(session)
    if request.method == "GET":
        values = {"name": "", "kind": "other", "status": "active", "address": "", "contact": "",
                  "latitude": request.args.get("lat", type=float), "longitude": request.args.get("lon", type=float)}
        return render_template("site_form.html", values=values, errors={}, site=None, communes=communes,
                               commune_id=communes[0].id if len(communes) == 1 else None, **_choices())
    commune_id = request.form.get("commune_id", type=int)
    try:
        values = _site_form()
        site_id = editing.create_site(session, commune_id or 0, values, actor=actor_name())
        commit_session()
    except (_FormErrors, ValidationError, IntegrityError, ConflictError) as err:
        discard_session()
        errors = err.errors if isinstance(err, _FormErrors) else _model_error(err)
        return render_template("site_form.html", values=request.form, errors=errors, site=None,
                               communes=editing.communes(db_session()), commune_id=commune_id, **_choices()), 400
    forget_sites()
    flash(_("Site created."), "info")
    return redirect(url_for("sites.show_site", site_id=site_id))


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@login_required(EDIT_ROLES)
def edit_site(site_id: int) -> Any:
    """Show the site's form, or save it if nobody changed the site since the form was filled (else 409)."""
    site = db_session().get(Site, site_id)
    if site is None:
        abort(404, description=_("No site has this number."))
    if request.method == "GET":
        values = editing.site_values(site)
        return render_template("site_form.html", values=values, errors={}, site=site,
                               version=editing.record_version(values), **_choices())
    try:
        values = _site_form()
        editing.update_site(db_session(), site_id, values, version=request.form.get("version"), actor=actor_name())
        commit_session()
    except (_FormErrors, ValidationError, IntegrityError, ConflictError) as err:
        discard_session()
        errors = err.errors if isinstance(err, _FormErrors) else _model_error(err)
        site = db_session().get(Site, site_id)
        status = 409 if isinstance(err, (editing.StaleEdit, IntegrityError, ConflictError)) else 400
        current = editing.site_values(site) if site is not None else {}
        shown = current if isinstance(err, editing.StaleEdit) else request.form
        return render_template("site_form.html", values=shown, errors=errors, site=site,
                               version=editing.record_version(current), **_choices()), status
    forget_sites()
    flash(_("Site saved."), "info")
    return redirect(url_for("sites.show_site", site_id=site_id))


@bp.post("/sites/<int:site_id>/move")
@login_required(EDIT_ROLES)
def move_site(site_id: int) -> Response:
    """Move a site dragged on the map (JSON answer); 409 when someone moved it since the map was loaded."""
    try:
        latitude, longitude = _coordinate("latitude", 90), _coordinate("longitude", 180)
        seen = (_coordinate("seen_latitude", 90), _coordinate("seen_longitude", 180))
        if latitude is None or longitude is None:
            raise _FormErrors({"latitude": _("Give both latitude and longitude.")})
        editing.move_site(db_session(), site_id, latitude, longitude, seen_at=seen, actor=actor_name())
        commit_session()
    except LookupError:
        discard_session()
        return _json_error(404, _("No site has this number."))
    except editing.StaleEdit:
        discard_session()
        return _json_error(409, _("Someone moved this site since the map was loaded. Reload the map."))
    except (_FormErrors, ValidationError) as err:
        discard_session()
        errors = err.errors if isinstance(err, _FormErrors) else _model_error(err)
        return _json_error(400, "; ".join(errors.values()))
    forget_sites()
    return jsonify({"id": site_id, "latitude": latitude, "longitude": longitude})


def _json_error(status: int, message: str) -> Response:
    return api_error(status, message)  # {"error", "code", "message"}: the words are already the reader's


# ---------------------------------------------------------------------------
# Devices.


def _status_choices(device: Device) -> list[str]:
    current = Status(device.status)
    return [current.value] + [s.value for s in Status if s in ALLOWED_TRANSITIONS[current]]


def _device_context(device: Device) -> dict[str, Any]:
    """What the device page shows beside its form: the choices and the device's change log."""
    return {"device": device, "device_kinds": [k.value for k in DeviceKind], "statuses": _status_choices(device),
            "change_log": device_history(db_session(), device.id),
            "has_credential": device.credential_encrypted is not None,
            "credentials_ready": credential_key() is not None}


@bp.route("/devices/<int:device_id>/edit", methods=["GET", "POST"])
@login_required(EDIT_ROLES)
def edit_device(device_id: int) -> Any:
    """Show a device's form (name, kind, IP, lifecycle status, notes), or save it (409 over another's change)."""
    device = db_session().get(Device, device_id)
    if device is None:
        abort(404, description=_("No device has this number."))
    context = _device_context(device)
    if request.method == "GET":
        values = editing.device_values(device)
        return render_template("device_form.html", values=values, errors={}, version=editing.record_version(values),
                               **context)
    try:
        changes = {"name": _text("name"), "kind": _text("kind", 40), "ip": _text("ip", 45) or None,
                   "status": _text("status", 40), "notes": _text("notes", 2000)}
        site_id = editing.update_device(db_session(), device_id, changes, version=request.form.get("version"),
                                        actor=actor_name())
        commit_session()
    except (_FormErrors, ValidationError, IntegrityError, ConflictError) as err:
        discard_session()
        errors = err.errors if isinstance(err, _FormErrors) else _model_error(err)
        device = db_session().get(Device, device_id)
        assert device is not None
        current = editing.device_values(device)
        status = 409 if isinstance(err, (editing.StaleEdit, IntegrityError, ConflictError)) else 400
        shown = current if isinstance(err, editing.StaleEdit) else request.form
        return render_template("device_form.html", values=shown, errors=errors, version=editing.record_version(current),
                               **_device_context(device)), status
    forget_sites()
    flash(_("Device saved."), "info")
    return redirect(url_for("sites.show_site", site_id=site_id))


# ---------------------------------------------------------------------------
# Findings and merges, one button each on the site page.


def _back(site_id: int) -> Response:
    return redirect(url_for("sites.show_site", site_id=site_id) + "#findings")  # type: ignore[return-value]


@bp.post("/sites/<int:site_id>/findings/<finding_id>/<any(apply, dismiss):decision>")
@login_required(EDIT_ROLES)
def decide_finding(site_id: int, finding_id: str, decision: str) -> Response:
    """Apply a finding to the inventory, or dismiss it with the reason typed beside the button."""
    if db_session().get(Site, site_id) is None:
        abort(404, description=_("No site has this number."))
    try:
        if decision == "apply":
            apply_site_finding(db_session(), site_id, finding_id, actor=actor_name())
        else:
            dismiss_site_finding(db_session(), site_id, finding_id, actor=actor_name(),
                                 reason=request.form.get("reason", "")[:1000])
        commit_session()
    except LookupError:
        discard_session()
        abort(404, description=_("This site has no such finding."))
    except (FindingStateError, ValidationError, IntegrityError, ConflictError) as err:
        discard_session()
        if isinstance(err, ValidationError) and err.field == "reason":
            flash(_("Say why the finding is dismissed."), "error")
        else:
            flash(_("Not done: %(reason)s", reason="; ".join(_model_error(err).values())), "error")
        return _back(site_id)
    forget_sites()
    flash(_("Finding applied.") if decision == "apply" else _("Finding dismissed."), "info")
    return _back(site_id)


@bp.post("/sites/<int:site_id>/surveys/<int:survey_id>/apply")
@login_required(EDIT_ROLES)
def apply_survey(site_id: int, survey_id: int) -> Response:
    """Apply every open change one survey found ("apply all from this survey"); say which were refused."""
    try:
        applied, refused = apply_survey_findings(db_session(), site_id, survey_id, actor=actor_name())
        commit_session()
    except LookupError:
        discard_session()
        abort(404, description=_("This site has no survey with this number."))
    forget_sites()
    flash(_("Findings applied: %(n)d.", n=len(applied)), "info")
    for reason in refused.values():
        flash(_("Not done: %(reason)s", reason=reason), "error")
    return _back(site_id)


@bp.post("/candidates/<int:candidate_id>/merge")
@login_required(EDIT_ROLES)
def merge(candidate_id: int) -> Response:
    """Merge a candidate into the device chosen beside the button (the device takes the surveyed facts)."""
    candidate = db_session().get(Candidate, candidate_id)
    if candidate is None:
        abort(404, description=_("No candidate has this number."))
    site_id = candidate.site_id
    device_id = request.form.get("device_id", type=int)
    try:
        merge_candidate(db_session(), candidate_id, device_id or 0)
        log_change(db_session(), actor_name(), "merge", "candidate", candidate_id, {"state": "pending"},
                   {"device_id": device_id})
        commit_session()
    except (ValidationError, IntegrityError, ConflictError) as err:
        discard_session()
        flash(_("Not merged: %(reason)s", reason="; ".join(_model_error(err).values())), "error")
    else:
        forget_sites()
        flash(_("Candidate merged into the device."), "info")
    return redirect(url_for("sites.show_site", site_id=site_id))  # type: ignore[return-value]
