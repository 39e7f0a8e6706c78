"""Terminal output of the command: the survey progress bar and summary table (stderr-safe)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["SurveyProgress", "print_summary"]

_STAGES = {
    "sweep": "Sweeping networks",
    "ports": "Probing ports",
    "ws-discovery": "WS-Discovery",
    "onvif": "Interrogating cameras",
    "streams": "Checking streams",
    "links": "Link quality",
}


class SurveyProgress:
    """A progress bar on stderr, one line per survey stage; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
            disable=not self._console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SurveyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, stage: str, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` items of ``stage`` are finished."""
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(_STAGES.get(stage, stage), total=total or None)
        self._progress.update(self._tasks[stage], completed=done, total=total or None)


def _identity(host: dict[str, Any]) -> str:
    onvif = host.get("onvif")
    if onvif:
        maker = onvif.get("manufacturer") or "?"
        return f"{maker} {onvif.get('model') or ''}".strip()
    return host.get("vendor") or ""


def _link(link: dict[str, Any] | None) -> str:
    if not link:
        return ""
    if link["received"] == 0:
        return "no reply"
    return f"{link['rtt_avg_ms']:.1f} ms, {link['loss_ratio']:.0%} loss"


def print_summary(doc: dict[str, Any], *, to_stderr: bool = False) -> None:
    """Print the survey's summary table and findings (to stderr when stdout carries the JSON document)."""
    from sitescout.inventory.survey_report import survey_findings

    stream = sys.stderr if to_stderr else sys.stdout
    console = Console(file=stream, highlight=False, width=None if stream.isatty() else 160)
    table = Table(title=f"Survey of {doc['site']} — {', '.join(doc['networks'])}")
    for column in ("IP", "MAC", "Kind", "Maker / model", "Firmware", "Ports", "Link", "Profiles", "Errors"):
        table.add_column(column, overflow="fold")
    for host in doc["hosts"]:
        onvif = host.get("onvif") or {}
        table.add_row(
            host["ip"],
            host.get("mac") or "",
            host["kind"],
            _identity(host),
            onvif.get("firmware", ""),
            " ".join(str(p) for p in host["open_ports"]),
            _link(host.get("link")),
            str(len(onvif.get("profiles", []))) if onvif else "",
            str(len(host["errors"])) if host["errors"] else "",
        )
    console.print(table)
    cameras = sum(1 for h in doc["hosts"] if h["kind"] == "camera")
    console.print(f"{len(doc['hosts'])} hosts, {cameras} cameras; started {doc['started_at']}, "
                  f"finished {doc['finished_at']}")
    findings = survey_findings(doc)
    if findings:
        console.print("Findings:")
        for f in findings:
            console.print(f"  [{f.severity}] {f.host}: {f.text}", markup=False)
