"""Findings of a survey document as codes with parameters, and their words in the reader's language.

``coded_findings(doc)`` reads a survey document (a dict, as in BRIEF.md) and returns what the
technician should know, each as a code, a severity and the parameters of its sentence; nothing
here is English until ``render_finding`` makes the text at the edge with the reader's
``gettext`` (the command's ``cli`` catalogue; the web can load the same domain).  A code this
table does not know renders the text stored with it (``CodedFinding.text``), so findings added
elsewhere still print before they get their own sentence (the ``uri_*`` URI rules have theirs).

Pure functions: no Flask, no probes; Babel only for locale-aware numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from babel.numbers import format_decimal, format_percent

from sitescout.inventory.health import (
    AUTH_LEVELS, CLOCK_SKEW_LIMIT_S, LINK_LOSS_WARNING, STREAM_LEVELS, clock_skew_verdict, link_loss_verdict,
)
from sitescout.inventory.lenient import (as_dict as _dict, as_list as _list, as_num as _num, as_str as _str,
                                         texts as _texts)

__all__ = ["CLOCK_SKEW_LIMIT_S", "LINK_LOSS_LIMIT", "CodedFinding", "coded_findings", "render_finding",
           "SEVERITIES", "severity_label", "MESSAGES", "FIELD_LABELS", "snmp_findings", "POE_CAMERA_CLASS_W",
           "SLOW_PORT_BPS", "URI_REASONS", "URI_FIELD_LABELS"]

#: Kept for callers of the old name; the thresholds live in inventory/health.py.
LINK_LOSS_LIMIT = LINK_LOSS_WARNING

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when rendered."""
    return message


@dataclass(frozen=True)
class CodedFinding:
    """One thing the technician should know: a code and its parameters, no words yet."""

    code: str
    severity: str  # "problem" | "warning" | "info"
    host: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # stored words, used only when the code has no sentence here


SEVERITIES = {"problem": N_("problem"), "warning": N_("warning"), "info": N_("info")}

#: code -> (finding, recommendation); ``{name}`` placeholders are the finding's parameters.
MESSAGES: dict[str, tuple[str, str]] = {
    "link_loss": (N_("link loses {loss} of packets"), N_("check the cable, switch port or radio link")),
    "unknown_device": (
        N_("unknown device (no vendor, no open ports)"),
        N_("identify it on site and record it in the inventory"),
    ),
    "clock_skew": (
        N_("camera clock is off by {offset_s}"),
        N_("set the camera to use the site's NTP server; footage timestamps are wrong until then"),
    ),
    "auth_required": (
        N_("camera needs credentials and none were given"),
        N_("add this camera's account to the credentials file and survey again"),
    ),
    "auth_failed": (
        N_("no credential set was accepted"),
        N_("check the camera's account; attempts are capped to avoid lock-outs"),
    ),
    "no_profiles": (N_("camera reports no media profiles"), N_("check the camera's stream configuration")),
    "onvif_note": ("{text}", N_("check the camera's network settings (NAT or stale address)")),
    "stream_down": (N_("stream down ({stream})"), N_("check the camera's streaming service and the link")),
    "stream_down_error": (
        N_("stream down ({stream}): {error}"),
        N_("check the camera's streaming service and the link"),
    ),
    "stream_stalled": (N_("stream stalled ({stream})"), N_("check the camera's streaming service and the link")),
    "stream_stalled_error": (
        N_("stream stalled ({stream}): {error}"),
        N_("check the camera's streaming service and the link"),
    ),
    "black": (N_("black picture ({stream})"), N_("check the lens cover, IR illuminator and day/night switch")),
    "frozen": (N_("frozen picture ({stream})"), N_("restart the camera's encoder; check it on site")),
    "blurred": (N_("blurred picture ({stream})"), N_("clean the lens or dome, refocus")),
    "fps_mismatch": (
        N_("frame rate below its profile ({stream}): {fps} fps, profile says {expected_fps}"),
        N_("check bandwidth and the encoder settings"),
    ),
    "size_mismatch": (
        N_("resolution differs from its profile ({stream}): {size}, profile says {expected_size}"),
        N_("check the encoder settings"),
    ),
    "error_unsupported": (
        N_("{operation}: the camera does not offer this optional operation ({detail})"),
        N_("none needed: the camera does not offer this"),
    ),
    "error_auth": (
        N_("{operation}: credentials refused ({detail})"),
        N_("check the camera's account in the credentials file and survey again"),
    ),
    "error_unreachable": (N_("{operation}: no answer ({detail})"), N_("check the link and survey this device again")),
    "error_timeout": (
        N_("{operation}: no answer in time"),  # the detail only repeats the budget, in English
        N_("check the link and survey this device again"),
    ),
    "error_malformed": (N_("{operation}: unreadable answer ({detail})"), N_("see the error; survey this device again")),
    "onvif_fallback": (
        N_("{operation} failed ({detail}); used {used} instead"),
        N_("none needed: the camera does not offer this"),
    ),
    "error": ("{text}", N_("see the error; survey this device again")),
    # What a survey says about the inventory (rows of ingestion; inventory/workflow.py): applied by a person.
    "new_firmware": (
        N_("{device}: firmware changed from {old} to {new}"),
        N_("apply it if the camera was updated on purpose"),
    ),
    "moved_ip": (
        N_("{device}: address changed from {old} to {new}"),
        N_("apply it if the device was moved on purpose"),
    ),
    "changed_mac": (N_("{device}: MAC changed from {old} to {new}"), N_("apply it if the device was replaced")),
    "changed_model": (N_("{device}: {field} changed from {old} to {new}"), N_("apply it if the device was replaced")),
    "changed_serial": (
        N_("{device}: serial number changed from {old} to {new}"),
        N_("apply it if the device was replaced"),
    ),
    "changed_endpoint": (
        N_("{device}: ONVIF endpoint changed from {old} to {new}"),
        N_("apply it if the camera was reset or replaced"),
    ),
    "new_identity": (N_("{device}: {field} is {new}, not in the inventory yet"), N_("apply it to record it")),
    "other_site": (
        N_("{device} belongs to another site but was found here at {ip}"),
        N_("check where it is and correct the inventory"),
    ),
    "missing_device": (
        N_("{device} ({ip}) was not found by the survey"),
        N_("check power and cable; apply it to mark the device offline"),
    ),
    "planned_camera_found": (
        N_("planned camera {device} found at {ip}"),
        N_("apply it if this is the planned camera: it becomes active and monitored"),
    ),
    "planned_device_found": (
        N_("planned device {device} found at {ip}"),
        N_("apply it if this is the planned device: it becomes active and monitored"),
    ),
    "new_streams": (
        N_("{device}: streams found by the survey are not in the inventory ({count})"),
        N_("apply it so the camera's streams are monitored"),
    ),
    # The SNMP stage (probes/snmp/survey_stage.py; docs/survey.md "SNMP").
    "poe_budget_low": (
        N_(
            "{switch}: PoE budget nearly spent: {free_w} W free of {budget_w} W, one more camera "
            "needs up to {class_w} W"
        ),
        N_("power the next camera from another switch or a PoE injector"),
    ),
    # The switch reports no consumption and no per-port draw: its use is what the powered devices claim (LLDP-MED).
    "poe_budget_low_claimed": (
        N_(
            "{switch}: PoE budget nearly spent by what the powered devices claim over LLDP-MED: "
            "{free_w} W free of {budget_w} W, one more camera needs up to {class_w} W"
        ),
        N_("power the next camera from another switch or a PoE injector"),
    ),
    "port_errors": (
        N_("camera port {switch} {port} has {errors} input/output errors"),
        N_("check the cable and its connectors; replace the patch lead"),
    ),
    "port_speed_low": (
        N_("camera on a slow port: {switch} {port} at {speed_mbps} Mbit/s"),
        N_("check the cable (a broken pair drops a link to 10 Mbit/s) and the port settings"),
    ),
    "uplink_down": (
        N_("{switch}: uplink port {port} is down"),
        N_("check the uplink cable or radio link: everything behind this switch is cut off"),
    ),
    "snmp_default_community": (
        N_("the device answers SNMP to a default community ({community})"),
        N_("change or disable the default community: anyone on the network can read the device"),
    ),
    "camera_port_unknown": (
        N_("camera not seen on any switch port"),
        N_("check which switch it is cabled to; survey that switch over SNMP"),
    ),
    "snmp_no_access": (
        N_("SNMP agent answers, but none of the {tried} credentials tried was accepted"),
        N_("add this device's community or v3 user to the [snmp] table of the credentials file"),
    ),
    "snmp_no_credentials": (
        N_("SNMP agent found, not read: the credentials file has no [snmp] table"),
        N_("add the site's SNMP community or v3 user to the [snmp] table of the credentials file"),
    ),
    "snmp_error": (N_("SNMP reading stopped ({kind}): {detail}"), N_("survey this device again")),
    # Two reads of a switch's counters (inventory/snmp_port_findings.py; docs/survey.md "SNMP").
    "uplink_busy": (
        N_("{switch}: uplink {port} is busy: {busy} of its speed in {seconds} s (limit {limit})"),
        N_("the uplink is near its capacity: lower the cameras' bit rates or raise the uplink's speed"),
    ),
    "port_errors_rising": (
        N_("{switch} {port}: {errors} new input/output errors in {seconds} s"),
        N_("errors are rising now: check the cable, its connectors and the duplex setting of both ends"),
    ),
    "port_flapped": (
        N_("{switch} {port} went down and came back {minutes} min ago"),
        N_("a port that drops its link: check the cable, the connectors and the device's power supply"),
    ),
    "duplex_half": (
        N_("{switch} {port} runs at half duplex"),
        N_("set both ends to auto-negotiation (or both to the same full-duplex speed)"),
    ),
    "duplex_mismatch": (
        N_("duplex mismatch on the link {switch} {port} ({duplex}) ⇄ {far_switch} {far_port} ({far_duplex})"),
        N_("set both ends of the link to the same duplex: auto-negotiation on both, or full duplex on both"),
    ),
    # The URI rules of inventory/survey_uris.py (codes of sitescout.device_uris.UriCode): {ip} the host,
    # {new} the other host, the reason (URI_REASONS) or how many texts.
    "uri_rebased": (
        N_("{field} of {ip} pointed at another host ({new}); re-based onto the device's own address"),
        N_("a camera's password goes only to the camera: check its network settings (NAT or a stale address)"),
    ),
    "uri_refused": (
        N_("{field} of {ip} is not a usable URI ({new}); left out"),
        N_("check the addresses the camera advertises in its ONVIF settings"),
    ),
    "uri_userinfo_removed": (
        N_("{field} of {ip} carried a user name or password; removed"),
        N_("keep credentials in the credentials file (stored encrypted), never in a URI"),
    ),
}

#: Why a URI was left out ("{new}" of uri_refused: sitescout.device_uris.bind_to_device).
URI_REASONS = {"unparsable": N_("cannot be read"), "scheme": N_("a scheme not allowed here"),
               "no_host": N_("no host")}
#: Names of the URIs of a survey in the uri_* sentences ("{field}").
URI_FIELD_LABELS = {
    "endpoint": N_("the ONVIF endpoint"), "xaddr": N_("an ONVIF address (XAddr)"),
    "service": N_("an ONVIF service address"), "stream_uri": N_("a profile's stream URI"),
    "snapshot_uri": N_("a profile's snapshot URI"), "stream": N_("a checked stream's URI"),
    "snapshot": N_("the snapshot's URI"), "text": N_("a text"),
}

# The switch reports no consumption and no per-port draw: its use is what the powered devices request in the
# IEEE 802.3at power-via-MDI TLV (some of them perhaps in the LLDP-MED one; probes/snmp/survey_stage.py).
MESSAGES.update({
    "poe_budget_low_claimed_lldp": (
        N_(
            "{switch}: PoE budget nearly spent by what the powered devices request over LLDP (IEEE 802.3at "
            "power TLV): {free_w} W free of {budget_w} W, one more camera needs up to {class_w} W"
        ),
        N_("power the next camera from another switch or a PoE injector"),
    ),
})

# What a survey's SNMP stage proposes for the inventory's interfaces and cables (inventory/network_proposals.py).
MESSAGES.update({
    "interfaces_found": (
        N_("{switch}: {new} ports not in the inventory and {changed} that differ, of {count} read over SNMP"),
        N_("apply it to record the switch's ports in the inventory"),
    ),
    "port_uplink": (
        N_("{switch} port {port} is an uplink (LLDP neighbour: {neighbor})"),
        N_("apply it to mark the port as an uplink: the worker then watches it"),
    ),
    "cabled_to": (N_("{device} is cabled to {switch} port {port}"), N_("apply it to record the cable")),
    "port_taken": (
        N_("{device} is cabled to {switch} port {port}, but the inventory has {other} on that port"),
        N_("check on site; applying it replaces the inventory's cable on that port"),
    ),
    "cable_moved": (
        N_("{device} is now cabled to {switch} port {port}; the inventory has it on {old_switch} port {old_port}"),
        N_("apply it if the cable was moved on purpose: the inventory's cable is replaced"),
    ),
    "lldp_link": (
        N_("{switch} port {port} is cabled to {device} port {device_port} (LLDP)"),
        N_("apply it to record the cable"),
    ),
    # A complete survey of the switch no longer lists these interfaces (inventory/network_proposals.py).
    "interfaces_gone": (
        N_("{switch} no longer reports {count} of the inventory's ports: {ports}"),
        N_("apply it if the ports are really gone (a module removed, the switch replaced): they are deleted; "
           "dismiss it to keep them"),
    ),
    "interfaces_gone_cabled": (
        N_("{switch} no longer reports {count} of the inventory's ports: {ports}; their cables go with them: "
           "{cables}"),
        N_("apply it if the ports are really gone: they and their cables are deleted; dismiss it to keep them"),
    ),
})

#: Names of device fields in finding sentences ("{field}").
FIELD_LABELS = {
    "ip": N_("address"),
    "mac": "MAC",
    "firmware": "firmware",
    "model": "model",
    "manufacturer": N_("maker"),
    "serial": N_("serial number"),
    "onvif_endpoint": N_("ONVIF endpoint"),
}

_STREAM_PROBLEMS = {p: STREAM_LEVELS[p] for p in ("black", "frozen", "blurred", "fps_mismatch", "size_mismatch")}
#: Error codes of probes/errors.py (ErrorCode) that have their own finding; ``other`` and unknown codes
#: become the plain ``error`` finding with the stored text.
_ERROR_KINDS = ("unsupported", "auth", "unreachable", "timeout", "malformed")
#: Operations named by where they happened rather than by an ONVIF call.
_STAGE_OPERATIONS = {"ws-discovery": "WS-Discovery", "budget": "ONVIF"}
#: Only for survey documents written before ``error_codes`` (see _error_findings):
#: "onvif: GetProfiles: unsupported: detail", "onvif: timeout: detail" (probes/survey.py, probes/onvif/interrogate.py).
_ERROR_RE = re.compile(r"^(?:(?P<stage>onvif|ws-discovery|budget): )?(?:(?P<op>[\w.]+): )?"
                       rf"(?P<kind>{'|'.join(_ERROR_KINDS)}): (?P<detail>.*)$", re.S)
#: "GetServices failed (unsupported: detail); used GetCapabilities" (probes/onvif/interrogate.py); only for
#: documents without ``error_codes`` / ``onvif.fallbacks``, written before they existed.
_FALLBACK_RE = re.compile(r"^(?:onvif: )?(?P<op>[\w.]+) failed \((?P<kind>\w+): (?P<detail>.*)\); "
                          r"used (?P<used>[\w.]+)$", re.S)


def coded_findings(doc: dict[str, Any]) -> list[CodedFinding]:
    """Return the findings of a survey document, problems first (null fields read as absent)."""
    found: list[CodedFinding] = []
    for host in map(_dict, _list(doc.get("hosts"))):
        ip = _str(host.get("ip")) or "?"
        found.extend(_onvif_findings(host, ip))
        loss = link_loss_verdict(_dict(host.get("link")).get("loss_ratio"))
        if loss.level != "ok":
            found.append(CodedFinding("link_loss", loss.level, ip, loss.params))
        for stream in map(_dict, _list(host.get("streams"))):
            found.extend(_stream_findings(ip, stream))
        if host.get("kind") == "host" and not host.get("vendor") and not host.get("open_ports") \
                and not _dict(host.get("snmp")).get("sys_descr"):  # an SNMP agent said what it is
            found.append(CodedFinding("unknown_device", "info", ip))
        errors = _error_findings(ip, host)
        if _dict(host.get("onvif")).get("auth") in ("required", "failed"):
            # said once by auth_required / auth_failed; one "refused" per ONVIF call adds nothing
            errors = [e for e in errors if e.code != "error_auth"]
        found.extend(errors)
    found.extend(snmp_findings(doc))
    order = {"problem": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order.get(f.severity, 3))


#: What one more camera may draw at the switch: PoE class 3 (802.3af), 15.4 W at the PSE.
POE_CAMERA_CLASS_W = 15.4
#: Words for the SNMP error kinds (probes/snmp/errors.py) in the ``snmp_error`` sentence.
SNMP_KIND_WORDS = {"auth": N_("credentials refused"), "unreachable": N_("no answer"),
                   "timeout": N_("time budget spent"), "malformed": N_("broken answer")}
#: PoE use (percent of the budget) that is a warning when the switch sets no threshold of its own.
POE_USAGE_LIMIT_PCT = 80
#: A port slower than this carries no camera well (a broken pair drops a link to 10 Mbit/s).
SLOW_PORT_BPS = 100_000_000


def snmp_findings(doc: dict[str, Any]) -> list[CodedFinding]:
    """Return the findings of the SNMP stage: agents (budget, uplinks, communities) and cameras' ports."""
    hosts = [_dict(h) for h in _list(doc.get("hosts"))]
    agents = {_str(h.get("ip")): _dict(h.get("snmp")) for h in hosts if h.get("snmp")}
    found: list[CodedFinding] = []
    for ip, snmp in agents.items():
        name = _str(snmp.get("sys_name")) or ip
        communities = _texts(snmp.get("default_communities"))
        if communities:
            found.append(CodedFinding("snmp_default_community", "problem", ip, {"community": ", ".join(communities)}))
        kind = _str(snmp.get("error_kind"))
        tried = _num(snmp.get("credentials_tried"))
        if kind in ("auth", "unreachable") and not snmp.get("credential"):
            code = "snmp_no_access" if tried else "snmp_no_credentials"
            found.append(CodedFinding(code, "warning", ip, {"tried": int(tried or 0)}, _str(snmp.get("error"))))
        elif kind:
            found.append(CodedFinding("snmp_error", "warning", ip, {"kind": kind, "detail": _str(snmp.get("error"))}))
        poe = _dict(snmp.get("poe"))
        if poe and _poe_low(poe):
            # probes/snmp/survey_stage.py CLAIM_FROM_LLDP_MED, CLAIM_FROM_LLDP_DOT3, CLAIM_FROM_LLDP
            code = {"lldp-med": "poe_budget_low_claimed", "lldp-dot3": "poe_budget_low_claimed_lldp",
                    "lldp": "poe_budget_low_claimed_lldp"}.get(_str(poe.get("used_from")), "poe_budget_low")
            found.append(CodedFinding(code, "warning", ip, {
                "switch": name, "free_w": _num(poe.get("free_w")), "budget_w": _num(poe.get("budget_w")),
                "class_w": POE_CAMERA_CLASS_W}))
        for iface in map(_dict, _list(snmp.get("interfaces"))):
            if iface.get("uplink") and iface.get("oper_up") is False and iface.get("admin_up") is not False:
                found.append(CodedFinding("uplink_down", "problem", ip,
                                          {"switch": name, "port": _str(iface.get("name"))}))
    from sitescout.inventory.snmp_port_findings import port_findings  # it uses CodedFinding from here

    found.extend(port_findings(hosts, agents))
    has_fdb = any(_num(s.get("fdb_entries")) for s in agents.values())
    for host in hosts:
        if host.get("kind") == "camera":
            found.extend(_camera_port_findings(host, agents, has_fdb))
    return found


def _poe_low(poe: dict[str, Any]) -> bool:
    """Return True when one more camera would not fit, or use passed the switch's threshold (80 % unset)."""
    free, budget, used = _num(poe.get("free_w")), _num(poe.get("budget_w")), _num(poe.get("used_w"))
    if free is not None and free < POE_CAMERA_CLASS_W:
        return True
    threshold = _num(poe.get("threshold_pct")) or POE_USAGE_LIMIT_PCT
    return bool(budget and used is not None and used * 100 >= threshold * budget)


def _camera_port_findings(host: dict[str, Any], agents: dict[str, dict[str, Any]], has_fdb: bool) -> list[CodedFinding]:
    ip = _str(host.get("ip")) or "?"
    attached = _dict(host.get("attached_to"))
    if not attached:
        return [CodedFinding("camera_port_unknown", "info", ip)] if has_fdb else []
    switch = agents.get(_str(attached.get("device")), {})
    port = _str(attached.get("port"))
    params = {"switch": _str(switch.get("sys_name")) or _str(attached.get("device")), "port": port}
    iface = next((i for i in map(_dict, _list(switch.get("interfaces"))) if _str(i.get("name")) == port), {})
    found = []
    errors = (_num(iface.get("in_errors")) or 0) + (_num(iface.get("out_errors")) or 0)
    if errors > 0:
        found.append(CodedFinding("port_errors", "warning", ip, params | {"errors": int(errors)}))
    speed = _num(iface.get("speed_bps"))
    if speed and speed < SLOW_PORT_BPS and iface.get("oper_up") is not False:
        found.append(CodedFinding("port_speed_low", "problem", ip, params | {"speed_mbps": int(speed // 1_000_000)}))
    return found


def _error_findings(ip: str, host: dict[str, Any]) -> list[CodedFinding]:
    """The findings of a host's errors, read from their codes (``error_codes``, one per ``errors`` entry)."""
    errors, codes = _list(host.get("errors")), _list(host.get("error_codes"))
    if len(codes) != len(errors):
        # Fallback for survey documents written before error_codes existed (stored surveys, imports
        # from older releases): parse the error text.  A document with codes never takes this path.
        return [_error_finding_from_text(ip, error) for error in _texts(errors)]
    return [_coded_error_finding(ip, _str(text), _dict(entry)) for text, entry in zip(errors, codes) if _str(text)]


def _coded_error_finding(ip: str, text: str, entry: dict[str, Any]) -> CodedFinding:
    """One host error from its ``error_codes`` entry: the code says the kind, its params the sentence's values."""
    code, params = _str(entry.get("code")), _dict(entry.get("params"))
    if code not in _ERROR_KINDS:  # "other": a note that is not a typed device error
        return CodedFinding("error", "warning", ip, {"text": text}, text)
    operation = _str(params.get("operation"))
    operation = _STAGE_OPERATIONS.get(operation, operation) or "ONVIF"
    if params.get("profile") is not None:
        operation = f"{operation}({_str(params.get('profile'))})"
    severity = "info" if code == "unsupported" else "warning"
    return CodedFinding(f"error_{code}", severity, ip, {"operation": operation, "detail": _str(params.get("detail"))},
                        text)


def _error_finding_from_text(ip: str, error: str) -> CodedFinding:
    """A host error string of an old survey document (no ``error_codes``), split into its kind and parameters."""
    match = _FALLBACK_RE.match(error)
    if match:
        params = {"operation": match["op"], "detail": match["detail"], "used": match["used"]}
        return CodedFinding("onvif_fallback", "info", ip, params, error)
    match = _ERROR_RE.match(error)
    if not match:
        return CodedFinding("error", "warning", ip, {"text": error}, error)
    operation = match["op"] or {"ws-discovery": "WS-Discovery", "budget": "ONVIF"}.get(match["stage"] or "", "ONVIF")
    severity = "info" if match["kind"] == "unsupported" else "warning"
    return CodedFinding(f"error_{match['kind']}", severity, ip, {"operation": operation, "detail": match["detail"]},
                        error)


def _onvif_findings(host: dict[str, Any], ip: str) -> list[CodedFinding]:
    found = []
    onvif = _dict(host.get("onvif"))
    skew = clock_skew_verdict(onvif.get("clock_offset_s"))
    if skew.level != "ok":
        found.append(CodedFinding("clock_skew", skew.level, ip, skew.params))
    auth = onvif.get("auth")
    if isinstance(auth, str) and auth in AUTH_LEVELS:
        found.append(CodedFinding(f"auth_{auth}", AUTH_LEVELS[auth], ip))
    if host.get("kind") == "camera" and onvif and not onvif.get("profiles") and auth in ("ok", "not_needed"):
        found.append(CodedFinding("no_profiles", "problem", ip))
    done_another_way: set[str] = set()
    for entry in map(_dict, _list(onvif.get("fallbacks"))):  # an operation the camera lacks, done another way
        params = _dict(entry.get("params"))
        text = _str(params.get("text"))
        done_another_way.add(text)
        found.append(CodedFinding("onvif_fallback", "info", ip, {
            "operation": _str(params.get("operation")), "detail": _str(params.get("detail")),
            "used": _str(params.get("used"))}, text))
    for note in _texts(onvif.get("findings")):
        if "clock" in note or note in done_another_way:  # said above (the skew finding, the fallbacks)
            continue
        # Survey documents written before "fallbacks" (stored surveys): the note's text is parsed.
        fallback = None if "fallbacks" in onvif else _FALLBACK_RE.match(note)
        if fallback:
            params = {"operation": fallback["op"], "detail": fallback["detail"], "used": fallback["used"]}
            found.append(CodedFinding("onvif_fallback", "info", ip, params, note))
        else:
            found.append(CodedFinding("onvif_note", "info", ip, {"text": note}, note))
    return found


def stream_name(stream: dict[str, Any]) -> str:
    """Return how a stream is named in findings: its profiles, else its profile, else its URI."""
    return ", ".join(_texts(stream.get("profiles"))) or _str(stream.get("profile")) or _str(stream.get("uri"))


def _stream_findings(ip: str, stream: dict[str, Any]) -> list[CodedFinding]:
    name = stream_name(stream)
    found = []
    up = stream.get("up")
    if up is not None and not up:  # null: not checked, which is not "down"
        code = "stream_stalled" if stream.get("stalled") else "stream_down"
        error = _str(stream.get("error"))
        found.append(CodedFinding(code + ("_error" if error else ""), "problem", ip, {"stream": name, "error": error}))
    problems = _texts(stream.get("problems")) or [p for p in ("black", "frozen") if stream.get(p)]
    for problem in problems:
        if problem not in _STREAM_PROBLEMS:
            continue
        params: dict[str, Any] = {"stream": name}
        if problem == "fps_mismatch":
            if _num(stream.get("fps")) is None:
                continue
            params |= {"fps": _num(stream.get("fps")), "expected_fps": _num(stream.get("expected_fps"))}
        elif problem == "size_mismatch":
            params |= {"size": _size(stream, ""), "expected_size": _size(stream, "expected_")}
        found.append(CodedFinding(problem, _STREAM_PROBLEMS[problem], ip, params))
    return found


def _size(stream: dict[str, Any], prefix: str) -> str:
    return f"{_str(stream.get(prefix + 'width'))}×{_str(stream.get(prefix + 'height'))}"


def severity_label(severity: str, gettext: Gettext = N_) -> str:
    """Return the word for a severity in the reader's language."""
    return gettext(SEVERITIES[severity]) if severity in SEVERITIES else severity


def render_finding(finding: CodedFinding, gettext: Gettext = N_, locale: str = "en") -> tuple[str, str]:
    """Return (finding, recommendation) in the reader's language; stored text for an unknown code."""
    if finding.code not in MESSAGES:
        return finding.text or finding.code, ""
    text, advice = MESSAGES[finding.code]
    values = {k: _format_value(k, v, gettext, locale) for k, v in finding.params.items()}
    if finding.code.startswith("uri_"):
        values.update(_uri_values(finding.params, gettext))
    try:
        rendered = (gettext(text) if text != "{text}" else text).format(**values)
    except (KeyError, IndexError, ValueError):  # a translation that names a missing parameter
        rendered = finding.text or text.format_map(_Missing(values))
    return rendered, gettext(advice)


def _uri_values(params: dict[str, Any], gettext: Gettext) -> dict[str, str]:
    """Return the words of a uri_* finding's URI, host and reason (the rows keep codes: inventory/workflow.py)."""
    field_name, new = str(params.get("field") or ""), params.get("new")
    values = {"field": gettext(URI_FIELD_LABELS[field_name]) if field_name in URI_FIELD_LABELS else field_name,
              "ip": str(params.get("ip") or "") or gettext(N_("the survey"))}
    if isinstance(new, str) and new in URI_REASONS:
        values["new"] = gettext(URI_REASONS[new])
    return values


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _format_value(name: str, value: Any, gettext: Gettext, locale: str) -> str:
    if name == "field" and isinstance(value, str):
        return gettext(FIELD_LABELS[value]) if value in FIELD_LABELS else value
    if name == "kind" and isinstance(value, str) and value in SNMP_KIND_WORDS:
        return gettext(SNMP_KIND_WORDS[value])
    if name in ("loss", "busy", "limit") and isinstance(value, float):  # ratios: 0.7 is "70 %"
        return format_percent(value, locale=locale)
    if name == "offset_s" and isinstance(value, float):
        return duration_text(value, gettext, locale)
    if isinstance(value, float):
        return format_decimal(value, format="#,##0.##", locale=locale)
    if value is None:
        return "?"
    return _str(value)


def duration_text(seconds: float, gettext: Gettext = N_, locale: str = "en") -> str:
    """Return a signed duration in the largest fitting unit (``+3.0 days``, ``+48.0 h``)."""
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    if s < 120:
        value, unit = s, N_("{value} s")
    elif s < 7200:
        value, unit = round(s / 60), N_("{value} min")
    elif s < 172800:
        value, unit = s / 3600, N_("{value} h")
    else:
        value, unit = s / 86400, N_("{value} days")
    number = format_decimal(value, format="0" if isinstance(value, int) else "0.0", locale=locale)
    return sign + gettext(unit).format(value=number)
