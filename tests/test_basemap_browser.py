"""Headless Chromium on /map: the demo basemap's tiles come from this server's MBTiles route and are drawn.

The screenshot is kept (``SITESCOUT_SCREENSHOT_DIR``, else the test's temporary folder) to be looked at.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from browser_support import chromium, have_chromium, log_in, serve_app, wait_until
from web_seed import seed_commune

from sitescout.inventory.db import open_database
from sitescout.web import create_app

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver")


def _wait(predicate, timeout=30.0, what="condition"):
    return wait_until(predicate, timeout, what)  # browser pages here get 30 s, not the default 15


@pytest.fixture(scope="module")
def demo_map(tmp_path_factory):
    """The web app on the demo commune with the demo's drawn basemap; yields (base URL, tile requests seen)."""
    from flask import request

    from sitescout.demo_basemap import demo_places, write_demo_basemap

    tmp = tmp_path_factory.mktemp("basemap-browser")
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    seed_commune(database)
    with database.session() as session:
        basemap = write_demo_basemap(tmp / "demo.mbtiles", demo_places(session))
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32, "TILES_FILE": str(basemap)})
    served: list[tuple[str, int]] = []

    @app.after_request
    def _count_tiles(response):
        if request.path.startswith("/tiles/"):
            served.append((request.path, response.status_code))
        return response

    with serve_app(app) as base:
        yield base, served, tmp
    database.close()


def _green_share(png: bytes, box: tuple[int, int, int, int]) -> float:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").crop(box), dtype=int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(((g > r + 10) & (g > b + 10)).mean())


def test_map_draws_demo_basemap_tiles_from_the_local_route(demo_map):
    from selenium.webdriver.common.by import By

    base, served, tmp = demo_map
    with chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/map")
        el = driver.find_element(By.ID, "map")
        _wait(lambda: el.get_attribute("data-loaded"), what="sites loaded")
        time.sleep(1.0)  # fitBounds, then the tiles of the final view
        _wait(lambda: int(el.get_attribute("data-tiles-loaded") or 0) >= 6, what="tiles drawn")
        _wait(lambda: el.get_attribute("data-tiles-settled"), what="every tile of the view arrived")
        time.sleep(0.5)  # Leaflet fades tiles in
        drawn = driver.execute_script(
            "return Array.from(document.querySelectorAll('img.leaflet-tile-loaded'))"
            ".map(function (i) { return [i.src, i.naturalWidth, i.naturalHeight]; })")
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
        attribution = driver.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
        png = driver.get_screenshot_as_png()
        rect = el.rect
        kind, failed = el.get_attribute("data-basemap"), el.get_attribute("data-tiles-failed")
    keep = Path(os.environ.get("SITESCOUT_SCREENSHOT_DIR") or tmp)
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "map-demo-basemap.png").write_bytes(png)
    print(f"screenshot: {keep / 'map-demo-basemap.png'}")
    assert kind == "demo" and failed == "0"
    assert len(drawn) >= 6 and all(w == 256 and h == 256 for _src, w, h in drawn), drawn
    assert all(src.startswith(f"{base}/tiles/") and "?v=" in src for src, _w, _h in drawn), drawn
    ok = [path for path, status in served if status == 200]
    assert len(ok) >= len(drawn)  # each drawn tile came from this server's MBTiles route
    assert all(name.startswith(base) for name in resources), [n for n in resources if not n.startswith(base)]
    assert "không phải bản đồ thật" in attribution, attribution
    box = (int(rect["x"]) + 60, int(rect["y"]) + 10, int(rect["x"] + rect["width"]) - 10,
           int(rect["y"] + rect["height"]) - 40)
    assert _green_share(png, box) > 0.5  # fields and forest under the sites, not the grey of no basemap


def test_map_without_a_basemap_says_so_in_vietnamese(tmp_path):
    from selenium.webdriver.common.by import By

    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    seed_commune(database)
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32})
    with serve_app(app) as base, chromium("vi") as driver:
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/map")
        el = driver.find_element(By.ID, "map")
        _wait(lambda: el.get_attribute("data-loaded"), what="sites loaded")
        notice = driver.find_element(By.ID, "basemap-missing")
        assert notice.is_displayed()
        assert "Chưa cấu hình bản đồ nền." in notice.text and "--tiles" in notice.text
        assert el.get_attribute("data-basemap") == "none" and "no-basemap" in el.get_attribute("class")
        assert not driver.find_elements(By.CSS_SELECTOR, "img.leaflet-tile")
        if os.environ.get("SITESCOUT_SCREENSHOT_DIR"):
            os.makedirs(os.environ["SITESCOUT_SCREENSHOT_DIR"], exist_ok=True)
            driver.save_screenshot(os.path.join(os.environ["SITESCOUT_SCREENSHOT_DIR"], "map-no-basemap.png"))
    database.close()


def test_map_draws_tiles_from_the_configured_tile_server_which_the_csp_allows(tmp_path):
    """--tile-url: the browser fetches tiles from that server (another origin), with its attribution."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image
    from selenium.webdriver.common.by import By

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (120, 200, 120)).save(buffer, "PNG")
    tile = buffer.getvalue()
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tile_url = f"http://127.0.0.1:{server.server_port}/osm/{{z}}/{{x}}/{{y}}.png"
    database = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    seed_commune(database)
    app = create_app({"DATABASE": database, "SECRET_KEY": "browser-test-" + "k" * 32, "TILE_URL": tile_url,
                      "TILE_ATTRIBUTION": "© OpenStreetMap contributors, Sở TT&TT (thử nghiệm)"})
    try:
        with serve_app(app) as base, chromium("vi") as driver:
            log_in(driver, base, "viewer", "viewer-password")
            driver.get(f"{base}/map")
            el = driver.find_element(By.ID, "map")
            _wait(lambda: el.get_attribute("data-loaded"), what="sites loaded")
            _wait(lambda: el.get_attribute("data-tiles-settled"), what="every tile of the view arrived")
            drawn = driver.execute_script(
                "return Array.from(document.querySelectorAll('img.leaflet-tile-loaded')).map(function (i) "
                "{ return i.src; })")
            attribution = driver.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
            blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
            assert el.get_attribute("data-basemap") == "remote" and el.get_attribute("data-tiles-failed") == "0"
    finally:
        server.shutdown()
        server.server_close()
        database.close()
    assert len(drawn) >= 6 and all(src.startswith(f"http://127.0.0.1:{server.server_port}/osm/") for src in drawn)
    assert len(asked) >= len(drawn) and not blocked, blocked
    assert "© OpenStreetMap contributors, Sở TT&TT (thử nghiệm)" in attribution


def test_a_saved_plan_draws_its_coverage_and_buildings_on_the_basemap(demo_map):
    """A plan saved for a demo site: its coverage wedges and its buildings (obstacles) lie on the demo basemap."""
    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from sitescout.inventory.models import Site
    from sitescout.inventory.planning import plan_input, plan_io
    from sitescout.inventory.planning.plans import save_plan

    base, _served, tmp = demo_map
    sample = Path(__file__).resolve().parents[1] / "docs" / "examples" / "plan_village.json"
    geojson = plan_io.plan_geojson(plan_io.make_plan(plan_input.load_plan_input(sample), 4, time_limit_s=3.0))
    obstacles = [f for f in geojson["features"] if f["properties"]["kind"] == "obstacle"]
    coverage = sum(f["properties"]["kind"] == "coverage" for f in geojson["features"])
    assert obstacles and coverage
    database = open_database(f"sqlite:///{tmp / 'inventory.sqlite3'}")
    try:
        with database.session() as session:
            site_id = session.scalars(select(Site.id).where(Site.name == "Nhà văn hóa Thôn Đồng Bùa")).one()
            plan_id = save_plan(session, site_id, geojson, name="Đồng Bùa K=4").id
    finally:
        database.close()
    with chromium("vi") as driver:
        driver.set_window_size(1280, 900)
        log_in(driver, base, "viewer", "viewer-password")
        driver.get(f"{base}/map?plan={plan_id}")
        el = driver.find_element(By.ID, "map")
        _wait(lambda: el.get_attribute("data-plan-loaded") or el.get_attribute("data-plan-error"), what="plan")
        assert el.get_attribute("data-plan-error") is None
        time.sleep(1.0)  # fitBounds to the plan, then the tiles of that view
        _wait(lambda: el.get_attribute("data-tiles-settled"), what="every tile of the view arrived")
        time.sleep(0.5)
        drawn = driver.execute_script("return document.querySelectorAll('#map path.plan-obstacle').length")
        wedges = driver.execute_script("return document.querySelectorAll('#map path.plan-coverage').length")
        boxes = driver.execute_script(
            "return Array.from(document.querySelectorAll('#map path.plan-obstacle')).map(function (p) {"
            " var r = p.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")
        legend = driver.find_element(By.CSS_SELECTOR, ".plan-legend").text
        tiles = int(el.get_attribute("data-tiles-loaded") or 0)
        png = driver.get_screenshot_as_png()
        ratio = driver.execute_script("return window.devicePixelRatio") or 1
    keep = Path(os.environ.get("SITESCOUT_SCREENSHOT_DIR") or tmp)
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "map-plan-obstacles.png").write_bytes(png)
    print(f"screenshot: {keep / 'map-plan-obstacles.png'}")
    assert el_ok(drawn, wedges, tiles, len(obstacles), coverage)
    assert "Vật cản" in legend, legend
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    for left, top, right, bottom in boxes:  # each building is grey on the map, whatever lies under it
        cx, cy = int((left + right) / 2 * ratio), int((top + bottom) / 2 * ratio)
        r, g, b = image[cy, cx]
        assert max(r, g, b) - min(r, g, b) < 40 and max(r, g, b) < 160, (cx, cy, (r, g, b))


def el_ok(drawn: int, wedges: int, tiles: int, obstacles: int, coverage: int) -> bool:
    """Every building and every wedge of the plan is a path on the map, over basemap tiles."""
    assert drawn == obstacles, (drawn, obstacles)
    assert wedges == coverage, (wedges, coverage)
    assert tiles >= 1, tiles
    return True
