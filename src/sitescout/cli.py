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

from sitescout.cmdutil import load_credentials_option, write_text_atomic
from sitescout.errors import CommandError, UsageError

__all__ = ["main", "UsageError", "CommandError", "COMMAND_MODULES"]

log = logging.getLogger("sitescout")


#: Subcommands that live in modules of their own (``sitescout/cmd_*.py``), each with
#: ``register(subparsers)`` that adds its parser and sets ``func``.  Such a module
#: imports only argparse at module level, so ``--help`` stays fast.
COMMAND_MODULES = ("sitescout.cmd_worker", "sitescout.cmd_serve", "sitescout.cmd_inventory", "sitescout.cmd_plan")


def _add_survey(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "survey",
        help="find and identify every host and camera on a site network",
        description="Sweep the given networks, find ONVIF cameras (multicast and unicast WS-Discovery), "
        "interrogate them and print a summary; optionally write the survey document and an HTML report.",
    )
    p.add_argument("--site", required=True, help="site name, e.g. 'Thôn Đồng Bùa'")
    p.add_argument("--network", required=True, action="append", metavar="CIDR",
                   help="network to survey (repeatable); only these are swept")
    p.add_argument("--interface", metavar="IF", help="interface for ARP and multicast (default: the one on-link)")
    p.add_argument("--credentials", metavar="FILE", type=Path,
                   help="TOML file of camera credentials, tried in order ([[credentials]] username/password)")
    p.add_argument("--db", metavar="URL",
                   help="also store the survey in this inventory (e.g. sqlite:///inventory.sqlite3); "
                        "it is matched to the site named by --site")
    p.add_argument("--push", metavar="URL",
                   help="also send the survey to a sitescout server (e.g. http://noc.example:8080) from the field")
    p.add_argument("--token-file", metavar="FILE", type=Path,
                   help="file holding an editor API token for --push (default: $SITESCOUT_TOKEN)")
    p.add_argument("--json", metavar="PATH|-", help="write the survey document as JSON ('-' for stdout)")
    p.add_argument("--report", metavar="PATH", type=Path, help="write a printable HTML survey report")
    p.add_argument("--wait", metavar="SECONDS", type=float, default=3.0,
                   help="how long to listen for WS-Discovery replies (default 3)")
    p.add_argument("--no-multicast", action="store_true",
                   help="unicast WS-Discovery only (for networks where multicast is not wanted)")
    p.add_argument("--no-streams", action="store_true",
                   help="skip the stream health checks and snapshots (a quicker survey)")
    p.add_argument("--allow-plaintext-auth", action="store_true",
                   help="also send passwords in clear where a camera asks for it (WS-Security PasswordText, "
                        "HTTP Basic snapshots); off by default, because any device on the network could ask")
    p.set_defaults(func=_cmd_survey)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole product on loopback: simulated cameras, survey, inventory, worker, web UI",
        description="Start simulated ONVIF cameras and plain hosts on 127.0.0.x and survey them; then seed a "
        "demo commune in a throwaway inventory, store the survey, run a worker on the simulated cameras "
        "(metrics on 127.0.0.1:9110) and serve the web UI on 127.0.0.1:8080 until Ctrl-C. No root needed; "
        "nothing leaves this machine.",
    )
    p.add_argument("--cameras", type=int, default=6, help="number of simulated cameras (1-12, default 6)")
    p.add_argument("--json", metavar="PATH|-", help="also write the survey document as JSON")
    p.add_argument("--report", metavar="PATH", type=Path, help="also write the HTML survey report")
    p.add_argument("--once", action="store_true",
                   help="only survey the simulated site and print the result (no inventory, worker or web UI)")
    p.add_argument("--keep-running", action="store_true", help="with --once: keep the simulated site up until Ctrl-C")
    p.add_argument("--for", dest="run_for", type=float, metavar="SECONDS",
                   help="stop after this many seconds (default: run until Ctrl-C)")
    p.add_argument("--listen", type=_listen_address, default=("127.0.0.1", 8080), metavar="HOST:PORT",
                   help="web UI address (default 127.0.0.1:8080)")
    p.add_argument("--metrics-listen", type=_listen_address, default=("127.0.0.1", 9110), metavar="HOST:PORT",
                   help="worker metrics address (default 127.0.0.1:9110)")
    p.set_defaults(func=_cmd_demo)


def _listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    if not host.startswith("127.") and host != "localhost":
        raise argparse.ArgumentTypeError(f"{text!r}: the demo stays on loopback (127.0.0.0/8)")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `sitescout` command."""
    parser = argparse.ArgumentParser(
        prog="sitescout",
        description="Survey and monitor the cameras and networks of many small sites.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def _write_outputs(doc: dict, json_path: str | None, report_path: Path | None) -> None:
    from sitescout.inventory.survey_report import render_survey_html

    if json_path == "-":
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    elif json_path:
        write_text_atomic(Path(json_path), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if report_path:
        write_text_atomic(report_path, render_survey_html(doc))


def _run_survey(args: argparse.Namespace, networks: Sequence[str], credentials: Sequence) -> dict:
    from dataclasses import replace

    from sitescout import console
    from sitescout.probes.survey import DEFAULT_SURVEY, async_run_survey

    plaintext = getattr(args, "allow_plaintext_auth", False)
    config = replace(DEFAULT_SURVEY, wsd_wait_s=args.wait, multicast=not args.no_multicast,
                     check_streams=not args.no_streams,
                     onvif=replace(DEFAULT_SURVEY.onvif, allow_plaintext_auth=plaintext),
                     streams=replace(DEFAULT_SURVEY.streams, allow_plaintext_auth=plaintext))
    with console.SurveyProgress() as progress:
        doc = asyncio.run(
            async_run_survey(
                args.site,
                networks,
                interface=args.interface,
                credentials=credentials,
                config=config,
                progress=progress.update,
            )
        ).to_dict()
    console.print_summary(doc, to_stderr=args.json == "-")
    return doc


def _cmd_survey(args: argparse.Namespace) -> int:
    from sitescout.probes.netif import parse_networks

    token = _push_token(args) if args.push else None
    if args.wait <= 0 or args.wait > 60:
        raise UsageError("--wait must be between 0 and 60 seconds")
    try:
        parse_networks(args.network, 65536)
    except ValueError as err:
        raise UsageError(str(err)) from err
    credentials = load_credentials_option(args.credentials)
    doc = _run_survey(args, args.network, credentials)
    _write_outputs(doc, args.json, args.report)
    failures = []
    if args.db:
        try:
            _store_survey(doc, args.db)
        except CommandError as err:
            failures.append(str(err))
    if args.push:
        try:
            _push_survey(doc, args.push, token or "")
        except CommandError as err:
            failures.append(str(err))
    if failures:
        if not args.json or args.json == "-":
            kept = _keep_document(doc)
            failures.append(f"the survey is kept in {kept}")
        raise CommandError("; ".join(failures))
    return 0


def _push_token(args: argparse.Namespace) -> str:
    import os

    if args.token_file:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise UsageError(f"--token-file: cannot read {args.token_file}: {err.strerror}") from err
    else:
        token = os.environ.get("SITESCOUT_TOKEN", "").strip()
    if not token:
        raise UsageError("--push needs an editor API token: --token-file FILE or $SITESCOUT_TOKEN")
    return token


def _store_survey(doc: dict, url: str) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from sitescout.inventory.db import DatabaseError, open_database
    from sitescout.inventory.ingest import SurveyError
    from sitescout.inventory.store import ingest_survey

    try:
        database = open_database(url)
        with database.session() as session:
            result = ingest_survey(session, doc)
    except SurveyError as err:
        raise CommandError(f"--db: {err}") from err
    except (DatabaseError, SQLAlchemyError, OSError) as err:
        raise CommandError(f"--db: cannot store the survey in {url}: {err}") from err
    state = "already stored as" if result.duplicate else "stored as"
    print(f"sitescout survey: {state} survey {result.survey_id} of site {result.site_id}: "
          f"{len(result.matched)} devices matched, {len(result.candidates)} candidates, "
          f"{len(result.findings)} findings", file=sys.stderr)


def _push_survey(doc: dict, url: str, token: str) -> None:
    import urllib.error
    import urllib.request

    endpoint = url.rstrip("/") + "/api/v1/surveys"
    request = urllib.request.Request(
        endpoint, data=json.dumps(doc).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read(1 << 20) or b"{}")
    except urllib.error.HTTPError as err:
        detail = err.read(2000).decode("utf-8", "replace").strip()
        raise CommandError(f"--push: {endpoint} answered {err.code}: {detail[:300]}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise CommandError(f"--push: cannot reach {endpoint}: {getattr(err, 'reason', err)}") from err
    state = "already had" if answer.get("duplicate") else "stored"
    print(f"sitescout survey: {endpoint} {state} the survey", file=sys.stderr)


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
        raise UsageError("--cameras must be between 1 and 12")
    from sitescout import demo

    return demo.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `sitescout` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        parser.exit(2, f"sitescout {args.command}: error: {err}\n")
    except CommandError as err:
        print(f"sitescout {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sitescout {args.command}: interrupted", file=sys.stderr)
        return 130
    except PermissionError as err:
        print(f"sitescout {args.command}: error: {err}; run as root or grant CAP_NET_RAW", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
