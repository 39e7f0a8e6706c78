"""`sitescout tiles fetch`: make an offline basemap (MBTiles) of an area from a tile server you may use.

For a commune's server with no internet: run once where the tile server can be reached
(a province's own OpenStreetMap mirror, a licensed provider), copy the file, and start
``sitescout serve --tiles FILE``.  The fetch is polite: one request at a time, at most
``--rate`` tiles a second (default 2), a User-Agent naming sitescout and your contact,
``Retry-After`` honoured on 429/503, a bounded number of tiles and bytes per tile, no
redirects followed.  Many public servers (tile.openstreetmap.org among them) forbid bulk
downloads: use a server whose terms allow it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _

__all__ = ["register", "BoundingBox", "parse_bbox", "parse_zooms", "tiles_in", "fetch_tiles", "DEFAULT_RATE"]

DEFAULT_RATE = 2.0  # tiles per second
MAX_RATE = 20.0
DEFAULT_MAX_TILES = 20000
_TIMEOUT_S = 30.0
_TRIES = 4
_MAX_WAIT_S = 60.0
_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"RIFF": "webp"}


@dataclass(frozen=True)
class BoundingBox:
    """An area in degrees: west, south, east, north (WGS 84)."""

    west: float
    south: float
    east: float
    north: float


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `tiles` subcommand (`tiles fetch`)."""
    p = sub.add_parser(
        "tiles", help=_("make an offline basemap (MBTiles) for `serve --tiles`"),
        description=_("Make an MBTiles file of raster map tiles for an area, to serve with `sitescout serve "
                      "--tiles FILE` where there is no internet."))
    actions = p.add_subparsers(dest="tiles_command", metavar=_("ACTION"))
    actions.required = True
    f = actions.add_parser(
        "fetch", help=_("download the tiles of an area from a tile server into an MBTiles file"),
        description=_("Download the tiles of an area, zoom by zoom, from a tile server you are allowed to "
                      "download from, one at a time and at most --rate a second, into an MBTiles file. "
                      "Public OpenStreetMap servers forbid bulk downloads: use your province's own server "
                      "or a provider whose terms allow it."))
    f.add_argument("--bbox", required=True, metavar=_("W,S,E,N"),
                   help=_("the area: west, south, east, north in degrees, e.g. 105.29,21.69,105.35,21.77"))
    f.add_argument("--zoom", required=True, metavar="Z1-Z2", help=_("zoom levels, e.g. 12-17 (or one level: 15)"))
    f.add_argument("--url", required=True, metavar=_("TEMPLATE"),
                   help=_("tile URL template with {z}, {x} and {y}, e.g. https://tiles.example.org/{z}/{x}/{y}.png"))
    f.add_argument("--out", required=True, metavar=_("FILE"), type=Path, help=_("the MBTiles file to write"))
    f.add_argument("--attribution", metavar=_("TEXT"), default="",
                   help=_("attribution the map shows, e.g. '© OpenStreetMap contributors'"))
    f.add_argument("--name", metavar=_("TEXT"), default="", help=_("name of the basemap (default: the file's name)"))
    f.add_argument("--rate", type=float, default=DEFAULT_RATE, metavar="N",
                   help=_("tiles a second at most (default %(default)g, at most 20)"))
    f.add_argument("--max-tiles", type=int, default=DEFAULT_MAX_TILES, metavar="N",
                   help=_("refuse an area of more tiles than this (default %(default)s)"))
    f.add_argument("--contact", metavar="EMAIL", default="",
                   help=_("your contact, sent in the User-Agent so the server's operator can reach you"))
    f.set_defaults(func=_cmd_fetch)


def parse_bbox(text: str) -> BoundingBox:
    """Return the box of "W,S,E,N"; raise UsageError when it is not one."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError as err:
        raise UsageError(_("--bbox {text!r}: give west,south,east,north in degrees, e.g. "
                           "105.29,21.69,105.35,21.77").format(text=text)) from err
    if not (-180 <= west < east <= 180 and -85.05 <= south < north <= 85.05):
        raise UsageError(_("--bbox {text!r}: west must be below east, south below north, "
                           "within -180..180 and -85..85").format(text=text))
    return BoundingBox(west, south, east, north)


def parse_zooms(text: str) -> range:
    """Return the zoom levels of "Z1-Z2" or "Z"; raise UsageError when out of 0-22."""
    low, _dash, high = text.partition("-")
    try:
        zooms = range(int(low), int(high or low) + 1)
    except ValueError as err:
        raise UsageError(_("--zoom {text!r}: give levels like 12-17").format(text=text)) from err
    if not zooms or zooms.start < 0 or zooms.stop > 23:
        raise UsageError(_("--zoom {text!r}: levels go from 0 to 22, the first not above the last").format(text=text))
    return zooms


def _tile_x(lon: float, z: int) -> int:
    return min(2**z - 1, max(0, int((lon + 180.0) / 360.0 * 2**z)))


def _tile_y(lat: float, z: int) -> int:
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * 2**z
    return min(2**z - 1, max(0, int(y)))


def tiles_in(box: BoundingBox, zooms: range) -> list[tuple[int, int, int]]:
    """Return every XYZ tile (z, x, y) that covers part of the box, zoom by zoom."""
    return [(z, x, y) for z in zooms
            for x in range(_tile_x(box.west, z), _tile_x(box.east, z) + 1)
            for y in range(_tile_y(box.north, z), _tile_y(box.south, z) + 1)]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A tile server that redirects is answered as an error: the fetch goes only where it was told."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _user_agent(contact: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("sitescout")
    except PackageNotFoundError:
        mine = "unknown"
    return f"sitescout/{mine} (tiles fetch{'; ' + contact if contact else ''})"


def _wait_after(err: urllib.error.HTTPError, attempt: int) -> float:
    after = err.headers.get("Retry-After", "") if err.headers else ""
    return min(_MAX_WAIT_S, float(after)) if after.strip().isdigit() else min(_MAX_WAIT_S, 2.0 * 2**attempt)


def _get(opener: urllib.request.OpenerDirector, url: str, agent: str) -> bytes | None:
    """Return one tile's bytes, None when the server has no such tile (404); CommandError after the retries."""
    from sitescout.web.tiles import MAX_TILE_BYTES

    for attempt in range(_TRIES):
        request = urllib.request.Request(url, headers={"User-Agent": agent, "Accept": "image/png,image/*"})
        try:
            with opener.open(request, timeout=_TIMEOUT_S) as response:
                data = response.read(MAX_TILE_BYTES + 1)
            if len(data) > MAX_TILE_BYTES:
                raise CommandError(_("{url}: the tile is over {limit} bytes; is this a tile server?").format(
                    url=url, limit=MAX_TILE_BYTES))
            return data
        except urllib.error.HTTPError as err:
            if err.code in (404, 204):
                return None
            if err.code not in (429, 500, 502, 503, 504) or attempt == _TRIES - 1:
                raise CommandError(_("{url}: the server answered {status}").format(url=url, status=err.code)) from err
            time.sleep(_wait_after(err, attempt))
        except (urllib.error.URLError, OSError) as err:
            if attempt == _TRIES - 1:
                raise CommandError(_("{url}: {reason}").format(url=url, reason=getattr(err, "reason", err))) from err
            time.sleep(min(_MAX_WAIT_S, 2.0 * 2**attempt))
    return None


def _format_of(data: bytes, url: str) -> str:
    for magic, fmt in _MAGIC.items():
        if data.startswith(magic):
            return fmt
    raise CommandError(_("{url}: the answer is not a PNG, JPEG or WebP image").format(url=url))


def fetch_tiles(box: BoundingBox, zooms: range, template: str, out: Path, *, rate: float = DEFAULT_RATE,
                attribution: str = "", name: str = "", contact: str = "", progress: bool = True) -> tuple[int, int]:
    """Download the box's tiles into the MBTiles file `out`; return (tiles stored, tiles the server lacked)."""
    from sitescout.web.tiles import MBTilesWriter

    tiles = tiles_in(box, zooms)
    opener = urllib.request.build_opener(_NoRedirect)
    agent = _user_agent(contact)
    meta = {"name": name or out.stem, "type": "baselayer", "version": "1", "format": "png",
            "minzoom": str(zooms.start), "maxzoom": str(zooms.stop - 1), "attribution": attribution,
            "bounds": f"{box.west},{box.south},{box.east},{box.north}"}
    missing, fmt = 0, None
    started = time.monotonic()
    with MBTilesWriter(out, meta) as writer:
        for n, (z, x, y) in enumerate(tiles):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))  # polite: at most `rate` a second
            url = template.replace("{s}", "a").replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
            data = _get(opener, url, agent)
            if data is None:
                missing += 1
                continue
            kind = _format_of(data, url)
            if fmt is None:
                fmt = kind
                writer.set_metadata("format", fmt)
            elif kind != fmt:
                raise CommandError(_("{url}: a {kind} tile among {format} tiles").format(
                    url=url, kind=kind, format=fmt))
            writer.put(z, x, y, data)
            if progress and (n + 1) % 50 == 0:
                print("sitescout tiles: " + _("{done}/{total} tiles").format(done=n + 1, total=len(tiles)),
                      file=sys.stderr)
        if writer.count == 0:  # leaving the block with an error drops the unfinished file
            raise CommandError(_("{url}: the server had none of the {count} tiles; check --url, --bbox and "
                                 "--zoom").format(url=template, count=len(tiles)))
    return writer.count, missing


def _cmd_fetch(args: argparse.Namespace) -> int:
    from sitescout.web.tiles import tile_server_origin

    box, zooms = parse_bbox(args.bbox), parse_zooms(args.zoom)
    if tile_server_origin(args.url) is None:
        raise UsageError(_("--url must be an http(s) URL with {z}, {x} and {y}, e.g. "
                           "https://tiles.example.org/{z}/{x}/{y}.png"))
    if not 0 < args.rate <= MAX_RATE:
        raise UsageError(_("--rate must be above 0 and at most {max}").format(max=f"{MAX_RATE:g}"))
    if not args.out.parent.is_dir():
        raise UsageError(_("--out {file}: the folder {folder} does not exist").format(file=args.out,
                                                                                  folder=args.out.parent))
    count = len(tiles_in(box, zooms))
    if count > args.max_tiles:
        raise UsageError(_("the area holds {count} tiles at zoom {zoom}, over --max-tiles {max}: choose a smaller "
                           "area or fewer zoom levels").format(count=count, zoom=args.zoom, max=args.max_tiles))
    print("sitescout tiles: " + _("fetching {count} tiles at most {rate} a second into {file}").format(
        count=count, rate=f"{args.rate:g}", file=args.out), file=sys.stderr)
    stored, missing = fetch_tiles(box, zooms, args.url, args.out, rate=args.rate, attribution=args.attribution,
                                  name=args.name, contact=args.contact)
    print("sitescout tiles: " + _("{file}: {stored} tiles, {missing} not on the server; serve it with "
                                  "`sitescout serve --tiles {file}`").format(file=args.out, stored=stored,
                                                                              missing=missing), file=sys.stderr)
    return 0
