"""What is wrong with a device and since when, read from its stored observations.

For each kind of observation that counts towards the device's health (its latest result within
``HEALTH_WINDOW`` of the device's newest), an unhealthy result gives its verdicts (codes and
parameters, see inventory/health.py) and the time of the first observation of the current bad
state: walking back through that kind's results while they still carry the same reason.
Observations stored before verdicts were kept as codes are judged again from their values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory import health
from sitescout.inventory.ingest import host_verdicts
from sitescout.inventory.models import Observation, utcnow
from sitescout.inventory.observations import HEALTH_WINDOW, MAX_CLOCK_SKEW

__all__ = ["device_reasons", "EVIDENCE_ROWS"]

#: How many of a device's newest observations are read to find when a bad state began.
EVIDENCE_ROWS = 2000
_BAD = (health.WARNING, health.PROBLEM)


def _verdicts(kind: str, level: str, values: dict[str, Any]) -> list[health.Verdict]:
    """Return the stored verdicts of an observation, or judge its values again (older rows)."""
    stored = values.get("verdicts")
    if isinstance(stored, list):
        found = [health.Verdict(str(v.get("level") or level), str(v.get("code") or ""), dict(v.get("params") or {}))
                 for v in stored if isinstance(v, dict) and v.get("code")]
        if found:
            return found
    if values.get("found") is False:
        return [health.Verdict(health.PROBLEM, "not_found")]
    if kind == "survey":  # a survey's row keeps the host's link, onvif and streams: judge them as ingestion does
        judged = host_verdicts(values)
    else:
        judged = health.observation_verdicts(kind, values, up=values.get("up", True))
    if judged:
        return judged
    text = values.get("reason") or "; ".join(str(r) for r in values.get("reasons") or []) or kind
    return [health.Verdict(level, "text", {"text": str(text)})]


def device_reasons(session: Session, device_id: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return what is wrong with a device: ``[{level, code, params, since, kind}]``, problems first."""
    latest_plausible = (now or utcnow()) + MAX_CLOCK_SKEW
    rows = session.execute(
        select(Observation.kind, Observation.observed_at, Observation.health, Observation.values)
        .where(Observation.device_id == device_id, Observation.observed_at <= latest_plausible)
        .order_by(Observation.observed_at.desc(), Observation.id.desc())
        .limit(EVIDENCE_ROWS)
    ).all()
    if not rows:
        return []
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    newest = rows[0].observed_at
    reasons = []
    for kind, history in by_kind.items():
        if history[0].health not in _BAD or newest - history[0].observed_at > HEALTH_WINDOW:
            continue
        for verdict in _verdicts(kind, history[0].health, dict(history[0].values or {})):
            reasons.append({**verdict.to_dict(), "kind": kind, "since": _since(kind, history, verdict.code)})
    return sorted(reasons, key=lambda r: (r["level"] != health.PROBLEM, r["since"]))


def _since(kind: str, history: list[Any], code: str) -> datetime:
    """Return when the current bad state began: the oldest of the newest run of results carrying ``code``."""
    since = history[0].observed_at
    for row in history:
        if row.health not in _BAD:
            break
        if code not in {v.code for v in _verdicts(kind, row.health, dict(row.values or {}))}:
            break
        since = row.observed_at
    return since

