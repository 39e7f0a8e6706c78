"""`sitescout serve`: the web UI, REST API, Prometheus http_sd and metrics on one address (loopback by default)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sitescout.cmdutil import is_loopback
from sitescout.errors import CommandError, UsageError

__all__ = ["register", "parse_listen", "listen_warning"]

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = subparsers.add_parser(
        "serve",
        help="serve the map, site pages, reports, REST API and Prometheus targets",
        description="Serve the web UI (Vietnamese and English), the REST API, Prometheus http_sd targets and "
        "the server's own metrics. Listens on 127.0.0.1 unless told otherwise. On first start it creates "
        "an admin credential and prints the file it is in.",
    )
    p.add_argument("--db", metavar="URL", help="inventory database URL (default: SQLite in the user's data directory)")
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help=f"address to listen on (default {DEFAULT_LISTEN}); beyond loopback, put it behind HTTPS")
    p.add_argument("--tiles", metavar="FILE", type=Path, help="MBTiles file of raster tiles: an offline basemap")
    p.add_argument("--tile-url", metavar="URL",
                   help="tile server URL template instead, e.g. https://tiles.example.org/{z}/{x}/{y}.png")
    p.add_argument("--tile-attribution", metavar="TEXT", default="", help="attribution shown for --tile-url tiles")
    p.add_argument("--data-dir", metavar="DIR", type=Path,
                   help="where the admin credential and session key are kept (default: the user's data directory)")
    p.add_argument("--threads", type=int, default=8, metavar="N",
                   help="requests served at once (default 8); more wait in line instead of starting threads")
    p.set_defaults(func=_cmd_serve)


def parse_listen(value: str) -> tuple[str, int]:
    """Return (host, port) from HOST:PORT or [IPv6]:PORT; raise UsageError when it is not one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise UsageError(f"--listen {value!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    port = int(port_text)
    if not 0 <= port < 65536:  # 0: any free port (printed on start)
        raise UsageError(f"--listen {value!r}: port must be 0-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def listen_warning(host: str) -> str | None:
    """Return the warning to print when `host` is beyond loopback, else None."""
    if is_loopback(host):
        return None
    return ("sitescout serve: warning: listening beyond loopback; serve it behind HTTPS "
            "(login cookies are Secure and will not be sent over plain HTTP, and API tokens would travel in clear)")


def _check_tiles(args: argparse.Namespace) -> None:
    if args.tiles and args.tile_url:
        raise UsageError("give --tiles FILE or --tile-url URL, not both")
    if args.tiles:
        from sitescout.web.tiles import MBTilesError, open_mbtiles

        try:
            open_mbtiles(args.tiles)
        except MBTilesError as err:
            raise UsageError(f"--tiles: {err}") from err
    if args.tile_url:
        if not args.tile_url.startswith(("http://", "https://")) or not all(
            f"{{{k}}}" in args.tile_url for k in "zxy"
        ):
            raise UsageError("--tile-url must be an http(s) URL with {z}, {x} and {y}")


def _cmd_serve(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    _check_tiles(args)
    if not 1 <= args.threads <= 256:
        raise UsageError("--threads must be between 1 and 256")
    from waitress.server import create_server

    from sitescout.inventory.db import DatabaseError, default_database_url, open_database
    from sitescout.web import create_app
    from sitescout.web.bootstrap import default_data_dir, ensure_admin, load_secret_key

    data_dir = args.data_dir or default_data_dir()
    url = args.db or default_database_url()
    try:
        database = open_database(url)
    except DatabaseError as err:
        raise CommandError(f"{err}; check --db") from err
    try:
        secret = load_secret_key(data_dir)
        created = ensure_admin(database, data_dir)
    except OSError as err:
        raise CommandError(f"cannot write to {data_dir}: {err.strerror}; choose --data-dir") from err
    app = create_app({
        "DATABASE": database, "SECRET_KEY": secret,
        "TILES_FILE": str(args.tiles) if args.tiles else None,
        "TILE_URL": args.tile_url, "TILE_ATTRIBUTION": args.tile_attribution,
    })
    try:
        # Waitress: a production WSGI server with a bounded pool of threads (the database pool holds
        # 5 + 10 connections, so 8 threads never wait for one), not Werkzeug's thread per request.
        server = create_server(app, host=host, port=port, threads=args.threads, ident="sitescout",
                               clear_untrusted_proxy_headers=True)
    except OSError as err:
        raise CommandError(f"cannot listen on {host}:{port}: {err.strerror}; choose another --listen") from err
    shown = f"[{host}]" if ":" in host else host
    bound = server.effective_port  # type: ignore[union-attr]
    print(f"sitescout serve: map on http://{shown}:{bound}/map", file=sys.stderr)
    print(f"sitescout serve: API on http://{shown}:{bound}/api/v1/sites, "
          f"metrics on /metrics, Prometheus targets on /sd/prometheus", file=sys.stderr)
    if created is not None:
        print(f"sitescout serve: first start: admin user name, password and API token are in {created.path} "
              "(mode 0600)", file=sys.stderr)
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
