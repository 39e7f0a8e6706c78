"""SNMP collection: switches, routers and their ports, forwarding tables, LLDP, ARP and PoE.

Built on ezsnmp (net-snmp's own library); see docs/snmp.md for why and for what is read.
"""

from sitescout.probes.snmp.client import SnmpCredentials, SnmpSession, V2cCommunity, V3User, open_session
from sitescout.probes.snmp.collect import DeviceSnapshot, collect_device, collect_devices
from sitescout.probes.snmp.errors import SnmpError, SnmpErrorKind
from sitescout.probes.snmp.place import Attachment, place_hosts

__all__ = ["SnmpCredentials", "SnmpSession", "V2cCommunity", "V3User", "open_session", "DeviceSnapshot",
           "collect_device", "collect_devices", "SnmpError", "SnmpErrorKind", "Attachment", "place_hosts"]
