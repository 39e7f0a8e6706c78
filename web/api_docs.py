"""A readable page of the API at ``GET /api/v1/docs``, made on the server from the OpenAPI document.

No CDN and no Swagger UI bundle: the page is rendered from ``api_openapi.build_spec`` (the same
document ``/api/v1/openapi.json`` answers, generated from the routes), so it works offline and
cannot drift from the API.  It lists each tag, then each path and method with its summary,
parameters, request body and status codes.  The headings are the web catalogue's (Vietnamese and
English); the summaries and the status descriptions stay as the document has them (English).
Like the document it needs no login: it holds no inventory data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l

from sitescout.web.api_openapi import build_spec

__all__ = ["bp", "Operation", "operations_by_tag"]

bp = Blueprint("docs", __name__)

_TAGS = {
    "places": _l("Regions and communes"), "sites": _l("Sites"), "devices": _l("Devices"),
    "changes": _l("Change log"), "surveys": _l("Surveys"), "observations": _l("Observations"),
    "meta": _l("This description"), "other": _l("Other routes"),
}
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Operation:
    """One method on one path, as the page lists it."""

    method: str
    path: str
    summary: str
    parameters: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, where, required)
    body: str | None = None
    answers: list[tuple[str, str]] = field(default_factory=list)  # (status, description)
    public: bool = False


def _schema_name(content: dict[str, Any]) -> str | None:
    for media in content.values():
        ref = (media.get("schema") or {}).get("$ref", "")
        if ref:
            return str(ref.rsplit("/", 1)[-1])
    return None


def _operation(path: str, method: str, op: dict[str, Any], shared: list[dict[str, Any]]) -> Operation:
    params = [(str(p["name"]), str(p["in"]), bool(p.get("required"))) for p in [*shared, *op.get("parameters", [])]]
    body = op.get("requestBody")
    return Operation(
        method=method.upper(), path=path, summary=str(op.get("summary") or ""), parameters=params,
        body=_schema_name(body.get("content", {})) if body else None,
        answers=[(str(code), str(answer.get("description", ""))) for code, answer in op.get("responses", {}).items()],
        public=op.get("security") == [],
    )


def operations_by_tag(spec: dict[str, Any]) -> list[tuple[str, str, list[Operation]]]:
    """Return (tag, its heading, its operations in path order) for an OpenAPI document, known tags first."""
    groups: dict[str, list[Operation]] = {}
    for path, item in sorted(spec.get("paths", {}).items()):
        shared = item.get("parameters", [])
        for method in _METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append(_operation(path, method, op, shared))
    order = [t for t in _TAGS if t in groups] + sorted(t for t in groups if t not in _TAGS)
    return [(t, str(_TAGS.get(t, t)), groups[t]) for t in order]


@bp.get("/docs")
def api_docs() -> str:
    """Show the API's reference page (tags, paths, methods, parameters, answers), made from its OpenAPI document."""
    spec = build_spec(current_app)
    return render_template("api_docs.html", info=spec.get("info", {}), groups=operations_by_tag(spec))
