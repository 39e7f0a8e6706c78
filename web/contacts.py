"""Who hears about a site's alerts: ``/api/v1/contacts`` (CRUD) and the Contacts page (/contacts).

A contact's phone number, Zalo id and e-mail address are personal data: editors and admins see and
change them; a viewer may list contacts (name, language, severities, quiet hours, which channels
reach them) without them.  Writes through the API take a Bearer token (editor or admin); the page's
forms post back with the session's CSRF token, as the admin pages do.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from sitescout.inventory import contacts as book
from sitescout.inventory.models import Site, ValidationError
from sitescout.web.errors import Coded, api_error, field_message
from sitescout.web.security import (
    EDIT_ROLES, READ_ROLES, current_role, login_required, token_or_login_required, token_required,
)
from sitescout.web.storage import commit_session, db_session, discard_session

__all__ = ["bp"]

log = logging.getLogger(__name__)

#: The API (under /api/v1) and the page share one blueprint: one module, one concern.
bp = Blueprint("contacts", __name__)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


def _sees_personal_data() -> bool:
    """Say whether the caller may see phone numbers (an editor or admin, by token or login)."""
    role = g.get("api_role") if request.headers.get("Authorization") else current_role()
    return role in EDIT_ROLES


def _site_filter() -> int | None:
    text = request.args.get("site", "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise ValidationError("site", Coded("give_site_id", "give a site id"))
    return int(text)


@bp.get("/api/v1/contacts")
@token_or_login_required(READ_ROLES)
def list_contacts() -> Response:
    """Return every contact (?site=ID: of one site); phone, Zalo id and e-mail for editors and admins only."""
    try:
        site_id = _site_filter()
    except ValidationError as err:
        return api_error(400, field_message(err))
    personal = _sees_personal_data()
    rows = book.list_contacts(db_session(), site_id=site_id)
    return _json({"contacts": [{**book.contact_record(c, personal=personal), "site": site, "commune": commune}
                               for c, site, commune in rows]})


@bp.get("/api/v1/contacts/<int:contact_id>")
@token_or_login_required(READ_ROLES)
def get_contact(contact_id: int) -> Response:
    """Return one contact (personal data for editors and admins only)."""
    contact = book.get_contact(db_session(), contact_id)
    if contact is None:
        return api_error(404, "no_contact", id=contact_id)
    return _json(book.contact_record(contact, personal=_sees_personal_data()))


def _body() -> dict[str, Any] | None:
    data = request.get_json(silent=True) if request.is_json else None
    return data if isinstance(data, dict) else None


@bp.post("/api/v1/contacts")
@token_required(EDIT_ROLES)
def create_contact() -> Response:
    """Add a contact: {site_id, name, phone|zalo_user_id|email, language, severities, quiet_hours, opted_out}."""
    data = _body()
    if data is None:
        return api_error(400, "contact_not_object")
    site_id = data.pop("site_id", None)
    if isinstance(site_id, bool) or not isinstance(site_id, int):
        return api_error(400, "contact_site_id")
    session = db_session()
    if session.get(Site, site_id) is None:
        return api_error(404, "no_site", id=site_id)
    try:
        contact = book.get_contact(session, _add(session, site_id, data))
        commit_session()
    except ValidationError as err:
        discard_session()
        return api_error(400, field_message(err))
    assert contact is not None
    log.info("%s: contact %d added to site %d", request.remote_addr, contact.id, site_id)
    return _json(book.contact_record(contact), 201)


def _add(session: Any, site_id: int, data: dict[str, Any]) -> int:
    """Add the contact `data` describes to the site; raise ValidationError naming the field at fault."""
    unknown = sorted(set(data) - set(book.FIELDS))
    if unknown:
        raise ValidationError(unknown[0], Coded("unknown_field_of", "unknown field; the fields are %(fields)s",
                                                fields=", ".join(book.FIELDS)))
    wrong = [k for k, kind in book.FIELDS.items() if k in data and (not isinstance(data[k], kind)
                                                                    or kind is not bool and isinstance(data[k], bool))]
    if wrong:
        raise ValidationError(wrong[0], book.must_be(book.FIELDS[wrong[0]]))
    fields = dict(data)
    return book.add_contact(session, site_id, fields.pop("name", ""), **fields)


@bp.patch("/api/v1/contacts/<int:contact_id>")
@token_required(EDIT_ROLES)
def update_contact(contact_id: int) -> Response:
    """Change some fields of a contact (the same fields as when adding, site_id excepted)."""
    data = _body()
    if data is None:
        return api_error(400, "changes_not_object")
    try:
        contact = book.update_contact(db_session(), contact_id, data)
        if contact is None:
            discard_session()
            return api_error(404, "no_contact", id=contact_id)
        record = book.contact_record(contact)
        commit_session()
    except ValidationError as err:
        discard_session()
        return api_error(400, field_message(err))
    log.info("%s: contact %d changed", request.remote_addr, contact_id)
    return _json(record)


@bp.delete("/api/v1/contacts/<int:contact_id>")
@token_required(EDIT_ROLES)
def delete_contact(contact_id: int) -> Response:
    """Remove a contact."""
    if not book.delete_contact(db_session(), contact_id):
        discard_session()
        return api_error(404, "no_contact", id=contact_id)
    commit_session()
    log.info("%s: contact %d removed", request.remote_addr, contact_id)
    return Response(status=204)


# --- the page ------------------------------------------------------------------------------------------


def _back() -> Response:
    site = request.form.get("back_site", "")
    target = url_for("contacts.page", site=site) if site.isdigit() else url_for("contacts.page")
    return redirect(target)  # type: ignore[return-value]


def _form_fields() -> dict[str, Any]:
    form = request.form
    return {"name": form.get("name", ""), "phone": form.get("phone", ""),
            "zalo_user_id": form.get("zalo_user_id", ""), "email": form.get("email", ""),
            "language": form.get("language", "vi"), "quiet_hours": form.get("quiet_hours", ""),
            "opted_out": form.get("opted_out") == "1", "severities": form.getlist("severities")}


def _field_error(field: str) -> str:
    """Return a field's error as the page says it (the model's messages are English; the page speaks the reader's)."""
    words = {
        "name": _("Give the contact's name."),
        "phone": _("Give a phone number (digits, e.g. 0912345678), a Zalo user id or an e-mail address."),
        "email": _("This is not an e-mail address."),
        "zalo_user_id": _("A Zalo user id is up to 64 letters, digits, '-', '_' or '.'."),
        "language": _("Choose Vietnamese or English."),
        "quiet_hours": _("Write quiet hours as HH:MM-HH:MM, e.g. 22:00-06:00."),
        "severities": _("Choose at least one severity (or opt the contact out)."),
    }
    return words.get(field, _("The contact could not be saved; check the fields."))


@bp.get("/contacts")
@login_required(EDIT_ROLES)
def page() -> str:
    """List contacts (all, or of one site) with forms to add, change and remove them."""
    session = db_session()
    site_id = request.args.get("site", "")
    chosen = int(site_id) if site_id.isdigit() and len(site_id) < 18 else None
    rows = book.list_contacts(session, site_id=chosen)
    sites = session.query(Site.id, Site.name).order_by(Site.name).limit(5000).all()
    return render_template("contacts.html", rows=[(book.contact_record(c), s, m) for c, s, m in rows],
                           sites=sites, chosen=chosen, severities=book.SEVERITIES)


@bp.post("/contacts")
@login_required(EDIT_ROLES)
def add_from_form() -> Response:
    """Add a contact from the page's form."""
    session = db_session()
    site_id = request.form.get("site_id", "")
    if not site_id.isdigit() or len(site_id) > 18 or session.get(Site, int(site_id)) is None:
        flash(_("Choose the site."), "error")
        return _back()
    fields = _form_fields()
    try:
        book.add_contact(session, int(site_id), fields.pop("name"), **fields)
        commit_session()
    except ValidationError as err:
        discard_session()
        flash(_field_error(err.field), "error")
        return _back()
    flash(_("Contact added."), "info")
    return _back()


@bp.post("/contacts/<int:contact_id>")
@login_required(EDIT_ROLES)
def change_from_form(contact_id: int) -> Response:
    """Save a contact's row of the page."""
    try:
        contact = book.update_contact(db_session(), contact_id, _form_fields())
        if contact is None:
            discard_session()
            flash(_("No contact has this number."), "error")
            return _back()
        commit_session()
    except ValidationError as err:
        discard_session()
        flash(_field_error(err.field), "error")
        return _back()
    flash(_("Contact saved."), "info")
    return _back()


@bp.post("/contacts/<int:contact_id>/delete")
@login_required(EDIT_ROLES)
def delete_from_form(contact_id: int) -> Response:
    """Remove a contact from the page."""
    if book.delete_contact(db_session(), contact_id):
        commit_session()
        flash(_("Contact removed."), "info")
    else:
        discard_session()
        flash(_("No contact has this number."), "error")
    return _back()
