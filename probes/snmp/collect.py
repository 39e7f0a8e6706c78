"""Read a device's identity, interfaces, forwarding table, LLDP neighbours, ARP table and PoE over SNMP.

:func:`collect_device` never raises: a failure ends the collection of that device
with ``error_kind`` set and whatever was read before kept.  :func:`collect_devices`
reads many devices in parallel worker processes (net-snmp's print options are
process-wide, so one session per process; see client.py), each within its own
time budget.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sitescout.probes.snmp import mibs
from sitescout.probes.snmp.client import SnmpCredentials, SnmpSession, open_session
from sitescout.probes.snmp.errors import SnmpError
from sitescout.probes.snmp.models import (ArpEntry, CounterRead, DeviceSnapshot, EntityInfo, FdbEntry, Interface,
                                          LldpNeighbor, PoeBudget, PoePort, SystemInfo)

__all__ = ["CollectSettings", "DEFAULT_COLLECT", "SECTIONS", "collect_device", "collect_devices", "DeviceSnapshot",
           "collect_device_twice"]

log = logging.getLogger(__name__)
OID = tuple[int, ...]


@dataclass(frozen=True)
class CollectSettings:
    """Limits of one device's collection, and what it reads.

    `sections`: the sections read after the system group (always read), by name (:data:`SECTIONS`:
    entity, interfaces, fdb, lldp, arp, poe, ...); None reads every one.  The worker's monitoring
    probe reads ``("interfaces", "poe")``; the survey reads everything.

    `monitoring`: the interfaces and PoE sections read only the columns the worker's snmp kind
    exports (:data:`IF_COLUMNS`, :data:`IFX_COLUMNS`, :data:`POE_COLUMNS`), several columns per
    GETBULK (:meth:`SnmpSession.walk_columns`); no MAC, alias or other column.  The survey's
    default (False) walks ifTable and ifXTable whole.

    Raises:
        ValueError: a section name that is not one of :data:`SECTIONS`.
    """

    budget_s: float = 10.0  # the whole device, every request included
    timeout_s: float = 1.0  # one request
    max_rows: int = 20_000  # varbinds per table walk
    max_repetitions: int = 25
    port: int = 161
    sections: tuple[str, ...] | None = None
    monitoring: bool = False
    #: Who reads a community's device (``client.V2C_CLIENTS``): "native" (pure Python, any thread) or "netsnmp".
    v2c_client: str = "netsnmp"

    def __post_init__(self) -> None:
        if self.sections is not None:
            names = tuple(dict.fromkeys(self.sections))  # a JSON list from the child's request is accepted too
            unknown = [n for n in names if n not in SECTIONS]
            if unknown:
                raise ValueError(f"sections: unknown {', '.join(map(repr, unknown))}; known: {', '.join(SECTIONS)}")
            object.__setattr__(self, "sections", names)

    def reads(self, section: str) -> bool:
        """Say whether this collection reads `section`."""
        return self.sections is None or section in self.sections


DEFAULT_COLLECT = CollectSettings()
#: Interfaces kept from one agent's ifTable; past it ifTable counts as cut (``truncated``). A stack of eight
#: 48-port switches has about 450; a hostile million-row agent would otherwise fill the answer with 20,000.
MAX_COLLECTED_INTERFACES = 2048


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _walk_rows(s: SnmpSession, table: OID, snap: DeviceSnapshot, max_rows: int) -> dict[OID, dict[int, object]]:
    varbinds = s.walk(table, max_rows)
    if len(varbinds) >= max_rows:
        snap.truncated.append(".".join(map(str, table)))
    return mibs.column_rows(table, ((vb.oid, vb.value) for vb in varbinds))


def _read_system(s: SnmpSession, snap: DeviceSnapshot) -> None:
    base = mibs.SYSTEM
    got = s.get([base + (i, 0) for i in (1, 2, 3, 5, 6)])

    def value(i: int) -> object:
        vb = got.get(base + (i, 0))
        return vb.value if vb else None

    oid = value(2)
    enterprise, vendor = mibs.vendor_of(oid if isinstance(oid, str) else None)
    snap.system = SystemInfo(sys_name=mibs.text_of(value(5)), sys_descr=mibs.text_of(value(1)),
                             sys_object_id=oid if isinstance(oid, str) else None,
                             sys_location=mibs.text_of(value(6)), uptime_ticks=_int(value(3)),
                             enterprise=enterprise, vendor=vendor)


def _read_entity(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    rows = _walk_rows(s, mibs.ENT_PHYSICAL, snap, max_rows)
    if not rows:
        return
    # The chassis (class 3) describes the device; otherwise the first entry.
    index = next((i for i, r in sorted(rows.items()) if r.get(5) == 3), min(rows))
    r = rows[index]
    snap.entity = EntityInfo(model=mibs.text_of(r.get(13)) or None, serial=mibs.text_of(r.get(11)) or None,
                             firmware=mibs.text_of(r.get(9)) or None, software=mibs.text_of(r.get(10)) or None,
                             hardware_rev=mibs.text_of(r.get(8)) or None,
                             manufacturer=mibs.text_of(r.get(12)) or None, descr=mibs.text_of(r.get(2)) or None)


def _read_interfaces(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    if_rows = _walk_rows(s, mibs.IF_TABLE, snap, max_rows)
    _interfaces_from_rows(snap, if_rows, _walk_rows(s, mibs.IF_X_TABLE, snap, max_rows))


def _interfaces_from_rows(snap: DeviceSnapshot, if_rows: dict[OID, dict[int, object]],
                          x_rows: dict[OID, dict[int, object]], max_interfaces: int | None = None) -> None:
    """Fill ``snap.interfaces`` from ifTable rows (one interface each) and the ifXTable rows of those interfaces;
    past `max_interfaces` (:data:`MAX_COLLECTED_INTERFACES`) ifTable counts as cut."""
    max_interfaces = MAX_COLLECTED_INTERFACES if max_interfaces is None else max_interfaces
    for index, r in if_rows.items():
        if len(index) != 1:
            continue
        if len(snap.interfaces) >= max_interfaces:
            table = ".".join(map(str, mibs.IF_TABLE))
            if table not in snap.truncated:
                snap.truncated.append(table)
            break
        mac = r.get(6)
        snap.interfaces[index[0]] = Interface(
            if_index=index[0], descr=mibs.text_of(r.get(2)),
            mac=mibs.mac_text(mac) if isinstance(mac, bytes) and len(mac) == 6 else None,
            speed_bps=_int(r.get(5)), admin_up=r.get(7) == 1 if r.get(7) is not None else None,
            oper_up=r.get(8) == 1 if r.get(8) is not None else None,
            in_errors=_int(r.get(14)), out_errors=_int(r.get(20)),
            in_discards=_int(r.get(13)), out_discards=_int(r.get(19)))
    for index, r in x_rows.items():
        iface = snap.interfaces.get(index[0]) if len(index) == 1 else None
        if iface is None:
            continue
        iface.name = mibs.text_of(r.get(1))
        iface.alias = mibs.text_of(r.get(18)) or None
        iface.in_octets, iface.out_octets = _int(r.get(6)), _int(r.get(10))
        high = _int(r.get(15))
        if high:  # Mb/s; ifSpeed saturates at 4.29 Gb/s
            iface.speed_bps = high * 1_000_000


def _port_name(snap: DeviceSnapshot, if_index: int | None) -> str | None:
    iface = snap.interfaces.get(if_index) if if_index is not None else None
    return (iface.name or iface.descr) if iface else None


def _read_fdb(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    base_ports = {vb.oid[-1]: vb.value for vb in s.walk(mibs.DOT1D_BASE_PORT_IFINDEX, max_rows)
                  if isinstance(vb.value, int)}
    if not base_ports:
        return
    entries: dict[tuple[str, int | None], FdbEntry] = {}
    status_col = mibs.DOT1Q_TP_FDB_PORT[:-1] + (3,)
    q_status = {vb.oid[len(status_col):]: vb.value for vb in s.walk(status_col, max_rows)}
    for vb in s.walk(mibs.DOT1Q_TP_FDB_PORT, max_rows):
        index = vb.oid[len(mibs.DOT1Q_TP_FDB_PORT):]
        if len(index) != 7 or not isinstance(vb.value, int):
            continue
        mac, if_index = mibs.mac_text(index[1:]), base_ports.get(vb.value)
        entries[(mac, index[0])] = FdbEntry(mac, vb.value, if_index, _port_name(snap, if_index), vlan=index[0],
                                            is_self=q_status.get(index) == 4)
    if not entries:  # no Q-BRIDGE-MIB: the single forwarding database of BRIDGE-MIB
        d_status_col = mibs.DOT1D_TP_FDB_PORT[:-1] + (3,)
        d_status = {vb.oid[len(d_status_col):]: vb.value for vb in s.walk(d_status_col, max_rows)}
        for vb in s.walk(mibs.DOT1D_TP_FDB_PORT, max_rows):
            index = vb.oid[len(mibs.DOT1D_TP_FDB_PORT):]
            if len(index) != 6 or not isinstance(vb.value, int):
                continue
            if_index = base_ports.get(vb.value)
            entries[(mibs.mac_text(index), None)] = FdbEntry(mibs.mac_text(index), vb.value, if_index,
                                                             _port_name(snap, if_index),
                                                             is_self=d_status.get(index) == 4)
    snap.fdb = list(entries.values())


def _id_text(subtype: object, value: object) -> str | None:
    if isinstance(value, bytes) and len(value) == 6 and subtype in (3, 4):  # macAddress
        return mibs.mac_text(value)
    return mibs.text_of(value)


def _read_lldp(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    rows = _walk_rows(s, mibs.LLDP_REM, snap, max_rows)
    if not rows:
        return
    loc_desc = {vb.oid[-1]: mibs.text_of(vb.value) for vb in s.walk(mibs.LLDP_LOC_PORT_DESC, max_rows)}
    loc_id = {vb.oid[-1]: mibs.text_of(vb.value) for vb in s.walk(mibs.LLDP_LOC_PORT_ID, max_rows)}
    mgmt: dict[OID, str] = {}
    for vb in s.walk(mibs.LLDP_REM_MAN_ADDR, max_rows):
        index = vb.oid[len(mibs.LLDP_REM_MAN_ADDR) + 1:]
        addr = mibs.ip_from_index(index[3:])
        if addr and index[:3] not in mgmt:
            mgmt[index[:3]] = addr
    # LLDP-MED power claims of powered devices (survey only; the monitoring read never walks LLDP)
    claims = mibs.med_power_claims((vb.oid, vb.value) for vb in s.walk(mibs.LLDP_X_MED_REM_XPOE_PD, max_rows))
    # … and the IEEE 802.3 power-via-MDI TLV (802.3at: requested and allocated power), where sent
    dot3 = mibs.dot3_power_claims((vb.oid, vb.value) for vb in s.walk(mibs.LLDP_X_DOT3_REM_POWER, max_rows))
    for index, r in sorted(rows.items()):
        if len(index) != 3:
            continue
        local = index[1]
        if_index = _local_if_index(snap, local, loc_desc.get(local), loc_id.get(local))
        claim_mw, source, priority = claims.get(index, (None, None, None))
        power = dot3.get(index)
        snap.neighbors.append(LldpNeighbor(
            local_port_num=local, local_if_index=if_index, local_port=_port_name(snap, if_index),
            chassis_id=_id_text(r.get(4), r.get(5)), port_id=_id_text(r.get(6), r.get(7)),
            port_desc=mibs.text_of(r.get(8)), sys_name=mibs.text_of(r.get(9)), sys_descr=mibs.text_of(r.get(10)),
            mgmt_address=mgmt.get(index), med_power_mw=claim_mw, med_power_source=source,
            med_power_priority=priority,
            dot3_requested_mw=power.requested_mw if power else None,
            dot3_allocated_mw=power.allocated_mw if power else None,
            dot3_power_type=None if power is None or power.type2 is None else (2 if power.type2 else 1),
            dot3_power_class=power.power_class if power else None, dot3_is_pd=power.is_pd if power else None))


def _local_if_index(snap: DeviceSnapshot, port_num: int, desc: str | None, port_id: str | None) -> int | None:
    # LLDP's local port number is not the ifIndex by definition: match the port's
    # description or id to an interface name first, then fall back to the number.
    for text in (desc, port_id):
        if text:
            iface = snap.interface_named(text)
            if iface:
                return iface.if_index
    return port_num if port_num in snap.interfaces else None


def _read_arp(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    for vb in s.walk(mibs.IP_NET_TO_PHYSICAL_PHYS, max_rows):
        index = vb.oid[len(mibs.IP_NET_TO_PHYSICAL_PHYS):]
        ip = mibs.ip_from_index(index[1:])
        if ip and isinstance(vb.value, bytes) and len(vb.value) == 6:
            snap.arp.append(ArpEntry(ip, mibs.mac_text(vb.value), index[0]))
    if snap.arp:
        return
    for vb in s.walk(mibs.IP_NET_TO_MEDIA_PHYS, max_rows):  # older agents
        index = vb.oid[len(mibs.IP_NET_TO_MEDIA_PHYS):]
        if len(index) == 5 and isinstance(vb.value, bytes) and len(vb.value) == 6:
            snap.arp.append(ArpEntry(".".join(map(str, index[1:])), mibs.mac_text(vb.value), index[0]))


def _read_poe(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    rows = _walk_rows(s, mibs.PETH_PSE_PORT, snap, max_rows)
    if not rows:
        return
    vendor_mw = {vb.oid[len(mibs.HPICF_POE_PORT_POWER):]: vb.value
                 for vb in s.walk(mibs.HPICF_POE_PORT_POWER, max_rows) if isinstance(vb.value, int)}
    _poe_from_rows(snap, rows, vendor_mw, _walk_rows(s, mibs.PETH_MAIN_PSE, snap, max_rows))


def _poe_from_rows(snap: DeviceSnapshot, rows: dict[OID, dict[int, object]], vendor_mw: dict[OID, int],
                   main_rows: dict[OID, dict[int, object]]) -> None:
    """Fill the PoE ports (pethPsePortTable rows, the vendor's mW by the same index) and budgets (pethMainPseTable)."""
    for index, r in sorted(rows.items()):
        if len(index) != 2:
            continue
        # HPE and most single-unit switches number PoE ports by ifIndex.
        if_index = index[1] if index[1] in snap.interfaces else None
        cls = _int(r.get(10))
        snap.poe_ports.append(PoePort(group=index[0], index=index[1], if_index=if_index,
                                      port_name=_port_name(snap, if_index),
                                      admin_enabled=r.get(3) == 1 if r.get(3) is not None else None,
                                      delivering=r.get(6) == 3 if r.get(6) is not None else None,
                                      power_class=cls - 1 if cls else None, power_mw=vendor_mw.get(index)))
    for index, r in sorted(main_rows.items()):
        snap.poe_budgets.append(PoeBudget(group=index[0], power_w=_int(r.get(2)), consumption_w=_int(r.get(4)),
                                          threshold_pct=_int(r.get(5))))


#: The columns the worker's snmp kind exports (``CollectSettings.monitoring``): ifTable ifDescr (the name where
#: ifName is absent), ifSpeed, ifAdminStatus, ifOperStatus, ifInDiscards, ifInErrors, ifOutDiscards, ifOutErrors …
IF_COLUMNS: tuple[int, ...] = (2, 5, 7, 8, 13, 14, 19, 20)
#: … and ifXTable ifName, ifHCInOctets, ifHCOutOctets, ifHighSpeed.
IFX_COLUMNS: tuple[int, ...] = (1, 6, 10, 15)
#: pethPsePortTable admin, detection, class; hpicfPoePethPsePortPower; pethMainPseTable power, consumption, threshold.
POE_COLUMNS: tuple[OID, ...] = (*(mibs.PETH_PSE_PORT + (c,) for c in (3, 6, 10)), mibs.HPICF_POE_PORT_POWER,
                                *(mibs.PETH_MAIN_PSE + (c,) for c in (2, 4, 5)))


#: IF-MIB ifNumber.0: how many interfaces (rows of ifTable) the agent has; it sizes the column walk's requests.
IF_NUMBER: OID = (1, 3, 6, 1, 2, 1, 2, 1, 0)
#: The PoE walk's row hint: its first request asks 8 rows per column (a PSE table has a row per PSE, an 8-port
#: switch's port tables are read whole); a bigger switch's next requests ask the session's max_repetitions.
_POE_ROWS_FIRST = 7


def _walk_columns(s: SnmpSession, table: OID, columns: Sequence[OID], snap: DeviceSnapshot,
                  max_rows: int, rows_hint: int | None) -> dict[OID, list[tuple[OID, object]]]:
    walked, cut = s.walk_columns(columns, max_rows, rows_hint)
    if cut:
        snap.truncated.append(".".join(map(str, table)))
    return {c: [(vb.oid, vb.value) for vb in vbs] for c, vbs in walked.items()}


def _read_interface_columns(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    """The interfaces section of a monitoring read: the exported IF-MIB columns, walked together."""
    if_cols = [mibs.IF_TABLE + (c,) for c in IF_COLUMNS]
    x_cols = [mibs.IF_X_TABLE + (c,) for c in IFX_COLUMNS]
    got = s.get([IF_NUMBER]).get(IF_NUMBER)  # a GET costs little; each successor past a column's end does
    count = got.value if got and isinstance(got.value, int) and 0 < got.value <= max_rows else None
    walked = _walk_columns(s, mibs.IF_TABLE, [*if_cols, *x_cols], snap, max_rows, count)
    _interfaces_from_rows(snap, mibs.column_rows(mibs.IF_TABLE, (vb for c in if_cols for vb in walked[c])),
                          mibs.column_rows(mibs.IF_X_TABLE, (vb for c in x_cols for vb in walked[c])))


def _read_poe_columns(s: SnmpSession, snap: DeviceSnapshot, max_rows: int) -> None:
    """The PoE section of a monitoring read: the exported PoE columns walked together (one request on most switches)."""
    walked = _walk_columns(s, mibs.PETH_PSE_PORT, POE_COLUMNS, snap, max_rows, _POE_ROWS_FIRST)
    rows = mibs.column_rows(mibs.PETH_PSE_PORT, (vb for c in POE_COLUMNS[:3] for vb in walked[c]))
    if not rows:
        return
    n = len(mibs.HPICF_POE_PORT_POWER)
    vendor_mw = {oid[n:]: value for oid, value in walked[mibs.HPICF_POE_PORT_POWER] if isinstance(value, int)}
    _poe_from_rows(snap, rows, vendor_mw,
                   mibs.column_rows(mibs.PETH_MAIN_PSE, (vb for c in POE_COLUMNS[4:] for vb in walked[c])))


_SECTIONS: list[Callable[[SnmpSession, DeviceSnapshot, int], None]] = [
    _read_entity, _read_interfaces, _read_fdb, _read_lldp, _read_arp, _read_poe]


def _section_name(section: Callable[..., None]) -> str:
    return section.__name__.removeprefix("_read_")


#: The sections a collection can read after the system group, in reading order (``CollectSettings.sections``).
SECTIONS: tuple[str, ...] = tuple(_section_name(section) for section in _SECTIONS)
#: What a monitoring read (``CollectSettings.monitoring``) runs instead of a section.
_MONITORING_READERS: dict[str, Callable[[SnmpSession, DeviceSnapshot, int], None]] = {
    "interfaces": _read_interface_columns, "poe": _read_poe_columns}


def collect_device(
    ip: str, credentials: SnmpCredentials, settings: CollectSettings = DEFAULT_COLLECT
) -> DeviceSnapshot:
    """Read what `settings` asks (everything by default) from the agent at ``ip``; never raises for device trouble.

    A section left out by ``settings.sections`` is listed in the snapshot's ``skipped``.
    """

    def read(session: SnmpSession, snap: DeviceSnapshot, _started: float) -> None:
        readers = _MONITORING_READERS if settings.monitoring else {}
        for section in _SECTIONS:
            if settings.reads(_section_name(section)):
                readers.get(_section_name(section), section)(session, snap, settings.max_rows)
            else:
                snap.skipped.append(_section_name(section))

    return _collect(ip, credentials, settings, read)


def _collect(ip: str, credentials: SnmpCredentials, settings: CollectSettings,
             read: Callable[[SnmpSession, DeviceSnapshot, float], None]) -> DeviceSnapshot:
    """Open a session to ``ip``, read the system group, then ``read(session, snap, started)``; the error,
    request count and duration go into the snapshot, and the session is always closed."""
    started = time.monotonic()
    snap = DeviceSnapshot(ip)
    session: SnmpSession | None = None
    try:
        session = open_session(ip, credentials, budget_s=settings.budget_s, timeout_s=settings.timeout_s,
                               port=settings.port, max_repetitions=settings.max_repetitions,
                               v2c_client=settings.v2c_client)
        snap.credential = session.label
        _read_system(session, snap)
        read(session, snap, started)
    except SnmpError as err:
        snap.error_kind, snap.error = err.kind, err.detail
        log.info("%s: SNMP collection ended: %s", ip, err)
    finally:
        if session is not None:
            snap.requests = session.requests
            session.close()
        snap.duration_s = time.monotonic() - started
    return snap


def _collect_in_processes(ips: Sequence[str], credentials: SnmpCredentials, settings: CollectSettings,
                          workers: int, reader: Callable[..., DeviceSnapshot] | None = None) -> list[DeviceSnapshot]:
    # fork: the workers inherit the imports and the credentials without writing them anywhere.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, len(ips)), mp_context=context) as pool:
        return list(pool.map(reader or collect_device, ips, [credentials] * len(ips), [settings] * len(ips)))


def collect_devices(ips: Sequence[str], credentials: SnmpCredentials, settings: CollectSettings = DEFAULT_COLLECT,
                    *, workers: int = 8, reader: Callable[..., DeviceSnapshot] | None = None
                    ) -> dict[str, DeviceSnapshot]:
    """Collect every device in parallel processes; a slow or broken one costs at most its own budget."""
    if not ips:
        return {}
    if len(ips) == 1:
        return {ips[0]: (reader or collect_device)(ips[0], credentials, settings)}
    return {s.ip: s for s in _collect_in_processes(ips, credentials, settings, workers, reader)}


def _read_counters(s: SnmpSession, snap: DeviceSnapshot, interval_s: float, max_rows: int) -> CounterRead:
    """Read sysUpTime and every port's octets, errors and ifLastChange again (one walk per column)."""
    uptime = s.get([mibs.SYSTEM + (3, 0)]).get(mibs.SYSTEM + (3, 0))
    columns = [mibs.IF_X_TABLE + (6,), mibs.IF_X_TABLE + (10,), mibs.IF_TABLE + (14,), mibs.IF_TABLE + (20,),
               mibs.IF_TABLE + (mibs.IF_LAST_CHANGE_COLUMN,)]
    values = [{vb.oid[-1]: _int(vb.value) for vb in s.walk(col, max_rows) if len(vb.oid) == len(col) + 1}
              for col in columns]
    ports = {i: (values[0].get(i), values[1].get(i), values[2].get(i), values[3].get(i), values[4].get(i))
             for i in snap.interfaces}
    return CounterRead(interval_s, _int(uptime.value) if uptime else None, ports)


def _read_twice_extras(session: SnmpSession, snap: DeviceSnapshot, settings: CollectSettings, interval_s: float,
                       started: float, first: float) -> None:
    """Duplex, then a switch's second read; trouble here is logged and leaves the complete first read as it is."""
    try:
        snap.duplex = {vb.oid[-1]: vb.value for vb in session.walk(mibs.DOT3_STATS_DUPLEX, settings.max_rows)
                       if isinstance(vb.value, int) and len(vb.oid) == len(mibs.DOT3_STATS_DUPLEX) + 1}
        left = settings.budget_s - (time.monotonic() - started) - 2 * settings.timeout_s
        wait = min(interval_s - (time.monotonic() - first), left)
        if interval_s > 0 and left >= 1.0 and any(not e.is_self for e in snap.fdb):
            time.sleep(max(0.0, wait))
            second = time.monotonic()
            snap.counters = _read_counters(session, snap, round(second - first, 3), settings.max_rows)
    except SnmpError as err:
        log.info("%s: duplex or second read of the counters skipped: %s", snap.ip, err)


def collect_device_twice(ip: str, credentials: SnmpCredentials, settings: CollectSettings = DEFAULT_COLLECT,
                         interval_s: float = 5.0) -> DeviceSnapshot:
    """:func:`collect_device`, then, on a switch (a forwarding table), the counters again ``interval_s`` later.

    The same session reads both times (no credential is tried twice).  The wait is cut to what
    the device's budget leaves after the first read minus two request timeouts; under one
    second left, there is no second read (``counters`` stays None).
    """

    def read(session: SnmpSession, snap: DeviceSnapshot, started: float) -> None:
        first = time.monotonic()
        for section in _SECTIONS:
            section(session, snap, settings.max_rows)
            if section is _read_interfaces:
                first = time.monotonic()  # when the first counters were read
        _read_twice_extras(session, snap, settings, interval_s, started, first)

    return _collect(ip, credentials, settings, read)
