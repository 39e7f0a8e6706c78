"""`sitescout worker`: probe targets on a schedule and serve them to Prometheus.

Only argparse is imported at module level, so ``sitescout --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sitescout.cmdutil import coded_text
from sitescout.i18n import _, ngettext

__all__ = ["listen_warning", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `worker` subcommand."""
    # Imported here, not at the top: this change touches parser construction only (the module's imports
    # are being reorganised elsewhere); hoist it with them.

    p = sub.add_parser(
        "worker",
        help=_("probe cameras and links on a schedule and export them to Prometheus"),
        description=_("Probe every target's link (ICMP bursts: loss, RTT, jitter), ONVIF identity and clock, "
        "and streams, each kind at its own interval, and serve the results on /metrics; /probe runs one "
        "probe on demand (blackbox style). The targets file is re-read when it changes, on SIGHUP and on "
        "POST /-/reload; a bad file keeps the last good one."),
    )
    p.add_argument("--targets", metavar=_("FILE"), type=Path, help=_("YAML targets file (see docs)"))
    p.add_argument("--inventory", metavar="URL",
                   help=_("take targets from the inventory at URL (its /sd/prometheus) and send results back to it "
                        "as observations (instead of --targets)"))
    p.add_argument("--token-file", metavar=_("FILE"), type=Path,
                   help=_("file holding the inventory API token (a worker token); required with --inventory"))
    p.add_argument("--settings", metavar=_("FILE"), type=Path,
                   help=_("with --inventory: a YAML file in the targets-file format giving 'defaults' (intervals) "
                        "and 'sites' (coordinates), without targets"))
    p.add_argument("--refresh", metavar=_("SECONDS"), type=float, default=60.0,
                   help=_("with --inventory: how often to ask it for targets (default 60)"))
    p.add_argument("--flush-interval", metavar=_("SECONDS"), type=float, default=5.0,
                   help=_("how often queued observations are sent (default 5; backs off while the sink fails)"))
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9110",
                   help=_("address of /metrics and /probe (default 127.0.0.1:9110)"))
    p.add_argument("--shard", metavar="K/N", default="1/1",
                   help=_("probe only shard K of N (a stable hash of site and device)"))
    p.add_argument("--check-config", action="store_true",
                   help=_("check the targets file and exit (0 when valid, 2 with FILE:LINE: message)"))
    p.add_argument("--credentials", metavar=_("FILE"), type=Path,
                   help=_("TOML file of camera credentials ([[credentials]] username/password)"))
    p.add_argument("--observations-spool", metavar=_("FILE"), type=Path,
                   help=_("with --targets: append every result as a JSON line to FILE; with --inventory: keep "
                        "queued observations in FILE (and FILE.acked) until delivered, so a crash loses none"))
    p.add_argument("--targets-cache", metavar=_("FILE"), type=Path,
                   help=_("with --inventory: keep the inventory's last good targets in FILE, and start from them "
                        "when the inventory is unreachable (default: SPOOL.targets.json next to "
                        "--observations-spool SPOOL when that is given, else no cache)"))
    p.add_argument("--socket", choices=["auto", "raw", "dgram"], default="auto",
                   help=_("ICMP socket kind (default: raw if permitted, else unprivileged datagram)"))
    p.add_argument("--web.config.file", dest="web_config_file", metavar=_("FILE"), type=Path,
                   help=_("TLS and basic auth for every HTTP path, in the Prometheus exporter-toolkit web "
                        "configuration format (tls_server_config, basic_auth_users with bcrypt hashes; "
                        "see infra/README.md); checked by --check-config too"))
    p.add_argument("--probe-limit", metavar="MODULE=N", action="append", default=[],
                   help=_("/probe requests of MODULE (icmp, tcp, onvif, stream) in flight at once; one more is "
                        "answered 503 (default icmp=32 tcp=32 onvif=8 stream=2); repeatable"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the worker until interrupted (or check its config)."""
    import asyncio
    import logging
    import signal
    import sys

    from sitescout.errors import CommandError, UsageError
    from sitescout.probes.worker.records import TargetsError, parse_shard

    log = logging.getLogger("sitescout.worker")
    if args.inventory and args.targets:
        raise UsageError(_("--targets and --inventory are alternatives: give one"))
    if not args.targets and not args.inventory:
        raise UsageError(_("give --targets FILE or --inventory URL --token-file FILE"))
    if args.token_file and not args.inventory:
        raise UsageError(_("--token-file goes with --inventory URL"))
    if not args.inventory and (args.settings or args.refresh != 60.0 or args.targets_cache):
        raise UsageError(_("--settings, --refresh and --targets-cache go with --inventory URL"))
    if not 0.1 <= args.flush_interval <= 3600 or not 1.0 <= args.refresh <= 86400:
        raise UsageError(_("--flush-interval must be 0.1-3600 s and --refresh 1-86400 s"))
    try:
        shard = parse_shard(args.shard)
    except ValueError as err:
        raise UsageError(coded_text(err)) from err
    from sitescout.probes.worker.probe_service import parse_probe_limits
    from sitescout.probes.worker.web_config import WebConfig, WebConfigError, load_web_config

    try:
        probe_limits = parse_probe_limits(args.probe_limit)
    except ValueError as err:
        raise UsageError(coded_text(err)) from err
    web_config = WebConfig()
    if args.web_config_file:
        try:
            web_config = load_web_config(args.web_config_file)
        except WebConfigError as err:
            if args.check_config:
                print(str(err), file=sys.stderr)
                return 2
            raise UsageError(f"--web.config.file {err}") from err

    from sitescout.probes.worker.scheduler import FileTargetSource, JsonlSpoolSink, ObservationQueue, Worker

    source: Any
    queue: ObservationQueue | None = None
    if args.inventory:
        source, sink = _inventory_link(args)
        if args.observations_spool:
            from sitescout.probes.worker.spool import SpooledObservationQueue

            queue = SpooledObservationQueue(sink, args.observations_spool, flush_interval_s=args.flush_interval)
        else:
            queue = ObservationQueue(sink, flush_interval_s=args.flush_interval)
    else:
        source = FileTargetSource(args.targets)
        if args.observations_spool:
            queue = ObservationQueue(JsonlSpoolSink(args.observations_spool), flush_interval_s=args.flush_interval)
    if args.check_config:
        try:
            config = source.load()
        except TargetsError as err:
            print(str(err), file=sys.stderr)
            return 2
        finally:
            getattr(source, "close", lambda: None)()
        print(ngettext("{name}: ok, {count} target", "{name}: ok, {count} targets", len(config.targets)).format(
            name=source.name, count=len(config.targets)))
        return 0

    from sitescout.probes.worker.exporter import Exporter, parse_listen
    from sitescout.probes.worker.jobs import ProbeContext
    from sitescout.cmdutil import load_credentials_option

    try:
        listen = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(coded_text(err)) from err
    credentials = load_credentials_option(args.credentials)
    ctx = ProbeContext(credentials=credentials, socket_mode=args.socket,
                       snmp_credentials=_snmp_credentials(args.credentials))
    worker = Worker(source, shard=shard, ctx=ctx, queue=queue)
    try:
        worker.load_initial()
    except TargetsError as err:
        getattr(source, "close", lambda: None)()
        raise UsageError(coded_text(err)) from err
    warning = listen_warning(listen[0], web_config)
    if warning:
        print(warning, file=sys.stderr)
    try:
        exporter = Exporter(worker, listen, web_config=web_config, web_config_file=args.web_config_file,
                            probe_limits=probe_limits)
    except OSError as err:
        raise CommandError(_("cannot listen on {address}: {reason}; choose another --listen").format(
            address=args.listen, reason=err.strerror or err)) from err

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: (worker.reload(), exporter.reload_web_config()))
        worker.loop = loop
        exporter.start()
        host, port = exporter.address
        print(f"ready {exporter.scheme}://{host}:{port}/metrics shard {shard[0]}/{shard[1]}, "
              f"{len(worker.targets)} target(s)", flush=True)
        log.info("listening on %s:%d", host, port)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        exporter.stop()
        ctx.close()
        getattr(source, "close", lambda: None)()
    return 0


def _snmp_credentials(path: Path | None) -> Any:
    """Return the ``[snmp]`` table of the credentials file (empty without a file)."""
    from sitescout.cmdutil import load_snmp_credentials_option

    return load_snmp_credentials_option(path)


def _inventory_link(args: argparse.Namespace) -> tuple[Any, Any]:
    """Build the inventory target source and observation sink (the token is read here, never printed)."""
    from sitescout.errors import UsageError
    from sitescout.probes.worker.inventory_link import HttpObservationSink
    from sitescout.probes.worker.inventory_targets import InventoryTargetSource
    from sitescout.probes.worker.targets import Defaults

    if not args.token_file:
        raise UsageError(_("--inventory needs --token-file FILE (a worker token of the inventory)"))
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(_("--token-file {path}: cannot read: {reason}").format(
            path=args.token_file, reason=getattr(err, "strerror", None) or err)) from None
    if not token or any(c.isspace() for c in token):
        raise UsageError(_("--token-file {path}: expected one token on one line").format(path=args.token_file))
    defaults, sites = Defaults(), ()
    if args.settings:
        defaults, sites = _read_settings(args.settings)
    cache = args.targets_cache
    if cache is None and args.observations_spool:
        cache = args.observations_spool.with_name(args.observations_spool.name + ".targets.json")
    if args.check_config:  # check what the inventory answers now, not what was cached
        cache = None
    try:
        source = InventoryTargetSource(args.inventory, token, refresh_s=args.refresh, defaults=defaults, sites=sites,
                                       cache=cache)
    except ValueError as err:
        raise UsageError(coded_text(err)) from err
    return source, HttpObservationSink(args.inventory, token, device_ids=source.device_ids)


def _read_settings(path: Path) -> tuple[Any, Any]:
    """Read `defaults` and `sites` from a targets-format file that lists no targets."""
    import yaml

    from sitescout.errors import UsageError
    from sitescout.probes.worker.records import TargetsError
    from sitescout.probes.worker.targets import parse_targets

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(_("{path}:0: cannot read: {reason}").format(
            path=path, reason=getattr(err, "strerror", None) or err)) from None
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError:
        top = None  # parse_targets names the line
    if isinstance(top, dict) and "targets" not in top:
        text += "\ntargets: []\n"  # appended after the last line: reported lines stay right
    try:
        config = parse_targets(text, str(path))
    except TargetsError as err:
        raise UsageError(coded_text(err)) from err
    if config.targets:
        raise UsageError(ngettext("{path}: with --inventory the targets come from the inventory; remove the "
                                  "{count} target listed here",
                                  "{path}: with --inventory the targets come from the inventory; remove the "
                                  "{count} targets listed here", len(config.targets)).format(
            path=path, count=len(config.targets)))
    return config.defaults, config.sites


def listen_warning(host: str, web_config: Any = None) -> str | None:
    """Return the warning to print when the worker's HTTP port is reachable beyond loopback unprotected, else None."""
    from sitescout.cmdutil import is_loopback

    if is_loopback(host):
        return None
    tls = web_config is not None and web_config.tls is not None
    if web_config is not None and web_config.is_protected:
        if tls:
            return None
        return "sitescout worker: " + _("warning: listening beyond loopback with basic auth over plain HTTP; the "
                                        "passwords cross the network in clear (add tls_server_config to "
                                        "--web.config.file)")
    return "sitescout worker: " + _("warning: listening beyond loopback; /metrics, /probe and POST /-/reload have no "
                                    "authentication (give --web.config.file with basic_auth_users and "
                                    "tls_server_config, or put them behind a firewall; /probe sends camera "
                                    "credentials only to the configured cameras' own endpoints)")
