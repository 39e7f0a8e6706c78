"""Every error of the web package, under one base class (:class:`WebError`), and the words of API errors.

The classes here were defined in the modules that raise them; those modules still import them
under the old names (``web.validate.BodyError`` …).  Errors that belong to one module only
(``BadQuery``, ``Refused``, ``PreconditionFailed``, ``FieldErrors``, ``JobFailed``, the PDF errors)
stay there but derive from :class:`WebError`.

An API error answer (docs/api.md) carries a stable machine ``code`` and its words in the
request's language (``error`` and ``message``, the same sentence): the code and its parameters
are stored, the words are made here from the web catalogue (`API_WORDS`).  A message that is an
:class:`~sitescout.inventory.errors.Coded` (the inventory's field rules, conflicts, stale versions)
is rendered from its code; a plain one is looked up in the catalogue as it is (the models'
constant messages are there) and otherwise kept, with the status's own code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response, has_request_context
from flask_babel import gettext as _

from sitescout.inventory.errors import Coded
from sitescout.inventory.models import UNIQUE_MESSAGES

__all__ = [
    "WebError", "BodyError", "ChannelError", "MBTilesError", "Coded", "API_WORDS", "STATUS_CODES", "coded",
    "say", "api_body", "api_error", "field_body", "json_response",
]


class WebError(Exception):
    """Base class of every error the web package raises on purpose."""


class BodyError(WebError, ValueError):
    """A request body that does not have the shape its endpoint needs; the message names the field.

    `problem` may be a :class:`Coded`; the message then stays coded (``where`` is a parameter).
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        if isinstance(problem, Coded) and where:
            message: str = Coded("field_problem", "%(where)s: %(problem)s", where=where, problem=problem)
        else:
            message = f"{where}: {problem}" if where else problem
        super().__init__(message)


class ChannelError(WebError):
    """A message was not accepted; the text says by whom and why (never a secret)."""


class MBTilesError(WebError, ValueError):
    """The file is not an MBTiles file of raster tiles; the message says what is wrong."""


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when the answer is made."""
    return message


#: The code an error answer of each status has when nothing more precise is known.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 412: "precondition_failed", 413: "too_large", 415: "unsupported_media_type",
    428: "precondition_required", 429: "too_many_requests", 500: "server_error", 501: "not_implemented",
    503: "unavailable",
}

#: code -> the English sentence (a msgid of the web catalogue), with %(name)s parameters.
API_WORDS: dict[str, str] = {
    # each status's own words
    "bad_request": N_("The request is not valid."),
    "unauthorized": N_("Log in or send an API token."),
    "forbidden": N_("You may not do this."),
    "not_found": N_("Nothing is at this address."),
    "method_not_allowed": N_("This address does not take this kind of request."),
    "conflict": N_("This conflicts with another record."),
    "precondition_failed": N_("The record was changed since you read it; read it again and redo your change."),
    "too_large": N_("What was sent is larger than this server accepts."),
    "unsupported_media_type": N_("This server does not take this kind of document."),
    "precondition_required": N_("Send If-Match with the ETag you read (GET the record first), or If-Match: * to "
                                "change it whatever its version."),
    "too_many_requests": N_("Too many requests in a short time. Wait a little and try again."),
    "server_error": N_("Something went wrong on the server. Try again; if it happens again, tell the "
                       "administrator."),
    "not_implemented": N_("This server cannot do this."),
    "unavailable": N_("The server is busy; try again in a few seconds."),
    # 400: the whole answer when fields are wrong, and the body itself
    "invalid_fields": N_("Some fields are wrong: %(fields)s"),
    "field_problem": N_("%(where)s: %(problem)s"),
    "not_json": N_("Send the document as JSON (Content-Type: application/json)."),
    "too_deep": N_("The body is nested too deeply."),
    "bad_json": N_("The body is not valid JSON."),
    "whole_number": N_("A whole number from %(least)s to %(most)s."),
    "change_object": N_("A type such as device, or a type and an id such as device:12."),
    "iso_time": N_("An ISO 8601 time such as 2026-12-01T00:00:00+07:00."),
    "stale_collection": N_("If-Match names another version of this collection."),
    # field rules (inventory/editing.py, web/validate.py)
    "required": N_("Required."),
    "unknown_field": N_("Unknown field (or not writable)."),
    "not_null": N_("Must not be null."),
    "must_be_string": N_("Must be text."),
    "must_be_string_or_null": N_("Must be text or null."),
    "must_be_number": N_("Must be a number."),
    "must_be_number_or_null": N_("Must be a number or null."),
    "must_be_integer": N_("Must be a whole number."),
    "must_be_integer_or_null": N_("Must be a whole number or null."),
    "must_be_boolean": N_("Must be true or false."),
    "must_be_boolean_or_null": N_("Must be true, false or null."),
    "must_be_strings": N_("Must be a list of text."),
    "must_be_objects": N_("Must be a list of objects."),
    "expected_text": N_("Must be text or null, not %(got)s."),
    "expected_number": N_("Must be a number or null, not %(got)s."),
    "expected_boolean": N_("Must be true, false or null, not %(got)s."),
    "expected_integer": N_("Must be a whole number or null, not %(got)s."),
    "expected_list": N_("Must be a list, not %(got)s."),
    "expected_object": N_("Must be an object, not %(got)s."),
    "too_many_items": N_("Must be a list of at most %(most)s items."),
    "too_long": N_("At most %(most)s characters."),
    "not_a_choice": N_("One of: %(choices)s."),
    "nul_character": N_("Must not contain the NUL character."),
    "port_name_characters": N_("Must not contain a comma or a control character."),
    "lone_surrogate": N_("Text is not valid Unicode (a lone surrogate)."),
    "not_an_id": N_("Not an id (a whole number from 1)."),
    "out_of_range": N_("From %(least)s to %(most)s."),
    "number_too_large": N_("Number too large (more than %(most)s)."),
    "not_finite": N_("Must be a finite number (not NaN or Infinity)."),
    "nested_too_deep": N_("Nested more than %(most)s levels deep."),
    "too_many_entries": N_("%(count)s entries; at most %(most)s in one plan."),
    "at_most": N_("At most %(most)s."),
    "plan_too_wide": N_("Its points span %(span)s km; a plan covers one site (at most %(most)s km across)."),
    "plan_too_dense": N_("About %(count)s demand points to weigh (at most %(most)s); raise spacing_m or cover a "
                         "smaller area."),
    "coordinates_not_flags": N_("Coordinates must be numbers, not true/false."),
    "body_not_object": N_("Send a JSON object with the record's fields."),
    "no_region": N_("No region has the id %(id)s."),
    "no_commune": N_("No commune has the id %(id)s."),
    "no_site": N_("No site has the id %(id)s."),
    "no_device": N_("No device has the id %(id)s."),
    "no_interface": N_("No interface has the id %(id)s."),
    "no_cable": N_("No cable has the id %(id)s."),
    "finding_switch_gone": N_("The switch of this finding no longer exists."),
    "interface_has_cable": N_("Interface %(device)s %(interface)s already has a cable (cable %(cable)s, to "
                              "%(far_device)s %(far_interface)s); remove that cable first."),
    "no_candidate": N_("No candidate has the id %(id)s."),
    "no_finding": N_("This site has no finding %(id)s."),
    "no_survey": N_("This site has no survey %(id)s."),
    "no_camera": N_("Device %(id)s has no camera details."),
    "no_camera_yet": N_("Device %(id)s has no camera details; PUT them first."),
    # 403: roles and scopes
    "token_required": N_("An API token is required (Authorization: Bearer <token>)."),
    "token_not_accepted": N_("API token not accepted."),
    "login_or_token": N_("Log in or send an API token (Authorization: Bearer <token>)."),
    "role_token_refused": N_("A token with the role %(role)s may not do this."),
    "role_refused": N_("The role %(role)s may not do this."),
    "out_of_scope": N_("This token serves other sites only; this record belongs to a site outside its scope."),
    "scoped_site_create": N_("A token scoped to sites cannot create a site."),
    "scoped_places": N_("A token scoped to sites cannot change regions or communes (they hold other sites too)."),
    # 409 and 412
    "duplicate": N_("This conflicts with another record."),
    "region_in_use": N_("This region still has communes; delete or move them first."),
    "commune_in_use": N_("This commune still has sites; delete or move them first."),
    "site_in_use": N_("This site still has devices; retire the site (status retired) or delete its devices first."),
    "stale": N_("The record was changed since you read it; read it again and redo your change."),
    "stale_etag": N_("The record was changed since you read it (its ETag is now \"%(etag)s\"); read it again and "
                     "redo your change."),
    "finding_decided": N_("This finding is already %(state)s."),
    "finding_not_a_change": N_("This finding is not a change to the inventory; deal with it on site, or dismiss "
                               "it."),
    "finding_device_gone": N_("The device of this finding no longer exists."),
    "finding_outdated": N_("The device's %(field)s is now %(current)s, not %(surveyed)s as when surveyed; survey "
                           "again or edit the device."),
    "finding_not_planned": N_("The device is %(state)s now, no longer planned."),
    "dismiss_reason_empty": N_("Say why this finding is dismissed (e.g. \"camera replaced on purpose\")."),
    "candidate_decided": N_("This candidate is already %(state)s."),
    "merge_other_site": N_("This device belongs to another site; merge a candidate into a device of the site where "
                           "it was found."),
    "merge_retired": N_("This device is retired; accept the candidate as a new device instead."),
    # the findings and candidates API
    "dismiss_reason": N_("Send {\"reason\": \"why it is dismissed\"}."),
    "merge_device": N_("Send {\"device_id\": <id of the device this candidate is>}."),
    "accept_text": N_("Name and kind are text."),
    # alerts and contacts
    "alertmanager_json": N_("Send Alertmanager's webhook JSON (Content-Type: application/json)."),
    "contact_not_object": N_("Send the contact as a JSON object."),
    "changes_not_object": N_("Send the changes as a JSON object."),
    "contact_site_id": N_("site_id: give the site's id."),
    "unknown_fields": N_("Unknown fields: %(fields)s."),
    "wrong_type": N_("Wrong type: %(field)s."),
    "no_such_site": N_("No such site."),
    "no_contact": N_("No contact has the id %(id)s."),
    # credentials
    "credentials_body": N_("Send {\"username\": \"…\", \"password\": \"…\"}."),
    "username_length": N_("Text of 1 to %(most)s characters."),
    "password_length": N_("Text of at most %(most)s characters."),
    "no_credential_key": N_("This server keeps no camera credentials: its encryption key is not set up."),
}

#: A uniqueness conflict's message (inventory/models.py) is constant: its words are in the catalogue too.
_DUPLICATES = frozenset(UNIQUE_MESSAGES.values())


def coded(code: str, **params: Any) -> Coded:
    """Return the message `code` (a key of API_WORDS) with its parameters, English as its text."""
    return Coded(code, API_WORDS.get(code, code), **params)


def _translated(text: str, params: Mapping[str, Any]) -> str:
    try:
        if not has_request_context():
            return text % dict(params) if params else text
        return _(text, **params) if params else _(text)
    except (KeyError, ValueError, TypeError):  # a sentence naming a parameter the message lacks: never a 500
        return _(text) if has_request_context() else text


def say(message: str, status: int = 400) -> tuple[str, str, dict[str, Any]]:
    """Return (code, the words in the request's language, the parameters) of a message.

    A Coded message is made from its code (its Coded parameters are said too); a plain one is
    looked up in the catalogue as it is (found: translated; not found: kept as it is).
    """
    if isinstance(message, Coded) and message.code == "field_problem" and isinstance(message.params["problem"], Coded):
        code, words, inner = say(message.params["problem"], status)  # the problem's own code, naming the field
        where = str(message.params["where"])
        return code, f"{where}: {words}", {"field": where, **inner}
    if isinstance(message, Coded):
        params = {k: say(v, status)[1] if isinstance(v, Coded) else _said(k, v) for k, v in message.params.items()}
        template = API_WORDS.get(message.code)
        if template is not None:
            plain = {k: (str.__str__(v) if isinstance(v, Coded) else v) for k, v in message.params.items()}
            return message.code, _translated(template, params), plain
        return message.code, str.__str__(message), {}
    code = "duplicate" if message in _DUPLICATES else STATUS_CODES.get(status, "error")
    return code, (_(message) if message and has_request_context() else message), {}


#: Parameters whose values are codes with words of their own in the catalogue (roles, states).
_WORD_PARAMS = frozenset({"role", "state", "got", "new_state"})
#: Parameters whose values are lists of such codes, ", " between them (a status's allowed next states).
_WORD_LIST_PARAMS = frozenset({"states"})
#: The values of "got" (web/validate.py), for extraction.
_GOT_WORDS = (N_("an object"), N_("a list"), N_("text"), N_("true/false"), N_("null"), N_("a number"))


def _said(name: str, value: Any) -> Any:
    if name in _WORD_LIST_PARAMS and isinstance(value, str) and has_request_context():
        return ", ".join(_(item).lower() for item in value.split(", "))
    return _(value).lower() if name in _WORD_PARAMS and isinstance(value, str) and has_request_context() else value


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def api_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Return the JSON of an error answer: ``{"error", "code", "message"}`` (+ ``"params"`` when it has any)."""
    code, words, params = say(message if message else coded(STATUS_CODES.get(status, "server_error")), status)
    words = _capital(words) if code == "duplicate" else words  # the models' conflict sentences start in lower case
    body: dict[str, Any] = {"error": words, "code": code, "message": words}
    if params:
        body["params"] = params
    return body


def field_body(errors: Mapping[str, str]) -> dict[str, Any]:
    """Return the JSON of a 400 naming each wrong field.

    ``{"error", "code": "invalid_fields", "message", "errors": {field: words}, "fields": {field: {"code",
    "message"[, "params"]}}}`` — ``errors`` is the older form, kept.
    """
    fields: dict[str, dict[str, Any]] = {}
    for name, problem in errors.items():
        code, words, params = say(problem, 400)
        if code == "bad_request":
            code = "invalid"
        words = _capital(words) if code == "duplicate" else words
        fields[name] = {"code": code, "message": words, **({"params": params} if params else {})}
    listing = "; ".join(f"{name}: {entry['message']}" for name, entry in fields.items())
    code, words, _params = say(coded("invalid_fields", fields=listing))
    return {"error": words, "code": "invalid_fields", "message": words,
            "errors": {name: entry["message"] for name, entry in fields.items()}, "fields": fields}


def api_error(status: int, message: str | None = None, **params: Any) -> Response:
    """Return an error answer of the API; `message` is a code of API_WORDS (with `params`) or a message."""
    if message in API_WORDS and not isinstance(message, Coded):
        message = coded(message, **params)
    return json_response(api_body(status, message), status)


def json_response(data: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    """Return `data` as a JSON answer (UTF-8, no ASCII escapes): the one JSON writer of the API."""
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status, mimetype=mimetype)


#: The models' rules that name a value (inventory/models.py): lifecycle moves, addresses, URIs, ranges.
API_WORDS.update({
    "status_transition": N_("Cannot go from %(state)s to %(new_state)s; from %(state)s only to %(states)s."),
    "status_final": N_("Cannot go from %(state)s to %(new_state)s; from %(state)s only to nothing (%(state)s is "
                         "final)."),
    "not_absolute_uri": N_("%(uri)r is not an absolute URI."),
    "uri_other_host": N_("Host %(host)s is not the device's address %(ip)s; a device's URIs point at the device "
                         "itself."),
    "not_an_ip": N_("%(value)r is not an IPv4 or IPv6 address."),
    "snmp_port_range": N_("%(value)s is not a UDP port (1 to 65535), or null for a device not read over SNMP."),
    "latitude_range": N_("%(value)s is outside -90..90 (are latitude and longitude swapped?)"),
    "mount_latitude_range": N_("%(value)s is outside -90..90."),
    "longitude_range": N_("%(value)s is outside -180..180."),
    "mount_height_range": N_("%(value)s m is not a mounting height (0..200)."),
    "heading_range": N_("%(value)s is outside 0..360 (0 = north, clockwise)."),
    "hfov_range": N_("%(value)s is outside 0..360."),
    "gap_negative": N_("%(value)s is negative; an optimality gap is at least 0."),
})


def field_message(err: Any) -> str:
    """Return a ValidationError's message for api_error: coded (naming its field) when its rule's message is."""
    if isinstance(err.message, Coded):
        return Coded("field_problem", "%(where)s: %(problem)s", where=err.field, problem=err.message)
    return str(err)


#: Contacts of a site (inventory/contacts.py, web/contacts.py).
API_WORDS.update({
    "contact_quiet_hours": N_("Write quiet hours as HH:MM-HH:MM, e.g. 22:00-06:00."),
    "contact_severity": N_("%(value)r is not one of %(choices)s."),
    "contact_no_severity": N_("Choose at least one severity (or opt the contact out)."),
    "contact_name": N_("Give the contact's name."),
    "contact_reach": N_("Give a phone number, a Zalo user id or an e-mail address."),
    "contact_phone": N_("Write the phone number as digits, e.g. +84912345678 or 0912345678."),
    "contact_email": N_("Not an e-mail address."),
    "contact_zalo": N_("A Zalo user id is up to 64 letters, digits, '-', '_' or '.'."),
    "contact_language": N_("Must be vi or en."),
    "unknown_field_of": N_("Unknown field; the fields are %(fields)s."),
    "give_site_id": N_("Give a site id."),
})


#: The targets API (web/sd.py): a ?commune= that names none, or several.
API_WORDS.update({
    "no_commune_named": N_("No commune is named %(name)r: give its id or its name."),
    "communes_named": N_("Several communes are named %(name)r: give the id of one of %(communes)s."),
})


#: Alertmanager's webhook (inventory/alerts.py parse_webhook).
API_WORDS.update({
    "not_rfc3339": N_("Not an RFC 3339 time: %(value)r."),
    "must_be_string_map": N_("Must be an object of strings."),
    "must_be_object": N_("Must be an object."),
    "firing_or_resolved": N_("Must be firing or resolved."),
    "fingerprint_length": N_("Must be a string of 1 to 64 characters."),
    "webhook_not_object": N_("Must be a JSON object (Alertmanager webhook)."),
    "webhook_version": N_("Only Alertmanager's webhook version 4 is understood."),
    "alerts_list": N_("Must be a list of at most %(most)s alerts."),
})


#: Saved plans (inventory/planning/plans.py PlanError) and the targets' shards (inventory/shards.py).
API_WORDS.update({
    "no_site_named": N_("No site is named %(name)r in the inventory; create it or give its id."),
    "sites_named": N_("%(count)s sites are named %(name)r; give the site's id."),
    "not_a_plan": N_("Expected the FeatureCollection of a plan (as sitescout plan place --geojson writes it)."),
    "camera_not_point": N_("features[%(index)s]: a camera needs a Point geometry."),
    "plan_too_far": N_("The plan lies %(distance_km).1f km from the site %(site)s (its %(kind)s farthest); every "
                       "point of a plan must be within %(limit_km)g km of its site. Check that this is the right "
                       "site and that the plan's latitude and longitude are right."),
    "shard_form": N_("%(name)s must look like K/N (e.g. 1/2), not %(value)r."),
    "shard_range": N_("%(name)s %(value)s: give K/N with K between 1 and N (N at most %(most)s)."),
    "shard_count": N_("The number of shards must be at least 1, not %(count)s."),
})


#: The plan input (inventory/planning/plan_input.py, dori.py): said after the key ("mounts[2].power: …").
API_WORDS.update({
    "plan_expected_object": N_("expected an object"),
    "plan_unknown_key": N_("unknown key %(key)r; allowed: %(allowed)s"),
    "plan_missing": N_("missing %(key)r"),
    "plan_not_number": N_("expected a number, got %(value)r"),
    "plan_at_least": N_("must be at least %(least)g"),
    "plan_cannot_read": N_("cannot read %(path)s: %(reason)s"),
    "plan_not_json": N_("%(path)s is not JSON: %(reason)s"),
    "plan_list_or_collection": N_("expected a list or a FeatureCollection"),
    "plan_point": N_("expected a Point geometry"),
    "plan_lat_lon": N_("lat/lon out of range"),
    "plan_no_mounts": N_("at least one candidate mount is needed"),
    "plan_origin": N_("expected [lat, lon]"),
    "plan_mount_ids": N_("ids must be unique"),
    "plan_no_demand": N_("at least one point or area of interest is needed"),
    "plan_no_cameras": N_("the catalogue is empty"),
    "plan_stream": N_("'main' or 'sub'"),
    "plan_network": N_("expected the site's network facts (an object) or null"),
    "plan_currency": N_("a three-letter ISO 4217 code such as VND or USD"),
    "plan_power": N_("one of poe, mains, none"),
    "plan_resolution": N_("expected [width, height] in pixels"),
    "plan_field_of_view": N_("give hfov_deg, hfov_range_deg, or focal_mm and sensor_mm"),
    "plan_hfov_range": N_("field of view must be between 0 and 180 degrees"),
    "unknown_dori_level": N_("unknown DORI level %(name)r for profile %(profile)s; use one of: %(known)s"),
    "unknown_dori_profile": N_("unknown DORI profile %(name)r; use one of: %(known)s"),
})
