"""`sitescout serve`: the web UI, REST API, Prometheus http_sd and metrics on one address (loopback by default)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import threading
from pathlib import Path

from sitescout.cmdutil import is_loopback
from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _

__all__ = ["register", "parse_listen", "listen_warning"]

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_PER_ADDRESS = 32
DEFAULT_REQUEST_TIMEOUT_S = 15.0
#: Seconds an idle keep-alive connection, or an answer nobody reads, may hold a connection.
IDLE_TIMEOUT_S = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    # Imported here, not at the top: this change touches parser construction only (the module's imports
    # are being reorganised elsewhere); hoist it with them.

    p = subparsers.add_parser(
        "serve",
        help=_("serve the map, site pages, reports, REST API and Prometheus targets"),
        description=_("Serve the web UI (Vietnamese and English), the REST API, Prometheus http_sd targets and "
        "the server's own metrics. Listens on 127.0.0.1 unless told otherwise. On first start it creates "
        "an admin credential and prints the file it is in."),
    )
    p.add_argument("--db", metavar="URL",
                   help=_("inventory database URL (default: SQLite in the user's data directory)"))
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help=_("address to listen on (default %(default)s); beyond loopback, put it behind HTTPS"))
    p.add_argument("--tiles", metavar=_("FILE"), type=Path, help=_("MBTiles file of raster tiles: an offline basemap"))
    p.add_argument("--tile-url", metavar="URL",
                   help=_("tile server URL template instead, e.g. https://tiles.example.org/{z}/{x}/{y}.png"))
    p.add_argument("--tile-attribution", metavar=_("TEXT"), default="",
                   help=_("attribution shown for --tile-url tiles"))
    p.add_argument("--timezone", metavar=_("ZONE"), type=time_zone, default="Asia/Ho_Chi_Minh",
                   help=_("time zone the sites' times are shown in, pages and reports (default Asia/Ho_Chi_Minh)"))
    p.add_argument("--data-dir", metavar=_("DIR"), type=Path,
                   help=_("where the admin credential and session key are kept (default: the user's data directory)"))
    p.add_argument("--notify-config", metavar=_("FILE"), type=Path,
                   help=_("YAML settings for sending alerts to site contacts (SMS gateway, Zalo OA, e-mail; "
                        "see infra/province/notify.yml)"))
    p.add_argument("--threads", type=int, default=8, metavar="N",
                   help=_("requests served at once (default 8); more wait in line instead of starting threads"))
    p.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, metavar="N",
                   help=_("open connections at most (default %(default)s)"))
    p.add_argument("--max-connections-per-address", type=int, default=DEFAULT_PER_ADDRESS, metavar="N",
                   help=_("open connections from one client address at most (default %(default)s; "
                          "0: no limit, for use behind a reverse proxy that limits per client)"))
    p.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S, metavar="S",
                   help=_("a request's headers must arrive within S seconds (default %(default)g); after S more, its "
                          "body must keep up 16 KiB/s on average; an idle connection closes after 30 s"))
    p.set_defaults(func=_cmd_serve)


def time_zone(value: str) -> str:
    """Return `value` if it names a time zone the system knows (an IANA name such as Asia/Ho_Chi_Minh)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise argparse.ArgumentTypeError(
            _("unknown time zone {value!r}; give an IANA name such as Asia/Ho_Chi_Minh").format(value=value)) from err
    return value


def parse_listen(value: str) -> tuple[str, int]:
    """Return (host, port) from HOST:PORT or [IPv6]:PORT; raise UsageError when it is not one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise UsageError(_("--listen {value!r}: use HOST:PORT, e.g. 127.0.0.1:8080").format(value=value))
    port = int(port_text)
    if not 0 <= port < 65536:  # 0: any free port (printed on start)
        raise UsageError(_("--listen {value!r}: port must be 0-65535").format(value=value))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def listen_warning(host: str) -> str | None:
    """Return the warning to print when `host` is beyond loopback, else None."""
    if is_loopback(host):
        return None
    return "sitescout serve: " + _("warning: listening beyond loopback; serve it behind HTTPS (login cookies are "
                                   "Secure and will not be sent over plain HTTP, and API tokens would travel in "
                                   "clear)")


def _check_tiles(args: argparse.Namespace) -> None:

    if args.tiles and args.tile_url:
        raise UsageError(_("give --tiles FILE or --tile-url URL, not both"))
    if args.tiles:
        from sitescout.web.tiles import MBTilesError, open_mbtiles

        try:
            open_mbtiles(args.tiles)
        except MBTilesError as err:
            raise UsageError(f"--tiles: {err}") from err
    if args.tile_url:
        from sitescout.web.tiles import tile_server_origin

        # The template's origin goes into the pages' Content-Security-Policy: only a plain URL is taken.
        if tile_server_origin(args.tile_url) is None:
            raise UsageError(_("--tile-url must be an http(s) URL with {z}, {x} and {y}, "
                               "e.g. https://tiles.example.org/{z}/{x}/{y}.png"))


def _raise_open_files_limit(wanted: int) -> None:
    """Let the process hold `wanted` open files if the hard limit allows (each connection is one)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def freeze_startup_objects() -> None:
    """Keep what the server built before its first request (modules, the app) out of the full garbage collections.

    They live as long as the process; without this, each full collection scans them all again:
    measured 80-100 ms of CPU every 10-15 camera moves on the planning workbench (docs/planning.md).
    """
    gc.collect()
    gc.freeze()


def _cmd_serve(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    _check_tiles(args)
    if not 1 <= args.threads <= 256:
        raise UsageError(_("--threads must be between 1 and 256"))
    if not 16 <= args.max_connections <= 10000:
        raise UsageError(_("--max-connections must be between 16 and 10000"))
    if not 0 <= args.max_connections_per_address <= args.max_connections:
        raise UsageError(_("--max-connections-per-address must be between 0 and --max-connections"))
    if not 0.5 <= args.request_timeout <= 600:
        raise UsageError(_("--request-timeout must be between 0.5 and 600 seconds"))
    from sitescout.httpserver import ClientLimits, create_guarded_server

    from sitescout.cmdutil import open_inventory
    from sitescout.web import create_app
    from sitescout.web.bootstrap import default_data_dir, ensure_admin, load_secret_key

    data_dir = args.data_dir or default_data_dir()
    database = open_inventory(args.db)
    try:
        secret = load_secret_key(data_dir)
        created = ensure_admin(database, data_dir)
    except OSError as err:
        raise CommandError(_("cannot write to {path}: {reason}; choose --data-dir").format(
            path=data_dir, reason=err.strerror)) from err
    notify = None
    if args.notify_config:
        from sitescout.web.notify import load_notify_settings

        try:
            notify = load_notify_settings(args.notify_config)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CommandError(_("{path}: {reason}; check --notify-config").format(path=args.notify_config,
                                                                                 reason=err)) from err
    app = create_app({
        "DATABASE": database, "SECRET_KEY": secret, "NOTIFY": notify,
        "TILES_FILE": str(args.tiles) if args.tiles else None,
        "TILE_URL": args.tile_url, "TILE_ATTRIBUTION": args.tile_attribution,
        "SITE_TIMEZONE": args.timezone,
    })
    freeze_startup_objects()
    _raise_open_files_limit(args.max_connections + 64)
    # Plans and report PDFs run in capped child processes forked from a fork server (about a second
    # of CPU to start, importing numpy, scipy and WeasyPrint): start it once the server is up, not
    # on the first plan, and not at all for a server stopped within seconds.
    from sitescout.web.isolation import warm_up

    warm = threading.Timer(10.0, warm_up)
    warm.daemon = True
    warm.start()
    limits = ClientLimits(header_timeout_s=args.request_timeout, body_grace_s=args.request_timeout,
                          max_per_address=args.max_connections_per_address)
    try:
        # Waitress: a production WSGI server with a bounded pool of threads (the database pool holds
        # 5 + 10 connections, so 8 threads never wait for one), not Werkzeug's thread per request.
        # It reads each request whole before a thread sees it; sitescout.httpserver adds deadlines
        # for slow requests and a limit per client address.  Bodies beyond the app's limit are
        # refused when their headers end (waitress refuses a length >= its limit, Flask one > its own).
        server = create_guarded_server(
            app, limits=limits, host=host, port=port, threads=args.threads, ident="sitescout",
            clear_untrusted_proxy_headers=True, max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]) + 1,
            connection_limit=args.max_connections, channel_timeout=IDLE_TIMEOUT_S, cleanup_interval=1,
            asyncore_use_poll=True)
    except OSError as err:
        raise CommandError(_("cannot listen on {address}: {reason}; choose another --listen").format(
            address=f"{host}:{port}", reason=err.strerror)) from err
    shown = f"[{host}]" if ":" in host else host
    bound = getattr(server, "effective_port", None) or server.effective_listen[0][1]
    base = f"http://{shown}:{bound}"
    print("sitescout serve: " + _("map on {url}").format(url=f"{base}/map"), file=sys.stderr)
    print("sitescout serve: " + _("API on {url}, metrics on /metrics, Prometheus targets on /sd/prometheus").format(
        url=f"{base}/api/v1/sites"), file=sys.stderr)
    if created is not None:
        print("sitescout serve: " + _("first start: admin user name, password and API token are in {path} "
                                      "(mode 0600)").format(path=created.path), file=sys.stderr)
    warning = listen_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    sys.stderr.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        database.close()
    return 0
