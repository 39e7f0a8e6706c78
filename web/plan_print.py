"""A workbench plan on paper: A4, in the reader's language, with its sketch and bill of materials."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import format_decimal
from flask_babel import gettext as _
from markupsafe import Markup

from sitescout.inventory import store
from sitescout.inventory.planning import catalogue
from sitescout.inventory.planning.plan_input import PlanInputError
from sitescout.inventory.planning.plan_report import bom_rows, plan_sketch_svg
from sitescout.inventory.planning.plans import get_plan
from sitescout.inventory.planning.workbench import layout_summary
from sitescout.web.plan_words import level_words, network_lines, port_words, reason_words
from sitescout.web.security import login_required
from sitescout.web.storage import db_session
from sitescout.web.workbench import layout_result, workbench_state

__all__ = ["bp"]

bp = Blueprint("plan_print", __name__)


def _item(row: dict[str, Any]) -> str:
    words = {"camera": _("Camera"), "outdoor Cat6 cable": _("Outdoor Cat6 cable"),
             "wireless bridge pair": _("Wireless bridge pair"), "TOTAL": _("Total")}
    return words.get(str(row["item"]), str(row["item"]))


def _currency() -> str:
    currencies = {m.currency for m in catalogue.list_camera_models(db_session())}
    return currencies.pop() if len(currencies) == 1 else ""


@bp.get("/sites/<int:site_id>/plans/<int:plan_id>/print")
@login_required()
def print_plan(site_id: int, plan_id: int) -> str:
    """Show a workbench plan ready to print: summary, sketch, cameras, unusable mounts, bill of materials."""
    record = get_plan(db_session(), plan_id)
    detail = store.get_site(db_session(), site_id)
    if record is None or detail is None or record.site_id != site_id:
        abort(404, description=_("No plan has this number."))
    try:
        result = layout_result(workbench_state(record))
    except PlanInputError:
        abort(404, description=_("Only plans made on the workbench can be printed here."))
    summary = layout_summary(result)
    ports = [None if a is None else a.to_dict() for a in result.switch_ports()]
    cameras = [{"id": result.camera_id(n), "mount": p.mount_id, "model": p.model, "heading": round(p.heading_deg),
                "hfov": round(p.hfov_deg, 1), "height": result.input.mounts[p.mount_index].height_m,
                "port": port_words(ports[n])}
               for n, p in enumerate(result.chosen)]
    unusable = [{"mount": m.id, "reasons": reason_words([r.to_dict() for r in c.all_reasons()])}
                for m, c in zip(result.input.mounts, result.checks) if c.all_reasons()]
    bom = [{"item": _item(r), "model": r["model"], "quantity": r["quantity"], "unit": r["unit"],
            "unit_price": r["unit_price"], "total": r["total_price"]} for r in bom_rows(result)]
    levels = [(level_words(name), share) for name, share in summary["by_level"].items()]
    return render_template("plan_print.html", site=detail.site, plan=record, summary=summary, levels=levels,
                           cameras=cameras, unusable=unusable,
                           network=network_lines(result.input.network), bom=bom, currency=_currency(),
                           total=bom[-1]["total"],
                           gap=result.solution.gap, sketch=Markup(plan_sketch_svg(result)),
                           number=lambda v: format_decimal(v) if isinstance(v, (int, float)) else v)
