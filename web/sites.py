"""Site pages: devices with health, snapshots, history of key figures, candidates, and the survey report."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from sitescout.inventory import store
from sitescout.inventory.plans import list_plans
from sitescout.inventory.records import ObservationRecord, SiteDetail
from sitescout.inventory.survey_report import render_survey_html
from sitescout.web import pdf
from sitescout.web.api import forget_sites
from sitescout.web.charts import key_figures
from sitescout.web.security import EDIT_ROLES, login_required, page_csp
from sitescout.web.storage import commit_session, db_session, discard_session

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("sites", __name__)

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


def _site_or_404(site_id: int) -> SiteDetail:
    detail = store.get_site(db_session(), site_id)
    if detail is None:
        abort(404, description=_("No site has this number."))
    return detail


@bp.get("/sites")
@login_required()
def list_all() -> str:
    """List every site (or those matching ?q=, typed with or without diacritics)."""
    query = request.args.get("q", "").strip()
    sites = store.list_sites(db_session(), query=query or None, problems_only=bool(request.args.get("problems")))
    return render_template("sites.html", sites=sites, query=query)


@bp.get("/sites/<int:site_id>")
@login_required()
def show_site(site_id: int) -> str:
    """Show one site: devices with health, latest snapshots, history of key figures, surveys, candidates."""
    detail = _site_or_404(site_id)
    session = db_session()
    history: dict[int, list[ObservationRecord]] = {
        d.id: store.device_observations(session, d.id, limit=60) for d in detail.devices
    }
    figures = {device_id: key_figures(list(reversed(obs))) for device_id, obs in history.items()}
    plans = list_plans(session, site_id)
    return render_template("site.html", detail=detail, site=detail.site, figures=figures, history=history,
                           plans=plans)


@bp.get("/snapshots/<int:snapshot_id>.jpg")
@login_required()
def snapshot(snapshot_id: int) -> Response:
    """Return a stored camera snapshot."""
    data = store.get_snapshot(db_session(), snapshot_id)
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _report_document(detail: SiteDetail) -> tuple[dict[str, Any] | None, int | None]:
    wanted = request.args.get("survey", type=int)
    surveys = detail.surveys
    if wanted is not None:
        surveys = [s for s in surveys if s.id == wanted]
        if not surveys:
            abort(404, description=_("This site has no survey with this number."))
    if not surveys:
        return None, None
    return store.get_survey_document(db_session(), surveys[0].id), surveys[0].id


def _report_html(site_id: int) -> tuple[str, SiteDetail]:
    detail = _site_or_404(site_id)
    doc, _survey_id = _report_document(detail)
    if doc is None:
        html = render_template("site_report.html", detail=detail, site=detail.site)
    else:
        html = render_survey_html(doc)
    return html, detail


@bp.get("/sites/<int:site_id>/report")
@login_required()
def report(site_id: int) -> Response:
    """Show the printable survey report of the site's latest survey (or ?survey=ID)."""
    html, _detail = _report_html(site_id)
    response = Response(html, mimetype="text/html")
    # The report is one self-contained document with its own <style>: allow exactly that block by hash.
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
        for m in _STYLE_BLOCK.findall(html)
    )
    response.headers["Content-Security-Policy"] = page_csp(style_src=f"'self' {hashes}".strip(), script_src="'none'")
    return response


@bp.get("/sites/<int:site_id>/report.pdf")
@login_required()
def report_pdf(site_id: int) -> Response:
    """Return the same report as a PDF."""
    html, detail = _report_html(site_id)
    try:
        data = pdf.html_to_pdf(html)
    except pdf.PdfUnavailable as err:
        abort(501, description=str(err))
    response = Response(data, mimetype="application/pdf")
    filename = f"site-{detail.site.id}-report.pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.post("/candidates/<int:candidate_id>/<any(accept, reject):decision>")
@login_required(EDIT_ROLES)
def decide_candidate(candidate_id: int, decision: str) -> Response:
    """Accept a surveyed device into the inventory, or reject it (editors only)."""
    session = db_session()
    try:
        if decision == "accept":
            store.accept_candidate(session, candidate_id)
        else:
            store.reject_candidate(session, candidate_id)
        commit_session()
        forget_sites()
    except (LookupError, ValueError) as err:
        discard_session()
        flash(str(err), "error")
    else:
        flash(_("Candidate accepted.") if decision == "accept" else _("Candidate rejected."), "info")
    site_id = request.form.get("site_id", type=int)
    target = url_for("sites.show_site", site_id=site_id) if site_id else url_for("map.show_map")
    return redirect(target)  # type: ignore[return-value]
