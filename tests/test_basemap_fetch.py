"""`sitescout tiles fetch` against a real tile server on loopback (never the internet).

The server is a small http.server in a thread: it answers tiles, lacks some (404), asks to
slow down once (429 + Retry-After), and has an oversized and a redirecting tile for the bounds.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_web_app import login
from web_seed import seed_commune

from sitescout.cli import main
from sitescout.cmd_tiles import BoundingBox, parse_zooms, tiles_in
from sitescout.inventory.db import open_database
from sitescout.web import create_app
from sitescout.web.tiles import MAX_TILE_BYTES, open_mbtiles

PNG = b"\x89PNG\r\n\x1a\n"
BBOX = "105.30,21.70,105.34,21.76"  # the demo commune


class TileServer:
    """A loopback tile server that logs each request (path, User-Agent, start, end)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float, float]] = []
        self.missing: set[str] = set()
        self.slow_down: set[str] = set()  # answered 429 once
        self.big: set[str] = set()
        self.moved: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                started = time.monotonic()
                path = self.path
                if path in server.slow_down:
                    server.slow_down.discard(path)
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.end_headers()
                elif path in server.missing:
                    self.send_error(404)
                elif path in server.moved:
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere.png")
                    self.end_headers()
                else:
                    body = PNG + (b"x" * (MAX_TILE_BYTES + 10) if path in server.big else path.encode())
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                server.log.append((path, self.headers.get("User-Agent", ""), started, time.monotonic()))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/{{z}}/{{x}}/{{y}}.png"

    def paths(self) -> list[str]:
        return [entry[0] for entry in self.log]


@pytest.fixture()
def tile_server() -> Iterator[TileServer]:
    server = TileServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _fetch(server: TileServer, out: Path, *extra: str, zoom: str = "14-15") -> int:
    return main(["tiles", "fetch", "--bbox", BBOX, "--zoom", zoom, "--url", server.url, "--out", str(out), *extra])


def test_fetch_writes_every_tile_politely_and_the_map_serves_them(tile_server, tmp_path, capsys):
    tiles = tiles_in(BoundingBox(105.30, 21.70, 105.34, 21.76), parse_zooms("14-15"))
    assert 10 < len(tiles) < 60
    lacking = f"/{tiles[3][0]}/{tiles[3][1]}/{tiles[3][2]}.png"
    slowed = f"/{tiles[5][0]}/{tiles[5][1]}/{tiles[5][2]}.png"
    tile_server.missing.add(lacking)
    tile_server.slow_down.add(slowed)
    out = tmp_path / "commune.mbtiles"
    started = time.monotonic()
    assert _fetch(tile_server, out, "--rate", "20", "--contact", "noc@province.example",
                  "--attribution", "© OpenStreetMap contributors") == 0
    took = time.monotonic() - started
    log = tile_server.log
    assert len(log) == len(tiles) + 1  # each tile once, the slowed one twice
    assert all(later[2] >= earlier[3] for earlier, later in zip(log, log[1:]))  # one request at a time
    assert took >= (len(tiles) - 1) / 20  # at most 20 a second
    retry = [entry for entry in log if entry[0] == slowed]
    assert retry[1][2] - retry[0][3] >= 0.95  # Retry-After: 1 honoured
    assert all(re.fullmatch(r"sitescout/\S+ \(tiles fetch; noc@province\.example\)", entry[1]) for entry in log)
    basemap = open_mbtiles(out)
    assert (basemap.minzoom, basemap.maxzoom, basemap.format) == (14, 15, "png")
    assert basemap.attribution == "© OpenStreetMap contributors"
    for z, x, y in tiles:
        data = basemap.read_tile(z, x, y)
        path = f"/{z}/{x}/{y}.png"
        assert data == (None if path == lacking else PNG + path.encode()), path
    assert f"{len(tiles) - 1} tiles, 1 not on the server" in capsys.readouterr().err
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    seed_commune(database)
    client = create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 40,
                         "TILES_FILE": str(out)}).test_client()
    login(client)
    z, x, y = tiles[0]
    assert client.get(f"/tiles/{z}/{x}/{y}.png").data == PNG + f"/{z}/{x}/{y}.png".encode()
    database.close()


def test_too_many_tiles_or_a_bad_area_is_refused_before_any_request(tile_server, tmp_path, capsys):
    out = tmp_path / "x.mbtiles"
    with pytest.raises(SystemExit) as refused:
        _fetch(tile_server, out, "--max-tiles", "10")
    assert refused.value.code == 2 and "over --max-tiles 10" in capsys.readouterr().err
    for bad in (["--bbox", "105.34,21.70,105.30,21.76"], ["--zoom", "17-12"], ["--rate", "100"],
                ["--url", "ftp://127.0.0.1/{z}/{x}/{y}.png"],
                ["--out", str(tmp_path / "no-such-folder" / "x.mbtiles")]):
        args = {"--bbox": BBOX, "--zoom": "14", "--url": tile_server.url, "--rate": "2", "--out": str(out)}
        args[bad[0]] = bad[1]
        with pytest.raises(SystemExit) as refused:
            main(["tiles", "fetch", *[v for pair in args.items() for v in pair]])
        assert refused.value.code == 2, bad
    assert tile_server.log == [] and not out.exists()


@pytest.mark.parametrize("trap", ["big", "moved"])
def test_an_oversized_or_redirected_tile_stops_the_fetch_and_leaves_no_file(tile_server, tmp_path, capsys, trap):
    tiles = tiles_in(BoundingBox(105.30, 21.70, 105.34, 21.76), parse_zooms("14"))
    z, x, y = tiles[1]
    getattr(tile_server, trap).add(f"/{z}/{x}/{y}.png")
    out = tmp_path / "x.mbtiles"
    assert _fetch(tile_server, out, "--rate", "20", zoom="14") == 1
    err = capsys.readouterr().err
    assert ("over" in err) if trap == "big" else ("answered 302" in err), err
    assert "/elsewhere.png" not in tile_server.paths()  # a redirect is never followed
    assert not out.exists() and not list(tmp_path.glob("*.part"))
