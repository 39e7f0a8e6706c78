"""Read and write basemaps as MBTiles files (SQLite, MBTiles 1.3) so the map works with no internet.

The file is named once by the operator (`sitescout serve --tiles FILE`); requests
only give three integers, so no request can reach another file.  Rows are TMS:
XYZ y maps to ``tile_row = 2**z - 1 - y`` (`tms_row`, the one home of that flip).
`MBTilesWriter` makes such files (`sitescout tiles fetch`, the demo's basemap).
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from sitescout.web.errors import MBTilesError  # defined with the package's other errors; kept importable here

__all__ = ["MBTiles", "MBTilesError", "MBTilesWriter", "open_mbtiles", "file_version", "tms_row",
           "tile_server_origin", "plain_attribution", "TILE_MIME", "MAX_TILE_BYTES", "MAX_ZOOM"]

log = logging.getLogger(__name__)

TILE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_ZOOM = 24
#: A raster tile is 5-60 KB; a bigger row is a broken or hostile file: never loaded, never sent.
MAX_TILE_BYTES = 1024 * 1024
_MAX_ATTRIBUTION_CHARS = 300


def tms_row(z: int, y: int) -> int:
    """Return the MBTiles (TMS) row of XYZ row `y` at zoom `z`."""
    return 2**z - 1 - y


#: A tile server URL template: http(s), a host name (Leaflet's "{s}" allowed as its first label) or an
#: address, an optional port, then a path with {z}, {x} and {y}.  Nothing else may reach the CSP header.
_TILE_URL = re.compile(
    r"^(?P<origin>https?://(?:\{s\}\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?)"
    r"/[A-Za-z0-9._~/{}@%+=&?,:-]*$")


def tile_server_origin(url: str) -> str | None:
    """Return the origin a tile URL template fetches from, as a CSP source ("{s}." becomes "*."), or None.

    None when the template is not a plain http(s) URL with {z}, {x} and {y}: such a value
    is refused at start and never written into the Content-Security-Policy.
    """
    match = _TILE_URL.match(url or "")
    if match is None or not all(f"{{{k}}}" in url for k in "zxy"):
        return None
    return match.group("origin").replace("{s}", "*")


def plain_attribution(text: str) -> str:
    """Return an attribution as plain text: tags dropped, entities decoded, spaces collapsed, length bounded.

    MBTiles files often carry HTML links (``<a href=…>© OpenStreetMap</a>``); the map shows
    the words only, so a file or a command-line flag never puts markup into the page.
    """
    words = html.unescape(re.sub(r"<[^>]*>", " ", str(text)))
    words = " ".join("".join(ch for ch in words if ch.isprintable()).split())
    return words[:_MAX_ATTRIBUTION_CHARS]


@dataclass(frozen=True)
class MBTiles:
    """An MBTiles file checked at start: its path, tile format and zoom range from `metadata`."""

    path: Path
    format: str
    name: str
    minzoom: int
    maxzoom: int
    attribution: str
    #: Changes when the file changes (size, mtime): part of tile URLs, so tiles can be cached as immutable.
    version: str = ""
    #: Area the tiles cover, (west, south, east, north) in degrees, from metadata ``bounds`` (None: unknown).
    bounds: tuple[float, float, float, float] | None = None
    #: Drawn by sitescout for the demo commune (metadata ``sitescout_demo``): the map says it is no real map.
    is_demo: bool = False

    @property
    def mimetype(self) -> str:
        """Return the MIME type of its tiles."""
        return TILE_MIME[self.format]

    def read_tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return the tile at XYZ z/x/y, or None when it is outside the pyramid, not in the file or oversized."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        try:
            with closing(_connect(self.path)) as conn:
                # The length is checked before the blob is read: a huge row is never loaded.
                row = conn.execute(
                    "SELECT CASE WHEN length(tile_data) <= ? THEN tile_data END, length(tile_data) FROM tiles "
                    "WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                    (MAX_TILE_BYTES, z, x, tms_row(z, y)),
                ).fetchone()
        except sqlite3.Error as err:  # the file was removed or damaged while serving: no tile, not a 500
            log.warning("%s: cannot read tile %d/%d/%d: %s", self.path, z, x, y, err)
            return None
        if row is None:
            return None
        if row[0] is None:
            log.warning("%s: tile %d/%d/%d is %s bytes, over %d: not served", self.path, z, x, y, row[1],
                        MAX_TILE_BYTES)
            return None
        return bytes(row[0])


def _connect(path: Path) -> sqlite3.Connection:
    # Read-only, and immutable=0 so a file updated in place is still read correctly.
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5, check_same_thread=False)


def file_version(path: Path) -> str:
    """Return a short token that changes when the file at `path` is replaced or rewritten."""
    stat = path.stat()
    return hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode()).hexdigest()[:12]


def open_mbtiles(path: str | Path) -> MBTiles:
    """Check that path is a raster MBTiles file and return it.

    Raises:
        MBTilesError: the file is missing, not SQLite, lacks the tables, or holds vector tiles.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise MBTilesError(f"{path}: no such file; give an .mbtiles file exported for offline use")
    try:
        with closing(_connect(path)) as conn:
            meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
            conn.execute("SELECT 1 FROM tiles LIMIT 1").fetchall()
    except sqlite3.DatabaseError as err:
        raise MBTilesError(f"{path}: not an MBTiles file ({err})") from err
    fmt = str(meta.get("format", "png")).lower()
    if fmt not in TILE_MIME:
        raise MBTilesError(f"{path}: tiles are {fmt!r}; only raster tiles (png, jpg, webp) can be shown")
    try:
        minzoom = int(meta.get("minzoom", 0))
        maxzoom = int(meta.get("maxzoom", 18))
    except ValueError as err:
        raise MBTilesError(f"{path}: minzoom/maxzoom in metadata are not integers") from err
    if not 0 <= minzoom <= maxzoom <= MAX_ZOOM:
        raise MBTilesError(f"{path}: zoom range {minzoom}-{maxzoom} in metadata is not within 0-{MAX_ZOOM}")
    log.info("%s: basemap %r, %s tiles, zoom %d-%d", path, meta.get("name", ""), fmt, minzoom, maxzoom)
    return MBTiles(path=path, format=fmt, name=str(meta.get("name", "")), minzoom=minzoom, maxzoom=maxzoom,
                   attribution=plain_attribution(str(meta.get("attribution", ""))), version=file_version(path),
                   is_demo=str(meta.get("sitescout_demo", "")) == "1", bounds=_bounds(meta.get("bounds")))


def _bounds(text: object) -> tuple[float, float, float, float] | None:
    """Return metadata ``bounds`` ("W,S,E,N") as floats, or None when absent or not a box on the globe."""
    try:
        west, south, east, north = (float(v) for v in str(text).split(","))
    except ValueError:
        return None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        return None
    return west, south, east, north


class MBTilesWriter:
    """Write raster tiles into a new MBTiles file; the file appears complete or not at all.

    Tiles go to ``PATH.part``, renamed to PATH on a clean `close()` (or leaving the ``with``
    block without an exception), so a map never opens a half-written basemap.
    """

    def __init__(self, path: str | Path, metadata: Mapping[str, str]) -> None:
        self.path = Path(path)
        self._part = self.path.with_name(self.path.name + ".part")
        self._part.unlink(missing_ok=True)
        self._conn = sqlite3.connect(self._part)
        self._conn.executescript("""
            CREATE TABLE metadata (name TEXT, value TEXT);
            CREATE UNIQUE INDEX name ON metadata (name);
            CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
            CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
        """)
        self._conn.executemany("INSERT INTO metadata VALUES (?, ?)", [(k, str(v)) for k, v in metadata.items()])
        self.count = 0

    def set_metadata(self, name: str, value: str) -> None:
        """Set one metadata entry (e.g. the format, once the first tile shows it)."""
        self._conn.execute("INSERT OR REPLACE INTO metadata VALUES (?, ?)", (name, value))

    def put(self, z: int, x: int, y: int, data: bytes) -> None:
        """Store the tile at XYZ z/x/y (replacing any earlier one)."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            raise ValueError(f"tile {z}/{x}/{y} is outside the pyramid")
        if len(data) > MAX_TILE_BYTES:
            raise ValueError(f"tile {z}/{x}/{y} is {len(data)} bytes, over {MAX_TILE_BYTES}")
        self._conn.execute("INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", (z, x, tms_row(z, y), data))
        self.count += 1

    def close(self) -> Path:
        """Commit and move the finished file into place; return its path."""
        self._conn.commit()
        self._conn.close()
        self._part.replace(self.path)
        return self.path

    def abandon(self) -> None:
        """Drop the unfinished file."""
        self._conn.close()
        self._part.unlink(missing_ok=True)

    def __enter__(self) -> MBTilesWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()
