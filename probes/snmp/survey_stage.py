"""The survey's SNMP stage: find the agents, read them, place every host on its switch port.

1. :func:`async_detect_agents` asks every live host, without any secret, whether
   it speaks SNMP (v3 engine discovery, and the default communities public and
   private, which are a finding when they answer).
2. The agents (or every live host, ``all_hosts``) are read by
   :func:`collect_devices` with the credentials file's ``[snmp]`` credentials,
   tried in order, at most ``max_attempts`` per device, within the device's time
   budget.  A community or key goes only to the device it is tried on, and never
   into the document, a log line or an error (snapshots name ``v2c`` or ``v3:USER``).
3. :func:`place_hosts` puts every MAC on its edge port (FDB on non-uplink
   ports, LLDP as confirmation); the document gets ``snmp`` on each agent and
   ``attached_to`` on each placed host (docs/survey.md, "SNMP").
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sitescout.probes.net.http_title import HttpTitle, async_http_titles
from sitescout.probes.net.sip import SipAnswer, async_sip_options
from sitescout.probes.snmp import mibs
from sitescout.probes.snmp.client import SnmpCredentials
from sitescout.probes.snmp.collect import CollectSettings, collect_device_twice, collect_devices
from sitescout.probes.snmp.detect import AgentProbe, async_detect_agents
from sitescout.probes.snmp.errors import SnmpErrorKind
from sitescout.probes.snmp.models import DeviceSnapshot, LldpNeighbor, PoePort
from sitescout.probes.snmp.place import Attachment, place_hosts, uplink_ports

__all__ = ["SnmpStageConfig", "DEFAULT_SNMP_STAGE", "SnmpStageResult", "async_survey_snmp", "snmp_field",
           "MAX_INTERFACES", "interfaces_complete", "neighbor_claim", "CLAIM_FROM_LLDP_MED", "CLAIM_FROM_LLDP_DOT3",
           "CLAIM_FROM_LLDP", "classify_hosts"]

log = logging.getLogger(__name__)

#: Interfaces kept per device in the document (a hostile agent may list a million).
MAX_INTERFACES = 512
#: ifName/ifAlias words that mark an uplink when LLDP does not (a down uplink has no neighbour).
_UPLINK_WORDS = re.compile(r"\b(uplink|trunk|wan)\b", re.I)
#: What a device says it is (sysDescr, sysName), by inventory kind (inventory/choices.py DeviceKind).
#: Loudspeaker receivers of rural public-address systems call themselves paging / PA / IP audio terminals.
_CLASS_WORDS = (
    ("loudspeaker", re.compile(r"speaker|paging|\bPA\b|public address|audio (?:terminal|receiver|decoder)|"
                               r"broadcast receiver|\bloa\b|amplifier|horn", re.I)),
    ("router", re.compile(r"router|routeros|edgeos|gateway|\bBRAS\b", re.I)),
    ("access_point", re.compile(r"access point|\bAP\b|airmax|unifi|\bCPE\b", re.I)),
    ("camera", re.compile(r"camera|\bIPC\b|\bNVR\b|\bDVR\b", re.I)),
    ("switch", re.compile(r"switch", re.I)),
)


@dataclass(frozen=True)
class SnmpStageConfig:
    """Knobs of the SNMP stage; the per-device limits are :class:`CollectSettings`."""

    enabled: bool = True
    all_hosts: bool = False  # read every live host, not only those answering the credential-free probe
    detect_wait_s: float = 1.0
    detect_retries: int = 1
    check_default_communities: bool = True
    #: v2c through the native client (probes/snmp/v2c.py: 0.66-0.76x snmpbulkwalk's time on a 48-port walk, ezsnmp
    #: about 2x; the same fields from every lab agent, tests/test_snmp_v2c_lab.py); v3 through net-snmp.
    collect: CollectSettings = field(default_factory=lambda: CollectSettings(budget_s=8.0, timeout_s=1.0,
                                                                            v2c_client="native"))
    workers: int = 8
    port: int = 161
    #: Seconds between a switch's two reads of its counters (utilisation, errors rising); cut to the
    #: device's budget (collect.collect_device_twice); 0 = one read only.
    counter_interval_s: float = 7.0
    #: One SIP OPTIONS on UDP 5060 to every live host (loudspeaker receivers are often SIP endpoints).
    sip_probe: bool = True
    sip_wait_s: float = 1.0
    #: One bounded GET / to every host with an open web port (probes/net/http_title.py): its <title> is evidence
    #: of what the device is (a loudspeaker receiver's web UI, a router's login page) and goes in the document.
    http_title: bool = True
    http_timeout_s: float = 3.0
    http_max_bytes: int = 65536


DEFAULT_SNMP_STAGE = SnmpStageConfig()


@dataclass
class SnmpStageResult:
    """Per-address ``snmp`` and ``attached_to`` fields of the survey document."""

    snmp: dict[str, dict[str, Any]] = field(default_factory=dict)
    attached_to: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: {"kind": switch|router|loudspeaker|access_point|camera, "from": fdb|sys_descr|arp|sip|http_title,
    #: "detail": words}
    device_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The host's web page (``http``: {port, scheme, status, title}), for every host whose web port answered.
    http: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Where a port's claimed power comes from (``interfaces[].poe.claim_from``, ``poe.used_from``): the powered
#: device's LLDP-MED extended power-via-MDI TLV, or its IEEE 802.3 power-via-MDI TLV (802.3at requested power);
#: ``lldp`` in ``used_from`` when the ports' claims come from both.
CLAIM_FROM_LLDP_MED = "lldp-med"
CLAIM_FROM_LLDP_DOT3 = "lldp-dot3"
CLAIM_FROM_LLDP = "lldp"


def neighbor_claim(n: LldpNeighbor) -> tuple[int, str] | None:
    """Return (mW, source) a neighbour claims: its 802.3at requested power, else its LLDP-MED claim, else None.

    IEEE 802.3at's power-via-MDI TLV is what the PSE's data-link power classification acts on (the PSE answers it
    with the power it allocated); LLDP-MED's power TLV is the older way for the same figure.
    """
    if n.dot3_requested_mw is not None:
        return n.dot3_requested_mw, CLAIM_FROM_LLDP_DOT3
    if n.med_power_mw is not None:
        return n.med_power_mw, CLAIM_FROM_LLDP_MED
    return None


def _claims(snap: DeviceSnapshot) -> dict[int, tuple[int, str]]:
    """Return {ifIndex: (mW, source)} of the power the neighbours on each port claim over LLDP (the largest)."""
    claims: dict[int, tuple[int, str]] = {}
    for n in snap.neighbors:
        claim = neighbor_claim(n)
        if claim is not None and n.local_if_index is not None:
            if n.local_if_index not in claims or claim[0] > claims[n.local_if_index][0]:
                claims[n.local_if_index] = claim
    return claims


def _poe_summary(snap: DeviceSnapshot) -> dict[str, Any] | None:
    """The switch's PoE budget and use; the use from the PSE's consumption, else the ports' draws, else the claims.

    ``used_from``: ``pse`` (pethMainPseConsumptionPower), ``ports`` (the vendor MIB's per-port draw),
    ``lldp-med`` / ``lldp-dot3`` / ``lldp`` (what the powered devices claim over LLDP: the LLDP-MED power TLV,
    the IEEE 802.3at power-via-MDI TLV, or both on different ports; what they may draw, an upper estimate)
    or None (nothing).
    """
    if not snap.poe_budgets:
        return None
    budget = sum(b.power_w or 0 for b in snap.poe_budgets)
    consumption = [b.consumption_w for b in snap.poe_budgets if b.consumption_w is not None]
    draws = [p.power_mw for p in snap.poe_ports if p.power_mw is not None]
    claims = _claims(snap)
    claimed_mw = sum(mw for mw, _ in claims.values())
    sources = {source for _, source in claims.values()}
    used: float
    if consumption:
        used, used_from = sum(consumption), "pse"
    elif draws:
        used, used_from = round(sum(draws) / 1000, 1), "ports"
    elif claims:
        used, used_from = round(claimed_mw / 1000, 1), sources.pop() if len(sources) == 1 else CLAIM_FROM_LLDP
    else:
        used, used_from = 0, None
    thresholds = [b.threshold_pct for b in snap.poe_budgets if b.threshold_pct]
    return {"budget_w": budget, "used_w": used, "free_w": round(budget - used, 1),
            "threshold_pct": min(thresholds) if thresholds else None, "used_from": used_from,
            "claimed_w": round(claimed_mw / 1000, 1) if claims else None}


def _port_poe(port: PoePort | None, claim: tuple[int, str] | None) -> dict[str, Any] | None:
    """An interface's ``poe``: the PSE port's state and draw, and the powered device's claim over LLDP."""
    if port is None and claim is None:
        return None
    out: dict[str, Any] = {"enabled": None, "delivering": None, "class": None, "power_w": None}
    if port is not None:
        out = {"enabled": port.admin_enabled, "delivering": port.delivering, "class": port.power_class,
               "power_w": round(port.power_mw / 1000, 3) if port.power_mw is not None else None}
    if claim is not None:
        out |= {"claimed_w": round(claim[0] / 1000, 3), "claim_from": claim[1]}
    return out


def _delta(before: int | None, after: int | None) -> int | None:
    """after − before of a counter, None when either is missing or it went back (a wrap or a reset)."""
    return after - before if before is not None and after is not None and after >= before else None


def _two_reads(snap: DeviceSnapshot, index: int) -> dict[str, Any]:
    """An interface's figures from the second read: utilisation (% of speed, busier way), new errors, last change."""
    read = snap.counters
    if read is None or index not in read.ports:
        return {}
    iface, (in_oct, out_oct, in_err, out_err, last_change) = snap.interfaces[index], read.ports[index]
    moved = [d for d in (_delta(iface.in_octets, in_oct), _delta(iface.out_octets, out_oct)) if d is not None]
    busy = None
    if moved and iface.speed_bps and read.interval_s > 0:
        busy = round(max(moved) * 8 / read.interval_s / iface.speed_bps * 100, 1)
    errors = [d for d in (_delta(iface.in_errors, in_err), _delta(iface.out_errors, out_err)) if d is not None]
    since = None
    if last_change and read.uptime_ticks is not None and read.uptime_ticks >= last_change:
        since = round((read.uptime_ticks - last_change) / 100, 1)
    return {"utilisation_pct": busy, "errors_new": sum(errors) if errors else None,
            # ifLastChange: seconds since the port last went up or down, and the agent's uptime at that moment
            # (0 = unchanged since the agent started: no flap to report)
            "last_change_s_ago": since, "last_change_uptime_s": round(last_change / 100, 1) if last_change else None}


def _interfaces(snap: DeviceSnapshot, uplinks: set[int]) -> list[dict[str, Any]]:
    poe = {p.if_index: p for p in snap.poe_ports if p.if_index is not None}
    claims = _claims(snap)
    out = []
    for index in sorted(snap.interfaces)[:MAX_INTERFACES]:
        iface = snap.interfaces[index]
        port = poe.get(index)
        out.append(_two_reads(snap, index) | {
            "if_index": index, "name": iface.name or iface.descr, "alias": iface.alias, "mac": iface.mac,
            "speed_bps": iface.speed_bps, "admin_up": iface.admin_up, "oper_up": iface.oper_up,
            "in_errors": iface.in_errors, "out_errors": iface.out_errors, "uplink": index in uplinks,
            "duplex": mibs.DUPLEX_WORDS.get(snap.duplex[index]) if index in snap.duplex else None,
            "poe": _port_poe(port, claims.get(index)),
        })
    return out


def interfaces_complete(snap: DeviceSnapshot) -> bool:
    """Say whether ``interfaces`` lists every interface of the agent: the collection answered and ended without
    error, neither ifTable nor ifXTable was cut at the row cap, and the document keeps them all.

    Only then may the inventory propose removing interfaces the survey does not list (inventory/network_proposals.py,
    ``interfaces_gone``): a partial read must never look like ports taken away.
    """
    cut = {".".join(map(str, mibs.IF_TABLE)), ".".join(map(str, mibs.IF_X_TABLE))}
    return (snap.credential is not None and snap.error_kind is None and "interfaces" not in snap.skipped
            and not cut & set(snap.truncated) and 0 < len(snap.interfaces) <= MAX_INTERFACES)


def _uplinks(snap: DeviceSnapshot, lldp_uplinks: set[int]) -> set[int]:
    named = {i.if_index for i in snap.interfaces.values()
             if any(_UPLINK_WORDS.search(t or "") for t in (i.alias, i.name))}
    return lldp_uplinks | named


def class_of_words(text: str) -> str | None:
    """Return the device kind a product description names (sysDescr, a SIP User-Agent, a page title), or None."""
    return next((kind for kind, words in _CLASS_WORDS if words.search(text)), None)


def classify_hosts(snmp: Mapping[str, dict[str, Any]], sip: Mapping[str, SipAnswer],
                   http: Mapping[str, HttpTitle] | None = None) -> dict[str, dict[str, Any]]:
    """The document's ``device_class`` of every host classified by its SNMP answer, else by its SIP answer, else by
    its web page's title (what the device says of itself, in that order: an agent's sysDescr names the product,
    a SIP User-Agent the firmware, a title often only the product line)."""
    out: dict[str, dict[str, Any]] = {}
    for ip, field_ in snmp.items():
        if field_.get("device_class"):
            detail = field_.get("sys_descr") or field_.get("default_sys_descr")
            out[ip] = {"kind": field_["device_class"], "from": field_.get("class_from"), "detail": detail}
    for ip, answer in sip.items():
        kind = class_of_words(answer.agent or "")
        if ip not in out and kind:
            out[ip] = {"kind": kind, "from": "sip", "detail": answer.agent}
    for ip, page in (http or {}).items():
        kind = class_of_words(page.title or "")
        if ip not in out and kind:
            out[ip] = {"kind": kind, "from": "http_title", "detail": page.title}
    return out


def device_class(snap: DeviceSnapshot, probe: AgentProbe | None) -> tuple[str | None, str | None]:
    """Return (kind, evidence) of an agent: a bridge forwarding table makes a switch; else its own words.

    A device with up interfaces on two or more networks (ARP neighbours on two interfaces) that is
    no bridge is a router even when its sysDescr says nothing (Linux, RouterOS on a plain board).
    """
    if any(not e.is_self for e in snap.fdb):
        return "switch", "fdb"
    descr = snap.system.sys_descr or (probe.sys_descr if probe else None) or ""
    kind = class_of_words(descr) or class_of_words(snap.system.sys_name or "")
    if kind:
        return kind, "sys_descr"
    arp_ifaces = {a.if_index for a in snap.arp if a.if_index in snap.interfaces and snap.interfaces[a.if_index].oper_up}
    if len(arp_ifaces) >= 2:
        return "router", "arp"
    return None, None


def snmp_field(snap: DeviceSnapshot, uplinks: set[int], probe: AgentProbe | None, tried: int = 0) -> dict[str, Any]:
    """Return the ``snmp`` field of one agent's host record (no secret: the credential is ``v2c``/``v3:USER``)."""
    entity = snap.entity
    ports = _uplinks(snap, uplinks)
    kind, evidence = device_class(snap, probe)
    return {
        "credential": snap.credential,
        "sys_name": snap.system.sys_name, "sys_descr": snap.system.sys_descr,
        "sys_object_id": snap.system.sys_object_id, "sys_location": snap.system.sys_location,
        "enterprise": snap.system.enterprise, "vendor": snap.system.vendor,
        "model": entity.model if entity else None, "serial": entity.serial if entity else None,
        "firmware": entity.firmware if entity else None, "hardware_rev": entity.hardware_rev if entity else None,
        "manufacturer": entity.manufacturer if entity else None,
        "default_communities": list(probe.default_communities) if probe else [],
        "interfaces": _interfaces(snap, ports),
        # every interface of the agent is listed (no error, no row cap): the inventory may propose removing others
        "interfaces_complete": interfaces_complete(snap),
        "uplinks": [snap.interfaces[i].name or snap.interfaces[i].descr for i in sorted(ports)
                    if i in snap.interfaces],
        "neighbors": [{"port": n.local_port, "sys_name": n.sys_name, "chassis_id": n.chassis_id,
                       "port_id": n.port_id, "port_desc": n.port_desc, "mgmt_address": n.mgmt_address,
                       "med_power_w": None if n.med_power_mw is None else round(n.med_power_mw / 1000, 3),
                       "med_power_source": n.med_power_source, "med_power_priority": n.med_power_priority,
                       # the IEEE 802.3 power-via-MDI TLV (802.3at): requested and allocated watts, type, class
                       "dot3_requested_w": None if n.dot3_requested_mw is None else round(n.dot3_requested_mw / 1000,
                                                                                          3),
                       "dot3_allocated_w": None if n.dot3_allocated_mw is None else round(n.dot3_allocated_mw / 1000,
                                                                                          3),
                       "dot3_power_type": n.dot3_power_type, "dot3_power_class": n.dot3_power_class,
                       "dot3_pd": n.dot3_is_pd}
                      for n in snap.neighbors[:MAX_INTERFACES]],
        "fdb_entries": len(snap.fdb),
        "poe": _poe_summary(snap),
        "truncated": list(snap.truncated),
        "error_kind": snap.error_kind.value if snap.error_kind else None,
        "error": snap.error,
        "credentials_tried": tried,
        "duration_s": round(snap.duration_s, 3),
        # What the agent is (inventory kinds: switch, router, loudspeaker, access_point, camera) and from what.
        "device_class": kind, "class_from": evidence,
        "counters_interval_s": snap.counters.interval_s if snap.counters else None,
        "default_sys_descr": probe.sys_descr if probe and not snap.system.sys_descr else None,
    }


def _attachment_field(a: Attachment, snapshots: Mapping[str, DeviceSnapshot]) -> dict[str, Any]:
    switch = snapshots.get(a.device)
    return {"device": a.device, "port": a.port, "switch": switch.system.sys_name if switch else None,
            "vlan": a.vlan, "lldp_confirmed": a.lldp_confirmed}


def _attachments(placed: Mapping[str, Attachment], snapshots: Mapping[str, DeviceSnapshot],
                 macs: Mapping[str, str | None]) -> dict[str, dict[str, Any]]:
    """Return {host ip: attached_to}: by the host's MAC (sweep), else by the ARP tables' IPs."""
    out: dict[str, dict[str, Any]] = {}
    by_ip = {ip: a for a in placed.values() for ip in a.ips}
    for ip, mac in macs.items():
        found = placed.get(mac.lower()) if mac else None
        found = found or by_ip.get(ip)
        if found is not None and found.device != ip:
            out[ip] = _attachment_field(found, snapshots)
    return out


def _unanswered_note(snap: DeviceSnapshot, credentials: SnmpCredentials) -> None:
    """Say plainly why a known agent gave nothing: v2c cannot tell a wrong community from silence."""
    if snap.error_kind is SnmpErrorKind.UNREACHABLE and snap.credential is None:
        tried = len(credentials.for_device(snap.ip).candidates())
        snap.error = (f"the agent answers SNMP but none of the {tried} credential(s) tried was accepted "
                      f"(at most {credentials.max_attempts} per device)")


async def async_survey_snmp(live: Sequence[str], macs: Mapping[str, str | None], credentials: SnmpCredentials,
                            config: SnmpStageConfig = DEFAULT_SNMP_STAGE, *,
                            open_ports: Mapping[str, Sequence[int]] | None = None,
                            networks: Sequence[ipaddress.IPv4Network] = ()) -> SnmpStageResult:
    """Run the SNMP stage over the live hosts; return the document fields by address.

    ``open_ports`` (what the port scan found) and ``networks`` (the surveyed networks) feed the web page
    titles: only a host inside ``networks`` with a web port in ``open_ports`` is asked.
    """
    result = SnmpStageResult()
    if not config.enabled or not live:
        return result
    communities = ("public", "private") if config.check_default_communities else ()
    sip_task = asyncio.create_task(async_sip_options(live, wait_s=config.sip_wait_s)) if config.sip_probe else None
    web = {ip: ports for ip, ports in (open_ports or {}).items() if ip in set(live)}
    http_task = asyncio.create_task(async_http_titles(
        web, networks, timeout_s=config.http_timeout_s, max_bytes=config.http_max_bytes)) \
        if config.http_title and web and networks else None
    probes = await async_detect_agents(live, port=config.port, wait_s=config.detect_wait_s,
                                       retries=config.detect_retries, communities=communities)
    sip = await sip_task if sip_task is not None else {}
    # awaited before the collection forks its workers (no socket of ours open in the children)
    http = await http_task if http_task is not None else {}
    result.http = {ip: page.to_dict() for ip, page in http.items()}
    agents = [ip for ip in live if probes[ip].is_agent]
    # Only devices with credentials (global, or of a [[snmp.scope]] holding their address) are read.
    targets = [ip for ip in (live if config.all_hosts else agents) if credentials.for_device(ip).candidates()]
    if unread := [ip for ip in agents if ip not in targets]:
        log.warning("%d SNMP agent(s) found but no [snmp] credentials for them: not read", len(unread))
    # the second read of the counters waits inside each device's budget, so the budget grows by that wait
    settings = replace(config.collect, port=config.port, budget_s=config.collect.budget_s + config.counter_interval_s)
    reader = functools.partial(collect_device_twice, interval_s=config.counter_interval_s)
    snapshots = await asyncio.to_thread(collect_devices, targets, credentials, settings, workers=config.workers,
                                        reader=reader) if targets else {}
    uplinks = uplink_ports(snapshots)
    for ip in live:
        snap = snapshots.get(ip)
        if snap is None and not probes[ip].is_agent:
            continue
        if snap is None:  # an agent we had no credentials for: only the probe's findings
            snap = DeviceSnapshot(ip, error_kind=SnmpErrorKind.AUTH, error="no SNMP credentials configured")
        elif snap.credential is None and not probes[ip].is_agent:
            continue  # --snmp-all: a host that is no agent stays without an snmp field
        else:
            _unanswered_note(snap, credentials)
        tried = len(credentials.for_device(ip).candidates()) if ip in snapshots else 0
        result.snmp[ip] = snmp_field(snap, uplinks.get(ip, set()), probes[ip], tried)
    answered = {ip: s for ip, s in snapshots.items() if s.credential is not None}
    result.attached_to = _attachments(place_hosts(answered), answered, macs)
    result.device_class = classify_hosts(result.snmp, sip, http)
    return result
