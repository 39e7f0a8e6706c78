"""The printable survey report: findings and recommendations from one survey document.

Pure functions over the survey document (a dict, as in BRIEF.md), so the
command line and the web use the same report.  Every value is escaped; the
document never carries credentials, and nothing here adds any.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["Finding", "survey_findings", "render_survey_html"]

#: A camera clock further off than this breaks WS-Security and evidence timestamps.
CLOCK_SKEW_LIMIT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One thing the technician should know, with what to do about it."""

    severity: str  # "problem" | "warning" | "info"
    host: str
    text: str
    recommendation: str


def survey_findings(doc: dict[str, Any]) -> list[Finding]:
    """Return the findings of a survey document, problems first."""
    findings: list[Finding] = []
    for host in doc.get("hosts", []):
        ip = host.get("ip", "?")
        onvif = host.get("onvif") or {}
        offset = onvif.get("clock_offset_s")
        if offset is not None and abs(offset) > CLOCK_SKEW_LIMIT_S:
            findings.append(Finding(
                "warning", ip, f"camera clock is off by {_duration(offset)}",
                "set the camera to use the site's NTP server; footage timestamps are wrong until then",
            ))
        auth = onvif.get("auth")
        if auth == "required":
            findings.append(Finding("warning", ip, "camera needs credentials and none were given",
                                    "add this camera's account to the credentials file and survey again"))
        elif auth == "failed":
            findings.append(Finding("problem", ip, "no credential set was accepted",
                                    "check the camera's account; attempts are capped to avoid lock-outs"))
        if host.get("kind") == "camera" and onvif and not onvif.get("profiles") and auth in ("ok", "not_needed"):
            findings.append(Finding("problem", ip, "camera reports no media profiles",
                                    "check the camera's stream configuration"))
        for note in onvif.get("findings", []):
            if "clock" in note:  # the skew finding above says it with a recommendation
                continue
            findings.append(Finding("info", ip, note, "check the camera's network settings (NAT or stale address)"))
        link = host.get("link")
        if link and link.get("loss_ratio", 0) > 0.01:
            findings.append(Finding("problem", ip, f"link loses {link['loss_ratio']:.0%} of packets",
                                    "check the cable, switch port or radio link"))
        for stream in host.get("streams", []):
            findings.extend(_stream_findings(ip, stream))
        if host.get("kind") == "host" and not host.get("vendor") and not host.get("open_ports"):
            findings.append(Finding("info", ip, "unknown device (no vendor, no open ports)",
                                    "identify it on site and record it in the inventory"))
        for error in host.get("errors", []):
            if ": unsupported:" in error:  # an optional ONVIF operation the camera lacks
                findings.append(Finding("info", ip, error, "none needed: the camera does not offer this"))
            else:
                findings.append(Finding("warning", ip, error, "see the error; survey this device again"))
    order = {"problem": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order.get(f.severity, 3))


_STREAM_ADVICE = {
    "black": ("problem", "black picture", "check the lens cover, IR illuminator and day/night switch"),
    "frozen": ("problem", "frozen picture", "restart the camera's encoder; check it on site"),
    "blurred": ("warning", "blurred picture", "clean the lens or dome, refocus"),
    "fps_mismatch": ("warning", "frame rate below its profile", "check bandwidth and the encoder settings"),
    "size_mismatch": ("warning", "resolution differs from its profile", "check the encoder settings"),
}


def _stream_findings(ip: str, stream: dict[str, Any]) -> list[Finding]:
    name = ", ".join(stream.get("profiles") or []) or stream.get("profile") or stream.get("uri", "")
    found = []
    if not stream.get("up", True):
        what = "stalled" if stream.get("stalled") else "down"
        found.append(Finding("problem", ip, f"stream {what} ({name}): {stream.get('error') or ''}".rstrip(": "),
                             "check the camera's streaming service and the link"))
    problems = stream.get("problems") or [p for p in ("black", "frozen") if stream.get(p)]
    for problem in problems:
        if problem in _STREAM_ADVICE:
            severity, text, advice = _STREAM_ADVICE[problem]
            detail = ""
            if problem == "fps_mismatch" and stream.get("fps") is not None:
                detail = f": {stream['fps']:g} fps, profile says {stream.get('expected_fps') or '?'}"
            elif problem == "size_mismatch":
                detail = (f": {stream.get('width')}×{stream.get('height')}, profile says "
                          f"{stream.get('expected_width')}×{stream.get('expected_height')}")
            found.append(Finding(severity, ip, f"{text} ({name}){detail}", advice))
    return found


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    if s < 120:
        return f"{sign}{s:.1f} s"
    if s < 7200:
        return f"{sign}{s / 60:.0f} min"
    if s < 172800:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} days"


_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #555; margin-top: .2em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eee; } .problem { color: #a00; font-weight: bold; } .warning { color: #a60; }
.info { color: #246; } img.snap { max-width: 220px; } code { font-size: .9em; word-break: break-all; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
"""


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _profiles(onvif: dict[str, Any]) -> str:
    parts = []
    for p in onvif.get("profiles", []):
        size = f"{p.get('width')}×{p.get('height')}"
        fps = f" @ {p['fps_limit']:g} fps" if p.get("fps_limit") else ""
        uri = f"<br><code>{escape(p['stream_uri'])}</code>" if p.get("stream_uri") else ""
        parts.append(f"{escape(p.get('name') or p.get('token', ''))}: {escape(p.get('encoding', ''))} {size}{fps}{uri}")
    return "<br>".join(parts)


def _streams(host: dict[str, Any]) -> str:
    parts = []
    for st in host.get("streams", []):
        name = escape(", ".join(st.get("profiles") or []) or st.get("profile") or "")
        if st.get("up"):
            state = f"{st.get('fps') or 0:g} fps, {st.get('width')}×{st.get('height')}"
            if st.get("bitrate_kbps"):
                state += f", {st['bitrate_kbps']:.0f} kbit/s"
        else:
            state = "down"
        problems = ", ".join(st.get("problems") or [])
        parts.append(f"{name}: {escape(state)}" + (f' <span class="problem">{escape(problems)}</span>' if problems else ""))
    return "<br>".join(parts)


def _snapshot(host: dict[str, Any]) -> str:
    snap = host.get("snapshot") or {}
    data = snap.get("jpeg_base64")
    if not data:
        return escape(snap.get("error") or "")
    # Only base64 characters reach the attribute: the value came from our own encoder.
    safe = "".join(c for c in data if c.isalnum() or c in "+/=")
    return f'<img class="snap" alt="snapshot of {escape(host.get("ip", ""))}" src="data:image/jpeg;base64,{safe}">'


def render_survey_html(doc: dict[str, Any]) -> str:
    """Return a self-contained printable HTML report of a survey document."""
    hosts = doc.get("hosts", [])
    cameras = [h for h in hosts if h.get("kind") == "camera"]
    findings = survey_findings(doc)
    host_rows = "".join(
        _row([
            escape(h.get("ip", "")), escape(h.get("mac") or ""), escape(h.get("vendor") or ""),
            escape(h.get("kind", "")), escape(" ".join(str(p) for p in h.get("open_ports", []))),
        ])
        for h in hosts
    )
    camera_rows = "".join(
        _row([
            escape(h["ip"]),
            escape(f"{(h['onvif'] or {}).get('manufacturer', '')} {(h['onvif'] or {}).get('model', '')}"),
            escape((h["onvif"] or {}).get("firmware", "")),
            escape((h["onvif"] or {}).get("serial", "")),
            escape((h["onvif"] or {}).get("auth", "")),
            _profiles(h["onvif"] or {}),
            _streams(h),
            _snapshot(h),
        ])
        for h in cameras if h.get("onvif")
    )
    finding_rows = "".join(
        _row([f'<span class="{f.severity}">{escape(f.severity)}</span>', escape(f.host), escape(f.text),
              escape(f.recommendation)])
        for f in findings
    ) or _row(["", "", "nothing to report", ""])
    site = escape(doc.get("site", ""))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Survey report — {site}</title>
<style>{_CSS}</style></head><body>
<h1>Survey report — {site}</h1>
<p class="meta">Networks {escape(", ".join(doc.get("networks", [])))} · started {escape(doc.get("started_at", ""))}
· finished {escape(doc.get("finished_at", ""))} · {len(hosts)} hosts, {len(cameras)} cameras</p>
<h2>Findings and recommendations</h2>
<table><tr><th>Severity</th><th>Host</th><th>Finding</th><th>Recommendation</th></tr>{finding_rows}</table>
<h2>Cameras</h2>
<table><tr><th>IP</th><th>Maker / model</th><th>Firmware</th><th>Serial</th><th>Auth</th><th>Profiles</th>
<th>Streams</th><th>Snapshot</th></tr>
{camera_rows}</table>
<h2>All hosts</h2>
<table><tr><th>IP</th><th>MAC</th><th>Vendor</th><th>Kind</th><th>Open ports</th></tr>{host_rows}</table>
</body></html>
"""
