"""Site pages: devices with health, snapshots, history of key figures, candidates, and the survey report."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _

from sitescout.inventory import store
from sitescout.inventory.candidates import sighting_counts
from sitescout.inventory.network import site_network
from sitescout.inventory.workflow import site_findings

from sitescout.inventory.planning.plans import list_plans
from sitescout.inventory.records import ObservationRecord, SiteDetail
from sitescout.inventory.report_style import report_css
from sitescout.inventory.survey_report import render_survey_html
from sitescout.web import pdf
from sitescout.web.alerts import site_alert_rows
from sitescout.web.api import forget_sites
from sitescout.web.charts import key_figures
from sitescout.web.health_words import describe, local_time
from sitescout.web.history import site_history
from sitescout.web.i18n import report_reader, site_timezone
from sitescout.web.metrics import count_refusal
from sitescout.web.security import EDIT_ROLES, current_role, login_required, page_csp
from sitescout.web.topology_graph import site_topology
from sitescout.web.storage import commit_session, db_session, discard_session
from sitescout.web.validate import query_id, search_query
from sitescout.web.workflow_api import finding_words

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("sites", __name__)

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)
#: Findings listed on a site page (open ones and problems first); a 3,000-host survey has thousands,
#: which made the page 2.3 MB and 1.5 s longer: the rest are in the report and the API.
FINDINGS_ON_PAGE = 200


def _site_or_404(site_id: int) -> SiteDetail:
    detail = store.get_site(db_session(), site_id)
    if detail is None:
        abort(404, description=_("No site has this number."))
    return detail


@bp.get("/sites")
@login_required()
def list_all() -> str:
    """List every site (or those matching ?q=, typed with or without diacritics)."""
    folded = search_query()
    sites = store.list_sites(db_session(), query=folded, problems_only=bool(request.args.get("problems")))
    return render_template("sites.html", sites=sites, query=request.args.get("q", "").strip())


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
    reasons = {d.id: describe(d.reasons) for d in detail.devices if d.reasons}
    observed = {d.id: local_time(d.observed_at) for d in detail.devices if d.observed_at}
    every_finding = site_findings(session, site_id)
    findings = [(f, finding_words(f)) for f in every_finding[:FINDINGS_ON_PAGE]]
    network = site_network(session, site_id)
    return render_template("site.html", detail=detail, site=detail.site, figures=figures, history=history,
                           plans=plans, reasons=reasons, observed=observed,
                           alerts=site_alert_rows(session, site_id), findings=findings,
                           sightings=sighting_counts(session, [c.id for c in detail.candidates]),
                           merge_targets=[d for d in detail.devices if d.status != "retired"],
                           appliable_surveys=_appliable(every_finding),
                           more_findings=len(every_finding) - len(findings),
                           network=network, port_speed=port_speed,
                           topology=site_topology(session, site_id, detail.site.name, network, detail.devices,
                                                  port_speed),
                           change_log=site_history(session, site_id) if current_role() in EDIT_ROLES else None)


def port_speed(bps: int | None) -> str:
    """Return a port speed as people write it: "100 Mbit/s", "1 Gbit/s", "2.5 Gbit/s" ("" when unknown)."""
    if not bps:
        return ""
    for unit, size in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bps >= size:
            return f"{format_decimal(bps / size, format='#,##0.##')} {unit}"
    return f"{bps} bit/s"


def _appliable(findings: Any) -> dict[int, int]:
    """Return survey id → how many open changes it has (the "apply all from this survey" buttons)."""
    counts: dict[int, int] = {}
    for f in findings:
        if f.applicable:
            counts[f.survey_id] = counts.get(f.survey_id, 0) + 1
    return counts


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


def _report_survey(detail: SiteDetail) -> int | None:
    """Return the id of the survey the report shows: ?survey=ID, else the latest (None: no survey yet)."""
    wanted = query_id("survey")
    surveys = detail.surveys
    if wanted is not None:
        surveys = [s for s in surveys if s.id == wanted]
        if not surveys:
            abort(404, description=_("This site has no survey with this number."))
    return surveys[0].id if surveys else None


def _report_html(detail: SiteDetail, survey_id: int | None) -> str:
    doc = None if survey_id is None else store.get_survey_document(db_session(), survey_id)
    if doc is None:
        reasons = {d.id: describe(d.reasons) for d in detail.devices if d.reasons}
        return render_template("site_report.html", detail=detail, site=detail.site, reasons=reasons,
                               style=report_css(_("Page")))
    return render_survey_html(doc, report_reader())


@bp.get("/sites/<int:site_id>/report")
@login_required()
def report(site_id: int) -> Response:
    """Show the printable survey report of the site's latest survey (or ?survey=ID)."""
    detail = _site_or_404(site_id)
    html = _report_html(detail, _report_survey(detail))
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
def report_pdf(site_id: int) -> Response | tuple[str, int, dict[str, str]]:
    """Return the same report as a PDF: made once per document, in a capped process, then kept."""
    detail = _site_or_404(site_id)
    survey_id = _report_survey(detail)
    # A stored survey never changes: its report in one language and zone is one document, so a viewer
    # asking again is answered from the cache without loading and rendering the survey again.
    alias = None if survey_id is None else ("survey", survey_id, str(get_locale()), site_timezone())
    try:
        data = _pdf_cache().pdf(lambda: _report_html(detail, survey_id), alias=alias)
    except pdf.PdfUnavailable as err:
        log.warning("report PDF: %s", err)
        abort(501, description=_("This server cannot make PDFs (WeasyPrint is not installed). "
                                 "Open the HTML report and print it to PDF from the browser."))
    except pdf.PdfPending:
        count_refusal("pdf", "being_made")
        return _pdf_not_ready(site_id, _("The PDF of this report is being made: it is a large report. "
                                         "Try again in a minute; the HTML report is ready now."))
    except pdf.PdfTooLarge as err:
        count_refusal("pdf", "too_large")
        return _pdf_not_ready(site_id, _("This report is too large to make a PDF on the server (%(reason)s). "
                                         "Open the HTML report and print it to PDF from the browser.",
                                         reason=_pdf_limit(err.reason)))
    except Exception:  # noqa: BLE001 - WeasyPrint failing on this document, or its process dying: no 500
        log.exception("report PDF of site %d: not made", site_id)
        count_refusal("pdf", "failed")
        return _pdf_not_ready(site_id, _("The server could not make a PDF of this report. "
                                         "Open the HTML report and print it to PDF from the browser."))
    response = Response(data, mimetype="application/pdf")
    filename = f"site-{detail.site.id}-report.pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _pdf_cache() -> pdf.PdfCache:
    cache: pdf.PdfCache | None = current_app.extensions.get("sitescout_pdf_cache")
    if cache is None:
        config = current_app.config
        cache = pdf.PdfCache(
            pdf.PdfLimits(
                cpu_s=float(config["PDF_CPU_S"]),
                memory_bytes=int(config["PDF_MEMORY_BYTES"]),
                wait_s=float(config["PDF_WAIT_S"]),
                cache_bytes=int(config["PDF_CACHE_BYTES"]),
                fail_seconds=float(config["PDF_FAIL_SECONDS"]),
                waiters=int(config["PDF_WAITERS"]),
            )
        )
        cache = current_app.extensions.setdefault("sitescout_pdf_cache", cache)
    return cache


def _pdf_limit(reason: str) -> str:
    """Return, in the reader's language, which limit a PDF render hit."""
    config = current_app.config
    if reason == "memory":
        return _("it needs more than %(mib)d MiB of memory", mib=int(config["PDF_MEMORY_BYTES"]) // 2**20)
    if reason == "cpu":
        return _("it needs more than %(seconds)d s of CPU", seconds=int(float(config["PDF_CPU_S"])))
    return _("it takes too long")


def _pdf_not_ready(site_id: int, message: str) -> tuple[str, int, dict[str, str]]:
    survey: dict[str, Any] = {"survey": request.args["survey"]} if "survey" in request.args else {}
    link = url_for("sites.report", site_id=site_id, **survey)
    page = render_template("error.html", code=503, title=_("PDF not ready"), message=message, link=link)
    return page, 503, {"Retry-After": "30"}


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
        log.info("candidate %d not decided: %s", candidate_id, err)
        flash(_("This device is no longer waiting for a decision: someone decided it already, or it is gone."),
              "error")
    else:
        flash(_("Candidate accepted.") if decision == "accept" else _("Candidate rejected."), "info")
    site_id = request.form.get("site_id", type=int)
    target = url_for("sites.show_site", site_id=site_id) if site_id else url_for("map.show_map")
    return redirect(target)  # type: ignore[return-value]
