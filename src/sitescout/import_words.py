"""Coded messages in the command's language: `Coded` as words (the command's one table of them).

Why an import row, a record, the credentials file (its ``[[credentials]]`` and ``[snmp]`` tables),
a saved plan, a ``--shard`` or the inventory database was refused.  The inventory and the probes
keep such a reason as a :class:`~sitescout.inventory.errors.Coded` message (code and parameters,
English as its text); the web says the ones it meets with its catalogue (web/errors.py API_WORDS),
the command here with its own ``cli`` catalogue.  A reason that is not coded, or whose code is not
here, is printed as it is (English); ``tests/test_i18n_leftovers_codes.py`` fails when a code the
inventory or the credentials file makes is missing here.
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
    # the [snmp] table of the credentials file: keys and entry numbers, never a community or a key
    "snmp_not_table": N_("'snmp' must be a table ([snmp])"),
    "snmp_unknown_keys": N_("{where}: unknown key(s) {keys}"),
    "snmp_max_attempts": N_("[snmp]: 'max_attempts' must be an integer from 1 to {most}"),
    "snmp_scope_not_array": N_("[snmp]: 'scope' must be an array of tables ([[snmp.scope]])"),
    "snmp_scope_same_network": N_("[[snmp.scope]]: two entries have the same 'network'; merge them"),
    "snmp_communities": N_("{where}: 'communities' must be a list of non-empty strings"),
    "snmp_v3_not_array": N_("{where}: 'v3' must be an array of tables ({table})"),
    "snmp_entry_not_table": N_("{where}: must be a table"),
    "snmp_scope_network": N_("{where}: 'network' must be a network address with its prefix length, like "
                             "198.51.100.0/24 (no host bits set)"),
    "snmp_scope_empty": N_("{where}: gives no credentials ('communities' or [[snmp.scope.v3]])"),
    "snmp_v3_username": N_("{where}: 'username' must be a non-empty string"),
    "snmp_v3_key_length": N_("{where} (username {username!r}): '{key}' must be a string of at least 8 characters"),
    "snmp_v3_protocol": N_("{where}: '{key}' must be one of {choices}"),
    # places in the credentials file, said inside the sentences above
    "snmp_scope_entry": N_("[[snmp.scope]] entry {entry}"),
    "snmp_v3_entry": N_("[[snmp.v3]] entry {entry}"),
    "snmp_scope_v3_entry": N_("[[snmp.scope]] entry {scope}, [[snmp.scope.v3]] entry {entry}"),
    # saved plans (inventory/planning/plans.py)
    "no_site": N_("no site with id {id}"),
    "no_site_named": N_("no site named {name!r} in the inventory; create it or give its id"),
    "sites_named": N_("{count} sites are named {name!r}; give the site id"),
    "not_a_plan": N_("expected the FeatureCollection of a plan (sitescout plan place --geojson)"),
    "camera_not_point": N_("features[{index}]: a camera needs a Point geometry"),
    # the plan input (inventory/planning/plan_input.py, dori.py): said after the key, "mounts[2].power: …"
    "plan_expected_object": N_("expected an object"),
    "plan_unknown_key": N_("unknown key {key!r}; allowed: {allowed}"),
    "plan_missing": N_("missing {key!r}"),
    "plan_not_number": N_("expected a number, got {value!r}"),
    "plan_at_least": N_("must be at least {least:g}"),
    "plan_cannot_read": N_("cannot read {path}: {reason}"),
    "plan_not_json": N_("{path} is not JSON: {reason}"),
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
    "unknown_dori_level": N_("unknown DORI level {name!r} for profile {profile}; use one of: {known}"),
    "unknown_dori_profile": N_("unknown DORI profile {name!r}; use one of: {known}"),
    # shards of the targets (inventory/shards.py)
    "shard_form": N_("{name} must look like K/N (e.g. 1/2), not {value!r}"),
    "shard_range": N_("{name} {value}: give K/N with K between 1 and N (N at most {most})"),
    "shard_count": N_("the number of shards must be at least 1, not {count}"),
    # the command's own options parsed below it (probes/net/interfaces.py, probes/worker/exporter.py, probe_service.py)
    "network_not_cidr": N_("--network {value!r} is not a CIDR network such as 198.51.100.0/24"),
    "network_not_ipv4": N_("--network {value!r}: only IPv4 networks can be swept"),
    "network_too_large": N_("--network {value!r} has {count} addresses, over the limit of {most}; survey smaller "
                            "networks"),
    "listen_form": N_("--listen must be HOST:PORT (e.g. 127.0.0.1:9110), not {value!r}"),
    "probe_limit_form": N_("--probe-limit {value!r}: expected MODULE=N with MODULE one of {modules} and N "
                           "{least}-{most}"),
    # the inventory database (inventory/db.py open_database)
    "not_a_database_url": N_("{url!r} is not a database URL; use sqlite:///PATH or postgresql://USER@HOST/DB"),
    "unsupported_database": N_("unsupported database {backend!r}; use sqlite:/// or postgresql://"),
    "database_folder": N_("cannot create the folder {folder} of the database: {reason}"),
    "database_is_folder": N_("{path} is a folder, not a database file; give the file's path, e.g. "
                             "sqlite:///{path}/inventory.sqlite3"),
    "database_unreadable": N_("cannot read {path}: {reason}"),
    "not_sqlite": N_("{path} is not a SQLite database (not an inventory); give the inventory's file, or a new file "
                     "name to start one"),
    "cannot_open_database": N_("cannot open {url}: {reason}"),
    "newer_schema": N_("{url} holds an inventory of a newer sitescout (schema {revision}; this one knows up to "
                       "{head}): upgrade sitescout, or give another database"),
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
    for name, value in params.items():
        if hasattr(value, "code"):  # a place in a file, itself coded ([[snmp.scope]] entry 2)
            params[name] = reason_text(value)
    for name in ("state", "new_state"):
        if name in params:
            params[name] = _state(params[name])
    if "states" in params:
        params["states"] = ", ".join(_state(s) for s in str(params["states"]).split(", "))
    try:
        return _(WORDS[code]).format(**params)
    except (KeyError, IndexError, ValueError):  # a sentence naming a parameter the reason lacks: say it in English
        return str.__str__(reason)
