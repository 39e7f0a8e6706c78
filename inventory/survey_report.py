"""The printable survey report: findings and recommendations from one survey document, in the reader's language.

Pure functions over the survey document (a dict, as in BRIEF.md), so the command line and the
web print the same report.  Nothing here is English until it is rendered: every word comes
from the reader's ``gettext`` (the ``cli`` catalogue, which the web loads beside its own),
numbers from Babel in the reader's locale, times in the site's time zone (``Reader``).  A
survey made in English prints in Vietnamese.  Every value is escaped; the document never
carries credentials, and nothing here adds any.

Print layout (A4 portrait, inventory/report_style.py): one card per camera, so a camera with
many profiles, long stream addresses and a snapshot stays inside the page width; long
addresses wrap anywhere; table headers repeat on every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone as _utc_zone
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, get_timezone_gmt
from babel.numbers import format_decimal

from sitescout.device_names import maker_and_model
from sitescout.inventory.findings import Gettext, N_, coded_findings, render_finding, severity_label, stream_name
from sitescout.inventory.lenient import (
    as_dict as _dict,
    as_list as _list,
    as_num as _num,
    as_str as _str,
    texts as _texts,
)
from sitescout.inventory.report_style import report_css
from sitescout.inventory.report_topology import device_kind, render_topology_html

__all__ = ["DEFAULT_TIMEZONE", "Finding", "Reader", "survey_findings", "render_survey_html", "local_datetime",
           "AUTH_WORDS", "KIND_WORDS", "PROBLEM_WORDS"]

#: Where the sites are, unless a deployment says otherwise (``sitescout serve --timezone``).
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class Reader:
    """Who reads the report: their catalogue's gettext, their Babel locale, the site's time zone."""

    gettext: Gettext = N_
    locale: str = "en"
    timezone: str = DEFAULT_TIMEZONE

    def _(self, message: str) -> str:
        """Return ``message`` in the reader's language."""
        return self.gettext(message)

    def zone(self) -> ZoneInfo:
        """Return the site's zone (the default one when the name is unknown)."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(DEFAULT_TIMEZONE)

    def number(self, value: float, pattern: str = "#,##0.#") -> str:
        """Return a number as the reader writes it ("1.234,5" in Vietnamese)."""
        return _format_number(value, pattern, self.locale)


@lru_cache(maxsize=4096)
def _format_number(value: float, pattern: str, locale: str) -> str:
    # Babel takes ~30 µs a number; a 3,000-host report repeats the same few hundred figures.
    return format_decimal(value, format=pattern, locale=locale)


@dataclass(frozen=True)
class Finding:
    """One thing the technician should know, with what to do about it."""

    severity: str  # "problem" | "warning" | "info"
    host: str
    text: str
    recommendation: str


#: The camera's answer to our credentials (onvif.auth), as words.
AUTH_WORDS = {
    "ok": N_("credentials accepted"),
    "required": N_("credentials needed, none given"),
    "failed": N_("credentials refused"),
    "not_needed": N_("no credentials needed"),
}
KIND_WORDS = {"camera": N_("camera"), "host": N_("host"), "switch": N_("switch"), "router": N_("router"),
              "loudspeaker": N_("loudspeaker receiver"), "access_point": N_("access point")}
#: A stream's problems (streams[].problems), as words.
PROBLEM_WORDS = {
    "black": N_("black picture"),
    "frozen": N_("frozen picture"),
    "blurred": N_("blurred picture"),
    "fps_mismatch": N_("frame rate below its profile"),
    "size_mismatch": N_("resolution differs from its profile"),
    "stalled": N_("stream stalled"),
}


def survey_findings(doc: dict[str, Any], reader: Reader | None = None) -> list[Finding]:
    """Return the findings of a survey document in the reader's language (English by default), problems first.

    Any field of the document may be null (or, in extra fields, of another type): it reads as absent.
    """
    reader = reader or Reader()
    words: dict[tuple[Any, ...], tuple[str, str]] = {}  # the same finding on many hosts is rendered once
    found = []
    for f in coded_findings(doc):
        key = (f.code, f.text, tuple(sorted((k, repr(v)) for k, v in f.params.items())))
        if key not in words:
            words[key] = render_finding(f, reader.gettext, reader.locale)
        found.append(Finding(f.severity, f.host, *words[key]))
    return found


def local_datetime(stamp: Any, reader: Reader) -> str:
    """Return an ISO 8601 time of the document in the site's zone, as the reader writes it (unreadable: as given)."""
    try:
        moment = datetime.fromisoformat(_str(stamp))
    except ValueError:
        return _str(stamp)  # the caller escapes it
    moment = moment if moment.tzinfo else moment.replace(tzinfo=_utc_zone.utc)
    return format_datetime(moment.astimezone(reader.zone()), "medium", locale=reader.locale)


def _word(table: dict[str, str], value: Any, reader: Reader) -> str:
    """A code as words; a value the table does not know is shown as it is (device data, escaped later)."""
    text = _str(value)
    return reader._(table[text]) if text in table else text


def _size(item: dict[str, Any], reader: Reader) -> str:
    width, height = _num(item.get("width")), _num(item.get("height"))
    if not width and not height:
        return ""
    return f"{reader.number(width or 0, '0')}×{reader.number(height or 0, '0')}"


def _uri(value: Any) -> str:
    return f'<code class="uri">{escape(_str(value))}</code>'


def _profile_rows(onvif: dict[str, Any], reader: Reader) -> str:
    _ = reader._
    stream_word, snapshot_word = escape(_("stream")), escape(_("snapshot"))
    rows = []
    for p in map(_dict, _list(onvif.get("profiles"))):
        fps_limit, bitrate = _num(p.get("fps_limit")), _num(p.get("bitrate_kbps"))
        figures = [escape(_str(p.get("encoding"))), _size(p, reader),
                   _("{value} fps").format(value=reader.number(fps_limit)) if fps_limit else "",
                   _("{value} kbit/s").format(value=reader.number(bitrate, "#,##0")) if bitrate else ""]
        name = escape(_str(p.get("name")) or _str(p.get("token")))
        cells = f'<div class="line"><b>{name}</b> · {" · ".join(f for f in figures if f)}</div>'
        if p.get("stream_uri"):
            cells += f'<div class="line">{stream_word}: {_uri(p.get("stream_uri"))}</div>'
        if p.get("snapshot_uri"):
            cells += f'<div class="line">{snapshot_word}: {_uri(p.get("snapshot_uri"))}</div>'
        rows.append(f'<li>{cells}</li>')
    return _items(rows, reader)


def _items(rows: list[str], reader: Reader) -> str:
    none = escape(reader._("none"))
    return f'<ul class="items">{"".join(rows)}</ul>' if rows else f'<p class="none">{none}</p>'


def _stream_state(st: dict[str, Any], reader: Reader) -> str:
    _ = reader._
    if st.get("up") is None:
        return _("not checked")
    if not st.get("up"):
        return _("stream stalled") if st.get("stalled") else _("stream down")
    parts = [_("{value} fps").format(value=reader.number(_num(st.get("fps")) or 0)), _size(st, reader)]
    bitrate = _num(st.get("bitrate_kbps"))
    if bitrate:
        parts.append(_("{value} kbit/s").format(value=reader.number(bitrate, "#,##0")))
    return ", ".join(p for p in parts if p)


def _stream_rows(host: dict[str, Any], reader: Reader) -> str:
    rows = []
    for st in map(_dict, _list(host.get("streams"))):
        name = stream_name(st) if st.get("profiles") or st.get("profile") else ""
        problems = [_word(PROBLEM_WORDS, p, reader) for p in _texts(st.get("problems"))]
        if not problems:
            problems = [reader._(PROBLEM_WORDS[p]) for p in ("black", "frozen") if st.get(p)]
        trouble = f' <span class="problem">{escape(", ".join(problems))}</span>' if problems else ""
        head = f"<b>{escape(name)}</b>: " if name else ""
        rows.append(f'<li><div class="line">{head}{escape(_stream_state(st, reader))}{trouble}</div>'
                    f'<div class="line">{_uri(st.get("uri"))}</div></li>')
    return _items(rows, reader)


def _snapshot(host: dict[str, Any], reader: Reader) -> str:
    snap = _dict(host.get("snapshot"))
    data = _str(snap.get("jpeg_base64"))
    if not data:
        error = _str(snap.get("error"))
        return f'<p class="none">{escape(error)}</p>' if error else ""
    # Only base64 characters reach the attribute: the value came from our own encoder.
    safe = "".join(c for c in data if c.isalnum() or c in "+/=")
    alt = reader._("snapshot of {ip}").format(ip=_str(host.get("ip")))
    return f'<img class="snap" alt="{escape(alt)}" src="data:image/jpeg;base64,{safe}">'


def _camera_card(h: dict[str, Any], reader: Reader) -> str:
    _ = reader._
    onvif = _dict(h.get("onvif"))
    maker = maker_and_model(_str(onvif.get("manufacturer")), _str(onvif.get("model")))
    facts = [(_("Firmware"), escape(_str(onvif.get("firmware")))), (_("Serial"), escape(_str(onvif.get("serial")))),
             (_("MAC"), escape(_str(h.get("mac")))),
             (_("Credentials"), escape(_word(AUTH_WORDS, onvif.get("auth"), reader)))]
    attached = _dict(h.get("attached_to"))
    if attached.get("port"):  # the SNMP stage placed the camera on a switch port
        switch = _str(attached.get("switch")) or _str(attached.get("device"))
        facts.append((_("Switch port"), escape(f"{switch} {_str(attached.get('port'))}")))
    fact_rows = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in facts)
    snapshot = _snapshot(h, reader)
    profiles, streams = escape(_("Profiles")), escape(_("Streams"))
    return (f'<section class="camera"><h3>{escape(_str(h.get("ip")))} · {escape(maker)}</h3>'
            f'<table class="top"><tr><td class="factbox"><table class="facts">{fact_rows}</table></td>'
            f'{f"<td class=snapbox>{snapshot}</td>" if snapshot else ""}</tr></table>'
            f'<h4>{profiles}</h4>{_profile_rows(onvif, reader)}'
            f'<h4>{streams}</h4>{_stream_rows(h, reader)}</section>')


def _cards(cameras: list[dict[str, Any]], reader: Reader) -> str:
    none = escape(reader._("none"))
    return "".join(_camera_card(h, reader) for h in cameras) or f'<p class="none">{none}</p>'


def _table(headers: list[str], rows: str, css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _finding_rows(doc: dict[str, Any], reader: Reader) -> str:
    rows = "".join(
        f'<tr><td class="{f.severity}">{escape(severity_label(f.severity, reader.gettext))}</td>'
        f"<td>{escape(f.host)}</td><td>{escape(f.text)}</td><td>{escape(f.recommendation)}</td></tr>"
        for f in survey_findings(doc, reader)
    )
    nothing = escape(reader._("nothing to report"))
    return rows or f'<tr><td colspan="4">{nothing}</td></tr>'


def _kind_cell(h: dict[str, Any], reader: Reader) -> str:
    """The host's kind and, when its web page had one, that page's title (what the device calls itself)."""
    kind = escape(_word(KIND_WORDS, device_kind(h), reader))
    title = _str(_dict(h.get("http")).get("title"))
    if not title:
        return kind
    words = reader._(N_("web page: “{title}”")).format(title=title[:128])
    return f'{kind}<br><span class="http-title">{escape(words)}</span>'


def _host_rows(hosts: list[dict[str, Any]], reader: Reader) -> str:
    return "".join(
        f"<tr><td>{escape(_str(h.get('ip')))}</td><td>{escape(_str(h.get('mac')))}</td>"
        f"<td>{escape(_str(h.get('vendor')))}</td><td>{_kind_cell(h, reader)}</td>"
        f"<td>{escape(' '.join(_str(p) for p in _list(h.get('open_ports')) if p is not None))}</td></tr>"
        for h in hosts
    )


def render_survey_html(doc: dict[str, Any], reader: Reader | None = None) -> str:
    """Return a self-contained printable HTML report of a survey document (null fields read as absent)."""
    reader = reader or Reader()
    _ = reader._
    hosts = [_dict(h) for h in _list(doc.get("hosts"))]
    cameras = [h for h in hosts if h.get("kind") == "camera" and h.get("onvif")]
    site = escape(_str(doc.get("site")))
    title = escape(_("Survey report"))
    started = local_datetime(doc.get("started_at"), reader)
    zone = reader.zone()
    zone_name = f"{zone.key} ({get_timezone_gmt(datetime.now(zone), locale=reader.locale)})"
    meta = [(_("Networks"), escape(", ".join(_texts(doc.get("networks"))))), (_("Started"), escape(started)),
            (_("Finished"), escape(local_datetime(doc.get("finished_at"), reader))),
            (_("Time zone"), escape(zone_name)),
            (_("Devices"), reader.number(len(hosts), "#,##0")),
            (_("Cameras"), reader.number(sum(h.get("kind") == "camera" for h in hosts), "#,##0"))]
    meta_rows = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in meta)
    findings = _table([_("Severity"), _("Device"), _("Finding"), _("Recommendation")], _finding_rows(doc, reader),
                      "findings")
    host_table = _table([_("IP"), _("MAC"), _("Maker"), _("Kind"), _("Open ports")], _host_rows(hosts, reader), "hosts")
    cards = _cards(cameras, reader)
    diagram = render_topology_html(doc, reader.gettext, lambda kind: _word(KIND_WORDS, kind, reader), reader.number)
    topology_word = escape(_("Network topology"))
    topology = f'<h2>{topology_word}</h2><div class="topology">{diagram}</div>' if diagram else ""
    words = {k: escape(v) for k, v in (("findings", _("Findings and recommendations")), ("cameras", _("Cameras")),
                                       ("devices", _("All devices")))}
    css = report_css(_("Page"))
    running = f"{title} — {site} — {escape(started)}"
    return f"""<!doctype html>
<html lang="{escape(reader.locale)}"><head><meta charset="utf-8"><title>{title} — {site}</title>
<style>{css}</style></head><body>
<div class="running">{running}</div>
<h1>{title} — {site}</h1>
<table class="meta">{meta_rows}</table>
<h2>{words["findings"]}</h2>
{findings}
{topology}
<h2>{words["cameras"]}</h2>
{cards}
<h2>{words["devices"]}</h2>
{host_table}
</body></html>
"""
