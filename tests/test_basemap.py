"""The map's basemap: MBTiles served locally, an external tile server, or a plain background that says so.

Real Flask app on a temporary inventory; real MBTiles files written with SQLite.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_web_app import login
from web_seed import seed_commune

from sitescout.inventory.db import open_database
from sitescout.web import create_app
from sitescout.web.tiles import MAX_TILE_BYTES, MBTilesWriter, open_mbtiles, tile_server_origin

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def database(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    seed_commune(db)
    yield db
    db.close()


def _basemap(path: Path, attribution: str = "© Sở TT&TT <a href='https://x.example'>OSM</a>") -> Path:
    meta = {"name": "test", "format": "png", "minzoom": "0", "maxzoom": "3", "attribution": attribution}
    with MBTilesWriter(path, meta) as writer:
        writer.put(1, 0, 0, PNG + b"TILE-1-0-0")
        writer.put(2, 3, 1, PNG + b"TILE-2-3-1")
    return path


def _app(database, **config):
    return create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "k" * 40, **config})


def _map_config(client, lang: str = "en") -> dict:
    page = client.get("/map", headers={"Accept-Language": lang}).text
    raw = re.search(r'data-config="([^"]*)"', page).group(1)
    return json.loads(html.unescape(raw))


def test_writer_stores_tms_rows_and_the_route_flips_them_back(database, tmp_path):
    path = _basemap(tmp_path / "base.mbtiles")
    with sqlite3.connect(path) as conn:  # XYZ 2/3/1 is TMS row 2**2 - 1 - 1 = 2
        assert conn.execute("SELECT tile_data FROM tiles WHERE zoom_level=2 AND tile_column=3 AND tile_row=2"
                            ).fetchone()[0].endswith(b"TILE-2-3-1")
    client = _app(database, TILES_FILE=str(path)).test_client()
    assert client.get("/tiles/2/3/1.png").status_code == 302  # log in first, like every page
    login(client)
    tile = client.get("/tiles/2/3/1.png")
    assert tile.status_code == 200 and tile.mimetype == "image/png" and tile.data.endswith(b"TILE-2-3-1")
    assert tile.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    for missing in ("/tiles/2/3/2.png", "/tiles/2/4/1.png", "/tiles/25/0/0.png", "/tiles/1/0/..%2f..%2fetc.png",
                    "/tiles/-1/0/0.png", "/tiles/99999999999999999999999/0/0.png"):
        assert client.get(missing).status_code == 404, missing


def test_tile_urls_carry_the_file_version_and_change_with_the_file(database, tmp_path):
    path = _basemap(tmp_path / "base.mbtiles")
    client = _app(database, TILES_FILE=str(path)).test_client()
    login(client)
    tiles = _map_config(client)["tiles"]
    assert tiles["url"].startswith("/tiles/{z}/{x}/{y}.png?v=") and tiles["local"] is True
    assert tiles["maxNativeZoom"] == 3 and tiles["maxZoom"] >= 18  # enlarged beyond the file's deepest zoom
    assert client.get(tiles["url"].format(z=1, x=0, y=0)).status_code == 200
    path.unlink()
    _basemap(path, attribution="new")  # replaced in place, as an operator would
    os.utime(path, ns=(1, 1))
    again = _map_config(client)["tiles"]
    assert again["url"] != tiles["url"] and again["attribution"] == "new"


def test_a_basemap_removed_or_damaged_while_serving_gives_404s_not_errors(database, tmp_path):
    path = _basemap(tmp_path / "base.mbtiles")
    client = _app(database, TILES_FILE=str(path)).test_client()
    login(client)
    assert client.get("/tiles/1/0/0.png").status_code == 200
    path.write_bytes(b"not sqlite at all" * 100)  # damaged in place
    assert client.get("/tiles/1/0/0.png").status_code == 404
    path.unlink()  # removed
    assert client.get("/tiles/1/0/0.png").status_code == 404
    assert client.get("/map").status_code == 200


def test_attribution_is_plain_text(database, tmp_path):
    client = _app(database, TILES_FILE=str(_basemap(tmp_path / "base.mbtiles"))).test_client()
    login(client)
    assert _map_config(client)["tiles"]["attribution"] == "© Sở TT&TT OSM"  # the link's words, no markup
    assert open_mbtiles(tmp_path / "base.mbtiles").attribution == "© Sở TT&TT OSM"


def test_an_oversized_tile_is_neither_loaded_nor_sent(database, tmp_path):
    path = _basemap(tmp_path / "base.mbtiles")
    with sqlite3.connect(path) as conn:  # a broken or hostile file: a 2 MB "tile"
        conn.execute("INSERT INTO tiles VALUES (1, 1, 1, ?)", (PNG + b"x" * (2 * MAX_TILE_BYTES),))
    client = _app(database, TILES_FILE=str(path)).test_client()
    login(client)
    assert client.get("/tiles/1/1/0.png").status_code == 404
    with pytest.raises(ValueError, match="over"):
        MBTilesWriter(tmp_path / "w.mbtiles", {}).put(0, 0, 0, b"x" * (MAX_TILE_BYTES + 1))


def test_without_a_basemap_the_map_says_so_and_how_to_add_one_in_both_languages(database):
    client = _app(database).test_client()
    login(client)
    en = _map_config(client, "en")
    assert "tiles" not in en
    assert en["noBasemap"]["title"] == "No basemap is configured."
    assert "--tiles FILE.mbtiles" in en["noBasemap"]["text"] and "--tile-url" in en["noBasemap"]["text"]
    client.get("/lang/vi?next=/map")
    vi = _map_config(client, "vi")["noBasemap"]
    assert vi["title"] == "Chưa cấu hình bản đồ nền." and "--tiles" in vi["text"] and "tiles fetch" in vi["text"]
    page = client.get("/map").text
    assert "basemap.js" in page and page.index("basemap.js") < page.index("map.js\"")  # loaded before map.js


def test_tile_server_is_shown_with_attribution_and_allowed_by_the_csp_only_when_configured(database, tmp_path):
    url = "https://{s}.tiles.province.example:8443/osm/{z}/{x}/{y}.png"
    client = _app(database, TILE_URL=url, TILE_ATTRIBUTION="© OpenStreetMap contributors").test_client()
    login(client)
    response = client.get("/map")
    assert "img-src 'self' data: https://*.tiles.province.example:8443;" in response.headers["Content-Security-Policy"]
    tiles = _map_config(client)["tiles"]
    assert tiles["url"] == url and tiles["attribution"] == "© OpenStreetMap contributors" and not tiles["local"]
    quiet = _app(database, TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png").test_client()
    login(quiet)
    assert _map_config(quiet)["tiles"]["attribution"] == "Map tiles: tiles.example.org"  # never no attribution
    for config in ({}, {"TILES_FILE": str(_basemap(tmp_path / "b.mbtiles"))}):
        plain = _app(database, **config).test_client()
        login(plain)
        csp = plain.get("/map").headers["Content-Security-Policy"]
        assert "img-src 'self' data:;" in csp, csp  # this server only: no other host may serve pictures


@pytest.mark.parametrize("url", [
    "https://a.example; script-src 'unsafe-inline' https://evil.example/{z}/{x}/{y}.png",
    "https://a.example/{z}/{x}/{y}.png; script-src *",
    "javascript:alert(1)//{z}/{x}/{y}",
    "https://user@a.example/{z}/{x}/{y}.png",
    "https://a.example/{z}/{x}.png",
])
def test_a_tile_url_that_is_not_a_plain_url_never_reaches_the_csp(database, url):
    assert tile_server_origin(url) is None
    client = _app(database, TILE_URL=url).test_client()
    login(client)
    csp = client.get("/map").headers["Content-Security-Policy"]
    assert "evil" not in csp and "unsafe-inline" not in csp and "img-src 'self' data:;" in csp
    from sitescout.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["serve", "--tile-url", url, "--listen", "127.0.0.1:0"])
    assert refused.value.code == 2


def test_demo_basemap_is_drawn_from_the_demo_data_and_labelled_as_demo(database, tmp_path):
    from PIL import Image

    from sitescout.demo_basemap import demo_places, tiles_for, write_demo_basemap

    with database.session() as session:
        places = demo_places(session)
    from sitescout.inventory.demo_data import VILLAGES

    assert {f"Nhà văn hóa {name}" for name, _lat, _lon in VILLAGES} <= {p.name for p in places}
    assert {"market", "school", "health_station"} <= {p.kind for p in places}
    path = write_demo_basemap(tmp_path / "demo.mbtiles", places, zooms=[13, 14])
    basemap = open_mbtiles(path)
    assert basemap.is_demo and (basemap.minzoom, basemap.maxzoom) == (13, 14)
    expected = tiles_for(places, [13, 14])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM tiles").fetchone()[0] == len(expected)
    colours = {"green": 0, "grey": 0, "all": 0}
    for z, x, y in expected:
        image = Image.open(io.BytesIO(basemap.read_tile(z, x, y))).convert("RGB")
        assert image.size == (256, 256)
        r, g, b = np.asarray(image, dtype=int).reshape(-1, 3).T
        colours["all"] += r.size
        colours["green"] += int(((g > r + 10) & (g > b + 10)).sum())
        colours["grey"] += int(((abs(r - g) < 6) & (abs(g - b) < 6)).sum())
    assert colours["green"] > 0.6 * colours["all"], colours  # fields and forest, not a grey void
    client = _app(database, TILES_FILE=str(path)).test_client()
    login(client)
    assert "not a real map" in _map_config(client, "en")["tiles"]["attribution"]
    client.get("/lang/vi?next=/map")
    assert "không phải bản đồ thật" in _map_config(client, "vi")["tiles"]["attribution"]


def test_demo_basemap_is_kept_in_the_cache_and_reused(database, tmp_path, monkeypatch):
    from sitescout import demo_basemap

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(demo_basemap, "DEMO_ZOOMS", range(12, 13))
    drawn = []
    real = demo_basemap.write_demo_basemap
    monkeypatch.setattr(demo_basemap, "write_demo_basemap",
                        lambda path, places: drawn.append(path) or real(path, places, zooms=[12]))
    with database.session() as session:
        places = demo_basemap.demo_places(session)
    first = demo_basemap.demo_basemap_file(places, tmp_path / "work")
    assert first.parent == tmp_path / "cache" / "sitescout" and open_mbtiles(first).is_demo
    assert demo_basemap.demo_basemap_file(places, tmp_path / "work") == first
    assert drawn == [first]  # drawn once
