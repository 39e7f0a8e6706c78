"""Imported by the worker's SNMP fork server (its preload list): net-snmp initialised there, once.

The v2c collection processes forked from that server then start with net-snmp ready
(:func:`sitescout.probes.snmp.client.init_netsnmp`, which says what they share and why v3 never
uses the server).  Nothing else imports this module.
"""

from sitescout.probes.snmp.client import init_netsnmp

init_netsnmp()
