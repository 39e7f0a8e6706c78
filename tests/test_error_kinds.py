"""Errors keep their kind to the edge (issue #12): codes in the survey document, read by findings and the worker.

- Each ONVIF error kind the loopback lab camera can produce (tests/test_onvif.py's hostile modes)
  reaches the survey document as an ``error_codes`` entry beside its ``errors`` text; each stream
  error kind of the hostile RTSP server (tests/test_hostile_streams.py's modes) and each snapshot
  error kind (tests/test_stream_health.py's snapshot server) as ``error_code``.
- Findings and the worker's ``reason`` label read the code: an error text reworded or in another
  language still gives the right finding, which the old text regex could not.
- Old survey documents without codes still read through the kept fallback.
- The reason labels are exactly those the old text regex gave, for every kind (dashboards and
  alert rules use them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from sitescout.inventory.errors import ConflictError, DatabaseError, InventoryError, SecretKeyError, StaleError
from sitescout.inventory.errors import ValidationError as InventoryValidationError
from sitescout.inventory.findings import coded_findings
from sitescout.probes.errors import (
    AuthError, ErrorCode, MalformedError, ProbeError, ProbesError, ProbeTimeout, UnreachableError, UnsupportedError,
)
from sitescout.probes.models import HostRecord
from sitescout.probes.worker.jobs import REASONS, reason_of
from sitescout.web.errors import WebError

from test_onvif import FAST, RIGHT, _free_address, camera, interrogate  # the lab camera fixtures, reused
from test_stream_health import _refused_port, snapshot_server  # noqa: F401  (the snapshot server fixture, reused)
from test_survey import survey, survey_lab  # noqa: F401  (the netns survey lab and its document, reused)

#: The old worker classification (probes/worker/jobs.py classify_reason before issue #12), kept
#: here only as the reference the new labels must equal.
_OLD_REASON_RE = re.compile(r"\b(timeout|unreachable|auth|unsupported|malformed): ")


def _old_reason(text: str | None) -> str:
    m = _OLD_REASON_RE.search(text or "")
    return m.group(1) if m else "error"


def _survey_host(result) -> dict:  # type: ignore[no-untyped-def]
    """The survey document's host as probes/survey.py writes it from an interrogation result."""
    rec = HostRecord(ip="127.0.0.1", kind="camera")
    rec.onvif = result.info
    rec.add_errors(result.errors, result.error_codes, prefix="onvif: ")
    return rec.to_dict()


def _onvif_unreachable():  # type: ignore[no-untyped-def]
    import asyncio

    from sitescout.probes.onvif.interrogate import OnvifTarget, async_interrogate

    ip, port = _free_address()  # nothing listens there (test_refused_port_is_unreachable)
    return asyncio.run(async_interrogate(OnvifTarget(ip, f"http://{ip}:{port}/onvif/device_service"), [], FAST))


def _onvif_case(kind: str):  # type: ignore[no-untyped-def]
    if kind == "unreachable":
        return _onvif_unreachable()
    cases = {  # the modes tests/test_onvif.py uses for each kind
        "auth": ({"hostile": "soap11", "credentials": ("admin", RIGHT.password), "auth": "wsse"}, []),
        "unsupported": ({"hostile": "soap11"}, []),
        "timeout": ({"hostile": "hang"}, []),
        "malformed": ({"hostile": "garbage"}, []),
    }
    kwargs, creds = cases[kind]
    with camera(**kwargs) as cam:
        return interrogate(cam, creds, config=FAST)


@pytest.mark.parametrize("kind", ["auth", "unsupported", "timeout", "malformed", "unreachable"])
def test_each_onvif_error_kind_reaches_the_survey_document_as_a_code(kind: str) -> None:
    result = _onvif_case(kind)
    host = _survey_host(result)
    assert len(host["error_codes"]) == len(host["errors"]) > 0, host
    codes = [e["code"] for e in host["error_codes"]]
    assert kind in codes, (codes, host["errors"])
    entry = host["error_codes"][codes.index(kind)]
    text = host["errors"][codes.index(kind)]
    # The entry names the operation and the detail the text was made from, and nothing else.
    assert entry["params"]["operation"] and text.startswith(f"onvif: {entry['params']['operation']}")
    assert entry["params"]["detail"] in text
    # The worker's label and the finding come from the code, and agree with what the text said.
    assert reason_of(entry) == _old_reason(text) == kind
    if kind != "auth":  # auth: said once by the auth_required finding, not per call
        assert f"error_{kind}" in {f.code for f in coded_findings({"hosts": [host]})}


def test_a_reworded_error_text_still_gives_the_right_finding_and_reason() -> None:
    """The code decides; the words are only shown.  The old regex would make a plain "error" here."""
    host = {"ip": "198.51.100.7", "kind": "camera", "onvif": None, "streams": [],
            "errors": ["onvif: GetProfiles: không hỗ trợ: ter:ActionNotSupported",  # Vietnamese wording
                       "budget: ran out of time after 10 s"],  # reworded English
            "error_codes": [{"code": "unsupported", "params": {"operation": "GetProfiles",
                                                               "detail": "ter:ActionNotSupported"}},
                            {"code": "timeout", "params": {"operation": "budget", "detail": "used up (10 s)"}}]}
    found = {f.code: f for f in coded_findings({"hosts": [host]})}
    assert found["error_unsupported"].severity == "info"
    assert found["error_unsupported"].params == {"operation": "GetProfiles", "detail": "ter:ActionNotSupported"}
    assert found["error_timeout"].params["operation"] == "ONVIF"
    assert "error" not in found  # the regex path would have read both as untyped errors
    assert [_old_reason(t) for t in host["errors"]] == ["error", "error"]  # ... and the old label too
    assert [reason_of(e) for e in host["error_codes"]] == ["unsupported", "timeout"]


def test_an_untyped_note_stays_a_plain_error_finding_even_if_it_looks_typed() -> None:
    """A ws-discovery note (code other) is never parsed for a kind, whatever its words."""
    rec = HostRecord(ip="198.51.100.8", kind="camera")
    rec.errors.append("ws-discovery: auth: looks like a kind but is a note")  # appended without a code
    host = rec.to_dict()
    assert host["error_codes"] == [{"code": "other", "params": {"text": host["errors"][0]}}]
    [finding] = coded_findings({"hosts": [host]})
    assert finding.code == "error" and finding.params == {"text": host["errors"][0]}


def test_an_old_survey_document_without_codes_is_read_by_the_kept_fallback() -> None:
    """Stored surveys written before error_codes: the text is parsed as it was."""
    host = {"ip": "198.51.100.9", "kind": "camera", "onvif": None, "streams": [],
            "errors": ["onvif: GetProfiles: unsupported: ter:ActionNotSupported", "onvif: timeout: budget"]}
    found = {f.code: f for f in coded_findings({"hosts": [host]})}
    assert found["error_unsupported"].params == {"operation": "GetProfiles", "detail": "ter:ActionNotSupported"}
    assert "error_timeout" in found



def test_an_operation_done_another_way_is_read_from_its_code() -> None:
    """axis_q6045e lacks GetServices: the fallback to GetCapabilities is a coded entry, not a parsed note."""
    with camera("axis_q6045e") as cam:
        result = interrogate(cam, config=FAST)
    host = _survey_host(result)
    [entry] = host["onvif"]["fallbacks"]
    assert entry["code"] == "unsupported" and entry["params"]["used"] == "GetCapabilities"
    assert entry["params"]["text"] in host["onvif"]["findings"]
    # Reworded (or translated) note: the finding still comes from the entry, once.
    host["onvif"]["findings"] = ["GetServices không được hỗ trợ; đã dùng GetCapabilities"]
    entry["params"]["text"] = host["onvif"]["findings"][0]
    found = [f for f in coded_findings({"hosts": [host]}) if f.code in ("onvif_fallback", "onvif_note")]
    assert [(f.code, f.params) for f in found] == [("onvif_fallback", {
        "operation": "GetServices", "detail": entry["params"]["detail"], "used": "GetCapabilities"})]



@pytest.mark.netns
def test_the_lab_survey_document_carries_a_code_for_every_error(survey: dict) -> None:  # noqa: F811  (the fixture)
    """`sitescout survey --json` on tests/test_survey.py's lab: every error has its code, in order."""
    kinds = set()
    for host in survey["hosts"]:
        assert len(host["error_codes"]) == len(host["errors"]), host
        for text, entry in zip(host["errors"], host["error_codes"]):
            assert entry["code"] in {c.value for c in ErrorCode}, entry
            assert reason_of(entry) == _old_reason(text), (text, entry)  # the code says what the words said
            kinds.add(entry["code"])
        for stream in host["streams"]:
            assert (stream["error_code"] is None) == (stream["error"] is None) or stream["error"].startswith("error:")
    assert "unsupported" in kinds, kinds  # personas without GetNetworkInterfaces
    fallbacks = [f for h in survey["hosts"] if h["onvif"] for f in h["onvif"]["fallbacks"]]
    assert fallbacks and all(f["params"]["used"] == "GetCapabilities" for f in fallbacks)  # the axis persona


# -- the worker's reason label ---------------------------------------------------------------


_KINDS = [(AuthError, "auth"), (UnreachableError, "unreachable"), (UnsupportedError, "unsupported"),
          (MalformedError, "malformed"), (ProbeTimeout, "timeout")]


@pytest.mark.parametrize("cls,label", _KINDS)
def test_reason_of_gives_the_old_label_for_every_kind(cls: type[ProbeError], label: str) -> None:
    err = cls("rtsp://198.51.100.5/live", "some detail")
    for text in (err.as_text(), f"GetSystemDateAndTime: {err.as_text()}", f"onvif: GetProfiles: {err.as_text()}"):
        assert _old_reason(text) == label
    assert reason_of(err.as_code()) == reason_of(err.code) == reason_of(err.code.value) == label
    assert label in REASONS


def test_reason_of_an_untyped_or_missing_error_is_error_as_before() -> None:
    assert reason_of(None) == _old_reason(None) == "error"
    assert reason_of({"code": "other", "params": {"text": "no answer"}}) == _old_reason("no answer") == "error"
    assert reason_of(ErrorCode.OTHER) == "error"
    assert reason_of({"code": "a-code-from-the-future"}) == "error"
    # link: a refused send is unreachable, an unresolved name a plain error (as the old text rules said)
    assert reason_of(ErrorCode.UNREACHABLE) == "unreachable"
    assert {reason_of(c) for c in ErrorCode} == set(REASONS)


# -- streams -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checker() -> Iterator[object]:
    pytest.importorskip("cv2")
    from sitescout.probes.stream.check import StreamChecker

    with StreamChecker(2) as c:
        yield c


def test_each_stream_error_kind_carries_its_code(checker) -> None:  # type: ignore[no-untyped-def]
    """The hostile RTSP server's modes (tests/test_hostile_streams.py): each error's code beside its text."""
    from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
    from sitescout.probes.credentials import Credential
    from sitescout.probes.stream.check import StreamJob

    secret = "k1nd-Secret/5"
    creds = Credential("admin", secret)
    ip, port = _free_address()
    with HostileRtspServer("127.0.0.7", 0, credentials=("admin", secret)) as hostile:
        jobs = {"auth": StreamJob(hostile.url("auth-forever"), 15, None, creds, "auth", allow_plaintext_auth=True),
                "timeout": StreamJob(hostile.url("silent"), 15, None, None, "timeout"),
                "unreachable": StreamJob(f"rtsp://{ip}:{port}/live", 15, None, None, "unreachable")}
        results = {r.profile: r for r in checker.check_many(list(jobs.values()))}  # type: ignore[attr-defined]
    for kind, result in results.items():
        assert not result.up and result.error and result.error_code, (kind, result)
        assert result.error_code["code"] == kind, (kind, result.error, result.error_code)
        assert result.error_code["params"]["detail"] in result.error
        assert reason_of(result.error_code) == _old_reason(result.error) == kind
        doc = result.to_check().to_dict()
        assert doc["error_code"] == result.error_code and doc["error"] == result.error
        # The auth-forever server echoes the password; the code's parameters are scrubbed like the text.
        assert secret not in repr(doc) and "k1nd-Secret%2F5" not in repr(doc)


# -- one errors module per package -----------------------------------------------------------------


def test_every_package_error_derives_from_its_package_base() -> None:
    from sitescout.inventory.accounts import StaleError as AccountsStale
    from sitescout.inventory.db import ConflictError as DbConflict
    from sitescout.inventory.editing import InvalidFields
    from sitescout.inventory.editing import StaleError as EditingStale
    from sitescout.inventory.importexport import ImportFailed
    from sitescout.inventory.models import ValidationError
    from sitescout.inventory.planning.plan_input import PlanInputError
    from sitescout.inventory.planning.plans import PlanError
    from sitescout.probes.credentials import CredentialsFileError
    from sitescout.probes.net.icmp import IcmpUnavailableError
    from sitescout.probes.worker.probe_request import ProbeRequestError
    from sitescout.probes.worker.probe_service import ProbeBusyError
    from sitescout.probes.worker.records import TargetsError
    from sitescout.probes.worker.scheduler import SinkUnavailable
    from sitescout.probes.worker.web_config import WebConfigError
    from sitescout.web.api_common import BadQuery, PreconditionFailed, Refused
    from sitescout.web.tiles import MBTilesError
    from sitescout.web.validate import BodyError

    for cls in (TargetsError, CredentialsFileError, ProbeRequestError, ProbeBusyError, WebConfigError,
                IcmpUnavailableError, ProbeError, SinkUnavailable):
        assert issubclass(cls, ProbesError), cls
    for cls in (ValidationError, DbConflict, DatabaseError, AccountsStale, EditingStale, SecretKeyError,
                InvalidFields, ImportFailed, PlanInputError, PlanError):
        assert issubclass(cls, InventoryError), cls
    for cls in (BodyError, MBTilesError, BadQuery, PreconditionFailed, Refused):
        assert issubclass(cls, WebError), cls
    # old names are the same classes, and the old bases still catch them
    assert ValidationError is InventoryValidationError and DbConflict is ConflictError and AccountsStale is StaleError
    assert issubclass(TargetsError, ValueError) and issubclass(IcmpUnavailableError, PermissionError)
    assert issubclass(ConflictError, ValueError) and issubclass(BodyError, ValueError)


def test_each_snapshot_error_kind_carries_its_code(snapshot_server: str) -> None:  # noqa: F811  (the fixture)
    """tests/test_stream_health.py's snapshot server: the HTTP snapshot's error keeps its kind too."""
    from sitescout.probes.credentials import Credential
    from sitescout.probes.models import Snapshot
    from sitescout.probes.stream.snapshot import check_snapshot

    cases = {"auth": check_snapshot(f"{snapshot_server}/snap.jpg", credentials=Credential("admin", "wrong"),
                                    timeout_s=3, allow_basic=True),
             "malformed": check_snapshot(f"{snapshot_server}/login", timeout_s=3),
             "timeout": check_snapshot(f"{snapshot_server}/slow", timeout_s=0.5),
             "unreachable": check_snapshot(f"http://127.0.0.1:{_refused_port()}/x.jpg", timeout_s=1)}
    for kind, result in cases.items():
        assert result.error_code and result.error_code["code"] == kind, (kind, result.error, result.error_code)
        assert result.error_code["params"]["detail"] in (result.error or "")
        snap = Snapshot("http", result.url, error=result.error, error_code=result.error_code).to_dict()
        assert snap["error_code"]["code"] == kind

