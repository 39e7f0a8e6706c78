"""What SNMP collection returns: plain dataclasses, one per MIB concept, and the device snapshot holding them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sitescout.probes.snmp.errors import SnmpErrorKind

__all__ = ["SystemInfo", "EntityInfo", "Interface", "FdbEntry", "LldpNeighbor", "ArpEntry", "PoePort", "PoeBudget",
           "DeviceSnapshot", "CounterRead"]


@dataclass
class SystemInfo:
    """SNMPv2-MIB system group and the maker from sysObjectID's enterprise number."""

    sys_name: str | None = None
    sys_descr: str | None = None
    sys_object_id: str | None = None
    sys_location: str | None = None
    uptime_ticks: int | None = None
    enterprise: int | None = None
    vendor: str | None = None


@dataclass
class EntityInfo:
    """ENTITY-MIB entPhysicalTable: the first chassis entry (or the first entry)."""

    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    software: str | None = None
    hardware_rev: str | None = None
    manufacturer: str | None = None
    descr: str | None = None


@dataclass
class Interface:
    """IF-MIB ifTable + ifXTable for one ifIndex."""

    if_index: int
    name: str | None = None
    descr: str | None = None
    alias: str | None = None
    mac: str | None = None
    speed_bps: int | None = None
    admin_up: bool | None = None
    oper_up: bool | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None


@dataclass
class FdbEntry:
    """A forwarding-table entry: MAC → bridge port → ifIndex (VLAN from Q-BRIDGE-MIB when offered)."""

    mac: str
    bridge_port: int
    if_index: int | None
    port_name: str | None
    vlan: int | None = None
    is_self: bool = False  # the switch's own address (status self(4))


@dataclass
class LldpNeighbor:
    """One lldpRemTable row, with its local port resolved to an interface."""

    local_port_num: int
    local_if_index: int | None
    local_port: str | None
    chassis_id: str | None
    port_id: str | None
    port_desc: str | None
    sys_name: str | None
    sys_descr: str | None
    mgmt_address: str | None = None
    #: LLDP-EXT-MED-MIB lldpXMedRemXPoEPDTable: the power the neighbour (a powered device) claims, in
    #: milliwatts (sent in 0.1 W steps), where its power comes from and its priority; None when it claims none
    med_power_mw: int | None = None
    med_power_source: str | None = None  # pse, local, pse_and_local, unknown
    med_power_priority: str | None = None  # critical, high, low, unknown
    #: LLDP-EXT-DOT3-MIB lldpXdot3RemPowerTable: the IEEE 802.3 power-via-MDI TLV (mibs.Dot3PowerClaim): with
    #: 802.3at, the power the neighbour requests and its PSE allocated (mW, sent in 0.1 W), its type (1 or 2);
    #: the class and whether it is a powered device (PD) from the 802.1AB columns; None when not sent
    dot3_requested_mw: int | None = None
    dot3_allocated_mw: int | None = None
    dot3_power_type: int | None = None
    dot3_power_class: int | None = None
    dot3_is_pd: bool | None = None


@dataclass
class ArpEntry:
    """IP-MIB neighbour entry (ipNetToPhysicalTable, or ipNetToMediaTable on older agents)."""

    ip: str
    mac: str
    if_index: int


@dataclass
class PoePort:
    """POWER-ETHERNET-MIB pethPsePortTable row, mapped to an interface, with the vendor's per-port draw."""

    group: int
    index: int
    if_index: int | None
    port_name: str | None
    admin_enabled: bool | None = None
    delivering: bool | None = None
    power_class: int | None = None  # 0..4
    power_mw: int | None = None  # from a vendor MIB (HP-ICF-POE-MIB); the standard has none


@dataclass
class PoeBudget:
    """pethMainPseTable for one PSE group: budget and consumption in watts."""

    group: int
    power_w: int | None
    consumption_w: int | None
    threshold_pct: int | None = None


@dataclass
class CounterRead:
    """The second read of a switch's counters, ``interval_s`` after the first (utilisation, errors rising, flaps).

    ``ports`` maps ifIndex to (ifHCInOctets, ifHCOutOctets, ifInErrors, ifOutErrors, ifLastChange ticks).
    """

    interval_s: float
    uptime_ticks: int | None
    ports: dict[int, tuple[int | None, int | None, int | None, int | None, int | None]] = field(default_factory=dict)


@dataclass
class DeviceSnapshot:
    """Everything read from one agent; ``error_kind`` set when the collection ended early."""

    ip: str
    credential: str | None = None  # "v2c" or "v3:<user>" — never the secret
    system: SystemInfo = field(default_factory=SystemInfo)
    entity: EntityInfo | None = None
    interfaces: dict[int, Interface] = field(default_factory=dict)
    fdb: list[FdbEntry] = field(default_factory=list)
    neighbors: list[LldpNeighbor] = field(default_factory=list)
    arp: list[ArpEntry] = field(default_factory=list)
    poe_ports: list[PoePort] = field(default_factory=list)
    poe_budgets: list[PoeBudget] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)  # tables cut at the row cap
    counters: CounterRead | None = None  # the second read of a switch (collect.collect_device_twice)
    duplex: dict[int, int] = field(default_factory=dict)  # ifIndex → dot3StatsDuplexStatus, where offered
    skipped: list[str] = field(default_factory=list)  # sections not read (CollectSettings.sections)
    duration_s: float = 0.0
    requests: int = 0
    error_kind: SnmpErrorKind | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return True when the whole collection completed."""
        return self.error_kind is None

    def interface_named(self, name: str) -> Interface | None:
        """Return the interface whose ifName (or ifDescr) is ``name``."""
        for iface in self.interfaces.values():
            if name in (iface.name, iface.descr):
                return iface
        return None
