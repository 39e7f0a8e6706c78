"""`sitescout worker`: probe targets on a schedule and serve them to Prometheus.

Only argparse is imported at module level, so ``sitescout --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["listen_warning", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `worker` subcommand."""
    p = sub.add_parser(
        "worker",
        help="probe cameras and links on a schedule and export them to Prometheus",
        description="Probe every target's link (ICMP bursts: loss, RTT, jitter), ONVIF identity and clock, "
        "and streams, each kind at its own interval, and serve the results on /metrics; /probe runs one "
        "probe on demand (blackbox style). The targets file is re-read when it changes, on SIGHUP and on "
        "POST /-/reload; a bad file keeps the last good one.",
    )
    p.add_argument("--targets", metavar="FILE", type=Path, help="YAML targets file (see docs)")
    p.add_argument("--inventory", metavar="URL",
                   help="take targets from the inventory at URL (its /sd/prometheus) and send results back to it "
                        "as observations (instead of --targets)")
    p.add_argument("--token-file", metavar="FILE", type=Path,
                   help="file holding the inventory API token (a worker token); required with --inventory")
    p.add_argument("--settings", metavar="FILE", type=Path,
                   help="with --inventory: a YAML file in the targets-file format giving 'defaults' (intervals) "
                        "and 'sites' (coordinates), without targets")
    p.add_argument("--refresh", metavar="SECONDS", type=float, default=60.0,
                   help="with --inventory: how often to ask it for targets (default 60)")
    p.add_argument("--flush-interval", metavar="SECONDS", type=float, default=5.0,
                   help="how often queued observations are sent (default 5; backs off while the sink fails)")
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9110",
                   help="address of /metrics and /probe (default 127.0.0.1:9110)")
    p.add_argument("--shard", metavar="K/N", default="1/1",
                   help="probe only shard K of N (a stable hash of site and device)")
    p.add_argument("--check-config", action="store_true",
                   help="check the targets file and exit (0 when valid, 2 with FILE:LINE: message)")
    p.add_argument("--credentials", metavar="FILE", type=Path,
                   help="TOML file of camera credentials ([[credentials]] username/password)")
    p.add_argument("--observations-spool", metavar="FILE", type=Path,
                   help="with --targets: append every result as a JSON line to FILE; with --inventory: keep "
                        "queued observations in FILE (and FILE.acked) until delivered, so a crash loses none")
    p.add_argument("--targets-cache", metavar="FILE", type=Path,
                   help="with --inventory: keep the inventory's last good targets in FILE, and start from them "
                        "when the inventory is unreachable (default: SPOOL.targets.json next to "
                        "--observations-spool SPOOL when that is given, else no cache)")
    p.add_argument("--socket", choices=["auto", "raw", "dgram"], default="auto",
                   help="ICMP socket kind (default: raw if permitted, else unprivileged datagram)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the worker until interrupted (or check its config)."""
    import asyncio
    import logging
    import signal
    import sys

    from sitescout.errors import CommandError, UsageError
    from sitescout.probes.targets import TargetsError, parse_shard

    log = logging.getLogger("sitescout.worker")
    if args.inventory and args.targets:
        raise UsageError("--targets and --inventory are alternatives: give one")
    if not args.targets and not args.inventory:
        raise UsageError("give --targets FILE or --inventory URL --token-file FILE")
    if args.token_file and not args.inventory:
        raise UsageError("--token-file goes with --inventory URL")
    if not args.inventory and (args.settings or args.refresh != 60.0 or args.targets_cache):
        raise UsageError("--settings, --refresh and --targets-cache go with --inventory URL")
    if not 0.1 <= args.flush_interval <= 3600 or not 1.0 <= args.refresh <= 86400:
        raise UsageError("--flush-interval must be 0.1-3600 s and --refresh 1-86400 s")
    try:
        shard = parse_shard(args.shard)
    except ValueError as err:
        raise UsageError(str(err)) from err

    from sitescout.probes.worker import FileTargetSource, JsonlSpoolSink, ObservationQueue, Worker

    source: Any
    queue = None
    if args.inventory:
        source, sink = _inventory_link(args)
        if args.observations_spool:
            from sitescout.probes.inventory_link import SpooledObservationQueue

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
        print(f"{source.name}: ok, {len(config.targets)} target(s)")
        return 0

    from sitescout.probes.exporter import Exporter, parse_listen
    from sitescout.probes.registry import ProbeContext
    from sitescout.cmdutil import load_credentials_option

    try:
        listen = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    credentials = load_credentials_option(args.credentials)
    ctx = ProbeContext(credentials=credentials, socket_mode=args.socket)
    worker = Worker(source, shard=shard, ctx=ctx, queue=queue)
    try:
        worker.load_initial()
    except TargetsError as err:
        getattr(source, "close", lambda: None)()
        raise UsageError(str(err)) from err
    warning = listen_warning(listen[0])
    if warning:
        print(warning, file=sys.stderr)
    try:
        exporter = Exporter(worker, listen)
    except OSError as err:
        raise CommandError(f"cannot listen on {args.listen}: {err.strerror or err}; choose another --listen") from err

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, worker.reload)
        worker.loop = loop
        exporter.start()
        host, port = exporter.address
        print(f"ready http://{host}:{port}/metrics shard {shard[0]}/{shard[1]}, {len(worker.targets)} target(s)",
              flush=True)
        log.info("listening on %s:%d", host, port)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        exporter.stop()
        ctx.close()
        getattr(source, "close", lambda: None)()
    return 0


def _inventory_link(args: argparse.Namespace) -> tuple[Any, Any]:
    """Build the inventory target source and observation sink (the token is read here, never printed)."""
    from sitescout.errors import UsageError
    from sitescout.probes.inventory_link import HttpObservationSink, InventoryTargetSource
    from sitescout.probes.targets import Defaults

    if not args.token_file:
        raise UsageError("--inventory needs --token-file FILE (a worker token of the inventory)")
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--token-file {args.token_file}: cannot read: {getattr(err, 'strerror', None) or err}") \
            from None
    if not token or any(c.isspace() for c in token):
        raise UsageError(f"--token-file {args.token_file}: expected one token on one line")
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
        raise UsageError(str(err)) from err
    return source, HttpObservationSink(args.inventory, token, device_ids=source.device_ids)


def _read_settings(path: Path) -> tuple[Any, Any]:
    """Read `defaults` and `sites` from a targets-format file that lists no targets."""
    import yaml

    from sitescout.errors import UsageError
    from sitescout.probes.targets import TargetsError, parse_targets

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}:0: cannot read: {getattr(err, 'strerror', None) or err}") from None
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError:
        top = None  # parse_targets names the line
    if isinstance(top, dict) and "targets" not in top:
        text += "\ntargets: []\n"  # appended after the last line: reported lines stay right
    try:
        config = parse_targets(text, str(path))
    except TargetsError as err:
        raise UsageError(str(err)) from err
    if config.targets:
        raise UsageError(f"{path}: with --inventory the targets come from the inventory; "
                         f"remove the {len(config.targets)} target(s) listed here")
    return config.defaults, config.sites


def listen_warning(host: str) -> str | None:
    """Return the warning to print when the worker's HTTP port is reachable beyond loopback, else None."""
    from sitescout.cmdutil import is_loopback

    if is_loopback(host):
        return None
    return ("sitescout worker: warning: listening beyond loopback; /metrics and /probe have no authentication "
            "(put them behind a firewall or a TLS proxy with auth; /probe sends camera credentials only to "
            "the worker's own targets)")
