"""Why a mount cannot be used, in the command's language: `inventory.planning.feasibility.Reason` codes as words.

The planner keeps each reason as a code with parameters; the web renders them with Flask-Babel
(web/plan_words.py), the command here with its own ``cli`` catalogue (no web import from the CLI).
The sentences are the same as the web's, with ``{name}`` placeholders.
"""

from __future__ import annotations

from typing import Any

from sitescout.i18n import N_, _, language

__all__ = ["REASONS", "LEVELS", "reason_text", "level_text", "network_text", "solution_text", "camera_text",
           "port_text", "number"]

#: Decimals of a parameter that is a percentage (0–100), written with the locale's percent sign.
_PERCENT = -2
#: code -> (sentence, {placeholder: (parameter, decimals)}); decimals -1: the value as given.
REASONS: dict[str, tuple[str, dict[str, tuple[str, int]]]] = {
    "no_power": (N_("no power at the mount; bring mains or a PoE cable"), {}),
    "no_cable_route": (N_("no cable route to a switch"), {}),
    "cable_too_long": (N_("cable route {cable} m exceeds the {max} m permanent link; add a PoE extender "
                          "or switch, fibre, or a radio link"), {"cable": ("cable_m", 0), "max": ("max_m", 0)}),
    "channel_too_long": (N_("cable {cable} m plus {patch} m of patch cords exceeds the {max} m channel; "
                            "shorten the patch cords or add a switch"),
                         {"cable": ("cable_m", 0), "patch": ("patch_m", 0), "max": ("max_m", 0)}),
    "unknown_uplink": (N_("unknown uplink {uplink}"), {"uplink": ("uplink", -1)}),
    "poe_without_switch": (N_("PoE mount without a known switch; name its switch"), {}),
    "uplink_headroom": (N_("uplink {uplink} has {headroom} kb/s of headroom, the stream needs {need} kb/s"),
                        {"uplink": ("uplink", -1), "headroom": ("headroom_kbps", 0), "need": ("need_kbps", 0)}),
    "radio_capacity": (N_("radio link carries {capacity} kb/s, the stream needs {need} kb/s"),
                       {"capacity": ("capacity_kbps", 0), "need": ("need_kbps", 0)}),
    "port_power": (N_("draws {power} W, the switch port gives {port} W"),
                   {"power": ("power_w", 1), "port": ("port_w", 1)}),
    "poe_budget": (N_("switch {switch} has {left} W of PoE budget left, the camera draws {power} W"),
                   {"switch": ("switch", -1), "left": ("left_w", 1), "power": ("power_w", 1)}),
    "radio_no_length": (N_("radio link has no length"), {}),
    "radio_clearance": (N_("radio link over {distance} m: line of sight {los} m needs {need} m ({share} of the "
                           "first Fresnel zone plus earth bulge); raise the antennas or move the link"),
                        {"distance": ("distance_m", 0), "los": ("los_m", 1), "need": ("need_m", 1)}),
    "no_free_poe_port": (N_("switch {switch} has no free PoE port"), {"switch": ("switch", -1)}),
    "no_free_port": (N_("switch {switch} has no free port"), {"switch": ("switch", -1)}),
    "uplink_busy": (N_("uplink {uplink} runs at {utilisation} of {speed} Mb/s: {headroom} kb/s of headroom, the "
                       "stream needs {need} kb/s"),
                    {"uplink": ("uplink", -1), "utilisation": ("utilisation_pct", _PERCENT), "speed": ("speed_mbps", 1),
                     "headroom": ("headroom_kbps", 0), "need": ("need_kbps", 0)}),
}


#: DORI level names (inventory/planning/dori.py, both profiles) as words; docs/glossary.md "DORI levels".
#: The profiles and the JSON keep the standard's English names (codes); the table says them.
LEVELS: dict[str, str] = {
    # IEC 62676-4:2014
    "Monitor": N_("Monitor"), "Detect": N_("Detect"), "Observe": N_("Observe"), "Recognise": N_("Recognise"),
    "Identify": N_("Identify"), "Inspect": N_("Inspect"),
    # IEC 62676-4:2025
    "Overview": N_("Overview"), "Outline": N_("Outline"), "Discern": N_("Discern"), "Perceive": N_("Perceive"),
    "Characterize": N_("Characterize"), "Validate": N_("Validate"), "Scrutinize": N_("Scrutinize"),
}


def level_text(level: str) -> str:
    """Return a DORI level's name in the command's language (a name not in LEVELS as it is)."""
    return _(LEVELS[level]) if level in LEVELS else level


def _value(value: Any, decimals: int) -> str:
    """Return a parameter as the reader writes it: numbers with the locale's separators, names as they are."""
    if decimals == _PERCENT and isinstance(value, (int, float)) and not isinstance(value, bool):
        from babel.numbers import format_percent

        return str(format_percent(float(value) / 100.0, locale=language()))
    if decimals < 0 or not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return str(format_decimal(round(float(value), decimals), format=pattern, locale=language()))


def reason_text(reason: Any) -> str:
    """Return a reason (a feasibility.Reason, or its dict) in the command's language; unknown codes as given."""
    item = reason.to_dict() if hasattr(reason, "to_dict") else reason
    if not isinstance(item, dict) or item.get("code") not in REASONS:
        return str(reason)
    from babel.numbers import format_percent

    sentence, params = REASONS[item["code"]]
    values = {name: _value(item.get(key), digits) for name, (key, digits) in params.items()}
    # The Fresnel share is a placeholder: a bare "60 %" would read as a %-format in the catalogue.
    text = _(sentence).format(share=format_percent(0.6, locale=language()), **values)
    return f"{item['model']}: {text}" if item.get("model") else text


_SOURCES = {"survey": N_("the survey"), "typed": N_("typed numbers"), "mixed": N_("mixed sources"),
            "none": N_("nowhere")}


def network_text(network: dict[str, Any] | None) -> str:
    """Return, in the command's language, where a plan's PoE, port and uplink limits came from."""
    network = network or {}
    if network.get("source") != "survey":
        return _("network: typed numbers (no survey with SNMP data for this site)")
    age = network.get("age_days")
    return _("network facts from the survey of {date} ({days} days old): PoE budget and free ports from {poe}, "
             "uplink from {uplink}").format(
        date=str(network.get("surveyed_at"))[:10], days=_value(age, 0) if age is not None else "?",
        poe=_(_SOURCES.get(str(network.get("poe")), str(network.get("poe")))),
        uplink=_(_SOURCES.get(str(network.get("uplink")), str(network.get("uplink")))))


#: A solution's status, the answer kept and a bitrate's source (inventory/planning/placement.py,
#: feasibility.bitrate_kbps) as words; codes not here are printed as they are.
_STATUS = {"optimal": N_("optimal"), "time_limit": N_("time limit reached"), "greedy_only": N_("greedy only")}
_METHOD = {"milp": N_("MILP"), "greedy": N_("greedy")}
_BITRATE_SOURCES = {"measured": N_("measured"), "catalogue": N_("catalogue"), "table": N_("bitrate table")}


def _word(table: dict[str, str], code: Any) -> str:
    return _(table[code]) if code in table else str(code)


def solution_text(site: str, chosen: int, solution: Any) -> str:
    """Return the summary line of `sitescout plan place` in the command's language, numbers per locale."""
    from babel.numbers import format_percent

    from sitescout.i18n import ngettext

    gap = _("unknown") if solution.gap is None else str(
        format_percent(solution.gap, format="#,##0.00%", locale=language()))
    return ngettext(
        "{site}: {count} camera, weighted coverage {objective} of {total}, gap {gap} ({status}; answer from "
        "{method}; greedy {greedy})",
        "{site}: {count} cameras, weighted coverage {objective} of {total}, gap {gap} ({status}; answer from "
        "{method}; greedy {greedy})", chosen).format(
        site=site, count=chosen, objective=_fixed(solution.objective, 3), total=_fixed(solution.total_weight, 3),
        gap=gap, status=_word(_STATUS, solution.status), method=_word(_METHOD, solution.method),
        greedy=_fixed(solution.greedy_objective, 3))


def camera_text(heading_deg: float, hfov_deg: float, bitrate_kbps: float, source: str) -> str:
    """Return a chosen camera's heading, field of view and bitrate in the command's language."""
    return _("heading {heading}°  HFOV {hfov}°  {bitrate} kb/s ({source})").format(
        heading=_fixed(heading_deg, 0).rjust(5), hfov=_fixed(hfov_deg, 1).rjust(5),
        bitrate=_fixed(bitrate_kbps, 0), source=_word(_BITRATE_SOURCES, source))


def _fixed(value: float, decimals: int) -> str:
    """Return a number with exactly `decimals` decimals, the locale's separators."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return str(format_decimal(round(float(value), decimals), format=pattern, locale=language()))


def port_text(port: Any) -> str:
    """Return a camera's proposed switch port ("sw1 p3"), "none free on sw1" in the command's language, or "–"."""
    if port is None:
        return "–"
    return f"{port.switch} {port.port}" if port.port else _("none free on {switch}").format(switch=port.switch)


def number(value: float, decimals: int) -> str:
    """Return a number with the locale's separators: `decimals` decimals exactly, or as few as it needs (-1)."""
    if decimals >= 0:
        return _fixed(value, decimals)
    from babel.numbers import format_decimal

    return str(format_decimal(value, format="#,##0.###", locale=language()))
