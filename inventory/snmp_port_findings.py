"""Findings on switch ports from the SNMP stage's two reads and duplex: busy uplinks, errors rising, flaps, duplex.

Read from the document only (docs/survey.md, "SNMP"): each interface of an agent's ``snmp``
field may carry ``utilisation_pct``, ``errors_new`` (both from two reads of the counters
``counters_interval_s`` apart), ``last_change_s_ago`` / ``last_change_uptime_s`` (IF-MIB
ifLastChange against sysUpTime) and ``duplex`` (EtherLike-MIB dot3StatsDuplexStatus).

Rules (one home; the numbers are module constants):

- *uplink busy*: an uplink port (``uplink``) whose busier direction used more than
  :data:`UPLINK_BUSY_PCT` of its speed between the two reads;
- *errors rising*: a camera's port or an uplink whose input + output errors grew between the reads;
- *flapped*: a camera's port or an uplink that is up now and whose last change (down or up) is at
  most :data:`FLAP_WINDOW_S` old, and happened more than :data:`BOOT_GRACE_S` after the agent
  started (ports come up at boot; a change at boot is no flap).  A port that is down now is the
  ``uplink_down`` finding, not a flap;
- *half duplex*: a camera's port or an uplink that reports halfDuplex(2);
- *duplex mismatch*: the two ends of a link between collected agents (either end's LLDP neighbour)
  report different known duplex (halfDuplex vs fullDuplex).
"""

from __future__ import annotations

from typing import Any

from sitescout.inventory.findings import CodedFinding
from sitescout.inventory.lenient import as_dict as _dict, as_list as _list, as_num as _num, as_str as _str

__all__ = ["port_findings", "UPLINK_BUSY_PCT", "FLAP_WINDOW_S", "BOOT_GRACE_S"]

#: An uplink busier than this (percent of its speed, the busier direction) is a warning (issue #15).
UPLINK_BUSY_PCT = 70
#: A change of the port's state at most this old is a flap.
FLAP_WINDOW_S = 15 * 60
#: Changes in the agent's first minute are its ports coming up at boot.
BOOT_GRACE_S = 60


def _ifaces(snmp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {_str(i.get("name")): i for i in map(_dict, _list(snmp.get("interfaces"))) if _str(i.get("name"))}


def _watched(hosts: list[dict[str, Any]], agents: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Return {(agent ip, port): the host the finding is about}: cameras' ports, then every uplink (the switch)."""
    ports: dict[tuple[str, str], str] = {}
    for host in hosts:
        attached = _dict(host.get("attached_to"))
        if host.get("kind") == "camera" and attached.get("port"):
            ports[(_str(attached.get("device")), _str(attached.get("port")))] = _str(host.get("ip"))
    for ip, snmp in agents.items():
        for name, iface in _ifaces(snmp).items():
            if iface.get("uplink") is True:
                ports.setdefault((ip, name), ip)
    return ports


def port_findings(hosts: list[dict[str, Any]], agents: dict[str, dict[str, Any]]) -> list[CodedFinding]:
    """Return the two-read and duplex findings of every watched port (camera ports and uplinks)."""
    found: list[CodedFinding] = []
    for (agent, port), about in _watched(hosts, agents).items():
        snmp = agents.get(agent, {})
        iface = _ifaces(snmp).get(port)
        if iface is None:
            continue
        params = {"switch": _str(snmp.get("sys_name")) or agent, "port": port}
        seconds = _num(snmp.get("counters_interval_s"))
        busy = _num(iface.get("utilisation_pct"))
        if iface.get("uplink") is True and busy is not None and busy > UPLINK_BUSY_PCT:
            found.append(CodedFinding("uplink_busy", "warning", about, params | {
                "busy": round(busy / 100, 4), "limit": UPLINK_BUSY_PCT / 100, "seconds": float(seconds or 0)}))
        errors = _num(iface.get("errors_new"))
        if errors:
            found.append(CodedFinding("port_errors_rising", "warning", about, params | {
                "errors": int(errors), "seconds": float(seconds or 0)}))
        ago, at = _num(iface.get("last_change_s_ago")), _num(iface.get("last_change_uptime_s"))
        if iface.get("oper_up") is True and ago is not None and at is not None and ago <= FLAP_WINDOW_S \
                and at > BOOT_GRACE_S:
            found.append(CodedFinding("port_flapped", "warning", about, params | {"minutes": max(1, round(ago / 60))}))
        if iface.get("duplex") == "half":
            found.append(CodedFinding("duplex_half", "problem", about, params))
    found.extend(_duplex_mismatches(agents))
    return found


def _duplex_mismatches(agents: dict[str, dict[str, Any]]) -> list[CodedFinding]:
    by_name = {_str(s.get("sys_name")): ip for ip, s in agents.items() if _str(s.get("sys_name"))}
    found, seen = [], set()
    for ip, snmp in agents.items():
        ifaces = _ifaces(snmp)
        for nb in map(_dict, _list(snmp.get("neighbors"))):
            far_ip = _str(nb.get("mgmt_address"))
            far_ip = far_ip if far_ip in agents else by_name.get(_str(nb.get("sys_name")), "")
            if not far_ip or far_ip == ip:
                continue
            far_ifaces = _ifaces(agents[far_ip])
            far_port = next((_str(nb.get(k)) for k in ("port_id", "port_desc") if _str(nb.get(k)) in far_ifaces), "")
            here, there = _dict(ifaces.get(_str(nb.get("port")))), _dict(far_ifaces.get(far_port))
            ends = frozenset({(ip, _str(nb.get("port"))), (far_ip, far_port)})
            duplexes = {here.get("duplex"), there.get("duplex")}
            if ends in seen or duplexes != {"half", "full"}:
                continue
            seen.add(ends)
            found.append(CodedFinding("duplex_mismatch", "problem", ip, {
                "switch": _str(snmp.get("sys_name")) or ip, "port": _str(nb.get("port")), "duplex": here.get("duplex"),
                "far_switch": _str(agents[far_ip].get("sys_name")) or far_ip, "far_port": far_port,
                "far_duplex": there.get("duplex")}))
    return found
