"""DORI pixel density and ranges per IEC 62676-4, as named, versioned profiles.

Pure functions.  Formulas (research: planning-anchors.md §1), with R the horizontal
pixel count, H the horizontal field of view and d the distance to the target:

- scene width ``W(d) = 2·d·tan(H/2)``; pixel density ``PPM(d) = R / W(d)``;
- range for a threshold ``d_max = R / (2·PPM·tan(H/2))``, or from the lens
  ``d_max = R·f / (w·PPM)`` with f the focal length and w the sensor width;
- on the map the range is a slant range: ground distance
  ``sqrt(d_max² − (h_camera − h_target)²)``.

Strictly, d is the depth along the optical axis, so a rectilinear lens gives a
*higher* density off-axis (1/cos θ, up to 41 % at the edge of a 90° view).  Using
the straight-line (slant) distance, as the map does, is therefore conservative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitescout.inventory.errors import Coded

__all__ = [
    "DoriLevel",
    "DoriProfile",
    "DoriRange",
    "PROFILES",
    "DEFAULT_PROFILE",
    "get_profile",
    "hfov_from_lens",
    "pixel_density",
    "max_distance",
    "ground_range",
    "dori_ranges",
]


@dataclass(frozen=True)
class DoriLevel:
    """One named pixel-density threshold of a profile."""

    name: str
    ppm: float  # pixels per metre, horizontal, at the target


@dataclass(frozen=True)
class DoriProfile:
    """A named, versioned set of thresholds, weakest first."""

    name: str
    levels: tuple[DoriLevel, ...]
    headline: tuple[str, ...]  # the levels printed by default
    aliases: tuple[tuple[str, str], ...] = ()

    def level(self, name: str) -> DoriLevel:
        """Return the level called `name` (case-insensitive; aliases allowed)."""
        key = name.strip().lower()
        key = dict(self.aliases).get(key, key)
        for level in self.levels:
            if level.name.lower() == key:
                return level
        known = ", ".join(level.name for level in self.levels)
        raise ValueError(Coded("unknown_dori_level", "unknown DORI level %(name)r for profile %(profile)s; use one of: "
                               "%(known)s", name=name, profile=self.name, known=known))

    def index(self, name: str) -> int:
        """Return the position of a level, 0 for the weakest."""
        return self.levels.index(self.level(name))


#: IEC 62676-4:2014 (EN 62676-4:2015): 12.5/25/62.5/125/250/1000 px/m.  Vendors write
#: "62 PPM" for Observe; the standard's value is 62.5.
IEC_2014 = DoriProfile(
    name="iec62676-4:2014",
    levels=(
        DoriLevel("Monitor", 12.5),
        DoriLevel("Detect", 25.0),
        DoriLevel("Observe", 62.5),
        DoriLevel("Recognise", 125.0),
        DoriLevel("Identify", 250.0),
        DoriLevel("Inspect", 1000.0),
    ),
    headline=("Detect", "Observe", "Recognise", "Identify"),
    aliases=(("recognize", "recognise"), ("monitoring", "monitor"), ("detection", "detect"),
             ("observation", "observe"), ("recognition", "recognise"), ("identification", "identify")),
)

#: IEC 62676-4:2025: seven densities 20/40/80/125/250/500/1500 px/m.  Names follow
#: JVSG (jvsg.com/?p=11243) in order of density; the research notes the pairing of
#: names to values is by order and should be checked against the standard text.
IEC_2025 = DoriProfile(
    name="iec62676-4:2025",
    levels=(
        DoriLevel("Overview", 20.0),
        DoriLevel("Outline", 40.0),
        DoriLevel("Discern", 80.0),
        DoriLevel("Perceive", 125.0),
        DoriLevel("Characterize", 250.0),
        DoriLevel("Validate", 500.0),
        DoriLevel("Scrutinize", 1500.0),
    ),
    headline=("Overview", "Outline", "Discern", "Perceive", "Characterize", "Validate", "Scrutinize"),
    aliases=(("characterise", "characterize"), ("scrutinise", "scrutinize")),
)

PROFILES: dict[str, DoriProfile] = {p.name: p for p in (IEC_2014, IEC_2025)}
DEFAULT_PROFILE = IEC_2014


def get_profile(name: str | None) -> DoriProfile:
    """Return the profile called `name` (None for the 2014 default)."""
    if name is None:
        return DEFAULT_PROFILE
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise ValueError(Coded("unknown_dori_profile", "unknown DORI profile %(name)r; use one of: %(known)s",
                               name=name, known=", ".join(PROFILES))) from None


def hfov_from_lens(focal_mm: float, sensor_width_mm: float) -> float:
    """Return the horizontal field of view in degrees of a lens on a sensor."""
    if focal_mm <= 0 or sensor_width_mm <= 0:
        raise ValueError("focal length and sensor width must be positive")
    return math.degrees(2.0 * math.atan(sensor_width_mm / (2.0 * focal_mm)))


def _check(resolution_px: float, hfov_deg: float) -> None:
    if resolution_px <= 0:
        raise ValueError("horizontal resolution must be positive")
    if not 0 < hfov_deg < 180:
        raise ValueError("horizontal field of view must be between 0 and 180 degrees")


def pixel_density(resolution_px: float, hfov_deg: float, distance_m: float) -> float:
    """Return the horizontal pixel density (px/m) at `distance_m` from the camera."""
    _check(resolution_px, hfov_deg)
    if distance_m <= 0:
        raise ValueError("distance must be positive")
    return resolution_px / (2.0 * distance_m * math.tan(math.radians(hfov_deg) / 2.0))


def max_distance(resolution_px: float, hfov_deg: float, ppm: float) -> float:
    """Return the farthest distance (m) at which the density is still `ppm`."""
    _check(resolution_px, hfov_deg)
    if ppm <= 0:
        raise ValueError("pixel density must be positive")
    return resolution_px / (2.0 * ppm * math.tan(math.radians(hfov_deg) / 2.0))


def ground_range(slant_m: float, camera_height_m: float = 0.0, target_height_m: float = 0.0) -> float:
    """Return the ground distance reached by a slant range; 0 when the drop exceeds it."""
    drop = camera_height_m - target_height_m
    if slant_m <= abs(drop):
        return 0.0
    return math.sqrt(slant_m * slant_m - drop * drop)


@dataclass(frozen=True)
class DoriRange:
    """How far one level reaches: along the line of sight and on the ground."""

    level: str
    ppm: float
    slant_m: float
    ground_m: float


def dori_ranges(
    resolution_px: float,
    hfov_deg: float,
    *,
    profile: DoriProfile = DEFAULT_PROFILE,
    camera_height_m: float = 0.0,
    target_height_m: float = 0.0,
) -> list[DoriRange]:
    """Return the range of every level of `profile`, weakest first."""
    out = []
    for level in profile.levels:
        slant = max_distance(resolution_px, hfov_deg, level.ppm)
        out.append(DoriRange(level.name, level.ppm, slant, ground_range(slant, camera_height_m, target_height_m)))
    return out
