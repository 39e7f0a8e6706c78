"""docs/benchmarks.md's generated blocks, made from the ledger (never typed).

A block is the text between ``<!-- ledger:begin NAME -->`` and ``<!-- ledger:end NAME -->``.
``summary`` is the latest figure of every compared metric, ``history`` the headline
metric of each benchmark over the last entries, and a block named after a benchmark
holds its latest entry in full.  Text outside the blocks is hand-written and kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .compare import tolerance
from .model import goal_met
from .registry import BENCHMARKS, BY_NAME

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HISTORY_ROWS = 12
_BLOCK = re.compile(r"(<!-- ledger:begin (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- ledger:end (?P=name) -->)", re.S)


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _spread(metric: dict[str, Any]) -> str:
    runs = metric.get("runs") or []
    if len(runs) < 2:
        return "1 run"
    return f"{_num(min(runs))}–{_num(max(runs))} (n={len(runs)})"


def _tolerance(metric: dict[str, Any]) -> str:
    """Return the tolerance the compare mode applies when this metric is the baseline."""
    return f"{tolerance(metric)[0]:.0%}"


def _goal(metric: dict[str, Any]) -> str:
    goal = metric.get("goal")
    if goal is None:
        return ""
    sign = "≤" if metric.get("better") == "lower" else "≥"
    met = goal_met(metric)
    return f"{sign} {_num(goal)}" + ("" if met is None else (" met" if met else " **missed**"))


def latest(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Return the newest entry in which benchmark `name` has a result (ok, skipped or failed)."""
    for entry in reversed(entries):
        if name in entry.get("benchmarks", {}):
            return entry
    return None


def _entry_ref(entry: dict[str, Any]) -> str:
    dirty = " (dirty)" if entry.get("dirty") else ""
    return f"{entry['date'][:16].replace('T', ' ')} UTC, `{entry['commit'][:7]}`{dirty}"


def summary_block(entries: list[dict[str, Any]]) -> str:
    """Return the summary table: every compared metric of every benchmark, from its latest entry."""
    lines = ["| benchmark | metric | median | runs (min–max, repeats) | tolerance as baseline | goal | recorded |",
             "|---|---|---|---|---|---|---|"]
    for bench in BENCHMARKS:
        entry = latest(entries, bench.name)
        if entry is None:
            lines.append(f"| {bench.name} | — | not recorded yet | | | | |")
            continue
        result = entry["benchmarks"][bench.name]
        if result.get("status") != "ok":
            lines.append(f"| {bench.name} | — | {result.get('status')}: {result.get('reason', '')} | | | | "
                         f"{_entry_ref(entry)} |")
            continue
        metrics = [(k, m) for k, m in result.get("ratios", {}).items()]
        metrics += [(k, m) for k, m in result.get("figures", {}).items() if m.get("tracked")]
        for key, metric in metrics:
            unit = metric.get("unit", "×") or ""
            lines.append(f"| {bench.name} | {bench.metric_label(key)} | {_num(metric['value'])} {unit} | "
                         f"{_spread(metric)} | {_tolerance(metric)} | {_goal(metric)} | {_entry_ref(entry)} |")
    return "\n".join(lines)


def history_block(entries: list[dict[str, Any]]) -> str:
    """Return each benchmark's headline metric over the newest entries (newest first)."""
    head = "| entry | commit | set | load 1-min before → after |" + "".join(f" {b.name} |" for b in BENCHMARKS)
    lines = [head, "|" + "---|" * (4 + len(BENCHMARKS))]
    for entry in list(reversed(entries))[:HISTORY_ROWS]:
        cells = []
        for bench in BENCHMARKS:
            result = entry.get("benchmarks", {}).get(bench.name)
            if result is None:
                cells.append("")
                continue
            if result.get("status") != "ok":
                cells.append(result.get("status", ""))
                continue
            key = bench.headline_key()
            metric = result.get("ratios", {}).get(key) or result.get("figures", {}).get(key) or {}
            cells.append(_num(metric.get("value")))
        loads = f"{entry['load_before'][0]:g} → {entry['load_after'][0]:g}"
        dirty = " dirty" if entry.get("dirty") else ""
        lines.append(f"| {entry['date'][:16].replace('T', ' ')} | `{entry['commit'][:7]}`{dirty} | {entry['set']} | "
                     f"{loads} | " + " | ".join(cells) + " |")
    legend = "; ".join(f"{b.name}: {b.metric_label(b.headline_key())}" for b in BENCHMARKS)
    return "\n".join([*lines, "", f"Columns (median of the entry's repeats): {legend}."])


def benchmark_block(entries: list[dict[str, Any]], name: str) -> str:
    """Return one benchmark's latest entry in full: every figure and ratio, runs, goal, load, command."""
    bench = BY_NAME[name]
    entry = latest(entries, name)
    if entry is None:
        return f"*Ledger: `{name}` not recorded yet (`python -m benchmarks.ledger run --only {name}`).*"
    result = entry["benchmarks"][name]
    head = (f"*Ledger, latest entry `{entry['id']}`* — {_entry_ref(entry)}, {entry['set']} set, "
            f"{entry['machine']['cores']} cores, Python {entry['machine']['python']}")
    if result.get("status") != "ok":
        return f"{head}: **{result.get('status')}** — {result.get('reason', '')}"
    lines = [f"{head}; load (1-min) {result['load_before'][0]:g} → {result['load_after'][0]:g}; "
             f"{result['repeats']} repeat{'' if result['repeats'] == 1 else 's'}; anchor: {result['anchor']}.", "",
             f"`{result['command']}`", "",
             "| metric | median | runs (min–max, repeats) | goal | compared (tolerance) |", "|---|---|---|---|---|"]
    for key, metric in result.get("ratios", {}).items():
        lines.append(f"| {bench.metric_label(key)} | {_num(metric['value'])} | {_spread(metric)} | {_goal(metric)} | "
                     f"yes ({_tolerance(metric)}) |")
    for key, metric in result.get("figures", {}).items():
        compared = f"yes ({_tolerance(metric)})" if metric.get("tracked") else ""
        lines.append(f"| {bench.metric_label(key)} ({metric.get('unit') or 'count'}) | {_num(metric['value'])} | "
                     f"{_spread(metric)} | {_goal(metric)} | {compared} |")
    return "\n".join(lines)


def block(name: str, entries: list[dict[str, Any]]) -> str:
    """Return the body of the generated block `name`."""
    if name == "summary":
        return summary_block(entries)
    if name == "history":
        return history_block(entries)
    if name in BY_NAME:
        return benchmark_block(entries, name)
    raise KeyError(f"docs/benchmarks.md has a ledger block {name!r} the ledger does not know")


def render_text(text: str, entries: list[dict[str, Any]]) -> str:
    """Return `text` with every generated block rebuilt from `entries`."""
    return _BLOCK.sub(lambda m: m.group(1) + block(m.group("name"), entries) + "\n" + m.group(4), text)


def block_names(text: str) -> list[str]:
    """Return the names of the generated blocks in `text`, in order."""
    return [m.group("name") for m in _BLOCK.finditer(text)]
