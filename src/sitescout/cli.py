"""The `sitescout` command: a thin composition root over probes/, inventory/ and web/.

Exit status: 0 on success, 2 on bad usage, 1 on failure with a one-line error
that says what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sitescout.cmdutil import coded_text, load_credentials_option, write_survey_outputs, write_text_atomic
from sitescout.errors import CommandError, UsageError
from sitescout.i18n import LANGUAGES, _, set_language
from sitescout.termtext import printable

if TYPE_CHECKING:  # the probes are imported when a command runs, so --help stays fast
    from sitescout.probes.snmp.client import SnmpCredentials

__all__ = ["main", "UsageError", "CommandError", "COMMAND_MODULES"]

log = logging.getLogger("sitescout")


#: Subcommands that live in modules of their own (``sitescout/cmd_*.py``), each with
#: ``register(subparsers)`` that adds its parser and sets ``func``.  Such a module
#: imports only argparse at module level, so ``--help`` stays fast.
COMMAND_MODULES = ("sitescout.cmd_worker", "sitescout.cmd_serve", "sitescout.cmd_inventory", "sitescout.cmd_plan",
                   "sitescout.cmd_push", "sitescout.cmd_access", "sitescout.cmd_tiles")


def _add_survey(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "survey",
        help=_("find and identify every host and camera on a site network"),
        description=_("Sweep the given networks, find ONVIF cameras (multicast and unicast WS-Discovery), "
        "interrogate them and print a summary; optionally write the survey document and an HTML report."),
    )
    p.add_argument("--site", required=True, metavar=_("SITE"),
                   help=_("site name, e.g. 'Thôn Đồng Bùa'; with --db or --push also its id or a unique part of "
                        "its name typed with or without diacritics ('dong bua'), checked before the survey starts"))
    p.add_argument("--network", required=True, action="append", metavar="CIDR",
                   help=_("network to survey (repeatable); only these are swept"))
    p.add_argument("--interface", metavar="IF", help=_("interface for ARP and multicast (default: the one on-link)"))
    p.add_argument("--credentials", metavar=_("FILE"), type=Path,
                   help=_("TOML file of camera credentials, tried in order ([[credentials]] username/password), "
                          "and SNMP credentials ([snmp] communities and [[snmp.v3]] users; see docs/snmp.md)"))
    p.add_argument("--db", metavar="URL",
                   help=_("also store the survey in this inventory (e.g. sqlite:///inventory.sqlite3); "
                        "it is matched to the site named by --site"))
    p.add_argument("--push", metavar="URL",
                   help=_("also send the survey to a sitescout server (e.g. http://noc.example:8080) from the field"))
    p.add_argument("--token-file", metavar=_("FILE"), type=Path,
                   help=_("file holding an editor API token for --push (default: $SITESCOUT_TOKEN)"))
    p.add_argument("--json", metavar=_("PATH|-"), help=_("write the survey document as JSON ('-' for stdout)"))
    p.add_argument("--report", metavar=_("PATH"), type=Path, help=_("write a printable HTML survey report"))
    p.add_argument("--wait", metavar=_("SECONDS"), type=float, default=3.0,
                   help=_("how long to listen for WS-Discovery replies (default 3)"))
    p.add_argument("--no-multicast", action="store_true",
                   help=_("unicast WS-Discovery only (for networks where multicast is not wanted)"))
    p.add_argument("--no-streams", action="store_true",
                   help=_("skip the stream health checks and snapshots (a quicker survey)"))
    p.add_argument("--snmp-all", action="store_true",
                   help=_("read every live host over SNMP with the [snmp] credentials, not only those answering "
                          "the credential-free SNMP probe (the communities then go to every live host)"))
    p.add_argument("--snmp-interval", type=float, default=None, metavar=_("SECONDS"),
                   help=_("seconds between the two reads of a switch's counters (utilisation, errors rising; "
                          "default 7, 0 = one read)"))
    p.add_argument("--no-snmp", action="store_true",
                   help=_("skip the SNMP stage (switches, ports, PoE and the default-community check)"))
    p.add_argument("--allow-plaintext-auth", action="store_true",
                   help=_("also send passwords in clear where a camera asks for it (WS-Security PasswordText, "
                        "HTTP Basic snapshots); off by default, because any device on the network could ask"))
    p.set_defaults(func=_cmd_survey)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help=_("the whole product on loopback: simulated cameras, survey, inventory, worker, web UI"),
        description=_("Start simulated ONVIF cameras and plain hosts on 127.0.0.x and survey them; then seed a "
        "demo commune in a throwaway inventory, store the survey, run a worker on the simulated cameras "
        "(metrics on 127.0.0.1:9110) and serve the web UI on 127.0.0.1:8080 until Ctrl-C. No root needed; "
        "nothing leaves this machine."),
    )
    p.add_argument("--cameras", type=int, default=6, metavar="N",
                   help=_("number of simulated cameras (1-12, default 6)"))
    p.add_argument("--json", metavar=_("PATH|-"), help=_("also write the survey document as JSON"))
    p.add_argument("--report", metavar=_("PATH"), type=Path, help=_("also write the HTML survey report"))
    p.add_argument("--once", action="store_true",
                   help=_("only survey the simulated site and print the result (no inventory, worker or web UI)"))
    p.add_argument("--keep-running", action="store_true",
                   help=_("with --once: keep the simulated site up until Ctrl-C"))
    p.add_argument("--for", dest="run_for", type=float, metavar=_("SECONDS"),
                   help=_("stop after this many seconds (default: run until Ctrl-C)"))
    p.add_argument("--listen", type=_listen_address, default=("127.0.0.1", 8080), metavar="HOST:PORT",
                   help=_("web UI address (default 127.0.0.1:8080)"))
    p.add_argument("--metrics-listen", type=_listen_address, default=("127.0.0.1", 9110), metavar="HOST:PORT",
                   help=_("worker metrics address (default 127.0.0.1:9110)"))
    p.set_defaults(func=_cmd_demo)


def _listen_address(text: str) -> tuple[str, int]:
    host, _colon, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(_("{text!r} is not HOST:PORT, e.g. 127.0.0.1:8080").format(text=text))
    if not host.startswith("127.") and host != "localhost":
        raise argparse.ArgumentTypeError(_("{text!r}: the demo stays on loopback (127.0.0.0/8)").format(text=text))
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `sitescout` command."""
    parser = argparse.ArgumentParser(
        prog="sitescout",
        description=_("Survey and monitor the cameras and networks of many small sites."),
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_("more log output (-vv for debug)"))
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help=_("show the version and exit"))
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help=_("language of the output (default: vi when LC_ALL, LC_MESSAGES or LANG starts with vi, "
                             "else en)"))
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"))
    sub.required = True
    _add_survey(sub)
    _add_demo(sub)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # that command is not built yet
                continue
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sitescout")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return _("unknown (not installed)")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def _run_survey(args: argparse.Namespace, networks: Sequence[str], credentials: Sequence) -> dict:
    from dataclasses import replace

    from sitescout import console
    from sitescout.probes.survey import DEFAULT_SURVEY, async_run_survey

    plaintext = getattr(args, "allow_plaintext_auth", False)
    config = replace(DEFAULT_SURVEY, wsd_wait_s=args.wait, multicast=not args.no_multicast,
                     check_streams=not args.no_streams,
                     onvif=replace(DEFAULT_SURVEY.onvif, allow_plaintext_auth=plaintext),
                     streams=replace(DEFAULT_SURVEY.streams, allow_plaintext_auth=plaintext),
                     snmp=replace(DEFAULT_SURVEY.snmp, enabled=not getattr(args, "no_snmp", False),
                                  all_hosts=getattr(args, "snmp_all", False)))
    if getattr(args, "snmp_interval", None) is not None:
        config = replace(config, snmp=replace(config.snmp, counter_interval_s=args.snmp_interval))
    snmp_credentials = _load_snmp_option(getattr(args, "credentials", None))
    with console.SurveyProgress() as progress:
        doc = asyncio.run(
            async_run_survey(
                args.site,
                networks,
                interface=args.interface,
                credentials=credentials,
                snmp_credentials=snmp_credentials,
                config=config,
                progress=progress.update,
            )
        ).to_dict()
    console.print_summary(doc, to_stderr=args.json == "-")
    return doc


def _load_snmp_option(path: Path | None) -> SnmpCredentials:
    """Load the ``[snmp]`` table of ``--credentials FILE`` (empty when not given); UsageError on bad input."""
    from sitescout.cmdutil import load_snmp_credentials_option

    return cast("SnmpCredentials", load_snmp_credentials_option(path))


def _cmd_survey(args: argparse.Namespace) -> int:
    from sitescout.probes.net.interfaces import parse_networks

    token = _push_token(args) if args.push else None
    if args.wait <= 0 or args.wait > 60:
        raise UsageError(_("--wait must be between 0 and 60 seconds"))
    if args.snmp_interval is not None and not 0 <= args.snmp_interval <= 60:
        raise UsageError(_("--snmp-interval must be between 0 and 60 seconds"))
    try:
        parse_networks(args.network, 65536)
    except ValueError as err:
        raise UsageError(coded_text(err)) from err
    credentials = load_credentials_option(args.credentials)
    _load_snmp_option(args.credentials)  # a bad [snmp] table stops the command before the survey
    site_id = _resolve_site(args, token)
    doc = _run_survey(args, args.network, credentials)
    write_survey_outputs(doc, args.json, args.report)
    failures = []
    spooled = False
    if args.db:
        try:
            _store_survey(doc, args.db, site_id)
        except CommandError as err:
            failures.append(str(err))
    if args.push:
        from sitescout.cmd_push import spool_survey

        try:
            _push_survey(doc, args.push, token or "", site_id)
        except CommandError as err:
            kept = spool_survey(doc, args.push, site_id)
            failures.append(_("{reason}; the survey is kept in {path}: send it with `sitescout push`").format(
                reason=err, path=kept))
            spooled = True
    if failures:
        if (not args.json or args.json == "-") and not spooled:
            kept = _keep_document(doc)
            failures.append(_("the survey is kept in {path}").format(path=kept))
        raise CommandError("; ".join(failures))
    return 0


def _push_token(args: argparse.Namespace) -> str:
    from sitescout.cmd_push import read_token

    return read_token(args.token_file)


def _resolve_site(args: argparse.Namespace, token: str | None) -> int | None:
    """Check --site against the inventory (--db) or the server (--push) before surveying; return its id.

    The survey document then carries the site's own name.  A server that cannot be reached is no
    reason to stay home: the survey goes on and is spooled if it cannot be sent.
    """
    from sitescout import sitepick

    if args.db:
        sites = sitepick.sites_from_db(args.db)
    elif args.push:
        try:
            sites = sitepick.sites_from_api(args.push, token or "", args.site)
        except sitepick.ServerUnreachable as err:
            print("sitescout survey: " + _("cannot check --site at {url} ({reason}); surveying anyway, the survey "
                                           "is kept in the spool if it cannot be sent").format(url=args.push,
                                                                                               reason=err),
                  file=sys.stderr)
            return None
    else:
        return None
    chosen = sitepick.pick_site(args.site, sites)
    if chosen.name != args.site:
        print("sitescout survey: " + _("--site {text!r} is {site}").format(text=args.site, site=chosen),
              file=sys.stderr)
    args.site = chosen.name
    return chosen.id


def _store_survey(doc: dict, url: str, site_id: int | None = None) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from sitescout.inventory.db import DatabaseError, open_database
    from sitescout.inventory.ingest import SurveyError
    from sitescout.inventory.store import ingest_survey

    try:
        database = open_database(url)
        with database.session() as session:
            result = ingest_survey(session, doc, site_id=site_id)
    except SurveyError as err:
        raise CommandError(f"--db: {err}") from err
    except (DatabaseError, SQLAlchemyError, OSError) as err:
        raise CommandError(_("--db: cannot store the survey in {url}: {reason}").format(
            url=url, reason=coded_text(err))) from err
    state = _("already stored as") if result.duplicate else _("stored as")
    print("sitescout survey: " + _("{state} survey {survey} of site {site}: {matched} devices matched, "
                                   "{candidates} candidates, {findings} findings").format(
        state=state, survey=result.survey_id, site=result.site_id, matched=len(result.matched),
        candidates=len(result.candidates), findings=len(result.findings)), file=sys.stderr)


def _push_survey(doc: dict, url: str, token: str, site_id: int | None = None) -> None:
    from sitescout.cmd_push import send_survey

    try:
        answer = send_survey(doc, url, token, site_id=site_id)
    except CommandError as err:
        raise CommandError(f"--push: {err}") from err
    stored = (_("{url} already had the survey (survey {survey} of site {site})") if answer.duplicate
              else _("{url} stored the survey (survey {survey} of site {site})"))
    print("sitescout survey: " + stored.format(url=url, survey=answer.survey_id, site=answer.site_id), file=sys.stderr)


def _keep_document(doc: dict) -> Path:
    import re
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^\w.-]+", "_", doc.get("site", "site"))[:60] or "site"
    path = Path(f"survey-{name}-{stamp}.json")
    write_text_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path.resolve()


def _cmd_demo(args: argparse.Namespace) -> int:
    if not 1 <= args.cameras <= 12:
        raise UsageError(_("--cameras must be between 1 and 12"))
    from sitescout import demo

    return demo.run(args)


def _lang_in(argv: Sequence[str]) -> str | None:
    """Return the value of a global ``--lang`` among the arguments (None when absent or not a language)."""
    for i, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--lang=") else (
            argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else None)
        if value is not None:
            return value if value in LANGUAGES else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `sitescout` command and return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    set_language(_lang_in(argv))  # before parsing: argparse calls our type checks while it parses
    parser = build_parser()
    args = parser.parse_args(argv)
    set_language(args.lang)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        parser.exit(2, f"sitescout {args.command}: " + _("error: {reason}").format(reason=printable(str(err))) + "\n")
    except CommandError as err:  # may carry a server's or a device's words (--push, --db)
        print(f"sitescout {args.command}: " + _("error: {reason}").format(reason=printable(str(err))), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sitescout {args.command}: " + _("interrupted"), file=sys.stderr)
        return 130
    except PermissionError as err:
        print(f"sitescout {args.command}: " + _("error: {reason}; run as root or grant CAP_NET_RAW").format(reason=err),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
