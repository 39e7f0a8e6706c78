"""`sitescout worker`: probe targets on a schedule and serve them to Prometheus.

Only argparse is imported at module level, so ``sitescout --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


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
    p.add_argument("--inventory", metavar="URL", help="take targets from the inventory (not available yet)")
    p.add_argument("--token-file", metavar="FILE", type=Path, help="file holding the inventory API token")
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9110",
                   help="address of /metrics and /probe (default 127.0.0.1:9110)")
    p.add_argument("--shard", metavar="K/N", default="1/1",
                   help="probe only shard K of N (a stable hash of site and device)")
    p.add_argument("--check-config", action="store_true",
                   help="check the targets file and exit (0 when valid, 2 with FILE:LINE: message)")
    p.add_argument("--credentials", metavar="FILE", type=Path,
                   help="TOML file of camera credentials ([[credentials]] username/password)")
    p.add_argument("--observations-spool", metavar="FILE", type=Path,
                   help="append every result as a JSON line to FILE (the inventory sink arrives later)")
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
    if args.inventory or args.token_file:
        raise UsageError("--inventory: the inventory's targets endpoint is not wired to the worker yet; "
                         "use --targets FILE")
    if not args.targets:
        raise UsageError("--targets FILE is required")
    try:
        shard = parse_shard(args.shard)
    except ValueError as err:
        raise UsageError(str(err)) from err

    from sitescout.probes.worker import FileTargetSource, JsonlSpoolSink, ObservationQueue, Worker

    source = FileTargetSource(args.targets)
    if args.check_config:
        try:
            config = source.load()
        except TargetsError as err:
            print(str(err), file=sys.stderr)
            return 2
        print(f"{args.targets}: ok, {len(config.targets)} target(s)")
        return 0

    from sitescout.probes.exporter import Exporter, parse_listen
    from sitescout.probes.registry import ProbeContext

    try:
        listen = parse_listen(args.listen)
    except ValueError as err:
        raise UsageError(str(err)) from err
    credentials = []
    if args.credentials:
        from sitescout.probes.credentials import load_credentials

        try:
            credentials = load_credentials(args.credentials)
        except (OSError, ValueError) as err:
            raise UsageError(f"--credentials: {err}") from err
    ctx = ProbeContext(credentials=credentials, socket_mode=args.socket)
    queue = ObservationQueue(JsonlSpoolSink(args.observations_spool)) if args.observations_spool else None
    worker = Worker(source, shard=shard, ctx=ctx, queue=queue)
    try:
        worker.load_initial()
    except TargetsError as err:
        raise UsageError(str(err)) from err
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
    return 0
