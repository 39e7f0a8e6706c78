"""Whether a workbench plan's network facts are still the site's, and re-evaluating the plan when they are not.

A workbench plan is evaluated with the network facts in its plan input (``network``: switches,
free ports, PoE budget, uplink, cameras already planned).  Beside them its state keeps the site's
*stamp* when they were taken (`site_stamp`): how many surveys the site had and the newest one's id,
a digest of the ports the inventory says are taken (cables, disabled ports), and one of the cameras
planned outside the site's plans.  A new survey, a cable recorded, a port disabled, a camera
planned by hand: each changes the stamp.

Every read of a plan through the workbench (a camera move included) compares the stamps
(`refresh_plan`): three or four small indexed queries, about 2 ms of CPU (benchmarks/
bench_plan_workbench.py, the ``workbench`` ledger row).  Only when they differ are the facts read
again from the survey documents (`network_facts.site_network`); when the facts changed the plan is
evaluated again with them, saved with ``network_refreshed`` (the facts it had before), and
a change-log entry is written when its verdict (which cameras have which problems) changed.

Why on read and not when a survey is ingested (measured on the benchmark's village plan, 200 points
of interest, 50 mounts, 6 cameras, SQLite): ingesting the survey costs 27-43 ms of CPU, evaluating one
plan again on new facts 45-70 ms, so ingestion would cost several times more with every workbench plan
of the site evaluated again, plans nobody may open again included, on the field laptop's and the push
API's path; and the inventory's cables and planned cameras change through many other writers.  The
read-side check catches every writer for about 2 ms of CPU per read and evaluates a plan once, when
it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitescout.inventory.changes import record_event
from sitescout.inventory.choices import DeviceKind, Status
from sitescout.inventory.model_survey import Survey
from sitescout.inventory.models import Device

from .network_facts import NETWORK_KEY, inventory_taken_ports, plan_device_ids, site_network
from .plans import PlanRecord, update_plan
from .workbench import NETWORK_REFRESHED, NETWORK_STAMP, evaluate_state, input_digest

__all__ = ["ACTOR", "site_stamp", "site_facts", "with_workbench_network", "refreshed_state", "verdict",
           "is_stale", "refresh_plan"]

#: Who the change log says re-evaluated a plan: the facts changed, not the reader.
ACTOR = "sitescout"


def site_stamp(session: Session, site_id: int) -> dict[str, Any]:
    """Return what the site's network facts depend on, cheaply: how many surveys and the newest, the ports the
    inventory says are taken, the cameras planned outside the site's plans (three or four small queries)."""
    count, newest = session.execute(select(func.count(Survey.id), func.max(Survey.id))
                                    .where(Survey.site_id == site_id)).one()
    taken = inventory_taken_ports(session, site_id)
    planned = session.execute(select(Device.id, Device.model).where(
        Device.site_id == site_id, Device.kind == DeviceKind.CAMERA.value,
        Device.status == Status.PLANNED.value)).all()
    in_plans = plan_device_ids(session, site_id) if planned else set()
    return {"surveys": [int(count or 0), int(newest or 0)],
            "taken": _digest(f"{ip} {port}" for ip, ports in taken.items() for port in ports),
            "planned": _digest(f"{r.id} {r.model or ''}" for r in planned if r.id not in in_plans)}


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


def site_facts(session: Session, site_id: int) -> dict[str, Any] | None:
    """Return the site's network facts as a workbench plan sees them (None: no survey with SNMP data).

    The planned devices of every plan of the site are left out: a plan is evaluated as if it were
    the site's plan, replacing the plan of record (`network_facts.plan_device_ids`).
    """
    net = site_network(session, site_id, exclude_device_ids=plan_device_ids(session, site_id))
    return None if net is None else net.to_dict()


def with_workbench_network(session: Session, site_id: int, doc: dict[str, Any]) -> dict[str, Any]:
    """Return a workbench plan input with the site's current facts as ``network`` (none: no SNMP survey)."""
    facts = site_facts(session, site_id)
    out = {k: v for k, v in doc.items() if k != NETWORK_KEY}
    if facts is not None:
        out[NETWORK_KEY] = facts
    return out


def is_stale(state: dict[str, Any], stamp: dict[str, Any]) -> bool:
    """Return whether a workbench state's facts were taken when the site's stamp was another."""
    return state.get(NETWORK_STAMP) != stamp


def refreshed_state(session: Session, site_id: int, state: dict[str, Any],
                    stamp: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Return the state with the site's current facts and stamp; None when its stamp is the site's.

    The input (and its digest) changes only when the facts did: a survey without SNMP data, or a
    change that leaves the facts as they were, gives back the same input with the new stamp.
    """
    stamp = stamp if stamp is not None else site_stamp(session, site_id)
    if not is_stale(state, stamp):
        return None
    old_input = state.get("input") or {}
    doc = with_workbench_network(session, site_id, old_input)
    fresh = {**state, NETWORK_STAMP: stamp}
    digest = input_digest(doc)
    if digest != (state.get("input_digest") or input_digest(old_input)):
        fresh.update(input=doc, input_digest=digest)
    return fresh


def verdict(geojson: dict[str, Any] | None) -> dict[str, Any]:
    """Return a plan's verdict: whether every camera can go where it is, and each camera's problem codes."""
    plan = (geojson or {}).get("plan") or {}
    problems = {str(p.get("camera_id")): sorted({str(c.get("code")) for c in p.get("reason_codes") or []
                                                 if isinstance(c, dict)})
                for p in plan.get("camera_problems") or [] if isinstance(p, dict)}
    return {"feasible": not problems, "camera_problems": problems}


def _facts_source(facts: Any) -> dict[str, Any]:
    """Return which facts a plan was evaluated with: the survey (id and time), or the typed numbers."""
    if not isinstance(facts, dict) or not facts.get("switches"):
        return {"source": "typed", "survey_id": None, "surveyed_at": None}
    return {"source": "survey", "survey_id": facts.get("survey_id"), "surveyed_at": facts.get("surveyed_at")}


def refresh_plan(session: Session, record: PlanRecord, limits: Any, *, actor: str = ACTOR,
                 stamp: dict[str, Any] | None = None) -> PlanRecord | None:
    """Re-evaluate a workbench plan whose network facts are not the site's any more; None when they are.

    The plan is saved (its state with the new facts and stamp, its summary and drawing evaluated
    again); when its verdict changed, the change log says so (``reevaluate``: before and after,
    with the facts each was made with).
    """
    geojson = record.geojson or {}
    state = geojson.get("workbench")
    if not isinstance(state, dict) or not isinstance(state.get("input"), dict):
        return None  # a plan made without the workbench has no design to evaluate again
    fresh = refreshed_state(session, record.site_id, state, stamp)
    if fresh is None:
        return None
    if fresh.get("input_digest") == state.get("input_digest"):
        updated = {**geojson, "workbench": fresh, "plan": {**(geojson.get("plan") or {}),
                                                           NETWORK_STAMP: fresh[NETWORK_STAMP]}}
        return update_plan(session, record.id, updated)
    before_facts = _facts_source((state.get("input") or {}).get(NETWORK_KEY))
    after_facts = _facts_source(fresh["input"].get(NETWORK_KEY))
    evaluated = evaluate_state(fresh, limits)
    before, after = verdict(geojson), verdict(evaluated)
    # Kept in the state: later moves still say the facts changed under the plan, until its design is redrawn.
    fresh[NETWORK_REFRESHED] = evaluated["plan"][NETWORK_REFRESHED] = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "previous": before_facts,
        "verdict_changed": before != after, "feasible": after["feasible"]}
    if before != after:
        record_event(session, actor, "plan", record.id, "reevaluate",
                     {**before, "network_survey": before_facts["surveyed_at"]},
                     {**after, "network_survey": after_facts["surveyed_at"]},
                     site_id=record.site_id, object_repr=record.name)
    return update_plan(session, record.id, evaluated)
