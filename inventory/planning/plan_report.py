"""A solved plan on paper: the bill of materials (rows and CSV) and the printable HTML report."""

from __future__ import annotations

import csv
import io
from collections import Counter
from html import escape
from typing import Any

import numpy as np

from sitescout.inventory.importexport import neutralise_formula

from .network_limits import PortAssignment
from .plan_io import LEVEL_COLOURS, PlanResult, camera_bands, plan_summary

__all__ = ["bom_rows", "bom_csv", "bom_total", "plan_sketch_svg", "poi_labels", "port_text", "network_text",
           "render_plan_html"]

def bom_rows(result: PlanResult) -> list[dict[str, Any]]:
    """Return the bill of materials: cameras by model, cable, patch cords and radio links."""
    rows: list[dict[str, Any]] = []
    models = {m.model: m for m in result.input.models}
    for model, qty in sorted(Counter(p.model for p in result.chosen).items()):
        price = models[model].price
        rows.append({"item": "camera", "model": model, "quantity": qty, "unit": "pcs",
                     "unit_price": price, "total_price": round(price * qty, 2),
                     "note": f"{models[model].width_px}x{models[model].height_px}, {models[model].codec}"})
    mounts = {result.input.mounts[p.mount_index].id: result.input.mounts[p.mount_index] for p in result.chosen}
    cable = sum(m.cable_m or 0.0 for m in mounts.values() if m.bridge is None or (m.cable_m or 1e9) <= 90)
    prices = result.input.prices
    if cable:
        unit = prices.get("cable_per_m", 0.0)
        rows.append({"item": "outdoor Cat6 cable", "model": "", "quantity": round(cable, 1), "unit": "m",
                     "unit_price": unit, "total_price": round(unit * cable, 2), "note": "routes from the survey"})
    radios = [m for m in mounts.values() if m.bridge is not None and (m.cable_m is None or m.cable_m > 90)]
    if radios:
        unit = prices.get("bridge_pair", 0.0)
        rows.append({"item": "wireless bridge pair", "model": "", "quantity": len(radios), "unit": "pairs",
                     "unit_price": unit, "total_price": round(unit * len(radios), 2),
                     "note": ", ".join(sorted(m.id for m in radios))})
    rows.append({"item": "TOTAL", "model": "", "quantity": "", "unit": "", "unit_price": "",
                 "total_price": round(sum(float(r["total_price"]) for r in rows), 2), "note": ""})
    return rows


def bom_csv(result: PlanResult) -> str:
    """Return the bill of materials as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["item", "model", "quantity", "unit", "unit_price", "total_price",
                                             "note"], lineterminator="\n")
    writer.writeheader()
    # Model names, mount ids and notes come from the plan's input: a spreadsheet must not run them.
    writer.writerows({k: neutralise_formula(v) if isinstance(v, str) else v for k, v in row.items()}
                     for row in bom_rows(result))
    return out.getvalue()


def plan_sketch_svg(result: PlanResult) -> str:
    """Return a plan sketch (local metres, north up) as inline SVG."""
    inp = result.input
    bands = [band for pose in result.chosen for band in camera_bands(result, pose)]
    pts = [[d.x, d.y] for d in inp.demand] + [[m.x, m.y] for m in inp.mounts]
    # Every wedge whole inside the sketch, not cut at the edge of the points of interest.
    rings = [np.asarray(b.ring, dtype=float).reshape(-1, 2) for b in bands]
    xy = np.concatenate([np.array(pts, dtype=float).reshape(-1, 2), *rings])
    lo, hi = xy.min(axis=0) - 15, xy.max(axis=0) + 15
    span = float(max(hi - lo))
    scale = 640.0 / span

    def p(x: float, y: float) -> str:
        return f"{(x - lo[0]) * scale:.1f},{(hi[1] - y) * scale:.1f}"

    parts = []
    a, b = inp.obstacles.a, inp.obstacles.b
    for (ax, ay), (bx, by) in zip(a, b):
        parts.append(
            f'<line x1="{(ax - lo[0]) * scale:.1f}" y1="{(hi[1] - ay) * scale:.1f}" '
            f'x2="{(bx - lo[0]) * scale:.1f}" y2="{(hi[1] - by) * scale:.1f}" stroke="#555" stroke-width="2"/>'
        )
    for band in bands:
        pts_s = " ".join(p(x, y) for x, y in band.ring)
        colour = LEVEL_COLOURS.get(band.level, "#888")
        parts.append(f'<polygon points="{pts_s}" fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>')
    for d, cov in zip(inp.demand, result.covered):
        if d.area == "background":
            continue
        x, y = p(d.x, d.y).split(",")
        parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{"#222" if cov else "#fff"}" stroke="#222"/>')
    parts += _labels(result, p)
    for m, check in zip(inp.mounts, result.checks):
        x, y = p(m.x, m.y).split(",")
        colour = "#1f78b4" if check.is_feasible else "#b2182b"
        parts.append(f'<rect x="{float(x) - 4:.1f}" y="{float(y) - 4:.1f}" width="8" height="8" fill="{colour}">'
                     f'<title>{escape(m.id)}</title></rect>')
    height = (hi[1] - lo[1]) * scale
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height:.0f}" '
            f'viewBox="0 0 640 {height:.0f}" role="img" aria-label="plan sketch">{"".join(parts)}</svg>')


def poi_labels(result: PlanResult) -> list[tuple[str, float, float]]:
    """Return (label, x, y) in local metres of each point and area of interest: its given name, else its id."""
    inp = result.input
    groups: dict[str, list[tuple[float, float]]] = {}
    for d in inp.demand:
        if d.area != "background":
            groups.setdefault(d.area or d.id, []).append((d.x, d.y))
    return [(inp.names.get(key) or key, float(np.mean([q[0] for q in pts])), float(np.mean([q[1] for q in pts])))
            for key, pts in groups.items()]


def _labels(result: PlanResult, p: Any) -> list[str]:
    """Return the SVG text of every point and area of interest, beside it, with a white halo for the wedges."""
    out = []
    for label, x, y in poi_labels(result):
        sx, sy = (float(v) for v in p(x, y).split(","))
        out.append(f'<text class="poi-label" x="{sx + 5:.1f}" y="{sy - 5:.1f}" font-size="11" '
                   f'font-family="sans-serif" fill="#111" stroke="#fff" stroke-width="3" paint-order="stroke">'
                   f'{escape(label)}</text>')
    return out


def port_text(port: PortAssignment | None) -> str:
    """Return a camera's proposed switch port ("sw1 p3"), "none free on sw1", or "–" on no surveyed switch."""
    if port is None:
        return "–"
    return f"{port.switch} {port.port}" if port.port else f"none free on {port.switch}"


def network_text(network: dict[str, Any]) -> str:
    """Return, in English, where the plan's PoE, port and uplink limits came from."""
    if network.get("source") != "survey":
        return "network: typed numbers (no survey with SNMP data for this site)"
    age = network.get("age_days")
    text = (f"network facts from the survey of {str(network.get('surveyed_at'))[:10]}"
            f"{'' if age is None else f' ({age:g} days old)'}: PoE budget from {network.get('poe')}, ports from "
            f"{network.get('ports')}, uplink from {network.get('uplink')}")
    for s in network.get("switches") or []:
        util = s.get("uplink_utilisation")
        uplink = ("uplink unknown" if not s.get("uplink_port") else
                  f"uplink {s['uplink_port']} {(s.get('uplink_speed_bps') or 0) / 1e6:g} Mb/s at "
                  + (f"{util:.0%}" if util is not None else "unknown utilisation (no two counter reads)"))
        budget = "no PoE" if s.get("poe_budget_w") is None else \
            f"PoE {s.get('poe_used_w') or 0:g} of {s['poe_budget_w']:g} W"
        text += f"; {s.get('name')}: {budget}, free PoE ports {len(s.get('free_poe_ports') or [])}, {uplink}"
    if network.get("planned_cameras"):
        text += f"; {network['planned_cameras']} camera(s) already planned ({network.get('planned_poe_w'):g} W)"
    return text


def bom_total(result: PlanResult) -> float:
    """Return the bill of materials' total: cameras plus priced cable and radio links."""
    return float(bom_rows(result)[-1]["total_price"])


def render_plan_html(result: PlanResult) -> str:
    """Return a printable, self-contained HTML plan report."""
    inp, sol = result.input, result.solution
    summary = plan_summary(result)
    currency = escape(inp.currency or "(currency not given)")
    gap = "unknown (no bound from the solver)" if sol.gap is None else f"{sol.gap:.2%}"
    rows = []
    ports = result.switch_ports()
    for n, pose in enumerate(result.chosen):
        mount = inp.mounts[pose.mount_index]
        rows.append(f"<tr><td>{result.camera_id(n)}</td><td>{escape(pose.mount_id)}</td>"
                    f"<td>{escape(pose.model)}</td><td>{pose.heading_deg:.0f}°</td><td>{pose.hfov_deg:.1f}°</td>"
                    f"<td>{mount.height_m:g} m</td><td>{pose.bitrate_kbps:.0f} ({escape(pose.bitrate_source)})</td>"
                    f"<td>{escape(port_text(ports[n]))}</td><td>{pose.price:g}</td></tr>")
    covered = result.covered
    per_target: dict[str, list[Any]] = {}
    for d, cov in zip(inp.demand, covered):
        key = d.area or d.id
        entry = per_target.setdefault(key, [d.level, 0.0, 0.0])
        entry[1] += d.weight * cov
        entry[2] += d.weight
    demand_rows = "".join(
        f"<tr><td>{escape(inp.names.get(k) or k)}</td><td>{escape(v[0])}</td>"
        f"<td>{(v[1] / v[2] if v[2] else 0):.0%}</td></tr>"
        for k, v in per_target.items())
    infeasible = "".join(
        f"<tr><td>{escape(m.id)}</td><td>{'<br>'.join(escape(r) for r in c.all_reasons())}</td></tr>"
        for m, c in zip(inp.mounts, result.checks) if c.all_reasons()) or '<tr><td colspan="2">none</td></tr>'
    bom = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r.values()) + "</tr>"
                  for r in bom_rows(result))
    legend = " ".join(f'<span style="background:{LEVEL_COLOURS.get(n, "#888")};padding:0 .5em">{escape(n)}</span>'
                      for n in inp.profile.headline)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Camera plan — {escape(inp.site)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}@media print{{body{{margin:0}}}}</style></head>
<body><h1>Camera plan — {escape(inp.site)}</h1>
<p>Profile {escape(inp.profile.name)}; target height {inp.target_height_m:g} m; up to {result.k} cameras
{'' if result.budget is None else f'within a budget of {result.budget:g}'}.</p>
<table><tr><th>cameras chosen</th><td>{len(sol.chosen)}</td></tr>
<tr><th>weighted coverage</th><td>{sol.objective:.3f} of {sol.total_weight:.3f}
({(sol.objective / sol.total_weight if sol.total_weight else 0):.1%})</td></tr>
<tr><th>optimality gap</th><td>{gap} — solver status {escape(sol.status)}, answer from {escape(sol.method)},
greedy reached {sol.greedy_objective:.3f}</td></tr>
<tr><th>total cost (bill of materials)</th><td class="total-cost">{bom_total(result):,.2f} {currency}</td></tr>
<tr><th>of which cameras</th><td>{summary['cost']:,.2f} {currency}</td></tr></table>
<h2>Plan sketch</h2><p>North up; squares are mounts (red: infeasible), dots are points of interest
(filled: seen at the required level), labelled with their names. {legend}</p>{plan_sketch_svg(result)}
<p class="network">{escape(network_text(inp.network))}</p>
<h2>Cameras</h2><table><tr><th>camera</th><th>mount</th><th>model</th><th>heading</th><th>HFOV</th>
<th>height</th><th>bitrate kb/s</th><th>switch port</th><th>price</th></tr>{''.join(rows)}</table>
<h2>Points and areas of interest</h2><table><tr><th>target</th><th>level</th><th>covered</th></tr>{demand_rows}</table>
<h2>Mounts that cannot be used</h2><table><tr><th>mount</th><th>reasons</th></tr>{infeasible}</table>
<h2>Bill of materials</h2><table class="bom"><tr><th>item</th><th>model</th><th>qty</th><th>unit</th><th>unit price</th>
<th>total ({currency})</th><th>note</th></tr>{bom}</table>
</body></html>
"""
