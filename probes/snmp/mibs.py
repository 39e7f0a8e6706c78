"""OIDs of the MIB objects sitescout reads, and the small parsers their indexes and values need.

Numbers only: Debian ships no MIB files and nothing here loads one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SYSTEM", "IF_TABLE", "IF_X_TABLE", "ENT_PHYSICAL", "DOT1D_BASE_PORT_IFINDEX", "DOT1D_TP_FDB_PORT",
           "DOT1Q_TP_FDB_PORT", "LLDP_LOC_PORT_ID", "LLDP_LOC_PORT_DESC", "LLDP_REM", "LLDP_REM_MAN_ADDR",
           "IP_NET_TO_PHYSICAL_PHYS", "IP_NET_TO_MEDIA_PHYS", "PETH_PSE_PORT", "PETH_MAIN_PSE", "HPICF_POE_PORT_POWER",
           "DOT3_STATS_DUPLEX", "DUPLEX_WORDS", "IF_LAST_CHANGE_COLUMN",
           "ENTERPRISES", "vendor_of", "mac_text", "text_of", "column_rows", "split_column",
           "LLDP_X_MED_REM_XPOE_PD", "MED_POWER_SOURCES", "MED_POWER_PRIORITIES", "med_power_claims",
           "LLDP_X_DOT3_REM_POWER", "Dot3PowerClaim", "dot3_power_claims"]

OID = tuple[int, ...]

SYSTEM: OID = (
    1,
    3,
    6,
    1,
    2,
    1,
    1,
)  # sysDescr .1, sysObjectID .2, sysUpTime .3, sysContact .4, sysName .5, sysLocation .6
IF_TABLE: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)  # ifDescr .2, ifType .3, ifSpeed .5, ifPhysAddress .6, admin .7, oper .8,
#                                           ifInDiscards .13, ifInErrors .14, ifOutDiscards .19, ifOutErrors .20
IF_X_TABLE: OID = (
    1,
    3,
    6,
    1,
    2,
    1,
    31,
    1,
    1,
    1,
)  # ifName .1, ifHCInOctets .6, ifHCOutOctets .10, ifHighSpeed .15, ifAlias .18
ENT_PHYSICAL: OID = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)  # descr .2, class .5, hwRev .8, fwRev .9, swRev .10, serial .11,
#                                                     mfgName .12, modelName .13
DOT1D_BASE_PORT_IFINDEX: OID = (1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2)
DOT1D_TP_FDB_PORT: OID = (1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2)  # index: MAC (6)
DOT1Q_TP_FDB_PORT: OID = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2)  # index: fdbId, MAC (6)
LLDP_LOC_PORT_ID: OID = (1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 3)
LLDP_LOC_PORT_DESC: OID = (1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 4)
LLDP_REM: OID = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)  # index: timeMark, localPortNum, remIndex; chassisIdSubtype .4,
#                      chassisId .5, portIdSubtype .6, portId .7, portDesc .8, sysName .9, sysDesc .10
LLDP_REM_MAN_ADDR: OID = (1, 0, 8802, 1, 1, 2, 1, 4, 2, 1)  # index: …, addrSubtype, addr (length-prefixed)
IP_NET_TO_PHYSICAL_PHYS: OID = (1, 3, 6, 1, 2, 1, 4, 35, 1, 4)  # index: ifIndex, addrType, len, addr
IP_NET_TO_MEDIA_PHYS: OID = (1, 3, 6, 1, 2, 1, 4, 22, 1, 2)  # index: ifIndex, a.b.c.d
PETH_PSE_PORT: OID = (1, 3, 6, 1, 2, 1, 105, 1, 1, 1)  # index: group, port; admin .3, detection .6, class .10
PETH_MAIN_PSE: OID = (1, 3, 6, 1, 2, 1, 105, 1, 3, 1)  # index: group; power .2 (W), oper .3, consumption .4 (W)
HPICF_POE_PORT_POWER: OID = (1, 3, 6, 1, 4, 1, 11, 2, 14, 11, 1, 9, 1, 1, 1, 3)  # HP-ICF-POE-MIB, milliwatts
#: LLDP-EXT-MED-MIB (1.0.8802.1.1.2.1.5.4795) lldpXMedRemXPoEPDTable: what a powered device claims in its LLDP-MED
#: extended power-via-MDI TLV, as the switch publishes it for its neighbour; index as lldpRemTable (timeMark,
#: localPortNum, remIndex); lldpXMedRemXPoEPDPowerReq .1 (0.1 W units, 0..1023), PowerSource .2, PowerPriority .3.
LLDP_X_MED_REM_XPOE_PD: OID = (1, 0, 8802, 1, 1, 2, 1, 5, 4795, 1, 3, 7, 1)
#: lldpXMedRemXPoEPDPowerSource: unknown(1), fromPSE(2), local(3), localAndPSE(4).
MED_POWER_SOURCES = {1: "unknown", 2: "pse", 3: "local", 4: "pse_and_local"}
#: lldpXMedRemXPoEPDPowerPriority: unknown(1), critical(2), high(3), low(4).
MED_POWER_PRIORITIES = {1: "unknown", 2: "critical", 3: "high", 4: "low"}
#: LLDP-EXT-DOT3-MIB (1.0.8802.1.1.2.1.5.4623) lldpXdot3RemPowerTable: the IEEE 802.3 power-via-MDI TLV a neighbour
#: sends, as the switch publishes it; index as lldpRemTable.  Columns of 802.1AB: PortClass .1 (pClassPSE(1),
#: pClassPD(2)), MDISupported .2, MDIEnabled .3, PairControlable .4, PowerPairs .5, PowerClass .6 (class0(1) ..
#: class4(5)); the 802.3at extension (IEEE 802.3.1 IEEE8023-LLDP-EXT-MIB numbering, published there by lldpd):
#: PowerType .7 (BITS), PowerSource .8 (BITS), PowerPriority .9, PDRequestedPowerValue .10 and
#: PSEAllocatedPowerValue .11, both in 0.1 W.
LLDP_X_DOT3_REM_POWER: OID = (1, 0, 8802, 1, 1, 2, 1, 5, 4623, 1, 3, 2, 1)
#: The 802.3at TLV's power values are 16 bits of 0.1 W; 802.3bt stops at 99.9 W (999): more is not a claim.
_DOT3_MAX_DECIWATTS = 999
#: EtherLike-MIB dot3StatsDuplexStatus, index ifIndex: unknown(1), halfDuplex(2), fullDuplex(3).
DOT3_STATS_DUPLEX: OID = (1, 3, 6, 1, 2, 1, 10, 7, 2, 1, 19)
DUPLEX_WORDS = {1: "unknown", 2: "half", 3: "full"}
IF_LAST_CHANGE_COLUMN = 9  # IF-MIB ifLastChange (TimeTicks of sysUpTime at the last oper status change)

#: IANA private enterprise numbers of the makers sitescout meets on rural sites.
ENTERPRISES: dict[int, str] = {
    9: "Cisco", 11: "HPE", 171: "D-Link", 2011: "Huawei", 4526: "Netgear", 8072: "net-snmp", 11863: "TP-Link",
    14988: "MikroTik", 25506: "H3C", 41112: "Ubiquiti", 4413: "Broadcom", 3902: "ZTE", 39165: "Hikvision",
    1004849: "Dahua", 47196: "Ruijie", 37072: "Fiberhome", 890: "Zyxel", 6486: "Alcatel-Lucent",
}


def vendor_of(sys_object_id: str | None) -> tuple[int | None, str | None]:
    """Return (enterprise number, maker) from a sysObjectID such as ``1.3.6.1.4.1.11.2.3``."""
    if not sys_object_id:
        return None, None
    parts = sys_object_id.strip(".").split(".")
    if parts[:6] != ["1", "3", "6", "1", "4", "1"] or len(parts) < 7 or not parts[6].isdigit():
        return None, None
    number = int(parts[6])
    return number, ENTERPRISES.get(number)


def mac_text(raw: Iterable[int]) -> str:
    """Return ``aa:bb:…`` for six octets (bytes or an OID index slice)."""
    return ":".join(f"{b:02x}" for b in raw)


def text_of(value: object) -> str | None:
    """Return a display string of an OCTET STRING value (UTF-8, invalid bytes replaced)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00").strip()
    if value is None:
        return None
    return str(value)


def split_column(table: OID, oid: OID) -> tuple[int, OID]:
    """Return (column, index) of a varbind OID under ``table``'s entry."""
    rest = oid[len(table):]
    return rest[0], rest[1:]


def column_rows(table: OID, varbinds: Iterable[tuple[OID, object]]) -> dict[OID, dict[int, object]]:
    """Group a walked table into {index: {column: value}}."""
    rows: dict[OID, dict[int, object]] = {}
    for oid, value in varbinds:
        if len(oid) <= len(table) + 1:
            continue
        col, index = split_column(table, oid)
        rows.setdefault(index, {})[col] = value
    return rows


def ip_from_index(index: OID) -> str | None:
    """Return the IPv4/IPv6 address in an InetAddress index (type, length, octets…), or None."""
    if len(index) < 2:
        return None
    addr_type, length, octets = index[0], index[1], index[2:]
    if len(octets) != length:
        return None
    try:
        if addr_type == 1 and length == 4:
            return str(ipaddress.IPv4Address(bytes(octets)))
        if addr_type == 2 and length == 16:
            return str(ipaddress.IPv6Address(bytes(octets)))
    except ValueError:
        return None
    return None


def med_power_claims(varbinds: Iterable[tuple[OID, object]]) -> dict[OID, tuple[int, str | None, str | None]]:
    """Return {(timeMark, localPortNum, remIndex): (milliwatts, source, priority)} of a walked lldpXMedRemXPoEPDTable.

    A row without an integer PowerReq (or one past the TLV's 10-bit range, 102.3 W) is left out: a claim
    is a figure or nothing.  Source and priority are words of :data:`MED_POWER_SOURCES` and
    :data:`MED_POWER_PRIORITIES`, None when absent or unknown to the MIB.
    """
    claims: dict[OID, tuple[int, str | None, str | None]] = {}
    for index, row in column_rows(LLDP_X_MED_REM_XPOE_PD, varbinds).items():
        req = row.get(1)
        if len(index) != 3 or not isinstance(req, int) or isinstance(req, bool) or not 0 <= req <= 1023:
            continue
        source, priority = row.get(2), row.get(3)
        claims[index] = (req * 100, MED_POWER_SOURCES.get(source) if isinstance(source, int) else None,
                         MED_POWER_PRIORITIES.get(priority) if isinstance(priority, int) else None)
    return claims


@dataclass(frozen=True)
class Dot3PowerClaim:
    """One neighbour's IEEE 802.3 power-via-MDI TLV (lldpXdot3RemPowerTable row): who it is, its class, and, with
    the 802.3at extension, the power it requests and the power its PSE allocated (milliwatts, sent in 0.1 W).

    The priority column is not read: lldpd 1.0.x publishes it as 4 minus its own code (critical 3, high 2, low 1),
    not in IEEE 802.3.1's numbering (unknown 1, critical 2, high 3, low 4), so the figure would mislead.
    """

    is_pd: bool | None  # pClassPD(2): the neighbour is a powered device
    power_class: int | None  # 0..4
    requested_mw: int | None
    allocated_mw: int | None
    type2: bool | None  # the 802.3at type: 2 (up to 25.5 W) or 1; None without the extension


def _deciwatts(value: object) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _DOT3_MAX_DECIWATTS:
        return None
    return value * 100


def dot3_power_claims(varbinds: Iterable[tuple[OID, object]]) -> dict[OID, Dot3PowerClaim]:
    """Return {(timeMark, localPortNum, remIndex): claim} of a walked lldpXdot3RemPowerTable.

    A requested or allocated value of 0, or past 99.9 W, is no figure (None).  PowerType is BITS: its first
    bit (0x80) set is a type 2 device, as lldpd publishes it; a row without it has ``type2`` None.
    """
    claims: dict[OID, Dot3PowerClaim] = {}
    for index, row in column_rows(LLDP_X_DOT3_REM_POWER, varbinds).items():
        if len(index) != 3:
            continue
        port_class, power_class, kind = row.get(1), row.get(6), row.get(7)
        claims[index] = Dot3PowerClaim(
            is_pd=port_class == 2 if isinstance(port_class, int) and port_class in (1, 2) else None,
            power_class=power_class - 1 if isinstance(power_class, int) and 1 <= power_class <= 5 else None,
            requested_mw=_deciwatts(row.get(10)), allocated_mw=_deciwatts(row.get(11)),
            type2=bool(kind[0] & 0x80) if isinstance(kind, bytes) and kind else None)
    return claims
