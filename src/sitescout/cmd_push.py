"""`sitescout push`: send saved survey documents to a sitescout server, and the spool of unsent ones.

`survey --push` that cannot reach the server keeps the survey in the spool (the user's data
directory, ``spool/``, directory 0700, files 0600: a survey is the site's network map).
`sitescout push` with no FILE (or ``--spool``) sends every spooled survey and deletes each
one only after the server has acknowledged it.  Sending is idempotent: the server keeps one
survey per site, start time and content hash, so a document sent twice (a crash between the
answer and the delete, or the same file pushed again) is stored once and answered
"already stored".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _, language, ngettext

__all__ = ["register", "spool_dir", "spool_survey", "send_survey", "read_token", "PushAnswer", "Unreachable"]

_SPOOL_FORMAT = "sitescout-spool/1"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the push subcommand."""
    p = sub.add_parser(
        "push",
        help=_("send saved survey documents (or the spool of unsent ones) to a sitescout server"),
        description=_("Send survey documents (from `survey --json FILE`) to a sitescout server with an editor "
        "token. With no FILE, or --spool, send the surveys `survey --push` kept because the server could not "
        "be reached; each is deleted from the spool once the server has it. Sending one twice stores it once."),
    )
    p.add_argument("files", nargs="*", type=Path, metavar=_("FILE"), help=_("survey document (JSON)"))
    p.add_argument("--to", metavar="URL", help=_("the server, e.g. http://noc.example:8080 "
                   "(default for spooled surveys: the server named when they were made)"))
    p.add_argument("--token-file", metavar=_("FILE"), type=Path,
                   help=_("file holding an editor API token (default: $SITESCOUT_TOKEN)"))
    p.add_argument("--spool", action="store_true", help=_("also send the spooled surveys (the default with no FILE)"))
    p.add_argument("--site", type=int, metavar="ID",
                   help=_("store the FILEs under this site id (when several sites share the name in the documents)"))
    p.set_defaults(func=_cmd_push)


def spool_dir() -> Path:
    """Return the spool directory ($XDG_DATA_HOME/sitescout/spool or ~/.local/share/sitescout/spool)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sitescout" / "spool"


def read_token(path: Path | None, what: str = "--push") -> str:
    """Return the API token from `path` or $SITESCOUT_TOKEN; UsageError saying how to give one."""
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise UsageError(_("--token-file: cannot read {path}: {reason}").format(
                path=path, reason=err.strerror)) from err
    else:
        token = os.environ.get("SITESCOUT_TOKEN", "").strip()
    if not token:
        raise UsageError(_("{command} needs an editor API token: --token-file FILE or $SITESCOUT_TOKEN").format(
            command=what))
    return token


def spool_survey(doc: dict[str, Any], to: str, site_id: int | None) -> Path:
    """Keep a survey for a later `sitescout push`: written whole (0600, fsync, rename) or not at all."""
    directory = spool_dir()
    body = json.dumps({"format": _SPOOL_FORMAT, "to": to, "site_id": site_id, "document": doc},
                      ensure_ascii=False, indent=1).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()[:12]
    path = directory / f"survey-{str(doc.get('started_at', ''))[:19].replace(':', '')}-{digest}.json"
    tmp = directory / f".{path.name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
    except OSError as err:
        raise CommandError(_("cannot keep the survey in {directory}: {reason}; save it with --json FILE and push it "
                             "later").format(directory=directory, reason=err.strerror)) from err
    return path


class Unreachable(CommandError):
    """The server could not be reached at all (a later push may work); sending stops there."""


@dataclass(frozen=True)
class PushAnswer:
    """What the server said about one pushed survey."""

    survey_id: int | None
    site_id: int | None
    duplicate: bool


def send_survey(doc: dict[str, Any], to: str, token: str, *, site_id: int | None = None) -> PushAnswer:
    """POST a survey to `to`/api/v1/surveys; CommandError with the server's reason (or why it is unreachable)."""
    import urllib.error
    import urllib.request

    endpoint = to.rstrip("/") + "/api/v1/surveys" + (f"?site={site_id}" if site_id is not None else "")
    request = urllib.request.Request(
        endpoint, data=json.dumps(doc).encode("utf-8"), method="POST",
        # The server says why it refuses in the language asked for: the command's own.
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "Accept-Language": language()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read(1 << 20) or b"{}")
    except urllib.error.HTTPError as err:
        raise CommandError(_refusal(endpoint, err.code, err.read(2000))) from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise Unreachable(_("cannot reach {url}: {reason}; check the address and the network, then push again").format(
            url=to, reason=getattr(err, "reason", err))) from err
    return PushAnswer(answer.get("survey_id"), answer.get("site_id"), bool(answer.get("duplicate")))


def _refusal(endpoint: str, code: int, raw: bytes) -> str:
    try:
        answer = json.loads(raw)
        detail = str(answer.get("message") or answer.get("error", ""))
    except (ValueError, AttributeError):
        detail = raw.decode("utf-8", "replace").strip()
    hint = {401: _("check --token-file (an editor token)"),
            403: _("this token may not store surveys: use an editor token"),
            413: _("the document is too large for the server")}.get(
                code, _("fix the document or the site, then push again"))
    return _("{url} answered {status}: {detail}; {hint}").format(
        url=endpoint.split("?")[0], status=code, detail=detail[:300], hint=hint)


def _load(path: Path) -> tuple[dict[str, Any], str | None, int | None]:
    """Return (document, remembered server, remembered site id) of a survey file or a spool entry."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CommandError(_("cannot read {path}: {reason}").format(path=path, reason=err.strerror)) from err
    except (ValueError, RecursionError) as err:
        raise CommandError(_("{path} is not a JSON survey document: {reason}").format(path=path, reason=err)) from err
    if isinstance(data, dict) and data.get("format") == _SPOOL_FORMAT and isinstance(data.get("document"), dict):
        site_id = data.get("site_id")
        return data["document"], data.get("to"), site_id if isinstance(site_id, int) else None
    if not isinstance(data, dict) or not isinstance(data.get("site"), str) or not isinstance(data.get("hosts"), list):
        raise CommandError(_("{path} is not a survey document (no 'site' and 'hosts'); give files from survey "
                             "--json").format(path=path))
    return data, None, None


def _cmd_push(args: argparse.Namespace) -> int:
    token = read_token(args.token_file, "push")
    if args.files and not args.to:
        raise UsageError(_("push FILE… needs --to URL, the server to send them to (e.g. http://noc.example:8080)"))
    queue: list[tuple[Path, bool]] = [(p, False) for p in args.files]
    if args.spool or not args.files:
        spooled = sorted(spool_dir().glob("survey-*.json")) if spool_dir().is_dir() else []
        queue += [(p, True) for p in spooled]
        if not args.files and not spooled:
            print("sitescout push: " + _("the spool ({directory}) is empty: nothing to send").format(
                directory=spool_dir()), file=sys.stderr)
            return 0
    failures = 0
    for number, (path, from_spool) in enumerate(queue, 1):
        prefix = f"sitescout push: [{number}/{len(queue)}] {path.name}"
        try:
            doc, remembered, site_id = _load(path)
            to = args.to or remembered
            if not to:
                raise UsageError(_("{path}: no server remembered for it; give --to URL").format(path=path))
            if not from_spool and args.site is not None:
                site_id, remembered = args.site, to
            answer = send_survey(doc, to, token, site_id=site_id if to == remembered else None)
        except Unreachable as err:
            print(f"{prefix}: {err}", file=sys.stderr)
            left = len(queue) - number + 1
            raise CommandError(ngettext("{count} survey not sent: {reason}", "{count} surveys not sent: {reason}",
                                        left).format(count=left, reason=err)) from err
        except (CommandError, UsageError) as err:
            failures += 1
            print(f"{prefix}: " + _("not sent: {reason}").format(reason=err), file=sys.stderr)
            continue
        stored = (_("already stored as survey {survey} of site {site}") if answer.duplicate
                  else _("stored as survey {survey} of site {site}"))
        print(f"{prefix}: " + stored.format(survey=answer.survey_id, site=answer.site_id), file=sys.stderr)
        if from_spool:
            path.unlink(missing_ok=True)
    if failures:
        raise CommandError(ngettext("{failures} of {count} survey not sent (reasons above); spooled ones stay in the "
                                    "spool", "{failures} of {count} surveys not sent (reasons above); spooled ones "
                                    "stay in the spool", len(queue)).format(failures=failures, count=len(queue)))
    return 0
