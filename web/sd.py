"""Prometheus HTTP service discovery: the targets of every monitored device, from the inventory."""

from __future__ import annotations

import json

from flask import Blueprint, Response

from sitescout.inventory import store
from sitescout.web.security import TARGET_ROLES, token_required
from sitescout.web.storage import db_session

__all__ = ["bp"]

bp = Blueprint("sd", __name__, url_prefix="/sd")


@bp.get("/prometheus")
@token_required(TARGET_ROLES)
def prometheus() -> Response:
    """Return http_sd target groups (a worker token suffices)."""
    groups = store.prometheus_targets(db_session())
    return Response(json.dumps(groups, ensure_ascii=False), mimetype="application/json")
