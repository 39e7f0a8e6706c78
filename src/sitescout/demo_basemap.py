"""A drawn basemap for the demo commune, so `sitescout demo` shows ground under its sites with no internet.

No openly licensed data with roads and settlements for the demo area ships in a package
registry (see /work/shared/lab-notes.md: coastlines and borders only), and the demo
commune's positions are made up anyway.  So the demo draws its own map, from the demo
data's coordinates only: terraced rice fields in the valleys, forest on the hills, a river,
a provincial road and lanes between the villages (a minimum spanning tree), each village's
houses, and the market, school, commune office and health station as footprints with
their names.  Nothing in it is a survey of the ground: the tiles say "demo" in their
metadata (``sitescout_demo``) and the map's attribution says it is no real map.

Drawing is deterministic (same places, same tiles).  Each tile is drawn at twice its size
and reduced, for smooth lines; every feature is placed in world pixels, so features cut by
a tile edge continue on the next tile.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sitescout.web.tiles import MBTilesWriter

__all__ = ["Place", "DEMO_ZOOMS", "demo_places", "write_demo_basemap", "demo_basemap_file", "render_tile", "tiles_for",
           "ground_near"]

log = logging.getLogger(__name__)

_Coord = TypeVar("_Coord", float, np.ndarray)  # one point, or many at once

#: Bump when the drawing changes: cached basemaps of an older drawing are drawn again.
DRAWING_VERSION = "2"
#: Zoom levels drawn: the commune fills the screen at 13-14; beyond 15 the map enlarges zoom 15's tiles.
DEMO_ZOOMS = range(11, 16)
_SCALE = 2  # drawn at 512 px, reduced to 256: smooth edges
#: Ground drawn around the outermost site, by zoom: wide where tiles are few, narrow where they are many.
_MARGIN_M = {11: 10000.0, 12: 10000.0, 13: 10000.0, 14: 4000.0}
_NEAR_MARGIN_M = 1500.0
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # every Vietnamese glyph; labels are skipped without it

#: Ground cover, by index: rice, younger rice, dikes between paddies, scrub, forest.
_PALETTE = [205, 229, 160, 194, 224, 148, 226, 238, 196, 214, 224, 170, 141, 186, 120]
_FOOTPRINT = {"market": "#f2a65a", "school": "#e7c178", "commune_office": "#e39a9a", "health_station": "#f3b3c7",
              "crossroads": "#d9cbb8", "village_hall": "#c99f7d", "other": "#d9cbb8"}


@dataclass(frozen=True)
class Place:
    """A site of the demo commune as the map draws it."""

    name: str
    kind: str
    latitude: float
    longitude: float


def demo_places(session: Any) -> list[Place]:
    """Return the demo commune's sites (seeding it if needed) from an inventory session."""
    from sitescout.inventory.demo_data import seed_demo
    from sitescout.inventory.models import Site

    seed = seed_demo(session)
    sites = [session.get(Site, i) for i in seed.site_ids]
    return [Place(s.name, s.kind, s.latitude, s.longitude) for s in sites
            if s is not None and s.latitude is not None and s.longitude is not None]


class _Frame:
    """Metres east/north of the commune's centre, and world pixels at a zoom."""

    def __init__(self, places: Sequence[Place]) -> None:
        self.lat0 = sum(p.latitude for p in places) / len(places)
        self.lon0 = sum(p.longitude for p in places) / len(places)
        self.m_per_deg_lon = 111320.0 * math.cos(math.radians(self.lat0))

    def metres(self, lat: Any, lon: Any) -> tuple[Any, Any]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * 110540.0

    def latlon(self, east: _Coord, north: _Coord) -> tuple[_Coord, _Coord]:
        return self.lat0 + north / 110540.0, self.lon0 + east / self.m_per_deg_lon


def _world(lat: float, lon: float, z: int) -> tuple[float, float]:
    n = 256 * _SCALE * 2**z
    return (lon + 180.0) / 360.0 * n, (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n


def _metres_per_px(lat: float, z: int) -> float:
    return 156543.03 * math.cos(math.radians(lat)) / 2**z / _SCALE


@dataclass
class _World:
    """Everything drawn, in metres: the places, the river, the roads, the houses."""

    frame: _Frame
    places: list[Place]
    villages: np.ndarray  # (n, 2) metres
    river: list[tuple[float, float]]
    roads: list[tuple[list[tuple[float, float]], str]]  # (polyline, "provincial"|"lane")
    houses: list[list[tuple[float, float]]]
    projected: dict[int, dict[str, Any]] = field(default_factory=dict)


def _bend(a: tuple[float, float], b: tuple[float, float], seed: int, parts: int = 10) -> list[tuple[float, float]]:
    """Return a gently curved polyline from a to b (a lane does not run ruler-straight)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    amp = 0.07 * length * (1 if seed % 2 else -1)
    nx, ny = -dy / length, dx / length
    points = []
    for i in range(parts + 1):
        t = i / parts
        off = amp * math.sin(math.pi * t) + 0.02 * length * math.sin(3 * math.pi * t + seed)
        points.append((a[0] + dx * t + nx * off, a[1] + dy * t + ny * off))
    return points


def _spanning_tree(points: np.ndarray) -> list[tuple[int, int]]:
    """Return the edges of the minimum spanning tree of `points` (Prim): the lanes between villages."""
    inside, edges = {0}, []
    while len(inside) < len(points):
        best = min(((i, j) for i in inside for j in range(len(points)) if j not in inside),
                   key=lambda e: float(np.hypot(*(points[e[0]] - points[e[1]]))))
        edges.append(best)
        inside.add(best[1])
    return edges


def _build_world(places: Sequence[Place]) -> _World:
    frame = _Frame(places)
    spots = np.array([frame.metres(p.latitude, p.longitude) for p in places])
    halls = [i for i, p in enumerate(places) if p.kind == "village_hall"] or list(range(len(places)))
    villages = spots[halls]
    span = float(np.abs(spots).max()) + max(_MARGIN_M.values())
    # The river and the provincial road are functions of "east", so their course near the commune
    # does not depend on how far the map reaches.
    river = [(e, -0.8 * e + 650 * math.sin(e / 1500 + 0.8) + 300 * math.sin(e / 600))
             for e in np.arange(-span, span, 80.0)]
    roads: list[tuple[list[tuple[float, float]], str]] = []
    ce, cn = spots[int(np.argmin(np.hypot(spots[:, 0], spots[:, 1])))]
    roads.append(([(e, cn + 0.35 * (e - ce) + 140 * math.sin((e - ce) / 900)) for e in np.arange(-span, span, 60.0)],
                  "provincial"))
    for n, (i, j) in enumerate(_spanning_tree(villages)):
        roads.append((_bend(tuple(villages[i]), tuple(villages[j]), n), "lane"))
    for n, p in enumerate(places):  # each other site on a short lane to its village
        if p.kind != "village_hall":
            near = villages[int(np.argmin(np.hypot(*(villages - spots[n]).T)))]
            roads.append((_bend(tuple(near), tuple(spots[n]), n, parts=4), "lane"))
    houses = []
    for v, (east, north) in enumerate(villages):
        rng = random.Random(v * 7919 + 17)
        # Houses line the lanes near the village (as Vietnamese villages grow), a few stand behind.
        lanes = [(a, b) for line, _kind in roads for a, b in zip(line, line[1:])
                 if math.hypot(a[0] - east, a[1] - north) < 320]
        for _ in range(60 if lanes else 0):
            a, b = rng.choice(lanes)
            t, side = rng.random(), rng.choice((-1, 1)) * rng.uniform(16, 36)
            angle = math.atan2(b[1] - a[1], b[0] - a[0])
            cx = a[0] + (b[0] - a[0]) * t - math.sin(angle) * side
            cy = a[1] + (b[1] - a[1]) * t + math.cos(angle) * side
            houses.append(_rectangle(cx, cy, rng.uniform(14, 24), rng.uniform(10, 15), angle + rng.gauss(0, .05)))
        for _ in range(14):
            cx, cy = east + rng.gauss(0, 90), north + rng.gauss(0, 90)
            houses.append(_rectangle(cx, cy, rng.uniform(12, 20), rng.uniform(9, 13), rng.uniform(0, math.pi)))
    return _World(frame, list(places), villages, river, roads, houses)


def _rectangle(cx: float, cy: float, w: float, h: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + dx * c - dy * s, cy + dx * s + dy * c) for dx, dy in
            ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]


def _height(world: _World, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """Return the land's height (made up): hills of overlapping waves, valleys along the river and at villages."""
    hills = (0.5 * np.sin(east / 900 + 0.7 * np.sin(north / 1300))
             + 0.45 * np.sin(north / 700 + 0.5 * np.cos(east / 1100))
             + 0.25 * np.sin((east + north) / 380))
    near_village = np.min(np.hypot(east[..., None] - world.villages[:, 0], north[..., None] - world.villages[:, 1]),
                          axis=-1)
    river = np.array(world.river[::2])
    near_river = np.min(np.hypot(east[..., None] - river[:, 0], north[..., None] - river[:, 1]), axis=-1)
    return hills - 1.3 * np.exp(-(near_village / 700) ** 2) - 1.0 * np.exp(-(near_river / 450) ** 2)


def _spread(grid: np.ndarray, step: int) -> np.ndarray:
    """Interpolate values on a grid every `step` px linearly to the pixel centres between them."""
    size = (grid.shape[0] - 1) * step
    centres = (np.arange(size) + 0.5) / step
    below = np.floor(centres).astype(int)
    frac = centres - below
    rows = grid[below] * (1 - frac)[:, None] + grid[below + 1] * frac[:, None]
    return rows[:, below] * (1 - frac)[None, :] + rows[:, below + 1] * frac[None, :]


def _ground(world: _World, z: int, x: int, y: int) -> Image.Image:
    """Paint fields, terraces and forest for one tile (numpy, per pixel).

    The height is computed on a grid every 16 px whose outer points lie on the tile's edges
    (so neighbouring tiles share them and join without a seam), then interpolated.
    """
    size, step = 256 * _SCALE, 16
    n = 256 * _SCALE * 2**z

    def lon(px: np.ndarray) -> np.ndarray:
        return px / n * 360.0 - 180.0

    def lat(py: np.ndarray) -> np.ndarray:
        return np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * py / n))))

    grid = np.arange(size // step + 1) * step
    east_g, north_g = world.frame.metres(lat(y * size + grid)[:, None], lon(x * size + grid)[None, :])
    height = _spread(_height(world, *np.broadcast_arrays(east_g, north_g)), step)
    pixels = np.arange(size) + 0.5
    east, north = world.frame.metres(lat(y * size + pixels)[:, None], lon(x * size + pixels)[None, :])
    cover = np.zeros((size, size), dtype=np.uint8)
    if _metres_per_px(world.frame.lat0, z) * _SCALE < 10:  # younger rice in patches, once a patch is more than a dot
        cover[(np.sin(east / 130 + np.sin(north / 170)) * np.sin(north / 110 + 1.3)) > 0.35] = 1
    if _metres_per_px(world.frame.lat0, z) * _SCALE < 6:  # terraces: dikes along the contours, and across them
        ring = np.abs(((height * 5) % 1.0) - 0.5) > 0.47
        cross = np.abs(((east * 0.6 + north * 0.8) / 60) % 1.0 - 0.5) > 0.48
        cover[ring | cross] = 2
    cover[height > 0.08] = 3
    cover[height > 0.3] = 4
    image = Image.fromarray(cover, "P")
    image.putpalette(_PALETTE)
    return image.convert("RGB")


def _font(size: int) -> Any:
    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:
        return None


def _project(world: _World, z: int) -> dict[str, Any]:
    """Return every feature in world pixels at zoom z (computed once per zoom)."""
    if z in world.projected:
        return world.projected[z]
    n = 256 * _SCALE * 2**z

    def px(points: Any) -> np.ndarray:
        east, north = np.asarray(points, dtype=float).reshape(-1, 2).T
        lat, lon = world.frame.latlon(east, north)
        wy = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0 * n
        return np.stack([(lon + 180.0) / 360.0 * n, wy], axis=1)

    spots = [world.frame.metres(p.latitude, p.longitude) for p in world.places]
    sizes = [{"market": (45, 35), "school": (50, 20), "commune_office": (35, 22)}.get(p.kind, (20, 14))
             for p in world.places]
    world.projected[z] = {
        "river": px(world.river), "villages": px(world.villages), "spots": px(spots),
        "roads": [(px(line), kind) for line, kind in world.roads],
        "houses": [px(house) for house in world.houses],
        "footprints": [px(_rectangle(e, n_ - 18, w, h, 0.15)) for (e, n_), (w, h) in zip(spots, sizes)],
    }
    world.projected[z]["labels"] = _labels(world, world.projected[z], z)
    return world.projected[z]


def render_tile(world: _World, z: int, x: int, y: int) -> bytes:
    """Return the PNG of tile z/x/y."""
    image = _ground(world, z, x, y)
    draw = ImageDraw.Draw(image)
    offset = np.array([x, y]) * 256 * _SCALE
    mpp = _metres_per_px(world.frame.lat0, z)
    shapes = _project(world, z)

    def px(points: np.ndarray) -> list[float]:
        return (points - offset).ravel().tolist()

    draw.line(px(shapes["river"]), fill="#8dc3e6", width=max(2, round(28 / mpp)), joint="curve")
    for cx, cy in shapes["villages"] - offset:  # the village's ground, under its houses
        r = 200 / mpp
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill="#e9e3d1")
    for line, kind in shapes["roads"]:
        width = max(2 if kind == "lane" else 4, round((7 if kind == "lane" else 12) / mpp))
        draw.line(px(line), fill="#a8987f", width=width + 2 * _SCALE, joint="curve")
        draw.line(px(line), fill="#fbd78b" if kind == "provincial" else "#ffffff", width=width, joint="curve")
    if mpp * _SCALE < 10:
        for house in shapes["houses"]:
            draw.polygon(px(house), fill="#cdb8a2", outline="#a8917a" if mpp * _SCALE < 4 else None)
    _draw_sites(world, draw, shapes, offset, mpp, z)
    small = image.resize((256, 256), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _labels(world: _World, shapes: dict[str, Any], z: int) -> list[tuple[str, float, float, str]]:
    """Place the names at zoom z, once for the whole map (so tiles agree): villages first, no two overlapping.

    Returns (text, x, y, anchor) in world pixels.  Other sites try below, above, right and left of
    their point and are left out where every place is taken.
    """
    font = _font(11 * _SCALE if z >= 15 else 10 * _SCALE)
    if font is None or z < 13:
        return []
    gap = 10 * _SCALE
    order = sorted(zip(world.places, shapes["spots"]), key=lambda item: item[0].kind != "village_hall")
    placed: list[tuple[str, float, float, str]] = []
    boxes: list[tuple[float, float, float, float]] = []
    for p, (x, y) in order:
        if z < 15 and p.kind != "village_hall":
            continue
        text = p.name.removeprefix("Nhà văn hóa ")
        tries = [(x, y + 1.5 * gap, "ma")] if p.kind == "village_hall" else [  # below the map's marker
            (x, y + gap, "ma"), (x, y - gap, "md"), (x + gap, y, "lm"), (x - gap, y, "rm")]
        for tx, ty, anchor in tries:
            box = font.getbbox(text, anchor=anchor, stroke_width=_SCALE)
            box = (tx + box[0], ty + box[1], tx + box[2], ty + box[3])
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
                placed.append((text, tx, ty, anchor))
                boxes.append(box)
                break
    return placed


def _draw_sites(world: _World, draw: ImageDraw.ImageDraw, shapes: dict[str, Any], offset: np.ndarray, mpp: float,
                z: int) -> None:
    """Footprints of the commune's buildings, and names once they can be read."""
    if mpp * _SCALE < 12:
        for p, shape in zip(world.places, shapes["footprints"]):
            draw.polygon((shape - offset).ravel().tolist(), fill=_FOOTPRINT.get(p.kind, "#d9cbb8"), outline="#7d6a58")
    font = _font(11 * _SCALE if z >= 15 else 10 * _SCALE)
    for text, x, y, anchor in shapes["labels"]:
        cx, cy = x - offset[0], y - offset[1]
        if not (-600 < cx < 256 * _SCALE + 600 and -100 < cy < 256 * _SCALE + 100):
            continue  # far from this tile: not a pixel of it would show
        draw.text((cx, cy), text, font=font, fill="#4a4036", anchor=anchor, stroke_width=_SCALE, stroke_fill="#ffffff")


def _area(places: Sequence[Place], margin_m: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Return the (south-west, north-east) corners, in degrees, of the places and `margin_m` around them."""
    frame = _Frame(places)
    east, north = zip(*(frame.metres(p.latitude, p.longitude) for p in places))
    return (frame.latlon(min(east) - margin_m, min(north) - margin_m),
            frame.latlon(max(east) + margin_m, max(north) + margin_m))


def tiles_for(places: Sequence[Place], zooms: Iterable[int]) -> list[tuple[int, int, int]]:
    """Return the tiles (z, x, y) that cover the places and the margin around them at each zoom."""
    out = []
    for z in zooms:
        south_west, north_east = _area(places, _MARGIN_M.get(z, _NEAR_MARGIN_M))
        x0, y1 = (int(v // (256 * _SCALE)) for v in _world(*south_west, z))
        x1, y0 = (int(v // (256 * _SCALE)) for v in _world(*north_east, z))
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return out


def write_demo_basemap(path: Path, places: Sequence[Place], zooms: Iterable[int] = DEMO_ZOOMS) -> Path:
    """Draw the demo basemap for `places` into the MBTiles file `path`; return the path."""
    zooms = list(zooms)
    world = _build_world(places)
    frame = world.frame
    meta = {"name": "sitescout demo basemap (not a real map)", "format": "png", "type": "baselayer",
            "version": "1", "minzoom": str(min(zooms)), "maxzoom": str(max(zooms)), "sitescout_demo": "1",
            "description": "Drawn by sitescout from the demo commune's made-up positions; not a survey of the ground.",
            "attribution": "Demo basemap drawn by sitescout: not a real map",
            "center": f"{frame.lon0:.5f},{frame.lat0:.5f},14"}
    (south, west), (north, east) = _area(places, _MARGIN_M.get(min(zooms), _NEAR_MARGIN_M))
    meta["bounds"] = f"{west:.5f},{south:.5f},{east:.5f},{north:.5f}"
    with MBTilesWriter(path, meta) as writer:
        for z, x, y in tiles_for(places, zooms):
            writer.put(z, x, y, render_tile(world, z, x, y))
    return path


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sitescout"


def demo_basemap_file(places: Sequence[Place], workdir: Path) -> Path:
    """Return the demo basemap for `places`, drawn once and kept in the user's cache (else in `workdir`).

    Drawing takes a few seconds (193 tiles); a later demo with the same places reuses the file.
    """
    key = hashlib.sha256(repr((DRAWING_VERSION, sorted(places, key=lambda p: p.name))).encode()).hexdigest()[:16]
    name = f"demo-basemap-{key}.mbtiles"
    for folder in (_cache_dir(), workdir):
        path = folder / name
        if path.is_file():
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return write_demo_basemap(path, places)
        except OSError as err:
            log.info("%s: cannot keep the demo basemap there (%s)", folder, err)
    raise OSError(f"cannot write the demo basemap in {_cache_dir()} or {workdir}")


@dataclass(frozen=True)
class Ground:
    """What the basemap draws near a place, in (lat, lon): its houses' footprints and its lanes."""

    houses: list[list[tuple[float, float]]]
    lanes: list[list[tuple[float, float]]]


def ground_near(places: Sequence[Place], lat: float, lon: float, radius_m: float) -> Ground:
    """Return the houses (whole footprints) and lanes (clipped to their points) drawn within `radius_m` of a point.

    The demo's saved plan draws its obstacles and mounts from these, so they lie where the map shows them.
    """
    world = _build_world(places)
    east, north = world.frame.metres(lat, lon)

    def near(x: float, y: float) -> bool:
        return math.hypot(x - east, y - north) <= radius_m

    def to_latlon(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in (world.frame.latlon(x, y) for x, y in points)]

    houses = [to_latlon(h) for h in world.houses if all(near(x, y) for x, y in h)]
    lanes = []
    for line, _kind in world.roads:
        dense = [(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])) for a, b in zip(line, line[1:])
                 for t in np.linspace(0.0, 1.0, max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / 5.0)),
                                      endpoint=False)] + line[-1:]
        inside = [(x, y) for x, y in dense if near(x, y)]  # a lane leaving and coming back is one lane here
        if len(inside) >= 2:
            lanes.append(to_latlon(inside))
    return Ground(houses, lanes)
