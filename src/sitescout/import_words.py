"""Why an import row, a record or the credentials file was refused, in the command's language: `Coded` as words.

The inventory keeps a row's reason as a :class:`~sitescout.inventory.errors.Coded` message (code and
parameters, English as its text); the web says the model rules with its catalogue (web/errors.py
API_WORDS), the command here with its own ``cli`` catalogue.  A reason that is not coded, or whose
code is not here, is printed as it is (English).
"""

from __future__ import annotations

from typing import Any

from sitescout.i18n import N_, _

__all__ = ["WORDS", "reason_text"]

#: code -> sentence with {name} parameters ({name!r}: the value quoted as Python writes it).
WORDS: dict[str, str] = {
    # the import's own rules (inventory/importexport*.py)
    "text_not_object": N_("must be text, not a JSON object"),
    "text_not_list": N_("must be text, not a JSON list"),
    "cell_not_finite": N_("{value} is not a finite number"),
    "cell_nul": N_("contains a NUL character"),
    "cell_too_long": N_("is longer than {most} characters"),
    "cell_not_number": N_("{value!r} is not a number"),
    "cell_not_boolean": N_("{value!r} is not true or false"),
    "same_site_row": N_("the same site is already on row {row}"),
    "used_by_row": N_("{value} is already used by row {row}"),
    "used_by_device": N_("{value} is already used by a device already in the inventory"),
    "site_not_imported": N_("{site!r} ({commune}, {region}) is not in the inventory; import the sites first"),
    "cells_columns": N_("{cells} cells but {columns} columns; put quotes around a value that holds {delimiter!r}"),
    "not_csv": N_("not readable as CSV: {reason}"),
    # the whole file (said after the file's name)
    "unknown_columns": N_("unknown column(s) {columns}; the columns are: {expected}"),
    "unnamed_column": N_("column {column} has no name; the columns are: {expected}"),
    "not_feature_collection": N_("a GeoJSON import must be a FeatureCollection"),
    "features_not_list": N_("a FeatureCollection's features must be a list"),
    # the credentials file (probes/credentials.py): keys and entry numbers, never a password
    "cannot_read_file": N_("cannot read: {reason}"),
    "not_utf8": N_("not UTF-8 text"),
    "not_toml": N_("not valid TOML ({reason})"),
    "unknown_top_keys": N_("unknown top-level key(s) {keys}; expected [[credentials]] tables and an optional "
                           "[snmp] table"),
    "no_credentials": N_("no [[credentials]] entries"),
    "credentials_not_array": N_("'credentials' must be an array of tables ([[credentials]])"),
    "entry_not_table": N_("credentials entry {entry}: must be a table with username and password"),
    "entry_unknown_keys": N_("credentials entry {entry}: unknown key(s) {keys}"),
    "entry_username": N_("credentials entry {entry}: 'username' must be a non-empty string"),
    "entry_password_missing": N_("credentials entry {entry} (username {username!r}): 'password' is missing"),
    "entry_password_type": N_("credentials entry {entry} (username {username!r}): 'password' must be a string, "
                              "not {type}"),
    # the models' rules that name a value (inventory/models.py)
    "status_transition": N_("cannot go from {state} to {new_state}; from {state} only to {states}"),
    "status_final": N_("cannot go from {state} to {new_state}; from {state} only to nothing ({state} is final)"),
    "not_absolute_uri": N_("{uri!r} is not an absolute URI"),
    "uri_other_host": N_("host {host} is not the device's address {ip}; a device's URIs point at the device itself"),
    "not_an_ip": N_("{value!r} is not an IPv4 or IPv6 address"),
    "snmp_port_range": N_("{value} is not a UDP port (1 to 65535), or null for a device not read over SNMP"),
    "latitude_range": N_("{value} is outside -90..90 (are latitude and longitude swapped?)"),
    "mount_latitude_range": N_("{value} is outside -90..90"),
    "longitude_range": N_("{value} is outside -180..180"),
    "mount_height_range": N_("{value} m is not a mounting height (0..200)"),
    "heading_range": N_("{value} is outside 0..360 (0 = north, clockwise)"),
    "hfov_range": N_("{value} is outside 0..360"),
}

#: Lifecycle states (inventory/choices.py Status), said inside the sentences above.
_STATES = {"planned": N_("planned"), "active": N_("active"), "offline": N_("offline"), "retired": N_("retired")}


def _state(code: Any) -> str:
    return _(_STATES[code]) if code in _STATES else str(code)


def reason_text(reason: Any) -> str:
    """Return a reason in the command's language; one the table does not know as it is."""
    code = getattr(reason, "code", None)
    params: dict[str, Any] = dict(getattr(reason, "params", {}) or {})
    if code == "field_problem":
        return f"{params.get('where')}: {reason_text(params.get('problem'))}"
    if code not in WORDS:
        return str(reason)
    for name in ("state", "new_state"):
        if name in params:
            params[name] = _state(params[name])
    if "states" in params:
        params["states"] = ", ".join(_state(s) for s in str(params["states"]).split(", "))
    try:
        return _(WORDS[code]).format(**params)
    except (KeyError, IndexError, ValueError):  # a sentence naming a parameter the reason lacks: say it in English
        return str.__str__(reason)
