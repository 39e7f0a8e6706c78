"""The OpenAPI 3.1 document of /api/v1, generated from the app's routes at request time (apispec).

Nothing here is a hand-written copy of the API: the paths and methods come from the Flask
``url_map``; each view's summary, body, answers, query arguments and headers come from its
``@operation(...)`` (``web.api_common``); request bodies come from the field rules the views
parse with (``inventory.editing.RESOURCES``).  A route without ``@operation`` still appears
(summary from its docstring, a generic answer), so a new route can never be missing.
Served at ``GET /api/v1/openapi.json`` without login: it holds no inventory data.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app

from sitescout import __version__
from sitescout.inventory.changes import ACTIONS
from sitescout.inventory.choices import CableStatus, DeviceKind, InterfaceKind, SiteKind, Status
from sitescout.inventory.editing import MAX_ID, RESOURCES, Field
from sitescout.web.api_common import MAX_PAGE, json_answer, operation

__all__ = ["bp", "build_spec"]

bp = Blueprint("openapi", __name__)

_STRING_MAP = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean"}
_REASONS = {
    200: "OK",
    201: "Created (Location names the new record)",
    204: "Done, nothing to return",
    304: "Not modified (If-None-Match names the current ETag)",
    400: "Wrong fields or query arguments: errors names each",
    401: "No login or token, or a token not accepted",
    403: "This role, or this token's scope, may not do this",
    404: "No such record",
    409: "Conflicts with another record (a duplicate name, address…) or still in use",
    405: "An id beyond 64 bits: no record has it",
    412: "If-Match names a version that is no longer current (read again); on GET, a conditional that fails",
    413: "The body is too large",
    428: "If-Match is required (send the ETag you read, or *)",
    503: "Busy, or a server setting is missing: retry later",
}


def _field_schema(spec: Field) -> dict[str, Any]:
    if spec.kind == "strings":
        schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "maxItems": 100}
    elif spec.kind == "objects":
        schema = {"type": "array", "items": {"type": "object"}, "maxItems": 100}
    else:
        schema = {"type": _STRING_MAP[spec.kind]}
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.kind == "integer":
        schema.update(minimum=spec.minimum, maximum=spec.maximum)
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _write_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for name, resource in RESOURCES.items():
        props = {k: _field_schema(f) for k, f in resource.fields.items()}
        title = name.capitalize()
        required = [k for k, f in resource.fields.items() if f.required]
        schemas[f"{title}Write"] = {"type": "object", "properties": props, "additionalProperties": False,
                                    **({"required": required} if required else {})}
        schemas[f"{title}Patch"] = {"type": "object", "properties": props, "additionalProperties": False}
    return schemas


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _listing(item: str, key: str) -> dict[str, Any]:
    return {"type": "object", "required": [key, "total", "offset", "limit", "next"], "properties": {
        key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}, "total": {"type": "integer"},
        "offset": {"type": "integer"}, "limit": _nullable("integer"), "next": _nullable("string")}}


def _read_schemas() -> dict[str, dict[str, Any]]:
    camera = {"type": "object", "required": ["device_id", "profiles", "stream_uris", "version"], "properties": {
        "device_id": {"type": "integer"}, "mount_latitude": _nullable("number"), "mount_longitude": _nullable("number"),
        "height_m": _nullable("number"), "heading_deg": _nullable("number"), "hfov_deg": _nullable("number"),
        "profiles": {"type": "array", "items": {"type": "object"}},
        "stream_uris": {"type": "array", "items": {"type": "string"}}, "version": {"type": "integer"}}}
    device = {"type": "object", "required": ["id", "site_id", "kind", "name", "status", "has_credential"],
              "not": {"anyOf": [{"required": ["password"]}, {"required": ["credential_encrypted"]},
                                {"required": ["username"]}]},
              "properties": {
                  "id": {"type": "integer"}, "site_id": {"type": "integer"},
                  "kind": {"enum": [k.value for k in DeviceKind]}, "name": {"type": "string"},
                  "status": {"enum": [s.value for s in Status]}, "ip": _nullable("string"), "mac": _nullable("string"),
                  "health": {"type": "string"}, "has_credential": {"type": "boolean"},
                  "camera": {"anyOf": [{"type": "object"}, {"type": "null"}]}, "version": {"type": "integer"},
                  "notes": {"type": "string"}, "snmp_port": _nullable("integer")}}
    geometry = {"anyOf": [{"type": "null"}, {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"const": "Point"}, "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2}}}]}
    feature = {"type": "object", "required": ["type", "id", "geometry", "properties"], "properties": {
        "type": {"const": "Feature"}, "id": {"type": "integer"}, "geometry": geometry,
        "properties": {"type": "object", "required": ["id", "name", "kind", "status", "commune", "region", "health"],
                       "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                      "kind": {"enum": [k.value for k in SiteKind]},
                                      "status": {"enum": [s.value for s in Status]},
                                      "version": {"type": "integer"}, "commune_id": {"type": "integer"}}}}}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "code", "message"],  # every error answer is made by web/errors.py
            "properties": {
                "error": {"type": "string", "description": "the message (kept for older clients)"},
                "code": {"type": "string", "description": "stable machine code (docs/api.md, Errors)"},
                "message": {"type": "string", "description": "in the request's language"},
                "params": {"type": "object"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "params": {"type": "object"}}}},
            },
        },
        "Region": {
            "type": "object",
            "required": ["id", "name", "commune_count", "version"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "commune_count": {"type": "integer"},
                "version": {"type": "integer"},
            },
        },
        "Commune": {
            "type": "object",
            "required": ["id", "region_id", "region", "name", "is_demo", "site_count", "version"],
            "properties": {
                "id": {"type": "integer"},
                "region_id": {"type": "integer"},
                "region": {"type": "string"},
                "name": {"type": "string"},
                "is_demo": {"type": "boolean"},
                "site_count": {"type": "integer"},
                "version": {"type": "integer"},
            },
        },
        "RegionList": _listing("Region", "regions"),
        "CommuneList": _listing("Commune", "communes"),
        "SiteFeature": feature,
        "SiteCollection": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": {"$ref": "#/components/schemas/SiteFeature"}},
                "total": {"type": "integer"},
                "next": {"type": "string"},
            },
        },
        "Device": device,
        **_network_schemas(),
        "DeviceList": _listing("Device", "devices"),
        "Camera": camera,
        "CredentialWrite": {
            "type": "object",
            "required": ["username", "password"],
            "additionalProperties": False,
            "properties": {
                "username": {"type": "string", "minLength": 1, "maxLength": 200},
                "password": {"type": "string", "maxLength": 1000},
            },
        },
        "CredentialState": {
            "type": "object",
            "required": ["has_credentials"],
            "additionalProperties": False,
            "properties": {"has_credentials": {"type": "boolean"}},
        },
        "Change": {
            "type": "object",
            "required": ["id", "changed_at", "actor", "action", "object_type", "diff"],
            "properties": {
                "id": {"type": "integer"},
                "changed_at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string"},
                "action": {"enum": list(ACTIONS)},
                "object_type": {"type": "string"},
                "object_id": _nullable("integer"),
                "object_repr": {"type": "string"},
                "site_id": _nullable("integer"),
                "before": {"type": ["object", "null"]},
                "after": {"type": ["object", "null"]},
                "diff": {"type": "object"},
            },
        },
        "ChangeList": _listing("Change", "changes"),
        "SurveyDocument": {
            "type": "object",
            "required": ["site", "hosts"],
            "properties": {"site": {"type": "string"}, "started_at": {"type": "string"}, "hosts": {"type": "array"}},
        },
        "SurveyStored": {"type": "object"},
        "Observations": {"anyOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]},
        "ObservationsRecorded": {
            "type": "object",
            "required": ["recorded"],
            "properties": {"recorded": {"type": "integer"}},
        },
    }


def _network_schemas() -> dict[str, dict[str, Any]]:
    """Interfaces and cables (web/api_network.py)."""
    peer = {"type": "object", "required": ["interface_id", "name", "device_id", "device"], "properties": {
        "interface_id": {"type": "integer"}, "name": {"type": "string"}, "device_id": {"type": "integer"},
        "device": {"type": "string"}, "site_id": {"type": "integer"}}}
    interface = {"type": "object", "required": ["id", "device_id", "name", "kind", "poe", "uplink", "enabled",
                                                 "version", "cable_id", "peer"], "properties": {
        "id": {"type": "integer"}, "device_id": {"type": "integer"}, "name": {"type": "string"},
        "if_index": _nullable("integer"), "description": {"type": "string"},
        "kind": {"enum": [k.value for k in InterfaceKind]}, "speed_bps": _nullable("integer"),
        "mac": _nullable("string"), "poe": {"type": "boolean"}, "uplink": {"type": "boolean"},
        "enabled": {"type": "boolean"}, "version": {"type": "integer"}, "cable_id": _nullable("integer"),
        "peer": {"anyOf": [peer, {"type": "null"}]}}}
    cable = {"type": "object", "required": ["id", "a_interface_id", "b_interface_id", "status", "version", "a", "b"],
             "properties": {"id": {"type": "integer"}, "a_interface_id": {"type": "integer"},
                            "b_interface_id": {"type": "integer"}, "status": {"enum": [s.value for s in CableStatus]},
                            "version": {"type": "integer"}, "a": peer, "b": peer}}
    return {"Interface": interface, "InterfaceList": _listing("Interface", "interfaces"), "Cable": cable,
            "CableList": _listing("Cable", "cables")}


_QUERY: dict[str, dict[str, Any]] = {
    "q": {"type": "string", "maxLength": 100, "description": "search, case and diacritics ignored ('thon dong')"},
    "problems": {"type": "string", "description": "1, true or yes: problem sites only"},
    "kind": {"type": "string"},
    "status": {"type": "string", "enum": [s.value for s in Status]},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "site": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "region": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "device": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "object": {"type": "string", "pattern": "^([a-z_]{1,40}(:[0-9]{1,18})?)?$", "description": "device or device:12"},
    "since": {"type": "string", "description": "an ISO 8601 time (empty: no limit)"},
}
_RULE_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _error_response(status: int) -> dict[str, Any]:
    return {"description": _REASONS.get(status, "error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok_response(status: int, schema: str | None, meta: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _REASONS.get(status, "OK")}
    if schema is not None and status != 204:
        answer["content"] = {
            meta.get("mimetype", "application/json"): {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    headers = {}
    if meta.get("etag") and status != 204:
        headers["ETag"] = {"description": "the record's version, for If-Match", "schema": {"type": "string"}}
    if meta.get("location") and status == 201:
        headers["Location"] = {"description": "where the new record is", "schema": {"type": "string"}}
    if headers:
        answer["headers"] = headers
    return answer


def _operation(view: Any, meta: dict[str, Any] | None, has_path_args: bool) -> dict[str, Any]:
    doc = (view.__doc__ or "").strip().splitlines()
    if meta is None:  # described only by its docstring (routes of other blueprints)
        return {"summary": doc[0] if doc else "", "tags": ["other"], "responses": {"default": {
            "description": "see docs/api.md", "content": {"application/json": {"schema": {}}}}}}
    status, schema = meta.get("ok", (200, None))
    responses = {str(status): _ok_response(status, schema, meta)}
    for extra in meta.get("also_ok", ()):
        responses[str(extra)] = _ok_response(extra, schema, meta)
    for code in meta.get("errors", ()):
        responses[str(code)] = _error_response(code) if code != 304 else {"description": _REASONS[304]}
    if has_path_args:
        responses.setdefault("404", _error_response(404))
        # An id beyond 64 bits matches no route (web._BoundedInt); Werkzeug then answers a write 405.
        responses.setdefault("405", _error_response(405))
    op: dict[str, Any] = {"summary": meta.get("summary", doc[0] if doc else ""), "description": " ".join(doc),
                          "tags": [meta.get("tag", "other")], "responses": responses}
    params = [{"name": q, "in": "query", "required": False, "schema": _QUERY[q]} for q in meta.get("query", ())]
    if meta.get("if_match"):
        params.append({"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                       "description": 'the ETag read before (e.g. "v3"), or *; without it the answer is 428'})
    if params:
        op["parameters"] = params
    if meta.get("body"):
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{meta['body']}"}}}}
    if meta.get("public"):
        op["security"] = []
    return op


def build_spec(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of every /api/v1 route the app serves."""
    spec = APISpec(title="sitescout inventory API", version=__version__, openapi_version="3.1.0",
                   info={"description": "Sites, devices, cameras, credentials (write-only), the change log, surveys "
                                        "and observations. Status codes, ETags and pages: docs/api.md."},
                   servers=[{"url": "/"}], security=[{"bearer": []}])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in {**_write_schemas(), **_read_schemas()}.items():
        spec.components.schema(name, schema)
    paths: dict[str, dict[str, Any]] = {}
    parameters: dict[str, list[dict[str, Any]]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        path = _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        args = _RULE_ARG.findall(rule.rule)
        parameters[path] = [{"name": name, "in": "path", "required": True,
                             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if conv == "int"
                             else {"type": "string"}} for conv, name in args]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = _operation(view, getattr(view, "openapi", None), bool(args))
            op["operationId"] = f"{rule.endpoint}.{method.lower()}"
            paths.setdefault(path, {})[method.lower()] = op
    for path, operations in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters[path])
    return spec.to_dict()


@bp.get("/openapi.json")
@operation(summary="This document (OpenAPI 3.1)", tag="meta", ok=(200, None), public=True)
def openapi_document() -> Response:
    """Return the OpenAPI 3.1 document of this API, generated from its routes."""
    return json_answer(build_spec(current_app))
