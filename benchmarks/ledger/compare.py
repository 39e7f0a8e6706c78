"""Compare a ledger entry with the baseline: flag every ratio (and tracked figure) worse beyond its measured noise.

The rule, per metric (documented in docs/benchmarks.md, "The ledger"):

* the baseline is, per benchmark, the newest earlier entry in which that benchmark ran
  (or the entry named with ``--baseline``);
* its noise is measured on the baseline's own repeats: the interquartile range over
  the median (IQR, quartiles "inclusive"; with 2 or 3 repeats that is about half the
  range).  The tolerance is twice that (for 5 repeats of Gaussian noise, about three
  standard errors of a difference of two medians), never under `MIN_TOLERANCE` (10 %)
  for a ratio, `ABSOLUTE_MIN_TOLERANCE` (30 %) for an absolute figure (it has no anchor
  sharing the machine's load, and within-run repeats do not see load changing between
  runs), and at least `SINGLE_RUN_TOLERANCE` (25 %) when the baseline has a single
  repeat (noise unmeasured).  The IQR, not the range: one run disturbed by a neighbour's burst on
  the shared cores would otherwise widen the tolerance for good;
* "worse by" is new / baseline - 1 for a metric where lower is better, baseline / new - 1
  where higher is better;
* flagged when worse by more than the tolerance; when a metric that never varied in
  the baseline (a count) met its goal there and misses it now (50 cameras found, then
  47: within 10 %, but cameras lost); or when the benchmark ran in the baseline and
  failed now.  Improvements are never flagged.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from .model import goal_met

MIN_TOLERANCE = 0.10
#: Absolute figures (no anchor in the run to share the load with) moved this much between two
#: runs of the same code on this shared machine: placement +24 %, the check's CPU-s -19 %,
#: /metrics render +20 % (baseline at load 2.6-4, re-run at load 5-6; docs/benchmarks.md).
ABSOLUTE_MIN_TOLERANCE = 0.30
SINGLE_RUN_TOLERANCE = 0.25
NOISE_FACTOR = 2.0


@dataclass(frozen=True)
class Finding:
    """The comparison of one metric of one benchmark."""

    benchmark: str
    metric: str
    baseline: float | None
    new: float | None
    worse_by: float | None  # > 0: worse, < 0: better
    tolerance: float | None
    flagged: bool
    baseline_entry: str | None
    note: str = ""


def relative_iqr(runs: list[float]) -> float | None:
    """Return the interquartile range of `runs` over their median (None with fewer than 2 runs)."""
    if len(runs) < 2:
        return None
    median = statistics.median(runs)
    if not median:
        return None
    q1, _, q3 = statistics.quantiles(runs, n=4, method="inclusive")
    return (q3 - q1) / abs(median)


def tolerance(metric: dict[str, Any]) -> tuple[float, str]:
    """Return the tolerance of a baseline metric and how it was set."""
    iqr = relative_iqr(metric.get("runs") or [])
    floor = MIN_TOLERANCE if is_ratio(metric) else ABSOLUTE_MIN_TOLERANCE
    if iqr is None:
        return max(floor, SINGLE_RUN_TOLERANCE), "one repeat in the baseline: noise not measured"
    if NOISE_FACTOR * iqr < floor:
        return floor, f"baseline IQR {iqr:.0%}, floor {floor:.0%}{'' if is_ratio(metric) else ' (absolute figure)'}"
    return NOISE_FACTOR * iqr, f"{NOISE_FACTOR:g} × baseline IQR {iqr:.0%}"


def is_ratio(metric: dict[str, Any]) -> bool:
    """Return whether a stored metric is a ratio against an anchor (it names its two figures)."""
    return "of" in metric


def worse_by(baseline: float, new: float, better: str) -> float:
    """Return how much worse `new` is than `baseline` (relative; negative when better)."""
    if better == "lower":
        return new / baseline - 1.0 if baseline else 0.0
    return baseline / new - 1.0 if new else float("inf")


def compare_metric(benchmark: str, key: str, base: dict[str, Any], new: dict[str, Any],
                   baseline_entry: str | None = None) -> Finding:
    """Compare one metric of one benchmark with its baseline."""
    better = base.get("better") or new.get("better")
    b, n = base.get("value"), new.get("value")
    if better is None or b is None or n is None:
        return Finding(benchmark, key, b, n, None, None, False, baseline_entry, "not comparable")
    tol, how = tolerance(base)
    worse = worse_by(b, n, better)
    # A count that never varied in the baseline (cameras found, devices up) and met its goal:
    # any drop below the goal is a loss, not noise.  Varying metrics near a goal line only
    # follow the tolerance, or noise around the line would be flagged every other run.
    exact = len(set(base.get("runs") or [])) == 1 and base.get("n", 0) >= 2
    crossed = exact and goal_met(base) is True and goal_met(new) is False
    if crossed:
        how = f"goal {base['goal']:g} met in every baseline repeat, missed now; {how}"
    return Finding(benchmark, key, b, n, round(worse, 4), round(tol, 4), worse > tol or crossed, baseline_entry, how)


def compared_metrics(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the metrics of one benchmark result that the compare mode checks: ratios and tracked figures."""
    out = dict(result.get("ratios", {}))
    out.update({k: v for k, v in result.get("figures", {}).items() if v.get("tracked")})
    return out


def baseline_for(name: str, entries: list[dict[str, Any]], before: str) -> dict[str, Any] | None:
    """Return the newest entry older than id `before` in which benchmark `name` ran (status ok)."""
    for entry in reversed(entries):
        if entry["id"] >= before:
            continue
        if entry.get("benchmarks", {}).get(name, {}).get("status") == "ok":
            return entry
    return None


def compare_entries(new: dict[str, Any], entries: list[dict[str, Any]],
                    baseline: dict[str, Any] | None = None) -> list[Finding]:
    """Compare every benchmark of `new` with its baseline (the given entry, or the newest earlier one)."""
    findings: list[Finding] = []
    for name, result in new.get("benchmarks", {}).items():
        base_entry = baseline if baseline is not None else baseline_for(name, entries, new["id"])
        base = (base_entry or {}).get("benchmarks", {}).get(name)
        base_id = base_entry["id"] if base_entry else None
        if base is None or base.get("status") != "ok":
            findings.append(Finding(name, "*", None, None, None, None, False, base_id, "no baseline"))
            continue
        if result.get("status") != "ok":
            findings.append(Finding(name, "*", None, None, None, None, result.get("status") == "failed", base_id,
                                    f"{result.get('status')}: {result.get('reason', '')}".strip()))
            continue
        base_metrics = compared_metrics(base)
        for key, metric in compared_metrics(result).items():
            if key in base_metrics:
                findings.append(compare_metric(name, key, base_metrics[key], metric, base_id))
    return findings


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:+.0%}"


def format_findings(findings: list[Finding]) -> str:
    """Return the findings as an aligned text table, flagged rows marked."""
    lines = [f"{'':2}{'benchmark':15} {'metric':28} {'baseline':>10} {'new':>10} {'worse by':>9} "
             f"{'tolerance':>9}  note"]
    for f in findings:
        mark = "!!" if f.flagged else "  "
        tol = "—" if f.tolerance is None else f"{f.tolerance:.0%}"
        lines.append(f"{mark}{f.benchmark:15} {f.metric:28} {_num(f.baseline):>10} {_num(f.new):>10} "
                     f"{_pct(f.worse_by):>9} {tol:>9}  {f.note}")
    flagged = sum(f.flagged for f in findings)
    n = len(findings)
    lines.append(f"{flagged} flagged of {n} compared" if flagged else f"nothing flagged ({n} compared)")
    return "\n".join(lines)
