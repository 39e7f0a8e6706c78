"""History of a device's key figures as small SVG sparklines drawn on the server (no script needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sitescout.inventory.records import ObservationRecord

__all__ = ["Figure", "key_figures", "KEY_FIGURES"]

#: Observation values worth a line on the site page, in this order: key → (label, unit).
KEY_FIGURES: dict[str, tuple[str, str]] = {
    "rtt_avg_ms": ("round trip", "ms"),
    "loss_ratio": ("loss", "%"),
    "jitter_ms": ("jitter", "ms"),
    "fps": ("frame rate", "fps"),
    "bitrate_kbps": ("bitrate", "kbit/s"),
    "clock_offset_s": ("clock offset", "s"),
}

_WIDTH, _HEIGHT = 160, 28


@dataclass(frozen=True)
class Figure:
    """One key figure of one device: its latest value and a sparkline of its history."""

    key: str
    label: str
    unit: str
    latest: float
    minimum: float
    maximum: float
    points: str  # SVG polyline points
    count: int


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _series(observations: list[ObservationRecord], key: str) -> list[float]:
    out = []
    for obs in observations:
        value = _number(obs.values.get(key))
        if value is None:
            continue
        out.append(value * 100 if key == "loss_ratio" else value)
    return out


def _points(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = _WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{_HEIGHT - 2 - (v - low) / span * (_HEIGHT - 4):.1f}" for i, v in enumerate(values)
    )


def key_figures(observations: list[ObservationRecord]) -> list[Figure]:
    """Return the key figures found in observations (oldest first)."""
    figures = []
    for key, (label, unit) in KEY_FIGURES.items():
        values = _series(observations, key)
        if not values:
            continue
        figures.append(Figure(key, label, unit, values[-1], min(values), max(values), _points(values), len(values)))
    return figures
