"""Plan words in the reader's language: DORI level names and why a mount cannot be used, from their codes.

The planner keeps a reason's code and parameters (`inventory.planning.feasibility.Reason`);
the words are made here, at the edge, so a plan solved in English reads in Vietnamese.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_babel import format_date, format_decimal, format_percent, get_locale
from flask_babel import gettext as _

__all__ = ["level_words", "reason_words", "network_lines", "refreshed_lines", "port_words", "add_words"]


def level_words(name: str) -> str:
    """Return a DORI level's name in the reader's language (unknown names as they are)."""
    words = {"Monitor": _("Monitor"), "Detect": _("Detect"), "Observe": _("Observe"), "Recognise": _("Recognise"),
             "Identify": _("Identify"), "Inspect": _("Inspect")}
    return words.get(name, name)


def _n(value: Any, digits: int = 0) -> str:
    if not isinstance(value, (int, float)):
        return str(value)
    return str(format_decimal(round(float(value), digits), format="#,##0" + ("." + "#" * digits if digits else "")))


def _pct(value: Any) -> str:
    """Return a percentage (0–100) as the reader writes it: "85 %" or "85%"."""
    return str(format_percent(float(value) / 100.0)) if isinstance(value, (int, float)) else str(value)


def _prefix(params: dict[str, Any], text: str) -> str:
    return f"{params['model']}: {text}" if params.get("model") else text


_REASONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "no_power": lambda p: _("no power at the mount; bring mains or a PoE cable"),
    "no_cable_route": lambda p: _("no cable route to a switch"),
    "cable_too_long": lambda p: _(
        "cable route %(cable)s m exceeds the %(max)s m permanent link; add a PoE extender "
        "or switch, fibre, or a radio link",
        cable=_n(p.get("cable_m")),
        max=_n(p.get("max_m")),
    ),
    "channel_too_long": lambda p: _(
        "cable %(cable)s m plus %(patch)s m of patch cords exceeds the %(max)s m channel; "
        "shorten the patch cords or add a switch",
        cable=_n(p.get("cable_m")),
        patch=_n(p.get("patch_m")),
        max=_n(p.get("max_m")),
    ),
    "unknown_uplink": lambda p: _("unknown uplink %(uplink)s", uplink=p.get("uplink")),
    "poe_without_switch": lambda p: _("PoE mount without a known switch; name its switch"),
    "uplink_headroom": lambda p: _(
        "uplink %(uplink)s has %(headroom)s kb/s of headroom, the stream needs %(need)s kb/s",
        uplink=p.get("uplink"),
        headroom=_n(p.get("headroom_kbps")),
        need=_n(p.get("need_kbps")),
    ),
    "radio_capacity": lambda p: _(
        "radio link carries %(capacity)s kb/s, the stream needs %(need)s kb/s",
        capacity=_n(p.get("capacity_kbps")),
        need=_n(p.get("need_kbps")),
    ),
    "port_power": lambda p: _(
        "draws %(power)s W, the switch port gives %(port)s W",
        power=_n(p.get("power_w"), 1),
        port=_n(p.get("port_w"), 1),
    ),
    "poe_budget": lambda p: _(
        "switch %(switch)s has %(left)s W of PoE budget left, the camera draws %(power)s W",
        switch=p.get("switch"),
        left=_n(p.get("left_w"), 1),
        power=_n(p.get("power_w"), 1),
    ),
    "radio_no_length": lambda p: _("radio link has no length"),
    "no_free_poe_port": lambda p: _("switch %(switch)s has no free PoE port", switch=p.get("switch")),
    "no_free_port": lambda p: _("switch %(switch)s has no free port", switch=p.get("switch")),
    "uplink_busy": lambda p: _(
        "uplink %(uplink)s runs at %(utilisation)s of %(speed)s Mb/s: %(headroom)s kb/s of headroom, "
        "the stream needs %(need)s kb/s",
        uplink=p.get("uplink"),
        utilisation=_pct(p.get("utilisation_pct")),
        speed=_n(p.get("speed_mbps"), 1),
        headroom=_n(p.get("headroom_kbps")),
        need=_n(p.get("need_kbps")),
    ),
    "radio_clearance": lambda p: _(
        "radio link over %(distance)s m: line of sight %(los)s m needs %(need)s m "
        "(60 %% of the first Fresnel zone plus earth bulge); raise the antennas or "
        "move the link",
        distance=_n(p.get("distance_m")),
        los=_n(p.get("los_m"), 1),
        need=_n(p.get("need_m"), 1),
    ),
}


def reason_words(codes: list[dict[str, Any]]) -> list[str]:
    """Return each reason (a code with parameters) as a sentence in the reader's language."""
    out = []
    for item in codes:
        if not isinstance(item, dict):
            continue
        render = _REASONS.get(str(item.get("code")))
        out.append(_prefix(item, render(item)) if render is not None else str(item.get("text", item.get("code"))))
    return out


def _source(name: Any) -> str:
    words = {"survey": _("the survey"), "typed": _("typed numbers"), "mixed": _("mixed sources"),
             "none": _("nowhere")}
    return words.get(str(name), str(name))


def _switch_line(s: dict[str, Any]) -> str:
    """Return one surveyed switch: PoE use, free PoE ports, uplink speed and utilisation."""
    budget = s.get("poe_budget_w")
    poe = _("no PoE budget read") if budget is None else _(
        "PoE %(used)s of %(budget)s W used", used=_n(s.get("poe_used_w") or 0, 1), budget=_n(budget, 1))
    ports = _("free PoE ports: %(count)s", count=len(s.get("free_poe_ports") or []))
    if not s.get("uplink_port"):
        uplink = _("uplink unknown")
    elif s.get("uplink_utilisation") is None:
        uplink = _("uplink %(port)s, %(speed)s Mb/s, utilisation unknown (needs two counter reads)",
                   port=s["uplink_port"], speed=_n((s.get("uplink_speed_bps") or 0) / 1e6, 1))
    else:
        uplink = _("uplink %(port)s, %(speed)s Mb/s, %(share)s in use", port=s["uplink_port"],
                   speed=_n((s.get("uplink_speed_bps") or 0) / 1e6, 1), share=format_percent(s["uplink_utilisation"]))
    return f"{s.get('name')}: {poe}; {ports}; {uplink}"


def network_lines(network: dict[str, Any] | None) -> list[str]:
    """Return where a plan's PoE, port and uplink limits came from, and the surveyed switches, in the reader's words."""
    network = network or {}
    if network.get("source") != "survey":
        return [_("Network: typed numbers (no survey with SNMP data for this site).")]
    date = _date(network.get("surveyed_at"))
    age = network.get("age_days")
    lines = [_("Network facts from the survey of %(date)s (%(days)s days old).", date=date,
               days=_n(age, 0) if age is not None else "?"),
             _("PoE budget and free ports from %(poe)s; uplink from %(uplink)s.", poe=_source(network.get("poe")),
               uplink=_source(network.get("uplink")))]
    lines += [_switch_line(s) for s in network.get("switches") or [] if isinstance(s, dict)]
    if network.get("planned_cameras"):
        lines.append(_("Cameras already planned at the site: %(count)s, holding %(watts)s W and their ports.",
                       count=network["planned_cameras"], watts=_n(network.get("planned_poe_w"), 1)))
    if network.get("inventory_taken"):
        lines.append(_("Ports taken in the inventory since the survey: %(ports)s.",
                       ports=", ".join(str(p) for p in network["inventory_taken"])))
    return lines


def _date(value: Any) -> str:
    try:
        return str(format_date(datetime.fromisoformat(str(value))))
    except ValueError:
        return str(value)


def refreshed_lines(refreshed: dict[str, Any] | None) -> list[str]:
    """Return that a plan was evaluated again because the site's network facts changed, and with what before."""
    if not isinstance(refreshed, dict):
        return []
    previous = refreshed.get("previous") or {}
    before = (_("the survey of %(date)s", date=_date(previous.get("surveyed_at")))
              if previous.get("source") == "survey" else _("typed numbers"))
    lines = [_("Network facts updated on %(date)s (they were from %(before)s); feasibility evaluated again.",
               date=_date(refreshed.get("at")), before=before)]
    if refreshed.get("verdict_changed"):
        lines.append(_("The verdict changed with the new facts: every camera can go where it is.")
                     if refreshed.get("feasible") else
                     _("The verdict changed with the new facts: some cameras cannot go where they are."))
    return lines


def port_words(port: dict[str, Any] | None) -> str:
    """Return a camera's proposed switch port ("sw1 p3"), or that its switch has none free."""
    if not port:
        return "–"
    if port.get("port"):
        return f"{port.get('switch')} {port['port']}"
    return _("none free on %(switch)s", switch=port.get("switch"))


# ---------------------------------------------------------------------------
# A workbench answer's words (web/workbench.py).


def add_words(geojson: dict[str, Any]) -> None:
    """Give reasons and levels their words in the reader's language beside the codes and English text."""
    levels: dict[str, str] = {}  # a village has hundreds of demand points and a few levels
    for feature in geojson.get("features", []):
        props = feature.get("properties") or {}
        if props.get("kind") == "infeasible_mount":
            props["reasons_text"] = _reason_words(props.get("reason_codes") or [])
        elif props.get("kind") == "camera" and isinstance(props.get("switch_port"), dict):
            port = props["switch_port"]
            props["switch_port_text"] = port_words(port)
            if port.get("reason_codes"):
                props["switch_port_reasons_text"] = _reason_words(port["reason_codes"])
        level = props.get("dori_level")
        if level is not None:
            if level not in levels:
                levels[level] = level_words(level)
            props["dori_level_text"] = levels[level]
    plan = geojson.get("plan") or {}
    for problem in plan.get("camera_problems", []):
        problem["reasons_text"] = reason_words(problem.get("reason_codes") or [])
    if "network" in plan:  # where the PoE, port and uplink limits came from (#15, #18)
        plan["network_lines"] = refreshed_lines(plan.get("network_refreshed")) + network_lines(plan["network"])


#: Reasons rendered lately, by language and codes: a camera move redraws the same unusable mounts.
_WORDS: dict[tuple[str, str], list[str]] = {}
_WORDS_MAX = 512


def _reason_words(codes: list[dict[str, Any]]) -> list[str]:
    key = (str(get_locale()), json.dumps(codes, sort_keys=True, default=str))
    words = _WORDS.get(key)
    if words is None:
        words = reason_words(codes)
        if len(_WORDS) >= _WORDS_MAX:
            _WORDS.clear()
        _WORDS[key] = words
    return list(words)
