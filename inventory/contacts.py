"""The people told about a site's alerts: add, change, remove, list, and what of them each reader may see.

A contact is personal data (a phone number, a Zalo user id, an e-mail address): `contact_record`
gives them only when asked for ``personal=True`` (editors and admins); a viewer learns that a site
has a contact, their name, language, severities and quiet hours, and which channels reach them.
Validation lives here, once, for the API, the page and the command line.  Pure inventory code: no
Flask, no network.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.alert_models import Contact
from sitescout.inventory.errors import Coded
from sitescout.inventory.models import Commune, Site, ValidationError

__all__ = [
    "SEVERITIES", "LANGUAGES", "FIELDS", "add_contact", "update_contact", "delete_contact", "get_contact",
    "list_contacts", "site_contacts", "contact_record", "parse_quiet_hours", "parse_severities", "wants_severity",
]

#: Alert severities a contact may ask to hear about (the alert rules' ``severity`` label).
SEVERITIES = ("critical", "warning")
#: Languages a message can be written in (the web catalogues).
LANGUAGES = ("vi", "en")
_PHONE = re.compile(r"^\+?[0-9]{6,20}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
_ZALO = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Fields a change may name, and their types.
FIELDS: dict[str, type] = {"name": str, "phone": str, "zalo_user_id": str, "email": str, "language": str,
                           "quiet_hours": str, "opted_out": bool, "severities": list}


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """Turn "22:00-06:00" into local minutes of the day (1320, 360); "" into None.

    Raises:
        ValidationError: when the text is not HH:MM-HH:MM.
    """
    if not text.strip():
        return None
    try:
        start, end = (part.strip() for part in text.split("-"))
        minutes = []
        for part in (start, end):
            hours, mins = part.split(":")
            h, m = int(hours), int(mins)
            if not (0 <= h <= 23 and 0 <= m <= 59):
                raise ValueError(part)
            minutes.append(h * 60 + m)
    except ValueError as err:
        raise ValidationError("quiet_hours", Coded("contact_quiet_hours", "write quiet hours as HH:MM-HH:MM, e.g. "
                                                   "22:00-06:00")) from err
    return minutes[0], minutes[1]


def parse_severities(values: Iterable[Any]) -> str:
    """Return the stored form ("critical,warning") of the severities a contact wants; at least one.

    Raises:
        ValidationError: an unknown severity, or none at all.
    """
    wanted = []
    for value in values:
        if not isinstance(value, str) or value.strip() not in SEVERITIES:
            raise ValidationError("severities", Coded("contact_severity", "%(value)r is not one of %(choices)s",
                                                     value=value, choices=", ".join(SEVERITIES)))
        if value.strip() not in wanted:
            wanted.append(value.strip())
    if not wanted:
        raise ValidationError("severities", Coded("contact_no_severity", "choose at least one severity (or opt the "
                                                  "contact out)"))
    return ",".join(s for s in SEVERITIES if s in wanted)


def wants_severity(contact: Contact, severities: Collection[str]) -> bool:
    """Say whether the contact asked to hear about alerts of any of `severities` (others count as critical)."""
    wanted = set((contact.severities or ",".join(SEVERITIES)).split(","))
    return any((s if s in SEVERITIES else "critical") in wanted for s in severities)


def _check(contact: Contact) -> None:
    """Check a contact as it would be stored; raise ValidationError naming the field."""
    if not contact.name.strip():
        raise ValidationError("name", Coded("contact_name", "give the contact's name"))
    if len(contact.name) > 200:
        raise ValidationError("name", Coded("too_long", "too long (%(most)s characters at most)", most=200))
    if not (contact.phone or contact.zalo_user_id or contact.email):
        raise ValidationError("phone", Coded("contact_reach", "give a phone number, a Zalo user id or an e-mail "
                                             "address"))
    if contact.phone and not _PHONE.match(contact.phone):
        raise ValidationError("phone", Coded("contact_phone", "write the phone number as digits, e.g. +84912345678 or "
                                             "0912345678"))
    if contact.email and not _EMAIL.match(contact.email):
        raise ValidationError("email", Coded("contact_email", "not an e-mail address"))
    if contact.zalo_user_id and not _ZALO.match(contact.zalo_user_id):
        raise ValidationError("zalo_user_id", Coded("contact_zalo", "a Zalo user id is up to 64 letters, digits, '-', "
                                                    "'_' or '.'"))
    if contact.language not in LANGUAGES:
        raise ValidationError("language", Coded("contact_language", "must be vi or en"))


def must_be(kind: type) -> Coded:
    """Return the coded "must be <type>" of a contact field (the API's own field words: web/errors.py)."""
    code = {bool: "must_be_boolean", str: "must_be_string", list: "must_be_strings"}.get(kind, "bad_request")
    return Coded(code, "must be %(type)s", type="true or false" if kind is bool else kind.__name__)


def _apply(contact: Contact, changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValidationError(unknown[0], Coded("unknown_field_of", "unknown field; the fields are %(fields)s",
                                                fields=", ".join(FIELDS)))
    for key, value in changes.items():
        if not isinstance(value, FIELDS[key]) or (FIELDS[key] is not bool and isinstance(value, bool)):
            raise ValidationError(key, must_be(FIELDS[key]))
        value = cast(Any, value)  # checked against FIELDS above
        if key == "quiet_hours":
            quiet = parse_quiet_hours(value)
            contact.quiet_from_min, contact.quiet_to_min = quiet if quiet else (None, None)
        elif key == "severities":
            contact.severities = parse_severities(value)
        elif key == "opted_out":
            contact.opted_out = value
        else:
            setattr(contact, key, value.strip())
    _check(contact)


def add_contact(session: Session, site_id: int, name: str, *, phone: str = "", zalo_user_id: str = "",
                email: str = "", language: str = "vi", quiet_hours: str = "", opted_out: bool = False,
                severities: Iterable[str] = SEVERITIES) -> int:
    """Add a person to a site's contacts and return its id.

    Raises:
        ValidationError: naming the field at fault; LookupError when the site does not exist.
    """
    if session.get(Site, site_id) is None:
        raise LookupError(f"no site {site_id}")
    contact = Contact(site_id=site_id, name="", phone="", zalo_user_id="", email="", language="vi",
                      opted_out=False)
    _apply(contact, {"name": name, "phone": phone, "zalo_user_id": zalo_user_id, "email": email,
                     "language": language, "quiet_hours": quiet_hours, "opted_out": opted_out,
                     "severities": list(severities)})
    session.add(contact)
    session.flush()
    return contact.id


def update_contact(session: Session, contact_id: int, changes: dict[str, Any]) -> Contact | None:
    """Change some fields of a contact (checked as a whole afterwards); None when there is no such contact."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    _apply(contact, changes)
    session.flush()
    return contact


def delete_contact(session: Session, contact_id: int) -> bool:
    """Remove a contact (the notifications already sent keep their row); return whether it existed."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return False
    session.delete(contact)
    session.flush()
    return True


def get_contact(session: Session, contact_id: int) -> Contact | None:
    """Return one contact, or None."""
    return session.get(Contact, contact_id)


def site_contacts(session: Session, site_id: int) -> list[Contact]:
    """Return a site's contacts (opted-out ones included: the notifier records why it skipped them)."""
    return list(session.scalars(select(Contact).where(Contact.site_id == site_id).order_by(Contact.id)))


def list_contacts(session: Session, *, site_id: int | None = None, limit: int = 2000) -> list[tuple[Contact, str, str]]:
    """Return contacts with their site's and commune's names, by commune, site and name."""
    stmt = (select(Contact, Site.name, Commune.name).join(Site, Site.id == Contact.site_id)
            .join(Commune, Commune.id == Site.commune_id)
            .order_by(Commune.name, Site.name, Contact.name, Contact.id).limit(limit))
    if site_id is not None:
        stmt = stmt.where(Contact.site_id == site_id)
    return [(c, str(site), str(commune)) for c, site, commune in session.execute(stmt)]


def contact_record(contact: Contact, *, personal: bool = True) -> dict[str, Any]:
    """Return a contact as the API shows it (quiet hours as "HH:MM-HH:MM" or "").

    Without `personal` (a viewer), the phone number, Zalo id and e-mail address are left out; only
    which channels reach the contact is said.
    """
    quiet = ""
    if contact.quiet_from_min is not None and contact.quiet_to_min is not None:
        start, end = contact.quiet_from_min, contact.quiet_to_min
        quiet = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    record: dict[str, Any] = {
        "id": contact.id, "site_id": contact.site_id, "name": contact.name, "language": contact.language,
        "severities": (contact.severities or ",".join(SEVERITIES)).split(","), "quiet_hours": quiet,
        "opted_out": contact.opted_out,
        "channels": [name for name, value in (("sms", contact.phone), ("zalo", contact.zalo_user_id),
                                              ("email", contact.email)) if value],
    }
    if personal:
        record.update(phone=contact.phone, zalo_user_id=contact.zalo_user_id, email=contact.email)
    return record
