"""Terminal output of the command: the survey progress bar and summary table (stderr-safe), in Vietnamese or English.

The table fits the terminal: IP and MAC columns never wrap, headers never break; columns
that do not fit at that width (firmware, ports, profiles, …) move below the table, one line
per host.  Findings are rendered here, at the edge, from their codes (inventory/findings.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sitescout.device_names import maker_and_model
from sitescout.i18n import N_, _, language, ngettext
from sitescout.termtext import printable

__all__ = ["SurveyProgress", "print_summary", "summary_width", "say", "link_text"]

_STAGES = {
    "sweep": N_("Sweeping networks"),
    "ports": N_("Probing ports"),
    "ws-discovery": N_("WS-Discovery"),
    "onvif": N_("Asking cameras (ONVIF)"),
    "streams": N_("Checking streams"),
    "links": N_("Link quality"),
    "snmp": N_("Switches and ports (SNMP)"),
}
#: Width of a summary printed to a file or pipe (no terminal to ask).
PIPE_WIDTH = 120


class _CountColumn(ProgressColumn):
    """``done/total``; only ``done`` while the total is unknown (never ``0/None``)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"{task.completed:g}" if task.completed else "…")
        return Text(f"{task.completed:g}/{task.total:g}")


class SurveyProgress:
    """A progress bar on stderr, one line per survey stage; silent when stderr is not a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(bar_width=None),
            _CountColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
            expand=True,
            disable=not self._console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SurveyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_all()
        self._progress.stop()

    def _finish_all(self) -> None:
        """Stages run one after another: once a later one starts, an earlier one's count is final."""
        for task_id in self._tasks.values():
            task = self._progress.tasks[task_id]
            if task.total is None:
                self._progress.update(task_id, total=task.completed)
            self._progress.stop_task(task_id)

    def update(self, stage: str, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` items of ``stage`` are finished (``total`` 0: not known yet)."""
        if stage not in self._tasks:
            self._finish_all()
            self._tasks[stage] = self._progress.add_task(_(_STAGES[stage]) if stage in _STAGES else stage,
                                                         total=total or None)
        self._progress.update(self._tasks[stage], completed=done, total=total or None)


def say(text: str, file: Any = None) -> None:
    """Print one message of the command: wrapped at word boundaries on a terminal, one line in a pipe."""
    stream = file or sys.stdout
    if stream.isatty():
        Console(file=stream, highlight=False, emoji=False).print(text, markup=False)
    else:
        print(text, file=stream)
    stream.flush()


def _fmt(value: float, pattern: str = "#,##0.##") -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, format=pattern, locale=language())


def _identity(host: dict[str, Any]) -> str:
    onvif = host.get("onvif")
    if onvif:
        # No ONVIF maker (none, or a placeholder dropped at parse): the MAC vendor stands in.
        return maker_and_model(onvif.get("manufacturer") or host.get("vendor") or "?", onvif.get("model"))
    snmp = host.get("snmp") or {}
    if snmp.get("vendor") or snmp.get("model"):  # a switch or router read over SNMP
        return maker_and_model(snmp.get("vendor") or snmp.get("manufacturer") or "?", snmp.get("model"))
    return host.get("vendor") or ""


def switch_port_text(host: dict[str, Any]) -> str:
    """Return where a host is cabled, ``sw1 p3`` (the switch's name, else its address), or ''."""
    attached = host.get("attached_to") or {}
    if not attached.get("port"):
        return ""
    return f"{attached.get('switch') or attached.get('device') or '?'} {attached['port']}"


def link_text(link: dict[str, Any] | None) -> str:
    """Return a link's round trip and loss; connect-time results are labelled TCP (ICMP is the default)."""
    if not link:
        return ""
    if not link.get("received"):
        return _("no reply")
    from babel.numbers import format_percent

    rtt = float(link.get("rtt_avg_ms") or 0.0)
    text = _("{rtt} ms, {loss} loss").format(rtt=_fmt(rtt, "0.0#" if rtt < 10 else "0"),
                                            loss=format_percent(float(link.get("loss_ratio") or 0.0),
                                                                locale=language()))
    return ("TCP " + text) if str(link.get("method") or "").startswith("tcp") else text


def _kind(host: dict[str, Any]) -> str:
    from sitescout.inventory.report_topology import device_kind
    from sitescout.inventory.survey_report import KIND_WORDS

    kind = device_kind(host)  # a host the SNMP stage classed: switch, router, loudspeaker receiver …
    return _(KIND_WORDS[kind]) if kind in KIND_WORDS else _("host")


@dataclass(frozen=True)
class _Column:
    header: str
    min_width: int  # for columns that wrap; no_wrap columns take their widest cell
    no_wrap: bool = False


def _columns() -> list[tuple[_Column, Any]]:
    """Every column of the summary table with how to fill it, the ones kept first."""
    return [
        (_Column("IP", 0, True), lambda h: h.get("ip") or ""),
        (_Column("MAC", 0, True), lambda h: h.get("mac") or ""),
        (_Column(_("Kind"), 8), _kind),
        (_Column(_("Link"), 16), lambda h: link_text(h.get("link"))),  # keeps maker / model in at 80 columns
        (_Column(_("Maker / model"), 12), _identity),
        (_Column(_("Errors"), 0, True), lambda h: str(len(h["errors"])) if h.get("errors") else ""),
        (_Column(_("Profiles"), 0, True),
         lambda h: str(len((h.get("onvif") or {}).get("profiles") or [])) if h.get("onvif") else ""),
        (_Column(_("Ports"), 8), lambda h: " ".join(str(p) for p in h.get("open_ports") or [])),
        (_Column(_("Firmware"), 10), lambda h: (h.get("onvif") or {}).get("firmware") or ""),
    ]


def _fit(columns: list[tuple[_Column, Any]], rows: list[list[str]], width: int) -> list[int]:
    """Return the width of each column shown at ``width`` (at least IP, MAC and kind; the rest in order).

    A column's least width is its header (headers never break), its widest cell when it never
    wraps (IP, MAC), else its widest cell up to the column's ``min_width``.  Room left over goes
    to the wrapping columns, in order, up to their widest cell.
    """
    from rich.cells import cell_len

    widest = [max([cell_len(r[i]) for r in rows] + [cell_len(c.header)]) for i, (c, _fill) in enumerate(columns)]
    needs: list[int] = []
    for i, (column, _fill) in enumerate(columns):
        need = widest[i] if column.no_wrap else max(cell_len(column.header), min(widest[i], column.min_width))
        if sum(needs) + need + _overhead(len(needs) + 1) > width and i >= 3:
            break
        needs.append(need)
    spare = width - sum(needs) - _overhead(len(needs))
    for i in range(len(needs)):
        grow = min(spare, widest[i] - needs[i])
        if grow > 0:
            needs[i] += grow
            spare -= grow
    return needs


def _overhead(count: int) -> int:
    """Columns of padding and separators a table of ``count`` columns takes (SIMPLE_HEAD, no edge)."""
    return 3 * count - 3 if count else 0


def summary_width(stream: Any) -> int:
    """Return the width to print at: the terminal's, else PIPE_WIDTH."""
    return Console(file=stream).width if stream.isatty() else PIPE_WIDTH


def print_summary(doc: dict[str, Any], *, to_stderr: bool = False, width: int | None = None,
                  console: Console | None = None) -> None:
    """Print the survey's summary table and findings (to stderr when stdout carries the JSON document)."""
    stream = sys.stderr if to_stderr else sys.stdout
    if console is None:
        console = Console(file=stream, highlight=False, width=width or summary_width(stream))
    hosts = doc.get("hosts") or []
    title = printable(_("Survey of {site} — {networks}").format(site=doc.get("site", ""),
                                                               networks=", ".join(doc.get("networks") or [])))
    if not hosts:
        console.print(Text(title))
        _print_empty(console, doc)
        return
    columns = _columns()
    if any(h.get("attached_to") for h in hosts):  # only surveys that read a switch have the column
        columns.append((_Column(_("Switch port"), 10), switch_port_text))
    rows = [[printable(fill(h)) for _col, fill in columns] for h in hosts]  # every cell may come from a device
    needs = _fit(columns, rows, console.width)
    shown = len(needs)
    # Text, never str: rich reads markup in a str, and "[/x]" in a camera's model would stop the survey
    table = Table(title=Text(title), box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    for (column, _fill), need in zip(columns, needs):
        table.add_column(column.header, no_wrap=column.no_wrap, overflow="fold", width=need)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row[:shown]))
    console.print(table)
    _print_moved(console, columns[shown:], rows, shown)
    if any(str((h.get("link") or {}).get("method") or "").startswith("tcp") for h in hosts):
        console.print(_("TCP: connect time to an open port, because the host does not answer ping (ICMP echo)"),
                      markup=False)
    _print_totals(console, doc, hosts)
    _print_findings(console, doc)


def _print_moved(console: Console, moved: list[tuple[_Column, Any]], rows: list[list[str]], first: int) -> None:
    """Print the columns that did not fit, one line per host that has any of them."""
    if not moved:
        return
    lines = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    lines.add_column(no_wrap=True)
    lines.add_column(overflow="fold")
    for row in rows:
        parts = [f"{column.header}: {row[first + i]}" for i, (column, _fill) in enumerate(moved) if row[first + i]]
        if parts:
            lines.add_row(Text(row[0]), Text(" · ".join(parts)))
    if lines.row_count:
        console.print(lines)


def _when(stamp: Any) -> str:
    from babel.dates import format_datetime

    try:
        moment = datetime.fromisoformat(str(stamp)).astimezone()
    except ValueError:
        return str(stamp)
    return format_datetime(moment, format="short", locale=language())


def _print_totals(console: Console, doc: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
    cameras = sum(1 for h in hosts if h.get("kind") == "camera")
    seconds = None
    try:
        finished, started = datetime.fromisoformat(doc["finished_at"]), datetime.fromisoformat(doc["started_at"])
        seconds = (finished - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    text = _("{hosts}, {cameras}; started {started}").format(
        hosts=ngettext("{count} host", "{count} hosts", len(hosts)).format(count=len(hosts)),
        cameras=ngettext("{count} camera", "{count} cameras", cameras).format(count=cameras),
        started=_when(doc.get("started_at")))
    if seconds is not None:
        text += _(", took {seconds} s").format(seconds=_fmt(seconds, "0"))
    console.print(Text(printable(text)))


def _print_empty(console: Console, doc: dict[str, Any]) -> None:
    networks = printable(", ".join(doc.get("networks") or []))
    console.print(Text(_("Nothing answered on {networks}. Check:").format(networks=networks)))
    for hint in (_("the cable, and the link light of the switch port"),
                 _("that this switch port is in the VLAN of the cameras"),
                 _("that --network names the site's network (`ip -4 addr` shows this machine's own)")):
        console.print(f"  - {hint}", markup=False)


def _print_findings(console: Console, doc: dict[str, Any]) -> None:
    from sitescout.inventory.findings import coded_findings, render_finding, severity_label

    findings = coded_findings(doc)
    if not findings:
        return
    grid = Table(title=_("Findings and recommendations"), title_justify="left", box=None, show_header=False,
                 pad_edge=False, padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for f in findings:
        text, advice = render_finding(f, _, language())
        cell = Text(printable(text))
        if advice and f.severity != "info":
            cell.append("\n→ " + advice, style="dim")
        grid.add_row(Text(severity_label(f.severity, _)), Text(printable(f.host)), cell)
    console.print(grid)
