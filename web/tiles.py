"""Serve a basemap from a local MBTiles file (SQLite, MBTiles 1.3) so the map works with no internet.

The file is named once by the operator (`sitescout serve --tiles FILE`); requests
only give three integers, so no request can reach another file.  Rows are TMS:
XYZ y maps to ``tile_row = 2**z - 1 - y``.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["MBTiles", "MBTilesError", "open_mbtiles", "TILE_MIME"]

log = logging.getLogger(__name__)

TILE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_MAX_ZOOM = 24


class MBTilesError(ValueError):
    """The file is not an MBTiles file of raster tiles; the message says what is wrong."""


@dataclass(frozen=True)
class MBTiles:
    """An MBTiles file checked at start: its path, tile format and zoom range from `metadata`."""

    path: Path
    format: str
    name: str
    minzoom: int
    maxzoom: int
    attribution: str

    @property
    def mimetype(self) -> str:
        """Return the MIME type of its tiles."""
        return TILE_MIME[self.format]

    def read_tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return the tile at XYZ z/x/y, or None when it is outside the pyramid or not in the file."""
        if not (0 <= z <= _MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        with _connect(self.path) as conn:
            row = conn.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, 2**z - 1 - y),
            ).fetchone()
        return bytes(row[0]) if row else None


def _connect(path: Path) -> sqlite3.Connection:
    # Read-only, and immutable=0 so a file updated in place is still read correctly.
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5, check_same_thread=False)


def open_mbtiles(path: str | Path) -> MBTiles:
    """Check that path is a raster MBTiles file and return it.

    Raises:
        MBTilesError: the file is missing, not SQLite, lacks the tables, or holds vector tiles.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise MBTilesError(f"{path}: no such file; give an .mbtiles file exported for offline use")
    try:
        with _connect(path) as conn:
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
    log.info("%s: basemap %r, %s tiles, zoom %d-%d", path, meta.get("name", ""), fmt, minzoom, maxzoom)
    return MBTiles(path=path, format=fmt, name=str(meta.get("name", "")), minzoom=minzoom, maxzoom=maxzoom,
                   attribution=str(meta.get("attribution", "")))
