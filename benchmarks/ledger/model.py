"""Turn a benchmark's samples into the ledger's figures and ratios (median, runs, spread); load and save entries."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from .registry import Benchmark, Sample

ENTRIES_DIR = Path(__file__).resolve().parent / "entries"
SCHEMA = 1


def summary(values: list[float]) -> dict[str, Any]:
    """Return median, runs and relative spread ((max - min) / |median|, None with fewer than 2 runs)."""
    runs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not runs:
        return {"value": None, "runs": [], "n": 0, "spread": None}
    median = statistics.median(runs)
    spread = (max(runs) - min(runs)) / abs(median) if len(runs) >= 2 and median else None
    return {"value": _round(median), "runs": [_round(v) for v in runs], "n": len(runs),
            "spread": None if spread is None else round(spread, 4)}


def _round(value: float) -> float:
    """Keep 4 significant digits (the ledger is read by people; noise is far larger)."""
    return float(f"{value:.4g}") if value else 0.0


def summarise(bench: Benchmark, samples: list[Sample]) -> dict[str, Any]:
    """Return the entry's ``figures`` and ``ratios`` of one benchmark from its samples."""
    figures: dict[str, Any] = {}
    for fig in bench.figures:
        values = [s[fig.key] for s in samples if fig.key in s]
        if not values:
            continue
        figures[fig.key] = {**summary(values), "unit": fig.unit, "better": fig.better, "goal": fig.goal,
                            "tracked": fig.tracked}
    ratios: dict[str, Any] = {}
    for ratio in bench.ratios:
        values = [s[ratio.numerator] / s[ratio.denominator] for s in samples
                  if ratio.numerator in s and s.get(ratio.denominator)]
        if not values:
            continue
        ratios[ratio.key] = {**summary(values), "better": ratio.better, "goal": ratio.goal,
                             "of": [ratio.numerator, ratio.denominator]}
    return {"figures": figures, "ratios": ratios}


def goal_met(metric: dict[str, Any]) -> bool | None:
    """Return whether a metric's median meets its goal (None: no goal or no value)."""
    goal, value, better = metric.get("goal"), metric.get("value"), metric.get("better")
    if goal is None or value is None or better is None:
        return None
    return value <= goal if better == "lower" else value >= goal


def load_entries(directory: Path = ENTRIES_DIR) -> list[dict[str, Any]]:
    """Return every entry of the ledger, oldest first (file names start with the UTC date)."""
    entries = []
    for path in sorted(directory.glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        entry.setdefault("id", path.stem)
        entries.append(entry)
    return entries


def load_entry(ref: str, directory: Path = ENTRIES_DIR) -> dict[str, Any]:
    """Return the entry named by a path, a file name or a unique prefix of an entry id."""
    path = Path(ref)
    if path.is_file():
        entry = json.loads(path.read_text(encoding="utf-8"))
        entry.setdefault("id", path.stem)
        return entry
    matches = [e for e in load_entries(directory) if e["id"].startswith(ref) or e.get("commit", "").startswith(ref)]
    if len(matches) != 1:
        raise KeyError(f"{ref!r} names {len(matches)} ledger entries; give a longer id or a path")
    return matches[0]


def save_entry(entry: dict[str, Any], directory: Path = ENTRIES_DIR) -> Path:
    """Write an entry as ``<id>.json`` (one file per entry, so branches merge without conflicts)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{entry['id']}.json"
    path.write_text(json.dumps(entry, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path
