"""Findings and candidates as API resources: read a site's findings, apply or dismiss one; accept, merge, reject.

Reads take a token or a logged-in session (any person's role; who decided a finding is for editors
and admins only, as the change log is: docs/security.md); writes take an editor or admin
Bearer token (``/api/`` is outside CSRF: a browser never sends a token by itself).  A finding is
addressed through its site, and a token scoped to sites is refused any other site's (403).
The words of a finding are made here, in the reader's language, from its code and parameters.

A decision is an update, so it takes ``If-Match`` as every other update does (docs/api.md): a
finding's ETag covers its state and the version of the device it would change, a candidate's its
state and device; a stale one is a 412, none a 428 (``If-Match: *`` decides whatever the version).
"Apply all" of a survey is a batch and takes none: each finding is checked as it is applied.
"""

from __future__ import annotations

import gettext as _gettext
import hashlib
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

from flask import Blueprint, Response, g, request, session, url_for
from flask_babel import get_locale
from sqlalchemy.exc import IntegrityError

from sitescout.inventory import store
from sitescout.inventory.candidates import merge_candidate, sighting_counts
from sitescout.inventory.db import ConflictError, conflict_message
from sitescout.inventory.findings import render_finding, severity_label
from sitescout.inventory.models import Candidate, Device, Site, ValidationError
from sitescout.inventory.workflow import (
    FindingStateError, SiteFinding, apply_site_finding, apply_survey_findings, dismiss_site_finding, log_change,
    site_findings,
)
from sitescout.web.api import forget_sites
from sitescout.web.api_common import error, field_errors, json_answer
from sitescout.web.errors import coded, say
from sitescout.web.security import (
    EDIT_ROLES, READ_ROLES, current_role, token_or_login_required, token_required, token_sites,
)
from sitescout.web.storage import commit_session, db_session, discard_session

__all__ = ["bp", "finding_words", "actor_name"]

log = logging.getLogger(__name__)

bp = Blueprint("workflow", __name__, url_prefix="/api/v1")

_STATUSES = ("open", "applied", "dismissed")
_CATALOGUES: dict[str, _gettext.NullTranslations] = {}


def _cli_gettext(locale: str) -> Callable[[str], str]:
    """Return gettext of the findings' catalogue (the command's ``cli`` domain) in `locale`."""
    catalogue = _CATALOGUES.get(locale)
    if catalogue is None:
        directory = str(resources.files("sitescout").joinpath("translations"))
        catalogue = _gettext.translation("cli", directory, languages=[locale], fallback=True)
        _CATALOGUES[locale] = catalogue
    return catalogue.gettext


def finding_words(finding: SiteFinding) -> dict[str, str]:
    """Return a finding's sentence, recommendation and severity in the reader's language."""
    locale = str(get_locale() or "vi")
    gettext = _cli_gettext(locale)
    text, advice = render_finding(finding.coded(), gettext, locale)
    return {"text": text, "recommendation": advice, "severity_label": severity_label(finding.severity, gettext)}


def actor_name() -> str:
    """Return who is acting: the logged-in user, or ``token:<id>`` for an API token."""
    grant = g.get("api_grant")
    if grant is not None:
        return f"token:{grant.token_id}"
    return str(session.get("username") or "")


_json = json_answer


def _error(status: int, message: str, field: str | None = None) -> Response:
    """Return an error answer in the request's language; with `field`, a 400 naming it."""
    return field_errors({field: message}) if field and status == 400 else error(status, message)


def _in_scope(site_id: int) -> Response | None:
    """Return a refusal when the site does not exist (404) or is outside the token's scope (403)."""
    scope = token_sites()
    if scope is not None and site_id not in scope:
        return _error(403, coded("out_of_scope"))
    if db_session().get(Site, site_id) is None:
        return _error(404, coded("no_site", id=site_id))
    return None


def _tag(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def finding_etag(finding: SiteFinding) -> str:
    """Return a finding's entity tag: its state and the version of the device it concerns (no quotes)."""
    device = db_session().get(Device, finding.device_id) if finding.device_id is not None else None
    return "f" + _tag(finding.id, finding.status, finding.decided_at, device.version if device else None)


def candidate_etag(candidate: Any) -> str:
    """Return a candidate's entity tag: its state and the device it became (no quotes)."""
    return "c" + _tag(candidate.id, candidate.state, candidate.device_id)


def _precondition(current: str) -> Response | None:
    """Return 428 without If-Match, 412 when it names another tag than `current`; None to go on."""
    header = (request.headers.get("If-Match") or "").strip()
    if not header:
        return error(428, "precondition_required")
    if header == "*":
        return None
    tags = {part.strip().removeprefix("W/").strip('"') for part in header.split(",")}
    return None if current in tags else error(412, coded("stale_etag", etag=current))


def _reads_actors() -> bool:
    """Return whether this reader may see who did what: editors and admins, as the change log (docs/security.md)."""
    role = g.get("api_role") if request.headers.get("Authorization") else current_role()
    return role in EDIT_ROLES


def _finding_json(finding: SiteFinding) -> dict[str, Any]:
    """Return a finding's JSON form; a viewer gets what was decided and why, not who decided it."""
    body = {**finding.to_dict(), **finding_words(finding), "etag": finding_etag(finding)}
    if not _reads_actors():
        body.pop("decided_by", None)
    return body


def _one_finding(site_id: int, finding_id: str) -> SiteFinding | None:
    return next((f for f in site_findings(db_session(), site_id) if f.id == finding_id), None)


def _finding_precondition(site_id: int, finding_id: str) -> Response | None:
    """Return 404 for an unknown finding, else the If-Match check against its current tag."""
    finding = _one_finding(site_id, finding_id)
    if finding is None:
        return _error(404, coded("no_finding", id=finding_id[:40]))
    return _precondition(finding_etag(finding))


@bp.get("/sites/<int:site_id>/findings")
@token_or_login_required(READ_ROLES)
def list_findings(site_id: int) -> Response:
    """Return a site's findings (?status=open|applied|dismissed), with their words in the reader's language."""
    refused = _in_scope(site_id)
    if refused is not None:
        return refused
    status = request.args.get("status") or None
    if status is not None and status not in _STATUSES:
        return _error(400, coded("not_a_choice", choices=", ".join(_STATUSES)), "status")
    findings = site_findings(db_session(), site_id, status=status)
    return _json({"findings": [_finding_json(f) for f in findings]})


@bp.get("/sites/<int:site_id>/findings/<finding_id>")
@token_or_login_required(READ_ROLES)
def get_finding(site_id: int, finding_id: str) -> Response:
    """Return one finding, with its words and its ETag (send it back in If-Match to decide it)."""
    refused = _in_scope(site_id)
    if refused is not None:
        return refused
    finding = _one_finding(site_id, finding_id)
    if finding is None:
        return _error(404, coded("no_finding", id=finding_id[:40]))
    answer = _json(_finding_json(finding))
    answer.set_etag(finding_etag(finding))
    return answer


def _decided(work: Callable[[], Any], created: int = 200) -> Response:
    """Run a write; commit it, or answer 400/404/409 with nothing changed."""
    try:
        result = work()
        commit_session()
        forget_sites()
    except LookupError as err:
        discard_session()
        return _error(404, str(err.args[0]) if err.args else "not_found")
    except (FindingStateError, ConflictError) as err:
        discard_session()
        return _error(409, getattr(err, "message", str(err)))
    except IntegrityError as err:
        discard_session()
        return _error(409, conflict_message(err) or "conflict")
    except ValidationError as err:
        discard_session()
        return _error(400, err.message, err.field)
    answer = _json(result, created)
    if isinstance(result, dict) and isinstance(result.get("etag"), str):
        answer.set_etag(result["etag"])
    return answer


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return data if isinstance(data, dict) else {}


@bp.post("/sites/<int:site_id>/findings/<finding_id>/apply")
@token_required(EDIT_ROLES)
def apply_finding(site_id: int, finding_id: str) -> Response:
    """Change the inventory as the finding says (editor or admin token); 409 when it is decided or not a change."""
    refused = _in_scope(site_id) or _finding_precondition(site_id, finding_id)
    if refused is not None:
        return refused
    return _decided(lambda: _finding_json(apply_site_finding(db_session(), site_id, finding_id, actor=actor_name())))


@bp.post("/sites/<int:site_id>/findings/<finding_id>/dismiss")
@token_required(EDIT_ROLES)
def dismiss_finding(site_id: int, finding_id: str) -> Response:
    """Dismiss a finding with a reason (``{"reason": "…"}``); it stays dismissed when the survey is read again."""
    refused = _in_scope(site_id)
    if refused is not None:
        return refused
    reason = _body().get("reason")
    if not isinstance(reason, str):
        return _error(400, coded("dismiss_reason"), "reason")
    refused = _finding_precondition(site_id, finding_id)
    if refused is not None:
        return refused
    return _decided(lambda: _finding_json(dismiss_site_finding(db_session(), site_id, finding_id,
                                                               actor=actor_name(), reason=reason)))


@bp.post("/sites/<int:site_id>/surveys/<int:survey_id>/findings/apply")
@token_required(EDIT_ROLES)
def apply_survey(site_id: int, survey_id: int) -> Response:
    """Apply every open change of one survey ("apply all"); the answer lists those applied and those refused."""
    refused = _in_scope(site_id)
    if refused is not None:
        return refused

    def work() -> dict[str, Any]:
        applied, not_applied = apply_survey_findings(db_session(), site_id, survey_id, actor=actor_name())
        return {"applied": [_finding_json(f) for f in applied],
                "refused": {key: say(why, 409)[1] for key, why in not_applied.items()}}

    return _decided(work)


# ---------------------------------------------------------------------------
# Candidates.


def _candidate_json(candidates: list[Any]) -> list[dict[str, Any]]:
    counts = sighting_counts(db_session(), [c.id for c in candidates])
    return [{**c.to_dict(), "sightings": counts.get(c.id, 1), "etag": candidate_etag(c)} for c in candidates]


@bp.get("/sites/<int:site_id>/candidates")
@token_or_login_required(READ_ROLES)
def list_candidates(site_id: int) -> Response:
    """Return a site's candidates (?state=pending|accepted|rejected, default pending), with how often each was seen."""
    refused = _in_scope(site_id)
    if refused is not None:
        return refused
    state = request.args.get("state") or "pending"
    if state not in ("pending", "accepted", "rejected"):
        return _error(400, coded("not_a_choice", choices="pending, accepted, rejected"), "state")
    candidates = store.list_candidates(db_session(), site_id=site_id, state=state)
    return _json({"candidates": _candidate_json(candidates)})


@bp.get("/candidates/<int:candidate_id>")
@token_or_login_required(READ_ROLES)
def get_candidate(candidate_id: int) -> Response:
    """Return one candidate with its ETag (send it back in If-Match to accept, merge or reject it)."""
    _site_id, refused = _candidate_site(candidate_id)
    if refused is not None:
        return refused
    one = [c for c in store.list_candidates(db_session(), site_id=_site_id, state=None) if c.id == candidate_id]
    answer = _json(_candidate_json(one)[0])
    answer.set_etag(answer.get_json()["etag"])
    return answer


def _candidate_site(candidate_id: int) -> tuple[int | None, Response | None]:
    candidate = db_session().get(Candidate, candidate_id)
    if candidate is None:
        return None, _error(404, coded("no_candidate", id=candidate_id))
    return candidate.site_id, _in_scope(candidate.site_id)


def _device_answer(device_id: int, action: str, candidate_id: int) -> dict[str, Any]:
    log_change(db_session(), actor_name(), action, "candidate", candidate_id, {"state": "pending"},
               {"device_id": device_id})
    return {"candidate_id": candidate_id, "device_id": device_id}


@bp.post("/candidates/<int:candidate_id>/<any(accept, merge, reject):decision>")
@token_required(EDIT_ROLES)
def decide_candidate(candidate_id: int, decision: str) -> Response:
    """Accept a candidate as a new device, merge it into a device (``{"device_id": …}``), or reject it."""
    _site_id, refused = _candidate_site(candidate_id)
    if refused is not None:
        return refused
    body = _body()
    session = db_session()
    stale = _precondition(candidate_etag(session.get(Candidate, candidate_id)))
    if stale is not None:
        return stale
    if decision == "merge":
        device_id = body.get("device_id")
        if isinstance(device_id, bool) or not isinstance(device_id, int):
            return _error(400, coded("merge_device"), "device_id")
        return _decided(lambda: _device_answer(merge_candidate(session, candidate_id, device_id), "merge",
                                               candidate_id))
    if decision == "accept":
        name, kind = body.get("name"), body.get("kind")
        if (name is not None and not isinstance(name, str)) or (kind is not None and not isinstance(kind, str)):
            return _error(400, coded("accept_text"), "name")
        answer = _decided(lambda: _device_answer(store.accept_candidate(session, candidate_id, name=name, kind=kind),
                                                 "accept", candidate_id), created=201)
        if answer.status_code == 201:
            answer.headers["Location"] = url_for("sites.show_site", site_id=_site_id)
        return answer

    def reject() -> dict[str, Any]:
        store.reject_candidate(session, candidate_id)
        log_change(session, actor_name(), "reject", "candidate", candidate_id, {"state": "pending"},
                   {"state": "rejected"})
        return {"candidate_id": candidate_id, "state": "rejected"}

    return _decided(reject)
